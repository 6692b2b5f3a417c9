/* test_meta.c - what an image carries about itself: the sidecar object, the A1111
 * parameters text, and reading either back for --from (sidecar file, imagen chunk,
 * parameters chunk), with the errors that name the file and the field. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/meta.h"
#include "core/pngmeta.h"
#include "testlib.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* A file holding data; the caller unlinks and frees the path. */
static char *temp_file(const void *data, size_t len, const char *suffix)
{
	char *path = NULL;
	int fd;

	assert_true(asprintf(&path, "/tmp/imagen-test-meta-XXXXXX%s", suffix) > 0);
	fd = mkstemps(path, (int)strlen(suffix));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static char *temp_text(const char *text)
{
	return temp_file(text, strlen(text), ".json");
}

/* A 4x3 PNG with the given text chunks (n may be 0). */
static char *temp_png(const struct png_text *texts, size_t n)
{
	unsigned char rgb[4 * 3 * 3], *png = NULL, *with = NULL;
	size_t len = 0, wlen = 0;
	struct err err = ERR_INIT;
	char *path;

	memset(rgb, 0x80, sizeof(rgb));
	assert_int_equal(png_encode_rgb(&png, &len, rgb, 4, 3, &err), 0);
	if (n) {
		if (pngmeta_insert(&with, &wlen, png, len, texts, n, &err) < 0)
			fail_msg("pngmeta_insert: %s", err.msg);
		path = temp_file(with, wlen, ".png");
	} else {
		path = temp_file(png, len, ".png");
	}
	free(png);
	free(with);
	return path;
}

/* One generation's facts, as the core hands them to meta.c. */
struct fixture {
	struct imagen_result res;
	struct gen_record rec;
	struct gen_info info;
	json_t *options;
};

static void fixture_init(struct fixture *f)
{
	struct timespec when = { 1764800000, 0 };

	memset(f, 0, sizeof(*f));
	f->res.width = 64;
	f->res.height = 48;
	f->res.steps = 3;
	f->res.seed = INT64_MAX;
	f->res.seed_honoured = 1;
	f->res.model = strdup("imagen-mock-1");
	f->res.metadata = json("{\"renderer\": \"test\", \"shapes\": 4}");
	snprintf(f->res.mime, sizeof(f->res.mime), "image/png");
	output_clock(&f->rec, &when);
	f->options = json("{\"delay_ms\": 5, \"label\": \"x\"}");
	f->info = (struct gen_info){ .prompt = "a boat",
				     .final_prompt = "a boat, watercolor",
				     .negative = "fog",
				     .style = "watercolor",
				     .backend = "mock",
				     .backend_type = "mock",
				     .options = f->options,
				     .res = &f->res,
				     .rec = &f->rec };
}

static void fixture_release(struct fixture *f)
{
	imagen_result_release(&f->res);
	json_decref(f->options);
}

static void load_fails(const char *path, const char *expected_tail)
{
	struct repro r;
	struct err err = ERR_INIT;
	char *want = NULL;

	assert_int_equal(repro_load(&r, path, &err), -1);
	assert_true(asprintf(&want, "%s: %s", path, expected_tail) > 0);
	assert_string_equal(err.msg, want);
	assert_null(r.prompt);
	assert_null(r.options);
	free(want);
}

/* ---- the sidecar --------------------------------------------------------------------------- */

static void test_sidecar_fields_in_order(void **state)
{
	static const char *const order[] = {
		"prompt",         "final_prompt", "negative_prompt",
		"style",          "backend",      "backend_type",
		"model",          "seed",         "seed_honoured",
		"width",          "height",       "steps",
		"created_at",     "options",      "metadata",
		"imagen_version", NULL,
	};
	struct fixture f;
	json_t *o;
	const char *key;
	json_t *v;
	size_t i = 0;

	(void)state;
	fixture_init(&f);
	o = meta_sidecar(&f.info);
	assert_non_null(o);
	json_object_foreach (o, key, v) {
		assert_non_null(order[i]);
		assert_string_equal(key, order[i]);
		i++;
	}
	assert_null(order[i]);
	assert_string_equal(json_string_value(json_object_get(o, "prompt")), "a boat");
	assert_string_equal(json_string_value(json_object_get(o, "final_prompt")),
			    "a boat, watercolor");
	assert_string_equal(json_string_value(json_object_get(o, "negative_prompt")), "fog");
	assert_int_equal(json_integer_value(json_object_get(o, "seed")), INT64_MAX);
	assert_true(json_is_true(json_object_get(o, "seed_honoured")));
	assert_string_equal(json_string_value(json_object_get(o, "created_at")), f.rec.iso);
	assert_string_equal(json_string_value(json_object_get(o, "imagen_version")),
			    IMAGEN_VERSION);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(o, "metadata"), "shapes")), 4);
	/* copies, not references: the caller's objects may change afterwards */
	json_object_set_new(f.options, "delay_ms", json_integer(99));
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(o, "options"), "delay_ms")), 5);
	json_decref(o);
	fixture_release(&f);
}

static void test_sidecar_optional_fields(void **state)
{
	struct fixture f;
	json_t *o;

	(void)state;
	fixture_init(&f);
	/* no negative, no model, no adapter metadata: null, null, {}; no cost key */
	f.info.negative = "";
	free(f.res.model);
	f.res.model = NULL;
	json_decref(f.res.metadata);
	f.res.metadata = NULL;
	o = meta_sidecar(&f.info);
	assert_true(json_is_null(json_object_get(o, "negative_prompt")));
	assert_true(json_is_null(json_object_get(o, "model")));
	assert_int_equal(json_object_size(json_object_get(o, "metadata")), 0);
	assert_null(json_object_get(o, "cost"));
	json_decref(o);

	/* a billed backend's cost record goes in before the version */
	f.res.cost = json("{\"usd\": 0.04, \"method\": \"price table\"}");
	o = meta_sidecar(&f.info);
	assert_true(json_is_real(json_object_get(json_object_get(o, "cost"), "usd")));
	{
		void *it = json_object_iter_at(o, "cost");

		assert_non_null(it);
		assert_string_equal(json_object_iter_key(json_object_iter_next(o, it)),
				    "imagen_version");
	}
	json_decref(o);
	fixture_release(&f);
}

/* ---- the parameters text ------------------------------------------------------------------- */

static void test_infotext_has_the_fields_tools_read(void **state)
{
	struct fixture f;
	char *t;

	(void)state;
	fixture_init(&f);
	f.res.seed = 7;
	t = meta_infotext(&f.info);
	assert_non_null(t);
	/* the prompt that was sent, then the negative line, then the parameter line */
	assert_true(!strncmp(t, "a boat, watercolor\nNegative prompt: fog\n", 40));
	assert_non_null(strstr(t, "Steps: 3"));
	assert_non_null(strstr(t, "Seed: 7"));
	assert_non_null(strstr(t, "Size: 64x48"));
	assert_non_null(strstr(t, "Model: imagen-mock-1"));
	assert_null(strchr(t + 40, '\n'));
	free(t);

	/* no seed where the upstream has none, no steps where the notion does not apply */
	f.res.seed_honoured = 0;
	f.res.steps = 0;
	f.info.negative = NULL;
	t = meta_infotext(&f.info);
	assert_null(strstr(t, "Seed:"));
	assert_null(strstr(t, "Steps:"));
	assert_null(strstr(t, "Negative prompt"));
	assert_non_null(strstr(t, "Size: 64x48"));
	free(t);
	fixture_release(&f);
}

/* ---- reading back --------------------------------------------------------------------------- */

/* What meta_sidecar writes, repro_load reads back: file and imagen chunk alike. */
static void test_sidecar_round_trip_file_and_chunk(void **state)
{
	struct fixture f;
	struct repro r;
	struct err err = ERR_INIT;
	json_t *o;
	char *text, *path, *png;
	int pass;

	(void)state;
	fixture_init(&f);
	o = meta_sidecar(&f.info);
	text = json_dumps(o, JSON_INDENT(2));
	{
		char *info = meta_infotext(&f.info);
		struct png_text texts[2] = { { "parameters", info }, { "imagen", text } };

		path = temp_text(text);
		png = temp_png(texts, 2);
		free(info);
	}
	for (pass = 0; pass < 2; pass++) {
		assert_int_equal(repro_load(&r, pass ? png : path, &err), 0);
		assert_string_equal(r.source, pass ? "imagen chunk" : "sidecar");
		assert_string_equal(r.prompt, "a boat");
		assert_string_equal(r.final_prompt, "a boat, watercolor");
		assert_string_equal(r.negative, "fog");
		assert_string_equal(r.style, "watercolor");
		assert_string_equal(r.backend, "mock");
		assert_int_equal(r.width, 64);
		assert_int_equal(r.height, 48);
		assert_int_equal(r.steps, 3);
		assert_true(r.has_seed);
		assert_int_equal(r.seed, INT64_MAX);
		assert_true(json_equal(r.options, f.options));
		repro_release(&r);
		assert_null(r.prompt);
	}
	unlink(path);
	unlink(png);
	free(path);
	free(png);
	free(text);
	json_decref(o);
	fixture_release(&f);
}

static void test_sidecar_minimal_and_whitespace(void **state)
{
	struct repro r;
	struct err err = ERR_INIT;
	char *path = temp_text("\n  \t{\"prompt\": \"only this\", \"seed\": null}\n");

	(void)state;
	assert_int_equal(repro_load(&r, path, &err), 0);
	assert_string_equal(r.prompt, "only this");
	assert_null(r.final_prompt);
	assert_null(r.negative);
	assert_null(r.style);
	assert_null(r.backend);
	assert_null(r.options);
	assert_false(r.has_seed);
	assert_int_equal(r.width, 0);
	repro_release(&r);
	unlink(path);
	free(path);
}

static void test_sidecar_errors_name_file_and_field(void **state)
{
	static const struct {
		const char *text, *tail;
	} cases[] = {
		{ "{\"seed\": 1}", "field 'prompt' is missing" },
		{ "{\"prompt\": 5}", "field 'prompt' must be a string" },
		{ "{\"prompt\": \"p\", \"seed\": \"x\"}",
		  "field 'seed' must be an integer from 0 to 9223372036854775807" },
		{ "{\"prompt\": \"p\", \"seed\": -1}",
		  "field 'seed' must be an integer from 0 to 9223372036854775807" },
		{ "{\"prompt\": \"p\", \"width\": \"64\"}",
		  "field 'width' must be a non-negative integer" },
		{ "{\"prompt\": \"p\", \"steps\": 100001}",
		  "field 'steps' must be a non-negative integer" },
		{ "{\"prompt\": \"p\", \"options\": [1]}", "field 'options' must be an object" },
		{ "{\"prompt\": \"p\", \"negative_prompt\": true}",
		  "field 'negative_prompt' must be a string" },
		{ "[1, 2]", "not a PNG or an imagen sidecar" },
		{ "hello", "not a PNG or an imagen sidecar" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = temp_text(cases[i].text);

		load_fails(path, cases[i].tail);
		unlink(path);
		free(path);
	}
	{
		char *path = temp_text("{\"prompt\": ");
		struct repro r;
		struct err err = ERR_INIT;

		assert_int_equal(repro_load(&r, path, &err), -1);
		assert_true(!strncmp(err.msg, path, strlen(path)));
		assert_non_null(strstr(err.msg, ": invalid JSON: "));
		unlink(path);
		free(path);
	}
	load_fails("/nonexistent/imagen-test-meta.png", "No such file or directory");
}

static void test_png_parameters_chunk(void **state)
{
	struct png_text t = { "parameters",
			      "a castle on a hill\nNegative prompt: lowres\nSteps: 12, Sampler: "
			      "Euler a, CFG scale: 7, Seed: 31337, Size: 80x48, Model: sd15" };
	struct repro r;
	struct err err = ERR_INIT;
	char *png = temp_png(&t, 1);

	(void)state;
	assert_int_equal(repro_load(&r, png, &err), 0);
	assert_string_equal(r.source, "parameters chunk");
	assert_string_equal(r.prompt, "a castle on a hill");
	assert_string_equal(r.negative, "lowres");
	assert_null(r.final_prompt);
	assert_null(r.style); /* unknown: the builder gives it "none" */
	assert_null(r.backend);
	assert_int_equal(r.seed, 31337);
	assert_true(r.has_seed);
	assert_int_equal(r.steps, 12);
	assert_int_equal(r.width, 80);
	assert_int_equal(r.height, 48);
	repro_release(&r);
	unlink(png);
	free(png);
}

static void test_png_chunk_errors(void **state)
{
	static const struct {
		const char *keyword, *text, *tail;
	} cases[] = {
		{ "parameters", "p\nSteps: 2, Seed: abc, Size: 8x8",
		  "parameters: Seed 'abc' is not an integer" },
		{ "parameters", "p\nSteps: 0, Seed: 1, Size: 8x8",
		  "parameters: Steps '0' is not a positive integer" },
		{ "parameters", "p\nSteps: 2, Seed: 1, Size: 8 by 8",
		  "parameters: Size '8 by 8' is not WIDTHxHEIGHT" },
		{ "imagen", "{\"prompt\": ", NULL },
		{ "Comment", "just a comment",
		  "no imagen metadata or A1111 parameters in this PNG" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct png_text t = { (char *)cases[i].keyword, (char *)cases[i].text };
		char *png = temp_png(&t, 1);

		if (cases[i].tail) {
			load_fails(png, cases[i].tail);
		} else {
			struct repro r;
			struct err err = ERR_INIT;

			assert_int_equal(repro_load(&r, png, &err), -1);
			assert_non_null(strstr(err.msg, ": imagen chunk: invalid JSON at line "));
		}
		unlink(png);
		free(png);
	}
	{
		char *png = temp_png(NULL, 0);

		load_fails(png, "no imagen metadata or A1111 parameters in this PNG");
		unlink(png);
		free(png);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sidecar_fields_in_order),
		cmocka_unit_test(test_sidecar_optional_fields),
		cmocka_unit_test(test_infotext_has_the_fields_tools_read),
		cmocka_unit_test(test_sidecar_round_trip_file_and_chunk),
		cmocka_unit_test(test_sidecar_minimal_and_whitespace),
		cmocka_unit_test(test_sidecar_errors_name_file_and_field),
		cmocka_unit_test(test_png_parameters_chunk),
		cmocka_unit_test(test_png_chunk_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
