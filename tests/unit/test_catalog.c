/* test_catalog.c - the catalog file: the write path, every search filter against a small
 * library, sorting, tags, ratings, cloud state, stats, schema migration, damaged and
 * foreign files, concurrent writers (8 threads, two processes), and `imagen index`
 * (incremental, moved, renamed, deleted files, prune, rebuild). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/scan.h"
#include "core/pngmeta.h"
#include "util/file.h"
#include "util/sha256.h"
#include "testlib.h"

int catalog_open_at(struct catalog **out, const char *path, int create, int target,
		    struct err *err);

#define NOW 1795564800                        /* 2026-11-25 00:00 UTC ... */
#define NOON ((time_t)1795478400 + 12 * 3600) /* 2026-11-24 12:00 UTC */

static char dir[256];

static int setup(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	snprintf(dir, sizeof(dir), "/tmp/imagen-test-catalog.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *path_in(const char *name)
{
	static char p[8][512];
	static int k;

	k = (k + 1) % 8;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

/* A small 8x8 PNG whose pixels depend on salt (so each has its own sha256), with text
 * chunks. */
static void write_png(const char *path, int salt, const struct png_text *texts, size_t ntexts)
{
	unsigned char rgb[8 * 8 * 3], *png = NULL, *full = NULL;
	size_t len = 0, flen = 0, i;
	struct err err = ERR_INIT;

	for (i = 0; i < sizeof(rgb); i++)
		rgb[i] = (unsigned char)(i * 7 + salt * 31);
	assert_int_equal(png_encode_rgb(&png, &len, rgb, 8, 8, &err), 0);
	if (ntexts) {
		assert_int_equal(pngmeta_insert(&full, &flen, png, len, texts, ntexts, &err), 0);
		write_file(path, full, flen);
	} else {
		write_file(path, png, len);
	}
	free(png);
	free(full);
}

static json_t *sidecar(const char *prompt, long long seed, const char *model, const char *backend,
		       const char *type, const char *style, int w, int h, const char *created)
{
	json_t *o = json_pack("{s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:I, s:i, s:i, s:i, s:s, s:{}, "
			      "s:{}}",
			      "prompt", prompt, "final_prompt", prompt, "negative_prompt", "style",
			      style, "backend", backend, "backend_type", type, "model", model,
			      "seed", (json_int_t)seed, "width", w, "height", h, "steps", 4,
			      "created_at", created, "options", "metadata");

	assert_non_null(o);
	return o;
}

/* Write image NAME (PNG with the sidecar in its imagen chunk) and add it through the
 * write path, as generate does. */
static void add_image(struct catalog *c, const char *name, int salt, json_t *side)
{
	struct err err = ERR_INIT;
	char *text = json_dumps(side, JSON_COMPACT);
	struct png_text t[1] = { { (char *)"imagen", text } };

	write_png(path_in(name), salt, t, 1);
	if (catalog_add_image(c, path_in(name), side, NULL, &err) != 0)
		fail_msg("catalog_add_image(%s): %s", name, err.msg);
	free(text);
	json_decref(side);
}

static struct catalog *open_new(const char *name)
{
	struct catalog *c = NULL;
	struct err err = ERR_INIT;

	if (catalog_open(&c, path_in(name), 1, &err) != 0)
		fail_msg("catalog_open: %s", err.msg);
	return c;
}

/* The library the filter tests search. */
static struct catalog *library(void)
{
	struct catalog *c;
	struct err err = ERR_INIT;
	const char *fav[] = { "fav" }, *both[] = { "fav", "draft" };
	json_t *s;

	unlink(path_in("lib.db"));
	c = open_new("lib.db");
	s = sidecar("a red fox in the snow", 42, "flux1-schnell.safetensors", "comfy", "comfyui",
		    "none", 1024, 1024, "2026-11-24T10:00:00+00:00");
	json_object_set_new(s, "negative_prompt", json_string("blurry"));
	json_object_set_new(json_object_get(s, "metadata"), "sampler", json_string("euler"));
	json_object_set_new(json_object_get(s, "metadata"), "cfg", json_real(1.0));
	add_image(c, "img1.png", 1, s);
	s = sidecar("red barn at dusk", 150, "black-forest-labs/flux-schnell", "rep", "replicate",
		    "cinematic", 512, 512, "2026-11-20T10:00:00Z");
	json_object_set_new(s, "cost", json_pack("{s:f, s:s}", "usd", 0.003, "currency", "USD"));
	json_object_set_new(s, "batch_id", json_string("b1"));
	add_image(c, "img2.png", 2, s);
	s = sidecar("a caf\xc3\xa9 in Paris", 7, "gpt-image-1", "oa", "openai", "none", 1024, 768,
		    "2026-10-05T08:00:00+02:00");
	json_object_set_new(s, "cost", json_pack("{s:f}", "usd", 0.04));
	add_image(c, "img3.png", 3, s);
	s = sidecar("fox cub sleeping", 1000, "sdxl", "local", "a1111", "none", 768, 768,
		    "2025-12-31T23:00:00Z");
	json_object_set_new(s, "negative_prompt", json_string("lowres, ugly"));
	json_object_set_new(json_object_get(s, "metadata"), "sampler", json_string("DPM++ 2M"));
	json_object_set_new(json_object_get(s, "metadata"), "cfg_scale", json_real(7));
	add_image(c, "img4.png", 4, s);
	assert_int_equal(catalog_tag(c, path_in("img1.png"), fav, 1, NULL, 0, &err), 0);
	assert_int_equal(catalog_tag(c, path_in("img4.png"), both, 2, NULL, 0, &err), 0);
	assert_int_equal(catalog_rate(c, path_in("img1.png"), 5, &err), 0);
	assert_int_equal(catalog_rate(c, path_in("img2.png"), 3, &err), 0);
	assert_int_equal(catalog_set_synced(c, path_in("img2.png"), "2026-11-20/img2.png", &err),
			 0);
	return c;
}

struct collect {
	char names[256];
	json_t *first;
};

static int collect_row(const json_t *rec, void *arg)
{
	struct collect *co = arg;
	const char *p = json_string_value(json_object_get(rec, "path"));
	const char *base = strrchr(p, '/') + 1;

	/* "img3.png" -> "3" */
	snprintf(co->names + strlen(co->names), sizeof(co->names) - strlen(co->names), "%s%c",
		 co->names[0] ? "," : "", base[3]);
	if (!co->first)
		co->first = json_deep_copy(rec);
	return 0;
}

/* The images (by number, in order) a query finds. */
static const char *found(struct catalog *c, const char *query, const char *sort, long long limit)
{
	static struct collect co;
	struct query q;
	struct err err = ERR_INIT;
	struct catalog_search s = { &q, sort, limit, NOON };

	json_decref(co.first);
	memset(&co, 0, sizeof(co));
	if (query_parse(&q, query, NULL, &err) != 0 || catalog_query_resolve(&q, &err) != 0)
		fail_msg("query '%s': %s", query, err.msg);
	if (catalog_search(c, &s, collect_row, &co, &err) != 0)
		fail_msg("search '%s': %s", query, err.msg);
	query_free(&q);
	return co.names;
}

#define expect_found(c, query, want) assert_string_equal(found(c, query, NULL, 0), want)

static void test_write_path_record(void **state)
{
	struct catalog *c = library();
	struct err err = ERR_INIT;
	json_t *r = NULL;

	(void)state;
	assert_int_equal(catalog_get(&r, c, path_in("img1.png"), &err), 0);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "prompt")),
			    "a red fox in the snow");
	assert_string_equal(json_string_value(json_object_get(r, "negative_prompt")), "blurry");
	assert_string_equal(json_string_value(json_object_get(r, "model")),
			    "flux1-schnell.safetensors");
	assert_int_equal(json_integer_value(json_object_get(r, "seed")), 42);
	assert_string_equal(json_string_value(json_object_get(r, "sampler")), "euler");
	assert_true(json_real_value(json_object_get(r, "cfg")) == 1.0);
	assert_string_equal(json_string_value(json_object_get(r, "format")), "png");
	/* dimensions from the file's own header win over the record */
	assert_int_equal(json_integer_value(json_object_get(r, "width")), 8);
	assert_int_equal(json_integer_value(json_object_get(r, "created_ts")), 1795514400);
	assert_string_equal(json_string_value(json_object_get(r, "source")), "imagen");
	assert_int_equal(strlen(json_string_value(json_object_get(r, "sha256"))), 64);
	assert_true(json_is_null(json_object_get(r, "cost_usd")));
	assert_int_equal(json_integer_value(json_object_get(r, "rating")), 5);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "tags"), 0)),
			    "fav");
	assert_false(json_is_true(json_object_get(r, "synced")));
	json_decref(r);
	assert_int_equal(catalog_get(&r, c, path_in("img2.png"), &err), 0);
	assert_true(json_real_value(json_object_get(r, "cost_usd")) == 0.003);
	assert_true(json_is_true(json_object_get(r, "synced")));
	assert_string_equal(json_string_value(json_object_get(r, "storage_path")),
			    "2026-11-20/img2.png");
	assert_string_equal(json_string_value(json_object_get(r, "batch_id")), "b1");
	json_decref(r);
	assert_int_equal(catalog_get(&r, c, path_in("nope.png"), &err), 0);
	assert_null(r);
	catalog_close(c);
}

static void test_every_filter(void **state)
{
	struct catalog *c = library();
	struct scan_opts o = { NULL, 0, 0, NULL };
	struct scan_stats st;
	struct err err = ERR_INIT;
	char q[128];
	json_t *r = NULL;
	const char *d = dir;

	(void)state;
	/* newest first by default */
	expect_found(c, "", "1,2,3,4");
	expect_found(c, "red", "1,2");
	expect_found(c, "red fox", "1");
	expect_found(c, "fox", "1,4");
	expect_found(c, "fox*", "1,4");
	expect_found(c, "fo*", "1,2,4"); /* black-forest-labs: the model's words count */
	expect_found(c, "\"red fox\"", "1");
	expect_found(c, "\"fox red\"", "");
	expect_found(c, "red -fox", "2");
	expect_found(c, "cafe", "3"); /* diacritics removed */
	expect_found(c, "CAF\xc3\x89", "3");
	expect_found(c, "flux*", "1,2"); /* words match the model too */
	expect_found(c, "fav", "1,4");   /* ... and the tags */
	expect_found(c, "seed:42", "1");
	expect_found(c, "seed:100..200", "2");
	expect_found(c, "seed:100..", "2,4");
	expect_found(c, "seed:..42", "1,3");
	expect_found(c, "seed>42", "2,4");
	expect_found(c, "model:flux*", "1,2"); /* black-forest-labs/flux-schnell too */
	expect_found(c, "model:FLUX1*", "1");
	expect_found(c, "model:gpt-image-?", "3");
	expect_found(c, "-model:flux*", "3,4");
	expect_found(c, "backend:comfy", "1");
	expect_found(c, "backend:com", "");
	expect_found(c, "type:openai", "3");
	expect_found(c, "style:cinematic", "2");
	expect_found(c, "sampler:dpm*", "4");
	expect_found(c, "cfg>=5", "4");
	expect_found(c, "steps:4", "1,2,3,4");
	expect_found(c, "size:8x8", "1,2,3,4");
	expect_found(c, "size:1024x768", "");
	expect_found(c, "width>=8 height<9", "1,2,3,4");
	expect_found(c, "width>8", "");
	expect_found(c, "since:2026-11-01", "1,2");
	expect_found(c, "before:2026-01-01", "4");
	expect_found(c, "before:2026", "4");
	expect_found(c, "date:2026-10", "3");
	expect_found(c, "date:2026-11-24", "1");
	expect_found(c, "date:2026-11-24T10:00", "1");
	expect_found(c, "today", "1");
	expect_found(c, "-today", "2,3,4");
	expect_found(c, "since:7d", "1,2");
	expect_found(c, "since:yesterday", "1");
	expect_found(c, "cost>0.02", "3");
	expect_found(c, "cost>0", "2,3");
	expect_found(c, "cost:0", "1,4"); /* no cost record: nothing was billed */
	expect_found(c, "cost:0.001..0.01", "2");
	expect_found(c, "rating>=4", "1");
	expect_found(c, "rating:0", "3,4");
	expect_found(c, "tag:fav", "1,4");
	expect_found(c, "tag:FAV", "1,4");
	expect_found(c, "tag:dr*", "4");
	expect_found(c, "-tag:draft", "1,2,3");
	expect_found(c, "synced:no", "1,3,4");
	expect_found(c, "synced:yes", "2");
	expect_found(c, "neg:blurry", "1");
	expect_found(c, "neg:lowres", "4");
	expect_found(c, "neg:low*", "4");
	expect_found(c, "-neg:blurry", "2,3,4");
	expect_found(c, "blurry", ""); /* free words are not looked for in the negative */
	expect_found(c, "source:imagen", "1,2,3,4");
	expect_found(c, "source:a1111", "");
	expect_found(c, "format:png", "1,2,3,4");
	expect_found(c, "format:jpg", "");
	expect_found(c, "path:*img3*", "3");
	expect_found(c, "batch:b1", "2");
	expect_found(c, "red seed:1..1000 since:2026-11-01 model:flux*", "1,2");
	assert_int_equal(catalog_get(&r, c, path_in("img4.png"), &err), 0);
	snprintf(q, sizeof(q), "sha256:%.12s*", json_string_value(json_object_get(r, "sha256")));
	json_decref(r);
	expect_found(c, q, "4");
	/* missing: the file is deleted, then index looks */
	expect_found(c, "missing:yes", "");
	assert_int_equal(unlink(path_in("img3.png")), 0);
	o.dirs = &d;
	o.ndirs = 1;
	assert_int_equal(catalog_scan(c, &o, &st, &err), 0);
	assert_int_equal(st.missing, 1);
	expect_found(c, "missing:yes", "3");
	expect_found(c, "missing:no", "1,2,4");
	catalog_close(c);
}

static void test_sort_and_limit(void **state)
{
	struct catalog *c = library();
	struct query q = { NULL, 0 };
	struct catalog_search s = { &q, "relevance", 0, NOON };
	struct collect co;
	struct err err = ERR_INIT;

	(void)state;
	assert_string_equal(found(c, "", "oldest", 0), "4,3,2,1");
	assert_string_equal(found(c, "", "seed", 0), "3,1,2,4");
	assert_string_equal(found(c, "", "rating", 0), "1,2,3,4");
	assert_string_equal(found(c, "", "cost", 0), "3,2,1,4");
	assert_string_equal(found(c, "", "path", 0), "1,2,3,4");
	assert_string_equal(found(c, "", "date", 2), "1,2");
	assert_string_equal(found(c, "fox", "relevance", 0), "4,1");
	/* relevance needs a word */
	memset(&co, 0, sizeof(co));
	assert_int_equal(catalog_search(c, &s, collect_row, &co, &err), -1);
	assert_int_equal(err.code, 2);
	assert_non_null(strstr(err.msg, "needs a word"));
	s.sort = "size";
	assert_int_equal(catalog_search(c, &s, collect_row, &co, &err), -1);
	assert_string_equal(err.msg, "unknown sort 'size'");
	catalog_close(c);
}

static void test_tags_rating_sync(void **state)
{
	struct catalog *c = library();
	struct err err = ERR_INIT;
	const char *add[] = { "night", "Fav" }, *del[] = { "fav", "nothere" }, *bad[] = { "a b" };
	json_t *r = NULL, *tags = NULL;

	(void)state;
	/* adding one it has (in another case) is no change; removing one it lacks is fine */
	assert_int_equal(catalog_tag(c, path_in("img1.png"), add, 2, NULL, 0, &err), 0);
	assert_int_equal(catalog_get(&r, c, path_in("img1.png"), &err), 0);
	assert_int_equal(json_array_size(json_object_get(r, "tags")), 2);
	json_decref(r);
	expect_found(c, "night", "1");
	expect_found(c, "tag:night", "1");
	assert_int_equal(catalog_tag(c, path_in("img1.png"), NULL, 0, del, 2, &err), 0);
	expect_found(c, "tag:fav", "4");
	expect_found(c, "fav", "4"); /* the full-text copy follows */
	assert_int_equal(catalog_tag(c, path_in("img1.png"), bad, 1, NULL, 0, &err), -1);
	assert_int_equal(err.code, 2);
	assert_int_equal(catalog_tag(c, path_in("zzz.png"), add, 1, NULL, 0, &err), -1);
	assert_non_null(strstr(err.msg, "is not in the catalog"));
	assert_int_equal(catalog_tag_check("-x", &err), -1);
	assert_int_equal(catalog_tag_check("+x", &err), -1);
	assert_int_equal(catalog_tag_check("a,b", &err), -1);
	assert_int_equal(catalog_tag_check("a\"b", &err), -1);
	assert_int_equal(catalog_tag_check("a\x1b", &err), -1);
	assert_int_equal(catalog_tag_check("", &err), -1);
	assert_int_equal(catalog_tag_check("caf\xc3\xa9-2026", &err), 0);
	assert_int_equal(catalog_tags(&tags, c, &err), 0);
	assert_int_equal(json_array_size(tags), 3); /* draft, fav, night */
	assert_string_equal(json_string_value(json_object_get(json_array_get(tags, 1), "tag")),
			    "fav");
	json_decref(tags);

	assert_int_equal(catalog_rate(c, path_in("img3.png"), 4, &err), 0);
	expect_found(c, "rating>=4", "1,3");
	assert_int_equal(catalog_rate(c, path_in("img3.png"), 6, &err), -1);
	assert_int_equal(catalog_rate(c, path_in("img3.png"), 0, &err), 0);
	expect_found(c, "rating>=4", "1");

	assert_int_equal(catalog_set_synced(c, path_in("img4.png"), "2025-12-31/img4.png", &err),
			 0);
	expect_found(c, "synced:no", "1,3");
	/* new bytes under the same path are not what the bucket holds */
	add_image(c, "img4.png", 44,
		  sidecar("fox cub sleeping", 1000, "sdxl", "local", "a1111", "none", 1, 1,
			  "2025-12-31T23:00:00Z"));
	expect_found(c, "synced:no", "1,3,4");
	expect_found(c, "tag:draft", "4"); /* tags stay with the row */
	catalog_close(c);
}

static void test_stats(void **state)
{
	struct catalog *c = library();
	struct err err = ERR_INIT;
	struct query q;
	json_t *s = NULL, *row;

	(void)state;
	assert_int_equal(catalog_stats(&s, c, NULL, NOON, "month", &err), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "images")), 4);
	assert_true(json_real_value(json_object_get(s, "cost_usd")) > 0.0429 &&
		    json_real_value(json_object_get(s, "cost_usd")) < 0.0431);
	assert_int_equal(json_array_size(json_object_get(s, "by_backend")), 4);
	row = json_array_get(json_object_get(s, "by_month"), 0);
	assert_string_equal(json_string_value(json_object_get(row, "month")), "2025-12");
	row = json_array_get(json_object_get(s, "by_month"), 2);
	assert_string_equal(json_string_value(json_object_get(row, "month")), "2026-11");
	assert_int_equal(json_integer_value(json_object_get(row, "images")), 2);
	json_decref(s);
	assert_int_equal(query_parse(&q, "fox", NULL, &err), 0);
	assert_int_equal(catalog_stats(&s, c, &q, NOON, "day", &err), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "images")), 2);
	row = json_array_get(json_object_get(s, "by_day"), 1);
	assert_string_equal(json_string_value(json_object_get(row, "day")), "2026-11-24");
	json_decref(s);
	query_free(&q);
	assert_int_equal(query_parse(&q, "seed:999999", NULL, &err), 0);
	assert_int_equal(catalog_stats(&s, c, &q, NOON, NULL, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "images")), 0);
	assert_int_equal(json_array_size(json_object_get(s, "by_month")), 0);
	json_decref(s);
	query_free(&q);
	assert_int_equal(catalog_stats(&s, c, NULL, NOON, "week", &err), -1);
	catalog_close(c);
}

static int journal_is_wal(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int wal = 0;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		wal = !strcmp((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return wal;
}

static void sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static const char *env_table[3][2];

static const char *table_get(void *ctx, const char *name)
{
	(void)ctx;
	size_t i;

	for (i = 0; i < 3; i++)
		if (!strcmp(env_table[i][0], name))
			return env_table[i][1];
	return NULL;
}

static const struct env table_env = { table_get, NULL };

static void test_open_create_damaged_foreign_newer(void **state)
{
	struct catalog *c = NULL;
	struct err err = ERR_INIT;
	char *p = NULL;

	(void)state;
	/* where it lives */
	env_table[0][0] = "IMAGEN_CATALOG";
	env_table[0][1] = NULL;
	env_table[1][0] = "XDG_DATA_HOME";
	env_table[1][1] = "/data";
	env_table[2][0] = "HOME";
	env_table[2][1] = "/home/u";
	assert_int_equal(catalog_default_path(&p, &table_env, &err), 0);
	assert_string_equal(p, "/data/imagen/catalog.db");
	free(p);
	env_table[1][1] = "relative"; /* XDG says: ignore a relative path */
	assert_int_equal(catalog_default_path(&p, &table_env, &err), 0);
	assert_string_equal(p, "/home/u/.local/share/imagen/catalog.db");
	free(p);
	env_table[0][1] = "/x/c.db";
	assert_int_equal(catalog_default_path(&p, &table_env, &err), 0);
	assert_string_equal(p, "/x/c.db");
	free(p);
	env_table[0][1] = env_table[1][1] = env_table[2][1] = NULL;
	assert_int_equal(catalog_default_path(&p, &table_env, &err), -1);
	assert_null(p);

	/* no file: readers are told to index; writers create it (and its folder) in WAL */
	assert_int_equal(catalog_open(&c, path_in("sub/dir/new.db"), 0, &err), -1);
	assert_non_null(strstr(err.msg, "no catalog yet"));
	assert_non_null(strstr(err.msg, "imagen index"));
	c = open_new("sub/dir/new.db");
	assert_string_equal(catalog_file(c), path_in("sub/dir/new.db"));
	catalog_close(c);
	assert_true(journal_is_wal(path_in("sub/dir/new.db")));
	assert_int_equal(catalog_open(&c, path_in("sub/dir/new.db"), 0, &err), 0);
	catalog_close(c);

	/* a damaged file: one clear line naming the rebuild */
	write_file(path_in("junk.db"), "this is not a database at all, just some text......", 52);
	assert_int_equal(catalog_open(&c, path_in("junk.db"), 1, &err), -1);
	assert_null(c);
	assert_int_equal(err.code, 1);
	assert_non_null(strstr(err.msg, "junk.db is damaged"));
	assert_non_null(strstr(err.msg, "imagen index --rebuild"));
	assert_null(strchr(err.msg, '\n'));

	/* another program's database is not taken over */
	sql_exec(path_in("other.db"), "CREATE TABLE t (x)");
	assert_int_equal(catalog_open(&c, path_in("other.db"), 1, &err), -1);
	assert_non_null(strstr(err.msg, "not an imagen catalog"));

	/* a catalog from a newer imagen is left alone */
	sql_exec(path_in("newer.db"), "CREATE TABLE images (x); PRAGMA user_version = 99");
	assert_int_equal(catalog_open(&c, path_in("newer.db"), 1, &err), -1);
	assert_non_null(strstr(err.msg, "newer imagen (schema 99"));
}

static void test_damaged_pages(void **state)
{
	struct catalog *c = library();
	struct err err = ERR_INIT;
	struct query q = { NULL, 0 };
	struct catalog_search s = { &q, NULL, 0, NOON };
	struct collect co;
	FILE *f;
	char junk[4096];
	int rc;

	(void)state;
	catalog_close(c);
	/* overwrite everything after the header page: the file opens, reading fails */
	memset(junk, 0xa5, sizeof(junk));
	f = fopen(path_in("lib.db"), "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, 4096, SEEK_SET), 0);
	for (int i = 0; i < 16; i++)
		fwrite(junk, 1, sizeof(junk), f);
	fclose(f);
	rc = catalog_open(&c, path_in("lib.db"), 0, &err);
	if (rc == 0) {
		memset(&co, 0, sizeof(co));
		rc = catalog_search(c, &s, collect_row, &co, &err);
		catalog_close(c);
		json_decref(co.first);
	}
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err.msg, "is damaged"));
	assert_non_null(strstr(err.msg, "imagen index --rebuild"));
}

static int user_version_of(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

#define ZERO_SHA "0000000000000000000000000000000000000000000000000000000000000000"

static void file_sha(const char *path, char hex[65])
{
	unsigned char *d = NULL;
	size_t n = 0;

	assert_int_equal(file_read(&d, &n, path, 1 << 20, NULL), 0);
	sha256_hex(hex, d, n);
	free(d);
}

/* A record's inputs: parent:FILE finds the images made from FILE's content (as image or
 * mask), the row's parent is its first image input, and the paths of an image with some
 * content are found by its hash (for --from). */
static void test_parent_inputs(void **state)
{
	struct catalog *c = open_new("parents.db");
	struct err err = ERR_INIT;
	struct query q;
	char sha[65], upper[65], arg[80];
	json_t *side, *paths = NULL;
	size_t i;

	(void)state;
	add_image(c, "img1.png", 1,
		  sidecar("a fox", 1, "m", "b", "mock", "none", 8, 8, "2026-11-20T10:00:00+00:00"));
	file_sha(path_in("img1.png"), sha);
	side = sidecar("the fox again", 2, "m", "b", "mock", "none", 8, 8,
		       "2026-11-21T10:00:00+00:00");
	json_object_set_new(side, "inputs",
			    json_pack("[{s:s, s:s, s:s, s:i}]", "role", "image", "path", "img1.png",
				      "sha256", sha, "bytes", 10));
	add_image(c, "img2.png", 2, side);
	side = sidecar("masked by the fox", 3, "m", "b", "mock", "none", 8, 8,
		       "2026-11-22T10:00:00+00:00");
	json_object_set_new(side, "inputs",
			    json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "image", "sha256",
				      ZERO_SHA, "role", "mask", "sha256", sha));
	add_image(c, "img3.png", 3, side);
	add_image(c, "img4.png", 4,
		  sidecar("unrelated", 4, "m", "b", "mock", "none", 8, 8,
			  "2026-11-23T10:00:00+00:00"));

	snprintf(arg, sizeof(arg), "parent:%s", path_in("img1.png"));
	assert_string_equal(found(c, arg, "path", 0), "2,3");
	for (i = 0; i < 65; i++)
		upper[i] = (char)(sha[i] >= 'a' && sha[i] <= 'f' ? sha[i] - 32 : sha[i]);
	snprintf(arg, sizeof(arg), "parent:%s", upper);
	assert_string_equal(found(c, arg, "path", 0), "2,3");
	snprintf(arg, sizeof(arg), "-parent:%s", sha);
	assert_string_equal(found(c, arg, "path", 0), "1,4");
	expect_found(c, "parent:" ZERO_SHA, "3");
	/* the row's parent: the first image input */
	expect_found(c, "fox again", "2");
	assert_string_equal(found(c, "fox again", NULL, 0), "2");
	{
		json_t *rec = NULL;

		assert_int_equal(catalog_get(&rec, c, path_in("img2.png"), &err), 0);
		assert_string_equal(json_string_value(json_object_get(rec, "parent")), sha);
		json_decref(rec);
	}
	/* a file that is not there: one line naming it */
	assert_int_equal(query_parse(&q, "parent:nowhere.png", NULL, &err), 0);
	assert_int_equal(catalog_query_resolve(&q, &err), -1);
	assert_int_equal(err.code, 2);
	assert_non_null(strstr(err.msg, "parent:nowhere.png"));
	query_free(&q);
	/* by content */
	assert_int_equal(catalog_paths_by_sha256(&paths, c, sha, &err), 0);
	assert_int_equal(json_array_size(paths), 1);
	assert_string_equal(json_string_value(json_array_get(paths, 0)), path_in("img1.png"));
	json_decref(paths);
	assert_int_equal(catalog_paths_by_sha256(&paths, c, ZERO_SHA, &err), 0);
	assert_int_equal(json_array_size(paths), 0);
	json_decref(paths);
	catalog_close(c);
}

static void test_old_schema_migrates(void **state)
{
	struct catalog *c = NULL;
	struct err err = ERR_INIT;
	const char *tag[] = { "kept" };
	char sql[1024];

	(void)state;
	unlink(path_in("v1.db"));
	/* a version-1 catalog (no tags, no full-text index) with a row in it */
	assert_int_equal(catalog_open_at(&c, path_in("v1.db"), 1, 1, &err), 0);
	catalog_close(c);
	assert_int_equal(user_version_of(path_in("v1.db")), 1);
	write_png(path_in("imgO.png"), 9, NULL, 0);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO images (path, prompt, model, seed, created_ts, source) VALUES "
		 "('%s', 'an old lighthouse', 'sd15', 5, 1700000000, 'imagen')",
		 path_in("imgO.png"));
	sql_exec(path_in("v1.db"), sql);

	/* opening it migrates: the row is kept, found by its words, and can be tagged */
	c = NULL;
	assert_int_equal(catalog_open(&c, path_in("v1.db"), 0, &err), 0);
	assert_int_equal(user_version_of(path_in("v1.db")), CATALOG_SCHEMA_VERSION);
	expect_found(c, "lighthouse", "O");
	expect_found(c, "model:sd15 seed:5", "O");
	assert_int_equal(catalog_tag(c, path_in("imgO.png"), tag, 1, NULL, 0, &err), 0);
	expect_found(c, "tag:kept", "O");
	expect_found(c, "kept lighthouse", "O");
	/* version 4's table of inputs is there */
	expect_found(c, "parent:" ZERO_SHA, "");
	catalog_close(c);
	/* and a second open has nothing left to do */
	assert_int_equal(catalog_open(&c, path_in("v1.db"), 0, &err), 0);
	catalog_close(c);
}

/* ---- concurrent writers --------------------------------------------------------------- */

#define PER_THREAD 25

struct worker {
	struct catalog *shared; /* NULL: the thread opens its own handle */
	int id;
	int failures;
	char msg[1100];
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct catalog *c = w->shared;
	struct err err = ERR_INIT;
	char name[600], prompt[64], db[300];
	int i;

	/* path_in() is not for threads */
	snprintf(db, sizeof(db), "%s/conc.db", dir);
	if (!c && catalog_open(&c, db, 1, &err) < 0) {
		w->failures++;
		snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
		return NULL;
	}
	for (i = 0; i < PER_THREAD; i++) {
		json_t *side;

		snprintf(name, sizeof(name), "%s/conc/t%d-%s-%d.png", dir, w->id,
			 w->shared ? "s" : "o", i);
		snprintf(prompt, sizeof(prompt), "thread %d image %d", w->id, i);
		side = json_pack("{s:s, s:i, s:s}", "prompt", prompt, "seed", i, "created_at",
				 "2026-11-24T10:00:00Z");
		write_png(name, w->id * 1000 + i + (w->shared ? 500 : 0), NULL, 0);
		if (catalog_add_image(c, name, side, NULL, &err) < 0) {
			w->failures++;
			snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
		}
		json_decref(side);
	}
	if (!w->shared)
		catalog_close(c);
	return NULL;
}

static int count_row(const json_t *rec, void *arg)
{
	(void)rec;
	(*(long *)arg)++;
	return 0;
}

static long count(struct catalog *c, const char *query)
{
	struct query q;
	struct err err = ERR_INIT;
	struct catalog_search s = { &q, NULL, 0, NOON };
	long n = 0;

	assert_int_equal(query_parse(&q, query, NULL, &err), 0);
	if (catalog_search(c, &s, count_row, &n, &err) != 0)
		fail_msg("search: %s", err.msg);
	query_free(&q);
	return n;
}

/* A batch at concurrency 8: eight threads with a handle each, then eight sharing one;
 * none may fail with "database is locked". */
static void test_eight_threads(void **state)
{
	struct worker w[16];
	pthread_t t[16];
	struct catalog *shared;
	int i;

	(void)state;
	unlink(path_in("conc.db"));
	mkdir(path_in("conc"), 0777);
	shared = open_new("conc.db");
	for (i = 0; i < 16; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i % 8;
		w[i].shared = i < 8 ? NULL : shared;
	}
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (i = 8; i < 16; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	for (i = 8; i < 16; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 16; i++)
		if (w[i].failures)
			fail_msg("thread %d: %d failures: %s", i, w[i].failures, w[i].msg);
	assert_int_equal(count(shared, ""), 16 * PER_THREAD);
	assert_int_equal(count(shared, "thread image"), 16 * PER_THREAD);
	catalog_close(shared);
}

/* Two processes writing at once, into a catalog neither has created yet. */
static void test_two_processes(void **state)
{
	struct catalog *c;
	pid_t pid[2];
	int i, status;

	(void)state;
	unlink(path_in("conc.db"));
	mkdir(path_in("conc"), 0777);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			struct worker w;
			int k, bad = 0;

			for (k = 0; k < 3; k++) { /* 3 rounds of 25, each with a fresh handle */
				memset(&w, 0, sizeof(w));
				w.id = 20 + i * 3 + k;
				worker_run(&w);
				bad += w.failures;
				if (w.failures)
					fprintf(stderr, "process %d: %s\n", i, w.msg);
			}
			_exit(bad ? 1 : 0);
		}
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	c = open_new("conc.db");
	assert_int_equal(count(c, ""), 2 * 3 * PER_THREAD);
	catalog_close(c);
}

/* ---- imagen index -------------------------------------------------------------------- */

static long last_step, last_max, warnings;

static void capture(const struct ev_sink *sink, const struct ev *ev)
{
	(void)sink;
	if (ev->kind == EV_STEPS) {
		last_step = ev->value;
		last_max = ev->max;
	} else if (ev->kind == EV_LOG) {
		warnings++;
	}
}

static struct scan_stats scan_dir(struct catalog *c, const char *d, int prune)
{
	struct ev_sink sink = { capture, NULL, 0, 0 };
	struct scan_opts o = { &d, 1, prune, &sink };
	struct scan_stats st;
	struct err err = ERR_INIT;

	last_step = last_max = 0;
	if (catalog_scan(c, &o, &st, &err) != 0)
		fail_msg("catalog_scan: %s", err.msg);
	assert_int_equal(last_step, st.files);
	assert_int_equal(last_max, st.files);
	return st;
}

static void imagen_png(const char *path, int salt, const char *prompt)
{
	json_t *side =
		sidecar(prompt, salt, "m", "mock", "mock", "none", 8, 8, "2026-11-24T10:00:00Z");
	char *text = json_dumps(side, JSON_COMPACT);
	struct png_text t[1] = { { (char *)"imagen", text } };

	write_png(path, salt, t, 1);
	free(text);
	json_decref(side);
}

static void test_index_moves_and_missing(void **state)
{
	struct catalog *c;
	struct scan_stats st;
	struct err err = ERR_INIT;
	const char *keep[] = { "keep" };
	json_t *r = NULL;
	char lib[300];

	(void)state;
	snprintf(lib, sizeof(lib), "%s/lib", dir);
	unlink(path_in("idx.db"));
	mkdir(path_in("lib"), 0777);
	mkdir(path_in("lib/sub"), 0777);
	mkdir(path_in("lib/.hidden"), 0777);
	imagen_png(path_in("lib/a.png"), 1, "a lighthouse at dusk");
	imagen_png(path_in("lib/sub/b.png"), 2, "a barn in the rain");
	imagen_png(path_in("lib/.hidden/d.png"), 3, "hidden away");
	write_file(path_in("lib/notes.txt"), "not an image", 12);
	write_file(path_in("lib/fake.png"), "not a png either", 16);
	assert_int_equal(symlink(path_in("lib/a.png"), path_in("lib/link.png")), 0);
	c = open_new("idx.db");

	/* from scratch: images only (a file named .png that is not one is reported), no
	 * hidden folders, no symbolic links */
	warnings = 0;
	st = scan_dir(c, lib, 0);
	assert_int_equal(st.files, 3);
	assert_int_equal(st.added, 2);
	assert_int_equal(st.unreadable, 1);
	assert_int_equal(warnings, 1);
	assert_int_equal(count(c, "lighthouse"), 1);
	assert_int_equal(count(c, "hidden"), 0);
	unlink(path_in("lib/fake.png"));
	/* nothing changed: nothing is read */
	st = scan_dir(c, lib, 0);
	assert_int_equal(st.unchanged, 2);
	assert_int_equal(st.added + st.updated + st.moved, 0);

	/* renamed and moved: the row follows the file, with its tags and rating */
	assert_int_equal(catalog_tag(c, path_in("lib/a.png"), keep, 1, NULL, 0, &err), 0);
	assert_int_equal(catalog_rate(c, path_in("lib/a.png"), 4, &err), 0);
	assert_int_equal(rename(path_in("lib/a.png"), path_in("lib/sub/renamed.png")), 0);
	st = scan_dir(c, lib, 0);
	assert_int_equal(st.moved, 1);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.missing, 0);
	assert_int_equal(count(c, ""), 2);
	assert_int_equal(catalog_get(&r, c, path_in("lib/sub/renamed.png"), &err), 0);
	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(r, "rating")), 4);
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "tags"), 0)),
			    "keep");
	json_decref(r);

	/* a copy is a new image, not a move */
	{
		unsigned char *d = NULL;
		size_t n = 0;
		FILE *f = fopen(path_in("lib/sub/renamed.png"), "rb");

		assert_non_null(f);
		d = malloc(65536);
		n = fread(d, 1, 65536, f);
		fclose(f);
		write_file(path_in("lib/copy.png"), d, n);
		free(d);
	}
	st = scan_dir(c, lib, 0);
	assert_int_equal(st.added, 1);
	assert_int_equal(st.moved, 0);
	assert_int_equal(count(c, "lighthouse"), 2);

	/* changed bytes under the same name: read again */
	imagen_png(path_in("lib/sub/b.png"), 22, "a barn in the snow");
	{
		struct timespec ts[2] = { { 0, UTIME_NOW }, { 1700000000, 0 } };

		assert_int_equal(utimensat(AT_FDCWD, path_in("lib/sub/b.png"), ts, 0), 0);
	}
	st = scan_dir(c, lib, 0);
	assert_int_equal(st.updated, 1);
	assert_int_equal(count(c, "snow"), 1);
	assert_int_equal(count(c, "rain"), 0);

	/* deleted: marked missing, once; --prune removes the row */
	assert_int_equal(unlink(path_in("lib/sub/b.png")), 0);
	st = scan_dir(c, lib, 0);
	assert_int_equal(st.missing, 1);
	assert_int_equal(count(c, "missing:yes"), 1);
	assert_int_equal(count(c, "missing:yes snow"), 1);
	st = scan_dir(c, lib, 0);
	assert_int_equal(st.missing, 1);
	/* back again: found, no longer missing */
	imagen_png(path_in("lib/sub/b.png"), 22, "a barn in the snow");
	st = scan_dir(c, lib, 0);
	assert_int_equal(st.updated, 1);
	assert_int_equal(count(c, "missing:yes"), 0);
	assert_int_equal(unlink(path_in("lib/sub/b.png")), 0);
	st = scan_dir(c, lib, 1);
	assert_int_equal(st.missing, 1);
	assert_int_equal(st.pruned, 1);
	assert_int_equal(count(c, "snow"), 0);
	assert_int_equal(count(c, ""), 2);
	/* a directory that is not one */
	{
		const char *bad = path_in("lib/notes.txt");
		struct scan_opts o = { &bad, 1, 0, NULL };

		assert_int_equal(catalog_scan(c, &o, &st, &err), -1);
		assert_int_equal(err.code, 2);
		assert_non_null(strstr(err.msg, "not a directory"));
	}
	catalog_close(c);
}

/* tag, rate and sync catalogue a file first, and read it again when it changed (even
 * with the same size) */
static void test_ensure_reads_changed_files(void **state)
{
	struct catalog *c;
	struct err err = ERR_INIT;
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 1700000000, 0 } };
	char *abs = NULL;
	struct stat a, b;

	(void)state;
	unlink(path_in("ens.db"));
	c = open_new("ens.db");
	imagen_png(path_in("ens.png"), 5, "first words");
	assert_int_equal(catalog_ensure(c, path_in("ens.png"), &abs, &err), 0);
	assert_string_equal(abs, path_in("ens.png"));
	free(abs);
	assert_int_equal(count(c, "first"), 1);
	assert_int_equal(stat(path_in("ens.png"), &a), 0);
	imagen_png(path_in("ens.png"), 5, "other words");
	assert_int_equal(utimensat(AT_FDCWD, path_in("ens.png"), ts, 0), 0);
	assert_int_equal(stat(path_in("ens.png"), &b), 0);
	assert_int_equal(a.st_size, b.st_size);
	assert_int_equal(catalog_ensure(c, path_in("ens.png"), &abs, &err), 0);
	free(abs);
	assert_int_equal(count(c, "first"), 0);
	assert_int_equal(count(c, "other"), 1);
	assert_int_equal(catalog_ensure(c, path_in("gone.png"), &abs, &err), -1);
	assert_null(abs);
	catalog_close(c);
}

static void test_rebuild(void **state)
{
	struct catalog *c, *n = NULL;
	struct scan_stats st;
	struct err err = ERR_INIT;
	const char *keep[] = { "keep" }, *d;
	struct scan_opts o = { NULL, 1, 0, NULL };
	char *kept = NULL, lib[300];
	struct stat sb;

	(void)state;
	snprintf(lib, sizeof(lib), "%s/rb", dir);
	d = lib;
	o.dirs = &d;
	mkdir(path_in("rb"), 0777);
	mkdir(path_in("elsewhere"), 0777);
	imagen_png(path_in("rb/one.png"), 31, "first light");
	imagen_png(path_in("elsewhere/two.png"), 32, "second wind");
	unlink(path_in("rb.db"));
	c = open_new("rb.db");
	scan_dir(c, lib, 0);
	assert_int_equal(catalog_add_image(c, path_in("elsewhere/two.png"), NULL, NULL, &err), 0);
	assert_int_equal(catalog_tag(c, path_in("rb/one.png"), keep, 1, NULL, 0, &err), 0);
	assert_int_equal(catalog_rate(c, path_in("elsewhere/two.png"), 2, &err), 0);
	catalog_close(c);

	/* a healthy catalog: rebuilt from disk, what only it knew carried over */
	assert_int_equal(catalog_rebuild(&n, path_in("rb.db"), &o, &st, &kept, &err), 0);
	assert_null(kept);
	assert_int_equal(count(n, ""), 2);
	assert_int_equal(count(n, "tag:keep first"), 1);
	assert_int_equal(count(n, "rating:2 second"), 1);
	catalog_close(n);
	assert_int_equal(stat(path_in("rb.db.rebuild"), &sb), -1);

	/* a damaged one: kept aside, a new one made from the dirs */
	write_file(path_in("rb.db"), "garbage garbage garbage garbage garbage garbage!!", 49);
	unlink(path_in("rb.db-wal"));
	unlink(path_in("rb.db-shm"));
	assert_int_equal(catalog_open(&n, path_in("rb.db"), 0, &err), -1);
	assert_int_equal(catalog_rebuild(&n, path_in("rb.db"), &o, &st, &kept, &err), 0);
	assert_non_null(kept);
	assert_string_equal(kept, path_in("rb.db.damaged"));
	assert_int_equal(stat(kept, &sb), 0);
	assert_int_equal(sb.st_size, 49);
	free(kept);
	assert_int_equal(count(n, ""), 1);
	assert_int_equal(count(n, "first"), 1);
	catalog_close(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_path_record),
		cmocka_unit_test(test_every_filter),
		cmocka_unit_test(test_sort_and_limit),
		cmocka_unit_test(test_tags_rating_sync),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_open_create_damaged_foreign_newer),
		cmocka_unit_test(test_damaged_pages),
		cmocka_unit_test(test_parent_inputs),
		cmocka_unit_test(test_old_schema_migrates),
		cmocka_unit_test(test_eight_threads),
		cmocka_unit_test(test_two_processes),
		cmocka_unit_test(test_index_moves_and_missing),
		cmocka_unit_test(test_ensure_reads_changed_files),
		cmocka_unit_test(test_rebuild),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
