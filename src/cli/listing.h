/* listing.h - what the catalog commands (search, ls, stats, tag, rate, index) share at
 * the front end: opening the catalog with one error line, and printing records as a
 * table, JSON lines, paths or NUL-terminated paths. */
#ifndef IMAGEN_LISTING_H
#define IMAGEN_LISTING_H

#include <jansson.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "cli/cli.h"

/** Open the default catalog (create: make it when absent).  On failure prints
 *  "imagen: CMD: reason" and returns -1. */
int listing_open(struct catalog **out, const char *cmd, int create);

enum listing_mode { LIST_TABLE, LIST_JSON, LIST_PATHS, LIST_NUL };

struct listing {
	enum listing_mode mode;
	int tty;        /* stdout is a terminal: cut the prompt to its width, escape paths */
	int width;      /* its columns */
	long long rows; /* printed so far */
	long long cap;  /* LIST_TABLE: print at most this many, then say there are more */
	int more;       /* a row beyond cap was seen */
};

void listing_begin(struct listing *l, enum listing_mode mode, long long cap);
/** catalog_search() callback: print one record (arg is the struct listing). */
int listing_row(const json_t *rec, void *arg);
/** The closing line of a cut table. */
void listing_end(struct listing *l);

/** Write s for a person: control characters and invalid UTF-8 shown as '?' (newlines and
 *  tabs as spaces), cut with '…' past max display columns (0 = no limit).  Returns the
 *  columns written. */
int listing_put(FILE *out, const char *s, int max);

/** inspect: the catalog's row for the image at path (new reference), or NULL when there
 *  is no catalog or it does not know the image (nothing is printed then). */
json_t *listing_catalog_row(const char *path);
/** inspect: the row's catalog fields as "label  value" lines (nothing for NULL). */
void listing_print_catalog(const json_t *row);

/** sync: record that image is in the bucket at storage_path (cataloguing it first when
 *  needed); a failure is one warning line (unless quiet), never an error. */
void listing_synced(const char *image, const char *storage_path, int quiet);

/* The output options search and ls share. */
enum { LOPT_NUL = '0', LOPT_LIMIT = 'n', LOPT_JSON = 1100, LOPT_PATHS, LOPT_SORT };

#define LISTING_OPTS                                                                                   \
	{ LOPT_JSON, "json", 0, ARG_NONE, NULL, "one JSON record per line", HINT_NONE },               \
		{ LOPT_PATHS, "paths", 0, ARG_NONE, NULL, "only the paths, one per line", HINT_NONE }, \
		{ LOPT_NUL, "null", '0',                                                               \
		  ARG_NONE, NULL,   "only the paths, each ended by a NUL (for xargs -0)",              \
		  HINT_NONE },                                                                         \
		{ LOPT_SORT,                                                                           \
		  "sort",                                                                              \
		  0,                                                                                   \
		  ARG_REQUIRED,                                                                        \
		  "date|oldest|seed|rating|cost|path|relevance",                                       \
		  "order (default date: newest first)",                                                \
		  HINT_NONE },                                                                         \
	{                                                                                              \
		LOPT_LIMIT, "limit", 'n', ARG_REQUIRED, "N", "at most N images (0: all)",              \
			HINT_NONE                                                                      \
	}

struct listing_args {
	enum listing_mode mode;
	const char *sort;
	long long limit;
	int has_limit;
};

/**
 * Before option parsing: mark the query words that start with '-' (-blurry, -tag:draft,
 * -"low res") so getopt leaves them alone.  A word stays an option when it is -- or
 * --NAME, a cluster of the flags in `flags` (e.g. "vqh0": -v, -vv), or one of the
 * options taking a value in `valued` (e.g. "nc") alone or, for -n, with digits
 * attached.  listing_join() takes the mark off again.
 */
void listing_mark_negations(int argc, char **argv, const char *flags, const char *valued);

/** argv[first..argc) joined with spaces (malloc'd; "" when none), as the query. */
char *listing_join(int argc, char **argv, int first);

/** Take one of LISTING_OPTS: 1 when it was one (-1 after printing a bad value), 0 when
 *  the option is someone else's. */
int listing_option(struct listing_args *a, const char *cmd, int id, const char *arg);

/**
 * Run query (the command line's words, joined) and print what it finds as a asks; a
 * table shows at most table_cap rows unless --limit says otherwise.  *rows gets the
 * number printed.  Returns the exit status: 0, 1 when the catalog could not be read, 2
 * on a bad query (the error names its column).
 */
int listing_search(const char *cmd, const char *query, const struct listing_args *a,
		   long long table_cap, long long *rows);

#endif
