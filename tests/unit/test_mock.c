/* test_mock.c - the mock adapter, driven only through its ops table as the framework does. */
#include "testlib.h"

#include <pthread.h>
#include <spng.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backend.h"
#include "core/pngmeta.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static const struct backend_ops *mock_ops(void)
{
	const struct backend_ops *ops = backend_find("mock");

	assert_non_null(ops);
	return ops;
}

/* Open an instance named "m" from a JSON config slice; fails the test on error. */
static struct backend *open_mock(const char *cfg_text)
{
	json_t *cfg = json(cfg_text);
	struct err err = ERR_INIT;
	struct backend *b = NULL;

	if (mock_ops()->open(&b, "m", cfg, &err))
		fail_msg("open failed: %s", err.msg);
	json_decref(cfg);
	assert_non_null(b);
	return b;
}

struct gen {
	const char *prompt;
	int64_t seed;
	int width, height, steps;
	const char *opts; /* JSON text, NULL for {} */
};

/* Run generate; returns its status, leaves *res / *err for the caller to inspect. */
static int run(struct backend *b, const struct gen *g, struct imagen_result *res, struct err *err)
{
	json_t *opts = json(g->opts ? g->opts : "{}");
	struct imagen_request req = {
		.prompt = g->prompt,
		.width = g->width,
		.height = g->height,
		.steps = g->steps,
		.seed = g->seed,
		.style = "none",
		.opts = opts,
		.count = 1,
	};
	size_t n = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	err_clear(err);
	rc = b->ops->generate(b, &req, res, &n, err);
	if (rc == 0)
		assert_int_equal(n, 1);
	json_decref(opts);
	return rc;
}

/* Generate with a default instance, expecting success. */
static void make(struct imagen_result *res, const char *prompt, int64_t seed, int w, int h)
{
	struct backend *b = open_mock("{\"type\": \"mock\"}");
	struct gen g = { .prompt = prompt, .seed = seed, .width = w, .height = h };
	struct err err = ERR_INIT;

	if (run(b, &g, res, &err))
		fail_msg("generate failed: %s", err.msg);
	b->ops->close(b);
}

static int same_bytes(const struct imagen_result *a, const struct imagen_result *b)
{
	return a->len == b->len && !memcmp(a->data, b->data, a->len);
}

/* Decode a PNG to 8-bit RGB with libspng; *w / *h from its header. */
static unsigned char *decode_rgb(const struct imagen_result *res, unsigned *w, unsigned *h)
{
	spng_ctx *ctx = spng_ctx_new(0);
	struct spng_ihdr ihdr;
	unsigned char *px;
	size_t n;

	assert_non_null(ctx);
	assert_int_equal(spng_set_png_buffer(ctx, res->data, res->len), 0);
	assert_int_equal(spng_get_ihdr(ctx, &ihdr), 0);
	assert_int_equal(spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &n), 0);
	px = malloc(n);
	assert_non_null(px);
	assert_int_equal(spng_decode_image(ctx, px, n, SPNG_FMT_RGB8, 0), 0);
	spng_ctx_free(ctx);
	*w = ihdr.width;
	*h = ihdr.height;
	assert_int_equal(n, (size_t)*w * *h * 3);
	return px;
}

static int64_t elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return ((int64_t)b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* ---- the ops table ----------------------------------------------------------------------- */

static void test_registered_as_mock(void **state)
{
	const struct backend_ops *ops = mock_ops();
	struct backend *b;

	assert_string_equal(ops->type, "mock");
	assert_string_equal(ops->summary, "deterministic test pictures drawn locally, no network");
	assert_non_null(ops->validate);
	b = open_mock("{\"type\": \"mock\"}");
	assert_ptr_equal(b->ops, ops);
	assert_string_equal(b->name, "m");
	ops->close(b);
}

/* ---- determinism and what changes the picture -------------------------------------------- */

static void test_same_inputs_same_bytes(void **state)
{
	struct imagen_result a, b2, c;
	struct backend *b = open_mock("{\"type\": \"mock\"}");
	struct gen g = {
		.prompt = "a lighthouse at dusk", .seed = 42, .width = 200, .height = 150
	};
	struct err err = ERR_INIT;

	/* twice on one instance, once on a fresh one: no hidden state carries over */
	assert_int_equal(run(b, &g, &a, &err), 0);
	assert_int_equal(run(b, &g, &b2, &err), 0);
	make(&c, "a lighthouse at dusk", 42, 200, 150);
	assert_true(same_bytes(&a, &b2));
	assert_true(same_bytes(&a, &c));
	imagen_result_release(&a);
	imagen_result_release(&b2);
	imagen_result_release(&c);
	b->ops->close(b);
}

static void test_another_seed_other_bytes(void **state)
{
	struct imagen_result a, b;

	make(&a, "a lighthouse at dusk", 42, 128, 128);
	make(&b, "a lighthouse at dusk", 43, 128, 128);
	assert_false(same_bytes(&a, &b));
	imagen_result_release(&a);
	imagen_result_release(&b);
}

static void test_another_prompt_other_bytes(void **state)
{
	struct imagen_result a, b;

	make(&a, "a lighthouse at dusk", 42, 128, 128);
	make(&b, "a red fox in the snow", 42, 128, 128);
	assert_false(same_bytes(&a, &b));
	imagen_result_release(&a);
	imagen_result_release(&b);
}

/*
 * The pixels are a pure function of (prompt, seed, size) drawn with integer arithmetic, so
 * every build - plain -O2 and the sanitized -O1 one alike - must produce this exact picture.
 * The hash is of the decoded pixels, not the PNG bytes, so encoder tuning does not move it.
 * If the drawing changes on purpose, bump "renderer" in the metadata and this constant.
 */
static void test_pixels_identical_across_builds(void **state)
{
	struct imagen_result res;
	unsigned w, h;
	unsigned char *px;
	uint64_t hash = 0xcbf29ce484222325ULL;
	size_t i;

	make(&res, "a lighthouse at dusk", 42, 96, 64);
	px = decode_rgb(&res, &w, &h);
	for (i = 0; i < (size_t)w * h * 3; i++) {
		hash ^= px[i];
		hash *= 0x100000001b3ULL;
	}
	assert_int_equal(hash, 0x5fdb0ee3b2d10a27ULL);
	free(px);
	imagen_result_release(&res);
}

/* ---- sizes -------------------------------------------------------------------------------- */

static void test_requested_size_honoured(void **state)
{
	struct imagen_result res;
	struct err err = ERR_INIT;
	unsigned w = 0, h = 0;

	make(&res, "a lighthouse at dusk", 1, 320, 200);
	assert_int_equal(res.width, 320);
	assert_int_equal(res.height, 200);
	assert_int_equal(pngmeta_check(res.data, res.len, &w, &h, &err), 0);
	assert_int_equal(w, 320);
	assert_int_equal(h, 200);
	imagen_result_release(&res);
}

static void test_default_size_512(void **state)
{
	struct imagen_result res;
	struct err err = ERR_INIT;
	unsigned w = 0, h = 0;

	make(&res, "a lighthouse at dusk", 1, 0, 0);
	assert_int_equal(res.width, 512);
	assert_int_equal(res.height, 512);
	assert_int_equal(pngmeta_check(res.data, res.len, &w, &h, &err), 0);
	assert_int_equal(w, 512);
	assert_int_equal(h, 512);
	imagen_result_release(&res);
}

static void test_config_size_and_steps_are_defaults(void **state)
{
	struct backend *b = open_mock("{\"type\": \"mock\", \"width\": 64, \"height\": 48, "
				      "\"steps\": 7}");
	struct gen g = { .prompt = "x", .seed = 3 };
	struct imagen_result res;
	struct err err = ERR_INIT;
	unsigned w = 0, h = 0;

	assert_int_equal(run(b, &g, &res, &err), 0);
	assert_int_equal(res.width, 64);
	assert_int_equal(res.height, 48);
	assert_int_equal(res.steps, 7);
	assert_int_equal(pngmeta_check(res.data, res.len, &w, &h, &err), 0);
	assert_int_equal(w, 64);
	assert_int_equal(h, 48);
	imagen_result_release(&res);

	/* the request still wins over the config */
	g.width = 16;
	g.steps = 3;
	assert_int_equal(run(b, &g, &res, &err), 0);
	assert_int_equal(res.width, 16);
	assert_int_equal(res.height, 48);
	assert_int_equal(res.steps, 3);
	imagen_result_release(&res);
	b->ops->close(b);
}

static void test_extreme_sizes(void **state)
{
	struct imagen_result res;

	make(&res, "a lighthouse at dusk", INT64_MAX, 8, 8);
	assert_int_equal(res.width, 8);
	imagen_result_release(&res);
	make(&res, "a lighthouse at dusk", 0, 8192, 8);
	assert_int_equal(res.width, 8192);
	imagen_result_release(&res);
	make(&res, "", 0, 8, 8192);
	assert_int_equal(res.height, 8192);
	imagen_result_release(&res);
}

static void test_request_size_out_of_range(void **state)
{
	struct backend *b = open_mock("{\"type\": \"mock\"}");
	struct gen g = { .prompt = "x", .seed = 1, .width = 7, .height = 64 };
	struct imagen_result res;
	struct err err = ERR_INIT;

	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "width 7 is out of range for the mock backend (8..8192)");
	g.width = 64;
	g.height = 8193;
	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "height 8193 is out of range for the mock backend (8..8192)");
	assert_null(res.data);
	b->ops->close(b);
}

/* ---- the result record ------------------------------------------------------------------- */

static void test_result_fields(void **state)
{
	struct imagen_result res;
	const json_t *md;

	make(&res, "a lighthouse at dusk", 9007199254740993LL, 64, 64);
	assert_string_equal(res.mime, "image/png");
	assert_int_equal(res.seed, 9007199254740993LL);
	assert_int_equal(res.seed_honoured, 1);
	assert_int_equal(res.steps, 20);
	assert_string_equal(res.model, "imagen-mock-1");
	assert_null(res.cost);
	md = res.metadata;
	assert_true(json_is_object(md));
	assert_string_equal(json_string_value(json_object_get(md, "renderer")), "imagen-mock 1");
	assert_true(json_integer_value(json_object_get(md, "shapes")) >= 4);
	assert_in_range(json_integer_value(json_object_get(md, "hue")), 0, 359);
	imagen_result_release(&res);
}

/* ---- config validation ------------------------------------------------------------------- */

static void expect_bad_config(const char *cfg_text, const char *key, const char *msg)
{
	json_t *cfg = json(cfg_text);
	struct err err = ERR_INIT;
	struct backend *b = NULL;

	assert_int_equal(mock_ops()->validate("m", cfg, &err), -1);
	assert_string_equal(err.key, key);
	if (msg)
		assert_string_equal(err.msg, msg);
	assert_int_equal(err.code, 2);

	/* open() refuses the same slice, with the same message, and allocates nothing */
	err_clear(&err);
	assert_int_equal(mock_ops()->open(&b, "m", cfg, &err), -1);
	assert_null(b);
	assert_string_equal(err.key, key);
	if (msg)
		assert_string_equal(err.msg, msg);
	json_decref(cfg);
}

static void test_config_valid(void **state)
{
	json_t *cfg = json("{\"type\": \"mock\", \"width\": 8, \"height\": 8192, \"steps\": 1000, "
			   "\"delay_ms\": 600000, \"fail\": \"boom\"}");
	struct err err = ERR_INIT;

	assert_int_equal(mock_ops()->validate("m", cfg, &err), 0);
	json_decref(cfg);
}

static void test_config_unknown_key(void **state)
{
	expect_bad_config("{\"type\": \"mock\", \"stpes\": 4}", "stpes",
			  "unknown key 'stpes' in backends.m (did you mean 'steps'?)");
}

static void test_config_bad_types(void **state)
{
	expect_bad_config("{\"type\": \"mock\", \"width\": \"abc\"}", "width", NULL);
	expect_bad_config("{\"type\": \"mock\", \"height\": true}", "height", NULL);
	expect_bad_config("{\"type\": \"mock\", \"steps\": 2.5}", "steps", NULL);
	expect_bad_config("{\"type\": \"mock\", \"fail\": 12}", "fail", NULL);
	expect_bad_config("{\"type\": \"mock\", \"delay_ms\": \"soon\"}", "delay_ms", NULL);
}

static void test_config_out_of_range(void **state)
{
	expect_bad_config("{\"type\": \"mock\", \"width\": 7}", "width", NULL);
	expect_bad_config("{\"type\": \"mock\", \"height\": 8193}", "height", NULL);
	expect_bad_config("{\"type\": \"mock\", \"steps\": 0}", "steps", NULL);
	expect_bad_config("{\"type\": \"mock\", \"delay_ms\": 600001}", "delay_ms", NULL);
	expect_bad_config("{\"type\": \"mock\", \"delay_ms\": -1}", "delay_ms", NULL);
}

/* ---- simulated failure ------------------------------------------------------------------- */

static void test_fail_from_config(void **state)
{
	struct backend *b =
		open_mock("{\"type\": \"mock\", \"fail\": \"upstream said no (HTTP 503)\"}");
	struct gen g = { .prompt = "x", .seed = 1 };
	struct imagen_result res;
	struct err err = ERR_INIT;

	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 1);
	assert_string_equal(err.msg, "upstream said no (HTTP 503)");
	assert_null(res.data);

	/* --set fail= (empty) clears the configured failure */
	g.opts = "{\"fail\": \"\"}";
	assert_int_equal(run(b, &g, &res, &err), 0);
	imagen_result_release(&res);
	b->ops->close(b);
}

static void test_fail_from_opts(void **state)
{
	struct backend *b = open_mock("{\"type\": \"mock\"}");
	struct gen g = { .prompt = "x", .seed = 1, .opts = "{\"fail\": \"out of credits\"}" };
	struct imagen_result res;
	struct err err = ERR_INIT;

	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 1);
	assert_string_equal(err.msg, "out of credits");
	assert_null(res.data);

	/* --set values arrive typed: fail=503 is still a message */
	g.opts = "{\"fail\": 503}";
	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 1);
	assert_string_equal(err.msg, "503");
	b->ops->close(b);
}

/* ---- --set options ----------------------------------------------------------------------- */

static void test_unknown_option(void **state)
{
	struct backend *b = open_mock("{\"type\": \"mock\"}");
	struct gen g = { .prompt = "x", .seed = 1, .opts = "{\"colour\": \"red\"}" };
	struct imagen_result res;
	struct err err = ERR_INIT;

	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg,
			    "unknown option 'colour' for the mock backend (known: delay_ms, fail)");

	g.opts = "{\"dealy_ms\": 5}";
	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 2);
	assert_non_null(strstr(err.msg, "unknown option 'dealy_ms' for the mock backend"));
	assert_non_null(strstr(err.msg, "did you mean 'delay_ms'?"));
	assert_null(res.data);
	b->ops->close(b);
}

static void test_bad_delay_option(void **state)
{
	struct backend *b = open_mock("{\"type\": \"mock\"}");
	struct gen g = { .prompt = "x", .seed = 1, .opts = "{\"delay_ms\": \"soon\"}" };
	struct imagen_result res;
	struct err err = ERR_INIT;

	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 2);
	g.opts = "{\"delay_ms\": 600001}";
	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 2);
	g.opts = "{\"delay_ms\": true}";
	assert_int_equal(run(b, &g, &res, &err), -1);
	assert_int_equal(err.code, 2);
	b->ops->close(b);
}

/* A functional check that the latency is simulated at all, not a timing benchmark. */
static void test_delay_honoured(void **state)
{
	struct backend *b = open_mock("{\"type\": \"mock\", \"delay_ms\": 60}");
	struct gen g = { .prompt = "x", .seed = 1, .width = 16, .height = 16 };
	struct imagen_result res;
	struct err err = ERR_INIT;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(b, &g, &res, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(elapsed_ms(&t0, &t1) >= 60);
	imagen_result_release(&res);

	/* --set overrides the config; a string holding a number is accepted */
	g.opts = "{\"delay_ms\": \"130\"}";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(b, &g, &res, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(elapsed_ms(&t0, &t1) >= 130);
	imagen_result_release(&res);

	/* the failure comes after the latency, as it would from a slow upstream */
	g.opts = "{\"delay_ms\": 80, \"fail\": \"timed out upstream\"}";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run(b, &g, &res, &err), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(elapsed_ms(&t0, &t1) >= 80);
	assert_string_equal(err.msg, "timed out upstream");
	b->ops->close(b);
}

/* ---- the picture itself ------------------------------------------------------------------ */

static size_t distinct_colours(const unsigned char *px, size_t npix)
{
	unsigned char *seen = calloc(1 << 21, 1); /* one bit per 24-bit colour */
	size_t i, n = 0;

	assert_non_null(seen);
	for (i = 0; i < npix; i++) {
		uint32_t c =
			(uint32_t)px[i * 3] << 16 | (uint32_t)px[i * 3 + 1] << 8 | px[i * 3 + 2];

		if (!(seen[c >> 3] & (1u << (c & 7)))) {
			seen[c >> 3] |= (unsigned char)(1u << (c & 7));
			n++;
		}
	}
	free(seen);
	return n;
}

/* Share of pixels (in percent) where some channel differs by more than tol. */
static int percent_differing(const unsigned char *a, const unsigned char *b, size_t npix, int tol)
{
	size_t i, n = 0;
	int k, d;

	for (i = 0; i < npix; i++) {
		for (k = 0; k < 3; k++) {
			d = a[i * 3 + k] - b[i * 3 + k];
			if (d > tol || d < -tol) {
				n++;
				break;
			}
		}
	}
	return (int)(n * 100 / npix);
}

static void test_picture_is_not_flat(void **state)
{
	static const char *const prompts[] = {
		"a lighthouse at dusk", "a red fox in the snow", "x", "", "日本語のテスト",
	};
	struct imagen_result res;
	unsigned char *px;
	unsigned w, h;
	size_t i;

	for (i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++) {
		make(&res, prompts[i], (int64_t)i * 1000003, 256, 256);
		px = decode_rgb(&res, &w, &h);
		assert_int_equal(w, 256);
		assert_int_equal(h, 256);
		/* a gradient sky alone gives ~100; shapes and soft edges add many more */
		assert_true(distinct_colours(px, (size_t)w * h) >= 200);
		free(px);
		imagen_result_release(&res);
	}
}

static void test_prompts_and_seeds_look_different(void **state)
{
	struct imagen_result a, b, c;
	unsigned char *pa, *pb, *pc;
	unsigned w, h;

	make(&a, "a lighthouse at dusk", 42, 256, 256);
	make(&b, "a red fox in the snow", 42, 256, 256);
	make(&c, "a lighthouse at dusk", 43, 256, 256);
	pa = decode_rgb(&a, &w, &h);
	pb = decode_rgb(&b, &w, &h);
	pc = decode_rgb(&c, &w, &h);
	/* another prompt: another palette, so nearly every pixel changes */
	assert_true(percent_differing(pa, pb, (size_t)w * h, 16) >= 50);
	/* another seed: the same palette rearranged, so a large part of the picture moves */
	assert_true(percent_differing(pa, pc, (size_t)w * h, 16) >= 20);
	free(pa);
	free(pb);
	free(pc);
	imagen_result_release(&a);
	imagen_result_release(&b);
	imagen_result_release(&c);
}

/* 512x512 and 1024x1024 of one prompt+seed are the same picture at two resolutions. */
static void test_size_changes_resolution_not_picture(void **state)
{
	struct imagen_result small, big;
	unsigned char *ps, *pb, *down;
	unsigned ws, hs, wb, hb, x, y;
	int k;

	make(&small, "a red fox in the snow", 7, 256, 256);
	make(&big, "a red fox in the snow", 7, 512, 512);
	ps = decode_rgb(&small, &ws, &hs);
	pb = decode_rgb(&big, &wb, &hb);
	down = malloc((size_t)ws * hs * 3);
	assert_non_null(down);
	for (y = 0; y < hs; y++)
		for (x = 0; x < ws; x++)
			for (k = 0; k < 3; k++) {
				/* the mean of the 2x2 block the small pixel covers */
				const unsigned char *q =
					pb + ((size_t)(2 * y) * wb + 2 * x) * 3 + k;
				unsigned sum = q[0] + q[3] + q[wb * 3] + q[wb * 3 + 3];

				down[((size_t)y * ws + x) * 3 + k] = (unsigned char)((sum + 2) / 4);
			}
	/* only edges may disagree */
	assert_true(percent_differing(ps, down, (size_t)ws * hs, 24) <= 3);
	free(down);
	free(ps);
	free(pb);
	imagen_result_release(&small);
	imagen_result_release(&big);
}

/* ---- threads ----------------------------------------------------------------------------- */

struct job {
	struct backend *b;
	struct imagen_result res;
	int rc;
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	struct gen g = {
		.prompt = "a lighthouse at dusk", .seed = 42, .width = 192, .height = 128
	};
	struct err err = ERR_INIT;

	j->rc = run(j->b, &g, &j->res, &err);
	return NULL;
}

/* Generations share nothing mutable: four at once on one instance give the serial bytes. */
static void test_concurrent_generations(void **state)
{
	struct backend *b = open_mock("{\"type\": \"mock\"}");
	struct job jobs[4], serial = { .b = b };
	pthread_t tid[4];
	int i;

	job_run(&serial);
	assert_int_equal(serial.rc, 0);
	for (i = 0; i < 4; i++) {
		jobs[i].b = b;
		assert_int_equal(pthread_create(&tid[i], NULL, job_run, &jobs[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(jobs[i].rc, 0);
		assert_true(same_bytes(&jobs[i].res, &serial.res));
		imagen_result_release(&jobs[i].res);
	}
	imagen_result_release(&serial.res);
	b->ops->close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registered_as_mock),
		cmocka_unit_test(test_same_inputs_same_bytes),
		cmocka_unit_test(test_another_seed_other_bytes),
		cmocka_unit_test(test_another_prompt_other_bytes),
		cmocka_unit_test(test_pixels_identical_across_builds),
		cmocka_unit_test(test_requested_size_honoured),
		cmocka_unit_test(test_default_size_512),
		cmocka_unit_test(test_config_size_and_steps_are_defaults),
		cmocka_unit_test(test_extreme_sizes),
		cmocka_unit_test(test_request_size_out_of_range),
		cmocka_unit_test(test_result_fields),
		cmocka_unit_test(test_config_valid),
		cmocka_unit_test(test_config_unknown_key),
		cmocka_unit_test(test_config_bad_types),
		cmocka_unit_test(test_config_out_of_range),
		cmocka_unit_test(test_fail_from_config),
		cmocka_unit_test(test_fail_from_opts),
		cmocka_unit_test(test_unknown_option),
		cmocka_unit_test(test_bad_delay_option),
		cmocka_unit_test(test_delay_honoured),
		cmocka_unit_test(test_picture_is_not_flat),
		cmocka_unit_test(test_prompts_and_seeds_look_different),
		cmocka_unit_test(test_size_changes_resolution_not_picture),
		cmocka_unit_test(test_concurrent_generations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
