/* test_outbox.c - the queue of failed cloud syncs: its path, the file format, replacing,
 * removing, refusing damaged files, and concurrent writers. */
#include "testlib.h"

#include <sys/wait.h>

#include "cloud/outbox.h"

/* ---- where it lives ------------------------------------------------------------------------ */

static void test_outbox_path(void **state)
{
	struct err err = ERR_INIT;
	char *p = NULL;

	(void)state;
	env_reset();
	env_set("HOME", "/home/u");
	assert_int_equal(outbox_path(&p, fake_env(), &err), 0);
	assert_string_equal(p, "/home/u/.local/state/imagen/outbox.json");
	free(p);
	env_set("XDG_STATE_HOME", "relative/ignored");
	assert_int_equal(outbox_path(&p, fake_env(), &err), 0);
	assert_string_equal(p, "/home/u/.local/state/imagen/outbox.json");
	free(p);
	env_set("XDG_STATE_HOME", "/srv/state");
	assert_int_equal(outbox_path(&p, fake_env(), &err), 0);
	assert_string_equal(p, "/srv/state/imagen/outbox.json");
	free(p);
}

/* ---- queueing ------------------------------------------------------------------------------ */

static json_t *entry(const char *image, const char *error)
{
	return json_pack("{s:s, s:s, s:s}", "image", image, "storage_path", "2026-11-24/x.png",
			 "last_error", error);
}

static void test_outbox_put_replace_remove(void **state)
{
	char *dir = make_tmpdir(), *path = xasprintf("%s/state/imagen/outbox.json", dir), *sub;
	struct err err = ERR_INIT;
	json_t *items = NULL, *e;
	int removed = -1;
	struct stat st;
	DIR *d;
	struct dirent *de;

	(void)state;
	/* nothing there yet: an empty queue, removing is a no-op */
	assert_int_equal(outbox_load(&items, path, &err), 0);
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	assert_int_equal(outbox_remove(path, "/a.png", &removed, &err), 0);
	assert_int_equal(removed, 0);

	e = entry("/a.png", "first");
	assert_int_equal(outbox_put(path, e, &err), 0);
	json_decref(e);
	e = entry("/b.png", "other");
	assert_int_equal(outbox_put(path, e, &err), 0);
	json_decref(e);
	e = entry("/a.png", "second");
	assert_int_equal(outbox_put(path, e, &err), 0);
	json_decref(e);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(outbox_load(&items, path, &err), 0);
	assert_int_equal(json_array_size(items), 2);
	e = outbox_find(items, "/a.png");
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "last_error")), "second");
	assert_int_equal(json_integer_value(json_object_get(e, "attempts")), 2);
	assert_true(json_is_string(json_object_get(e, "queued_at")));
	assert_int_equal(
		json_integer_value(json_object_get(outbox_find(items, "/b.png"), "attempts")), 1);
	json_decref(items);

	assert_int_equal(outbox_remove(path, "/a.png", &removed, &err), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(outbox_load(&items, path, &err), 0);
	assert_int_equal(json_array_size(items), 1);
	assert_null(outbox_find(items, "/a.png"));
	json_decref(items);

	/* no temporary file is left behind */
	sub = xasprintf("%s/state/imagen", dir);
	d = opendir(sub);
	free(sub);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".outbox.json."))
			fail_msg("temporary file %s left", de->d_name);
	closedir(d);

	/* a damaged file is reported, never overwritten */
	write_file(path, "{\"items\": 3}", 12);
	e = entry("/c.png", "x");
	assert_int_equal(outbox_put(path, e, &err), -1);
	assert_non_null(strstr(err.msg, "not an imagen outbox"));
	json_decref(e);
	remove_tree(dir);
	free(dir);
	free(path);
}

static void test_outbox_concurrent_writers_lose_nothing(void **state)
{
	char *dir = make_tmpdir(), *path = xasprintf("%s/outbox.json", dir);
	struct err err = ERR_INIT;
	json_t *items = NULL;
	pid_t pids[8];
	int i, j, status;

	(void)state;
	for (i = 0; i < 8; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			for (j = 0; j < 10; j++) {
				char img[64];
				json_t *e;

				snprintf(img, sizeof(img), "/img-%d-%d.png", i, j);
				e = entry(img, "x");
				if (outbox_put(path, e, &err) < 0)
					_exit(1);
				json_decref(e);
			}
			_exit(0);
		}
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(outbox_load(&items, path, &err), 0);
	assert_int_equal(json_array_size(items), 80);
	json_decref(items);
	remove_tree(dir);
	free(dir);
	free(path);
}

/* ---- the file format ----------------------------------------------------------------------- */

static void test_file_format_and_fields(void **state)
{
	char *dir = make_tmpdir(), *path = xasprintf("%s/outbox.json", dir), *text;
	struct err err = ERR_INIT;
	json_t *root, *items, *e;

	(void)state;
	/* the caller's queued_at survives the first put; attempts is the outbox's own */
	e = json_pack("{s:s, s:n, s:s, s:s, s:i}", "image", "/p/a.png", "storage_path", "queued_at",
		      "2026-01-02T03:04:05Z", "last_error", "HTTP 503", "attempts", 41);
	assert_int_equal(outbox_put(path, e, &err), 0);
	json_decref(e);
	text = slurp(path, NULL);
	root = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
	items = json_object_get(root, "items");
	assert_int_equal(json_array_size(items), 1);
	e = json_array_get(items, 0);
	assert_string_equal(json_string_value(json_object_get(e, "image")), "/p/a.png");
	assert_true(json_is_null(json_object_get(e, "storage_path")));
	assert_string_equal(json_string_value(json_object_get(e, "queued_at")),
			    "2026-01-02T03:04:05Z");
	assert_string_equal(json_string_value(json_object_get(e, "last_error")), "HTTP 503");
	assert_int_equal(json_integer_value(json_object_get(e, "attempts")), 1);
	json_decref(root);

	/* a later failure keeps the first queued_at, whatever the new entry says */
	e = json_pack("{s:s, s:s, s:s}", "image", "/p/a.png", "queued_at", "2030-01-01T00:00:00Z",
		      "last_error", "HTTP 500");
	assert_int_equal(outbox_put(path, e, &err), 0);
	json_decref(e);
	assert_int_equal(outbox_load(&items, path, &err), 0);
	e = outbox_find(items, "/p/a.png");
	assert_string_equal(json_string_value(json_object_get(e, "queued_at")),
			    "2026-01-02T03:04:05Z");
	assert_string_equal(json_string_value(json_object_get(e, "last_error")), "HTTP 500");
	assert_int_equal(json_integer_value(json_object_get(e, "attempts")), 2);
	assert_null(outbox_find(items, "/p/b.png"));
	json_decref(items);
	remove_tree(dir);
	free(dir);
	free(path);
}

static void test_nothing_queued_creates_nothing(void **state)
{
	char *dir = make_tmpdir(), *path = xasprintf("%s/state/imagen/outbox.json", dir);
	char *sub = xasprintf("%s/state", dir);
	struct err err = ERR_INIT;
	json_t *items = NULL;
	int removed = -1;
	struct stat st;

	(void)state;
	assert_int_equal(outbox_load(&items, path, &err), 0);
	assert_true(json_is_array(items));
	assert_int_equal(json_array_size(items), 0);
	json_decref(items);
	assert_int_equal(outbox_remove(path, "/p/a.png", &removed, &err), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(outbox_remove(path, "/p/a.png", NULL, &err), 0);
	/* reading and removing never create the directory, the file or its lock */
	assert_int_equal(stat(sub, &st), -1);
	remove_tree(dir);
	free(dir);
	free(path);
	free(sub);
}

static void test_refusals_name_the_file_and_change_nothing(void **state)
{
	static const char not_json[] = "{\"version\": 1, \"items\": [";
	static const char no_image[] = "{\"version\": 1, \"items\": [{\"image\": \"/a.png\"}, "
				       "{\"storage_path\": \"x\"}]}";
	char *dir = make_tmpdir(), *path = xasprintf("%s/outbox.json", dir), *text, *want;
	struct err err = ERR_INIT;
	json_t *items = NULL, *e;

	(void)state;
	/* an entry must say which image it is about */
	e = json_pack("{s:s}", "last_error", "x");
	assert_int_equal(outbox_put(path, e, &err), -1);
	assert_string_equal(err.msg, "outbox: an entry needs an image path");
	json_decref(e);

	write_file(path, not_json, strlen(not_json));
	err_clear(&err);
	assert_int_equal(outbox_load(&items, path, &err), -1);
	assert_null(items);
	want = xasprintf("outbox: %s:1: ", path);
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, "not valid JSON"));
	free(want);

	write_file(path, no_image, strlen(no_image));
	err_clear(&err);
	assert_int_equal(outbox_load(&items, path, &err), -1);
	want = xasprintf("outbox: %s: item 2 has no \"image\" path", path);
	assert_string_equal(err.msg, want);
	free(want);

	/* a damaged file is never overwritten by a put or a remove */
	e = json_pack("{s:s}", "image", "/b.png");
	err_clear(&err);
	assert_int_equal(outbox_put(path, e, &err), -1);
	json_decref(e);
	err_clear(&err);
	assert_int_equal(outbox_remove(path, "/a.png", NULL, &err), -1);
	text = slurp(path, NULL);
	assert_string_equal(text, no_image);
	free(text);
	remove_tree(dir);
	free(dir);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outbox_path),
		cmocka_unit_test(test_outbox_put_replace_remove),
		cmocka_unit_test(test_file_format_and_fields),
		cmocka_unit_test(test_nothing_queued_creates_nothing),
		cmocka_unit_test(test_refusals_name_the_file_and_change_nothing),
		cmocka_unit_test(test_outbox_concurrent_writers_lose_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
