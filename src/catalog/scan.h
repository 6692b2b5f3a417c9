/* scan.h - `imagen index`: bring the catalog up to date with the files on disk. */
#ifndef IMAGEN_SCAN_H
#define IMAGEN_SCAN_H

#include "catalog/catalog.h"
#include "core/events.h"

struct scan_opts {
	const char *const *dirs; /* directories to walk (recursively) */
	size_t ndirs;
	int prune;                  /* delete the rows of missing files under dirs */
	const struct ev_sink *sink; /* EV_STEPS: files done of files found; EV_LOG (EV_WARN):
				     * one line per file that cannot be read */
};

struct scan_stats {
	long long files;      /* image files found */
	long long added;      /* new rows */
	long long updated;    /* rows of files whose size or time changed */
	long long moved;      /* rows that followed their file (same sha256) to a new path */
	long long unchanged;  /* skipped: same size and modification time */
	long long missing;    /* rows under dirs whose file is gone (after this run) */
	long long pruned;     /* of those, deleted (--prune) */
	long long unreadable; /* files that could not be read (reported through the sink) */
};

/**
 * Walk dirs and update the catalog: every PNG, JPEG and WebP file (hidden entries and
 * symbolic links are skipped) is read unless its size and modification time match its
 * row; a new path whose sha256 matches a row whose file is gone takes that row over
 * (tags, rating and cloud state move with it); rows under dirs whose file is gone are
 * marked missing, or deleted with prune.  Writes in short transactions, so other
 * imagen processes writing meanwhile only wait a moment.  A dir that is not a
 * directory fails (code 2) before anything is written.
 */
int catalog_scan(struct catalog *c, const struct scan_opts *o, struct scan_stats *st,
		 struct err *err);

/**
 * Make a new catalog at path from the files on disk: the old file, when it can still be
 * read, gives the images outside dirs to read again and the tags, ratings and cloud
 * state to carry over (matched by path, else by sha256); it is removed once the new
 * catalog is complete.  A damaged old file is kept as PATH.damaged (*kept gets that
 * name, malloc'd; NULL otherwise), and then only dirs are read.  *out is the new
 * catalog, open.
 */
int catalog_rebuild(struct catalog **out, const char *path, const struct scan_opts *o,
		    struct scan_stats *st, char **kept, struct err *err);

#endif
