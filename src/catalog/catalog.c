/* catalog.c - the catalog file: schema and migrations, opening, the write path, tags,
 * ratings and cloud state. */
#include "catalog/catalog_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/output.h"
#include "util/buf.h"
#include "util/utf8.h"

/* ---- schema ---------------------------------------------------------------------------
 * Each step takes a catalog from version i to i + 1; a new catalog runs them all.  A
 * released step is never edited: a change is a new step. */
static const char *const migrations[CATALOG_SCHEMA_VERSION] = {
	/* 1: one row per image */
	"CREATE TABLE images ("
	" id INTEGER PRIMARY KEY,"
	" path TEXT NOT NULL UNIQUE,"
	" sha256 TEXT, bytes INTEGER, mtime_ns INTEGER,"
	" format TEXT, width INTEGER, height INTEGER,"
	" created_at TEXT, created_ts INTEGER,"
	" prompt TEXT, final_prompt TEXT, negative_prompt TEXT, style TEXT,"
	" backend TEXT, backend_type TEXT, model TEXT,"
	" seed INTEGER, steps INTEGER, sampler TEXT, cfg REAL, cost_usd REAL,"
	" batch_id TEXT, job INTEGER, parent TEXT,"
	" source TEXT NOT NULL DEFAULT 'none',"
	" missing INTEGER NOT NULL DEFAULT 0,"
	" indexed_at INTEGER);"
	"CREATE INDEX images_sha256 ON images(sha256);"
	"CREATE INDEX images_created ON images(created_ts);"
	"CREATE INDEX images_seed ON images(seed);",
	/* 2: tags, rating, cloud state */
	"ALTER TABLE images ADD COLUMN tags TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE images ADD COLUMN rating INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE images ADD COLUMN synced INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE images ADD COLUMN storage_path TEXT;"
	"CREATE TABLE image_tags (image_id INTEGER NOT NULL, tag TEXT NOT NULL COLLATE NOCASE,"
	" PRIMARY KEY (image_id, tag)) WITHOUT ROWID;"
	"CREATE INDEX image_tags_tag ON image_tags(tag);"
	"CREATE TRIGGER images_tags_gone AFTER DELETE ON images BEGIN"
	" DELETE FROM image_tags WHERE image_id = old.id; END;",
	/* 3: full-text search over prompt, negative prompt, model and tags, kept by
	 * triggers; existing rows are indexed by the rebuild */
	"CREATE VIRTUAL TABLE images_fts USING fts5(prompt, negative_prompt, model, tags,"
	" content='images', content_rowid='id', tokenize='unicode61 remove_diacritics 2');"
	"CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN"
	" INSERT INTO images_fts(rowid, prompt, negative_prompt, model, tags)"
	" VALUES (new.id, new.prompt, new.negative_prompt, new.model, new.tags); END;"
	"CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN"
	" INSERT INTO images_fts(images_fts, rowid, prompt, negative_prompt, model, tags)"
	" VALUES ('delete', old.id, old.prompt, old.negative_prompt, old.model, old.tags); END;"
	"CREATE TRIGGER images_fts_update AFTER UPDATE OF prompt, negative_prompt, model, tags"
	" ON images BEGIN"
	" INSERT INTO images_fts(images_fts, rowid, prompt, negative_prompt, model, tags)"
	" VALUES ('delete', old.id, old.prompt, old.negative_prompt, old.model, old.tags);"
	" INSERT INTO images_fts(rowid, prompt, negative_prompt, model, tags)"
	" VALUES (new.id, new.prompt, new.negative_prompt, new.model, new.tags); END;"
	"INSERT INTO images_fts(images_fts) VALUES ('rebuild');",
	/* 4: the inputs an image was made from (img2img, edits, inpainting), by hash, for
	 * parent:FILE; rows indexed before it gain theirs when re-read (index --rebuild) */
	"CREATE TABLE image_inputs (image_id INTEGER NOT NULL, idx INTEGER NOT NULL,"
	" role TEXT NOT NULL, sha256 TEXT NOT NULL, path TEXT,"
	" PRIMARY KEY (image_id, idx)) WITHOUT ROWID;"
	"CREATE INDEX image_inputs_sha256 ON image_inputs(sha256);"
	"CREATE TRIGGER images_inputs_gone AFTER DELETE ON images BEGIN"
	" DELETE FROM image_inputs WHERE image_id = old.id; END;",
};

int catalog_default_path(char **out, const struct env *vars, struct err *err)
{
	const char *env = env_get(vars, "IMAGEN_CATALOG"), *data = env_get(vars, "XDG_DATA_HOME");
	const char *home = env_get(vars, "HOME");
	int n;

	*out = NULL;
	if (env && *env)
		n = asprintf(out, "%s", env);
	else if (data && *data == '/')
		n = asprintf(out, "%s/imagen/catalog.db", data);
	else if (home && *home)
		n = asprintf(out, "%s/.local/share/imagen/catalog.db", home);
	else
		return err_code(err, 1,
				"catalog: none of IMAGEN_CATALOG, XDG_DATA_HOME or HOME "
				"is set");
	if (n < 0) {
		*out = NULL;
		return err_code(err, 1, "out of memory");
	}
	return 0;
}

int cat_fail(struct catalog *c, struct err *err, const char *what)
{
	int rc = sqlite3_errcode(c->db) & 0xff;

	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
		return err_code(err, 1,
				"%s is damaged (%s); imagen index --rebuild makes a new catalog "
				"from the images on disk",
				c->path, sqlite3_errmsg(c->db));
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return err_code(err, 1, "%s: %s: another imagen kept it busy for over %d s",
				c->path, what, CATALOG_BUSY_MS / 1000);
	return err_code(err, 1, "%s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
}

int cat_exec(struct catalog *c, const char *sql, struct err *err)
{
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return cat_fail(c, err, "update");
	return 0;
}

int cat_begin(struct catalog *c, struct err *err)
{
	/* IMMEDIATE takes the write lock now, waiting for it through the busy timeout: a
	 * transaction that starts as a reader and upgrades could fail at once instead */
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return cat_fail(c, err, "begin");
	return 0;
}

int cat_commit(struct catalog *c, struct err *err)
{
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		cat_fail(c, err, "commit");
		cat_rollback(c);
		return -1;
	}
	return 0;
}

void cat_rollback(struct catalog *c)
{
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static int user_version(struct catalog *c, int *v, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return cat_fail(c, err, "read the schema version");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return cat_fail(c, err, "read the schema version");
	}
	*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/* Whether a version-0 file holds anything (then it is some other program's database). */
static int has_tables(struct catalog *c, int *yes, struct err *err)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return cat_fail(c, err, "read the schema");
	}
	*yes = sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	return 0;
}

/* Two processes opening a new file at once: the switch to WAL needs a lock SQLite will
 * not wait for through the busy handler (waiting there could deadlock), so it answers
 * SQLITE_BUSY at once.  Wait here instead, as long as the busy timeout would. */
static int set_wal(struct catalog *c)
{
	int rc, waited;

	for (waited = 0;; waited += 5) {
		rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited >= CATALOG_BUSY_MS)
			return rc;
		sqlite3_sleep(5);
	}
}

static int migrate(struct catalog *c, int target, struct err *err)
{
	char pragma[64];
	int v, tables = 0;

	/* WAL lets readers run beside the one writer; it is a property of the file, set
	 * once, before the first transaction */
	if (set_wal(c) != SQLITE_OK)
		return cat_fail(c, err, "switch to WAL mode");
	if (cat_begin(c, err) < 0)
		return -1;
	/* again under the write lock: another process may have migrated meanwhile */
	if (user_version(c, &v, err) < 0)
		goto fail;
	if (v == 0) {
		if (has_tables(c, &tables, err) < 0)
			goto fail;
		if (tables) {
			err_code(err, 1, "%s is an SQLite database but not an imagen catalog",
				 c->path);
			goto fail;
		}
	}
	for (; v < target; v++) {
		if (sqlite3_exec(c->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			char what[64];

			snprintf(what, sizeof(what), "migrate the schema to version %d", v + 1);
			cat_fail(c, err, what);
			goto fail;
		}
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", target);
	if (cat_exec(c, pragma, err) < 0 || cat_commit(c, err) < 0)
		goto fail;
	return 0;
fail:
	cat_rollback(c);
	return -1;
}

/* catalog_open() with a target version: tests make older catalogs through it. */
int catalog_open_at(struct catalog **out, const char *path, int create, int target,
		    struct err *err);

int catalog_open_at(struct catalog **out, const char *path, int create, int target, struct err *err)
{
	struct catalog *c;
	char *dir = NULL, *slash;
	int v;

	*out = NULL;
	if (!create && access(path, F_OK) < 0)
		return err_code(err, 1, "no catalog yet at %s (imagen index makes one)", path);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		return err_code(err, 1, "out of memory");
	}
	pthread_mutex_init(&c->lock, NULL);
	if (create && (slash = strrchr(path, '/')) && slash != path) {
		dir = strndup(path, (size_t)(slash - path));
		if (!dir || output_mkdirs(dir, err) < 0) {
			if (!dir)
				err_set(err, "out of memory");
			err_prefix(err, "catalog");
			err->code = 1;
			free(dir);
			catalog_close(c);
			return -1;
		}
		free(dir);
	}
	/* NOMUTEX: the handle's own lock serialises its users */
	if (sqlite3_open_v2(path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
				    (create ? SQLITE_OPEN_CREATE : 0),
			    NULL) != SQLITE_OK) {
		if (c->db)
			cat_fail(c, err, "open");
		else
			err_code(err, 1, "%s: cannot open: out of memory", path);
		catalog_close(c);
		return -1;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, CATALOG_BUSY_MS);
	if (user_version(c, &v, err) < 0)
		goto fail;
	if (v > CATALOG_SCHEMA_VERSION) {
		err_code(err, 1,
			 "%s was written by a newer imagen (schema %d; this one knows up to %d)",
			 path, v, CATALOG_SCHEMA_VERSION);
		goto fail;
	}
	if (v < target && migrate(c, target, err) < 0)
		goto fail;
	/* with WAL, NORMAL syncs at checkpoints only: a crash may lose the last rows, never
	 * the file, and `imagen index` brings them back */
	if (cat_exec(c, "PRAGMA synchronous=NORMAL", err) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	catalog_close(c);
	return -1;
}

int catalog_open(struct catalog **out, const char *path, int create, struct err *err)
{
	return catalog_open_at(out, path, create, CATALOG_SCHEMA_VERSION, err);
}

void catalog_close(struct catalog *c)
{
	if (!c)
		return;
	sqlite3_finalize(c->put);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->lock);
	free(c->path);
	free(c);
}

const char *catalog_file(const struct catalog *c)
{
	return c->path;
}

void catalog_file_release(struct catalog_file *f)
{
	free(f->path);
	json_decref(f->record);
	memset(f, 0, sizeof(*f));
}

/* ---- the write path ------------------------------------------------------------------- */

static const char put_sql[] =
	"INSERT INTO images (path, sha256, bytes, mtime_ns, format, width, height, created_at,"
	" created_ts, prompt, final_prompt, negative_prompt, style, backend, backend_type, model,"
	" seed, steps, sampler, cfg, cost_usd, batch_id, job, parent, source, indexed_at, synced,"
	" storage_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, COALESCE(unixepoch(?8), ?9),"
	" ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26,"
	" ?27, ?28)"
	" ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, bytes = excluded.bytes,"
	" mtime_ns = excluded.mtime_ns, format = excluded.format, width = excluded.width,"
	" height = excluded.height, created_at = excluded.created_at,"
	" created_ts = excluded.created_ts, prompt = excluded.prompt,"
	" final_prompt = excluded.final_prompt, negative_prompt = excluded.negative_prompt,"
	" style = excluded.style, backend = excluded.backend,"
	" backend_type = excluded.backend_type, model = excluded.model, seed = excluded.seed,"
	" steps = excluded.steps, sampler = excluded.sampler, cfg = excluded.cfg,"
	" cost_usd = excluded.cost_usd, batch_id = excluded.batch_id, job = excluded.job,"
	" parent = excluded.parent, source = excluded.source, indexed_at = excluded.indexed_at,"
	" missing = 0,"
	/* the bucket holds the bytes it was given: new bytes are not synced */
	" synced = CASE WHEN excluded.synced THEN 1 WHEN images.sha256 IS excluded.sha256"
	" THEN images.synced ELSE 0 END,"
	" storage_path = CASE WHEN excluded.synced THEN excluded.storage_path"
	" WHEN images.sha256 IS excluded.sha256 THEN images.storage_path ELSE NULL END"
	" RETURNING id";

/* A string field of the record, NULL when absent, not a string or empty. */
static const char *rec_str(const json_t *r, const char *key)
{
	const char *s = json_string_value(json_object_get(r, key));

	return s && *s ? s : NULL;
}

static int rec_num(const json_t *r, const char *key, double *out)
{
	const json_t *v = json_object_get(r, key);

	if (!json_is_number(v))
		return 0;
	*out = json_number_value(v);
	return 1;
}

/* Bind text that must be valid UTF-8 in the catalog: anything else (a broken iTXt chunk)
 * has its bad bytes replaced by U+FFFD. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	struct buf b = BUF_INIT;
	size_t n, k = 0, bad;
	uint32_t cp;

	if (!s)
		return sqlite3_bind_null(st, i);
	n = strlen(s);
	if (utf8_valid((const unsigned char *)s, n, &bad))
		return sqlite3_bind_text(st, i, s, (int)(n > INT_MAX ? INT_MAX : n),
					 SQLITE_TRANSIENT);
	while (k < n) {
		size_t at = k;

		if (utf8_next((const unsigned char *)s, n, &k, &cp) == 0)
			buf_add(&b, s + at, k - at);
		else {
			buf_adds(&b, "\xef\xbf\xbd");
			k = at + 1;
		}
	}
	i = sqlite3_bind_text(st, i, b.data ? (const char *)b.data : "", -1, SQLITE_TRANSIENT);
	buf_release(&b);
	return i;
}

static void bind_int_field(sqlite3_stmt *st, int i, const json_t *r, const char *key)
{
	const json_t *v = json_object_get(r, key);

	if (json_is_integer(v))
		sqlite3_bind_int64(st, i, json_integer_value(v));
	else
		sqlite3_bind_null(st, i);
}

/* created_at for a file that carries none: its modification time, local, ISO 8601. */
static void mtime_iso(char out[40], long long mtime_ns)
{
	time_t t = (time_t)(mtime_ns / 1000000000);
	struct tm tm;
	char z[8];

	localtime_r(&t, &tm);
	strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(z, sizeof(z), "%z", &tm); /* +0100 -> +01:00 */
	if (strlen(z) == 5)
		snprintf(out + strlen(out), 40 - strlen(out), "%.3s:%s", z, z + 3);
}

/* A recorded input's sha256 when it is 64 hex digits, else NULL. */
static const char *input_sha(const json_t *in)
{
	const char *s = json_string_value(json_object_get(in, "sha256"));

	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64 ? s : NULL;
}

/* The record's parent: its `parent` key, else the sha256 of its first input image. */
static const char *parent_of(const json_t *r)
{
	const json_t *in;
	size_t i;

	if (rec_str(r, "parent"))
		return rec_str(r, "parent");
	json_array_foreach (json_object_get(r, "inputs"), i, in) {
		const char *role = json_string_value(json_object_get(in, "role"));

		if (input_sha(in) && (!role || !strcmp(role, "image")))
			return input_sha(in);
	}
	return NULL;
}

/* The row's inputs (the record's `inputs`: [{role, path, sha256, ...}]) replace those it
 * had. */
static int put_inputs(struct catalog *c, long long id, const json_t *inputs, struct err *err)
{
	static const char del_sql[] = "DELETE FROM image_inputs WHERE image_id = ?1";
	static const char ins_sql[] = "INSERT OR REPLACE INTO image_inputs (image_id, idx, role,"
				      " sha256, path) VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *st = NULL;
	const json_t *in;
	size_t i;
	int rc;

	if (sqlite3_prepare_v2(c->db, del_sql, -1, &st, NULL) != SQLITE_OK)
		return cat_fail(c, err, "prepare");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cat_fail(c, err, "write");
	if (!json_array_size(inputs))
		return 0;
	if (sqlite3_prepare_v2(c->db, ins_sql, -1, &st, NULL) != SQLITE_OK)
		return cat_fail(c, err, "prepare");
	json_array_foreach (inputs, i, in) {
		const char *role = json_string_value(json_object_get(in, "role"));

		if (!input_sha(in))
			continue;
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		bind_text(st, 3, role && *role ? role : "image");
		bind_text(st, 4, input_sha(in));
		bind_text(st, 5, json_string_value(json_object_get(in, "path")));
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return cat_fail(c, err, "write");
		}
	}
	sqlite3_finalize(st);
	return 0;
}

int cat_put_locked(struct catalog *c, const struct catalog_file *f, long long *id, struct err *err)
{
	const json_t *r = f->record, *md = json_object_get(r, "metadata");
	const char *sampler, *batch, *created;
	long long row;
	char iso[40];
	double d;
	int rc;

	if (!c->put && sqlite3_prepare_v3(c->db, put_sql, -1, SQLITE_PREPARE_PERSISTENT, &c->put,
					  NULL) != SQLITE_OK)
		return cat_fail(c, err, "prepare");
	sqlite3_reset(c->put);
	sqlite3_clear_bindings(c->put);
	bind_text(c->put, 1, f->path);
	bind_text(c->put, 2, f->sha256[0] ? f->sha256 : NULL);
	sqlite3_bind_int64(c->put, 3, f->bytes);
	sqlite3_bind_int64(c->put, 4, f->mtime_ns);
	bind_text(c->put, 5, f->format);
	if (f->width > 0 && f->height > 0) {
		sqlite3_bind_int(c->put, 6, f->width);
		sqlite3_bind_int(c->put, 7, f->height);
	} else {
		bind_int_field(c->put, 6, r, "width");
		bind_int_field(c->put, 7, r, "height");
	}
	created = rec_str(r, "created_at");
	if (!created) {
		mtime_iso(iso, f->mtime_ns);
		created = iso;
	}
	bind_text(c->put, 8, created);
	sqlite3_bind_int64(c->put, 9, f->mtime_ns / 1000000000);
	bind_text(c->put, 10, rec_str(r, "prompt"));
	bind_text(c->put, 11, rec_str(r, "final_prompt"));
	bind_text(c->put, 12, rec_str(r, "negative_prompt"));
	bind_text(c->put, 13, rec_str(r, "style"));
	bind_text(c->put, 14, rec_str(r, "backend"));
	bind_text(c->put, 15, rec_str(r, "backend_type"));
	bind_text(c->put, 16, rec_str(r, "model"));
	bind_int_field(c->put, 17, r, "seed");
	bind_int_field(c->put, 18, r, "steps");
	/* adapters keep sampler and cfg in their metadata; other tools' records at the top */
	sampler = rec_str(r, "sampler") ? rec_str(r, "sampler") : rec_str(md, "sampler");
	bind_text(c->put, 19, sampler);
	if (rec_num(r, "cfg", &d) || rec_num(md, "cfg", &d) || rec_num(md, "cfg_scale", &d))
		sqlite3_bind_double(c->put, 20, d);
	if (rec_num(json_object_get(r, "cost"), "usd", &d) || rec_num(r, "cost_usd", &d))
		sqlite3_bind_double(c->put, 21, d);
	batch = rec_str(r, "batch_id") ? rec_str(r, "batch_id") : rec_str(r, "batch");
	bind_text(c->put, 22, batch);
	bind_int_field(c->put, 23, r, "job");
	bind_text(c->put, 24, parent_of(r));
	bind_text(c->put, 25, f->source ? f->source : "none");
	sqlite3_bind_int64(c->put, 26, (sqlite3_int64)time(NULL));
	sqlite3_bind_int(c->put, 27, 0);
	rc = sqlite3_step(c->put);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(c->put);
		return cat_fail(c, err, "write");
	}
	row = sqlite3_column_int64(c->put, 0);
	if (id)
		*id = row;
	sqlite3_reset(c->put);
	return put_inputs(c, row, json_object_get(r, "inputs"), err);
}

/* Run one prepared UPDATE/INSERT/DELETE with text parameters; *changes gets the count. */
static int run_text(struct catalog *c, const char *sql, const char *a, const char *b, int *changes,
		    struct err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return cat_fail(c, err, "prepare");
	if (a)
		bind_text(st, 1, a);
	if (b)
		bind_text(st, 2, b);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cat_fail(c, err, "write");
	if (changes)
		*changes = sqlite3_changes(c->db);
	return 0;
}

static const char synced_sql[] = "UPDATE images SET synced = 1, storage_path = ?2 WHERE path = ?1";

int catalog_put(struct catalog *c, const struct catalog_file *f, struct err *err)
{
	int rc = -1;

	pthread_mutex_lock(&c->lock);
	if (cat_begin(c, err) == 0) {
		if (cat_put_locked(c, f, NULL, err) == 0 && cat_commit(c, err) == 0)
			rc = 0;
		else
			cat_rollback(c);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int catalog_add_image(struct catalog *c, const char *path, const json_t *sidecar,
		      const json_t *cloud, struct err *err)
{
	struct catalog_file f;
	const char *status = json_string_value(json_object_get(cloud, "status"));
	const char *storage = json_string_value(json_object_get(cloud, "storage_path"));
	int rc = -1;

	if (catalog_read_file(&f, path, sidecar, err) < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	if (cat_begin(c, err) == 0) {
		if (cat_put_locked(c, &f, NULL, err) == 0 &&
		    (!status || strcmp(status, "synced") || !storage ||
		     run_text(c, synced_sql, f.path, storage, NULL, err) == 0) &&
		    cat_commit(c, err) == 0)
			rc = 0;
		else
			cat_rollback(c);
	}
	pthread_mutex_unlock(&c->lock);
	catalog_file_release(&f);
	return rc;
}

/* ---- reading rows ----------------------------------------------------------------------- */

const char cat_row_columns[] =
	"images.path, images.prompt, images.final_prompt, images.negative_prompt, images.style,"
	" images.backend, images.backend_type, images.model, images.seed, images.width,"
	" images.height, images.steps, images.sampler, images.cfg, images.created_at,"
	" images.cost_usd, images.format, images.bytes, images.sha256, images.source,"
	" images.batch_id, images.job, images.parent, images.tags, images.rating, images.synced,"
	" images.storage_path, images.missing, images.created_ts";

/* The record's keys for cat_row_columns, in order, and how to read each:
 * s text, i integer, d real, t tags (space-separated), b boolean. */
static const struct {
	const char *key;
	char type;
} row_keys[] = {
	{ "path", 's' },         { "prompt", 's' },
	{ "final_prompt", 's' }, { "negative_prompt", 's' },
	{ "style", 's' },        { "backend", 's' },
	{ "backend_type", 's' }, { "model", 's' },
	{ "seed", 'i' },         { "width", 'i' },
	{ "height", 'i' },       { "steps", 'i' },
	{ "sampler", 's' },      { "cfg", 'd' },
	{ "created_at", 's' },   { "cost_usd", 'd' },
	{ "format", 's' },       { "bytes", 'i' },
	{ "sha256", 's' },       { "source", 's' },
	{ "batch_id", 's' },     { "job", 'i' },
	{ "parent", 's' },       { "tags", 't' },
	{ "rating", 'i' },       { "synced", 'b' },
	{ "storage_path", 's' }, { "missing", 'b' },
	{ "created_ts", 'i' },
};

static json_t *tags_array(const char *s)
{
	json_t *a = json_array();
	const char *sp;

	while (a && s && *s) {
		sp = strchr(s, ' ');
		if (sp != s)
			json_array_append_new(a,
					      json_stringn(s, sp ? (size_t)(sp - s) : strlen(s)));
		s = sp ? sp + 1 : NULL;
	}
	return a;
}

json_t *cat_row_json(sqlite3_stmt *st)
{
	json_t *o = json_object(), *v;
	size_t i;

	for (i = 0; o && i < sizeof(row_keys) / sizeof(row_keys[0]); i++) {
		int col = (int)i, null = sqlite3_column_type(st, col) == SQLITE_NULL;

		switch (row_keys[i].type) {
		case 's':
			v = null ? json_null()
				 : json_stringn((const char *)sqlite3_column_text(st, col),
						(size_t)sqlite3_column_bytes(st, col));
			break;
		case 'i':
			v = null ? json_null() : json_integer(sqlite3_column_int64(st, col));
			break;
		case 'd':
			v = null ? json_null() : json_real(sqlite3_column_double(st, col));
			break;
		case 'b':
			v = json_boolean(sqlite3_column_int(st, col));
			break;
		default:
			v = tags_array((const char *)sqlite3_column_text(st, col));
			break;
		}
		if (json_object_set_new(o, row_keys[i].key, v ? v : json_null()) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int abs_path(char **out, const char *path, struct err *err)
{
	*out = realpath(path, NULL);
	if (!*out)
		return err_code(err, 1, "%s: %s", path, strerror(errno));
	return 0;
}

/* The record of the row at abs (locked). */
static int get_locked(json_t **out, struct catalog *c, const char *abs, struct err *err)
{
	sqlite3_stmt *st = NULL;
	char sql[1024];
	int rc;

	*out = NULL;
	snprintf(sql, sizeof(sql), "SELECT %s FROM images WHERE path = ?", cat_row_columns);
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return cat_fail(c, err, "prepare");
	bind_text(st, 1, abs);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = cat_row_json(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cat_fail(c, err, "read");
	if (rc == SQLITE_ROW && !*out)
		return err_code(err, 1, "out of memory");
	return 0;
}

int catalog_get(json_t **out, struct catalog *c, const char *path, struct err *err)
{
	char *abs = realpath(path, NULL);
	int rc;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	rc = get_locked(out, c, abs ? abs : path, err);
	pthread_mutex_unlock(&c->lock);
	free(abs);
	return rc;
}

/* Whether the row of abs matches the file's size and modification time (locked). */
static int unchanged_locked(struct catalog *c, const char *abs, const struct stat *st, int *same,
			    struct err *err)
{
	sqlite3_stmt *q = NULL;
	int rc;

	*same = 0;
	if (sqlite3_prepare_v2(c->db, "SELECT bytes, mtime_ns, missing FROM images WHERE path = ?",
			       -1, &q, NULL) != SQLITE_OK)
		return cat_fail(c, err, "prepare");
	bind_text(q, 1, abs);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*same = sqlite3_column_int64(q, 0) == (long long)st->st_size &&
			sqlite3_column_int64(q, 1) == (long long)st->st_mtim.tv_sec * 1000000000LL +
							      st->st_mtim.tv_nsec &&
			!sqlite3_column_int(q, 2);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return cat_fail(c, err, "read");
	return 0;
}

int catalog_ensure(struct catalog *c, const char *path, char **abs, struct err *err)
{
	struct catalog_file f;
	struct stat st;
	int rc, same = 0;

	*abs = NULL;
	if (abs_path(abs, path, err) < 0)
		return -1;
	if (stat(*abs, &st) < 0) {
		err_code(err, 1, "%s: %s", path, strerror(errno));
		goto fail;
	}
	pthread_mutex_lock(&c->lock);
	rc = unchanged_locked(c, *abs, &st, &same, err);
	pthread_mutex_unlock(&c->lock);
	if (rc < 0)
		goto fail;
	if (same) /* known and unchanged: nothing to read */
		return 0;
	if (catalog_read_file(&f, *abs, NULL, err) < 0)
		goto fail;
	rc = catalog_put(c, &f, err);
	catalog_file_release(&f);
	if (rc == 0)
		return 0;
fail:
	free(*abs);
	*abs = NULL;
	return -1;
}

/* ---- tags, rating, cloud state ------------------------------------------------------------ */

int catalog_tag_check(const char *name, struct err *err)
{
	size_t n = strlen(name), i;

	if (!n || n > 64)
		return err_code(err, 2, "tag '%.64s': a tag is 1 to 64 bytes long", name);
	if (!utf8_valid((const unsigned char *)name, n, NULL))
		return err_code(err, 2, "a tag must be UTF-8 text");
	if (name[0] == '+' || name[0] == '-')
		return err_code(err, 2, "tag '%s': a tag cannot start with '+' or '-'", name);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch <= ' ' || ch == 0x7f || ch == '"' || ch == ',')
			return err_code(err, 2,
					"tag '%s': no spaces, control characters, quotes or commas "
					"in a tag",
					name);
		/* C1 controls, U+0080..U+009F, are C2 80..C2 9F in UTF-8 */
		if (ch == 0xc2 && i + 1 < n && (unsigned char)name[i + 1] <= 0x9f)
			return err_code(err, 2, "tag: no control characters in a tag");
	}
	return 0;
}

int catalog_tag(struct catalog *c, const char *abs, const char *const *add, size_t nadd,
		const char *const *del, size_t ndel, struct err *err)
{
	size_t i;
	int n, rc = -1;

	for (i = 0; i < nadd; i++)
		if (catalog_tag_check(add[i], err) < 0)
			return -1;
	pthread_mutex_lock(&c->lock);
	if (cat_begin(c, err) < 0)
		goto out;
	if (run_text(c, "UPDATE images SET missing = missing WHERE path = ?1", abs, NULL, &n, err) <
	    0)
		goto fail;
	if (!n) {
		err_code(err, 1, "%s is not in the catalog", abs);
		goto fail;
	}
	for (i = 0; i < nadd; i++)
		if (run_text(c,
			     "INSERT OR IGNORE INTO image_tags (image_id, tag)"
			     " SELECT id, ?2 FROM images WHERE path = ?1",
			     abs, add[i], NULL, err) < 0)
			goto fail;
	for (i = 0; i < ndel; i++)
		if (run_text(c,
			     "DELETE FROM image_tags WHERE tag = ?2 AND image_id ="
			     " (SELECT id FROM images WHERE path = ?1)",
			     abs, del[i], NULL, err) < 0)
			goto fail;
	/* the text copy the full-text index reads */
	if (run_text(c,
		     "UPDATE images SET tags = (SELECT IFNULL(group_concat(tag, ' '), '') FROM"
		     " (SELECT tag FROM image_tags WHERE image_id = images.id ORDER BY tag))"
		     " WHERE path = ?1",
		     abs, NULL, NULL, err) < 0 ||
	    cat_commit(c, err) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	cat_rollback(c);
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static int update_one(struct catalog *c, const char *sql, const char *abs, const char *text,
		      struct err *err)
{
	int n = 0, rc = -1;

	pthread_mutex_lock(&c->lock);
	if (cat_begin(c, err) < 0)
		goto out;
	if (run_text(c, sql, abs, text, &n, err) < 0 || cat_commit(c, err) < 0) {
		cat_rollback(c);
		goto out;
	}
	rc = n ? 0 : err_code(err, 1, "%s is not in the catalog", abs);
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int catalog_rate(struct catalog *c, const char *abs, int rating, struct err *err)
{
	char r[4];

	if (rating < 0 || rating > 5)
		return err_code(err, 2, "a rating is 0 (none) to 5");
	snprintf(r, sizeof(r), "%d", rating);
	return update_one(c, "UPDATE images SET rating = CAST(?2 AS INTEGER) WHERE path = ?1", abs,
			  r, err);
}

int catalog_set_synced(struct catalog *c, const char *abs, const char *storage_path,
		       struct err *err)
{
	return update_one(c, synced_sql, abs, storage_path, err);
}
