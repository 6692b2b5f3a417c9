/* catalog_impl.h - what the files of src/catalog/ share: the handle and SQL helpers.
 * Not for use outside this folder. */
#ifndef IMAGEN_CATALOG_IMPL_H
#define IMAGEN_CATALOG_IMPL_H

#include <pthread.h>
#include <sqlite3.h>

#include "catalog/catalog.h"

struct catalog {
	sqlite3 *db;
	char *path;
	pthread_mutex_t lock; /* one user of the connection at a time */
	sqlite3_stmt *put;    /* the upsert, prepared once */
};

/** Fill err from the connection's last error: "PATH: what: sqlite message", or the
 *  damaged-file message when SQLite reports corruption.  Returns -1. */
int cat_fail(struct catalog *c, struct err *err, const char *what);

/** BEGIN IMMEDIATE (waits up to CATALOG_BUSY_MS for other writers) / COMMIT / ROLLBACK. */
int cat_begin(struct catalog *c, struct err *err);
int cat_commit(struct catalog *c, struct err *err);
void cat_rollback(struct catalog *c);

/** Run SQL without results. */
int cat_exec(struct catalog *c, const char *sql, struct err *err);

/** The columns catalog_row_json() reads, in its order, for SELECT lists. */
extern const char cat_row_columns[];
/** The record of the current row of a statement selecting cat_row_columns first. */
json_t *cat_row_json(sqlite3_stmt *st);

/** catalog_put() without a transaction or the lock (the caller holds both); *id gets the
 *  row id when non-NULL. */
int cat_put_locked(struct catalog *c, const struct catalog_file *f, long long *id, struct err *err);

/** catalog_read_file() of a path known to be absolute and free of symbolic links (abs is
 *  taken over, even on failure); path is what messages call the file. */
int cat_read_abs(struct catalog_file *f, char *abs, const char *path, const json_t *sidecar,
		 struct err *err);

#endif
