/* test_infotext.c - the A1111 "parameters" text, written and parsed (a1111.md §6). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/infotext.h"

static const char a1111_example[] =
	"a castle on a hill, (masterpiece:1.2)\n"
	"Negative prompt: lowres, blurry\n"
	"Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, "
	"Size: 768x512, Model hash: 6ce0161689, Model: sd15, Version: v1.10.1";

/* The composed example's parameters, in writing order. */
static json_t *example_params(void)
{
	json_t *p = json_object();

	assert_non_null(p);
	assert_int_equal(json_object_set_new(p, "Steps", json_integer(4)), 0);
	assert_int_equal(json_object_set_new(p, "Sampler", json_string("euler")), 0);
	assert_int_equal(json_object_set_new(p, "CFG scale", json_real(1.0)), 0);
	assert_int_equal(json_object_set_new(p, "Seed", json_integer(42)), 0);
	assert_int_equal(json_object_set_new(p, "Size", json_string("1024x1024")), 0);
	assert_int_equal(json_object_set_new(p, "Model", json_string("flux1-schnell")), 0);
	return p;
}

struct parsed {
	char *prompt, *negative;
	json_t *params;
};

static void parse_ok(struct parsed *out, const char *text)
{
	struct err err = ERR_INIT;

	assert_int_equal(infotext_parse(text, &out->prompt, &out->negative, &out->params, &err), 0);
	assert_non_null(out->prompt);
	assert_non_null(out->negative);
	assert_true(json_is_object(out->params));
}

static void parsed_free(struct parsed *p)
{
	free(p->prompt);
	free(p->negative);
	json_decref(p->params);
}

static const char *param(const struct parsed *p, const char *key)
{
	const json_t *v = json_object_get(p->params, key); /* borrowed */

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static void test_format_composed_example(void **state)
{
	json_t *p = example_params();
	char *s = infotext_format("a lighthouse at dusk", "blurry", p);

	assert_non_null(s);
	assert_string_equal(s, "a lighthouse at dusk\n"
			       "Negative prompt: blurry\n"
			       "Steps: 4, Sampler: euler, CFG scale: 1, Seed: 42, Size: 1024x1024, "
			       "Model: flux1-schnell");
	free(s);
	json_decref(p);
}

static void test_format_without_negative(void **state)
{
	static const char want[] = "a lighthouse at dusk\n"
				   "Steps: 4, Sampler: euler, CFG scale: 1, Seed: 42, "
				   "Size: 1024x1024, Model: flux1-schnell";
	json_t *p = example_params();
	char *s;

	s = infotext_format("a lighthouse at dusk", NULL, p);
	assert_string_equal(s, want);
	free(s);
	s = infotext_format("a lighthouse at dusk", "", p);
	assert_string_equal(s, want);
	free(s);
	json_decref(p);
}

static void test_format_value_rules(void **state)
{
	json_t *p = json_object();
	char *s;

	json_object_set_new(p, "Steps", json_integer(-3));
	json_object_set_new(p, "Denoising strength", json_real(0.75));
	json_object_set_new(p, "Hires upscale", json_real(2.0));
	json_object_set_new(p, "Empty", json_string(""));
	json_object_set_new(p, "Nothing", json_null());
	json_object_set_new(p, "Tiling", json_true());
	json_object_set_new(p, "Flag", json_string("Flag"));
	json_object_set_new(p, "Lora hashes", json_string("style1: a1b2c3d4e5f6"));
	json_object_set_new(p, "Styles", json_string("a, b"));
	json_object_set_new(p, "Note", json_string("say \"hi\"\nbye"));
	json_object_set_new(p, "Plain", json_string("caf\xc3\xa9 \"q\""));
	s = infotext_format("p", NULL, p);
	assert_string_equal(s,
			    "p\n"
			    "Steps: -3, Denoising strength: 0.75, Hires upscale: 2, Tiling: True, "
			    "Flag, Lora hashes: \"style1: a1b2c3d4e5f6\", Styles: \"a, b\", "
			    "Note: \"say \\\"hi\\\"\\nbye\", Plain: caf\xc3\xa9 \"q\"");
	free(s);
	json_decref(p);
}

static void test_format_no_params(void **state)
{
	json_t *p = json_object();
	char *s;

	s = infotext_format("just a prompt", "neg", p);
	assert_string_equal(s, "just a prompt\nNegative prompt: neg");
	free(s);
	s = infotext_format(NULL, NULL, NULL);
	assert_string_equal(s, "");
	free(s);
	json_decref(p);
}

static void test_quoted_values_round_trip(void **state)
{
	static const char *const values[] = {
		"style1: a1b2c3d4e5f6",   "a, b, c",      "line one\nline two",
		"back\\slash, \"quote\"", "tab\there: x",
	};
	struct parsed got;
	json_t *p = json_object();
	char *s;
	size_t i;

	json_object_set_new(p, "Steps", json_integer(20));
	json_object_set_new(p, "Seed", json_integer(7));
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		json_object_set_new(p, "Tricky", json_string(values[i]));
		s = infotext_format("prompt", NULL, p);
		assert_non_null(s);
		/* one line of parameters, however tricky the value */
		assert_null(strchr(strchr(s, '\n') + 1, '\n'));
		parse_ok(&got, s);
		assert_string_equal(got.prompt, "prompt");
		assert_string_equal(param(&got, "Tricky"), values[i]);
		assert_string_equal(param(&got, "Steps"), "20");
		parsed_free(&got);
		free(s);
	}
	json_decref(p);
}

static void test_multiline_prompts_round_trip(void **state)
{
	static const char prompt[] = "a lighthouse at dusk,\nwaves crashing\n\nwide shot";
	static const char negative[] = "blurry,\nlowres\nwatermark";
	struct parsed got;
	json_t *p = example_params();
	char *s = infotext_format(prompt, negative, p);

	parse_ok(&got, s);
	assert_string_equal(got.prompt, prompt);
	assert_string_equal(got.negative, negative);
	assert_string_equal(param(&got, "Model"), "flux1-schnell");
	parsed_free(&got);
	free(s);
	json_decref(p);
}

static void test_short_last_line_is_prompt(void **state)
{
	struct parsed got;

	parse_ok(&got, "a cat\nSteps: 20, Seed: 1");
	assert_string_equal(got.prompt, "a cat\nSteps: 20, Seed: 1");
	assert_string_equal(got.negative, "");
	assert_int_equal(json_object_size(got.params), 0);
	parsed_free(&got);

	parse_ok(&got, "a cat\nNegative prompt: dog\ntime: noon");
	assert_string_equal(got.prompt, "a cat");
	assert_string_equal(got.negative, "dog\ntime: noon");
	assert_int_equal(json_object_size(got.params), 0);
	parsed_free(&got);

	/* three matches are enough, even when the text is not meant as parameters */
	parse_ok(&got, "Steps: 20, Seed: 1, Size: 8x8");
	assert_string_equal(got.prompt, "");
	assert_int_equal(json_object_size(got.params), 3);
	parsed_free(&got);
}

static void test_parse_a1111_example(void **state)
{
	static const char *const want[][2] = {
		{ "Steps", "20" },
		{ "Sampler", "DPM++ 2M" },
		{ "Schedule type", "Karras" },
		{ "CFG scale", "7" },
		{ "Seed", "1234" },
		{ "Size", "768x512" },
		{ "Model hash", "6ce0161689" },
		{ "Model", "sd15" },
		{ "Version", "v1.10.1" },
	};
	struct parsed got;
	void *it;
	json_t *v;
	size_t i = 0;

	parse_ok(&got, a1111_example);
	assert_string_equal(got.prompt, "a castle on a hill, (masterpiece:1.2)");
	assert_string_equal(got.negative, "lowres, blurry");
	assert_int_equal(json_object_size(got.params), sizeof(want) / sizeof(want[0]));
	/* every value a string, in the order written */
	for (it = json_object_iter(got.params); it; it = json_object_iter_next(got.params, it)) {
		v = json_object_iter_value(it);
		assert_string_equal(json_object_iter_key(it), want[i][0]);
		assert_true(json_is_string(v));
		assert_string_equal(json_string_value(v), want[i][1]);
		i++;
	}
	parsed_free(&got);
}

static void test_parse_quirks(void **state)
{
	struct parsed got;

	/* lines are stripped (Forge), as is the whole text */
	parse_ok(&got,
		 "\n  a cat  \n\t Negative prompt:   a dog \r\nSteps: 1, Seed: 2, Size: 3x3\n");
	assert_string_equal(got.prompt, "a cat");
	assert_string_equal(got.negative, "a dog");
	parsed_free(&got);

	/* an empty value counts toward the three but is dropped; a bad quote stays raw */
	parse_ok(&got, "p\nAa: 1, Bb: , Cc: \"x\" y, Lora hashes: \"s: 1\"");
	assert_string_equal(got.prompt, "p");
	assert_int_equal(json_object_size(got.params), 3);
	assert_null(json_object_get(got.params, "Bb"));
	assert_string_equal(param(&got, "Aa"), "1");
	assert_string_equal(param(&got, "Cc"), "\"x\" y");
	assert_string_equal(param(&got, "Lora hashes"), "s: 1");
	parsed_free(&got);

	/* keys are at least two characters: "A: 1" is no match */
	parse_ok(&got, "p\nA: 1, Bb: 2, Cc: 3");
	assert_string_equal(got.prompt, "p\nA: 1, Bb: 2, Cc: 3");
	parsed_free(&got);

	/* a repeated key keeps the last value */
	parse_ok(&got, "p\nSeed: 1, Steps: 2, Seed: 3");
	assert_string_equal(param(&got, "Seed"), "3");
	parsed_free(&got);

	parse_ok(&got, "");
	assert_string_equal(got.prompt, "");
	assert_string_equal(got.negative, "");
	assert_int_equal(json_object_size(got.params), 0);
	parsed_free(&got);
}

static void test_parse_rejects_bad_utf8(void **state)
{
	struct err err = ERR_INIT;
	char *prompt = (char *)"x", *negative = (char *)"x";
	json_t *params = (json_t *)&err;

	assert_int_equal(infotext_parse("caf\xe9\nSteps: 1, Seed: 2, Size: 3x3", &prompt, &negative,
					&params, &err),
			 -1);
	assert_string_equal(err.msg, "infotext is not valid UTF-8");
	assert_null(prompt);
	assert_null(negative);
	assert_null(params);
}

static void test_format_parse_round_trip(void **state)
{
	static const char prompt[] = "portrait of a caf\xc3\xa9 owner, golden hour: warm";
	static const char negative[] = "cartoon, 3d";
	struct parsed got;
	json_t *p = json_object();
	void *it;
	json_t *v;
	char *s, num[64];

	json_object_set_new(p, "Steps", json_integer(28));
	json_object_set_new(p, "Sampler", json_string("DPM++ 2M SDE"));
	json_object_set_new(p, "Schedule type", json_string("Karras"));
	json_object_set_new(p, "CFG scale", json_real(6.5));
	json_object_set_new(p, "Distilled CFG Scale", json_real(3.5));
	json_object_set_new(p, "Seed", json_integer(3141592653LL));
	json_object_set_new(p, "Size", json_string("832x1216"));
	json_object_set_new(p, "Model hash", json_string("6ce0161689"));
	json_object_set_new(p, "Model", json_string("juggernautXL_v9"));
	json_object_set_new(p, "Denoising strength", json_real(0.35));
	json_object_set_new(p, "Hires upscaler", json_string("4x-UltraSharp"));
	json_object_set_new(p, "Lora hashes", json_string("detail: 0123abcd4567, style: ffee"));
	json_object_set_new(p, "Version", json_string("f2.0.1v1.10.1-previous-313"));
	s = infotext_format(prompt, negative, p);
	assert_non_null(s);
	parse_ok(&got, s);
	assert_string_equal(got.prompt, prompt);
	assert_string_equal(got.negative, negative);
	assert_int_equal(json_object_size(got.params), json_object_size(p));
	for (it = json_object_iter(p); it; it = json_object_iter_next(p, it)) {
		v = json_object_iter_value(it);
		if (json_is_integer(v))
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else if (json_is_real(v))
			snprintf(num, sizeof(num), "%g", json_real_value(v));
		else
			snprintf(num, sizeof(num), "%s", json_string_value(v));
		assert_string_equal(param(&got, json_object_iter_key(it)), num);
	}
	parsed_free(&got);
	free(s);
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_composed_example),
		cmocka_unit_test(test_format_without_negative),
		cmocka_unit_test(test_format_value_rules),
		cmocka_unit_test(test_format_no_params),
		cmocka_unit_test(test_quoted_values_round_trip),
		cmocka_unit_test(test_multiline_prompts_round_trip),
		cmocka_unit_test(test_short_last_line_is_prompt),
		cmocka_unit_test(test_parse_a1111_example),
		cmocka_unit_test(test_parse_quirks),
		cmocka_unit_test(test_parse_rejects_bad_utf8),
		cmocka_unit_test(test_format_parse_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
