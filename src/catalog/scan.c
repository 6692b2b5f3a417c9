/* scan.c - imagen index: walk directories, read what changed, follow moved files, mark
 * the missing ones; and --rebuild. */
#include "catalog/scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog_impl.h"

#define BATCH_ROWS 500  /* rows per write transaction ... */
#define BATCH_MS 200    /* ... or this long, whichever comes first */
#define PROGRESS_MS 100 /* how often progress is reported */

/* A row the catalog had before the walk. */
struct known {
	long long id, bytes, mtime_ns;
	int missing, seen;
	char *path;
};

/* A file the walk found. */
struct found {
	char *path;
	long long bytes, mtime_ns;
};

struct scan {
	struct catalog *c;
	const struct scan_opts *o;
	struct scan_stats *st;
	GHashTable *known;  /* path -> struct known */
	struct known *rows; /* the storage behind `known` */
	size_t nrows;
	struct found *files;
	size_t nfiles, capfiles;
	GHashTable *walked; /* paths found (roots may overlap) */
	char **roots;
	size_t nroots;
	sqlite3_stmt *by_sha, *move, *mark, *del;
	int in_tx;
	long long tx_rows;
	double tx_t0;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int is_image_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
		       !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".webp"));
}

static int add_found(struct scan *s, char *path, const struct stat *st)
{
	if (g_hash_table_contains(s->walked, path)) {
		free(path);
		return 0;
	}
	if (s->nfiles == s->capfiles) {
		size_t cap = s->capfiles ? s->capfiles * 2 : 1024;
		struct found *g = realloc(s->files, cap * sizeof(*g));

		if (!g) {
			free(path);
			return -1;
		}
		s->files = g;
		s->capfiles = cap;
	}
	s->files[s->nfiles++] = (struct found){ path, (long long)st->st_size,
						(long long)st->st_mtim.tv_sec * 1000000000LL +
							st->st_mtim.tv_nsec };
	g_hash_table_add(s->walked, path);
	return 0;
}

/* Collect the image files under dir (fd open on it); path is its absolute name. */
static int walk(struct scan *s, int fd, const char *path, int depth, struct err *err)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	struct stat st;
	char *child;
	int cfd, rc = 0;

	if (!d) {
		close(fd);
		return 0;
	}
	while (rc == 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.') /* ., .., and hidden files and folders */
			continue;
		if (e->d_type != DT_DIR && e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue; /* symbolic links, devices, sockets */
		if (e->d_type == DT_REG && !is_image_name(e->d_name))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (asprintf(&child, "%s/%s", strcmp(path, "/") ? path : "", e->d_name) < 0)
			return closedir(d), err_code(err, 1, "out of memory");
		if (S_ISDIR(st.st_mode) && depth < 64) {
			cfd = openat(dirfd(d), e->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0)
				rc = walk(s, cfd, child, depth + 1, err);
			free(child);
		} else if (S_ISREG(st.st_mode) && is_image_name(e->d_name)) {
			if (add_found(s, child, &st) < 0)
				rc = err_code(err, 1, "out of memory");
		} else {
			free(child);
		}
	}
	closedir(d);
	return rc;
}

static int load_known(struct scan *s, struct err *err)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int step;

	if (sqlite3_prepare_v2(s->c->db, "SELECT id, path, bytes, mtime_ns, missing FROM images",
			       -1, &st, NULL) != SQLITE_OK)
		return cat_fail(s->c, err, "read");
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct known *k;

		if (s->nrows == cap) {
			struct known *g;

			cap = cap ? cap * 2 : 1024;
			g = realloc(s->rows, cap * sizeof(*g));
			if (!g) {
				sqlite3_finalize(st);
				return err_code(err, 1, "out of memory");
			}
			s->rows = g;
		}
		k = &s->rows[s->nrows];
		k->id = sqlite3_column_int64(st, 0);
		k->path = strdup((const char *)sqlite3_column_text(st, 1));
		k->bytes = sqlite3_column_int64(st, 2);
		k->mtime_ns = sqlite3_column_int64(st, 3);
		k->missing = sqlite3_column_int(st, 4);
		k->seen = 0;
		if (!k->path) {
			sqlite3_finalize(st);
			return err_code(err, 1, "out of memory");
		}
		s->nrows++;
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE)
		return cat_fail(s->c, err, "read");
	/* the table points into rows: filled once rows stops moving */
	for (size_t i = 0; i < s->nrows; i++)
		g_hash_table_insert(s->known, s->rows[i].path, &s->rows[i]);
	return 0;
}

/* Write transactions: opened on the first write, committed every BATCH_ROWS rows or
 * BATCH_MS, so other writers never wait long. */
static int tx_write(struct scan *s, struct err *err)
{
	if (s->in_tx && (s->tx_rows >= BATCH_ROWS || now_ms() - s->tx_t0 >= BATCH_MS)) {
		s->in_tx = 0;
		if (cat_commit(s->c, err) < 0)
			return -1;
	}
	if (!s->in_tx) {
		if (cat_begin(s->c, err) < 0)
			return -1;
		s->in_tx = 1;
		s->tx_rows = 0;
		s->tx_t0 = now_ms();
	}
	s->tx_rows++;
	return 0;
}

static int prepare(struct scan *s, sqlite3_stmt **st, const char *sql, struct err *err)
{
	if (!*st &&
	    sqlite3_prepare_v3(s->c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return cat_fail(s->c, err, "prepare");
	sqlite3_reset(*st);
	sqlite3_clear_bindings(*st);
	return 0;
}

/* A new path with the bytes of a row whose file is gone: the file moved.  Returns 1 when
 * that row now has the new path, 0 when no such row exists. */
static int follow_move(struct scan *s, const struct catalog_file *f, struct err *err)
{
	long long id = -1;
	int step;

	if (prepare(s, &s->by_sha, "SELECT id, path FROM images WHERE sha256 = ?", err) < 0)
		return -1;
	sqlite3_bind_text(s->by_sha, 1, f->sha256, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(s->by_sha)) == SQLITE_ROW) {
		const char *old = (const char *)sqlite3_column_text(s->by_sha, 1);
		struct known *k = g_hash_table_lookup(s->known, old);
		struct stat st;

		if (k && k->seen)
			continue; /* found in this walk: a copy, not a move */
		if (lstat(old, &st) < 0 && errno == ENOENT) {
			id = sqlite3_column_int64(s->by_sha, 0);
			if (k)
				k->seen = 2; /* gone with the move, not missing */
			break;
		}
	}
	sqlite3_reset(s->by_sha);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return cat_fail(s->c, err, "read");
	if (id < 0)
		return 0;
	if (prepare(s, &s->move, "UPDATE images SET path = ? WHERE id = ?", err) < 0)
		return -1;
	sqlite3_bind_text(s->move, 1, f->path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->move, 2, id);
	step = sqlite3_step(s->move);
	sqlite3_reset(s->move);
	if (step != SQLITE_DONE)
		return cat_fail(s->c, err, "write");
	return 1;
}

static int index_file(struct scan *s, const struct found *fd, struct err *err)
{
	struct known *k = g_hash_table_lookup(s->known, fd->path);
	struct catalog_file f;
	struct err ferr = ERR_INIT;
	char *abs;
	int moved = 0;

	if (k)
		k->seen = 1;
	if (k && !k->missing && k->bytes == fd->bytes && k->mtime_ns == fd->mtime_ns) {
		s->st->unchanged++;
		return 0;
	}
	abs = strdup(fd->path);
	if (!abs)
		return err_code(err, 1, "out of memory");
	if (cat_read_abs(&f, abs, fd->path, NULL, &ferr) < 0) {
		s->st->unreadable++;
		ev_log(s->o->sink, EV_WARN, "index", "%s", ferr.msg);
		return 0;
	}
	if (tx_write(s, err) < 0 || (!k && (moved = follow_move(s, &f, err)) < 0) ||
	    cat_put_locked(s->c, &f, NULL, err) < 0) {
		catalog_file_release(&f);
		return -1;
	}
	catalog_file_release(&f);
	if (moved)
		s->st->moved++;
	else if (k)
		s->st->updated++;
	else
		s->st->added++;
	return 0;
}

static int under_root(const struct scan *s, const char *path)
{
	size_t i, n;

	for (i = 0; i < s->nroots; i++) {
		n = strlen(s->roots[i]);
		if (!strncmp(path, s->roots[i], n) && (path[n] == '/' || !strcmp(s->roots[i], "/")))
			return 1;
	}
	return 0;
}

/* Rows under the roots that the walk did not find: their files are gone. */
static int mark_missing(struct scan *s, struct err *err)
{
	sqlite3_stmt **st;
	struct stat sb;
	size_t i;
	int step;

	for (i = 0; i < s->nrows; i++) {
		struct known *k = &s->rows[i];

		if (k->seen || !under_root(s, k->path))
			continue;
		if (lstat(k->path, &sb) == 0 && S_ISREG(sb.st_mode))
			continue; /* there, but where the walk does not go (a hidden folder) */
		s->st->missing++;
		if (!s->o->prune && k->missing)
			continue;
		st = s->o->prune ? &s->del : &s->mark;
		if (tx_write(s, err) < 0 ||
		    prepare(s, st,
			    s->o->prune ? "DELETE FROM images WHERE id = ?"
					: "UPDATE images SET missing = 1 WHERE id = ?",
			    err) < 0)
			return -1;
		sqlite3_bind_int64(*st, 1, k->id);
		step = sqlite3_step(*st);
		sqlite3_reset(*st);
		if (step != SQLITE_DONE)
			return cat_fail(s->c, err, "write");
		s->st->pruned += s->o->prune;
	}
	return 0;
}

static void scan_release(struct scan *s)
{
	size_t i;

	if (s->in_tx)
		cat_rollback(s->c);
	sqlite3_finalize(s->by_sha);
	sqlite3_finalize(s->move);
	sqlite3_finalize(s->mark);
	sqlite3_finalize(s->del);
	if (s->known)
		g_hash_table_destroy(s->known);
	if (s->walked)
		g_hash_table_destroy(s->walked);
	for (i = 0; i < s->nrows; i++)
		free(s->rows[i].path);
	free(s->rows);
	for (i = 0; i < s->nfiles; i++)
		free(s->files[i].path);
	free(s->files);
	for (i = 0; i < s->nroots; i++)
		free(s->roots[i]);
	free(s->roots);
}

int catalog_scan(struct catalog *c, const struct scan_opts *o, struct scan_stats *st,
		 struct err *err)
{
	struct scan s;
	struct stat sb;
	double last = 0;
	size_t i;
	int fd, rc = -1;

	memset(st, 0, sizeof(*st));
	memset(&s, 0, sizeof(s));
	s.c = c;
	s.o = o;
	s.st = st;
	s.roots = calloc(o->ndirs ? o->ndirs : 1, sizeof(*s.roots));
	if (!s.roots)
		return err_code(err, 1, "out of memory");
	for (i = 0; i < o->ndirs; i++) {
		s.roots[i] = realpath(o->dirs[i], NULL);
		if (!s.roots[i] || stat(s.roots[i], &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			err_code(err, 2, "%s: %s", o->dirs[i],
				 s.roots[i] ? "not a directory" : strerror(errno));
			s.nroots = i + 1;
			goto out;
		}
		s.nroots = i + 1;
	}
	s.known = g_hash_table_new(g_str_hash, g_str_equal);
	s.walked = g_hash_table_new(g_str_hash, g_str_equal);
	pthread_mutex_lock(&c->lock);
	if (load_known(&s, err) < 0)
		goto unlock;
	for (i = 0; i < s.nroots; i++) {
		fd = open(s.roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			err_code(err, 1, "%s: %s", o->dirs[i], strerror(errno));
			goto unlock;
		}
		if (walk(&s, fd, s.roots[i], 0, err) < 0)
			goto unlock;
	}
	st->files = (long long)s.nfiles;
	for (i = 0; i < s.nfiles; i++) {
		if (index_file(&s, &s.files[i], err) < 0)
			goto unlock;
		if (now_ms() - last >= PROGRESS_MS || i + 1 == s.nfiles) {
			ev_steps(o->sink, (long)i + 1, (long)s.nfiles, NULL);
			last = now_ms();
		}
	}
	if (mark_missing(&s, err) < 0)
		goto unlock;
	if (s.in_tx) {
		s.in_tx = 0;
		if (cat_commit(c, err) < 0)
			goto unlock;
	}
	rc = 0;
unlock:
	if (s.in_tx) {
		/* what was written so far stays: the next run goes on from there */
		s.in_tx = 0;
		if (rc < 0)
			cat_commit(c, NULL);
	}
	pthread_mutex_unlock(&c->lock);
out:
	scan_release(&s);
	return rc;
}

/* ---- rebuild ------------------------------------------------------------------------------ */

/* What the old catalog knew that the files do not carry. */
static int read_user_data(struct catalog *old, json_t **out, struct err *err)
{
	sqlite3_stmt *st = NULL;
	json_t *a = json_array();
	int step;

	*out = NULL;
	if (!a)
		return err_code(err, 1, "out of memory");
	if (sqlite3_prepare_v2(old->db,
			       "SELECT path, sha256, tags, rating, synced, storage_path, missing"
			       " FROM images",
			       -1, &st, NULL) != SQLITE_OK) {
		json_decref(a);
		return cat_fail(old, err, "read");
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sp = (const char *)sqlite3_column_text(st, 5);

		json_array_append_new(
			a, json_pack("{s:s, s:s?, s:s, s:i, s:b, s:s?, s:b}", "path",
				     (const char *)sqlite3_column_text(st, 0), "sha256",
				     (const char *)sqlite3_column_text(st, 1), "tags",
				     (const char *)sqlite3_column_text(st, 2), "rating",
				     sqlite3_column_int(st, 3), "synced", sqlite3_column_int(st, 4),
				     "storage_path", sp, "missing", sqlite3_column_int(st, 6)));
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE) {
		json_decref(a);
		return cat_fail(old, err, "read");
	}
	*out = a;
	return 0;
}

/* Give a row of the new catalog what the old one knew: by path, else by sha256. */
static int restore_one(struct catalog *c, const json_t *u, struct err *err)
{
	sqlite3_stmt *st = NULL;
	const char *path = json_string_value(json_object_get(u, "path"));
	const char *sha = json_string_value(json_object_get(u, "sha256"));
	const char *tags = json_string_value(json_object_get(u, "tags"));
	const char *sp = json_string_value(json_object_get(u, "storage_path"));
	char *abs = NULL, *dup, *tok, *save = NULL;
	const char *one[1];
	int step, rc = 0;

	if (sqlite3_prepare_v2(c->db,
			       "SELECT path FROM images WHERE path = ?1 UNION ALL"
			       " SELECT path FROM images WHERE sha256 = ?2 LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return cat_fail(c, err, "read");
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		abs = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (step != SQLITE_ROW)
		return step == SQLITE_DONE ? 0 : cat_fail(c, err, "read");
	if (!abs)
		return err_code(err, 1, "out of memory");
	dup = strdup(tags ? tags : "");
	for (tok = dup ? strtok_r(dup, " ", &save) : NULL; tok && rc == 0;
	     tok = strtok_r(NULL, " ", &save)) {
		one[0] = tok;
		rc = catalog_tag(c, abs, one, 1, NULL, 0, err);
	}
	free(dup);
	if (rc == 0 && json_integer_value(json_object_get(u, "rating")))
		rc = catalog_rate(c, abs, (int)json_integer_value(json_object_get(u, "rating")),
				  err);
	if (rc == 0 && json_is_true(json_object_get(u, "synced")) && sp) {
		/* the bucket holds the bytes the old row had: still true only if unchanged */
		json_t *row = NULL;
		const char *now;

		rc = catalog_get(&row, c, abs, err);
		now = json_string_value(json_object_get(row, "sha256"));
		if (rc == 0 && sha && now && !strcmp(sha, now))
			rc = catalog_set_synced(c, abs, sp, err);
		json_decref(row);
	}
	free(abs);
	return rc;
}

static int keep_aside(const char *path, const char *suffix, char **kept, struct err *err)
{
	static const char *const parts[] = { "", "-wal", "-shm" };
	char from[4096], to[4096];
	size_t i;

	for (i = 0; i < 3; i++) {
		snprintf(from, sizeof(from), "%s%s", path, parts[i]);
		snprintf(to, sizeof(to), "%s%s%s", path, suffix, parts[i]);
		if (suffix) {
			if (rename(from, to) < 0 && errno != ENOENT)
				return err_code(err, 1, "cannot move %s aside: %s", from,
						strerror(errno));
		} else if (unlink(from) < 0 && errno != ENOENT) {
			return err_code(err, 1, "cannot remove %s: %s", from, strerror(errno));
		}
	}
	if (suffix && kept && asprintf(kept, "%s%s", path, suffix) < 0)
		*kept = NULL;
	return 0;
}

int catalog_rebuild(struct catalog **out, const char *path, const struct scan_opts *o,
		    struct scan_stats *st, char **kept, struct err *err)
{
	struct catalog *old = NULL, *c = NULL;
	struct err oerr = ERR_INIT, ferr = ERR_INIT;
	json_t *user = NULL, *u;
	char tmp[4096];
	size_t i;

	*out = NULL;
	*kept = NULL;
	memset(st, 0, sizeof(*st));
	if (access(path, F_OK) == 0 && catalog_open(&old, path, 0, &oerr) == 0 &&
	    read_user_data(old, &user, &oerr) < 0) {
		json_decref(user);
		user = NULL;
	}
	catalog_close(old); /* the last connection: the WAL is folded into the file */
	/* build beside it, then swap: a failure leaves the old catalog where it was */
	snprintf(tmp, sizeof(tmp), "%s.rebuild", path);
	if (keep_aside(tmp, NULL, NULL, err) < 0 || catalog_open(&c, tmp, 1, err) < 0)
		goto fail;
	if (catalog_scan(c, o, st, err) < 0)
		goto fail;
	/* the images the old catalog knew outside the dirs */
	json_array_foreach (user, i, u) {
		const char *p = json_string_value(json_object_get(u, "path"));
		json_t *row = NULL;
		struct catalog_file f;
		struct stat sb;

		if (catalog_get(&row, c, p, err) < 0)
			goto fail;
		if (row || lstat(p, &sb) < 0 || !S_ISREG(sb.st_mode)) {
			json_decref(row);
			continue;
		}
		if (catalog_read_file(&f, p, NULL, &ferr) < 0) {
			st->unreadable++;
			ev_log(o->sink, EV_WARN, "index", "%s", ferr.msg);
			continue;
		}
		st->files++;
		st->added++;
		if (catalog_put(c, &f, err) < 0) {
			catalog_file_release(&f);
			goto fail;
		}
		catalog_file_release(&f);
	}
	json_array_foreach (user, i, u)
		if (restore_one(c, u, err) < 0)
			goto fail;
	catalog_close(c);
	c = NULL;
	if (keep_aside(path, user || access(path, F_OK) < 0 ? NULL : ".damaged", kept, err) < 0)
		goto fail;
	if (rename(tmp, path) < 0) {
		err_code(err, 1, "cannot move %s to %s: %s", tmp, path, strerror(errno));
		goto fail;
	}
	snprintf(tmp, sizeof(tmp), "%s.rebuild-wal", path);
	unlink(tmp);
	snprintf(tmp, sizeof(tmp), "%s.rebuild-shm", path);
	unlink(tmp);
	json_decref(user);
	return catalog_open(out, path, 0, err);
fail:
	catalog_close(c);
	json_decref(user);
	return -1;
}
