/* query.c - the search language: parse into terms, compile into SQL with bound values. */
#include "catalog/query.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/suggest.h"
#include "util/utf8.h"

enum kind { K_INT, K_REAL, K_PATTERN, K_BOOL, K_SIZE, K_DATE, K_TEXT, K_FLAG };

static const struct filter {
	const char *name;
	enum q_field field;
	enum kind kind;
	const char *column; /* K_INT, K_REAL, K_PATTERN, K_BOOL: the images column */
} filters[] = {
	{ "seed", QF_SEED, K_INT, "images.seed" },
	{ "width", QF_WIDTH, K_INT, "images.width" },
	{ "height", QF_HEIGHT, K_INT, "images.height" },
	{ "steps", QF_STEPS, K_INT, "images.steps" },
	{ "rating", QF_RATING, K_INT, "images.rating" },
	/* an image with no cost record cost nothing (local backends, other tools) */
	{ "cost", QF_COST, K_REAL, "IFNULL(images.cost_usd, 0)" },
	{ "cfg", QF_CFG, K_REAL, "images.cfg" },
	{ "model", QF_MODEL, K_PATTERN, "images.model" },
	{ "backend", QF_BACKEND, K_PATTERN, "images.backend" },
	{ "type", QF_TYPE, K_PATTERN, "images.backend_type" },
	{ "style", QF_STYLE, K_PATTERN, "images.style" },
	{ "sampler", QF_SAMPLER, K_PATTERN, "images.sampler" },
	{ "tag", QF_TAG, K_PATTERN, NULL },
	{ "source", QF_SOURCE, K_PATTERN, "images.source" },
	{ "format", QF_FORMAT, K_PATTERN, "images.format" },
	{ "path", QF_PATH, K_PATTERN, "images.path" },
	{ "sha256", QF_SHA256, K_PATTERN, "images.sha256" },
	{ "batch", QF_BATCH, K_PATTERN, "images.batch_id" },
	{ "parent", QF_PARENT, K_PATTERN, NULL },
	{ "neg", QF_NEGATIVE, K_TEXT, NULL },
	{ "negative", QF_NEGATIVE, K_TEXT, NULL },
	{ "size", QF_SIZE, K_SIZE, NULL },
	{ "since", QF_SINCE, K_DATE, NULL },
	{ "before", QF_BEFORE, K_DATE, NULL },
	{ "date", QF_DATE, K_DATE, NULL },
	{ "synced", QF_SYNCED, K_BOOL, "images.synced" },
	{ "missing", QF_MISSING, K_BOOL, "images.missing" },
};

#define NFILTERS (sizeof(filters) / sizeof(filters[0]))

const char *const query_filter_names[] = {
	"seed",    "width",  "height",  "steps",   "rating",   "cost",   "cfg",    "model",
	"backend", "type",   "style",   "sampler", "tag",      "source", "format", "path",
	"sha256",  "batch",  "parent",  "neg",     "negative", "size",   "since",  "before",
	"date",    "synced", "missing", "today",   NULL,
};

/* ---- parsing ------------------------------------------------------------------------- */

struct parser {
	const char *s;
	size_t n;
	struct query *q;
	size_t *err_col;
	struct err *err;
};

/* The 1-based character column of byte offset off (the text is valid UTF-8 by then). */
static size_t column_of(const struct parser *p, size_t off)
{
	size_t col = 1, i;

	for (i = 0; i < off && i < p->n; i++)
		if (((unsigned char)p->s[i] & 0xc0) != 0x80)
			col++;
	return col;
}

static int fail_at(struct parser *p, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(struct parser *p, size_t off, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	size_t col = column_of(p, off);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err_col)
		*p->err_col = col;
	return err_code(p->err, 2, "column %zu: %s", col, msg);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* At most max bytes of s[0..n) for a message, cut at a character boundary. */
static int quoted_len(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return (int)n;
	while (max && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return (int)max;
}

static struct q_term *new_term(struct parser *p, enum q_field f, int negate, size_t off)
{
	struct q_term *t;

	if (p->q->n % 8 == 0) {
		struct q_term *g = realloc(p->q->terms, (p->q->n + 8) * sizeof(*g));

		if (!g)
			return err_code(p->err, 1, "out of memory"), NULL;
		p->q->terms = g;
	}
	t = &p->q->terms[p->q->n++];
	memset(t, 0, sizeof(*t));
	t->field = f;
	t->negate = negate;
	t->col = column_of(p, off);
	return t;
}

static int parse_int(const char *s, size_t n, long long *out)
{
	char buf[32], *end;
	long long v;

	if (!n || n >= sizeof(buf) || !((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && n > 1)))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_real(const char *s, size_t n, double *out)
{
	char buf[64], *end;
	double v;
	size_t i;

	if (!n || n >= sizeof(buf))
		return -1;
	for (i = 0; i < n; i++) /* digits, sign, point and exponent only: no inf, nan, hex */
		if (!strchr("0123456789.-+eE", s[i]))
			return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (errno || *end || end == buf || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* A number or range for field f: "42", "100..200", "100..", "..200" (op ':'), or one
 * number after a comparison. */
static int parse_number(struct parser *p, struct q_term *t, const struct filter *f, enum q_op op,
			const char *v, size_t vn, size_t voff)
{
	const char *dots = NULL;
	size_t i;
	int real = f->kind == K_REAL;

	for (i = 0; i + 1 < vn; i++)
		if (v[i] == '.' && v[i + 1] == '.') {
			dots = v + i;
			break;
		}
	t->op = op;
	if (dots && op == QO_EQ) {
		size_t ln = (size_t)(dots - v), rn = vn - ln - 2;

		t->op = QO_RANGE;
		if (!ln && !rn)
			return fail_at(p, voff,
				       "%s: a range needs at least one end (e.g. %s:1..10)",
				       f->name, f->name);
		if (ln && (real ? parse_real(v, ln, &t->dlo) : parse_int(v, ln, &t->lo)) < 0)
			return fail_at(p, voff, "%s: '%.*s' is not %s", f->name,
				       quoted_len(v, ln, 64), v, real ? "a number" : "an integer");
		if (rn && (real ? parse_real(dots + 2, rn, &t->dhi)
				: parse_int(dots + 2, rn, &t->hi)) < 0)
			return fail_at(p, voff + ln + 2, "%s: '%.*s' is not %s", f->name,
				       quoted_len(dots + 2, rn, 64), dots + 2,
				       real ? "a number" : "an integer");
		t->has_lo = ln > 0;
		t->has_hi = rn > 0;
		if (t->has_lo && t->has_hi && (real ? t->dlo > t->dhi : t->lo > t->hi))
			return fail_at(p, voff,
				       "%s: the range %.*s is empty (its low end is larger)",
				       f->name, quoted_len(v, vn, 64), v);
		return 0;
	}
	if ((real ? parse_real(v, vn, &t->dlo) : parse_int(v, vn, &t->lo)) < 0)
		return fail_at(p, voff, "%s: '%.*s' is not %s", f->name, quoted_len(v, vn, 64), v,
			       real ? "a number" : "an integer");
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* Exactly `digits` ASCII digits at s into *out. */
static int fixed_digits(const char *s, size_t n, size_t digits, int *out)
{
	size_t i;
	int v = 0;

	if (n < digits)
		return -1;
	for (i = 0; i < digits; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* YYYY[-MM[-DD[THH:MM[:SS]]]], Nh/Nd/Nw, today, yesterday. */
static int parse_date(struct q_date *d, const char *v, size_t n)
{
	static const size_t seps[] = { 4, 7, 10, 13, 16 };
	static const char sepc[] = { '-', '-', 'T', ':', ':' };
	int *parts[] = { &d->y, &d->mo, &d->d, &d->h, &d->mi, &d->s };
	size_t at = 0, k;

	memset(d, 0, sizeof(*d));
	if (n == 5 && !strncasecmp(v, "today", 5)) {
		d->ago_s = -1;
		return 0;
	}
	if (n == 9 && !strncasecmp(v, "yesterday", 9)) {
		d->ago_s = -2;
		return 0;
	}
	if (n >= 2 && strchr("hdw", v[n - 1])) {
		long long num, unit = v[n - 1] == 'h' ? 3600 : v[n - 1] == 'd' ? 86400 : 604800;

		if (parse_int(v, n - 1, &num) < 0 || num < 0 || num > 1000000)
			return -1;
		d->ago_s = num * unit;
		return 0;
	}
	if (fixed_digits(v, n, 4, &d->y) < 0 || d->y < 1)
		return -1;
	d->mo = 1;
	d->d = 1;
	d->parts = 1;
	at = 4;
	for (k = 0; k < 5 && at < n; k++) {
		if (at != seps[k] || v[at] != sepc[k])
			return -1;
		if (fixed_digits(v + at + 1, n - at - 1, 2, parts[k + 1]) < 0)
			return -1;
		at += 3;
		d->parts = (int)k + 2;
	}
	/* an hour alone (THH) is not a form we take: THH:MM */
	if (at != n || d->parts == 4)
		return -1;
	if (d->mo < 1 || d->mo > 12 || d->d < 1 || d->d > days_in_month(d->y, d->mo) || d->h > 23 ||
	    d->mi > 59 || d->s > 60)
		return -1;
	d->ago_s = 0;
	return 0;
}

static int is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (c >= '0' && c <= '9');
}

/* The comparison at s (":", ">=", "<=", ">", "<", "="); its length in *len, or 0. */
static int op_at(const char *s, size_t n, enum q_op *op)
{
	if (n >= 2 && s[0] == '>' && s[1] == '=')
		return *op = QO_GE, 2;
	if (n >= 2 && s[0] == '<' && s[1] == '=')
		return *op = QO_LE, 2;
	if (n >= 1 && s[0] == '>')
		return *op = QO_GT, 1;
	if (n >= 1 && s[0] == '<')
		return *op = QO_LT, 1;
	if (n >= 1 && (s[0] == ':' || s[0] == '='))
		return *op = QO_EQ, 1;
	return 0;
}

/* The end of a quoted run starting at s[at] == '"': the offset just past the closing
 * quote, or 0 when there is none. */
static size_t quote_end(const struct parser *p, size_t at)
{
	const char *q = memchr(p->s + at + 1, '"', p->n - at - 1);

	return q ? (size_t)(q - p->s) + 1 : 0;
}

static int parse_filter(struct parser *p, const struct filter *f, int negate, size_t start,
			size_t key_end, enum q_op op, size_t oplen, size_t *pos)
{
	size_t voff = key_end + oplen, vend, vn;
	const char *v = p->s + voff;
	struct q_term *t;
	int quoted = 0;

	if (voff < p->n && p->s[voff] == '"') {
		vend = quote_end(p, voff);
		if (!vend)
			return fail_at(p, voff, "unterminated quote");
		quoted = 1;
		v++;
		vn = vend - voff - 2;
		if (vend < p->n && !is_space(p->s[vend]))
			return fail_at(p, vend, "a space must follow the closing quote");
	} else {
		for (vend = voff; vend < p->n && !is_space(p->s[vend]); vend++)
			;
		vn = vend - voff;
	}
	*pos = vend;
	if (!vn)
		return fail_at(p, voff, "%s: needs a value (e.g. %s)", f->name,
			       f->kind == K_INT    ? "seed:42"
			       : f->kind == K_REAL ? "cost>0.02"
			       : f->kind == K_SIZE ? "size:1024x1024"
			       : f->kind == K_DATE ? "since:2026-11-01"
			       : f->kind == K_BOOL ? "synced:no"
						   : "model:flux*");
	if (op != QO_EQ && f->kind != K_INT && f->kind != K_REAL)
		return fail_at(p, key_end, "%s: takes ':' only, not '%.*s'", f->name, (int)oplen,
			       p->s + key_end);
	if (quoted && (f->kind == K_INT || f->kind == K_REAL))
		return fail_at(p, voff, "%s: a number is not quoted", f->name);
	t = new_term(p, f->field, negate, start);
	if (!t)
		return -1;
	t->op = QO_EQ;
	switch (f->kind) {
	case K_INT:
	case K_REAL:
		return parse_number(p, t, f, op, v, vn, voff + (size_t)quoted);
	case K_PATTERN:
	case K_TEXT:
		if (memchr(v, '\0', vn))
			return fail_at(p, voff, "%s: a NUL in the value", f->name);
		t->text = strndup(v, vn);
		if (!t->text)
			return err_code(p->err, 1, "out of memory");
		if (f->kind == K_TEXT && v[vn - 1] == '*') {
			t->prefix = 1;
			t->text[vn - 1] = '\0';
		}
		if (f->kind == K_TEXT && (!t->text[0] || strchr(t->text, '*')))
			return fail_at(p, voff, "%s: '*' goes at the end of a word (e.g. %s:blur*)",
				       f->name, f->name);
		if (f->field == QF_FORMAT && !strcasecmp(t->text, "jpg")) {
			free(t->text);
			t->text = strdup("jpeg"); /* the format's name, whatever the extension */
		}
		return t->text ? 0 : err_code(p->err, 1, "out of memory");
	case K_BOOL:
		if ((vn == 3 && !strncasecmp(v, "yes", 3)) ||
		    (vn == 4 && !strncasecmp(v, "true", 4)))
			t->lo = 1;
		else if ((vn == 2 && !strncasecmp(v, "no", 2)) ||
			 (vn == 5 && !strncasecmp(v, "false", 5)))
			t->lo = 0;
		else
			return fail_at(p, voff, "%s: expected yes or no, not '%.*s'", f->name,
				       quoted_len(v, vn, 64), v);
		return 0;
	case K_SIZE: {
		const char *x = memchr(v, 'x', vn);

		if (!x || parse_int(v, (size_t)(x - v), &t->lo) < 0 ||
		    parse_int(x + 1, vn - (size_t)(x - v) - 1, &t->hi) < 0 || t->lo < 1 ||
		    t->hi < 1)
			return fail_at(p, voff,
				       "size: expected WIDTHxHEIGHT (e.g. 1024x768), not '%.*s'",
				       quoted_len(v, vn, 64), v);
		return 0;
	}
	case K_DATE:
		if (parse_date(&t->date, v, vn) < 0)
			return fail_at(
				p, voff,
				"%s: '%.*s' is not a date (YYYY-MM-DD, YYYY-MM, YYYY, "
				"YYYY-MM-DDTHH:MM[:SS], today, yesterday, or Nh, Nd, Nw ago)",
				f->name, quoted_len(v, vn, 64), v);
		if (f->field == QF_DATE && t->date.parts == 0 && t->date.ago_s >= 0)
			return fail_at(p, voff,
				       "date: takes a calendar date, not '%.*s' (see since:)",
				       quoted_len(v, vn, 64), v);
		return 0;
	case K_FLAG:
		break;
	}
	return 0;
}

static int parse_word(struct parser *p, int negate, size_t start, size_t at, size_t *pos)
{
	size_t end, n, i;
	struct q_term *t;
	const char *w = p->s + at;

	for (end = at; end < p->n && !is_space(p->s[end]); end++)
		if (p->s[end] == '"')
			return fail_at(p, end,
				       "a quote inside a word (put the whole phrase in quotes)");
	*pos = end;
	n = end - at;
	if (n == 5 && !strncasecmp(w, "today", 5)) {
		t = new_term(p, QF_TODAY, negate, start);
		return t ? 0 : -1;
	}
	t = new_term(p, QF_TEXT, negate, start);
	if (!t)
		return -1;
	while (n && w[n - 1] == '*') {
		t->prefix = 1;
		n--;
	}
	if (!n)
		return fail_at(p, at, "'*' needs a word before it (e.g. fox*)");
	for (i = 0; i < n; i++)
		if (w[i] == '*')
			return fail_at(p, at + i, "'*' goes at the end of a word (e.g. fox*)");
	t->text = strndup(w, n);
	return t->text ? 0 : err_code(p->err, 1, "out of memory");
}

static int parse_phrase(struct parser *p, int negate, size_t start, size_t at, size_t *pos)
{
	size_t end = quote_end(p, at);
	struct q_term *t;

	if (!end)
		return fail_at(p, at, "unterminated quote");
	if (end - at == 2)
		return fail_at(p, at, "an empty phrase");
	t = new_term(p, QF_TEXT, negate, start);
	if (!t)
		return -1;
	t->text = strndup(p->s + at + 1, end - at - 2);
	if (!t->text)
		return err_code(p->err, 1, "out of memory");
	if (end < p->n && p->s[end] == '*') {
		t->prefix = 1;
		end++;
	}
	if (end < p->n && !is_space(p->s[end]))
		return fail_at(p, end, "a space must follow the closing quote");
	*pos = end;
	return 0;
}

static int parse_term(struct parser *p, size_t *pos)
{
	size_t start = *pos, at = *pos, k, oplen;
	const struct filter *f = NULL;
	enum q_op op = QO_EQ;
	char key[32];
	int negate = 0;

	if (p->s[at] == '-') {
		negate = 1;
		at++;
		if (at >= p->n || is_space(p->s[at]))
			return fail_at(p, start,
				       "'-' needs a word or filter after it (e.g. -blurry)");
	}
	if (p->s[at] == '"')
		return parse_phrase(p, negate, start, at, pos);
	for (k = at; k < p->n && is_key_char(p->s[k]); k++)
		;
	oplen = k > at && !(p->s[at] >= '0' && p->s[at] <= '9') ? op_at(p->s + k, p->n - k, &op)
								: 0;
	if (!oplen)
		return parse_word(p, negate, start, at, pos);
	if (k - at >= sizeof(key))
		return fail_at(p, at, "unknown filter '%.*s'", quoted_len(p->s + at, k - at, 40),
			       p->s + at);
	memcpy(key, p->s + at, k - at);
	key[k - at] = '\0';
	for (size_t i = 0; key[i]; i++)
		if (key[i] >= 'A' && key[i] <= 'Z')
			key[i] = (char)(key[i] - 'A' + 'a');
	for (size_t i = 0; i < NFILTERS && !f; i++)
		if (!strcmp(filters[i].name, key))
			f = &filters[i];
	if (!f) {
		const char *hint = suggest_closest(key, query_filter_names);

		if (hint)
			return fail_at(p, at, "unknown filter '%s' (did you mean '%s'?)", key,
				       hint);
		return fail_at(p, at,
			       "unknown filter '%s' (see imagen help search; quote a word with "
			       "':' to search for it)",
			       key);
	}
	return parse_filter(p, f, negate, start, k, op, oplen, pos);
}

int query_parse(struct query *out, const char *text, size_t *err_col, struct err *err)
{
	struct parser p = { text ? text : "", 0, out, err_col, err };
	size_t pos = 0, bad;

	memset(out, 0, sizeof(*out));
	p.n = strlen(p.s);
	if (err_col)
		*err_col = 0;
	if (!utf8_valid((const unsigned char *)p.s, p.n, &bad)) {
		p.n = bad; /* columns count the valid part */
		fail_at(&p, bad, "not valid UTF-8");
		return -1;
	}
	while (pos < p.n) {
		if (is_space(p.s[pos])) {
			pos++;
			continue;
		}
		if (parse_term(&p, &pos) < 0) {
			query_free(out);
			return -1;
		}
	}
	return 0;
}

void query_free(struct query *q)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		free(q->terms[i].text);
	free(q->terms);
	memset(q, 0, sizeof(*q));
}

int query_has_text(const struct query *q)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if ((q->terms[i].field == QF_TEXT || q->terms[i].field == QF_NEGATIVE) &&
		    !q->terms[i].negate)
			return 1;
	return 0;
}

/* ---- compiling ------------------------------------------------------------------------ */

struct compiler {
	struct buf where, fts;
	struct q_param *params;
	size_t nparams;
	int failed;
};

static void add_param(struct compiler *c, int type, long long i, double d, const char *s)
{
	struct q_param *g;

	if (c->failed)
		return;
	g = realloc(c->params, (c->nparams + 1) * sizeof(*g));
	if (!g) {
		c->failed = 1;
		return;
	}
	c->params = g;
	g[c->nparams] = (struct q_param){ type, i, d, NULL };
	if (s && !(g[c->nparams].s = strdup(s))) {
		c->failed = 1;
		return;
	}
	c->nparams++;
}

static void sql(struct compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sql(struct compiler *c, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (buf_adds(&c->where, tmp) < 0)
		c->failed = 1;
}

/* A full-text string: the text in double quotes, inner quotes doubled, then " *" for a
 * prefix.  Whatever the user typed stays a string to FTS5, never its syntax. */
static void fts_string(struct buf *b, const char *text, int prefix, int *failed)
{
	const char *s;

	if (buf_adds(b, "\"") < 0)
		*failed = 1;
	for (s = text; *s; s++)
		if (buf_add(b, s, 1) < 0 || (*s == '"' && buf_add(b, s, 1) < 0))
			*failed = 1;
	if (buf_adds(b, prefix ? "\" *" : "\"") < 0)
		*failed = 1;
}

static const char *column_filter(enum q_field f)
{
	return f == QF_NEGATIVE ? "negative_prompt" : "{prompt model tags}";
}

/* A * / ? pattern as a LIKE pattern with \ as the escape character (malloc'd). */
static char *like_pattern(const char *pat)
{
	struct buf b = BUF_INIT;
	const char *s;
	int bad = 0;

	for (s = pat; *s; s++) {
		if (*s == '*')
			bad |= buf_adds(&b, "%");
		else if (*s == '?')
			bad |= buf_adds(&b, "_");
		else if (*s == '%' || *s == '_' || *s == '\\')
			bad |= buf_addf(&b, "\\%c", *s);
		else
			bad |= buf_add(&b, s, 1);
	}
	if (bad || buf_adds(&b, "") < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* Local midnight (or the given time) of a calendar date; unit_end: the start of the next
 * unit at the date's precision (for date:). */
static int date_bounds(const struct q_date *d, time_t now, time_t *start, time_t *end)
{
	struct tm tm;

	if (d->parts == 0) {
		if (d->ago_s >= 0) {
			*start = now - (time_t)d->ago_s;
			*end = now;
			return 0;
		}
		localtime_r(&now, &tm);
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		if (d->ago_s == -2)
			tm.tm_mday -= 1;
		tm.tm_isdst = -1;
		*start = mktime(&tm);
		tm.tm_mday += 1;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		tm.tm_isdst = -1;
		*end = mktime(&tm);
		return *start == (time_t)-1 || *end == (time_t)-1 ? -1 : 0;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d->y - 1900;
	tm.tm_mon = d->mo - 1;
	tm.tm_mday = d->d;
	tm.tm_hour = d->h;
	tm.tm_min = d->mi;
	tm.tm_sec = d->s;
	tm.tm_isdst = -1;
	*start = mktime(&tm);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d->y - 1900 + (d->parts == 1);
	tm.tm_mon = d->mo - 1 + (d->parts == 2);
	tm.tm_mday = d->d + (d->parts == 3);
	tm.tm_hour = d->h;
	tm.tm_min = d->mi + (d->parts == 5);
	tm.tm_sec = d->s + (d->parts == 6);
	tm.tm_isdst = -1;
	*end = mktime(&tm);
	return *start == (time_t)-1 || *end == (time_t)-1 ? -1 : 0;
}

static void compile_number(struct compiler *c, const struct q_term *t, const char *col, int real)
{
	static const char *const ops[] = { "=", "<", "<=", ">", ">=" };

	if (t->op != QO_RANGE) {
		sql(c, "%s %s ?", col, ops[t->op]);
		add_param(c, real ? 'd' : 'i', t->lo, t->dlo, NULL);
		return;
	}
	if (t->has_lo && t->has_hi) {
		sql(c, "%s BETWEEN ? AND ?", col);
		add_param(c, real ? 'd' : 'i', t->lo, t->dlo, NULL);
		add_param(c, real ? 'd' : 'i', t->hi, t->dhi, NULL);
	} else if (t->has_lo) {
		sql(c, "%s >= ?", col);
		add_param(c, real ? 'd' : 'i', t->lo, t->dlo, NULL);
	} else {
		sql(c, "%s <= ?", col);
		add_param(c, real ? 'd' : 'i', t->hi, t->dhi, NULL);
	}
}

static const struct filter *filter_of(enum q_field f)
{
	size_t i;

	for (i = 0; i < NFILTERS; i++)
		if (filters[i].field == f)
			return &filters[i];
	return NULL;
}

static int compile_term(struct compiler *c, const struct q_term *t, time_t now, struct err *err)
{
	const struct filter *f = filter_of(t->field);
	time_t start, end;
	char *like;

	switch (t->field) {
	case QF_TEXT:
	case QF_NEGATIVE:
		/* the positive ones went into the MATCH expression */
		sql(c, "images.id NOT IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)");
		{
			struct buf m = BUF_INIT;

			if (buf_addf(&m, "%s : ", column_filter(t->field)) < 0)
				c->failed = 1;
			fts_string(&m, t->text, t->prefix, &c->failed);
			add_param(c, 's', 0, 0, m.data ? (const char *)m.data : "");
			buf_release(&m);
		}
		return 0;
	case QF_SEED:
	case QF_WIDTH:
	case QF_HEIGHT:
	case QF_STEPS:
	case QF_RATING:
		compile_number(c, t, f->column, 0);
		return 0;
	case QF_COST:
	case QF_CFG:
		compile_number(c, t, f->column, 1);
		return 0;
	case QF_SIZE:
		sql(c, "(images.width = ? AND images.height = ?)");
		add_param(c, 'i', t->lo, 0, NULL);
		add_param(c, 'i', t->hi, 0, NULL);
		return 0;
	case QF_SYNCED:
	case QF_MISSING:
		sql(c, "%s = ?", f->column);
		add_param(c, 'i', t->lo, 0, NULL);
		return 0;
	case QF_TODAY:
	case QF_SINCE:
	case QF_BEFORE:
	case QF_DATE: {
		struct q_date today = { 0, 0, 0, 0, 0, 0, 0, -1 };

		if (date_bounds(t->field == QF_TODAY ? &today : &t->date, now, &start, &end) < 0)
			return err_code(err, 2, "column %zu: that date is out of range", t->col);
		if (t->field == QF_BEFORE) {
			sql(c, "images.created_ts < ?");
			add_param(c, 'i', (long long)start, 0, NULL);
		} else if (t->field == QF_DATE) {
			sql(c, "images.created_ts >= ? AND images.created_ts < ?");
			add_param(c, 'i', (long long)start, 0, NULL);
			add_param(c, 'i', (long long)end, 0, NULL);
		} else {
			sql(c, "images.created_ts >= ?");
			add_param(c, 'i', (long long)start, 0, NULL);
		}
		return 0;
	}
	default:
		break;
	}
	/* text patterns */
	like = like_pattern(t->text);
	if (!like)
		return err_code(err, 1, "out of memory");
	if (t->field == QF_TAG) {
		sql(c, "EXISTS (SELECT 1 FROM image_tags WHERE image_tags.image_id = images.id "
		       "AND image_tags.tag LIKE ? ESCAPE '\\')");
		add_param(c, 's', 0, 0, like);
	} else if (t->field == QF_PARENT) {
		sql(c, "EXISTS (SELECT 1 FROM image_inputs WHERE image_inputs.image_id = "
		       "images.id AND image_inputs.sha256 LIKE ? ESCAPE '\\')");
		add_param(c, 's', 0, 0, like);
	} else if (t->field == QF_MODEL) {
		/* "flux*" finds black-forest-labs/flux-schnell too: the name after a '/' */
		sql(c, "(images.model LIKE ? ESCAPE '\\' OR images.model LIKE ? ESCAPE '\\')");
		add_param(c, 's', 0, 0, like);
		{
			char *tail = NULL;

			if (asprintf(&tail, "%%/%s", like) < 0)
				tail = NULL;
			if (!tail)
				c->failed = 1;
			else
				add_param(c, 's', 0, 0, tail);
			free(tail);
		}
	} else {
		sql(c, "%s LIKE ? ESCAPE '\\'", f->column);
		add_param(c, 's', 0, 0, like);
	}
	free(like);
	return 0;
}

int query_compile(struct q_sql *out, const struct query *q, time_t now, struct err *err)
{
	struct compiler c;
	size_t i, nfts = 0, nwhere = 0;
	int fields;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	/* the positive text terms: one MATCH, words of the same column group together */
	for (fields = 0; fields < 2; fields++) {
		enum q_field want = fields ? QF_NEGATIVE : QF_TEXT;
		size_t k = 0;

		for (i = 0; i < q->n; i++) {
			const struct q_term *t = &q->terms[i];

			if (t->field != want || t->negate)
				continue;
			if (!k++ && buf_addf(&c.fts, "%s(%s : (", nfts ? " AND " : "",
					     column_filter(want)) < 0)
				c.failed = 1;
			else if (k > 1 && buf_adds(&c.fts, " AND ") < 0)
				c.failed = 1;
			fts_string(&c.fts, t->text, t->prefix, &c.failed);
		}
		if (k && buf_adds(&c.fts, "))") < 0)
			c.failed = 1;
		nfts += k;
	}
	for (i = 0; i < q->n; i++) {
		const struct q_term *t = &q->terms[i];

		if ((t->field == QF_TEXT || t->field == QF_NEGATIVE) && !t->negate)
			continue;
		sql(&c, "%s", nwhere++ ? " AND " : "");
		/* NOT of an unknown (NULL) value is unknown: a negated filter keeps images
		 * that lack the field (-model:flux* keeps those with no model) */
		if (t->negate && t->field != QF_TEXT && t->field != QF_NEGATIVE)
			sql(&c, "NOT IFNULL(");
		else
			sql(&c, "(");
		if (compile_term(&c, t, now, err) < 0)
			goto fail;
		sql(&c, t->negate && t->field != QF_TEXT && t->field != QF_NEGATIVE ? ", 0)" : ")");
	}
	if (!nwhere)
		sql(&c, "1");
	if (c.failed) {
		err_code(err, 1, "out of memory");
		goto fail;
	}
	out->fts = nfts ? buf_detach(&c.fts, NULL) : NULL;
	out->where = buf_detach(&c.where, NULL);
	out->params = c.params;
	out->nparams = c.nparams;
	buf_release(&c.fts);
	return 0;
fail:
	buf_release(&c.where);
	buf_release(&c.fts);
	out->params = c.params;
	out->nparams = c.nparams;
	q_sql_free(out);
	return -1;
}

void q_sql_free(struct q_sql *s)
{
	size_t i;

	for (i = 0; i < s->nparams; i++)
		free(s->params[i].s);
	free(s->params);
	free(s->fts);
	free(s->where);
	memset(s, 0, sizeof(*s));
}
