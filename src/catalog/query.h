/* query.h - the search language of `imagen search`, `ls` and `stats`.
 *
 * Two pure steps: query_parse() turns the text into terms (an error names its column),
 * query_compile() turns the terms into an SQL condition over the catalog's tables with
 * every value bound as a parameter (never spliced into the SQL).
 *
 *   red fox            free words: all must match the prompt, model or tags
 *   "a red fox"        a phrase          fox*   a prefix        -blurry   excluded
 *   seed:42  seed:100..200  seed:100..  seed:..200  width>=1024  cost>0.02  rating>=4
 *   model:flux*  backend:NAME  style:NAME  sampler:euler*  tag:NAME  type:comfyui
 *   source:a1111  format:png  path:*2026-11*  sha256:ab12*  batch:ID  neg:blurry
 *   size:1024x1024  since:2026-11-01  before:2026-11  date:2026-11-24  since:7d  today
 *   synced:no  missing:yes        -FILTER negates any filter (-tag:draft)
 *   parent:FILE        made from FILE (an --image or --mask input with its content)
 */
#ifndef IMAGEN_QUERY_H
#define IMAGEN_QUERY_H

#include <stddef.h>
#include <time.h>

#include "util/err.h"

enum q_field {
	QF_TEXT,     /* free words and phrases: prompt, model, tags (full-text) */
	QF_NEGATIVE, /* neg:/negative: the negative prompt (full-text) */
	/* integers */
	QF_SEED,
	QF_WIDTH,
	QF_HEIGHT,
	QF_STEPS,
	QF_RATING,
	/* reals */
	QF_COST,
	QF_CFG,
	/* text patterns (* and ? wildcards, ASCII case-insensitive) */
	QF_MODEL,
	QF_BACKEND,
	QF_TYPE,
	QF_STYLE,
	QF_SAMPLER,
	QF_TAG,
	QF_SOURCE,
	QF_FORMAT,
	QF_PATH,
	QF_SHA256,
	QF_BATCH,
	QF_PARENT, /* parent:FILE - an input's sha256 (catalog_query_resolve hashes FILE) */
	/* the rest */
	QF_SIZE,
	QF_SINCE,
	QF_BEFORE,
	QF_DATE,
	QF_TODAY,
	QF_SYNCED,
	QF_MISSING,
};

enum q_op { QO_EQ, QO_LT, QO_LE, QO_GT, QO_GE, QO_RANGE };

/** A point in time as written: a calendar date of some precision, or "N units ago". */
struct q_date {
	int y, mo, d, h, mi, s;
	int parts;       /* how many of y, mo, d, h, mi, s are given: 1, 2, 3, 5 or 6; 0 when
			  * relative */
	long long ago_s; /* relative: seconds before now (since:7d), -1 today, -2 yesterday */
};

struct q_term {
	enum q_field field;
	enum q_op op;
	int negate;         /* -TERM */
	size_t col;         /* 1-based column (in characters) where the term starts */
	char *text;         /* words/phrases and patterns (malloc'd), else NULL */
	int prefix;         /* QF_TEXT/QF_NEGATIVE: word* or "phrase"* */
	long long lo, hi;   /* integers; size (lo width, hi height); booleans (lo) */
	double dlo, dhi;    /* reals */
	int has_lo, has_hi; /* QO_RANGE: which ends are given (seed:..200) */
	struct q_date date;
};

struct query {
	struct q_term *terms;
	size_t n;
};

/**
 * Parse a query (UTF-8; the words of the command line joined with spaces).  Returns 0
 * with *out filled (no terms for an empty query), or -1 with err (code 2) holding
 * "column N: what is wrong" and *err_col (may be NULL) that column, 1-based in
 * characters.  Free with query_free().  Safe on any input.
 */
int query_parse(struct query *out, const char *text, size_t *err_col, struct err *err);
void query_free(struct query *q);

/** Whether the query has a positive full-text term (what --sort relevance ranks by). */
int query_has_text(const struct query *q);

/** One value to bind, in order. */
struct q_param {
	int type; /* 'i', 'd' or 's' */
	long long i;
	double d;
	char *s;
};

/**
 * The query as SQL over the catalog schema (catalog.c): fts is the full-text MATCH
 * expression of the positive word and neg: terms (NULL when there are none), for
 * `images_fts MATCH ?`; where is a condition over `images` (columns written
 * images.NAME, "1" when there is no other term) whose `?` take params[0..nparams) in
 * order.  Dates are local time; now is the reference for today and since:7d.  Fails
 * (code 2, naming the column) only on a date the calendar cannot represent.  Free with
 * q_sql_free().
 */
struct q_sql {
	char *fts;
	char *where;
	struct q_param *params;
	size_t nparams;
};
int query_compile(struct q_sql *out, const struct query *q, time_t now, struct err *err);
void q_sql_free(struct q_sql *s);

/** The filter names query_parse() knows (NULL-terminated), for help and completion. */
extern const char *const query_filter_names[];

#endif
