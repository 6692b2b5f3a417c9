/* test_config.c - imagen.yaml validation messages, the embedded default, warnings, lookups. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Parse text[0..len) as "t.yaml", expecting success. */
static struct config *parse_ok_len(const char *text, size_t len)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;

	if (config_parse(&cfg, text, len, "t.yaml", &err) != 0)
		fail_msg("config refused: %s\n--- text ---\n%s", err.msg, text);
	assert_non_null(cfg);
	assert_string_equal(err.msg, "");
	return cfg;
}

static struct config *parse_ok(const char *text)
{
	return parse_ok_len(text, strlen(text));
}

/* Parse text[0..len) as "t.yaml", expecting exactly the error `want` (exit code 2). */
static void assert_refused_len(const char *text, size_t len, const char *want)
{
	struct config *cfg = (struct config *)&cfg; /* any non-NULL value */
	struct err err = ERR_INIT;

	assert_int_equal(config_parse(&cfg, text, len, "t.yaml", &err), -1);
	assert_null(cfg);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.code, 2);
}

static void assert_refused(const char *text, const char *want)
{
	assert_refused_len(text, strlen(text), want);
}

/* ---- error messages ---------------------------------------------------------------------- */

static void test_unknown_top_level_key(void **state)
{
	(void)state;
	assert_refused("defaults: {backend: mock}\noutptu: {}\n",
		       "config: t.yaml:2:1: unknown key 'outptu' (did you mean 'output'?)");
	/* nothing close enough: no suggestion */
	assert_refused("zzz: 1\n", "config: t.yaml:1:1: unknown key 'zzz'");
}

static void test_unknown_section_keys(void **state)
{
	(void)state;
	assert_refused("output:\n  directroy: /tmp\n",
		       "config: t.yaml:2:3: unknown key 'directroy' in output (did you mean "
		       "'directory'?)");
	assert_refused("cloud:\n  colour: blue\n",
		       "config: t.yaml:2:3: unknown key 'colour' in cloud");
	assert_refused(
		"defaults:\n  stlye: none\n",
		"config: t.yaml:2:3: unknown key 'stlye' in defaults (did you mean 'style'?)");
}

static void test_unknown_backend_key(void **state)
{
	(void)state;
	/* "    stpes" : the key starts in column 5 of line 4 */
	assert_refused("backends:\n  flux-local:\n    type: mock\n    stpes: 4\n",
		       "config: t.yaml:4:5: unknown key 'stpes' in backends.flux-local (did you "
		       "mean 'steps'?)");
	/* a bad value points at the value: "    width: wide" -> column 12 */
	assert_refused("backends:\n  m:\n    type: mock\n    width: wide\n",
		       "config: t.yaml:4:12: backends.m.width: expected an integer, got 'wide'");
}

static void test_tab_in_indentation(void **state)
{
	(void)state;
	assert_refused(
		"output:\n\tnaming: x\n",
		"config: t.yaml:2:1: tab character in indentation (YAML allows spaces only)");
	/* after two spaces the tab is in column 3 */
	assert_refused(
		"output:\n  \tnaming: x\n",
		"config: t.yaml:2:3: tab character in indentation (YAML allows spaces only)");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	assert_refused("output:\n  naming: \"a.png\"\n  naming: \"b.png\"\n",
		       "config: t.yaml:3:3: duplicate key 'naming' (first at line 2)");
	assert_refused("styles: {}\nbackends: {}\nstyles: {}\n",
		       "config: t.yaml:3:1: duplicate key 'styles' (first at line 1)");
}

static void test_bad_enum_and_bool(void **state)
{
	(void)state;
	/* "  cloud_sync: sometimes": the value starts in column 15 */
	assert_refused("output:\n  cloud_sync: sometimes\n",
		       "config: t.yaml:2:15: output.cloud_sync: expected auto, on or off, got "
		       "'sometimes'");
	/* "  preview: maybe": column 12 */
	assert_refused(
		"output:\n  preview: maybe\n",
		"config: t.yaml:2:12: output.preview: expected auto, on or off, got 'maybe'");
	/* "  write_metadata_json: yes": column 24 */
	assert_refused(
		"output:\n  write_metadata_json: yes\n",
		"config: t.yaml:2:24: output.write_metadata_json: expected true or false, got "
		"'yes'");
	/* a quoted "true" is a string, not a boolean */
	assert_refused(
		"output:\n  write_metadata_json: \"true\"\n",
		"config: t.yaml:2:24: output.write_metadata_json: expected true or false, got "
		"'true'");
}

static void test_bad_uuid(void **state)
{
	(void)state;
	/* "  owner_user_id: not-a-uuid": column 18 */
	assert_refused("cloud:\n  owner_user_id: not-a-uuid\n",
		       "config: t.yaml:2:18: cloud.owner_user_id: 'not-a-uuid' is not a UUID "
		       "(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
	/* one hex digit short in the last group */
	assert_refused("cloud:\n  owner_user_id: ac6c9501-3757-4a6d-8b97-2cff4288382\n",
		       "config: t.yaml:2:18: cloud.owner_user_id: "
		       "'ac6c9501-3757-4a6d-8b97-2cff4288382' is not a UUID "
		       "(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
}

static void test_unknown_backend_type(void **state)
{
	(void)state;
	/* "    type: mokc": column 11 */
	assert_refused("backends:\n  m:\n    type: mokc\n",
		       "config: t.yaml:3:11: backends.m: unknown backend type 'mokc' (did you mean "
		       "'mock'?) (known: mock, comfyui, replicate, openai, a1111)");
	assert_refused("backends:\n  m:\n    type: gpu\n",
		       "config: t.yaml:3:11: backends.m: unknown backend type 'gpu' (known: mock, "
		       "comfyui, replicate, openai, a1111)");
	assert_refused("backends:\n  m:\n    width: 4\n",
		       "config: t.yaml:2:3: backends.m: missing 'type' (known types: mock, "
		       "comfyui, replicate, openai, a1111)");
}

static void test_unknown_default_backend_and_style(void **state)
{
	(void)state;
	/* "  backend: gpu": column 12; the list names every configured instance */
	assert_refused("defaults:\n  backend: gpu\nbackends:\n  other:\n    type: mock\n"
		       "  third:\n    type: mock\n",
		       "config: t.yaml:2:12: defaults.backend: unknown backend 'gpu' (configured: "
		       "mock, other, third)");
	/* "  style: noir": column 10 */
	assert_refused("defaults:\n  style: noir\n",
		       "config: t.yaml:2:10: defaults.style: unknown style 'noir'");
}

static void test_bad_naming_template(void **state)
{
	(void)state;
	/* "  naming: \"{nope}.png\"": the quoted value starts in column 11 */
	assert_refused(
		"output:\n  naming: \"{nope}.png\"\n",
		"config: t.yaml:2:11: output.naming: unknown placeholder {nope} (known: {date} "
		"{time} {slug} {seed} {backend} {ext})");
	assert_refused("output:\n  naming: ../x.png\n",
		       "config: t.yaml:2:11: output.naming: '../x.png' may not contain '.' or '..' "
		       "segments");
}

static void test_invalid_instance_name(void **state)
{
	(void)state;
	assert_refused("backends:\n  my backend:\n    type: mock\n",
		       "config: t.yaml:2:3: backends: invalid instance name 'my backend' (letters, "
		       "digits, '-' and '_', starting with a letter or digit)");
	assert_refused("backends:\n  -x:\n    type: mock\n",
		       "config: t.yaml:2:3: backends: invalid instance name '-x' (letters, digits, "
		       "'-' and '_', starting with a letter or digit)");
}

static void test_binary_input(void **state)
{
	static const char nul[] = "output:\n  naming: x\0y\n";
	static const char nul3[] = "a: 1\nb: 2\nc: \0\n";

	(void)state;
	assert_refused_len(nul, sizeof(nul) - 1,
			   "config: t.yaml: not a text file (NUL byte at line 2)");
	assert_refused_len(nul3, sizeof(nul3) - 1,
			   "config: t.yaml: not a text file (NUL byte at line 3)");
	/* a lone continuation byte: line 1, column 4 ("a: " is three characters) */
	assert_refused("a: \x80\n", "config: t.yaml:1:4: not a text file (invalid UTF-8)");
	/* a two-byte lead followed by ASCII; "é" before it is one character, so column 5 */
	assert_refused("a: b\nc: \xc3\xa9\xc3(\n",
		       "config: t.yaml:2:5: not a text file (invalid UTF-8)");
	/* truncated at the end of the text */
	assert_refused("a: \xe2\x82", "config: t.yaml:1:4: not a text file (invalid UTF-8)");
}

static void test_file_too_large(void **state)
{
	size_t n = YAML_MAX_BYTES + 1;
	char *text = malloc(n);
	struct config *cfg;

	(void)state;
	assert_non_null(text);
	memset(text, '#', n); /* one long comment */
	assert_refused_len(text, n,
			   "config: t.yaml: file is too large (1048577 bytes; the limit is "
			   "1048576)");
	/* exactly the limit is accepted (and, being a comment, is an empty config) */
	cfg = parse_ok_len(text, YAML_MAX_BYTES);
	assert_string_equal(cfg->default_backend, "mock");
	config_free(cfg);
	free(text);
}

static void test_nesting_limit(void **state)
{
	char text[256];
	size_t n = 0, i;

	(void)state;
	/* the root mapping is level 1, so the 64th '[' opens level 65; it sits in column
	 * 3 + 64 = 67 ("x: " takes the first three) */
	n += (size_t)snprintf(text, sizeof(text), "x: ");
	for (i = 0; i < 64; i++)
		text[n++] = '[';
	for (i = 0; i < 64; i++)
		text[n++] = ']';
	text[n++] = '\n';
	assert_refused_len(text, n, "config: t.yaml:1:67: nesting deeper than 64 levels");
}

static void test_alias_and_documents(void **state)
{
	(void)state;
	assert_refused("x: &a 1\ny: *a\n", "config: t.yaml:2:4: aliases (*a) are not supported");
	assert_refused("---\na: 1\n---\nb: 2\n",
		       "config: t.yaml:3:1: only one YAML document is allowed");
}

static void test_load_file_names_the_path(void **state)
{
	char path[] = "/tmp/imagen-test-config-XXXXXX";
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	char want[256];
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("styles: {}\noutptu: {}\n", f);
	fclose(f);
	assert_int_equal(config_load_file(&cfg, path, &err), -1);
	assert_null(cfg);
	snprintf(want, sizeof(want),
		 "config: %s:2:1: unknown key 'outptu' (did you mean 'output'?)", path);
	assert_string_equal(err.msg, want);
	unlink(path);

	err_clear(&err);
	assert_int_equal(config_load_file(&cfg, path, &err), -1);
	snprintf(want, sizeof(want), "config: %s: No such file or directory", path);
	assert_string_equal(err.msg, want);
}

/* ---- successes --------------------------------------------------------------------------- */

static void assert_defaults(const struct config *cfg)
{
	assert_string_equal(cfg->default_backend, "mock");
	assert_string_equal(cfg->default_style, "none");
	assert_string_equal(cfg->output_dir, "~/Pictures/imagen");
	assert_string_equal(cfg->naming, "{date}-{slug}-{seed}.png");
	assert_int_equal(cfg->write_metadata_json, 1);
	assert_int_equal(cfg->cloud_sync, MODE_AUTO);
	assert_int_equal(cfg->preview, MODE_AUTO);
	assert_int_equal(cfg->has_cloud, 0);
}

static void test_builtin_default(void **state)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	const struct cfg_backend *b;
	char names[64];

	(void)state;
	assert_int_equal(config_load_default(&cfg, &err), 0);
	assert_non_null(cfg);
	assert_null(cfg->path);
	assert_string_equal(cfg->display, "(built-in default)");
	assert_defaults(cfg);
	assert_int_equal(cfg->nbackends, 1);
	b = config_backend(cfg, "mock");
	assert_non_null(b);
	assert_string_equal(b->name, "mock");
	assert_string_equal(b->type, "mock");
	assert_ptr_equal(b->ops, backend_find("mock"));
	assert_string_equal(json_string_value(json_object_get(b->cfg, "type")), "mock");
	config_backend_names(cfg, names, sizeof(names));
	assert_string_equal(names, "mock");
	assert_int_equal(cfg->nstyles, 5);
	assert_string_equal(config_style_suffix(cfg, "photo"),
			    "photograph, natural light, 35mm lens, sharp focus, high detail");
	assert_int_equal(config_warnings(cfg, names, sizeof(names)), 0);
	config_free(cfg);
}

static void test_sample_is_valid_without_warnings(void **state)
{
	struct config *cfg = parse_ok(config_sample);
	char warn[512];

	(void)state;
	assert_int_equal(config_warnings(cfg, warn, sizeof(warn)), 0);
	assert_string_equal(warn, "");
	assert_int_equal(cfg->has_cloud, 1);
	assert_string_equal(cfg->owner_user_id, "ac6c9501-3757-4a6d-8b97-2cff4288382b");
	assert_string_equal(cfg->bucket, "imagen-generated");
	assert_string_equal(cfg->service_key_env, "SUPABASE_SERVICE_ROLE_KEY");
	assert_int_equal(cfg->nbackends, 1);
	assert_int_equal(
		json_integer_value(json_object_get(config_backend(cfg, "mock")->cfg, "steps")), 20);
	config_free(cfg);
}

static void test_empty_text_is_valid(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("");
	assert_defaults(cfg);
	assert_int_equal(cfg->nbackends, 1);
	assert_non_null(config_backend(cfg, "mock"));
	assert_null(config_backend(cfg, "mock")->node); /* the implicit one */
	assert_int_equal(cfg->nstyles, 0);
	config_free(cfg);

	/* comments only, and empty sections */
	cfg = parse_ok("# nothing here\n\noutput:\nstyles:\ncloud:\n");
	assert_defaults(cfg);
	config_free(cfg);
}

static void test_values_are_read(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("defaults:\n  backend: fast\n  style: noir\n"
		       "styles:\n  noir: \"black and white\"\n"
		       "output:\n  directory: /srv/img\n  naming: \"{date}/{slug}\"\n"
		       "  write_metadata_json: false\n  cloud_sync: off\n  preview: on\n"
		       "backends:\n  fast:\n    type: mock\n    steps: 2\n");
	assert_string_equal(cfg->default_backend, "fast");
	assert_string_equal(cfg->default_style, "noir");
	assert_string_equal(config_style_suffix(cfg, "noir"), "black and white");
	assert_string_equal(cfg->output_dir, "/srv/img");
	assert_string_equal(cfg->naming, "{date}/{slug}");
	assert_int_equal(cfg->write_metadata_json, 0);
	assert_int_equal(cfg->cloud_sync, MODE_OFF);
	assert_int_equal(cfg->preview, MODE_ON);
	assert_int_equal(cfg->nbackends, 2);
	assert_non_null(config_backend(cfg, "fast"));
	assert_int_equal(
		json_integer_value(json_object_get(config_backend(cfg, "fast")->cfg, "steps")), 2);
	assert_null(config_backend(cfg, "slow"));
	config_free(cfg);
}

static void test_own_mock_instance_replaces_builtin(void **state)
{
	struct config *cfg;
	const struct cfg_backend *b;
	char names[64];

	(void)state;
	cfg = parse_ok("backends:\n  mock:\n    type: mock\n    steps: 4\n");
	assert_int_equal(cfg->nbackends, 1);
	b = config_backend(cfg, "mock");
	assert_non_null(b);
	assert_non_null(b->node); /* the file's, not the implicit one */
	assert_int_equal(b->node->line, 2);
	assert_int_equal(json_integer_value(json_object_get(b->cfg, "steps")), 4);
	config_free(cfg);

	/* other instances come in addition to the built-in one */
	cfg = parse_ok("backends:\n  a:\n    type: mock\n  b:\n    type: mock\n");
	assert_int_equal(cfg->nbackends, 3);
	config_backend_names(cfg, names, sizeof(names));
	assert_string_equal(names, "mock, a, b");
	assert_null(config_backend(cfg, "mock")->node);
	config_free(cfg);
}

static void test_warnings_for_missing_owner(void **state)
{
	struct config *cfg;
	char warn[512];

	(void)state;
	cfg = parse_ok(
		"cloud:\n  supabase_url: https://example.supabase.co\n  owner_user_id: \"\"\n");
	assert_int_equal(config_warnings(cfg, warn, sizeof(warn)), 1);
	assert_string_equal(warn,
			    "cloud sync is auto but cloud.owner_user_id is empty: sync will be "
			    "refused (see imagen config init)\n");
	config_free(cfg);

	cfg = parse_ok("output: {cloud_sync: on}\ncloud:\n  bucket: b\n");
	assert_int_equal(config_warnings(cfg, warn, sizeof(warn)), 1);
	assert_non_null(strstr(warn, "cloud sync is on but"));
	config_free(cfg);

	/* sync off: nothing to warn about */
	cfg = parse_ok(
		"output: {cloud_sync: off}\ncloud:\n  supabase_url: https://x.supabase.co\n");
	assert_int_equal(config_warnings(cfg, warn, sizeof(warn)), 0);
	assert_string_equal(warn, "");
	config_free(cfg);

	/* no cloud section, or an empty one */
	cfg = parse_ok("output: {cloud_sync: on}\n");
	assert_int_equal(config_warnings(cfg, warn, sizeof(warn)), 0);
	config_free(cfg);
	cfg = parse_ok("cloud:\n");
	assert_int_equal(cfg->has_cloud, 0);
	assert_int_equal(config_warnings(cfg, warn, sizeof(warn)), 0);
	config_free(cfg);

	/* an owner set */
	cfg = parse_ok("cloud:\n  owner_user_id: AC6C9501-3757-4A6D-8B97-2CFF4288382B\n");
	assert_int_equal(cfg->has_cloud, 1);
	assert_int_equal(config_warnings(cfg, warn, sizeof(warn)), 0);
	config_free(cfg);
}

static void test_style_suffix(void **state)
{
	struct config *cfg = parse_ok("styles:\n  noir: \"black and white\"\n");

	(void)state;
	assert_string_equal(config_style_suffix(cfg, "none"), "");
	assert_string_equal(config_style_suffix(cfg, "noir"), "black and white");
	assert_null(config_style_suffix(cfg, "cinematic")); /* not in this file */
	assert_null(config_style_suffix(cfg, "nope"));
	config_free(cfg);
}

static void test_locate(void **state)
{
	struct config *cfg;
	int line = 0, col = 0;

	(void)state;
	cfg = parse_ok("output:\n  naming: x.png\nbackends:\n  m:\n    type: mock\n    steps: 4\n");
	assert_int_equal(config_locate(cfg, "backends.m.steps", &line, &col), 0);
	assert_int_equal(line, 6);
	assert_int_equal(col, 5);
	assert_int_equal(config_locate(cfg, "output.naming", &line, &col), 0);
	assert_int_equal(line, 2);
	assert_int_equal(col, 3);
	assert_int_equal(config_locate(cfg, "backends", &line, &col), 0);
	assert_int_equal(line, 3);
	assert_int_equal(col, 1);
	line = col = -5;
	assert_int_equal(config_locate(cfg, "backends.m.width", &line, &col), -1);
	assert_int_equal(config_locate(cfg, "output.naming.deeper", &line, &col), -1);
	assert_int_equal(config_locate(cfg, "defaults.backend", &line, &col), -1);
	assert_int_equal(config_locate(cfg, "", &line, &col), -1);
	assert_int_equal(line, -5); /* untouched on failure */
	assert_int_equal(col, -5);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_top_level_key),
		cmocka_unit_test(test_unknown_section_keys),
		cmocka_unit_test(test_unknown_backend_key),
		cmocka_unit_test(test_tab_in_indentation),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_bad_enum_and_bool),
		cmocka_unit_test(test_bad_uuid),
		cmocka_unit_test(test_unknown_backend_type),
		cmocka_unit_test(test_unknown_default_backend_and_style),
		cmocka_unit_test(test_bad_naming_template),
		cmocka_unit_test(test_invalid_instance_name),
		cmocka_unit_test(test_binary_input),
		cmocka_unit_test(test_file_too_large),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_alias_and_documents),
		cmocka_unit_test(test_load_file_names_the_path),
		cmocka_unit_test(test_builtin_default),
		cmocka_unit_test(test_sample_is_valid_without_warnings),
		cmocka_unit_test(test_empty_text_is_valid),
		cmocka_unit_test(test_values_are_read),
		cmocka_unit_test(test_own_mock_instance_replaces_builtin),
		cmocka_unit_test(test_warnings_for_missing_owner),
		cmocka_unit_test(test_style_suffix),
		cmocka_unit_test(test_locate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
