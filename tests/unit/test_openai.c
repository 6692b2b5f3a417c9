/* test_openai.c - the pure parts of the openai adapter: size mapping, base64, response
 * parsing, image checks, cost; and config validation through the ops table. */
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "backends/openai.h"
#include "core/cost.h"
#include "core/pngmeta.h"

/* ---- sizes ---------------------------------------------------------------------------- */

static void test_default_sizes_by_family(void **state)
{
	struct openai_sizes s;
	char d[256];

	openai_default_sizes("gpt-image-1", &s);
	openai_sizes_describe(&s, d, sizeof(d));
	assert_string_equal(d, "1024x1024, 1536x1024, 1024x1536");
	openai_default_sizes("gpt-image-1.5", &s);
	openai_sizes_describe(&s, d, sizeof(d));
	assert_string_equal(d, "1024x1024, 1536x1024, 1024x1536");
	openai_default_sizes("some-compatible-model", &s);
	assert_int_equal(s.kind, OPENAI_SIZES_LIST);
	openai_default_sizes("dall-e-2", &s);
	openai_sizes_describe(&s, d, sizeof(d));
	assert_string_equal(d, "256x256, 512x512, 1024x1024");
	openai_default_sizes("dall-e-3", &s);
	openai_sizes_describe(&s, d, sizeof(d));
	assert_string_equal(d, "1024x1024, 1792x1024, 1024x1792");
	openai_default_sizes("gpt-image-2-2026-04-21", &s);
	assert_int_equal(s.kind, OPENAI_SIZES_FLEXIBLE);
	assert_int_equal(openai_default_max_n("dall-e-3"), 1);
	assert_int_equal(openai_default_max_n("gpt-image-1"), 10);
}

static void test_pick_size_exact_only(void **state)
{
	struct openai_sizes s;
	struct err err = ERR_INIT;
	char out[32];

	openai_default_sizes("gpt-image-1", &s);
	assert_int_equal(openai_pick_size(&s, 1536, 1024, NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, "1536x1024");
	/* -W/-H win over the configured size */
	assert_int_equal(openai_pick_size(&s, 1024, 1536, "1024x1024", out, sizeof(out), &err), 0);
	assert_string_equal(out, "1024x1536");
	/* nothing fits: exit 2 and the list, never a silent resize */
	assert_int_equal(openai_pick_size(&s, 1000, 1000, NULL, out, sizeof(out), &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "size 1000x1000 is not accepted by this model (accepted: "
				     "1024x1024, 1536x1024, 1024x1536)");
	/* one side: must single out one size */
	assert_int_equal(openai_pick_size(&s, 1536, 0, NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, "1536x1024");
	assert_int_equal(openai_pick_size(&s, 0, 1024, NULL, out, sizeof(out), &err), -1);
	assert_non_null(strstr(err.msg, "height 1024 matches several sizes"));
	assert_int_equal(openai_pick_size(&s, 0, 999, NULL, out, sizeof(out), &err), -1);
	assert_non_null(strstr(err.msg, "fits no accepted size"));
	/* configured size, auto, nothing */
	assert_int_equal(openai_pick_size(&s, 0, 0, "auto", out, sizeof(out), &err), 0);
	assert_string_equal(out, "auto");
	assert_int_equal(openai_pick_size(&s, 0, 0, NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, "");
	assert_int_equal(openai_pick_size(&s, 0, 0, "1792x1024", out, sizeof(out), &err), -1);
	assert_int_equal(openai_pick_size(&s, 0, 0, "big", out, sizeof(out), &err), -1);
	assert_non_null(strstr(err.msg, "expected WxH"));
}

static void test_flexible_and_any(void **state)
{
	struct openai_sizes s;
	struct err err = ERR_INIT;
	char out[32];
	json_t *v;

	openai_default_sizes("gpt-image-2", &s);
	assert_int_equal(openai_pick_size(&s, 2048, 1152, NULL, out, sizeof(out), &err), 0);
	assert_int_equal(openai_pick_size(&s, 3840, 2160, NULL, out, sizeof(out), &err), 0);
	assert_int_equal(openai_pick_size(&s, 3840, 2176, NULL, out, sizeof(out), &err), -1);
	assert_int_equal(openai_pick_size(&s, 1000, 1000, NULL, out, sizeof(out), &err), -1);
	assert_int_equal(openai_pick_size(&s, 3072, 1008, NULL, out, sizeof(out), &err), -1);
	assert_int_equal(openai_pick_size(&s, 3024, 1008, NULL, out, sizeof(out), &err), 0);
	assert_int_equal(openai_pick_size(&s, 1024, 0, NULL, out, sizeof(out), &err), -1);
	v = json_string("any");
	assert_int_equal(openai_sizes_parse(v, &s, &err), 0);
	json_decref(v);
	assert_int_equal(openai_pick_size(&s, 777, 333, NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, "777x333");
	v = json("[\"640x480\", \"800x600\"]");
	assert_int_equal(openai_sizes_parse(v, &s, &err), 0);
	json_decref(v);
	assert_int_equal(s.n, 2);
	assert_int_equal(openai_pick_size(&s, 800, 600, NULL, out, sizeof(out), &err), 0);
	v = json("[\"640x480\", \"800by600\"]");
	assert_int_equal(openai_sizes_parse(v, &s, &err), -1);
	assert_non_null(strstr(err.msg, "entry 2"));
	json_decref(v);
}

/* ---- response ------------------------------------------------------------------------- */

/* openai_parse_reply works in place: give it a writable, NUL-terminated copy. */
static int parse(const char *text, struct openai_reply *r, struct err *err, char **keep)
{
	*keep = strdup(text);
	assert_non_null(*keep);
	return openai_parse_reply(*keep, strlen(text), r, err);
}

static void test_parse_reply(void **state)
{
	const char *body =
		"{\"created\": 1760000000, \"data\": [{\"b64_json\": \"aGk=\"}, {\"url\": "
		"\"http://x/y.png\", \"revised_prompt\": \"r\"}], \"size\": \"1536x1024\", "
		"\"quality\": \"medium\", \"output_format\": \"png\", \"usage\": "
		"{\"input_tokens\": 14, \"output_tokens\": 1568}}";
	struct openai_reply r;
	struct err err = ERR_INIT;
	char *text;

	assert_int_equal(parse(body, &r, &err, &text), 0);
	assert_int_equal(r.n, 2);
	/* short values are left to the parser */
	assert_string_equal(r.items[0].b64, "aGk=");
	assert_null(r.items[0].data);
	assert_null(r.items[0].url);
	assert_string_equal(r.items[1].url, "http://x/y.png");
	assert_string_equal(r.items[1].revised_prompt, "r");
	assert_string_equal(r.size, "1536x1024");
	assert_string_equal(r.quality, "medium");
	assert_null(r.background);
	assert_non_null(r.usage);
	assert_non_null(r.created);
	openai_reply_release(&r);
	free(text);

	assert_int_equal(parse("{\"data\": [", &r, &err, &text), -1);
	assert_string_equal(err.msg, "malformed JSON");
	free(text);
	assert_int_equal(parse("{\"created\": 1}", &r, &err, &text), -1);
	assert_string_equal(err.msg, "no data array in the response");
	free(text);
	assert_int_equal(parse("{\"data\": [{}]}", &r, &err, &text), -1);
	assert_string_equal(err.msg, "data[0] has neither b64_json nor url");
	free(text);
	assert_int_equal(parse("{\"data\": []}", &r, &err, &text), 0);
	assert_int_equal(r.n, 0);
	openai_reply_release(&r);
	free(text);
}

/* Long b64_json values are decoded straight from the text, before the JSON parser. */
static void test_parse_reply_decodes_large_values_in_place(void **state)
{
	const char *body =
		"{\"note\": \"a \\\"b64_json\\\": \\\"QUFBQUFBQUFBQUFBQUFBQUFBQUE=\\\" inside\", "
		"\"data\": [ {\"revised_prompt\": \"b64_json\", \"b64_json\" :\n "
		"\"QUFBQUFBQUFBQUFBQUFBQUFBQUFB\"}, {\"b64_json\": \"QkJCQkJCQkJCQkJCQkJCQkJC\"},"
		" {\"b64_json\": \"QUFBQUFBQUFBQUFBQUFBQUFBQU\"}, {\"b64_json\": "
		"\"QUFBQUFBQUFBQUFB\\/QUFBQUFBQUFB\"}]}";
	struct openai_reply r;
	struct err err = ERR_INIT;
	char *text;

	assert_int_equal(parse(body, &r, &err, &text), 0);
	assert_int_equal(r.n, 4);
	/* the escaped text inside the note is not a key */
	assert_string_equal(json_string_value(json_object_get(r.root, "note")),
			    "a \"b64_json\": \"QUFBQUFBQUFBQUFBQUFBQUFBQUE=\" inside");
	assert_string_equal(r.items[0].revised_prompt, "b64_json");
	assert_null(r.items[0].b64);
	assert_int_equal(r.items[0].len, 21);
	assert_memory_equal(r.items[0].data, "AAAAAAAAAAAAAAAAAAAAA", 21);
	assert_int_equal(r.items[1].len, 18);
	assert_memory_equal(r.items[1].data, "BBBBBBBBBBBBBBBBBB", 18);
	/* a bad value is reported on its item */
	assert_null(r.items[2].data);
	assert_non_null(strstr(r.items[2].b64_error, "truncated base64"));
	/* an escaped value goes through the parser */
	assert_null(r.items[3].data);
	assert_string_equal(r.items[3].b64, "QUFBQUFBQUFBQUFB/QUFBQUFBQUFB");
	openai_reply_release(&r);
	free(text);
}

/* Mutated bodies never crash the in-place scan (ASan watches). */
static void test_parse_reply_survives_mutations(void **state)
{
	const char *body =
		"{\"data\": [{\"b64_json\": \"QUFBQUFBQUFBQUFBQUFBQUFBQUFB\", "
		"\"revised_prompt\": \"x \\\"y\\\\\"}], \"usage\": {\"input_tokens\": 1}}";
	size_t len = strlen(body), n;
	unsigned seed = 777;
	struct openai_reply r;
	struct err err = ERR_INIT;
	char *text;
	int i;

	for (i = 0; i < 5000; i++) {
		seed = seed * 1103515245u + 12345u;
		n = len - (seed >> 8) % (len / 2);
		text = malloc(n + 1);
		memcpy(text, body, n);
		text[n] = '\0';
		seed = seed * 1103515245u + 12345u;
		text[(seed >> 8) % n] = "\"\\:#{}[] a\0"[(seed >> 3) % 11];
		if (openai_parse_reply(text, n, &r, &err) == 0)
			openai_reply_release(&r);
		free(text);
	}
}

/* ---- cost ----------------------------------------------------------------------------- */

static void test_cost_from_usage(void **state)
{
	json_t *usage = json("{\"input_tokens\": 14, \"input_tokens_details\": {\"text_tokens\": "
			     "10, \"image_tokens\": 4}, \"output_tokens\": 1568}");
	json_t *c = openai_cost("oa", "gpt-image-1", NULL, usage, 2, "medium", "1536x1024");

	/* (10 x 5 + 4 x 10 + 1568 x 40) / 1e6, split over two images */
	assert_true(fabs(json_real_value(json_object_get(c, "usd")) -
			 (10 * 5.0 + 4 * 10.0 + 1568 * 40.0) / 1e6 / 2) < 1e-12);
	assert_string_equal(json_string_value(json_object_get(c, "method")),
			    "usage tokens x prices");
	assert_string_equal(json_string_value(json_object_get(c, "source")), "default");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(c, "detail"), "output_tokens")),
		1568);
	json_decref(c);
	json_decref(usage);
}

static void test_cost_per_image_and_unknown(void **state)
{
	json_t *prices =
		json("{\"x-model\": {\"per_image\": 0.5}, \"gpt-image-1\": {\"per_image\": "
		     "{\"high/1024x1024\": 1.25}}}");
	json_t *c;

	/* no usage: the per-image table by quality and size */
	c = openai_cost("oa", "dall-e-3", NULL, NULL, 1, "hd", "1024x1792");
	assert_true(fabs(cost_usd(c) - 0.12) < 1e-12);
	assert_string_equal(json_string_value(json_object_get(c, "method")), "per-image price");
	json_decref(c);
	c = openai_cost("oa", "dall-e-2", NULL, NULL, 1, NULL, "256x256");
	assert_true(fabs(cost_usd(c) - 0.016) < 1e-12);
	json_decref(c);
	/* config: a flat per-image price, and a config entry replacing the default */
	c = openai_cost("oa", "x-model", prices, NULL, 3, NULL, "640x480");
	assert_true(fabs(cost_usd(c) - 0.5) < 1e-12);
	assert_string_equal(json_string_value(json_object_get(c, "source")), "config");
	json_decref(c);
	c = openai_cost("oa", "gpt-image-1", prices, NULL, 1, "high", "1024x1024");
	assert_true(fabs(cost_usd(c) - 1.25) < 1e-12);
	json_decref(c);
	/* usage present but the config entry has no token prices: per-image fallback */
	json_t *usage = json("{\"input_tokens\": 3, \"output_tokens\": 10}");
	c = openai_cost("oa", "gpt-image-1", prices, usage, 1, "high", "1024x1024");
	assert_string_equal(json_string_value(json_object_get(c, "method")), "per-image price");
	json_decref(c);
	/* unknown: null with the reason, never a guess */
	c = openai_cost("oa", "gpt-image-2", NULL, usage, 1, "high", "1024x1024");
	assert_true(json_is_null(json_object_get(c, "usd")));
	assert_string_equal(json_string_value(json_object_get(c, "reason")),
			    "no price for model gpt-image-2 (set backends.oa.prices)");
	json_decref(c);
	c = openai_cost("oa", "dall-e-3", NULL, NULL, 1, "auto", "1024x1024");
	assert_true(json_is_null(json_object_get(c, "usd")));
	assert_non_null(strstr(json_string_value(json_object_get(c, "reason")),
			       "no per-image price for model dall-e-3 at quality unknown"));
	json_decref(c);
	json_decref(usage);
	json_decref(prices);
}

/* ---- config through the ops ----------------------------------------------------------- */

static int validate(const char *text, struct err *err)
{
	const struct backend_ops *ops = backend_find("openai");
	json_t *cfg = json(text);
	int rc;

	assert_non_null(ops);
	err_clear(err);
	rc = ops->validate("oa", cfg, err);
	json_decref(cfg);
	return rc;
}

static void test_validate(void **state)
{
	struct err err = ERR_INIT;

	assert_int_equal(validate("{\"type\": \"openai\", \"model\": \"gpt-image-1\"}", &err), 0);
	assert_int_equal(validate("{\"type\": \"openai\"}", &err), -1);
	assert_string_equal(err.key, "model");
	assert_int_equal(err.code, 2);
	assert_int_equal(validate("{\"type\": \"openai\", \"model\": \"m\", \"base_url\": "
				  "\"ftp://x\"}",
				  &err),
			 -1);
	assert_string_equal(err.key, "base_url");
	assert_int_equal(validate("{\"type\": \"openai\", \"model\": \"m\", \"api_key_env\": "
				  "\"MY KEY\"}",
				  &err),
			 -1);
	assert_string_equal(err.key, "api_key_env");
	assert_int_equal(validate("{\"type\": \"openai\", \"model\": \"m\", \"max_n\": 11}", &err),
			 -1);
	assert_string_equal(err.key, "max_n");
	assert_int_equal(validate("{\"type\": \"openai\", \"model\": \"m\", \"prices\": {\"m\": "
				  "{\"per_image\": -1}}}",
				  &err),
			 -1);
	assert_string_equal(err.key, "prices");
	assert_int_equal(validate("{\"type\": \"openai\", \"model\": \"m\", \"prices\": {\"m\": "
				  "{\"per_image\": {\"low/1024x1024\": 0.01}, "
				  "\"image_output_per_mtok\": 8}}}",
				  &err),
			 0);
	assert_int_equal(validate("{\"type\": \"openai\", \"model\": \"dall-e-3\", \"size\": "
				  "\"1536x1024\"}",
				  &err),
			 -1);
	assert_string_equal(err.key, "size");
	assert_int_equal(validate("{\"type\": \"openai\", \"model\": \"m\", \"sizes\": \"any\", "
				  "\"size\": \"333x777\"}",
				  &err),
			 0);
}

static void test_open_needs_the_key(void **state)
{
	const struct backend_ops *ops = backend_find("openai");
	json_t *cfg = json("{\"type\": \"openai\", \"model\": \"gpt-image-1\", \"api_key_env\": "
			   "\"IMAGEN_TEST_OPENAI_KEY\"}");
	struct backend *b = NULL;
	struct err err = ERR_INIT;

	unsetenv("IMAGEN_TEST_OPENAI_KEY");
	assert_int_equal(ops->open(&b, "oa", cfg, &err), -1);
	assert_string_equal(err.msg, "IMAGEN_TEST_OPENAI_KEY is not set");
	assert_int_equal(err.code, 2);
	setenv("IMAGEN_TEST_OPENAI_KEY", "sk-a\nInjected: yes", 1);
	assert_int_equal(ops->open(&b, "oa", cfg, &err), -1);
	assert_null(strstr(err.msg, "Injected"));
	setenv("IMAGEN_TEST_OPENAI_KEY", "sk-fine", 1);
	assert_int_equal(ops->open(&b, "oa", cfg, &err), 0);
	assert_non_null(b);
	ops->close(b);
	unsetenv("IMAGEN_TEST_OPENAI_KEY");
	json_decref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_sizes_by_family),
		cmocka_unit_test(test_pick_size_exact_only),
		cmocka_unit_test(test_flexible_and_any),
		cmocka_unit_test(test_parse_reply),
		cmocka_unit_test(test_parse_reply_decodes_large_values_in_place),
		cmocka_unit_test(test_parse_reply_survives_mutations),
		cmocka_unit_test(test_cost_from_usage),
		cmocka_unit_test(test_cost_per_image_and_unknown),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_open_needs_the_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
