/* parse.c - batch files to jobs: plain text, JSON Lines, YAML with a matrix. */
#include "batch/parse.h"
#include "batch/lines.h"
#include "core/inputs.h"
#include "core/yamlnode.h"
#include "util/file.h"
#include "util/suggest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const job_keys[] = { "prompt", "negative",    "style",    "backend",
					"seed",   "width",       "height",   "steps",
					"count",  "set",         "name",     "image",
					"mask",   "mask_invert", "strength", NULL };

static const char *const top_keys[] = { "defaults", "jobs", "matrix", NULL };

static const char *const matrix_keys[] = { "prompts", "negatives", "styles", "backends",
					   "names",   "seeds",     "steps",  "sizes",
					   "set",     "images",    NULL };

int batch_format_parse(const char *name)
{
	static const char *const names[] = { "auto", "text", "jsonl", "yaml" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return (int)i;
	return -1;
}

const char *batch_format_name(enum batch_format fmt)
{
	switch (fmt) {
	case BATCH_FMT_TEXT:
		return "text";
	case BATCH_FMT_JSONL:
		return "jsonl";
	case BATCH_FMT_YAML:
		return "yaml";
	default:
		return "auto";
	}
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n > m && !strcasecmp(s + n - m, tail);
}

static size_t skip_bom(const char *text, size_t len)
{
	return len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3) ? 3 : 0;
}

enum batch_format batch_format_detect(const char *path, const char *text, size_t len)
{
	struct text_line tl;
	size_t pos = skip_bom(text, len);
	int lineno = 0;

	if (path && strcmp(path, "-")) {
		if (ends_with(path, ".txt"))
			return BATCH_FMT_TEXT;
		if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson"))
			return BATCH_FMT_JSONL;
		if (ends_with(path, ".yaml") || ends_with(path, ".yml"))
			return BATCH_FMT_YAML;
	}
	while (lines_next(text, len, &pos, &lineno, &tl)) {
		static const char *const yaml_heads[] = { "jobs", "matrix", "defaults" };
		size_t i, n;

		if (tl.len == 3 && !memcmp(tl.s, "---", 3))
			continue;
		if (tl.s[0] == '{') {
			json_t *j = json_loadb(tl.s, tl.len, 0, NULL);
			int obj = json_is_object(j);

			json_decref(j);
			return obj ? BATCH_FMT_JSONL : BATCH_FMT_TEXT;
		}
		for (i = 0; i < 3; i++) {
			n = strlen(yaml_heads[i]);
			if (tl.col == 1 && tl.len > n && !memcmp(tl.s, yaml_heads[i], n)) {
				const char *p = tl.s + n;

				while (p < tl.s + tl.len && *p == ' ')
					p++;
				if (p < tl.s + tl.len && *p == ':')
					return BATCH_FMT_YAML;
			}
		}
		return BATCH_FMT_TEXT;
	}
	return BATCH_FMT_TEXT;
}

/* ---- one job from a JSON object, with positions for messages ------------------------------ */

/* Where a key (value = 0) or its value (value = 1) stands; subkey names a key of "set". */
typedef void (*pos_fn)(const void *ctx, const char *key, const char *subkey, int value, int *line,
		       int *col);

struct where {
	const char *file;
	pos_fn at;
	const void *ctx;
	int line, col; /* the job's own position */
};

__attribute__((format(printf, 6, 7))) static int fail(const struct where *w, const char *key,
						      const char *subkey, int value,
						      struct err *err, const char *fmt, ...)
{
	char msg[768];
	int line = w->line, col = w->col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key && w->at)
		w->at(w->ctx, key, subkey, value, &line, &col);
	return err_code(err, 2, "%s:%d:%d: %s", w->file, line, col, msg);
}

/* Offset of the first character a field may not hold, or -1: control characters (tab,
 * CR and LF too unless multiline). */
static long bad_char(const char *s, int multiline)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if (multiline && (*p == '\t' || *p == '\n' || *p == '\r'))
			continue;
		if (*p < 0x20 || *p == 0x7f)
			return (long)(p - (const unsigned char *)s);
		/* C1 controls U+0080..U+009F: 0xC2 0x80..0x9F */
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return (long)(p - (const unsigned char *)s);
	}
	return -1;
}

static int take_string(char **out, const json_t *v, const char *key, int multiline, size_t max,
		       const struct where *w, struct err *err)
{
	const char *s;
	long bad;

	if (!json_is_string(v))
		return fail(w, key, NULL, 1, err, "%s: expected a string", key);
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return fail(w, key, NULL, 1, err, "%s: holds a NUL character", key);
	if (!multiline && !*s)
		return fail(w, key, NULL, 1, err, "%s: is empty", key);
	if (strlen(s) > max)
		return fail(w, key, NULL, 1, err, "%s: longer than %zu bytes", key, max);
	if ((bad = bad_char(s, multiline)) >= 0)
		return fail(w, key, NULL, 1, err, "%s: control character 0x%02x", key,
			    (unsigned char)s[bad]);
	*out = strdup(s);
	return *out ? 0 : err_set(err, "out of memory");
}

static int take_int(long long *out, const json_t *v, const char *key, long long min, long long max,
		    const struct where *w, struct err *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(w, key, NULL, 1, err, "%s: expected an integer from %lld to %lld", key,
			    min, max);
	*out = json_integer_value(v);
	return 0;
}

static int set_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (!n || n >= 128)
		return 0;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '_' || *k == '-' || *k == '.'))
			return 0;
	return 1;
}

static int take_set(json_t **out, const json_t *v, const struct where *w, struct err *err)
{
	const char *k;
	json_t *val;

	if (!json_is_object(v))
		return fail(w, "set", NULL, 1, err, "set: expected a mapping of request options");
	json_object_foreach ((json_t *)v, k, val) {
		if (!set_key_ok(k))
			return fail(w, "set", k, 0, err,
				    "set: invalid key '%s' (letters, digits, '_', '-', '.')", k);
		if (!json_is_string(val) && !json_is_number(val) && !json_is_boolean(val))
			return fail(w, "set", k, 1, err,
				    "set.%s: expected a string, number or boolean", k);
	}
	*out = json_deep_copy(v);
	return *out ? 0 : err_set(err, "out of memory");
}

/* An input's path as the job gives it, relative to the batch file's folder (the current
 * directory for stdin), made absolute so a resume from elsewhere finds it. */
static json_t *input_path(const char *file, const char *p)
{
	char cwd[4096], *buf;
	const char *slash = strrchr(file, '/');
	int dir = slash && strcmp(file, "<stdin>") ? (int)(slash - file) : 0;
	json_t *out;
	size_t n;

	if (p[0] == '/')
		return json_string(p);
	cwd[0] = '\0';
	if ((!dir || file[0] != '/') && !getcwd(cwd, sizeof(cwd)))
		return NULL;
	n = strlen(cwd) + (size_t)dir + strlen(p) + 3;
	if (!(buf = malloc(n)))
		return NULL;
	if (dir && file[0] == '/')
		snprintf(buf, n, "%.*s/%s", dir, file, p);
	else if (dir)
		snprintf(buf, n, "%s/%.*s/%s", cwd, dir, file, p);
	else
		snprintf(buf, n, "%s/%s", cwd, p);
	out = json_string(buf);
	free(buf);
	return out;
}

/* Put key: val (taken) into the job's inputs. */
static int input_set(struct batch_job *out, const char *key, json_t *val, struct err *err)
{
	if (!val || (!out->inputs && !(out->inputs = json_object())) ||
	    json_object_set_new(out->inputs, key, val) < 0) {
		json_decref(val);
		return err_set(err, "out of memory");
	}
	return 0;
}

/* One path of "image" or "mask" (v a string) as an absolute path into *out. */
static int take_path(json_t **out, const json_t *v, const char *key, const struct where *w,
		     struct err *err)
{
	char *s = NULL;

	*out = NULL;
	if (!json_is_string(v))
		return fail(w, key, NULL, 1, err, "%s: expected a path", key);
	if (take_string(&s, v, key, 0, 4096, w, err) < 0)
		return -1;
	*out = input_path(w->file, s);
	free(s);
	return *out ? 0 : err_set(err, "out of memory");
}

/* "image": a path or a list of 1..GEN_INPUTS_MAX paths; "mask": a path; "strength": a
 * number from 0 to 1; "mask_invert": a boolean. */
static int take_input(struct batch_job *out, const char *key, const json_t *v,
		      const struct where *w, struct err *err)
{
	json_t *a, *p;
	size_t i;

	if (!strcmp(key, "strength")) {
		if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)
			return fail(w, key, NULL, 1, err,
				    "strength: expected a number from 0 to 1");
		return input_set(out, key, json_real(json_number_value(v)), err);
	}
	if (!strcmp(key, "mask_invert")) {
		if (!json_is_boolean(v))
			return fail(w, key, NULL, 1, err, "mask_invert: expected true or false");
		return input_set(out, key, json_boolean(json_is_true(v)), err);
	}
	if (!strcmp(key, "mask"))
		return take_path(&p, v, key, w, err) < 0 ? -1 : input_set(out, key, p, err);
	/* image */
	if (json_is_array(v) && (json_array_size(v) < 1 || json_array_size(v) > GEN_INPUTS_MAX))
		return fail(w, key, NULL, 1, err, "image: expected 1 to %d paths", GEN_INPUTS_MAX);
	if (!(a = json_array()))
		return err_set(err, "out of memory");
	for (i = 0; i < (json_is_array(v) ? json_array_size(v) : 1); i++) {
		if (take_path(&p, json_is_array(v) ? json_array_get(v, i) : v, key, w, err) < 0 ||
		    json_array_append_new(a, p) < 0) {
			json_decref(a);
			return err->msg[0] ? -1 : err_set(err, "out of memory");
		}
	}
	return input_set(out, key, a, err);
}

/* Validate obj as a job into out (zeroed first; released on error). */
static int job_from_object(struct batch_job *out, const json_t *obj, const struct where *w,
			   int need_prompt, struct err *err)
{
	long long n;
	const char *key, *hint;
	json_t *v;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->line = w->line;
	out->col = w->col;
	json_object_foreach ((json_t *)obj, key, v) {
		if (!strcmp(key, "prompt"))
			rc = take_string(&out->prompt, v, key, 1, BATCH_PROMPT_MAX, w, err);
		else if (!strcmp(key, "negative"))
			rc = take_string(&out->negative, v, key, 1, BATCH_PROMPT_MAX, w, err);
		else if (!strcmp(key, "style"))
			rc = take_string(&out->style, v, key, 0, 128, w, err);
		else if (!strcmp(key, "backend"))
			rc = take_string(&out->backend, v, key, 0, 128, w, err);
		else if (!strcmp(key, "name"))
			rc = take_string(&out->name, v, key, 0, BATCH_NAME_MAX, w, err);
		else if (!strcmp(key, "seed")) {
			rc = take_int(&n, v, key, 0, BATCH_SEED_MAX, w, err);
			out->seed = n;
			out->has_seed = 1;
		} else if (!strcmp(key, "width")) {
			rc = take_int(&n, v, key, 1, BATCH_DIM_MAX, w, err);
			out->width = (int)n;
		} else if (!strcmp(key, "height")) {
			rc = take_int(&n, v, key, 1, BATCH_DIM_MAX, w, err);
			out->height = (int)n;
		} else if (!strcmp(key, "steps")) {
			rc = take_int(&n, v, key, 1, BATCH_STEPS_MAX, w, err);
			out->steps = (int)n;
		} else if (!strcmp(key, "count")) {
			rc = take_int(&n, v, key, 1, BATCH_COUNT_MAX, w, err);
			out->count = (int)n;
		} else if (!strcmp(key, "set"))
			rc = take_set(&out->set, v, w, err);
		else if (!strcmp(key, "image") || !strcmp(key, "mask") ||
			 !strcmp(key, "strength") || !strcmp(key, "mask_invert"))
			rc = take_input(out, key, v, w, err);
		else if ((hint = suggest_closest(key, job_keys)) != NULL)
			rc = fail(w, key, NULL, 0, err, "unknown key '%s' (did you mean '%s'?)",
				  key, hint);
		else
			rc = fail(w, key, NULL, 0, err, "unknown key '%s' (a job has %s)", key,
				  "prompt, negative, style, backend, seed, width, height, steps, "
				  "count, set, name, image, mask, strength, mask_invert");
		if (rc < 0)
			goto fail;
	}
	if (need_prompt && !out->prompt) {
		fail(w, NULL, NULL, 0, err, "job without a prompt");
		goto fail;
	}
	if (out->prompt && !out->prompt[strspn(out->prompt, " \t\r\n")]) {
		fail(w, "prompt", NULL, 1, err, "prompt: is empty");
		goto fail;
	}
	return 0;
fail:
	batch_job_release(out);
	return -1;
}

/* ---- plain text --------------------------------------------------------------------------- */

static int parse_text(struct batch_list *out, const char *text, size_t len, struct err *err)
{
	struct text_line tl;
	size_t pos = skip_bom(text, len);
	int lineno = 0;

	while (lines_next(text, len, &pos, &lineno, &tl)) {
		struct batch_job j;

		memset(&j, 0, sizeof(j));
		if (tl.len > BATCH_PROMPT_MAX)
			return err_code(err, 2, "%s:%d:%d: prompt longer than %d bytes", out->file,
					tl.line, tl.col, BATCH_PROMPT_MAX);
		j.line = tl.line;
		j.col = tl.col;
		if (!(j.prompt = strndup(tl.s, tl.len)))
			return err_set(err, "out of memory");
		if (batch_list_push(out, &j, err) < 0) {
			batch_job_release(&j);
			return -1;
		}
	}
	return 0;
}

/* ---- JSON Lines --------------------------------------------------------------------------- */

static size_t skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return i;
}

/* s[i] == '"': the offset just past the closing quote. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i < len ? i + 1 : len;
}

static size_t skip_value(const char *s, size_t len, size_t i)
{
	int depth = 0;

	if (i < len && s[i] == '"')
		return skip_string(s, len, i);
	while (i < len) {
		char c = s[i];

		if (c == '"') {
			i = skip_string(s, len, i);
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (depth == 0)
				return i;
			if (--depth == 0)
				return i + 1;
		} else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\r'))
			return i;
		i++;
	}
	return i;
}

/* In the object starting at s[i] == '{' (already known to be valid JSON), the offsets of
 * member key's name and value; -1 when absent. */
static int member_at(const char *s, size_t len, size_t i, const char *key, size_t *koff,
		     size_t *voff)
{
	for (i++;;) {
		size_t ks, vs;
		json_t *k;
		int match;

		i = skip_ws(s, len, i);
		if (i >= len || s[i] != '"')
			return -1;
		ks = i;
		i = skip_string(s, len, i);
		k = json_loadb(s + ks, i - ks, JSON_DECODE_ANY, NULL);
		match = json_is_string(k) && !strcmp(json_string_value(k), key);
		json_decref(k);
		i = skip_ws(s, len, i);
		if (i >= len || s[i] != ':')
			return -1;
		vs = skip_ws(s, len, i + 1);
		if (match) {
			*koff = ks;
			*voff = vs;
			return 0;
		}
		i = skip_ws(s, len, skip_value(s, len, vs));
		if (i >= len || s[i] != ',')
			return -1;
		i++;
	}
}

struct jsonl_line {
	const char *s;
	size_t len;
	int lineno;
};

static void jsonl_pos(const void *ctx, const char *key, const char *subkey, int value, int *line,
		      int *col)
{
	const struct jsonl_line *l = ctx;
	size_t start = skip_ws(l->s, l->len, 0), k, v;

	if (member_at(l->s, l->len, start, key, &k, &v) < 0)
		return;
	if (subkey) {
		if (v >= l->len || l->s[v] != '{' || member_at(l->s, l->len, v, subkey, &k, &v) < 0)
			return;
	}
	*line = l->lineno;
	*col = lines_col(l->s, value ? v : k);
}

static int parse_jsonl(struct batch_list *out, const char *text, size_t len, struct err *err)
{
	size_t pos = skip_bom(text, len);
	int lineno = 0;

	while (pos < len) {
		const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		struct jsonl_line l = { start, n, ++lineno };
		struct where w = { out->file, jsonl_pos, &l, lineno, 1 };
		struct batch_job j;
		json_error_t jerr;
		json_t *obj;
		int rc;

		pos += nl ? n + 1 : n;
		if (skip_ws(start, n, 0) == n)
			continue;
		w.col = lines_col(start, skip_ws(start, n, 0));
		obj = json_loadb(start, n, JSON_REJECT_DUPLICATES, &jerr);
		if (!obj)
			return err_code(err, 2, "%s:%d:%d: %s", out->file, lineno,
					jerr.column > 0 ? jerr.column : 1, jerr.text);
		if (!json_is_object(obj)) {
			json_decref(obj);
			return err_code(err, 2,
					"%s:%d:%d: expected a job object ({\"prompt\": ...})",
					out->file, lineno, w.col);
		}
		rc = job_from_object(&j, obj, &w, 1, err);
		json_decref(obj);
		if (rc < 0)
			return -1;
		if (batch_list_push(out, &j, err) < 0) {
			batch_job_release(&j);
			return -1;
		}
	}
	return 0;
}

/* ---- YAML --------------------------------------------------------------------------------- */

static int is_string_key(const char *key)
{
	return !strcmp(key, "prompt") || !strcmp(key, "negative") || !strcmp(key, "style") ||
	       !strcmp(key, "backend") || !strcmp(key, "name") || !strcmp(key, "image") ||
	       !strcmp(key, "mask");
}

/* A scalar for a string field keeps its text (prompt: 1984 is the text "1984"); other
 * values are typed the YAML way (ynode_to_json). */
static json_t *yaml_value(const char *key, const struct ynode *v)
{
	if (v->kind == YN_SCALAR && is_string_key(key)) {
		json_t *j = ynode_to_json(v);

		if (json_is_null(j))
			return j;
		json_decref(j);
		return json_string(v->str);
	}
	return ynode_to_json(v);
}

static void ynode_pos(const void *ctx, const char *key, const char *subkey, int value, int *line,
		      int *col)
{
	const struct ynode *map = ctx, *k = NULL, *v;

	v = ynode_get(map, key, &k);
	if (v && subkey) {
		if (v->kind != YN_MAP)
			return;
		v = ynode_get(v, subkey, &k);
	}
	if (!v)
		return;
	*line = value ? v->line : k->line;
	*col = value ? v->col : k->col;
}

/* A YAML job mapping (or a scalar: the prompt) into out. */
static int yaml_job(struct batch_job *out, const struct ynode *n, const char *file, int need_prompt,
		    struct err *err)
{
	struct where w = { file, ynode_pos, n, n->line, n->col };
	json_t *obj;
	size_t i;
	int rc;

	if (n->kind == YN_SCALAR) {
		json_t *s = yaml_value("prompt", n);

		obj = json_object();
		if (!obj || !s || json_object_set_new(obj, "prompt", s) < 0) {
			json_decref(obj);
			return err_set(err, "out of memory");
		}
		w.at = NULL; /* the scalar itself is the position */
		rc = job_from_object(out, obj, &w, need_prompt, err);
		json_decref(obj);
		return rc;
	}
	if (n->kind != YN_MAP)
		return err_code(err, 2, "%s:%d:%d: expected a job (a mapping or a prompt)", file,
				n->line, n->col);
	obj = json_object();
	if (!obj)
		return err_set(err, "out of memory");
	for (i = 0; i < n->n; i++) {
		const struct ynode *k = n->items[2 * i], *v = n->items[2 * i + 1];
		json_t *jv = yaml_value(k->str, v);

		if (!jv || json_object_set_new(obj, k->str, jv) < 0) {
			json_decref(obj);
			return err_set(err, "out of memory");
		}
	}
	rc = job_from_object(out, obj, &w, need_prompt, err);
	json_decref(obj);
	return rc;
}

/* A job of the file: its own fields, then the file's defaults. */
static int push_with_defaults(struct batch_list *out, struct batch_job *j,
			      const struct batch_job *dflt, struct err *err)
{
	if (dflt && ((!j->prompt && dflt->prompt && !(j->prompt = strdup(dflt->prompt))) ||
		     batch_job_fill(j, dflt) < 0)) {
		batch_job_release(j);
		return err_set(err, "out of memory");
	}
	if (batch_list_push(out, j, err) < 0) {
		batch_job_release(j);
		return -1;
	}
	return 0;
}

/* ---- the matrix ---- */

struct axis {
	const char *key;          /* a job key ("prompt", "seed", ... or "set"); sizes: NULL */
	const char *subkey;       /* for set */
	const struct ynode *node; /* the axis's value node */
	const struct ynode **values;
	size_t n;
};

struct combo_pos {
	const struct axis *axes;
	size_t naxes;
	const size_t *pick;
};

static void combo_pos(const void *ctx, const char *key, const char *subkey, int value, int *line,
		      int *col)
{
	const struct combo_pos *c = ctx;
	size_t i;

	for (i = 0; i < c->naxes; i++) {
		const struct axis *a = &c->axes[i];
		const struct ynode *v = a->values[c->pick[i]];
		int is_size = !a->key && (!strcmp(key, "width") || !strcmp(key, "height"));

		if (is_size || (a->key && !strcmp(a->key, key) &&
				(!subkey || (a->subkey && !strcmp(a->subkey, subkey))))) {
			*line = value ? v->line : a->node->line;
			*col = value ? v->col : a->node->col;
			return;
		}
	}
}

static int parse_size(const struct ynode *v, json_int_t *w, json_int_t *h)
{
	char *end;
	long long a, b;

	if (v->kind != YN_SCALAR || !(v->str[0] >= '0' && v->str[0] <= '9'))
		return -1;
	errno = 0;
	a = strtoll(v->str, &end, 10);
	if (errno || (*end != 'x' && *end != 'X') || !(end[1] >= '0' && end[1] <= '9'))
		return -1;
	b = strtoll(end + 1, &end, 10);
	if (errno || *end || a < 1 || a > BATCH_DIM_MAX || b < 1 || b > BATCH_DIM_MAX)
		return -1;
	*w = a;
	*h = b;
	return 0;
}

/* The values of one matrix key: a sequence, or one value standing alone. */
static int axis_values(struct axis *a, const struct ynode *v, const char *file, const char *what,
		       struct err *err)
{
	size_t i;

	a->node = v;
	if (v->kind == YN_SEQ) {
		if (v->n == 0)
			return err_code(err, 2, "%s:%d:%d: matrix %s: no values", file, v->line,
					v->col, what);
		a->values = malloc(v->n * sizeof(*a->values));
		if (!a->values)
			return err_set(err, "out of memory");
		for (i = 0; i < v->n; i++)
			a->values[i] = v->items[i];
		a->n = v->n;
	} else {
		a->values = malloc(sizeof(*a->values));
		if (!a->values)
			return err_set(err, "out of memory");
		a->values[0] = v;
		a->n = 1;
	}
	for (i = 0; i < a->n; i++) {
		const struct ynode *x = a->values[i];
		json_int_t w, h;

		if (x->kind != YN_SCALAR)
			return err_code(err, 2, "%s:%d:%d: matrix %s: expected a single value",
					file, x->line, x->col, what);
		if (!a->key && parse_size(x, &w, &h) < 0)
			return err_code(err, 2,
					"%s:%d:%d: matrix sizes: expected WIDTHxHEIGHT (1..%d), "
					"got '%s'",
					file, x->line, x->col, BATCH_DIM_MAX, x->str);
	}
	return 0;
}

static int axis_add(struct axis **axes, size_t *n, struct axis *a)
{
	struct axis *p = realloc(*axes, (*n + 1) * sizeof(*p));

	if (!p)
		return -1;
	*axes = p;
	p[(*n)++] = *a;
	return 0;
}

static void axes_free(struct axis *axes, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(axes[i].values);
	free(axes);
}

/* Map a matrix key to the job key it sets ("prompts" → "prompt"); NULL for sizes. */
static const char *axis_job_key(const char *mkey)
{
	static const char *const map[][2] = { { "prompts", "prompt" }, { "negatives", "negative" },
					      { "styles", "style" },   { "backends", "backend" },
					      { "names", "name" },     { "seeds", "seed" },
					      { "steps", "steps" },    { "images", "image" } };
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(mkey, map[i][0]))
			return map[i][1];
	return NULL;
}

static int matrix_axes(struct axis **axes, size_t *naxes, const struct ynode *m, const char *file,
		       struct err *err)
{
	size_t i, j;

	*axes = NULL;
	*naxes = 0;
	if (m->kind != YN_MAP)
		return err_code(err, 2, "%s:%d:%d: matrix: expected a mapping of lists", file,
				m->line, m->col);
	if (m->n == 0)
		return err_code(err, 2, "%s:%d:%d: matrix: empty", file, m->line, m->col);
	for (i = 0; i < m->n; i++) {
		const struct ynode *k = m->items[2 * i], *v = m->items[2 * i + 1];
		struct axis a;
		const char *hint;

		memset(&a, 0, sizeof(a));
		if (!strcmp(k->str, "set")) {
			if (v->kind != YN_MAP || v->n == 0)
				goto fail_set;
			for (j = 0; j < v->n; j++) {
				const struct ynode *sk = v->items[2 * j];
				char what[160];

				memset(&a, 0, sizeof(a));
				a.key = "set";
				a.subkey = sk->str;
				snprintf(what, sizeof(what), "set.%s", sk->str);
				if (axis_values(&a, v->items[2 * j + 1], file, what, err) < 0)
					goto fail_axis;
				if (axis_add(axes, naxes, &a) < 0)
					goto fail_oom;
			}
			continue;
		}
		if (strcmp(k->str, "sizes") && !axis_job_key(k->str)) {
			hint = suggest_closest(k->str, matrix_keys);
			if (hint)
				err_code(err, 2,
					 "%s:%d:%d: matrix: unknown key '%s' (did you mean "
					 "'%s'?)",
					 file, k->line, k->col, k->str, hint);
			else
				err_code(err, 2,
					 "%s:%d:%d: matrix: unknown key '%s' (request options go "
					 "under set:)",
					 file, k->line, k->col, k->str);
			goto fail;
		}
		a.key = axis_job_key(k->str);
		if (axis_values(&a, v, file, k->str, err) < 0)
			goto fail_axis;
		if (axis_add(axes, naxes, &a) < 0)
			goto fail_oom;
		continue;
	fail_set:
		err_code(err, 2, "%s:%d:%d: matrix set: expected a mapping KEY: [values]", file,
			 v->line, v->col);
		goto fail;
	fail_oom:
		err_set(err, "out of memory");
	fail_axis:
		free(a.values);
		goto fail;
	}
	return 0;
fail:
	axes_free(*axes, *naxes);
	*axes = NULL;
	*naxes = 0;
	return -1;
}

/* One combination as a job object. */
static json_t *combo_object(const struct axis *axes, size_t naxes, const size_t *pick)
{
	json_t *obj = json_object(), *set = NULL;
	size_t i;

	if (!obj)
		return NULL;
	for (i = 0; i < naxes; i++) {
		const struct ynode *v = axes[i].values[pick[i]];
		json_int_t w, h;
		int rc;

		if (!axes[i].key) {
			parse_size(v, &w, &h);
			rc = json_object_set_new(obj, "width", json_integer(w)) |
			     json_object_set_new(obj, "height", json_integer(h));
		} else if (axes[i].subkey) {
			if (!set &&
			    (!(set = json_object()) || json_object_set_new(obj, "set", set) < 0)) {
				json_decref(obj);
				return NULL;
			}
			rc = json_object_set_new(set, axes[i].subkey, ynode_to_json(v));
		} else {
			rc = json_object_set_new(obj, axes[i].key, yaml_value(axes[i].key, v));
		}
		if (rc < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

static int yaml_matrix(struct batch_list *out, const struct ynode *m, const struct batch_job *dflt,
		       struct err *err)
{
	struct axis *axes;
	size_t naxes, i, total = 1, *pick = NULL, done;
	int rc = -1;

	if (matrix_axes(&axes, &naxes, m, out->file, err) < 0)
		return -1;
	for (i = 0; i < naxes; i++) {
		if (total > (size_t)BATCH_MAX_JOBS / axes[i].n) {
			err_code(err, 2, "%s:%d:%d: matrix: more than %d combinations", out->file,
				 m->line, m->col, BATCH_MAX_JOBS);
			goto out;
		}
		total *= axes[i].n;
	}
	pick = calloc(naxes, sizeof(*pick));
	if (!pick) {
		err_set(err, "out of memory");
		goto out;
	}
	for (done = 0; done < total; done++) {
		struct combo_pos cp = { axes, naxes, pick };
		struct where w = { out->file, combo_pos, &cp, m->line, m->col };
		struct batch_job j;
		json_t *obj = combo_object(axes, naxes, pick);
		int jr;

		if (!obj) {
			err_set(err, "out of memory");
			goto out;
		}
		jr = job_from_object(&j, obj, &w, 0, err);
		json_decref(obj);
		if (jr < 0)
			goto out;
		if (!j.prompt && !(dflt && dflt->prompt)) {
			batch_job_release(&j);
			err_code(err, 2,
				 "%s:%d:%d: matrix without prompts (and no prompt in defaults:)",
				 out->file, m->line, m->col);
			goto out;
		}
		if (push_with_defaults(out, &j, dflt, err) < 0)
			goto out;
		/* the odometer: the last key turns fastest */
		for (i = naxes; i-- > 0;) {
			if (++pick[i] < axes[i].n)
				break;
			pick[i] = 0;
		}
	}
	rc = 0;
out:
	free(pick);
	axes_free(axes, naxes);
	return rc;
}

static int parse_yaml(struct batch_list *out, const char *text, size_t len, struct err *err)
{
	struct ynode *root = NULL;
	const struct ynode *jobs = NULL, *matrix = NULL, *defaults = NULL;
	struct batch_job dflt, *dp = NULL;
	size_t i;
	int rc = -1;

	if (yaml_parse(&root, text, len, out->file, err) < 0)
		return -1;
	if (root->kind == YN_SEQ) {
		jobs = root;
	} else if (root->kind == YN_MAP) {
		for (i = 0; i < root->n; i++) {
			const struct ynode *k = root->items[2 * i];
			const char *hint;

			if (!strcmp(k->str, "jobs"))
				jobs = root->items[2 * i + 1];
			else if (!strcmp(k->str, "matrix"))
				matrix = root->items[2 * i + 1];
			else if (!strcmp(k->str, "defaults"))
				defaults = root->items[2 * i + 1];
			else if ((hint = suggest_closest(k->str, top_keys)) != NULL) {
				err_code(err, 2, "%s:%d:%d: unknown key '%s' (did you mean '%s'?)",
					 out->file, k->line, k->col, k->str, hint);
				goto out;
			} else {
				err_code(err, 2,
					 "%s:%d:%d: unknown key '%s' (a batch file has jobs:, "
					 "matrix: and defaults:)",
					 out->file, k->line, k->col, k->str);
				goto out;
			}
		}
	} else {
		err_code(err, 2, "%s:%d:%d: expected a mapping with jobs: or matrix:", out->file,
			 root->line, root->col);
		goto out;
	}
	if (defaults) {
		if (defaults->kind != YN_MAP) {
			err_code(err, 2, "%s:%d:%d: defaults: expected a mapping of job keys",
				 out->file, defaults->line, defaults->col);
			goto out;
		}
		if (yaml_job(&dflt, defaults, out->file, 0, err) < 0)
			goto out;
		dp = &dflt;
	}
	if (jobs) {
		if (jobs->kind != YN_SEQ) {
			err_code(err, 2, "%s:%d:%d: jobs: expected a list of jobs", out->file,
				 jobs->line, jobs->col);
			goto out;
		}
		for (i = 0; i < jobs->n; i++) {
			struct batch_job j;

			if (yaml_job(&j, jobs->items[i], out->file, !(dp && dp->prompt), err) < 0 ||
			    push_with_defaults(out, &j, dp, err) < 0)
				goto out;
		}
	}
	if (matrix) {
		if (matrix->kind == YN_SEQ) {
			for (i = 0; i < matrix->n; i++)
				if (yaml_matrix(out, matrix->items[i], dp, err) < 0)
					goto out;
		} else if (yaml_matrix(out, matrix, dp, err) < 0) {
			goto out;
		}
	}
	rc = 0;
out:
	if (dp)
		batch_job_release(dp);
	ynode_free(root);
	return rc;
}

/* ---- entry points ------------------------------------------------------------------------- */

int batch_parse(struct batch_list *out, const char *text, size_t len, const char *file,
		enum batch_format fmt, struct err *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!(out->file = strdup(file)))
		return err_set(err, "out of memory");
	if (fmt == BATCH_FMT_AUTO)
		fmt = batch_format_detect(NULL, text, len);
	if (fmt != BATCH_FMT_YAML && len > BATCH_FILE_MAX)
		rc = err_code(err, 2, "%s: file is too large (%zu bytes; the limit is %d)", file,
			      len, BATCH_FILE_MAX);
	else if (fmt == BATCH_FMT_YAML)
		rc = parse_yaml(out, text, len, err);
	else if (lines_check(text, len, file, err) < 0)
		rc = -1;
	else if (fmt == BATCH_FMT_JSONL)
		rc = parse_jsonl(out, text, len, err);
	else
		rc = parse_text(out, text, len, err);
	if (rc == 0 && out->n == 0)
		rc = err_code(err, 2, "%s: no jobs in the file", file);
	if (rc < 0) {
		batch_list_release(out);
		return -1;
	}
	return 0;
}

/* Standard input, bounded. */
static int read_stdin(unsigned char **out, size_t *len, struct err *err)
{
	size_t cap = 65536, n = 0;
	unsigned char *data = malloc(cap + 1), *p;
	ssize_t r;

	*out = NULL;
	if (!data)
		return err_set(err, "out of memory");
	for (;;) {
		if (n == cap) {
			if (cap > BATCH_FILE_MAX) {
				free(data);
				return err_code(err, 2, "<stdin>: more than %d bytes",
						BATCH_FILE_MAX);
			}
			cap *= 2;
			if (!(p = realloc(data, cap + 1))) {
				free(data);
				return err_set(err, "out of memory");
			}
			data = p;
		}
		r = read(STDIN_FILENO, data + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(data);
			return err_code(err, 2, "<stdin>: %s", strerror(errno));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	data[n] = '\0';
	*out = data;
	*len = n;
	return 0;
}

int batch_read(struct batch_list *out, const char *path, enum batch_format fmt, struct err *err)
{
	int is_stdin = !strcmp(path, "-");
	unsigned char *text;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (is_stdin)
		rc = read_stdin(&text, &len, err);
	else if ((rc = file_read(&text, &len, path, BATCH_FILE_MAX, err)) < 0 && err)
		err->code = 2;
	if (rc < 0)
		return -1;
	if (fmt == BATCH_FMT_AUTO)
		fmt = batch_format_detect(is_stdin ? NULL : path, (const char *)text, len);
	rc = batch_parse(out, (const char *)text, len, is_stdin ? "<stdin>" : path, fmt, err);
	free(text);
	return rc;
}

static int check_name(const struct batch_list *list, const struct batch_job *j, const char *what,
		      const char *name, const char *const *known, struct err *err)
{
	const char *hint;
	size_t i;

	if (!name || !known)
		return 0;
	for (i = 0; known[i]; i++)
		if (!strcmp(known[i], name))
			return 0;
	hint = suggest_closest(name, known);
	if (hint)
		return err_code(err, 2, "%s:%d:%d: unknown %s '%s' (did you mean '%s'?)",
				list->file, j->line, j->col, what, name, hint);
	return err_code(err, 2, "%s:%d:%d: unknown %s '%s'", list->file, j->line, j->col, what,
			name);
}

int batch_check_names(const struct batch_list *list, const char *const *backends,
		      const char *const *styles, struct err *err)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		const struct batch_job *j = &list->jobs[i];

		if (check_name(list, j, "backend", j->backend, backends, err) < 0 ||
		    check_name(list, j, "style", j->style, styles, err) < 0)
			return -1;
	}
	return 0;
}
