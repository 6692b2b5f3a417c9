/* infotext.c - write and parse the A1111/Forge "parameters" text (protocols/a1111.md §6). */
#include "core/infotext.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define NEG_PREFIX "Negative prompt:"
#define NEG_PREFIX_LEN (sizeof(NEG_PREFIX) - 1)
#define PARAMS_MIN 3 /* Forge: fewer matches and the last line is prompt text */

/* Append one value as Forge's quote() would: JSON only when it would break the line. */
static int put_string_value(struct buf *b, const json_t *v)
{
	const char *s = json_string_value(v);
	char *quoted;
	int rc;

	if (!strpbrk(s, ",:\n"))
		return buf_adds(b, s);
	quoted = json_dumps(v, JSON_ENCODE_ANY);
	if (!quoted)
		return -1;
	rc = buf_adds(b, quoted);
	free(quoted);
	return rc;
}

static int put_param(struct buf *b, const char *key, const json_t *v, int *first)
{
	const char *sep = *first ? "\n" : ", ";

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (!*json_string_value(v))
			return 0;
		*first = 0;
		if (strcmp(json_string_value(v), key) == 0)
			return buf_addf(b, "%s%s", sep, key);
		if (buf_addf(b, "%s%s: ", sep, key))
			return -1;
		return put_string_value(b, v);
	case JSON_INTEGER:
		*first = 0;
		return buf_addf(b, "%s%s: %" JSON_INTEGER_FORMAT, sep, key, json_integer_value(v));
	case JSON_REAL:
		*first = 0;
		return buf_addf(b, "%s%s: %g", sep, key, json_real_value(v));
	case JSON_TRUE:
	case JSON_FALSE:
		/* Python's str(bool), as A1111 writes e.g. "Tiling: True" */
		*first = 0;
		return buf_addf(b, "%s%s: %s", sep, key, json_is_true(v) ? "True" : "False");
	default:
		return 0; /* null, arrays, objects: nothing sensible to write on one line */
	}
}

char *infotext_format(const char *prompt, const char *negative, const json_t *params)
{
	struct buf b = BUF_INIT;
	void *it;
	int first = 1;

	if (buf_adds(&b, prompt ? prompt : ""))
		goto out_release;
	if (negative && *negative && buf_addf(&b, "\n" NEG_PREFIX " %s", negative))
		goto out_release;
	/* the iterator API rather than json_object_foreach: params is const, and the macro
	 * confuses clang-format; nothing is modified.  NULL iterates nothing. */
	for (it = json_object_iter((json_t *)params); it;
	     it = json_object_iter_next((json_t *)params, it)) {
		if (put_param(&b, json_object_iter_key(it), json_object_iter_value(it), &first))
			goto out_release;
	}
	return buf_detach(&b, NULL);

out_release:
	buf_release(&b);
	return NULL;
}

/* Bytes in the UTF-8 character led by c (the text is validated before anyone asks). */
static size_t char_len(unsigned char c)
{
	if (c < 0xc0)
		return 1;
	if (c < 0xe0)
		return 2;
	if (c < 0xf0)
		return 3;
	return 4;
}

/*
 * Bytes of the whitespace character at s[0..n), 0 if it is not one.  Python's str.isspace()
 * set, which both its \s and str.strip() use (U+001C..U+001F and NBSP included).
 */
static size_t space_len(const unsigned char *s, size_t n)
{
	if ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))
		return 1;
	if (s[0] == 0xc2 && n >= 2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (n < 3)
		return 0;
	if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
		return 3;
	if (s[0] == 0xe2 && s[1] == 0x80 &&
	    (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
		return 3;
	if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
		return 3;
	if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3;
	return 0;
}

/*
 * Python's \w, approximately: ASCII letters, digits, '_', and any non-ASCII character that
 * is not whitespace (no Unicode tables here; punctuation like U+2014 counts as a letter).
 */
static int is_word(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
		       (s[0] >= '0' && s[0] <= '9') || s[0] == '_';
	return space_len(s, n) == 0;
}

/* Strip Python-whitespace from both ends of s[*start..*end). */
static void strip(const unsigned char *s, size_t *start, size_t *end)
{
	size_t i, k, last;

	while (*start < *end && (k = space_len(s + *start, *end - *start)))
		*start += k;
	last = *start;
	for (i = *start; i < *end; i += k) {
		if (space_len(s + i, *end - i)) {
			k = space_len(s + i, *end - i);
		} else {
			k = char_len(s[i]);
			last = i + k;
		}
	}
	*end = last;
}

/* One findall() hit of the parameter regex: key and raw value, as offsets into the line. */
struct param_match {
	size_t key, key_end, val, val_end;
};

/*
 * The Forge parameter regex \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$) with
 * re.findall() semantics: try each position left to right, resume after a hit.  For this
 * pattern backtracking never changes the outcome, so one forward pass per attempt is exact:
 * the key run must end right at ':', and the quoted branch either closes at the first
 * unescaped '"' followed by ',' or the end, or falls back to [^,]*, which always matches.
 * A failed key run rules out every start inside it, so the scan stays linear there.
 * Returns 1 with *m and *pos (where the next search starts) filled, or 0 for no more hits.
 */
static int param_next(const unsigned char *s, size_t n, size_t *pos, struct param_match *m)
{
	size_t p = *pos, q, e, k, j, items;

	while (p < n) {
		q = p;
		while (q < n && (k = space_len(s + q, n - q)))
			q += k;
		if (q >= n)
			return 0;
		if (!is_word(s + q, n - q)) {
			p = q + char_len(s[q]);
			continue;
		}
		e = q + char_len(s[q]);
		while (e < n &&
		       (s[e] == ' ' || s[e] == '-' || s[e] == '/' || is_word(s + e, n - e)))
			e += char_len(s[e]);
		if (e >= n)
			return 0;
		if (s[e] != ':' || e == q + char_len(s[q])) {
			p = e;
			continue;
		}
		m->key = q;
		m->key_end = e;

		p = e + 1;
		while (p < n && (k = space_len(s + p, n - p)))
			p += k;
		m->val = p;
		if (p < n && s[p] == '"') {
			for (j = p + 1, items = 0; j < n && s[j] != '"'; items++) {
				if (s[j] == '\\') {
					/* '.' takes any one character but a newline */
					if (j + 1 >= n || s[j + 1] == '\n')
						break;
					j += 1 + char_len(s[j + 1]);
				} else {
					j += char_len(s[j]);
				}
			}
			if (j < n && s[j] == '"' && items > 0 && (j + 1 == n || s[j + 1] == ',')) {
				m->val_end = j + 1;
				*pos = j + 1 < n ? j + 2 : n;
				return 1;
			}
		}
		while (p < n && s[p] != ',')
			p++;
		m->val_end = p;
		*pos = p < n ? p + 1 : n;
		return 1;
	}
	return 0;
}

static int count_params(const unsigned char *s, size_t n, int enough)
{
	struct param_match m;
	size_t pos = 0;
	int count = 0;

	while (count < enough && param_next(s, n, &pos, &m))
		count++;
	return count;
}

/* Forge's "acc += ('' if acc == '' else '\n') + line": blank lines before any text vanish. */
static int append_line(struct buf *acc, const unsigned char *s, size_t n)
{
	if (acc->len && buf_add(acc, "\n", 1))
		return -1;
	return buf_add(acc, s, n);
}

/* Forge's unquote(): a value in double quotes is a JSON string unless it fails to parse. */
static json_t *param_value(const char *raw, size_t n)
{
	json_t *v;

	if (n >= 1 && raw[0] == '"' && raw[n - 1] == '"') {
		v = json_loadb(raw, n, JSON_DECODE_ANY, NULL);
		if (json_is_string(v))
			return v;
		json_decref(v);
	}
	return json_stringn(raw, n);
}

static int parse_params(json_t *params, const unsigned char *s, size_t n, struct err *err)
{
	struct param_match m;
	struct buf key = BUF_INIT;
	size_t pos = 0;
	json_t *v;

	while (param_next(s, n, &pos, &m)) {
		/* Forge indexes v[0], so an empty value raises and the key is dropped */
		if (m.val_end == m.val)
			continue;
		key.len = 0;
		if (buf_add(&key, s + m.key, m.key_end - m.key))
			goto out_nomem;
		v = param_value((const char *)s + m.val, m.val_end - m.val);
		/* stolen; a repeated key keeps its first position and takes the last value */
		if (!v || json_object_set_new(params, (const char *)key.data, v))
			goto out_nomem;
	}
	buf_release(&key);
	return 0;

out_nomem:
	buf_release(&key);
	return err_set(err, "out of memory");
}

static char *take_string(struct buf *b)
{
	if (!b->data && buf_add(b, "", 0))
		return NULL;
	return buf_detach(b, NULL);
}

int infotext_parse(const char *text, char **prompt, char **negative, json_t **params,
		   struct err *err)
{
	const unsigned char *s = (const unsigned char *)text;
	struct buf pos_buf = BUF_INIT, neg_buf = BUF_INIT;
	size_t start = 0, end, last_start, ls, le, nl;
	int in_negative = 0;
	json_t *obj;

	*prompt = NULL;
	*negative = NULL;
	*params = NULL;
	if (!text)
		return err_set(err, "no infotext");
	end = strlen(text);
	if (!utf8_valid(s, end, NULL))
		return err_set(err, "infotext is not valid UTF-8");
	obj = json_object();
	if (!obj)
		return err_set(err, "out of memory");

	strip(s, &start, &end);
	last_start = start;
	for (ls = start; ls < end; ls++)
		if (s[ls] == '\n')
			last_start = ls + 1;
	if (count_params(s + last_start, end - last_start, PARAMS_MIN) < PARAMS_MIN)
		last_start = end + 1; /* the "last line" joins the prompt lines */

	for (ls = start; ls < last_start && ls <= end; ls = nl + 1) {
		const unsigned char *eol = memchr(s + ls, '\n', end - ls);

		nl = eol ? (size_t)(eol - s) : end;
		le = nl;
		strip(s, &ls, &le);
		/* checked on every line, as Forge does: a repeated prefix is dropped too */
		if (le - ls >= NEG_PREFIX_LEN && memcmp(s + ls, NEG_PREFIX, NEG_PREFIX_LEN) == 0) {
			in_negative = 1;
			ls += NEG_PREFIX_LEN;
			strip(s, &ls, &le);
		}
		if (append_line(in_negative ? &neg_buf : &pos_buf, s + ls, le - ls))
			goto out_nomem;
	}
	if (last_start <= end && parse_params(obj, s + last_start, end - last_start, err))
		goto out_release;

	*prompt = take_string(&pos_buf);
	*negative = take_string(&neg_buf);
	if (!*prompt || !*negative) {
		free(*prompt);
		free(*negative);
		*prompt = *negative = NULL;
		goto out_nomem;
	}
	*params = obj;
	return 0;

out_nomem:
	err_set(err, "out of memory");
out_release:
	buf_release(&pos_buf);
	buf_release(&neg_buf);
	json_decref(obj);
	return -1;
}
