/* gen.c - the generation core: the request builder and the run (see gen.h). */
#include "gen/gen.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cloud/cloud.h"
#include "core/image.h"
#include "core/output.h"
#include "core/pngmeta.h"
#include "net/http.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "util/file.h"
#include "util/sha256.h"
#include "util/suggest.h"
#include "util/utf8.h"

#define RESULTS_ROOM 16 /* images one backend call may hand back beyond --count */
#define SET_KEY_MAX 128

/* ---- sources ------------------------------------------------------------------------ */

void gen_args_init(struct gen_args *a)
{
	memset(a, 0, sizeof(*a));
	a->cloud = -1;
	a->preview = -1;
	a->mask_invert = -1;
	a->job = -1;
}

void gen_args_from_repro(struct gen_args *out, const struct repro *r)
{
	gen_args_init(out);
	out->what = "--from";
	out->prompt = r->prompt;
	out->final_prompt = r->final_prompt;
	out->negative = r->negative;
	/* a recorded prompt is already whole: a record that names no style (a plain A1111
	 * PNG) must not pick up the default style's suffix */
	out->style = r->style ? r->style : "none";
	out->backend = r->backend;
	out->width = r->width;
	out->height = r->height;
	out->steps = r->steps;
	out->seed = r->seed;
	out->has_seed = r->has_seed;
	out->options = r->options;
	out->images = r->images;
	out->nimages = r->nimages;
	out->mask = r->mask.path ? &r->mask : NULL;
	out->mask_invert = r->mask.path ? r->mask_invert : -1;
	out->strength = r->strength;
	out->has_strength = r->has_strength;
}

/* "--set delay_ms=50" reaches the adapter as the number 50, "--set fast=true" as a
 * boolean, anything else as a string. */
static json_t *typed_value(const char *s)
{
	char *end;
	long long n;

	if (!strcmp(s, "true"))
		return json_true();
	if (!strcmp(s, "false"))
		return json_false();
	if (*s) {
		errno = 0;
		n = strtoll(s, &end, 10);
		if (!*end && !errno && (*s == '-' || (*s >= '0' && *s <= '9')))
			return json_integer(n);
	}
	return json_string(s);
}

int gen_option_set(json_t *opts, const char *arg, struct err *err)
{
	const char *eq = strchr(arg, '=');
	char key[SET_KEY_MAX];
	size_t i, len, bad;
	json_t *v;

	if (!eq || eq == arg)
		return err_code(err, 2, "--set: expected KEY=VALUE, got '%s'", arg);
	len = (size_t)(eq - arg);
	if (len >= sizeof(key))
		return err_code(err, 2, "--set: key too long in '%s'", arg);
	memcpy(key, arg, len);
	key[len] = '\0';
	for (i = 0; i < len; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return err_code(err, 2,
					"--set: invalid key '%s' (letters, digits, '_', '-', '.')",
					key);
	}
	if (!utf8_valid((const unsigned char *)eq + 1, strlen(eq + 1), &bad))
		return err_code(err, 2, "--set: the value of '%s' is not valid UTF-8 (byte %zu)",
				key, bad + 1);
	v = typed_value(eq + 1);
	if (!v || json_object_set_new(opts, key, v) < 0)
		return err_code(err, 1, "out of memory");
	return 0;
}

/* ---- the request builder ------------------------------------------------------------ */

/* The sources in precedence order: flags, job, --from (each may be NULL). */
struct sources {
	const struct gen_args *s[3];
};

/* How a field of struct gen_args says it was given. */
enum given {
	GIVEN_TEXT,   /* a non-empty string */
	GIVEN_STRING, /* any string, "" included (a negative prompt "" clears a recorded one) */
	GIVEN_INT,    /* non-zero (sizes, steps, count, has_seed) */
	GIVEN_MODE,   /* >= 0 (enum mode) */
};

/* The one precedence rule: the first source that gives the field at offset off wins;
 * NULL when none does (the configuration or the default applies). */
static const struct gen_args *pick(const struct sources *src, size_t off, enum given how)
{
	size_t i;

	for (i = 0; i < sizeof(src->s) / sizeof(src->s[0]); i++) {
		const struct gen_args *a = src->s[i];
		const void *f = a ? (const char *)a + off : NULL;

		if (!f)
			continue;
		if (how == GIVEN_TEXT || how == GIVEN_STRING) {
			const char *v = *(const char *const *)f;

			if (v && (how == GIVEN_STRING || *v))
				return a;
		} else if (how == GIVEN_INT ? *(const int *)f != 0 : *(const int *)f >= 0) {
			return a;
		}
	}
	return NULL;
}

#define PICK(src, field, how) pick(src, offsetof(struct gen_args, field), how)

/* Each text that goes into the metadata must be valid UTF-8: a JSON sidecar and an iTXt
 * chunk cannot carry anything else, and an image without its metadata is not kept. */
static int check_texts(const struct gen_args *a, struct err *err)
{
	const struct {
		const char *field, *text;
	} t[] = {
		{ "prompt", a->prompt },
		{ "final prompt", a->final_prompt },
		{ "negative prompt", a->negative },
		{ "style", a->style },
		{ "backend name", a->backend },
	};
	size_t i, bad;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!t[i].text ||
		    utf8_valid((const unsigned char *)t[i].text, strlen(t[i].text), &bad))
			continue;
		return err_code(err, 2, "generate: the %s%s%s is not valid UTF-8 (byte %zu)",
				t[i].field, a->what ? " of " : "", a->what ? a->what : "", bad + 1);
	}
	return 0;
}

static int blank(const char *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\v' && *s != '\f')
			return 0;
	return 1;
}

/* The image extensions a naming template may end in; {ext} follows the bytes. */
static const char *ext_format(const char *ext, size_t n)
{
	if (n == 3 && !strncasecmp(ext, "png", 3))
		return "png";
	if ((n == 3 && !strncasecmp(ext, "jpg", 3)) || (n == 4 && !strncasecmp(ext, "jpeg", 4)))
		return "jpg";
	if (n == 4 && !strncasecmp(ext, "webp", 4))
		return "webp";
	return NULL;
}

/* Where the extension of a template's last segment starts (after its '.'), or NULL when
 * it has none (output_render_name then appends ".{ext}"). */
static const char *template_ext(const char *tmpl)
{
	const char *last = strrchr(tmpl, '/'), *dot;

	last = last ? last + 1 : tmpl;
	dot = strrchr(last, '.');
	return dot && dot > last ? dot + 1 : NULL;
}

/* A template is checked before anything is spent: placeholders, segments, and an
 * extension that an image can carry. */
static int check_name(const char *tmpl, const char *what, struct err *err)
{
	const char *ext;

	if (output_check_template(tmpl, err) < 0) {
		err_prefix(err, "%s", what);
		err->code = 2;
		return -1;
	}
	ext = template_ext(tmpl);
	if (ext && strcmp(ext, "{ext}") && !ext_format(ext, strlen(ext)))
		return err_code(err, 2,
				"%s: '%s' ends in '.%s', not an image extension (.png, .jpg, "
				".jpeg, .webp, or .{ext} for the format the backend returns)",
				what, tmpl, ext);
	return 0;
}

static int default_random(void *ctx, uint32_t *out)
{
	(void)ctx;
	return getrandom(out, sizeof(*out), 0) == (ssize_t)sizeof(*out) ? 0 : -1;
}

static int rescue_dir(char **out, const struct gen_env *env, struct err *err)
{
	const char *state = env_get(env->vars, "XDG_STATE_HOME"),
		   *home = env_get(env->vars, "HOME");
	int n = 0;

	*out = NULL;
	if (state && *state == '/')
		n = asprintf(out, "%s/imagen/rescue", state);
	else if (home && *home)
		n = asprintf(out, "%s/.local/state/imagen/rescue", home);
	if (n < 0) {
		*out = NULL;
		return err_code(err, 1, "out of memory");
	}
	return 0;
}

/* "unknown X (configured: a, b; did you mean 'b'?)": the list, and the likely typo. */
static void unknown_name(struct err *err, const char *kind, const char *name,
			 const char *const *cand)
{
	struct buf list = BUF_INIT;
	const char *hint = suggest_closest(name, cand);
	size_t i;

	for (i = 0; cand[i]; i++)
		buf_addf(&list, "%s%s", i ? ", " : "", cand[i]);
	err_code(err, 2, "%s \"%s\": unknown %s (configured: %s%s%s%s)", kind, name, kind,
		 list.data ? (const char *)list.data : "", hint ? "; did you mean '" : "",
		 hint ? hint : "", hint ? "'?" : "");
	buf_release(&list);
}

static void unknown_backend(const struct config *cfg, const char *name, struct err *err)
{
	const char **cand = calloc(cfg->nbackends + 1, sizeof(*cand));
	size_t i;

	if (!cand) {
		err_code(err, 1, "out of memory");
		return;
	}
	for (i = 0; i < cfg->nbackends; i++)
		cand[i] = cfg->backends[i].name;
	unknown_name(err, "backend", name, cand);
	free(cand);
}

static void unknown_style(const struct config *cfg, const char *name, struct err *err)
{
	const char **cand = calloc(cfg->nstyles + 2, sizeof(*cand));
	size_t i;

	if (!cand) {
		err_code(err, 1, "out of memory");
		return;
	}
	cand[0] = "none";
	for (i = 0; i < cfg->nstyles; i++)
		cand[i + 1] = cfg->styles[i].name;
	unknown_name(err, "style", name, cand);
	free(cand);
}

/* The final prompt: the recorded text when the source that gives the winning prompt and
 * style recorded it (replayed exactly, even if the preset has been edited since), else
 * the prompt with the style's suffix. */
static int final_prompt(struct gen_request *r, const struct gen_args *prompt_src,
			const struct gen_args *style_src, struct err *err)
{
	const char *suffix;
	int n;

	if (prompt_src && prompt_src == style_src && prompt_src->final_prompt &&
	    *prompt_src->final_prompt) {
		r->final_prompt = strdup(prompt_src->final_prompt);
		return r->final_prompt ? 0 : err_code(err, 1, "out of memory");
	}
	suffix = config_style_suffix(r->cfg, r->style);
	if (!suffix) {
		unknown_style(r->cfg, r->style, err);
		return -1;
	}
	if (*suffix)
		n = asprintf(&r->final_prompt, "%s, %s", r->prompt, suffix);
	else
		n = (r->final_prompt = strdup(r->prompt)) ? 0 : -1;
	if (n < 0) {
		r->final_prompt = NULL;
		return err_code(err, 1, "out of memory");
	}
	return 0;
}

static int merge_options(struct gen_request *r, const struct sources *src, struct err *err)
{
	json_t *merged = json_object();
	int i;

	/* lowest source first: a higher one's key replaces it */
	for (i = 2; merged && i >= 0; i--) {
		const struct gen_args *a = src->s[i];

		if (a && json_is_object(a->options) &&
		    json_object_update(merged, (json_t *)a->options) < 0) {
			json_decref(merged);
			merged = NULL;
		}
	}
	/* a copy of its own: sources may be shared by requests built on other threads */
	r->options = merged ? json_deep_copy(merged) : NULL;
	json_decref(merged);
	return r->options ? 0 : err_code(err, 1, "out of memory");
}

/* ---- image inputs ------------------------------------------------------------------- */

#define FIND_DEPTH_MAX 6
#define FIND_FILES_MAX 20000

/* nftw has no context argument: the search in progress, one per thread */
static _Thread_local struct find_ctx {
	const char *sha256;
	long long bytes;
	char *found;
	int files;
} * find_cur;

static int find_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct find_ctx *f = find_cur;
	unsigned char *data = NULL;
	size_t len = 0;
	char hex[65];

	if (type != FTW_F || ftw->level > FIND_DEPTH_MAX || !S_ISREG(st->st_mode))
		return 0;
	if (++f->files > FIND_FILES_MAX)
		return 1;
	if ((f->bytes > 0 && st->st_size != f->bytes) || st->st_size > (off_t)GEN_INPUT_MAX_BYTES)
		return 0;
	if (file_read(&data, &len, path, GEN_INPUT_MAX_BYTES, NULL) < 0)
		return 0;
	sha256_hex(hex, data, len);
	free(data);
	if (strcmp(hex, f->sha256))
		return 0;
	f->found = strdup(path);
	return 1;
}

/* A file under dir whose content has this hash (malloc'd), or NULL. */
static char *find_by_hash(const char *dir, const char *sha256, long long bytes)
{
	struct find_ctx f = { sha256, bytes, NULL, 0 };

	find_cur = &f;
	nftw(dir, find_visit, 16, FTW_PHYS);
	find_cur = NULL;
	return f.found;
}

#define FOUND_LOADED ((char *)1)

/* The first of paths (a JSON array, stolen) whose file loads as this input and has this
 * hash: loaded into in, FOUND_LOADED; NULL when none does. */
static char *find_in_list(json_t *paths, struct gen_input *in, const char *role, const char *sha256)
{
	const json_t *p;
	size_t i;

	json_array_foreach (paths, i, p) {
		if (!json_is_string(p) || gen_input_load(in, role, json_string_value(p), NULL) < 0)
			continue;
		if (!strcmp(in->sha256, sha256)) {
			json_decref(paths);
			return FOUND_LOADED;
		}
		gen_input_release(in);
	}
	json_decref(paths);
	return NULL;
}

/* Read one input a source names.  A recorded one (with a hash) is taken from its path
 * when the file there still has that hash, else from the output directory by its hash. */
static int load_input(struct gen_input *in, const char *role, const struct gen_input_ref *ref,
		      const struct gen_args *src, const char *output_dir, const struct gen_env *env,
		      struct err *err)
{
	char *found;
	int rc, at_path;

	if (!ref->sha256 || !*ref->sha256)
		return gen_input_load(in, role, ref->path, err);
	at_path = gen_input_load(in, role, ref->path, NULL) == 0;
	if (at_path && !strcmp(in->sha256, ref->sha256))
		return 0;
	if (at_path)
		gen_input_release(in);
	found = find_by_hash(output_dir, ref->sha256, ref->bytes);
	if (!found && env && env->find_input)
		found = find_in_list(env->find_input(env->find_input_ctx, ref->sha256), in, role,
				     ref->sha256);
	if (found == FOUND_LOADED)
		return 0;
	if (!found)
		return err_code(err, 2,
				"%s: input %s '%s' (sha256 %.12s...) is missing: %s, and no file "
				"in %s or the catalog has its content",
				src->what ? src->what : "generate", role, ref->path, ref->sha256,
				at_path ? "the file at that path has changed" : "not at that path",
				output_dir);
	rc = gen_input_load(in, role, found, err);
	free(found);
	return rc;
}

static int load_inputs(struct gen_request *r, const struct sources *src, const struct gen_env *env,
		       struct err *err)
{
	const struct gen_args *ia = NULL, *ma = NULL, *sa;
	size_t i;
	int w, h;

	for (i = 0; i < 3; i++) {
		if (!ia && src->s[i] && src->s[i]->nimages)
			ia = src->s[i];
		if (!ma && src->s[i] && src->s[i]->mask)
			ma = src->s[i];
	}
	sa = PICK(src, has_strength, GIVEN_INT);
	if (!ia) {
		if (ma)
			return err_code(err, 2, "generate: --mask %s needs an --image to apply to",
					ma->mask->path);
		if (sa && sa == src->s[0])
			return err_code(err, 2, "generate: --strength needs an --image input");
		return 0;
	}
	if (ia->nimages > GEN_INPUTS_MAX)
		return err_code(err, 2, "generate: %zu --image inputs, at most %d", ia->nimages,
				GEN_INPUTS_MAX);
	r->strength = sa ? sa->strength : GEN_STRENGTH_DEFAULT;
	if (!(r->strength >= 0.0 && r->strength <= 1.0))
		return err_code(err, 2, "generate: strength %g is out of range (0..1)",
				r->strength);
	r->inputs = calloc(ia->nimages, sizeof(*r->inputs));
	if (!r->inputs)
		return err_code(err, 1, "out of memory");
	for (i = 0; i < ia->nimages; i++) {
		if (load_input(&r->inputs[i], "image", &ia->images[i], ia, r->output_dir, env,
			       err) < 0)
			return -1;
		r->ninputs++;
	}
	if (!ma)
		return 0;
	r->mask = calloc(1, sizeof(*r->mask));
	if (!r->mask)
		return err_code(err, 1, "out of memory");
	if (load_input(r->mask, "mask", ma->mask, ma, r->output_dir, env, err) < 0)
		return -1;
	sa = PICK(src, mask_invert, GIVEN_MODE);
	r->mask_invert = sa && sa->mask_invert > 0;
	if (r->mask->width != r->inputs[0].width || r->mask->height != r->inputs[0].height)
		return err_code(err, 2, "--mask %s: %dx%d, not the size of --image %s (%dx%d)",
				r->mask->path, r->mask->width, r->mask->height, r->inputs[0].path,
				r->inputs[0].width, r->inputs[0].height);
	if (mask_repaint_map(r->mask->data, r->mask->len, r->mask_invert, &r->mask_map, &w, &h,
			     err) < 0) {
		err_prefix(err, "--mask %s", r->mask->path);
		err->code = 2;
		return -1;
	}
	return 0;
}

int gen_request_build(struct gen_request *r, const struct config *cfg, const struct gen_args *flags,
		      const struct gen_args *job, const struct gen_args *from,
		      const struct gen_env *env, struct err *err)
{
	struct sources src = { { flags, job, from } };
	const struct gen_args *a, *prompt_src, *style_src;
	struct overrides ov = { NULL, FROM_FLAG, NULL, -1, -1 };
	const char *name_what;
	uint32_t rnd;
	int i;

	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	for (i = 0; i < 3; i++)
		if (src.s[i] && check_texts(src.s[i], err) < 0)
			return -1;

	/* what the configuration resolves, flags and job/--from on top */
	if ((a = PICK(&src, backend, GIVEN_TEXT))) {
		ov.backend = a->backend;
		ov.backend_origin = a == flags ? FROM_FLAG : FROM_FILE_ARG;
	}
	if ((a = PICK(&src, output_dir, GIVEN_TEXT)))
		ov.output_dir = a->output_dir;
	if ((a = PICK(&src, cloud, GIVEN_MODE)))
		ov.cloud_sync = a->cloud;
	if ((a = PICK(&src, preview, GIVEN_MODE)))
		ov.preview = a->preview;
	if (settings_resolve(&r->st, cfg, &ov, env->vars, err) < 0) {
		if (!err->code)
			err->code = 2;
		goto fail;
	}
	r->cb = config_backend(cfg, r->st.backend);
	if (!r->cb) {
		unknown_backend(cfg, r->st.backend, err);
		goto fail;
	}
	r->st.backend = r->cb->name; /* the request outlives the sources */

	prompt_src = PICK(&src, prompt, GIVEN_TEXT);
	if (!prompt_src || blank(prompt_src->prompt)) {
		err_code(err, 2,
			 "generate: a prompt is required (e.g. imagen generate \"a lighthouse at "
			 "dusk\")");
		goto fail;
	}
	style_src = PICK(&src, style, GIVEN_TEXT);
	r->prompt = strdup(prompt_src->prompt);
	if (prompt_src->prompt_template &&
	    !(r->prompt_template = strdup(prompt_src->prompt_template))) {
		err_code(err, 1, "out of memory");
		goto fail;
	}
	r->style = strdup(style_src ? style_src->style : cfg->default_style);
	r->job = -1;
	if ((a = PICK(&src, batch_id, GIVEN_TEXT))) {
		r->batch_id = strdup(a->batch_id);
		r->job = a->job;
		if (!r->batch_id) {
			err_code(err, 1, "out of memory");
			goto fail;
		}
	}
	if (!r->prompt || !r->style) {
		err_code(err, 1, "out of memory");
		goto fail;
	}
	if (final_prompt(r, prompt_src, style_src, err) < 0)
		goto fail;

	if ((a = PICK(&src, negative, GIVEN_STRING)) && *a->negative &&
	    !(r->negative = strdup(a->negative))) {
		err_code(err, 1, "out of memory");
		goto fail;
	}
	r->width = (a = PICK(&src, width, GIVEN_INT)) ? a->width : 0;
	r->height = (a = PICK(&src, height, GIVEN_INT)) ? a->height : 0;
	r->steps = (a = PICK(&src, steps, GIVEN_INT)) ? a->steps : 0;
	r->count = (a = PICK(&src, count, GIVEN_INT)) ? a->count : 1;
	/* the command line checks its flags; other sources (batch files) are checked here */
	if (r->width < 0 || r->height < 0 || r->steps < 0 || r->count < 1 ||
	    r->count > GEN_COUNT_MAX) {
		err_code(err, 2,
			 "generate: width %d, height %d, steps %d, count %d: out of range (sizes "
			 "and steps >= 0, count 1..%d)",
			 r->width, r->height, r->steps, r->count, GEN_COUNT_MAX);
		goto fail;
	}
	if ((a = PICK(&src, has_seed, GIVEN_INT))) {
		if (a->seed < 0) {
			err_code(err, 2, "generate: seed %lld is out of range (0..%lld)",
				 (long long)a->seed, (long long)GEN_SEED_MAX);
			goto fail;
		}
		r->seed = a->seed;
		snprintf(r->seed_from, sizeof(r->seed_from), "%s", a->what ? a->what : "flag");
	} else {
		/* 32 bits: every backend (ComfyUI, A1111, Replicate) accepts that range */
		if ((env->random ? env->random(env->random_ctx, &rnd)
				 : default_random(NULL, &rnd)) < 0) {
			err_code(err, 2, "getrandom: %s", strerror(errno));
			goto fail;
		}
		r->seed = rnd;
		snprintf(r->seed_from, sizeof(r->seed_from), "random");
	}
	if (merge_options(r, &src, err) < 0)
		goto fail;

	a = PICK(&src, name, GIVEN_TEXT);
	name_what = !a ? "output.naming" : a == flags ? "--name" : a->what ? a->what : "job";
	r->name = strdup(a ? a->name : cfg->naming);
	if (!r->name) {
		err_code(err, 1, "out of memory");
		goto fail;
	}
	if (check_name(r->name, name_what, err) < 0)
		goto fail;
	if (output_expand_dir(&r->output_dir, r->st.output_dir, err) < 0) {
		err_prefix(err, "output");
		err->code = 2;
		goto fail;
	}
	r->st.output_dir = r->output_dir;
	if (rescue_dir(&r->rescue_dir, env, err) < 0)
		goto fail;
	if (load_inputs(r, &src, env, err) < 0)
		goto fail;
	r->write_sidecar = cfg->write_metadata_json;
	r->env = env->vars;
	return 0;
fail:
	gen_request_release(r);
	return -1;
}

void gen_request_release(struct gen_request *r)
{
	free(r->prompt);
	free(r->prompt_template);
	free(r->batch_id);
	free(r->final_prompt);
	free(r->negative);
	free(r->style);
	json_decref(r->options);
	free(r->name);
	free(r->output_dir);
	free(r->rescue_dir);
	while (r->ninputs)
		gen_input_release(&r->inputs[--r->ninputs]);
	free(r->inputs);
	if (r->mask)
		gen_input_release(r->mask);
	free(r->mask);
	free(r->mask_map);
	memset(r, 0, sizeof(*r));
}

void gen_request_log(const struct gen_request *r, const struct ev_sink *sink)
{
	const struct settings *st = &r->st;

	if (!ev_wants(sink, EV_VERBOSE))
		return;
	ev_log(sink, EV_VERBOSE, "config", "%s", r->cfg->display);
	ev_log(sink, EV_VERBOSE, NULL, "backend %s (type %s, from %s)", r->cb->name, r->cb->type,
	       origin_name(st->backend_from));
	ev_log(sink, EV_VERBOSE, NULL, "seed %lld (%s)", (long long)r->seed, r->seed_from);
	ev_log(sink, EV_VERBOSE, NULL,
	       "output %s (from %s), cloud sync %s%s (from %s), preview %s (from %s)",
	       r->output_dir, origin_name(st->output_dir_from), mode_name(st->cloud_sync),
	       st->cloud_sync != MODE_AUTO ? ""
	       : st->cloud_on              ? " -> on"
					   : " -> off",
	       origin_name(st->cloud_sync_from), mode_name(st->preview),
	       origin_name(st->preview_from));
}

/* ---- after-steps -------------------------------------------------------------------- */

static json_t *step_cloud(const struct gen_step *step, const struct gen_request *req,
			  const json_t *record, const struct ev_sink *sink)
{
	(void)step;
	/* the image and sidecar are safe on disk: the sync reads them back from there and
	 * never changes the outcome (a failure is queued for `imagen sync`) */
	return cloud_after_generate(req->cfg, &req->st, req->env,
				    json_string_value(json_object_get(record, "image")), sink);
}

const struct gen_step gen_steps_default[] = {
	{ "cloud", step_cloud, NULL },
	{ NULL, NULL, NULL },
};

/* ---- records ------------------------------------------------------------------------ */

/* A text for a record; null when there is none (or it cannot be JSON: a path that is not
 * UTF-8). */
static json_t *str_or_null(const char *s)
{
	json_t *v = s ? json_string(s) : NULL;

	return v ? v : json_null();
}

static json_t *int_or_null(int known, json_int_t v)
{
	return known ? json_integer(v) : json_null();
}

/* One shape for every record: the image's facts (null when there is no image), then
 * "error" and "exit_code".  rec and res are NULL for a failure; req is NULL when the
 * request could not be built. */
static json_t *record_new(const struct gen_request *req, const struct gen_record *rec,
			  const struct imagen_result *res, const json_t *sidecar, int index,
			  int64_t seed, const char *error, int code)
{
	const struct gen_record none_rec = { 0 };
	const struct imagen_result none_res = { 0 };
	const struct gen_record *g = rec ? rec : &none_rec;
	const struct imagen_result *x = res ? res : &none_res;

	if (res)
		seed = res->seed;
	return json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
		"s:o, s:o, s:o, s:o, s:o, s:O?, s:n, s:o, s:i}",
		"image", str_or_null(g->image_path), "sidecar", str_or_null(g->sidecar_path),
		"file_name", str_or_null(g->file_name), "rel_path", str_or_null(g->rel_path), "dir",
		str_or_null(rec   ? g->dir
			    : req ? req->output_dir
				  : NULL),
		"date", str_or_null(rec ? g->date : NULL), "time",
		str_or_null(rec ? g->time : NULL), "slug", str_or_null(rec ? g->slug : NULL),
		"seed", int_or_null(seed >= 0, seed), "bytes",
		int_or_null(rec != NULL, (json_int_t)g->bytes), "width",
		int_or_null(res != NULL, x->width), "height", int_or_null(res != NULL, x->height),
		"steps", int_or_null(res != NULL, x->steps), "backend",
		str_or_null(req ? req->cb->name : NULL), "backend_type",
		str_or_null(req ? req->cb->type : NULL), "created_at",
		str_or_null(rec ? g->iso : NULL), "cloud_sync",
		str_or_null(req ? (req->st.cloud_on ? "on" : "off") : NULL), "preview",
		str_or_null(req ? mode_name(req->st.preview) : NULL), "mime",
		str_or_null(res ? x->mime : NULL), "index", int_or_null(index >= 0, index), "cost",
		x->cost ? json_deep_copy(x->cost) : json_null(), "metadata", sidecar, "cloud",
		"error", str_or_null(error), "exit_code", code);
}

/* Every record has a key for each after-step (null until the step ran). */
static void step_keys(json_t *rec, const struct gen_step *steps)
{
	const struct gen_step *s;

	for (s = steps ? steps : gen_steps_default; rec && s->name; s++)
		if (!json_object_get(rec, s->name))
			json_object_set_new(rec, s->name, json_null());
}

json_t *gen_record_failure(const struct gen_request *req, const struct gen_step *steps, int index,
			   int64_t seed, const char *error, int code)
{
	json_t *rec = record_new(req, NULL, NULL, NULL, index, seed, error, code);

	step_keys(rec, steps);
	return rec;
}

void gen_outcome_release(struct gen_outcome *o)
{
	json_decref(o->records);
	memset(o, 0, sizeof(*o));
}

/* ---- one run ------------------------------------------------------------------------ */

struct run {
	const struct gen_request *req;
	const struct gen_step *steps;
	const struct ev_sink *sink;
	struct gen_outcome *out;
};

static void add_record(struct run *r, json_t *rec)
{
	step_keys(rec, r->steps);
	if (rec)
		json_array_append_new(r->out->records, rec);
}

static void fail_record(struct run *r, int index, int64_t seed, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void fail_record(struct run *r, int index, int64_t seed, int code, const char *fmt, ...)
{
	char msg[sizeof(((struct err *)0)->msg) + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	add_record(r, gen_record_failure(r->req, r->steps, index, seed, msg, code));
	r->out->code = code;
}

/* The file extension for the result, after checking that the bytes are a whole image of
 * the format its MIME type names (core/image.c); NULL (err set) when they are not an
 * image we keep. */
static const char *image_ext(const struct imagen_result *res, struct err *err)
{
	struct image_info info;
	enum image_format want = res->mime[0] ? image_format_of_mime(res->mime) : IMAGE_PNG;

	if (!res->data || !res->len)
		return err_set(err, "it is empty"), NULL;
	if (want == IMAGE_NONE)
		return err_set(err, "unsupported image type '%s'", res->mime), NULL;
	if (image_check(res->data, res->len, &info, err) < 0)
		return NULL;
	if (info.format != want)
		return err_set(err, "it is labelled %s but the bytes are %s", image_mime(want),
			       image_mime(info.format)),
		       NULL;
	return image_extension(info.format);
}

/* The template for bytes of format ext: a literal image extension that names another
 * format becomes ".{ext}", so the name always says what the file is. */
static char *template_for(const char *tmpl, const char *ext)
{
	const char *t = template_ext(tmpl), *f;
	char *out = NULL;

	f = t ? ext_format(t, strlen(t)) : NULL;
	if (f && strcmp(f, ext)) {
		if (asprintf(&out, "%.*s{ext}", (int)(t - tmpl), tmpl) < 0)
			out = NULL;
		return out;
	}
	return strdup(tmpl);
}

/* Where an image goes when the output directory refuses it: nothing generated is lost. */
static int rescue_write(struct gen_record *rec, const char *dir, const struct iovec *iov,
			int iovcnt, const char *sidecar, struct err *err)
{
	int rc = -1;

	gen_record_release(rec);
	if (dir && output_mkdirs(dir, err) == 0)
		rc = output_write(rec, dir, "{date}-{slug}-{seed}.{ext}", iov, iovcnt, sidecar,
				  err);
	if (!rec->image_path) {
		gen_record_release(rec);
		rc = output_write(rec, "/tmp", "imagen-{date}-{slug}-{seed}.{ext}", iov, iovcnt,
				  sidecar, err);
	}
	return rec->image_path ? 0 : rc;
}

/* The sidecar text (ends in a newline; the PNG chunk carries the very same text). */
static char *sidecar_text(const json_t *side)
{
	char *s = side ? json_dumps(side, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) : NULL, *nl;

	if (!s || asprintf(&nl, "%s\n", s) < 0)
		nl = NULL;
	free(s);
	return nl;
}

static void run_steps(struct run *r, json_t *record)
{
	const struct gen_step *s;

	for (s = r->steps; s->name; s++)
		json_object_set_new(record, s->name, s->run(s, r->req, record, r->sink));
}

/* Write one image with its sidecar and metadata, then hand it to the after-steps. */
static void write_image(struct run *r, struct imagen_result *res, int index)
{
	const struct gen_request *q = r->req;
	struct gen_record rec;
	struct gen_info info;
	struct err err = ERR_INIT;
	struct timespec now;
	const char *ext;
	char *side_text = NULL, *infotext = NULL, *tmpl = NULL;
	struct pngmeta_splice sp = { 0 };
	struct iovec whole = { res->data, res->len };
	const struct iovec *iov = &whole;
	int iovcnt = 1;
	json_t *side = NULL, *record;
	struct ev ev = { .kind = EV_IMAGE };
	char msg[sizeof(err.msg) + 4200];

	memset(&rec, 0, sizeof(rec));
	ext = image_ext(res, &err);
	if (!ext) {
		fail_record(r, index, res->seed, 1,
			    "backend \"%s\": the image it returned is unusable: %s", q->cb->name,
			    err.msg);
		return;
	}
	tmpl = template_for(q->name, ext);
	if (!tmpl) {
		fail_record(r, index, res->seed, 1, "out of memory");
		return;
	}

	/* one clock reading names the file, dates the sidecar and the storage path */
	clock_gettime(CLOCK_REALTIME, &now);
	output_clock(&rec, &now);
	output_slug(rec.slug, q->prompt);
	rec.seed = res->seed;
	snprintf(rec.backend, sizeof(rec.backend), "%s", q->cb->name);
	snprintf(rec.ext, sizeof(rec.ext), "%s", ext);

	info = (struct gen_info){ q->prompt,      q->final_prompt, q->negative, q->style,
				  q->cb->name,    q->cb->type,     q->options,  res,
				  &rec,           q->inputs,       q->ninputs,  q->mask,
				  q->mask_invert, q->strength,     q->batch_id, q->job };
	side = meta_sidecar(&info);
	/* the prompt as written with its wildcards, beside the one they resolved to */
	if (side && q->prompt_template)
		json_object_set_new(side, "prompt_template", json_string(q->prompt_template));
	side_text = sidecar_text(side);
	infotext = meta_infotext(&info);
	if (!strcmp(ext, "png") && side_text && infotext) {
		struct png_text texts[2] = { { "parameters", infotext }, { "imagen", side_text } };
		struct err perr = ERR_INIT;

		/* the pieces point into res->data: the image bytes are written, never copied */
		if (pngmeta_splice(&sp, res->data, res->len, texts, 2, &perr) == 0) {
			iov = sp.iov;
			iovcnt = sp.iovcnt;
		} else {
			/* never lose pixels over metadata: the image goes out as it came */
			ev_log(r->sink, EV_WARN, NULL, "warning: metadata not embedded: %s",
			       perr.msg);
		}
	}

	msg[0] = '\0';
	if (output_write(&rec, q->output_dir, tmpl, iov, iovcnt,
			 q->write_sidecar && side_text ? side_text : NULL, &err) < 0) {
		if (rec.image_path) {
			snprintf(msg, sizeof(msg), "%s (the image is kept at %s)", err.msg,
				 rec.image_path);
		} else {
			struct err rerr = ERR_INIT;

			if (rescue_write(&rec, q->rescue_dir, iov, iovcnt,
					 q->write_sidecar ? side_text : NULL, &rerr) == 0 ||
			    rec.image_path)
				snprintf(msg, sizeof(msg), "%s; the image was saved to %s instead",
					 err.msg, rec.image_path);
			else
				snprintf(msg, sizeof(msg), "%s; saving it elsewhere failed too: %s",
					 err.msg, rerr.msg);
		}
		if (rec.image_path) /* kept: say so now; a lost image is a failure record */
			ev_log(r->sink, EV_ERROR, "output", "%s", msg);
		r->out->code = 1;
	} else {
		ev_log(r->sink, EV_VERBOSE, NULL, "wrote %s (%zu bytes)%s%s", rec.image_path,
		       rec.bytes, rec.sidecar_path ? ", sidecar " : "",
		       rec.sidecar_path ? rec.sidecar_path : "");
	}

	if (!rec.image_path) {
		char full[sizeof(msg) + 16];

		snprintf(full, sizeof(full), "output: %s", msg);
		add_record(r, gen_record_failure(q, r->steps, index, res->seed, full, 1));
		goto out;
	}
	r->out->written++;
	if (msg[0]) {
		char full[sizeof(msg) + 16];

		snprintf(full, sizeof(full), "output: %s", msg);
		record = record_new(q, &rec, res, side, index, res->seed, full, 1);
	} else {
		record = record_new(q, &rec, res, side, index, res->seed, NULL, 0);
		if (record)
			run_steps(r, record);
	}
	step_keys(record, r->steps);
	if (record) {
		ev.path = rec.image_path;
		ev.record = record;
		ev_emit(r->sink, &ev);
		add_record(r, record);
	}
out:
	gen_record_release(&rec);
	json_decref(side);
	free(side_text);
	free(infotext);
	pngmeta_splice_release(&sp);
	free(tmpl);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Find out, before spending a generation, whether the output directory works. */
static int check_output_dir(const char *dir, struct err *err)
{
	if (output_mkdirs(dir, err) < 0)
		return -1;
	if (access(dir, W_OK) < 0)
		return err_set(err, "%s: %s", dir, strerror(errno));
	return 0;
}

int gen_run(struct gen_outcome *out, const struct gen_request *q, struct backend *be,
	    const struct gen_step *steps, const struct ev_sink *sink)
{
	struct run r = { q, steps ? steps : gen_steps_default, sink, out };
	struct imagen_result *res = NULL;
	struct imagen_request breq;
	struct ev ev = { .kind = EV_JOB_START };
	struct err err = ERR_INIT;
	struct timespec t0;
	int max_batch = be->ops->max_batch > 0 ? be->ops->max_batch : 1, done = 0, calls = 0;
	int count = q->count > 0 ? q->count : 1, room;
	char label[160];
	size_t i, nres;

	memset(out, 0, sizeof(*out));
	out->records = json_array();
	if (!out->records) {
		out->code = 1;
		return -1;
	}
	if (check_output_dir(q->output_dir, &err) < 0) {
		fail_record(&r, -1, q->seed, 2, "output: %s", err.msg);
		return -1;
	}
	/* room for more than asked: a ComfyUI graph may save several images per run, and
	 * every image generated is kept (the last run may give more than count) */
	room = count < max_batch ? count : max_batch;
	if (room < RESULTS_ROOM)
		room = RESULTS_ROOM;
	res = calloc((size_t)room, sizeof(*res));
	if (!res) {
		fail_record(&r, 0, q->seed, 1, "out of memory");
		return -1;
	}
	memset(&breq, 0, sizeof(breq));
	breq.prompt = q->final_prompt;
	breq.negative_prompt = q->negative;
	breq.width = q->width;
	breq.height = q->height;
	breq.steps = q->steps;
	breq.style = q->style;
	breq.opts = q->options;
	breq.room = room;
	/* the whole run: an adapter may refuse what it cannot make */
	breq.total = q->run_total > count ? q->run_total : count;
	breq.events = sink;
	breq.inputs = q->inputs;
	breq.ninputs = q->ninputs;
	breq.mask = q->mask;
	breq.mask_map = q->mask_map;
	breq.strength = q->strength;
	if (q->ninputs && (!q->width || !q->height)) {
		/* the output takes the input's size, rounded by the adapter to what it takes */
		breq.width = q->width ? q->width : q->inputs[0].width;
		breq.height = q->height ? q->height : q->inputs[0].height;
		breq.size_from_input = !q->width && !q->height;
	}

	while (done < count) {
		int batch = count - done < max_batch ? count - done : max_batch, grc;

		breq.count = batch;
		/* seeds stay in 0..2^63-1; an unbatched upstream gets seed, seed+1, ... per
		 * call even when one call gave several images */
		breq.seed =
			(int64_t)(((uint64_t)q->seed + (uint64_t)(max_batch == 1 ? calls : done)) &
				  (uint64_t)INT64_MAX);
		calls++;
		if (count > 1)
			snprintf(label, sizeof(label), "%s %d/%d", q->cb->name, done + 1, count);
		else
			snprintf(label, sizeof(label), "%s", q->cb->name);
		ev.kind = EV_JOB_START;
		ev.text = label;
		ev_emit(sink, &ev);
		nres = 0;
		err_clear(&err);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		grc = backend_generate(be, &breq, res, &nres, &err);
		ev.kind = EV_JOB_END;
		ev.text = NULL;
		ev_emit(sink, &ev);
		if (nres > (size_t)room)
			nres = (size_t)room;
		if (nres)
			ev_log(sink, EV_VERBOSE, NULL, "generated %zu image%s in %.1f ms", nres,
			       nres == 1 ? "" : "s", ms_since(&t0));
		for (i = 0; i < nres; i++) {
			write_image(&r, &res[i], q->first_index + done + (int)i);
			imagen_result_release(&res[i]);
		}
		done += (int)nres;
		if (grc < 0 || cancel_requested()) {
			if (err.code == HTTP_EXIT_CANCELED || cancel_requested())
				fail_record(&r, q->first_index + done, breq.seed,
					    HTTP_EXIT_CANCELED, "interrupted%s",
					    out->written ? " (the images written so far are kept)"
							 : "");
			else
				fail_record(&r, q->first_index + done, breq.seed,
					    err.code ? err.code : 1, "backend \"%s\": %s",
					    q->cb->name,
					    err.msg[0] ? err.msg : "generation failed");
			out->err = err;
			break;
		}
		if (nres == 0) {
			fail_record(&r, q->first_index + done, breq.seed, 1,
				    "backend \"%s\": returned no image", q->cb->name);
			break;
		}
	}
	for (i = 0; i < (size_t)room; i++)
		imagen_result_release(&res[i]);
	free(res);
	return out->code ? -1 : 0;
}
