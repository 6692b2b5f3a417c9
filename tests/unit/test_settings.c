/* test_settings.c - precedence of every knob: flag > environment > config file > default. */
#include "testlib.h"

#include <ctype.h>

/* ---- helpers ----------------------------------------------------------------------------- */

static const struct overrides no_overrides = { NULL, FROM_FLAG, NULL, -1, -1 };

static const char full_config[] = "defaults:\n  backend: fast\n"
				  "output:\n  directory: /srv/from-config\n"
				  "  cloud_sync: off\n  preview: on\n"
				  "cloud:\n  supabase_url: https://x.supabase.co\n"
				  "backends:\n  fast:\n    type: mock\n  slow:\n    type: mock\n";

static void resolve_ok(struct settings *st, const struct config *cfg, const struct overrides *ov)
{
	struct err err = ERR_INIT;

	memset(st, 0xa5, sizeof(*st));
	if (settings_resolve(st, cfg, ov, fake_env(), &err) != 0)
		fail_msg("settings_resolve failed: %s", err.msg);
}

/* ---- built-in defaults ------------------------------------------------------------------- */

static void test_defaults_when_nothing_is_set(void **state)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	struct settings st;

	(void)state;
	env_reset();
	assert_int_equal(config_load_default(&cfg, &err), 0);
	resolve_ok(&st, cfg, &no_overrides);
	assert_string_equal(st.backend, "mock");
	assert_int_equal(st.backend_from, FROM_DEFAULT);
	assert_string_equal(st.output_dir, "~/Pictures/imagen");
	assert_int_equal(st.output_dir_from, FROM_DEFAULT);
	assert_int_equal(st.cloud_sync, MODE_AUTO);
	assert_int_equal(st.cloud_sync_from, FROM_DEFAULT);
	assert_int_equal(st.preview, MODE_AUTO);
	assert_int_equal(st.preview_from, FROM_DEFAULT);
	config_free(cfg);
}

static void test_empty_file_gives_defaults(void **state)
{
	struct config *cfg;
	struct settings st;

	(void)state;
	env_reset();
	cfg = load_text_file("# nothing\n");
	resolve_ok(&st, cfg, &no_overrides);
	assert_string_equal(st.backend, "mock");
	assert_int_equal(st.backend_from, FROM_DEFAULT);
	assert_string_equal(st.output_dir, "~/Pictures/imagen");
	assert_int_equal(st.output_dir_from, FROM_DEFAULT);
	assert_int_equal(st.cloud_sync_from, FROM_DEFAULT);
	assert_int_equal(st.preview_from, FROM_DEFAULT);
	config_free(cfg);
}

/* ---- config file ------------------------------------------------------------------------- */

static void test_config_values(void **state)
{
	struct config *cfg;
	struct settings st;

	(void)state;
	env_reset();
	/* values from config text parsed in memory */
	cfg = parse_text(full_config);
	resolve_ok(&st, cfg, &no_overrides);
	assert_string_equal(st.backend, "fast");
	assert_string_equal(st.output_dir, "/srv/from-config");
	assert_int_equal(st.cloud_sync, MODE_OFF);
	assert_int_equal(st.preview, MODE_ON);
	config_free(cfg);
}

static void test_config_file_origins(void **state)
{
	struct config *cfg;
	struct settings st;

	(void)state;
	env_reset();
	cfg = load_text_file(full_config);
	resolve_ok(&st, cfg, &no_overrides);
	assert_string_equal(st.backend, "fast");
	assert_int_equal(st.backend_from, FROM_CONFIG);
	assert_string_equal(st.output_dir, "/srv/from-config");
	assert_int_equal(st.output_dir_from, FROM_CONFIG);
	assert_int_equal(st.cloud_sync, MODE_OFF);
	assert_int_equal(st.cloud_sync_from, FROM_CONFIG);
	assert_int_equal(st.preview, MODE_ON);
	assert_int_equal(st.preview_from, FROM_CONFIG);
	config_free(cfg);

	/* a knob the file does not mention keeps the default's origin */
	cfg = load_text_file("output:\n  preview: off\n");
	resolve_ok(&st, cfg, &no_overrides);
	assert_int_equal(st.preview, MODE_OFF);
	assert_int_equal(st.preview_from, FROM_CONFIG);
	assert_int_equal(st.cloud_sync, MODE_AUTO);
	assert_int_equal(st.cloud_sync_from, FROM_DEFAULT);
	assert_int_equal(st.backend_from, FROM_DEFAULT);
	assert_int_equal(st.output_dir_from, FROM_DEFAULT);
	config_free(cfg);
}

/* ---- environment ------------------------------------------------------------------------- */

static void test_environment_beats_config(void **state)
{
	struct config *cfg;
	struct settings st;

	(void)state;
	env_reset();
	env_set("IMAGEN_BACKEND", "slow");
	env_set("IMAGEN_OUTPUT_DIR", "/srv/from-env");
	env_set("IMAGEN_CLOUD_SYNC", "on");
	env_set("IMAGEN_PREVIEW", "off");
	env_set("SUPABASE_SERVICE_ROLE_KEY", "k"); /* on needs a usable cloud config */
	cfg = load_text_file(full_config);
	resolve_ok(&st, cfg, &no_overrides);
	assert_string_equal(st.backend, "slow");
	assert_int_equal(st.backend_from, FROM_ENV);
	assert_string_equal(st.output_dir, "/srv/from-env");
	assert_int_equal(st.output_dir_from, FROM_ENV);
	assert_int_equal(st.cloud_sync, MODE_ON);
	assert_int_equal(st.cloud_sync_from, FROM_ENV);
	assert_int_equal(st.preview, MODE_OFF);
	assert_int_equal(st.preview_from, FROM_ENV);
	config_free(cfg);
}

static void test_empty_environment_counts_as_unset(void **state)
{
	struct config *cfg;
	struct settings st;

	(void)state;
	env_reset();
	env_set("IMAGEN_BACKEND", "");
	env_set("IMAGEN_OUTPUT_DIR", "");
	env_set("IMAGEN_CLOUD_SYNC", "");
	env_set("IMAGEN_PREVIEW", "");
	cfg = load_text_file(full_config);
	resolve_ok(&st, cfg, &no_overrides);
	assert_string_equal(st.backend, "fast");
	assert_int_equal(st.backend_from, FROM_CONFIG);
	assert_string_equal(st.output_dir, "/srv/from-config");
	assert_int_equal(st.output_dir_from, FROM_CONFIG);
	assert_int_equal(st.cloud_sync, MODE_OFF);
	assert_int_equal(st.cloud_sync_from, FROM_CONFIG);
	assert_int_equal(st.preview, MODE_ON);
	assert_int_equal(st.preview_from, FROM_CONFIG);
	config_free(cfg);
}

static void test_invalid_environment_modes(void **state)
{
	struct config *cfg;
	struct settings st;
	struct err err = ERR_INIT;

	(void)state;
	cfg = parse_text(full_config);

	env_reset();
	env_set("IMAGEN_CLOUD_SYNC", "x");
	assert_int_equal(settings_resolve(&st, cfg, &no_overrides, fake_env(), &err), -1);
	assert_string_equal(err.msg,
			    "IMAGEN_CLOUD_SYNC: invalid value 'x' (expected auto, on or off)");
	assert_int_equal(err.code, 2);

	env_reset();
	env_set("IMAGEN_PREVIEW", "ON"); /* case matters */
	err_clear(&err);
	assert_int_equal(settings_resolve(&st, cfg, &no_overrides, fake_env(), &err), -1);
	assert_string_equal(err.msg,
			    "IMAGEN_PREVIEW: invalid value 'ON' (expected auto, on or off)");
	assert_int_equal(err.code, 2);
	config_free(cfg);
}

static void test_invalid_environment_ignored_under_flag(void **state)
{
	struct config *cfg;
	struct settings st;
	struct overrides ov = no_overrides;

	(void)state;
	cfg = parse_text(full_config);
	env_reset();
	env_set("IMAGEN_CLOUD_SYNC", "sometimes");
	env_set("IMAGEN_PREVIEW", "maybe");
	ov.cloud_sync = MODE_OFF;
	ov.preview = MODE_AUTO;
	resolve_ok(&st, cfg, &ov);
	assert_int_equal(st.cloud_sync, MODE_OFF);
	assert_int_equal(st.cloud_sync_from, FROM_FLAG);
	assert_int_equal(st.preview, MODE_AUTO);
	assert_int_equal(st.preview_from, FROM_FLAG);

	/* only the knob with a flag is shielded */
	{
		struct err err = ERR_INIT;

		ov.preview = -1;
		assert_int_equal(settings_resolve(&st, cfg, &ov, fake_env(), &err), -1);
		assert_string_equal(
			err.msg,
			"IMAGEN_PREVIEW: invalid value 'maybe' (expected auto, on or off)");
	}
	config_free(cfg);
}

/* ---- flags ------------------------------------------------------------------------------- */

static void test_flags_beat_environment(void **state)
{
	struct config *cfg;
	struct settings st;
	struct overrides ov = { "mock", FROM_FLAG, "/srv/from-flag", MODE_ON, MODE_OFF };

	(void)state;
	env_reset();
	env_set("IMAGEN_BACKEND", "slow");
	env_set("IMAGEN_OUTPUT_DIR", "/srv/from-env");
	env_set("IMAGEN_CLOUD_SYNC", "off");
	env_set("IMAGEN_PREVIEW", "on");
	env_set("SUPABASE_SERVICE_ROLE_KEY", "k"); /* on needs a usable cloud config */
	cfg = load_text_file(full_config);
	resolve_ok(&st, cfg, &ov);
	assert_string_equal(st.backend, "mock");
	assert_int_equal(st.backend_from, FROM_FLAG);
	assert_string_equal(st.output_dir, "/srv/from-flag");
	assert_int_equal(st.output_dir_from, FROM_FLAG);
	assert_int_equal(st.cloud_sync, MODE_ON);
	assert_int_equal(st.cloud_sync_from, FROM_FLAG);
	assert_int_equal(st.preview, MODE_OFF);
	assert_int_equal(st.preview_from, FROM_FLAG);
	config_free(cfg);
}

static void test_flags_beat_config_without_environment(void **state)
{
	struct config *cfg;
	struct settings st;
	struct overrides ov = { "slow", FROM_FLAG, "rel/dir", MODE_AUTO, MODE_AUTO };

	(void)state;
	env_reset();
	cfg = load_text_file(full_config);
	resolve_ok(&st, cfg, &ov);
	assert_string_equal(st.backend, "slow");
	assert_int_equal(st.backend_from, FROM_FLAG);
	assert_string_equal(st.output_dir, "rel/dir");
	assert_int_equal(st.output_dir_from, FROM_FLAG);
	/* MODE_AUTO (0) from a flag is a real choice, not "not given" */
	assert_int_equal(st.cloud_sync, MODE_AUTO);
	assert_int_equal(st.cloud_sync_from, FROM_FLAG);
	assert_int_equal(st.preview, MODE_AUTO);
	assert_int_equal(st.preview_from, FROM_FLAG);
	config_free(cfg);
}

static void test_from_file_beats_environment(void **state)
{
	struct config *cfg;
	struct settings st;
	struct overrides ov = no_overrides;

	(void)state;
	env_reset();
	env_set("IMAGEN_BACKEND", "slow");
	cfg = load_text_file(full_config);
	ov.backend = "mock";
	ov.backend_origin = FROM_FILE_ARG;
	resolve_ok(&st, cfg, &ov);
	assert_string_equal(st.backend, "mock");
	assert_int_equal(st.backend_from, FROM_FILE_ARG);
	/* --from decides only the backend */
	assert_int_equal(st.output_dir_from, FROM_CONFIG);
	config_free(cfg);
}

/* ---- the whole chain, row by row of the options table ------------------------------------- */

/* For every row with a variable: a value at each layer, and which layer must win. */
static void test_chain_for_every_row_with_a_variable(void **state)
{
	static const struct {
		const char *key, *file, *env, *flag;
	} layers[] = {
		{ "defaults.backend", "fast", "slow", "mock" },
		{ "output.directory", "/srv/file", "/srv/env", "/srv/flag" },
		{ "output.cloud_sync", "off", "auto", "on" },
		{ "output.preview", "on", "off", "auto" },
	};
	const struct cfg_option *o;
	struct config *def, *cfg;
	struct err err = ERR_INIT;
	const char *val;
	enum origin from;
	char text[512];
	size_t i;

	(void)state;
	def = parse_text("");
	for (o = config_options; o->key; o++) {
		if (!o->env)
			continue;
		for (i = 0; i < sizeof(layers) / sizeof(layers[0]); i++)
			if (!strcmp(layers[i].key, o->key))
				break;
		if (i == sizeof(layers) / sizeof(layers[0]))
			fail_msg("%s: a row with a variable this test does not know", o->key);
		snprintf(text, sizeof(text), "%.*s:\n  %s: %s\nbackends: {fast: {type: mock}}\n",
			 (int)(strchr(o->key, '.') - o->key), o->key, strchr(o->key, '.') + 1,
			 layers[i].file);
		cfg = load_text_file(text);

		/* nothing set: the built-in default */
		env_reset();
		assert_int_equal(
			config_resolve(&val, &from, def, o, NULL, FROM_FLAG, fake_env(), &err), 0);
		assert_string_equal(val, o->def);
		assert_int_equal(from, FROM_DEFAULT);
		/* the file over the default */
		assert_int_equal(
			config_resolve(&val, &from, cfg, o, NULL, FROM_FLAG, fake_env(), &err), 0);
		assert_string_equal(val, layers[i].file);
		assert_int_equal(from, FROM_CONFIG);
		/* the environment over the file (an empty variable is no variable) */
		env_set(o->env, "");
		assert_int_equal(
			config_resolve(&val, &from, cfg, o, NULL, FROM_FLAG, fake_env(), &err), 0);
		assert_int_equal(from, FROM_CONFIG);
		env_set(o->env, layers[i].env);
		assert_int_equal(
			config_resolve(&val, &from, cfg, o, NULL, FROM_FLAG, fake_env(), &err), 0);
		assert_string_equal(val, layers[i].env);
		assert_int_equal(from, FROM_ENV);
		/* the flag over everything, with the origin the caller names */
		assert_int_equal(config_resolve(&val, &from, cfg, o, layers[i].flag, FROM_FLAG,
						fake_env(), &err),
				 0);
		assert_string_equal(val, layers[i].flag);
		assert_int_equal(from, FROM_FLAG);
		assert_int_equal(config_resolve(&val, &from, cfg, o, layers[i].flag, FROM_FILE_ARG,
						fake_env(), &err),
				 0);
		assert_int_equal(from, FROM_FILE_ARG);
		config_free(cfg);
	}
	config_free(def);
}

/* The name of a variable for key: IMAGEN_ and the upper-cased key, dots as '_'. */
static void env_name_for(char *out, size_t size, const char *key)
{
	size_t i;

	snprintf(out, size, "IMAGEN_%s", key);
	for (i = 0; out[i]; i++)
		out[i] = out[i] == '.' ? '_' : (char)toupper((unsigned char)out[i]);
}

/* A row without a variable never reads one, whatever is set. */
static void test_rows_without_a_variable_ignore_the_environment(void **state)
{
	static char names[2][TESTLIB_ENV_MAX][96];
	const struct cfg_option *o;
	struct config *cfg = load_text_file("defaults: {style: noir}\nstyles: {noir: n}\n");
	struct err err = ERR_INIT;
	const char *val;
	enum origin from;
	size_t n = 0;

	(void)state;
	env_reset();
	/* the names a careless table would use: IMAGEN_DEFAULTS_STYLE, IMAGEN_STYLE, ... */
	for (o = config_options; o->key && n < TESTLIB_ENV_MAX / 2; o++) {
		if (o->env)
			continue;
		env_name_for(names[0][n], sizeof(names[0][n]), o->key);
		env_name_for(names[1][n], sizeof(names[1][n]), strchr(o->key, '.') + 1);
		env_set(names[0][n], "from-env");
		env_set(names[1][n], "from-env");
		n++;
	}
	assert_true(n >= 5);
	for (o = config_options; o->key; o++) {
		if (o->env)
			continue;
		assert_int_equal(
			config_resolve(&val, &from, cfg, o, NULL, FROM_FLAG, fake_env(), &err), 0);
		assert_string_not_equal(val, "from-env");
		assert_int_equal(from,
				 strcmp(o->key, "defaults.style") ? FROM_DEFAULT : FROM_CONFIG);
	}
	config_free(cfg);
}

/* A variable the row's type refuses is an error naming it and what it expects. */
static void test_environment_values_are_typed_by_the_row(void **state)
{
	struct cfg_option row = *config_option("preview.inline");
	struct config *cfg = parse_text("");
	struct err err = ERR_INIT;
	const char *val;
	enum origin from;

	(void)state;
	row.env = "IMAGEN_TEST_INLINE"; /* a row of another type than the table's variables */
	env_reset();
	env_set("IMAGEN_TEST_INLINE", "maybe");
	assert_int_equal(config_resolve(&val, &from, cfg, &row, NULL, FROM_FLAG, fake_env(), &err),
			 -1);
	assert_string_equal(
		err.msg,
		"IMAGEN_TEST_INLINE: invalid value 'maybe' (expected auto, true or false)");
	assert_int_equal(err.code, 2);
	env_set("IMAGEN_TEST_INLINE", "true");
	assert_int_equal(config_resolve(&val, &from, cfg, &row, NULL, FROM_FLAG, fake_env(), &err),
			 0);
	assert_string_equal(val, "true");
	assert_int_equal(from, FROM_ENV);
	config_free(cfg);
}

/* ---- names ------------------------------------------------------------------------------- */

static void test_mode_round_trip(void **state)
{
	enum mode m;

	(void)state;
	for (m = MODE_AUTO; m <= MODE_OFF; m++)
		assert_int_equal(mode_parse(mode_name(m)), (int)m);
	assert_string_equal(mode_name(MODE_AUTO), "auto");
	assert_string_equal(mode_name(MODE_ON), "on");
	assert_string_equal(mode_name(MODE_OFF), "off");
	assert_int_equal(mode_parse("auto"), MODE_AUTO);
	assert_int_equal(mode_parse("on"), MODE_ON);
	assert_int_equal(mode_parse("off"), MODE_OFF);
	assert_int_equal(mode_parse("Off"), -1);
	assert_int_equal(mode_parse(""), -1);
	assert_int_equal(mode_parse("true"), -1);
	assert_int_equal(mode_parse(NULL), -1);
}

static void test_origin_names(void **state)
{
	(void)state;
	assert_string_equal(origin_name(FROM_DEFAULT), "built-in default");
	assert_string_equal(origin_name(FROM_CONFIG), "config file");
	assert_string_equal(origin_name(FROM_ENV), "environment");
	assert_string_equal(origin_name(FROM_FILE_ARG), "--from");
	assert_string_equal(origin_name(FROM_FLAG), "flag");
}

int main(void)
{
	/* the real environment holds traps: settings_resolve must only consult its env */
	setenv("IMAGEN_BACKEND", "real-env-backend", 1);
	setenv("IMAGEN_OUTPUT_DIR", "/real/env/dir", 1);
	setenv("IMAGEN_CLOUD_SYNC", "not-a-mode", 1);
	setenv("IMAGEN_PREVIEW", "not-a-mode", 1);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_when_nothing_is_set),
		cmocka_unit_test(test_empty_file_gives_defaults),
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_config_file_origins),
		cmocka_unit_test(test_environment_beats_config),
		cmocka_unit_test(test_empty_environment_counts_as_unset),
		cmocka_unit_test(test_invalid_environment_modes),
		cmocka_unit_test(test_invalid_environment_ignored_under_flag),
		cmocka_unit_test(test_flags_beat_environment),
		cmocka_unit_test(test_flags_beat_config_without_environment),
		cmocka_unit_test(test_from_file_beats_environment),
		cmocka_unit_test(test_chain_for_every_row_with_a_variable),
		cmocka_unit_test(test_rows_without_a_variable_ignore_the_environment),
		cmocka_unit_test(test_environment_values_are_typed_by_the_row),
		cmocka_unit_test(test_mode_round_trip),
		cmocka_unit_test(test_origin_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
