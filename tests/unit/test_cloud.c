/* test_cloud.c - cloud sync: the mode chain, reading an item back from disk, the rows
 * sent to PostgREST, SHA-256 (the outbox queue: test_outbox.c). */
#include "testlib.h"

#include "cloud/cloud.h"
#include "core/pngmeta.h"
#include "util/sha256.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static const struct overrides no_overrides = { NULL, FROM_FLAG, NULL, -1, -1 };

#define OWNER "ac6c9501-3757-4a6d-8b97-2cff4288382b"
#define CLOUD_SECTION "cloud:\n  supabase_url: https://x.supabase.co/\n  owner_user_id: " OWNER "\n"

/* ---- the mode chain: --no-cloud > $IMAGEN_CLOUD_SYNC > output.cloud_sync > auto --------- */

struct mode_case {
	const char *config;   /* config text */
	const char *env_mode; /* $IMAGEN_CLOUD_SYNC or NULL */
	const char *key;      /* $SUPABASE_SERVICE_ROLE_KEY or NULL */
	int flag;             /* --no-cloud: MODE_OFF, else -1 */
	int want_on;          /* resolved: 1 on, 0 off, -1 a config error */
	enum mode want_mode;
	enum origin want_from;
};

static void test_mode_chain(void **state)
{
	static const struct mode_case cases[] = {
		/* default auto: on exactly when URL and key are there */
		{ "", NULL, NULL, -1, 0, MODE_AUTO, FROM_DEFAULT },
		{ "", NULL, "k", -1, 0, MODE_AUTO, FROM_DEFAULT },
		{ CLOUD_SECTION, NULL, NULL, -1, 0, MODE_AUTO, FROM_DEFAULT },
		{ CLOUD_SECTION, NULL, "", -1, 0, MODE_AUTO, FROM_DEFAULT },
		{ CLOUD_SECTION, NULL, "k", -1, 1, MODE_AUTO, FROM_DEFAULT },
		{ "cloud:\n  supabase_url: \"\"\n", NULL, "k", -1, 0, MODE_AUTO, FROM_DEFAULT },
		/* the config file decides over the default */
		{ "output: {cloud_sync: off}\n" CLOUD_SECTION, NULL, "k", -1, 0, MODE_OFF,
		  FROM_DEFAULT },
		{ "output: {cloud_sync: on}\n" CLOUD_SECTION, NULL, "k", -1, 1, MODE_ON,
		  FROM_DEFAULT },
		{ "output: {cloud_sync: on}\n" CLOUD_SECTION, NULL, NULL, -1, -1, MODE_ON,
		  FROM_DEFAULT },
		{ "output: {cloud_sync: on}\n", NULL, "k", -1, -1, MODE_ON, FROM_DEFAULT },
		/* the environment over the config file */
		{ "output: {cloud_sync: off}\n" CLOUD_SECTION, "on", "k", -1, 1, MODE_ON,
		  FROM_ENV },
		{ "output: {cloud_sync: on}\n" CLOUD_SECTION, "off", "k", -1, 0, MODE_OFF,
		  FROM_ENV },
		{ "output: {cloud_sync: off}\n" CLOUD_SECTION, "auto", "k", -1, 1, MODE_AUTO,
		  FROM_ENV },
		{ "output: {cloud_sync: off}\n", "on", "k", -1, -1, MODE_ON, FROM_ENV },
		{ CLOUD_SECTION, "on", NULL, -1, -1, MODE_ON, FROM_ENV },
		/* --no-cloud over everything, even a bad environment value */
		{ "output: {cloud_sync: on}\n" CLOUD_SECTION, "on", "k", MODE_OFF, 0, MODE_OFF,
		  FROM_FLAG },
		{ "output: {cloud_sync: on}\n", "on", NULL, MODE_OFF, 0, MODE_OFF, FROM_FLAG },
		{ CLOUD_SECTION, "sometimes", "k", MODE_OFF, 0, MODE_OFF, FROM_FLAG },
	};
	struct overrides ov;
	struct settings st;
	struct config *cfg;
	struct err err;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mode_case *c = &cases[i];

		env_reset();
		if (c->env_mode)
			env_set("IMAGEN_CLOUD_SYNC", c->env_mode);
		if (c->key)
			env_set("SUPABASE_SERVICE_ROLE_KEY", c->key);
		cfg = parse_text(c->config);
		ov = no_overrides;
		ov.cloud_sync = c->flag;
		err_clear(&err);
		memset(&st, 0xa5, sizeof(st));
		rc = settings_resolve(&st, cfg, &ov, fake_env(), &err);
		if (c->want_on < 0) {
			if (rc != -1)
				fail_msg("case %zu: expected a config error", i);
			assert_int_equal(err.code, 2);
			assert_non_null(strstr(err.msg, "config: cloud sync is on (from "));
		} else {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err.msg);
			if (st.cloud_on != c->want_on)
				fail_msg("case %zu: cloud_on %d, expected %d", i, st.cloud_on,
					 c->want_on);
			assert_int_equal(st.cloud_sync, c->want_mode);
			/* parse_text has no file path: config values count as the default */
			assert_int_equal(st.cloud_sync_from, c->want_from);
		}
		config_free(cfg);
	}
}

static void test_on_errors_name_what_is_missing(void **state)
{
	struct settings st;
	struct config *cfg;
	struct err err = ERR_INIT;

	(void)state;
	env_reset();
	env_set("IMAGEN_CLOUD_SYNC", "on");
	env_set("SUPABASE_SERVICE_ROLE_KEY", "k");
	cfg = parse_text("output: {cloud_sync: off}\n");
	assert_int_equal(settings_resolve(&st, cfg, &no_overrides, fake_env(), &err), -1);
	assert_string_equal(err.msg,
			    "config: cloud sync is on (from environment) but cloud.supabase_url "
			    "is not set (no config file, see imagen config init)");
	config_free(cfg);

	/* a custom variable name is the one looked up and named */
	env_reset();
	env_set("SUPABASE_SERVICE_ROLE_KEY", "k"); /* not the configured one */
	cfg = parse_text("output: {cloud_sync: on}\n" CLOUD_SECTION
			 "  service_key_env: MY_SUPA_KEY\n");
	err_clear(&err);
	assert_int_equal(settings_resolve(&st, cfg, &no_overrides, fake_env(), &err), -1);
	assert_string_equal(err.msg, "config: cloud sync is on (from built-in default) but the "
				     "environment variable MY_SUPA_KEY (named by "
				     "cloud.service_key_env) is not set");
	env_set("MY_SUPA_KEY", "sb_secret_x");
	err_clear(&err);
	assert_int_equal(settings_resolve(&st, cfg, &no_overrides, fake_env(), &err), 0);
	assert_int_equal(st.cloud_on, 1);
	config_free(cfg);
}

static void test_config_file_origin_and_usable(void **state)
{
	char path[] = "/tmp/imagen-test-cloud-cfg-XXXXXX";
	const char text[] = "output:\n  cloud_sync: on\ncloud:\n  bucket: b\n";
	struct config *cfg = NULL;
	struct settings st;
	struct err err = ERR_INIT;
	char *want;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(config_load_file(&cfg, path, &err), 0);
	env_reset();
	env_set("SUPABASE_SERVICE_ROLE_KEY", "k");
	assert_int_equal(settings_resolve(&st, cfg, &no_overrides, fake_env(), &err), -1);
	want = xasprintf("config: cloud sync is on (from config file) but cloud.supabase_url is "
			 "not set in %s",
			 path);
	assert_string_equal(err.msg, want);
	free(want);
	config_free(cfg);
	unlink(path);
}

/* ---- connection ---------------------------------------------------------------------------- */

static void test_key_formats_and_connection(void **state)
{
	struct cloud_conn c;
	struct config *cfg = parse_text(CLOUD_SECTION);
	struct err err = ERR_INIT;

	(void)state;
	assert_true(cloud_key_is_jwt("eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.x"));
	assert_false(cloud_key_is_jwt("sb_secret_abc"));
	assert_false(cloud_key_is_jwt("sb_publishable_abc"));

	env_reset();
	env_set("SUPABASE_SERVICE_ROLE_KEY", "eyJ.jwt.key");
	assert_int_equal(cloud_connect(&c, cfg, fake_env(), CLOUD_NEED_OWNER, &err), 0);
	assert_string_equal(c.base, "https://x.supabase.co"); /* trailing slash dropped */
	assert_string_equal(c.bucket, "imagen-generated");
	assert_string_equal(c.owner, OWNER);
	assert_string_equal(c.h_apikey, "apikey: eyJ.jwt.key");
	assert_string_equal(c.h_auth, "Authorization: Bearer eyJ.jwt.key");
	cloud_close(&c);

	env_set("SUPABASE_SERVICE_ROLE_KEY", "sb_secret_abc");
	assert_int_equal(cloud_connect(&c, cfg, fake_env(), 0, &err), 0);
	assert_string_equal(c.h_apikey, "apikey: sb_secret_abc");
	assert_null(c.h_auth); /* not a JWT: apikey only */
	cloud_close(&c);

	env_set("SUPABASE_SERVICE_ROLE_KEY", "abc\r\nX-Evil: 1");
	assert_int_equal(cloud_connect(&c, cfg, fake_env(), 0, &err), -1);
	assert_non_null(strstr(err.msg, "line break"));
	assert_null(strstr(err.msg, "Evil"));
	assert_int_equal(err.kind, ERR_KIND_CONFIG);
	assert_null(c.h_apikey); /* nothing left to close after a failure */
	config_free(cfg);

	/* no owner: enough to sign a URL, not to sync */
	cfg = parse_text("cloud:\n  supabase_url: https://x.supabase.co\n");
	env_set("SUPABASE_SERVICE_ROLE_KEY", "k");
	assert_int_equal(cloud_connect(&c, cfg, fake_env(), 0, &err), 0);
	assert_string_equal(c.owner, "");
	cloud_close(&c);
	err_clear(&err);
	assert_int_equal(cloud_connect(&c, cfg, fake_env(), CLOUD_NEED_OWNER, &err), -1);
	assert_string_equal(err.msg, "owner_user_id is not set (see imagen config init)");
	assert_int_equal(err.code, 2);
	assert_int_equal(err.kind, ERR_KIND_CONFIG);
	assert_null(c.base);
	config_free(cfg);

	/* what config_cloud_usable misses is the set-up's error too */
	cfg = parse_text("cloud:\n  owner_user_id: " OWNER "\n");
	err_clear(&err);
	assert_int_equal(cloud_connect(&c, cfg, fake_env(), CLOUD_NEED_OWNER, &err), -1);
	assert_non_null(strstr(err.msg, "cloud.supabase_url is not set"));
	assert_int_equal(err.kind, ERR_KIND_CONFIG);
	config_free(cfg);
}

/* ---- SHA-256 ------------------------------------------------------------------------------- */

static void test_sha256_vectors(void **state)
{
	char hex[65];
	unsigned char *million;

	(void)state;
	sha256_hex(hex, "", 0);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex(hex, "abc", 3);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_hex(hex, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
	assert_string_equal(hex,
			    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* a million 'a' */
	million = malloc(1000000);
	assert_non_null(million);
	memset(million, 'a', 1000000);
	sha256_hex(hex, million, 1000000);
	assert_string_equal(hex,
			    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

/* ---- items read back from disk --------------------------------------------------------- */

static const char sidecar_text[] =
	"{\n"
	"  \"prompt\": \"a red fox\",\n"
	"  \"final_prompt\": \"a red fox, cinematic\",\n"
	"  \"negative_prompt\": null,\n"
	"  \"style\": \"cinematic\",\n"
	"  \"backend\": \"flux\",\n"
	"  \"backend_type\": \"replicate\",\n"
	"  \"model\": \"black-forest-labs/flux-schnell\",\n"
	"  \"seed\": 42,\n"
	"  \"seed_honoured\": true,\n"
	"  \"width\": 8,\n"
	"  \"height\": 4,\n"
	"  \"steps\": 4,\n"
	"  \"created_at\": \"2026-11-24T03:58:04+01:00\",\n"
	"  \"options\": {},\n"
	"  \"metadata\": {\"metrics\": {\"predict_time\": 0.81}},\n"
	"  \"cost\": {\"usd\": 0.003, \"currency\": \"USD\", \"method\": \"per-image price\",\n"
	"           \"source\": \"default\"},\n"
	"  \"imagen_version\": \"0.1.0\"\n"
	"}\n";

/* A small real PNG, with an imagen chunk holding chunk_text when not NULL. */
static unsigned char *make_png(size_t *len, const char *chunk_text)
{
	unsigned char rgb[8 * 4 * 3], *png = NULL, *out = NULL;
	size_t png_len = 0;
	struct err err = ERR_INIT;
	struct png_text t = { "imagen", (char *)chunk_text };

	memset(rgb, 0x7f, sizeof(rgb));
	assert_int_equal(png_encode_rgb(&png, &png_len, rgb, 8, 4, &err), 0);
	if (!chunk_text) {
		*len = png_len;
		return png;
	}
	assert_int_equal(pngmeta_insert(&out, len, png, png_len, &t, 1, &err), 0);
	free(png);
	return out;
}

struct files {
	char *dir, *png, *side;
	unsigned char *data;
	size_t len;
};

/* dir/NAME.png (+ NAME.json holding side when not NULL; an imagen chunk with chunk) */
static void make_files(struct files *f, const char *name, const char *side, const char *chunk)
{
	f->dir = make_tmpdir();
	f->png = xasprintf("%s/%s.png", f->dir, name);
	f->side = xasprintf("%s/%s.json", f->dir, name);
	f->data = make_png(&f->len, chunk);
	write_file(f->png, f->data, f->len);
	if (side)
		write_file(f->side, side, strlen(side));
}

static void free_files(struct files *f)
{
	remove_tree(f->dir);
	free(f->dir);
	free(f->png);
	free(f->side);
	free(f->data);
}

static void test_item_from_sidecar(void **state)
{
	struct files f;
	struct cloud_item it;
	struct err err = ERR_INIT;
	char hex[65];

	(void)state;
	make_files(&f, "2026-11-24-a-red-fox-42", sidecar_text, NULL);
	if (cloud_item_load(&it, f.png, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(it.image, f.png);
	assert_string_equal(it.file_name, "2026-11-24-a-red-fox-42.png");
	assert_string_equal(it.date, "2026-11-24");
	assert_string_equal(it.storage_path, "2026-11-24/2026-11-24-a-red-fox-42.png");
	assert_string_equal(it.record_from, f.side);
	assert_string_equal(it.mime, "image/png");
	assert_int_equal(it.bytes, f.len);
	sha256_hex(hex, f.data, f.len);
	assert_string_equal(it.sha256, hex);
	assert_string_equal(json_string_value(json_object_get(it.record, "prompt")), "a red fox");
	cloud_item_release(&it);
	free_files(&f);
}

static void test_item_from_png_chunk(void **state)
{
	struct files f;
	struct cloud_item it;
	struct err err = ERR_INIT;

	(void)state;
	/* no sidecar (write_metadata_json: false): the PNG's own imagen chunk is the record;
	 * a template without {date} in the name still gets the date folder */
	make_files(&f, "a-red-fox-42", NULL, sidecar_text);
	if (cloud_item_load(&it, f.png, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(it.storage_path, "2026-11-24/a-red-fox-42.png");
	assert_non_null(strstr(it.record_from, "(imagen chunk)"));
	assert_int_equal(json_integer_value(json_object_get(it.record, "seed")), 42);
	cloud_item_release(&it);
	free_files(&f);

	/* neither: refused, naming the file */
	make_files(&f, "plain", NULL, NULL);
	err_clear(&err);
	assert_int_equal(cloud_item_load(&it, f.png, &err), -1);
	assert_int_equal(err.kind, ERR_KIND_INPUT);
	assert_int_equal(err.code, 1); /* an exit status, and only that */
	assert_non_null(strstr(err.msg, "no imagen record"));
	assert_non_null(strstr(err.msg, f.png));
	free_files(&f);
}

/* The sidecar text with one field replaced (or removed when value is NULL). */
static char *edited_sidecar(const char *key, const char *value_json)
{
	json_t *o = json_loads(sidecar_text, 0, NULL);
	char *s;

	assert_non_null(o);
	if (value_json)
		json_object_set_new(o, key, json_loads(value_json, JSON_DECODE_ANY, NULL));
	else
		json_object_del(o, key);
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	return s;
}

static void expect_refused(const char *name, const char *side, const char *needle)
{
	struct files f;
	struct cloud_item it;
	struct err err = ERR_INIT;

	make_files(&f, name, side, NULL);
	assert_int_equal(cloud_item_load(&it, f.png, &err), -1);
	assert_int_equal(err.kind, ERR_KIND_INPUT);
	assert_int_equal(err.code, 1); /* an exit status, and only that */
	if (!strstr(err.msg, needle))
		fail_msg("'%s' not in '%s'", needle, err.msg);
	assert_null(strchr(err.msg, '\n'));
	free_files(&f);
}

static void test_item_refusals(void **state)
{
	char *s;

	(void)state;
	s = edited_sidecar("created_at", NULL);
	expect_refused("2026-11-24-fox", s, "field 'created_at' is missing");
	free(s);
	s = edited_sidecar("created_at", "\"yesterday\"");
	expect_refused("fox", s, "field 'created_at' is missing or not an ISO 8601 time");
	free(s);
	s = edited_sidecar("created_at", "\"2026-13-01T00:00:00Z\"");
	expect_refused("fox", s, "created_at");
	free(s);
	s = edited_sidecar("prompt", NULL);
	expect_refused("fox", s, "field 'prompt' is missing or empty");
	free(s);
	s = edited_sidecar("prompt", "\"\"");
	expect_refused("fox", s, "field 'prompt' is missing or empty");
	free(s);
	s = edited_sidecar("backend_type", NULL);
	expect_refused("fox", s, "field 'backend_type' is missing");
	free(s);
	/* a name dated otherwise than its record would not mirror the local name */
	expect_refused("2026-11-25-a-red-fox-42", sidecar_text,
		       "the file name is dated 2026-11-25 but its record says 2026-11-24");
	/* characters Storage refuses in a key */
	expect_refused("fox#1", sidecar_text, "a character Storage refuses");
	expect_refused("f\303\274chse", sidecar_text, "a character Storage refuses");
	expect_refused("fox", "{\"prompt\": ", "not valid JSON");
	expect_refused("fox", "[1, 2]", "not a JSON object");
}

static void test_item_missing_or_not_an_image(void **state)
{
	struct cloud_item it;
	struct err err = ERR_INIT;
	char *dir = make_tmpdir(), *p = xasprintf("%s/x.png", dir);

	(void)state;
	assert_int_equal(cloud_item_load(&it, p, &err), -1);
	assert_int_equal(err.kind, ERR_KIND_INPUT);
	assert_int_equal(err.code, 1); /* an exit status, and only that */
	assert_non_null(strstr(err.msg, "No such file"));
	write_file(p, "hello", 5);
	err_clear(&err);
	assert_int_equal(cloud_item_load(&it, p, &err), -1);
	assert_non_null(strstr(err.msg, "not a PNG, JPEG or WebP image"));
	remove_tree(dir);
	free(dir);
	free(p);
}

/* ---- rows ---------------------------------------------------------------------------------- */

static struct cloud_item load_sample(struct files *f, const char *side)
{
	struct cloud_item it;
	struct err err = ERR_INIT;

	make_files(f, "2026-11-24-a-red-fox-42", side, NULL);
	if (cloud_item_load(&it, f->png, &err) != 0)
		fail_msg("%s", err.msg);
	return it;
}

static void test_image_row(void **state)
{
	struct files f;
	struct cloud_item it = load_sample(&f, sidecar_text);
	json_t *row = cloud_image_row(&it, OWNER, "imagen-generated"), *want;
	const char *key;
	json_t *v;
	static const char *const columns[] = { "owner_user_id", "storage_path", "bucket",
					       "prompt",        "final_prompt", "negative_prompt",
					       "style",         "backend",      "backend_type",
					       "model",         "seed",         "width",
					       "height",        "steps",        "bytes",
					       "sha256",        "cost_usd",     "cost",
					       "metadata",      "generated_at", NULL };
	size_t i;

	(void)state;
	assert_non_null(row);
	/* exactly the agreed columns: an unknown one would be PGRST204 */
	for (i = 0; columns[i]; i++)
		if (!json_object_get(row, columns[i]))
			fail_msg("column %s missing", columns[i]);
	json_object_foreach (row, key, v) {
		int known = 0;

		for (i = 0; columns[i]; i++)
			known |= !strcmp(columns[i], key);
		if (!known)
			fail_msg("unexpected column %s", key);
	}
	assert_string_equal(json_string_value(json_object_get(row, "owner_user_id")), OWNER);
	assert_string_equal(json_string_value(json_object_get(row, "storage_path")),
			    "2026-11-24/2026-11-24-a-red-fox-42.png");
	assert_string_equal(json_string_value(json_object_get(row, "bucket")), "imagen-generated");
	assert_string_equal(json_string_value(json_object_get(row, "prompt")), "a red fox");
	assert_string_equal(json_string_value(json_object_get(row, "final_prompt")),
			    "a red fox, cinematic");
	assert_true(json_is_null(json_object_get(row, "negative_prompt")));
	assert_string_equal(json_string_value(json_object_get(row, "backend_type")), "replicate");
	assert_int_equal(json_integer_value(json_object_get(row, "seed")), 42);
	assert_int_equal(json_integer_value(json_object_get(row, "width")), 8);
	assert_int_equal(json_integer_value(json_object_get(row, "bytes")), (json_int_t)f.len);
	assert_string_equal(json_string_value(json_object_get(row, "sha256")), it.sha256);
	assert_true(json_real_value(json_object_get(row, "cost_usd")) == 0.003);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(row, "cost"), "method")),
		"per-image price");
	assert_string_equal(json_string_value(json_object_get(row, "generated_at")),
			    "2026-11-24T03:58:04+01:00");
	/* metadata is the sidecar verbatim */
	want = json_loads(sidecar_text, 0, NULL);
	assert_true(json_equal(json_object_get(row, "metadata"), want));
	json_decref(want);
	json_decref(row);
	cloud_item_release(&it);
	free_files(&f);
}

static void test_unbilled_row_has_null_cost_and_no_usage(void **state)
{
	struct files f;
	char *s = edited_sidecar("cost", NULL);
	struct cloud_item it = load_sample(&f, s);
	json_t *row = cloud_image_row(&it, OWNER, "b");

	(void)state;
	assert_true(json_is_null(json_object_get(row, "cost_usd")));
	assert_true(json_is_null(json_object_get(row, "cost")));
	assert_null(cloud_usage_row(&it, OWNER));
	json_decref(row);
	cloud_item_release(&it);
	free_files(&f);
	free(s);
}

static void test_usage_row(void **state)
{
	struct files f;
	struct cloud_item it = load_sample(&f, sidecar_text);
	json_t *u = cloud_usage_row(&it, OWNER);
	char *s;

	(void)state;
	assert_non_null(u);
	assert_string_equal(json_string_value(json_object_get(u, "owner_user_id")), OWNER);
	assert_string_equal(json_string_value(json_object_get(u, "storage_path")),
			    "2026-11-24/2026-11-24-a-red-fox-42.png");
	assert_string_equal(json_string_value(json_object_get(u, "backend")), "flux");
	assert_string_equal(json_string_value(json_object_get(u, "backend_type")), "replicate");
	assert_string_equal(json_string_value(json_object_get(u, "model")),
			    "black-forest-labs/flux-schnell");
	assert_int_equal(json_integer_value(json_object_get(u, "image_count")), 1);
	assert_true(json_real_value(json_object_get(u, "cost_usd")) == 0.003);
	assert_string_equal(json_string_value(json_object_get(u, "cost_method")),
			    "per-image price");
	assert_true(json_real_value(json_object_get(u, "predict_time_s")) == 0.81);
	assert_true(json_is_null(json_object_get(u, "input_tokens")));
	/* the generation time, not the sync time: a late backfill books the cost that day */
	assert_string_equal(json_string_value(json_object_get(u, "created_at")),
			    "2026-11-24T03:58:04+01:00");
	assert_int_equal(json_object_size(u), 12);
	json_decref(u);
	cloud_item_release(&it);
	free_files(&f);

	/* an unknown cost still records usage: null USD and the reason; tokens from usage */
	s = edited_sidecar("cost", "{\"usd\": null, \"currency\": \"USD\", \"reason\": \"no price "
				   "for model x\", \"detail\": {\"usage\": {\"input_tokens\": 14, "
				   "\"output_tokens\": 272}}}");
	it = load_sample(&f, s);
	u = cloud_usage_row(&it, OWNER);
	assert_true(json_is_null(json_object_get(u, "cost_usd")));
	assert_string_equal(json_string_value(json_object_get(u, "cost_method")),
			    "no price for model x");
	assert_int_equal(json_integer_value(json_object_get(u, "input_tokens")), 14);
	assert_int_equal(json_integer_value(json_object_get(u, "output_tokens")), 272);
	json_decref(u);
	cloud_item_release(&it);
	free_files(&f);
	free(s);
}

static void test_result_json_and_outbox_entry(void **state)
{
	struct files f;
	struct cloud_item it = load_sample(&f, sidecar_text);
	struct cloud_result res;
	struct cloud_conn c;
	json_t *o;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.bucket = "imagen-generated";
	memset(&res, 0, sizeof(res));
	res.uploaded = 1;
	snprintf(res.row_id, sizeof(res.row_id), "8b8e3c0e-0000-4000-8000-000000000001");
	o = cloud_result_json(&c, &it, &res, NULL, 0);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "synced");
	assert_string_equal(json_string_value(json_object_get(o, "storage_path")), it.storage_path);
	assert_string_equal(json_string_value(json_object_get(o, "row_id")), res.row_id);
	assert_true(json_is_null(json_object_get(o, "error")) || !json_object_get(o, "error"));
	json_decref(o);

	/* a partial success remembers that the upload of these bytes landed */
	o = cloud_outbox_entry(it.image, &it, &res, "uploaded x but the row insert failed");
	assert_string_equal(json_string_value(json_object_get(o, "uploaded_sha256")), it.sha256);
	json_decref(o);
	res.uploaded = 0;
	o = cloud_outbox_entry(it.image, &it, &res, "upload failed");
	assert_null(json_object_get(o, "uploaded_sha256"));
	json_decref(o);
	o = cloud_result_json(NULL, NULL, NULL, "owner_user_id is not set", 1);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "failed");
	assert_true(json_is_true(json_object_get(o, "queued")));
	json_decref(o);
	cloud_item_release(&it);
	free_files(&f);
}

int main(void)
{
	/* the real environment holds traps: only the env handed in may be consulted */
	setenv("IMAGEN_CLOUD_SYNC", "not-a-mode", 1);
	setenv("SUPABASE_SERVICE_ROLE_KEY", "real-env-key", 1);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_chain),
		cmocka_unit_test(test_on_errors_name_what_is_missing),
		cmocka_unit_test(test_config_file_origin_and_usable),
		cmocka_unit_test(test_key_formats_and_connection),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_item_from_sidecar),
		cmocka_unit_test(test_item_from_png_chunk),
		cmocka_unit_test(test_item_refusals),
		cmocka_unit_test(test_item_missing_or_not_an_image),
		cmocka_unit_test(test_image_row),
		cmocka_unit_test(test_unbilled_row_has_null_cost_and_no_usage),
		cmocka_unit_test(test_usage_row),
		cmocka_unit_test(test_result_json_and_outbox_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
