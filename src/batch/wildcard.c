/* wildcard.c - prompt templates parsed into a small tree, then sampled or enumerated. */
#include "batch/wildcard.h"
#include "batch/job.h"
#include "batch/lines.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/xdg.h"

#include <stdlib.h>
#include <string.h>

/* Bytes of all combinations together: enumeration stays bounded in memory. */
#define EXPAND_TOTAL_MAX (64u * 1024 * 1024)

enum wn_kind { WN_TEXT, WN_CHOICE, WN_LIST };

struct wseq;

struct wnode {
	enum wn_kind kind;
	int col;           /* 1-based column in the text it was parsed from */
	char *text;        /* WN_TEXT: the literal (escapes resolved); WN_LIST: the name */
	size_t len;        /* WN_TEXT: bytes of text */
	struct wseq *alts; /* WN_CHOICE */
	size_t nalts;
};

struct wseq {
	struct wnode *nodes;
	size_t n;
};

struct wlist {
	char *name;
	char **entries;       /* NUL-terminated copies */
	int *lines;           /* line of each entry in its file */
	struct wseq **parsed; /* each entry's tree, parsed on first use */
	size_t n;
	char *path; /* the file it came from; NULL when defined */
};

struct wildcards {
	char *dir;
	struct wlist *lists;
	size_t n;
};

/* ---- parsing ------------------------------------------------------------------------------ */

struct parser {
	const char *s;
	size_t len, i;
	struct err *err;
};

static void seq_free(struct wseq *q)
{
	size_t i, j;

	for (i = 0; i < q->n; i++) {
		struct wnode *nd = &q->nodes[i];

		free(nd->text);
		for (j = 0; j < nd->nalts; j++)
			seq_free(&nd->alts[j]);
		free(nd->alts);
	}
	free(q->nodes);
	q->nodes = NULL;
	q->n = 0;
}

static struct wnode *seq_add(struct wseq *q, enum wn_kind kind, int col)
{
	struct wnode *nodes = realloc(q->nodes, (q->n + 1) * sizeof(*nodes));

	if (!nodes)
		return NULL;
	q->nodes = nodes;
	memset(&nodes[q->n], 0, sizeof(nodes[q->n]));
	nodes[q->n].kind = kind;
	nodes[q->n].col = col;
	return &nodes[q->n++];
}

/* Append one literal byte run, merging with a preceding text node. */
static int seq_text(struct wseq *q, const char *s, size_t n, int col)
{
	struct wnode *nd = q->n ? &q->nodes[q->n - 1] : NULL;
	char *t;

	if (!nd || nd->kind != WN_TEXT) {
		nd = seq_add(q, WN_TEXT, col);
		if (!nd)
			return -1;
	}
	t = realloc(nd->text, nd->len + n + 1);
	if (!t)
		return -1;
	memcpy(t + nd->len, s, n);
	nd->len += n;
	t[nd->len] = '\0';
	nd->text = t;
	return 0;
}

static int name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == '/' || c >= 0x80;
}

/* A list name must stay inside the folder. */
static int name_confined(const char *name, size_t n)
{
	size_t a = 0, b;

	if (n == 0 || name[0] == '/')
		return 0;
	while (a <= n) {
		for (b = a; b < n && name[b] != '/'; b++)
			;
		if (b == a || (b - a == 1 && name[a] == '.') ||
		    (b - a == 2 && name[a] == '.' && name[a + 1] == '.'))
			return 0;
		a = b + 1;
	}
	return 1;
}

/* At s[i] == s[i+1] == '_': the length of a well-formed name after it (closing "__"
 * found, name characters only), or 0 when this is plain text. */
static size_t name_len(const char *s, size_t len, size_t i)
{
	size_t j;

	for (j = i + 3; j + 1 < len; j++) {
		if (s[j] == '_' && s[j + 1] == '_')
			break;
	}
	if (j + 1 >= len)
		return 0;
	for (size_t k = i + 2; k < j; k++)
		if (!name_char((unsigned char)s[k]))
			return 0;
	return j - (i + 2);
}

static int parse_seq(struct parser *p, struct wseq *out, int depth, int in_braces);

static int col_at(const struct parser *p, size_t off)
{
	return lines_col(p->s, off);
}

static int parse_choice(struct parser *p, struct wseq *out, int depth)
{
	size_t open = p->i;
	struct wnode *nd;
	struct wseq *alts;

	if (depth >= WILDCARD_MAX_DEPTH)
		return err_code(p->err, 2, "'{' at column %d nests deeper than %d levels",
				col_at(p, open), WILDCARD_MAX_DEPTH);
	nd = seq_add(out, WN_CHOICE, col_at(p, open));
	if (!nd)
		return err_set(p->err, "out of memory");
	p->i++;
	for (;;) {
		alts = realloc(nd->alts, (nd->nalts + 1) * sizeof(*alts));
		if (!alts)
			return err_set(p->err, "out of memory");
		nd->alts = alts;
		memset(&alts[nd->nalts], 0, sizeof(alts[0]));
		nd->nalts++;
		if (parse_seq(p, &alts[nd->nalts - 1], depth + 1, 1) < 0)
			return -1;
		if (p->i >= p->len)
			return err_code(p->err, 2, "'{' at column %d is never closed",
					col_at(p, open));
		if (p->s[p->i++] == '}')
			return 0;
		/* '|': the next alternative */
	}
}

static int parse_seq(struct parser *p, struct wseq *out, int depth, int in_braces)
{
	const char *s = p->s;

	while (p->i < p->len) {
		char c = s[p->i];
		size_t n;

		if (c == '\\' && p->i + 1 < p->len && strchr("{}|\\_", s[p->i + 1])) {
			if (seq_text(out, s + p->i + 1, 1, col_at(p, p->i)) < 0)
				return err_set(p->err, "out of memory");
			p->i += 2;
		} else if (c == '{') {
			if (parse_choice(p, out, depth) < 0)
				return -1;
		} else if (c == '}' || c == '|') {
			if (in_braces)
				return 0;
			if (c == '}')
				return err_code(p->err, 2, "'}' at column %d has no matching '{'",
						col_at(p, p->i));
			if (seq_text(out, s + p->i, 1, col_at(p, p->i)) < 0)
				return err_set(p->err, "out of memory");
			p->i++;
		} else if (c == '_' && p->i + 1 < p->len && s[p->i + 1] == '_' &&
			   (n = name_len(s, p->len, p->i)) > 0) {
			struct wnode *nd = seq_add(out, WN_LIST, col_at(p, p->i));

			if (!nd || !(nd->text = strndup(s + p->i + 2, n)))
				return err_set(p->err, "out of memory");
			if (!name_confined(nd->text, n))
				return err_code(
					p->err, 2,
					"wildcard '__%s__' at column %d: the name leaves the "
					"wildcards folder",
					nd->text, nd->col);
			p->i += n + 4;
		} else {
			if (seq_text(out, s + p->i, 1, col_at(p, p->i)) < 0)
				return err_set(p->err, "out of memory");
			p->i++;
		}
	}
	return 0;
}

static int parse_text(struct wseq *out, const char *text, size_t len, struct err *err)
{
	struct parser p = { text, len, 0, err };

	memset(out, 0, sizeof(*out));
	if (parse_seq(&p, out, 0, 0) < 0) {
		seq_free(out);
		return -1;
	}
	return 0;
}

int wildcards_present(const char *text)
{
	const char *s;

	if (strpbrk(text, "{}\\"))
		return 1;
	for (s = text; (s = strstr(s, "__")) != NULL; s++)
		if (name_len(s, strlen(s), 0) > 0)
			return 1;
	return 0;
}

/* ---- lists -------------------------------------------------------------------------------- */

static void list_free(struct wlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->entries[i]);
		if (l->parsed[i]) {
			seq_free(l->parsed[i]);
			free(l->parsed[i]);
		}
	}
	free(l->entries);
	free(l->lines);
	free(l->parsed);
	free(l->name);
	free(l->path);
}

int wildcards_new(struct wildcards **out, const char *dir, struct err *err)
{
	struct wildcards *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w || (dir && !(w->dir = strdup(dir)))) {
		free(w);
		return err_set(err, "out of memory");
	}
	*out = w;
	return 0;
}

void wildcards_free(struct wildcards *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->n; i++)
		list_free(&w->lists[i]);
	free(w->lists);
	free(w->dir);
	free(w);
}

int wildcards_default_dir(char **out, const struct env *env, struct err *err)
{
	if (xdg_path(out, XDG_CONFIG, "imagen/wildcards", env, err) < 0) {
		err_prefix(err, "wildcards");
		return -1;
	}
	return 0;
}

/* Split text into a new list (name and path are taken over by the list on success). */
static int list_fill(struct wlist *l, const char *text, size_t len, const char *display,
		     struct err *err)
{
	struct text_line tl;
	size_t pos = 0;
	int lineno = 0;

	if (lines_check(text, len, display, err) < 0)
		return -1;
	while (lines_next(text, len, &pos, &lineno, &tl)) {
		char **e = realloc(l->entries, (l->n + 1) * sizeof(*e));
		int *ln;
		struct wseq **pq;

		if (e)
			l->entries = e;
		ln = e ? realloc(l->lines, (l->n + 1) * sizeof(*ln)) : NULL;
		if (ln)
			l->lines = ln;
		pq = ln ? realloc(l->parsed, (l->n + 1) * sizeof(*pq)) : NULL;
		if (pq)
			l->parsed = pq;
		if (!pq || !(l->entries[l->n] = strndup(tl.s, tl.len)))
			return err_set(err, "out of memory");
		l->lines[l->n] = tl.line;
		l->parsed[l->n] = NULL;
		l->n++;
	}
	if (l->n == 0)
		return err_code(err, 2, "%s has no entries", display);
	return 0;
}

static struct wlist *list_add(struct wildcards *w, const char *name, char *path, const char *text,
			      size_t len, struct err *err)
{
	struct wlist *lists, l;

	memset(&l, 0, sizeof(l));
	l.path = path;
	if (!(l.name = strdup(name))) {
		free(path);
		return err_set(err, "out of memory"), NULL;
	}
	if (list_fill(&l, text, len, path ? path : name, err) < 0) {
		list_free(&l);
		return NULL;
	}
	lists = realloc(w->lists, (w->n + 1) * sizeof(*lists));
	if (!lists) {
		list_free(&l);
		return err_set(err, "out of memory"), NULL;
	}
	w->lists = lists;
	lists[w->n] = l;
	return &lists[w->n++];
}

int wildcards_define(struct wildcards *w, const char *name, const char *text, size_t len,
		     struct err *err)
{
	size_t i, n = strlen(name);

	for (i = 0; i < n; i++)
		if (!name_char((unsigned char)name[i]))
			return err_code(err, 2, "wildcard name '%s' holds a character not allowed",
					name);
	if (!name_confined(name, n))
		return err_code(err, 2, "wildcard '__%s__': the name leaves the wildcards folder",
				name);
	for (i = 0; i < w->n; i++)
		if (!strcmp(w->lists[i].name, name))
			return err_code(err, 2, "wildcard '__%s__' is defined twice", name);
	return list_add(w, name, NULL, text, len, err) ? 0 : -1;
}

static struct wlist *list_get(struct wildcards *w, const char *name, struct err *err)
{
	unsigned char *text;
	char *path;
	size_t i, len;
	struct wlist *l;

	for (i = 0; i < w->n; i++)
		if (!strcmp(w->lists[i].name, name))
			return &w->lists[i];
	if (!w->dir)
		return err_code(err, 2, "wildcard '__%s__': no wildcards folder", name), NULL;
	if (asprintf(&path, "%s/%s.txt", w->dir, name) < 0)
		return err_set(err, "out of memory"), NULL;
	if (file_read(&text, &len, path, WILDCARD_FILE_MAX, err) < 0) {
		if (err)
			err->code = 2;
		err_prefix(err, "wildcard '__%s__'", name);
		free(path);
		return NULL;
	}
	l = list_add(w, name, path, (const char *)text, len, err);
	free(text);
	if (!l)
		err_prefix(err, "wildcard '__%s__'", name);
	return l;
}

/* The tree of entry i, parsed once. */
static struct wseq *list_entry(struct wlist *l, size_t i, struct err *err)
{
	if (!l->parsed[i]) {
		struct wseq *q = malloc(sizeof(*q));

		if (!q)
			return err_set(err, "out of memory"), NULL;
		if (parse_text(q, l->entries[i], strlen(l->entries[i]), err) < 0) {
			free(q);
			err_prefix(err, "wildcard '__%s__': %s:%d", l->name,
				   l->path ? l->path : l->name, l->lines[i]);
			return NULL;
		}
		l->parsed[i] = q;
	}
	return l->parsed[i];
}

/* ---- sampling ----------------------------------------------------------------------------- */

struct sampler {
	struct wildcards *w;
	uint64_t seed_h; /* batch_mix64(seed) */
	uint64_t k;      /* choices made so far */
	struct buf out;
	struct err *err;
};

static size_t pick(struct sampler *s, size_t n)
{
	return (size_t)(batch_mix64(s->seed_h + s->k++) % n);
}

static int too_deep(struct err *err, const struct wnode *nd)
{
	return err_code(err, 2,
			"wildcard '__%s__' at column %d nests deeper than %d levels (does a "
			"list name itself?)",
			nd->text, nd->col, WILDCARD_MAX_DEPTH);
}

static int sample_seq(struct sampler *s, const struct wseq *q, int depth)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		const struct wnode *nd = &q->nodes[i];
		struct wlist *l;
		struct wseq *e;

		switch (nd->kind) {
		case WN_TEXT:
			if (buf_add(&s->out, nd->text, nd->len) < 0)
				return err_code(s->err, 2,
						"the resolved prompt is longer than %d bytes",
						BATCH_PROMPT_MAX);
			break;
		case WN_CHOICE:
			if (sample_seq(s, &nd->alts[pick(s, nd->nalts)], depth + 1) < 0)
				return -1;
			break;
		case WN_LIST:
			if (depth + 1 >= WILDCARD_MAX_DEPTH)
				return too_deep(s->err, nd);
			if (!(l = list_get(s->w, nd->text, s->err)) ||
			    !(e = list_entry(l, pick(s, l->n), s->err)) ||
			    sample_seq(s, e, depth + 1) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

int wildcards_pick(char **out, struct wildcards *w, const char *text, int64_t seed, struct err *err)
{
	struct sampler s = { w, batch_mix64((uint64_t)seed), 0, BUF_INIT, err };
	struct wseq q;
	int rc;

	*out = NULL;
	if (parse_text(&q, text, strlen(text), err) < 0)
		return -1;
	s.out.max = BATCH_PROMPT_MAX + 1;
	rc = sample_seq(&s, &q, 0);
	seq_free(&q);
	if (rc == 0 && buf_add(&s.out, "", 0) < 0)
		rc = err_set(err, "out of memory");
	if (rc < 0) {
		buf_release(&s.out);
		return -1;
	}
	*out = buf_detach(&s.out, NULL);
	return 0;
}

/* ---- enumeration -------------------------------------------------------------------------- */

struct strv {
	char **v;
	size_t n;
	size_t bytes;
};

void wildcards_strings_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void strv_release(struct strv *sv)
{
	wildcards_strings_free(sv->v, sv->n);
	memset(sv, 0, sizeof(*sv));
}

struct expander {
	struct wildcards *w;
	size_t max;
	struct err *err;
};

static int too_many(struct expander *x)
{
	return err_code(x->err, 2, "the prompt has more than %zu combinations", x->max);
}

static int strv_push(struct expander *x, struct strv *sv, char *s)
{
	char **v;
	size_t len = strlen(s);

	if (sv->n >= x->max) {
		free(s);
		return too_many(x);
	}
	if (len > BATCH_PROMPT_MAX || sv->bytes + len > EXPAND_TOTAL_MAX) {
		free(s);
		return err_code(x->err, 2,
				"the combinations of the prompt are too long (over %u "
				"bytes)",
				len > BATCH_PROMPT_MAX ? BATCH_PROMPT_MAX : EXPAND_TOTAL_MAX);
	}
	v = realloc(sv->v, (sv->n + 1) * sizeof(*v));
	if (!v) {
		free(s);
		return err_set(x->err, "out of memory");
	}
	sv->v = v;
	v[sv->n++] = s;
	sv->bytes += len;
	return 0;
}

/* Move every string of src to the end of dst. */
static int strv_append(struct expander *x, struct strv *dst, struct strv *src)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < src->n; i++) {
		if (rc == 0)
			rc = strv_push(x, dst, src->v[i]);
		else
			free(src->v[i]);
	}
	free(src->v);
	memset(src, 0, sizeof(*src));
	return rc;
}

static int expand_seq(struct expander *x, const struct wseq *q, int depth, struct strv *out);

/* The options one node stands for. */
static int expand_node(struct expander *x, const struct wnode *nd, int depth, struct strv *out)
{
	struct wlist *l;
	size_t i;

	memset(out, 0, sizeof(*out));
	switch (nd->kind) {
	case WN_TEXT: {
		char *s = strdup(nd->text);

		return s ? strv_push(x, out, s) : err_set(x->err, "out of memory");
	}
	case WN_CHOICE:
		for (i = 0; i < nd->nalts; i++) {
			struct strv part;

			if (expand_seq(x, &nd->alts[i], depth + 1, &part) < 0 ||
			    strv_append(x, out, &part) < 0)
				goto fail;
		}
		return 0;
	case WN_LIST:
		if (depth + 1 >= WILDCARD_MAX_DEPTH)
			return too_deep(x->err, nd);
		if (!(l = list_get(x->w, nd->text, x->err)))
			return -1;
		for (i = 0; i < l->n; i++) {
			struct wseq *e = list_entry(l, i, x->err);
			struct strv part;

			if (!e || expand_seq(x, e, depth + 1, &part) < 0 ||
			    strv_append(x, out, &part) < 0)
				goto fail;
		}
		return 0;
	}
fail:
	strv_release(out);
	return -1;
}

/* The product of the nodes' options, earlier nodes varying slowest. */
static int expand_seq(struct expander *x, const struct wseq *q, int depth, struct strv *out)
{
	struct strv acc = { NULL, 0, 0 }, opts, next;
	size_t i, a, o;

	char *empty = strdup("");

	memset(out, 0, sizeof(*out));
	if (!empty)
		return err_set(x->err, "out of memory");
	if (strv_push(x, &acc, empty) < 0)
		return -1;
	for (i = 0; i < q->n; i++) {
		if (expand_node(x, &q->nodes[i], depth, &opts) < 0)
			goto fail;
		if (opts.n && acc.n > x->max / opts.n) {
			strv_release(&opts);
			too_many(x);
			goto fail;
		}
		memset(&next, 0, sizeof(next));
		for (a = 0; a < acc.n; a++) {
			for (o = 0; o < opts.n; o++) {
				char *s;

				if (asprintf(&s, "%s%s", acc.v[a], opts.v[o]) < 0) {
					err_set(x->err, "out of memory");
					goto fail_next;
				}
				if (strv_push(x, &next, s) < 0)
					goto fail_next;
			}
		}
		strv_release(&opts);
		strv_release(&acc);
		acc = next;
	}
	*out = acc;
	return 0;
fail_next:
	strv_release(&next);
	strv_release(&opts);
fail:
	strv_release(&acc);
	return -1;
}

int wildcards_expand(char ***out, size_t *n, struct wildcards *w, const char *text, size_t max,
		     struct err *err)
{
	struct expander x = { w, max ? max : 1, err };
	struct strv sv;
	struct wseq q;
	int rc;

	*out = NULL;
	*n = 0;
	if (parse_text(&q, text, strlen(text), err) < 0)
		return -1;
	rc = expand_seq(&x, &q, 0, &sv);
	seq_free(&q);
	if (rc < 0)
		return -1;
	*out = sv.v;
	*n = sv.n;
	return 0;
}
