/* test_meta_infotext.c - the A1111 `parameters` text imagen writes (every field the result and the
 * request know, in A1111's order and spelling; the upstream's own line kept) and what
 * --from reads back from it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/meta.h"
#include "core/pngmeta.h"

static json_t *json(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);

	if (!v)
		fail_msg("bad JSON in test: %s: %s", text, jerr.text);
	return v;
}

/* The infotext for a result with this metadata and these --set options. */
static char *infotext(const char *metadata, const char *options, const char *model, int steps,
		      int seed_honoured)
{
	struct imagen_result res;
	struct gen_record rec;
	struct gen_info info;
	json_t *opts = json(options);
	char *text;

	memset(&res, 0, sizeof(res));
	memset(&rec, 0, sizeof(rec));
	res.width = 512;
	res.height = 768;
	res.steps = steps;
	res.seed = 42;
	res.seed_honoured = seed_honoured;
	res.model = (char *)model;
	res.metadata = metadata ? json(metadata) : NULL;
	memset(&info, 0, sizeof(info));
	info.prompt = "a lighthouse";
	info.final_prompt = "a lighthouse, oil painting";
	info.negative = "blurry";
	info.style = "oil";
	info.backend = "x";
	info.backend_type = "x";
	info.options = opts;
	info.res = &res;
	info.rec = &rec;
	text = meta_infotext(&info);
	json_decref(res.metadata);
	json_decref(opts);
	assert_non_null(text);
	return text;
}

static void assert_infotext(char *got, const char *params)
{
	char want[1024];

	snprintf(want, sizeof(want), "a lighthouse, oil painting\nNegative prompt: blurry\n%s",
		 params);
	assert_string_equal(got, want);
	free(got);
}

static void test_comfyui_metadata_in_a1111_order(void **state)
{
	(void)state;
	/* comfyui reports sampler, scheduler and cfg; the names stay ComfyUI's */
	assert_infotext(infotext("{\"cfg\": 7.5, \"scheduler\": \"karras\", \"sampler\": "
				 "\"dpmpp_2m\", \"prompt_id\": \"p\"}",
				 "{}", "sd_xl_base_1.0.safetensors", 20, 1),
			"Steps: 20, Sampler: dpmpp_2m, Schedule type: karras, CFG scale: 7.5, "
			"Seed: 42, Size: 512x768, Model: sd_xl_base_1.0.safetensors");
}

static void test_a1111_metadata_names_model_hash_and_model(void **state)
{
	(void)state;
	assert_infotext(infotext("{\"sampler\": \"DPM++ 2M\", \"scheduler\": \"Karras\", "
				 "\"cfg_scale\": 7, \"sd_model_hash\": \"6ce0161689\", "
				 "\"sd_model_name\": \"sd15\"}",
				 "{}", "sd15.safetensors", 20, 1),
			"Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, "
			"Seed: 42, Size: 512x768, Model hash: 6ce0161689, Model: sd15");
}

static void test_options_fill_what_metadata_lacks(void **state)
{
	(void)state;
	/* --set values (strings or numbers); the metadata wins where both know */
	assert_infotext(
		infotext("{\"sampler\": \"euler\"}",
			 "{\"sampler\": \"heun\", \"scheduler\": \"simple\", \"cfg\": "
			 "\"4.5\", \"denoise\": 0.6, \"clip_skip\": 2}",
			 NULL, 8, 1),
		"Steps: 8, Sampler: euler, Schedule type: simple, CFG scale: 4.5, Seed: 42, "
		"Size: 512x768, Denoising strength: 0.6, Clip skip: 2");
	/* no steps notion, no seed upstream (openai): neither is written */
	assert_infotext(
		infotext("{\"request\": {\"quality\": \"high\"}}", "{}", "gpt-image-1", 0, 0),
		"Size: 512x768, Model: gpt-image-1");
}

static void test_upstream_infotext_is_kept(void **state)
{
	(void)state;
	/* a1111's own line: its fields in its order (Version, a quoted value) survive; what
	 * only imagen knows (a --set denoise here) is added after them */
	assert_infotext(
		infotext("{\"sampler\": \"DPM++ 2M\", \"cfg_scale\": 6.5, \"infotext\": "
			 "\"a lighthouse, oil painting\\nNegative prompt: blurry\\nSteps: 12, "
			 "Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, "
			 "Size: 64x48, Model hash: 6ce0161689, Model: sd15, Lora hashes: \\\"x: "
			 "1a2b\\\", Version: v1.10.1\"}",
			 "{\"denoising_strength\": 0.5}", "sd15.safetensors", 12, 1),
		"Steps: 12, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, "
		"Size: 64x48, Model hash: 6ce0161689, Model: sd15, Lora hashes: \"x: 1a2b\", "
		"Version: v1.10.1, Denoising strength: 0.5");
	/* an infotext that does not parse as one is ignored, ours stands */
	assert_infotext(infotext("{\"infotext\": \"just words\"}", "{}", NULL, 3, 1),
			"Steps: 3, Seed: 42, Size: 512x768");
}

/* Write a 1x1 PNG whose parameters chunk holds text; returns its path (free()). */
static char *png_with_parameters(const char *text)
{
	static const unsigned char rgb[3] = { 1, 2, 3 };
	char tmpl[] = "/tmp/imagen-test-meta-XXXXXX";
	struct png_text t = { "parameters", (char *)text };
	unsigned char *png = NULL, *out = NULL;
	size_t len = 0, out_len = 0;
	struct err err = ERR_INIT;
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	assert_int_equal(png_encode_rgb(&png, &len, rgb, 1, 1, &err), 0);
	assert_int_equal(pngmeta_insert(&out, &out_len, png, len, &t, 1, &err), 0);
	assert_int_equal(write(fd, out, out_len), (ssize_t)out_len);
	close(fd);
	free(png);
	free(out);
	return strdup(tmpl);
}

static void test_from_reads_every_field_back(void **state)
{
	struct repro r;
	struct err err = ERR_INIT;
	char *text = infotext("{\"sampler\": \"DPM++ 2M\", \"scheduler\": \"Karras\", "
			      "\"cfg_scale\": 6.5, \"sd_model_hash\": \"6ce0161689\", "
			      "\"sd_model_name\": \"sd15\"}",
			      "{\"denoising_strength\": 0.4}", NULL, 20, 1);
	char *path = png_with_parameters(text);
	json_t *opts;

	(void)state;
	assert_int_equal(repro_load(&r, path, &err), 0);
	assert_string_equal(r.source, "parameters chunk");
	assert_string_equal(r.prompt, "a lighthouse, oil painting");
	assert_string_equal(r.negative, "blurry");
	assert_int_equal(r.steps, 20);
	assert_int_equal(r.has_seed, 1);
	assert_int_equal(r.seed, 42);
	assert_int_equal(r.width, 512);
	assert_int_equal(r.height, 768);
	assert_string_equal(r.sampler, "DPM++ 2M");
	assert_string_equal(r.scheduler, "Karras");
	assert_int_equal(r.has_cfg, 1);
	assert_true(r.cfg_scale == 6.5);
	assert_string_equal(r.model_hash, "6ce0161689");
	assert_string_equal(r.model, "sd15");
	assert_int_equal(r.has_denoise, 1);
	assert_true(r.denoise == 0.4);
	assert_int_equal(json_object_size(r.params), 9);

	/* an a1111 backend gets them as its options; a --set value is not overridden */
	opts = json("{\"sampler\": \"Euler a\"}");
	assert_int_equal(repro_backend_options(&r, "a1111", opts, &err), 0);
	assert_string_equal(json_string_value(json_object_get(opts, "sampler")), "Euler a");
	assert_string_equal(json_string_value(json_object_get(opts, "scheduler")), "Karras");
	assert_true(json_real_value(json_object_get(opts, "cfg_scale")) == 6.5);
	json_decref(opts);
	/* other backends speak other vocabularies: nothing is added */
	opts = json("{}");
	assert_int_equal(repro_backend_options(&r, "mock", opts, &err), 0);
	assert_int_equal(repro_backend_options(&r, "comfyui", opts, &err), 0);
	assert_int_equal(json_object_size(opts), 0);
	json_decref(opts);
	repro_release(&r);
	unlink(path);
	free(path);
	free(text);
}

static void test_from_names_a_bad_number(void **state)
{
	struct repro r;
	struct err err = ERR_INIT;
	char *path = png_with_parameters("p\nSteps: 3, CFG scale: seven, Seed: 1");
	char want[512];

	(void)state;
	assert_int_equal(repro_load(&r, path, &err), -1);
	snprintf(want, sizeof(want), "%s: parameters: CFG scale 'seven' is not a number", path);
	assert_string_equal(err.msg, want);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_comfyui_metadata_in_a1111_order),
		cmocka_unit_test(test_a1111_metadata_names_model_hash_and_model),
		cmocka_unit_test(test_options_fill_what_metadata_lacks),
		cmocka_unit_test(test_upstream_infotext_is_kept),
		cmocka_unit_test(test_from_reads_every_field_back),
		cmocka_unit_test(test_from_names_a_bad_number),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
