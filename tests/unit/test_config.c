/* test_config.c - imagen.yaml validation messages, the embedded default, warnings, lookups. */
#include "testlib.h"

#include "core/yamlnode.h"

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

static void test_bad_budget(void **state)
{
	(void)state;
	assert_refused("budget:\n  per_day: -3\n",
		       "config: t.yaml:2:12: budget.per_day: expected an amount in USD above 0, "
		       "got '-3'");
	assert_refused("budget:\n  per_batch: 5 dollars\n",
		       "config: t.yaml:2:14: budget.per_batch: expected an amount in USD above "
		       "0, got '5 dollars'");
	assert_true(config_usd("") == 0);
	assert_true(config_usd("0.25") == 0.25);
	assert_true(config_usd("0") < 0);
}

static void test_unknown_backend_type(void **state)
{
	(void)state;
	/* "    type: mokc": column 11 */
	assert_refused("backends:\n  m:\n    type: mokc\n",
		       "config: t.yaml:3:11: backends.m: unknown backend type 'mokc' (did you mean "
		       "'mock'?) (known: mock, comfyui, replicate, openai, a1111, pool)");
	assert_refused("backends:\n  m:\n    type: gpu\n",
		       "config: t.yaml:3:11: backends.m: unknown backend type 'gpu' (known: mock, "
		       "comfyui, replicate, openai, a1111, pool)");
	assert_refused("backends:\n  m:\n    width: 4\n",
		       "config: t.yaml:2:3: backends.m: missing 'type' (known types: mock, "
		       "comfyui, replicate, openai, a1111, pool)");
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

/* The sample `config init` writes (malloc'd). */
static char *sample_text(void)
{
	struct buf b = BUF_INIT;

	assert_int_equal(config_sample(&b), 0);
	assert_non_null(b.data);
	return buf_detach(&b, NULL);
}

static void test_sample_is_valid_without_warnings(void **state)
{
	char *text = sample_text();
	struct config *cfg = parse_ok(text);
	char warn[512];

	(void)state;
	assert_int_equal(config_warnings(cfg, warn, sizeof(warn)), 0);
	assert_string_equal(warn, "");
	assert_int_equal(cfg->has_cloud, 1);
	/* issue 9 item 8: nobody's rows may carry the project owner's id by default */
	assert_string_equal(cfg->owner_user_id, "");
	assert_string_equal(cfg->bucket, "imagen-generated");
	assert_string_equal(cfg->service_key_env, "SUPABASE_SERVICE_ROLE_KEY");
	assert_int_equal(cfg->nbackends, 1);
	assert_int_equal(
		json_integer_value(json_object_get(config_backend(cfg, "mock")->cfg, "steps")), 20);
	config_free(cfg);
	free(text);
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

/* ---- the options table ---------------------------------------------------------------------- */

static const struct cfg_section *section_of(const struct cfg_option *o)
{
	const struct cfg_section *sec;
	size_t n;

	for (sec = config_sections; sec->name; sec++) {
		n = strlen(sec->name);
		if (!strncmp(o->key, sec->name, n) && o->key[n] == '.')
			return sec;
	}
	return NULL;
}

static void test_table_rows_are_sound(void **state)
{
	const struct cfg_option *o, *p;
	const struct cfg_section *sec;
	struct config *cfg;
	size_t nopts = 0;

	(void)state;
	cfg = parse_ok("");
	for (o = config_options; o->key; o++, nopts++) {
		sec = section_of(o);
		if (!sec || sec->kind != CFG_SECTION_OPTIONS)
			fail_msg("%s: not under an options section", o->key);
		assert_ptr_equal(config_option(o->key), o);
		for (p = o + 1; p->key; p++) {
			if (!strcmp(p->key, o->key))
				fail_msg("%s: two rows", o->key);
			if (o->env && p->env && !strcmp(o->env, p->env))
				fail_msg("%s and %s: one variable", o->key, p->key);
			if (o->offset == p->offset)
				fail_msg("%s and %s: one field", o->key, p->key);
		}
		if (!o->help || !*o->help)
			fail_msg("%s: no help line", o->key);
		if (o->env && strncmp(o->env, "IMAGEN_", 7))
			fail_msg("%s: variable %s outside IMAGEN_", o->key, o->env);
		/* every default is what an empty file gives, read back through the table */
		if (strcmp(config_value(cfg, o), o->def))
			fail_msg("%s: default '%s' reads back as '%s'", o->key, o->def,
				 config_value(cfg, o));
	}
	assert_true(nopts >= 14);
	assert_null(config_option("output.nope"));
	assert_null(config_option(NULL));
	config_free(cfg);
}

/* A file setting every option away from its default: each row must land in its own field. */
static void test_every_row_reads_its_own_field(void **state)
{
	static const struct {
		const char *key, *value;
	} want[] = {
		{ "defaults.backend", "fast" },
		{ "defaults.style", "noir" },
		{ "output.directory", "/srv/img" },
		{ "output.naming", "{seed}.png" },
		{ "output.write_metadata_json", "false" },
		{ "output.cloud_sync", "on" },
		{ "output.preview", "off" },
		{ "preview.command", "timg {path}" },
		{ "preview.focus", "true" },
		{ "preview.inline", "false" },
		{ "cloud.supabase_url", "http://127.0.0.1:9" },
		{ "cloud.service_key_env", "MY_KEY" },
		{ "cloud.bucket", "b" },
		{ "cloud.owner_user_id", "AC6C9501-3757-4A6D-8B97-2CFF4288382B" },
		{ "budget.per_batch", "2.5" },
		{ "budget.per_day", "10" },
	};
	struct config *cfg;
	const struct cfg_option *o;
	size_t i;

	(void)state;
	cfg = parse_ok("defaults: {backend: fast, style: noir}\n"
		       "styles: {noir: \"black and white\"}\n"
		       "output:\n  directory: /srv/img\n  naming: \"{seed}.png\"\n"
		       "  write_metadata_json: false\n  cloud_sync: on\n  preview: off\n"
		       "preview: {command: \"timg {path}\", focus: true, inline: false}\n"
		       "cloud:\n  supabase_url: http://127.0.0.1:9\n  service_key_env: MY_KEY\n"
		       "  bucket: b\n  owner_user_id: AC6C9501-3757-4A6D-8B97-2CFF4288382B\n"
		       "budget: {per_batch: 2.5, per_day: 10}\n"
		       "backends: {fast: {type: mock}}\n");
	for (o = config_options; o->key; o++) {
		for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			if (!strcmp(want[i].key, o->key))
				break;
		if (i == sizeof(want) / sizeof(want[0]))
			fail_msg("%s: add it to this test", o->key);
		if (strcmp(config_value(cfg, o), want[i].value))
			fail_msg("%s: '%s', expected '%s'", o->key, config_value(cfg, o),
				 want[i].value);
	}
	/* the typed fields the rest of the program reads */
	assert_int_equal(cfg->write_metadata_json, 0);
	assert_int_equal(cfg->cloud_sync, MODE_ON);
	assert_int_equal(cfg->preview, MODE_OFF);
	assert_int_equal(cfg->preview_focus, 1);
	assert_int_equal(cfg->preview_inline, 0);
	assert_string_equal(cfg->preview_command, "timg {path}");
	config_free(cfg);
}

/* Every typed row refuses a wrong value with its key, position and what it expects. */
static void test_every_typed_row_refuses_a_wrong_value(void **state)
{
	const struct cfg_option *o;
	const char *dot;
	char text[256], want[512];

	(void)state;
	for (o = config_options; o->key; o++) {
		if (o->type == CFG_STRING)
			continue;
		dot = strchr(o->key, '.');
		/* "SECTION:\n  LEAF: 'maybe'": the value starts in column 5 + strlen(LEAF) */
		snprintf(text, sizeof(text), "%.*s:\n  %s: maybe\n", (int)(dot - o->key), o->key,
			 dot + 1);
		snprintf(want, sizeof(want), "config: t.yaml:2:%zu: %s: expected %s, got 'maybe'",
			 strlen(dot + 1) + 5, o->key,
			 o->type == CFG_BOOL   ? "true or false"
			 : o->type == CFG_MODE ? "auto, on or off"
					       : "auto, true or false");
		assert_refused(text, want);
	}
	/* a string row refuses a collection */
	assert_refused("output:\n  directory: [a, b]\n",
		       "config: t.yaml:2:14: output.directory: expected a string");
	assert_refused("preview:\n  inline: [1]\n",
		       "config: t.yaml:2:11: preview.inline: expected auto, true or false, got "
		       "'(a collection)'");
}

static void test_row_checks(void **state)
{
	(void)state;
	assert_refused("output:\n  directory: \"\"\n",
		       "config: t.yaml:2:14: output.directory: must not be empty");
	assert_refused("cloud:\n  service_key_env: \"\"\n",
		       "config: t.yaml:2:20: cloud.service_key_env: must name an environment "
		       "variable");
	assert_refused("cloud:\n  bucket: \"\"\n", "config: t.yaml:2:11: cloud.bucket: must not be "
						   "empty");
	assert_refused("cloud:\n  supabase_url: ftp://x\n",
		       "config: t.yaml:2:17: cloud.supabase_url: expected an http(s) URL, got "
		       "'ftp://x'");
	assert_refused("preview:\n  command: \"chafa\"\n",
		       "config: t.yaml:2:12: preview.command: 'chafa' has no {path} (where the "
		       "image file goes)");
	/* the backend check waits for the instances, wherever the section stands */
	{
		struct config *cfg = parse_ok("defaults: {backend: late}\n"
					      "backends: {late: {type: mock}}\n");

		assert_string_equal(cfg->default_backend, "late");
		config_free(cfg);
	}
}

/* ---- the sample: the table's defaults, the built-in styles, each adapter's block ---------- */

static void test_sample_agrees_with_the_table(void **state)
{
	char *text = sample_text(), line[256];
	struct config *cfg = parse_ok(text), *def = parse_ok("");
	const struct cfg_option *o;
	const char *p, *nl;

	(void)state;
	for (o = config_options; o->key; o++) {
		/* the value the sample gives is the default */
		if (strcmp(config_value(cfg, o), config_value(def, o)))
			fail_msg("%s: the sample says '%s', the table '%s'", o->key,
				 config_value(cfg, o), config_value(def, o));
		/* and the key is there to edit, or shown by example */
		snprintf(line, sizeof(line), "\n  %s%s: ", o->example && !*o->def ? "# " : "",
			 strchr(o->key, '.') + 1);
		if (!strstr(text, line))
			fail_msg("%s: not in the sample", o->key);
		if (o->env && !strstr(text, o->env))
			fail_msg("%s: the sample does not name %s", o->key, o->env);
	}
	/* the built-in styles, as the built-in default has them */
	config_free(def);
	assert_int_equal(config_load_default(&def, NULL), 0);
	assert_int_equal(cfg->nstyles, def->nstyles);
	for (size_t i = 0; i < def->nstyles; i++)
		assert_string_equal(config_style_suffix(cfg, def->styles[i].name),
				    def->styles[i].suffix);
	/* the owner's UUID is documented, in comment lines only, with the lookup */
	assert_non_null(strstr(text, "ac6c9501-3757-4a6d-8b97-2cff4288382b"));
	assert_non_null(strstr(text, "select id from auth.users"));
	for (p = text; (p = strstr(p, "ac6c9501")); p++) {
		for (nl = p; nl > text && nl[-1] != '\n'; nl--)
			;
		while (*nl == ' ')
			nl++;
		assert_int_equal(*nl, '#');
	}
	assert_non_null(strstr(text, "\n  owner_user_id: \"\""));
	config_free(def);
	config_free(cfg);

	/* an example stands on a line of its own: uncommented, it is a working line */
	for (o = config_options; o->key; o++) {
		char *at, *edited;

		if (!o->example || *o->def)
			continue;
		snprintf(line, sizeof(line), "\n  # %s: ", strchr(o->key, '.') + 1);
		at = strstr(text, line);
		assert_non_null(at);
		edited = strdup(text);
		assert_non_null(edited);
		memmove(edited + (at - text) + 3, edited + (at - text) + 5,
			strlen(edited + (at - text) + 5) + 1);
		cfg = parse_ok(edited);
		assert_string_equal(config_value(cfg, o), o->example);
		config_free(cfg);
		free(edited);
	}
	free(text);
}

static void test_sample_carries_every_adapter_block(void **state)
{
	const struct backend_ops *const *t = backend_types();
	char *text = sample_text(), *line, want[64];
	const char *type;
	size_t i;

	(void)state;
	for (i = 0; t[i]; i++) {
		assert_non_null(t[i]->sample);
		/* the default backend (mock) is active, the others wait commented out */
		snprintf(want, sizeof(want), "\n  %s  type: %s",
			 strcmp(t[i]->type, "mock") ? "# " : "", t[i]->type);
		if (!strstr(text, want))
			fail_msg("%s: no '%s' in the sample", t[i]->type, want + 1);
		/* verbatim, comments and all: the adapter's text is what the user reads */
		type = strstr(t[i]->sample, "type:");
		assert_non_null(type);
		line = strndup(type, strcspn(type, "\n"));
		assert_non_null(strstr(text, line));
		free(line);
	}
	free(text);
}

/* Each adapter's own sample block validates, and documents every key it accepts. */
static void test_adapter_samples_validate_and_cover_their_keys(void **state)
{
	const struct backend_ops *const *t = backend_types();
	const struct ynode *inst;
	struct ynode *root;
	struct err err = ERR_INIT;
	char want[128];
	json_t *slice;
	size_t i, k;

	(void)state;
	for (i = 0; t[i]; i++) {
		assert_non_null(t[i]->keys);
		assert_int_equal(
			yaml_parse(&root, t[i]->sample, strlen(t[i]->sample), t[i]->type, &err), 0);
		assert_int_equal(root->kind, YN_MAP);
		assert_int_equal(root->n, 1); /* one instance */
		inst = root->items[1];
		slice = ynode_to_json(inst);
		assert_non_null(slice);
		err_clear(&err);
		if (cfg_check_keys(root->items[0]->str, slice, t[i]->keys, &err) < 0 ||
		    t[i]->validate(root->items[0]->str, slice, &err) < 0)
			fail_msg("%s: its sample is refused: %s", t[i]->type, err.msg);
		assert_string_equal(json_string_value(json_object_get(slice, "type")), t[i]->type);
		for (k = 0; t[i]->keys[k]; k++) {
			snprintf(want, sizeof(want), "\n  %s:", t[i]->keys[k]);
			if (!strstr(t[i]->sample, want)) {
				snprintf(want, sizeof(want), "\n  # %s:", t[i]->keys[k]);
				if (!strstr(t[i]->sample, want))
					fail_msg("%s: key '%s' is not in its sample", t[i]->type,
						 t[i]->keys[k]);
			}
		}
		json_decref(slice);
		ynode_free(root);
	}
}

static void test_adapter_key_list_is_checked_first(void **state)
{
	(void)state;
	/* the framework refuses a key outside backend_ops.keys with the adapter's words */
	assert_refused("backends:\n  o:\n    type: openai\n    model: m\n    qualty: low\n",
		       "config: t.yaml:5:5: unknown key 'qualty' in backends.o (did you mean "
		       "'quality'?)");
}

/* ---- the built-in mock (issue 9 item 7) -------------------------------------------------- */

static void test_builtin_mock_is_builtin_without_a_file(void **state)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(config_load_default(&cfg, &err), 0);
	assert_null(config_backend(cfg, "mock")->node);
	assert_int_equal(config_backends_configured(cfg), 0);
	assert_int_equal(config_has_section(cfg, "backends"), 0);
	config_free(cfg);

	cfg = parse_ok("backends:\n  a: {type: mock}\n  b: {type: mock}\n  c: {type: openai, "
		       "model: m}\n");
	assert_int_equal(cfg->nbackends, 4); /* the three and the built-in mock */
	assert_int_equal(config_backends_configured(cfg), 3);
	assert_int_equal(config_has_section(cfg, "backends"), 1);
	config_free(cfg);

	cfg = parse_ok("backends:\n  mock: {type: mock}\n  b: {type: mock}\n");
	assert_int_equal(cfg->nbackends, 2);
	assert_int_equal(config_backends_configured(cfg), 2);
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
		cmocka_unit_test(test_table_rows_are_sound),
		cmocka_unit_test(test_every_row_reads_its_own_field),
		cmocka_unit_test(test_every_typed_row_refuses_a_wrong_value),
		cmocka_unit_test(test_row_checks),
		cmocka_unit_test(test_sample_agrees_with_the_table),
		cmocka_unit_test(test_sample_carries_every_adapter_block),
		cmocka_unit_test(test_adapter_samples_validate_and_cover_their_keys),
		cmocka_unit_test(test_adapter_key_list_is_checked_first),
		cmocka_unit_test(test_builtin_mock_is_builtin_without_a_file),
		cmocka_unit_test(test_bad_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
