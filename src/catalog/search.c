/* search.c - running queries over the catalog: search, stats, the list of tags. */
#include "catalog/catalog_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/file.h"
#include "util/sha256.h"

const char *const catalog_sorts[] = {
	"date", "oldest", "seed", "rating", "cost", "path", "relevance", NULL,
};

static const char *const sort_sql[] = {
	"images.created_ts DESC, images.id DESC",
	"images.created_ts ASC, images.id ASC",
	"images.seed ASC, images.created_ts DESC",
	"images.rating DESC, images.created_ts DESC",
	"IFNULL(images.cost_usd, 0) DESC, images.created_ts DESC",
	"images.path ASC",
	"images_fts.rank, images.created_ts DESC",
};

/* Bind the compiled query's values from index first on. */
static int bind_params(sqlite3_stmt *st, const struct q_sql *qs, int first)
{
	size_t i;
	int rc = SQLITE_OK;

	if (qs->fts)
		rc = sqlite3_bind_text(st, first++, qs->fts, -1, SQLITE_STATIC);
	for (i = 0; rc == SQLITE_OK && i < qs->nparams; i++) {
		const struct q_param *p = &qs->params[i];
		int at = first + (int)i;

		rc = p->type == 'i'   ? sqlite3_bind_int64(st, at, p->i)
		     : p->type == 'd' ? sqlite3_bind_double(st, at, p->d)
				      : sqlite3_bind_text(st, at, p->s, -1, SQLITE_STATIC);
	}
	return rc;
}

/* "FROM ... WHERE ..." for a compiled query: the full-text table drives when there are
 * words (it finds the few rows that have them), the images table otherwise. */
static int from_where(struct buf *b, const struct q_sql *qs)
{
	if (qs->fts)
		return buf_addf(b,
				" FROM images_fts JOIN images ON images.id = images_fts.rowid"
				" WHERE images_fts MATCH ? AND (%s)",
				qs->where);
	return buf_addf(b, " FROM images WHERE %s", qs->where);
}

int catalog_search(struct catalog *c, const struct catalog_search *s,
		   int (*fn)(const json_t *rec, void *arg), void *arg, struct err *err)
{
	struct q_sql qs;
	struct buf sql = BUF_INIT;
	sqlite3_stmt *st = NULL;
	struct query empty = { NULL, 0 };
	size_t k = 0;
	int rc = -1, step, stop = 0;

	if (s->sort)
		for (k = 0; catalog_sorts[k] && strcmp(catalog_sorts[k], s->sort); k++)
			;
	if (!catalog_sorts[k])
		return err_code(err, 2, "unknown sort '%s'", s->sort);
	if (query_compile(&qs, s->q ? s->q : &empty, s->now, err) < 0)
		return -1;
	if (!strcmp(catalog_sorts[k], "relevance") && !qs.fts) {
		q_sql_free(&qs);
		return err_code(err, 2, "--sort relevance needs a word to rank by");
	}
	if (buf_addf(&sql, "SELECT %s", cat_row_columns) < 0 || from_where(&sql, &qs) < 0 ||
	    buf_addf(&sql, " ORDER BY %s", sort_sql[k]) < 0 ||
	    (s->limit > 0 && buf_addf(&sql, " LIMIT %lld", s->limit) < 0)) {
		err_code(err, 1, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&c->lock);
	if (sqlite3_prepare_v2(c->db, (const char *)sql.data, -1, &st, NULL) != SQLITE_OK ||
	    bind_params(st, &qs, 1) != SQLITE_OK) {
		cat_fail(c, err, "search");
		goto unlock;
	}
	while (!stop && (step = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *rec = cat_row_json(st);

		if (!rec) {
			err_code(err, 1, "out of memory");
			goto unlock;
		}
		stop = fn(rec, arg);
		json_decref(rec);
	}
	if (!stop && step != SQLITE_DONE) {
		cat_fail(c, err, "search");
		goto unlock;
	}
	rc = stop;
unlock:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&c->lock);
out:
	buf_release(&sql);
	q_sql_free(&qs);
	return rc;
}

/* One grouping: rows of {name: value, "images": n, "cost_usd": x} (locked). */
static json_t *group(struct catalog *c, const struct q_sql *qs, const char *name, const char *expr,
		     const char *order, struct err *err)
{
	struct buf sql = BUF_INIT;
	sqlite3_stmt *st = NULL;
	json_t *rows = json_array(), *row;
	int step;

	if (!rows || buf_addf(&sql, "SELECT %s AS g, count(*), sum(images.cost_usd)", expr) < 0 ||
	    from_where(&sql, qs) < 0 || buf_addf(&sql, " GROUP BY g ORDER BY %s", order) < 0) {
		err_code(err, 1, "out of memory");
		goto fail;
	}
	if (sqlite3_prepare_v2(c->db, (const char *)sql.data, -1, &st, NULL) != SQLITE_OK ||
	    bind_params(st, qs, 1) != SQLITE_OK) {
		cat_fail(c, err, "stats");
		goto fail;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *g = (const char *)sqlite3_column_text(st, 0);

		row = json_pack("{s:o, s:I, s:o}", name, g ? json_string(g) : json_null(), "images",
				(json_int_t)sqlite3_column_int64(st, 1), "cost_usd",
				sqlite3_column_type(st, 2) == SQLITE_NULL
					? json_real(0)
					: json_real(sqlite3_column_double(st, 2)));
		if (!row || json_array_append_new(rows, row) < 0) {
			err_code(err, 1, "out of memory");
			goto fail;
		}
	}
	if (step != SQLITE_DONE) {
		cat_fail(c, err, "stats");
		goto fail;
	}
	sqlite3_finalize(st);
	buf_release(&sql);
	return rows;
fail:
	sqlite3_finalize(st);
	buf_release(&sql);
	json_decref(rows);
	return NULL;
}

int catalog_stats(json_t **out, struct catalog *c, const struct query *q, time_t now,
		  const char *period, struct err *err)
{
	struct query empty = { NULL, 0 };
	struct q_sql qs;
	json_t *total = NULL, *backend = NULL, *model = NULL, *when = NULL;
	const json_t *t;
	char key[16];
	int day = period && !strcmp(period, "day");

	*out = NULL;
	if (period && !day && strcmp(period, "month"))
		return err_code(err, 2, "unknown period '%s' (day or month)", period);
	if (query_compile(&qs, q ? q : &empty, now, err) < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	if ((total = group(c, &qs, "all", "1", "g", err)) &&
	    (backend = group(c, &qs, "backend", "images.backend", "count(*) DESC, g", err)) &&
	    (model = group(c, &qs, "model", "images.model", "count(*) DESC, g", err)))
		when = group(c, &qs, day ? "day" : "month",
			     day ? "date(images.created_ts, 'unixepoch', 'localtime')"
				 : "strftime('%Y-%m', images.created_ts, 'unixepoch', 'localtime')",
			     "g", err);
	pthread_mutex_unlock(&c->lock);
	q_sql_free(&qs);
	if (when) {
		t = json_array_get(total, 0);
		snprintf(key, sizeof(key), "by_%s", day ? "day" : "month");
		*out = json_pack("{s:I, s:f, s:O, s:O, s:O}", "images",
				 json_integer_value(json_object_get(t, "images")), "cost_usd",
				 json_real_value(json_object_get(t, "cost_usd")), "by_backend",
				 backend, "by_model", model, key, when);
	}
	json_decref(total);
	json_decref(backend);
	json_decref(model);
	json_decref(when);
	if (!when)
		return -1;
	return *out ? 0 : err_code(err, 1, "out of memory");
}

int catalog_tags(json_t **out, struct catalog *c, struct err *err)
{
	sqlite3_stmt *st = NULL;
	json_t *a = json_array();
	int step, rc = -1;

	*out = NULL;
	if (!a)
		return err_code(err, 1, "out of memory");
	pthread_mutex_lock(&c->lock);
	if (sqlite3_prepare_v2(c->db,
			       "SELECT tag, count(*) FROM image_tags GROUP BY tag ORDER BY tag", -1,
			       &st, NULL) != SQLITE_OK) {
		cat_fail(c, err, "read the tags");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(
			a, json_pack("{s:s, s:I}", "tag", (const char *)sqlite3_column_text(st, 0),
				     "images", (json_int_t)sqlite3_column_int64(st, 1)));
	if (step != SQLITE_DONE) {
		cat_fail(c, err, "read the tags");
		goto out;
	}
	*out = a;
	a = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&c->lock);
	json_decref(a);
	return rc;
}

/* ---- image inputs --------------------------------------------------------------------- */

int catalog_query_resolve(struct query *q, struct err *err)
{
	unsigned char *data = NULL;
	char hex[65], *dup;
	size_t i, len;

	for (i = 0; q && i < q->n; i++) {
		struct q_term *t = &q->terms[i];

		if (t->field != QF_PARENT || !t->text)
			continue;
		if (strlen(t->text) == 64 && strspn(t->text, "0123456789abcdefABCDEF") == 64) {
			for (len = 0; len < 64; len++)
				t->text[len] = (char)(t->text[len] | 0x20); /* lowercase */
			continue;
		}
		if (file_read(&data, &len, t->text, CATALOG_MAX_IMAGE_BYTES, err) < 0) {
			err_prefix(err, "parent:%s", t->text);
			if (err)
				err->code = 2;
			return -1;
		}
		sha256_hex(hex, data, len);
		free(data);
		data = NULL;
		dup = strdup(hex);
		if (!dup)
			return err_code(err, 1, "out of memory");
		free(t->text);
		t->text = dup;
	}
	return 0;
}

/* Run sql with ?1 bound to key: each row's first column (a string) into *out, or with
 * objects set, each row as an object of its columns by name (NULL values null). */
static int rows_json(json_t **out, struct catalog *c, const char *sql, const char *key, int objects,
		     struct err *err)
{
	sqlite3_stmt *st = NULL;
	json_t *a = json_array(), *v;
	int rc, i;

	*out = NULL;
	if (!a)
		return err_code(err, 1, "out of memory");
	pthread_mutex_lock(&c->lock);
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		cat_fail(c, err, "prepare");
		goto fail;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *p = sqlite3_column_text(st, 0);

		if (!objects) {
			v = p ? json_string((const char *)p) : NULL;
		} else {
			v = json_object();
			for (i = 0; v && i < sqlite3_column_count(st); i++) {
				int t = sqlite3_column_type(st, i);
				json_t *x = t == SQLITE_INTEGER
						    ? json_integer(sqlite3_column_int64(st, i))
					    : t == SQLITE_FLOAT
						    ? json_real(sqlite3_column_double(st, i))
					    : t == SQLITE_TEXT
						    ? json_string((const char *)sqlite3_column_text(
							      st, i))
						    : json_null();

				json_object_set_new(v, sqlite3_column_name(st, i), x);
			}
		}
		if (!p)
			continue;
		if (!v || json_array_append_new(a, v) < 0) {
			err_code(err, 1, "out of memory");
			goto fail;
		}
	}
	if (rc != SQLITE_DONE) {
		cat_fail(c, err, "read");
		goto fail;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&c->lock);
	*out = a;
	return 0;
fail:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&c->lock);
	json_decref(a);
	return -1;
}

int catalog_paths_by_sha256(json_t **paths, struct catalog *c, const char *sha256, struct err *err)
{
	return rows_json(paths, c,
			 "SELECT path FROM images WHERE sha256 = ?1 AND missing = 0"
			 " ORDER BY created_ts DESC, id DESC",
			 sha256, 0, err);
}

int catalog_batch_images(json_t **rows, struct catalog *c, const char *batch_id, struct err *err)
{
	return rows_json(rows, c,
			 "SELECT path, job, cost_usd FROM images WHERE batch_id = ?1 AND"
			 " missing = 0 AND job IS NOT NULL ORDER BY job, id",
			 batch_id, 1, err);
}
