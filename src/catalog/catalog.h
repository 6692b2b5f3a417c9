/* catalog.h - the catalog of every image: one SQLite file that knows every image imagen
 * wrote or indexed (path, hash, size, dimensions, prompt, model, seed, cost, tags,
 * rating, cloud state), so `imagen search` answers in milliseconds.
 *
 * The file is $IMAGEN_CATALOG, else $XDG_DATA_HOME/imagen/catalog.db, else
 * ~/.local/share/imagen/catalog.db.  It runs in WAL mode with a busy timeout, and every
 * write is one BEGIN IMMEDIATE transaction, so any number of threads (each with its own
 * handle, or sharing one: a handle serialises its users) and processes may write at
 * once without "database is locked".  The schema carries its version (PRAGMA
 * user_version); opening an older catalog migrates it, a damaged one is an error that
 * names `imagen index --rebuild`.
 *
 * A record is a JSON object with the sidecar's field names (prompt, final_prompt,
 * negative_prompt, style, backend, backend_type, model, seed, width, height, steps,
 * created_at, cost) plus what the catalog adds (catalog_row_json() lists them).
 */
#ifndef IMAGEN_CATALOG_H
#define IMAGEN_CATALOG_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "catalog/query.h"
#include "util/env.h"
#include "util/err.h"

#define CATALOG_SCHEMA_VERSION 4
#define CATALOG_BUSY_MS 30000 /* how long a writer waits for another to finish */
#define CATALOG_MAX_IMAGE_BYTES (512u * 1024 * 1024)

struct catalog;

/** The catalog file's path (see above), the variables read through vars
 *  (env_process() in production); *out is malloc'd.  Fails when neither
 *  IMAGEN_CATALOG, XDG_DATA_HOME nor HOME is set. */
int catalog_default_path(char **out, const struct env *vars, struct err *err);

/**
 * Open the catalog at path, migrating an older schema.  create: make the file (and its
 * directory) when absent; without it a missing file fails with "no catalog yet at PATH
 * (imagen index makes one)".  A file that is not an SQLite database, or is damaged,
 * fails with a message naming `imagen index --rebuild`; a catalog from a newer imagen
 * or an SQLite file of something else is refused.  err->code is 1 on every failure.
 * Close with catalog_close().
 */
int catalog_open(struct catalog **out, const char *path, int create, struct err *err);
void catalog_close(struct catalog *c);
/** The file the catalog lives in (borrowed). */
const char *catalog_file(const struct catalog *c);

/** What the catalog knows of one file on disk (catalog_read_file() fills it). */
struct catalog_file {
	char *path; /* absolute, no symlinks (malloc'd) */
	char sha256[65];
	long long bytes;
	long long mtime_ns;
	const char *format; /* "png", "jpeg" or "webp" */
	int width, height;  /* 0 when unknown */
	json_t *record;     /* the metadata found, with the sidecar's field names (owned) */
	const char *source; /* where it came from: "imagen", "a1111", "comfyui", "invokeai",
			     * "novelai" or "none" (static) */
};
void catalog_file_release(struct catalog_file *f);

/**
 * Read an image from disk: its bytes (hashed, then dropped), format and dimensions, and
 * its metadata: the `imagen` PNG chunk, else the sidecar NAME.json beside it, else what
 * another tool wrote (foreign.h), else an empty record with "source": "none".  sidecar
 * (may be NULL) is used as the record instead, as when imagen has just written the
 * image.  Fails on a file that cannot be read (the message names it); metadata that
 * cannot be parsed is not an error (the image is still catalogued, source "none").
 */
int catalog_read_file(struct catalog_file *out, const char *path, const json_t *sidecar,
		      struct err *err);

/** Insert or update the row of f (by path).  A row whose bytes changed loses its cloud
 *  state (the bucket holds the old bytes); tags and rating stay.  Clears "missing". */
int catalog_put(struct catalog *c, const struct catalog_file *f, struct err *err);

/**
 * The write path for an image imagen has just written: read it back (hash, size,
 * dimensions), take its sidecar object (borrowed) as the record and cloud (the cloud
 * step's result object, may be NULL) for its cloud state ("status": "synced" with a
 * "storage_path"), and put the row.  One transaction.
 */
int catalog_add_image(struct catalog *c, const char *path, const json_t *sidecar,
		      const json_t *cloud, struct err *err);

/** The row of the image at path (resolved to an absolute path) as a record (new
 *  reference), or *out NULL when the catalog does not know it. */
int catalog_get(json_t **out, struct catalog *c, const char *path, struct err *err);

/** Make sure path is catalogued (read and put it when unknown or changed); *abs gets its
 *  absolute path (malloc'd).  For tag, rate and sync on files not indexed yet. */
int catalog_ensure(struct catalog *c, const char *path, char **abs, struct err *err);

/** A tag name is 1-64 bytes of UTF-8 without spaces, control characters, quotes or
 *  commas, and does not start with '+' or '-'.  0 when valid, else -1 (code 2). */
int catalog_tag_check(const char *name, struct err *err);

/** Add and remove tags of a catalogued image (abs: absolute path).  Adding one it has or
 *  removing one it lacks is not an error.  Tags compare without ASCII case. */
int catalog_tag(struct catalog *c, const char *abs, const char *const *add, size_t nadd,
		const char *const *del, size_t ndel, struct err *err);

/** Set the rating (0 = none, 1..5) of a catalogued image. */
int catalog_rate(struct catalog *c, const char *abs, int rating, struct err *err);

/** Record that the image at abs is in the bucket at storage_path (its current bytes). */
int catalog_set_synced(struct catalog *c, const char *abs, const char *storage_path,
		       struct err *err);

/** Orders for catalog_search(). */
extern const char *const catalog_sorts[]; /* "date", "oldest", …; NULL-terminated */

struct catalog_search {
	const struct query *q;
	const char *sort; /* one of catalog_sorts; NULL = "date" (newest first) */
	long long limit;  /* at most this many rows; 0 = all */
	time_t now;       /* for today / since:7d */
};

/**
 * Run a query: each matching row, in order, goes to fn as a record (borrowed for the
 * call) until fn returns non-zero (then that value is returned).  "relevance" needs a
 * word to rank by (code 2 otherwise).  Returns 0, or -1 with err.
 */
int catalog_search(struct catalog *c, const struct catalog_search *s,
		   int (*fn)(const json_t *rec, void *arg), void *arg, struct err *err);

/**
 * Counts and costs of the images matching q (NULL: all): {"images", "cost_usd",
 * "by_backend": [{"backend", "images", "cost_usd"}...], "by_model": [...],
 * "by_<period>": [{"<period>", "images", "cost_usd"}...]} with period "day" or "month"
 * (local time), groups by count then name, periods in date order.  New reference.
 */
int catalog_stats(json_t **out, struct catalog *c, const struct query *q, time_t now,
		  const char *period, struct err *err);

/**
 * Resolve the query's parent:FILE terms to the sha256 of FILE's content (a 64-digit hex
 * text is taken as a hash already), so they match images whose recorded inputs include
 * that content.  Fails (code 2) naming a FILE that cannot be read.
 */
int catalog_query_resolve(struct query *q, struct err *err);

/**
 * The catalogued images whose content has this sha256 and that are not marked missing:
 * *paths gets a new array of their paths (absolute), newest first.  For --from, which
 * looks for an input that left its recorded path.
 */
int catalog_paths_by_sha256(json_t **paths, struct catalog *c, const char *sha256, struct err *err);

/**
 * The catalogued images of batch batch_id (their sidecar's "batch_id") that are not
 * marked missing: *rows gets a new array of {"path", "job", "cost_usd" (null when
 * unknown)}, by job, then in the order they were catalogued.  For --resume, which
 * finds the images a killed batch wrote but did not journal.
 */
int catalog_batch_images(json_t **rows, struct catalog *c, const char *batch_id, struct err *err);

/** Every tag with its image count: [{"tag", "images"}...] by name (new reference). */
int catalog_tags(json_t **out, struct catalog *c, struct err *err);

#endif
