/* test_comfyui.c - the comfyui adapter's pure parts: where the knobs go in a graph, how a
 * 400 and a history entry are read; and its config checks through the ops table. */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "backends/comfyui.h"
#include "util/buf.h"

/* Detect on graph (and overrides), compare the result with want (JSON text). */
static void expect_params(const char *graph, const char *overrides, const char *want)
{
	json_t *g = json(graph), *ov = overrides ? json(overrides) : NULL, *got, *w = json(want);
	struct comfyui_params *p = NULL;
	struct err err = ERR_INIT;
	char *s;

	if (comfyui_params_detect(&p, g, ov, "c", &err) < 0)
		fail_msg("detect failed: %s", err.msg);
	got = comfyui_params_json(p);
	if (!json_equal(got, w)) {
		s = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		print_error("got %s\nwant %s\n", s, want);
		free(s);
		fail();
	}
	json_decref(got);
	json_decref(w);
	json_decref(g);
	json_decref(ov);
	comfyui_params_free(p);
}

/* Detect must fail with this message (and err->key "params"). */
static void expect_params_error(const char *graph, const char *overrides, const char *msg)
{
	json_t *g = json(graph), *ov = json(overrides);
	struct comfyui_params *p = NULL;
	struct err err = ERR_INIT;

	assert_int_equal(comfyui_params_detect(&p, g, ov, "c", &err), -1);
	assert_null(p);
	assert_string_equal(err.msg, msg);
	assert_string_equal(err.key, "params");
	json_decref(g);
	json_decref(ov);
}

#define TXT2IMG                                                                                    \
	"{\"3\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 0, \"steps\": 20, "         \
	"\"cfg\": 8, \"sampler_name\": \"euler\", \"scheduler\": \"normal\", \"denoise\": 1, "     \
	"\"model\": [\"4\", 0], \"positive\": [\"6\", 0], \"negative\": [\"7\", 0], "              \
	"\"latent_image\": [\"5\", 0]}},"                                                          \
	"\"4\": {\"class_type\": \"CheckpointLoaderSimple\", \"inputs\": {\"ckpt_name\": \"a\"}}," \
	"\"5\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 512, "              \
	"\"height\": 512, \"batch_size\": 1}},"                                                    \
	"\"6\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\", "                \
	"\"clip\": [\"4\", 1]}},"                                                                  \
	"\"7\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\", "                \
	"\"clip\": [\"4\", 1]}},"                                                                  \
	"\"8\": {\"class_type\": \"VAEDecode\", \"inputs\": {\"samples\": [\"3\", 0], "            \
	"\"vae\": [\"4\", 2]}},"                                                                   \
	"\"9\": {\"class_type\": \"SaveImage\", \"inputs\": {\"filename_prefix\": \"x\", "         \
	"\"images\": [\"8\", 0]}}}"

static void test_detect_standard_graph(void **state)
{
	expect_params(TXT2IMG, NULL,
		      "{\"prompt\": \"6.inputs.text\", \"negative\": \"7.inputs.text\", "
		      "\"seed\": \"3.inputs.seed\", \"steps\": \"3.inputs.steps\", "
		      "\"cfg\": \"3.inputs.cfg\", \"sampler\": \"3.inputs.sampler_name\", "
		      "\"scheduler\": \"3.inputs.scheduler\", \"width\": \"5.inputs.width\", "
		      "\"height\": \"5.inputs.height\", \"batch_size\": \"5.inputs.batch_size\", "
		      "\"model\": \"4.inputs.ckpt_name\", \"strength\": \"3.inputs.denoise\"}");
}

/* KSamplerAdvanced's seed is noise_seed; Flux text encoders take the prompt twice; the
 * model sits behind a LoRA loader and a ModelSampling node; the latent has no batch. */
static void test_detect_follows_links(void **state)
{
	expect_params(
		"{\"1\": {\"class_type\": \"UNETLoader\", \"inputs\": {\"unet_name\": \"u\", "
		"\"weight_dtype\": \"default\"}},"
		"\"2\": {\"class_type\": \"LoraLoaderModelOnly\", \"inputs\": {\"model\": [\"1\", "
		"0], "
		"\"lora_name\": \"l\", \"strength_model\": 1}},"
		"\"3\": {\"class_type\": \"ModelSamplingFlux\", \"inputs\": {\"model\": [\"2\", "
		"0]}},"
		"\"4\": {\"class_type\": \"CLIPTextEncodeFlux\", \"inputs\": {\"clip\": [\"9\", "
		"0], "
		"\"clip_l\": \"\", \"t5xxl\": \"\", \"guidance\": 3.5}},"
		"\"5\": {\"class_type\": \"FluxGuidance\", \"inputs\": {\"conditioning\": [\"4\", "
		"0], "
		"\"guidance\": 3.5}},"
		"\"6\": {\"class_type\": \"ConditioningZeroOut\", \"inputs\": {\"conditioning\": "
		"[\"4\", 0]}},"
		"\"7\": {\"class_type\": \"SomeLatent\", \"inputs\": {\"width\": 8, \"height\": "
		"8}},"
		"\"10\": {\"class_type\": \"KSamplerAdvanced\", \"inputs\": {\"noise_seed\": 1, "
		"\"steps\": 4, \"cfg\": 1, \"model\": [\"3\", 0], \"positive\": [\"5\", 0], "
		"\"negative\": [\"6\", 0], \"latent_image\": [\"7\", 0]}}}",
		NULL,
		"{\"prompt\": [\"4.inputs.clip_l\", \"4.inputs.t5xxl\"], \"seed\": "
		"\"10.inputs.noise_seed\", \"steps\": \"10.inputs.steps\", \"cfg\": "
		"\"10.inputs.cfg\", \"width\": \"7.inputs.width\", \"height\": "
		"\"7.inputs.height\", "
		"\"model\": \"1.inputs.unet_name\"}");
}

/* The first KSampler in numeric id order wins ("9" before "10"); a negative that is the
 * positive's own encoder is no negative; a text input fed by a link is not ours. */
static void test_detect_edge_cases(void **state)
{
	expect_params(
		"{\"10\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 1, "
		"\"positive\": [\"1\", 0], \"negative\": [\"1\", 0]}},"
		"\"9\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 2, "
		"\"positive\": [\"1\", 0], \"negative\": [\"2\", 0]}},"
		"\"1\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\"}},"
		"\"2\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": [\"5\", 0]}}}",
		NULL, "{\"prompt\": \"1.inputs.text\", \"seed\": \"9.inputs.seed\"}");
	expect_params("{\"3\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 1, "
		      "\"positive\": [\"1\", 0], \"negative\": [\"1\", 0]}},"
		      "\"1\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\"}}}",
		      NULL, "{\"prompt\": \"1.inputs.text\", \"seed\": \"3.inputs.seed\"}");
	/* links that point nowhere or are not links */
	expect_params("{\"3\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 1, "
		      "\"positive\": [\"404\", 0], \"negative\": [1, 2, 3], \"model\": 7, "
		      "\"latent_image\": [\"3\", 0]}}}",
		      NULL, "{\"seed\": \"3.inputs.seed\"}");
	/* a cycle through FluxGuidance ends */
	expect_params(
		"{\"3\": {\"class_type\": \"KSampler\", \"inputs\": {\"positive\": [\"1\", 0], "
		"\"model\": [\"3\", 0]}},"
		"\"1\": {\"class_type\": \"FluxGuidance\", \"inputs\": {\"conditioning\": "
		"[\"1\", 0]}}}",
		NULL, "{}");
}

/* Without a KSampler: one node of a known class is taken, two are ambiguous. */
static void test_detect_lone_nodes(void **state)
{
	expect_params("{\"a\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\"}},"
		      "\"b\": {\"class_type\": \"RandomNoise\", \"inputs\": {\"noise_seed\": 0}},"
		      "\"c\": {\"class_type\": \"BasicScheduler\", \"inputs\": {\"steps\": 4, "
		      "\"scheduler\": \"simple\"}},"
		      "\"d\": {\"class_type\": \"EmptySD3LatentImage\", \"inputs\": {\"width\": 1, "
		      "\"height\": 1, \"batch_size\": 1}},"
		      "\"e\": {\"class_type\": \"UNETLoader\", \"inputs\": {\"unet_name\": \"u\"}},"
		      "\"f\": {\"class_type\": \"KSamplerSelect\", \"inputs\": {\"sampler_name\": "
		      "\"x\"}},"
		      "\"g\": {\"class_type\": \"CFGGuider\", \"inputs\": {\"cfg\": 1}}}",
		      NULL,
		      "{\"prompt\": \"a.inputs.text\", \"seed\": \"b.inputs.noise_seed\", "
		      "\"steps\": \"c.inputs.steps\", \"scheduler\": \"c.inputs.scheduler\", "
		      "\"width\": \"d.inputs.width\", \"height\": \"d.inputs.height\", "
		      "\"batch_size\": \"d.inputs.batch_size\", \"model\": \"e.inputs.unet_name\", "
		      "\"sampler\": \"f.inputs.sampler_name\", \"cfg\": \"g.inputs.cfg\"}");
	expect_params("{\"a\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\"}},"
		      "\"b\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\"}}}",
		      NULL, "{}");
}

static void test_overrides(void **state)
{
	/* both spellings, a list, null for nowhere; the rest stays detected */
	expect_params(
		TXT2IMG,
		"{\"prompt\": [\"6.inputs.text\", \"7.text\"], \"negative\": null, "
		"\"seed\": \"5.inputs.batch_size\", \"steps\": \"\"}",
		"{\"prompt\": [\"6.inputs.text\", \"7.inputs.text\"], "
		"\"seed\": \"5.inputs.batch_size\", \"cfg\": \"3.inputs.cfg\", "
		"\"sampler\": \"3.inputs.sampler_name\", \"scheduler\": \"3.inputs.scheduler\", "
		"\"width\": \"5.inputs.width\", \"height\": \"5.inputs.height\", "
		"\"batch_size\": \"5.inputs.batch_size\", \"model\": \"4.inputs.ckpt_name\", "
		"\"strength\": \"3.inputs.denoise\"}");
	/* a node id with dots, written the long way */
	expect_params("{\"a.b\": {\"class_type\": \"X\", \"inputs\": {\"t\": \"\"}}}",
		      "{\"prompt\": \"a.b.inputs.t\"}", "{\"prompt\": \"a.b.inputs.t\"}");
}

/* The image goes into a lone LoadImage, the mask into a lone LoadImageMask; with two
 * LoadImage nodes neither is chosen (the adapter then names both). */
static void test_detect_image_inputs(void **state)
{
	char ids[64];
	json_t *g;

	expect_params(
		"{\"1\": {\"class_type\": \"LoadImage\", \"inputs\": {\"image\": \"a.png\"}},"
		"\"2\": {\"class_type\": \"LoadImageMask\", \"inputs\": {\"image\": \"m.png\", "
		"\"channel\": \"red\"}},"
		"\"3\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\"}}}",
		NULL,
		"{\"prompt\": \"3.inputs.text\", \"image\": \"1.inputs.image\", "
		"\"mask\": \"2.inputs.image\"}");
	expect_params("{\"10\": {\"class_type\": \"LoadImage\", \"inputs\": {\"image\": \"a\"}},"
		      "\"9\": {\"class_type\": \"LoadImage\", \"inputs\": {\"image\": \"b\"}}}",
		      NULL, "{}");
	g = json("{\"10\": {\"class_type\": \"LoadImage\", \"inputs\": {}},"
		 "\"9\": {\"class_type\": \"LoadImage\", \"inputs\": {}},"
		 "\"x\": {\"class_type\": \"KSampler\", \"inputs\": {}}}");
	assert_int_equal(comfyui_nodes_of_class(g, "LoadImage", ids, sizeof(ids)), 2);
	assert_string_equal(ids, "9, 10");
	assert_int_equal(comfyui_nodes_of_class(g, "LoadImage", ids, 4), 2);
	assert_string_equal(ids, "9, ");
	assert_int_equal(comfyui_nodes_of_class(g, "VAEEncode", ids, sizeof(ids)), 0);
	assert_string_equal(ids, "");
	json_decref(g);
}

/* The built-in graph turned into img2img and inpainting. */
static void test_builtin_inputs(void **state)
{
	json_t *g = json(TXT2IMG), *want;

	assert_int_equal(comfyui_builtin_inputs(g, "in.png", NULL, 0.25), 0);
	want = json("{\"class_type\": \"ImageScale\", \"inputs\": {\"image\": [\"10\", 0], "
		    "\"upscale_method\": \"lanczos\", \"width\": 512, \"height\": 512, "
		    "\"crop\": \"disabled\"}}");
	assert_true(json_equal(json_object_get(g, "11"), want));
	json_decref(want);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(g, "10"), "inputs"), "image")),
			    "in.png");
	assert_string_equal(comfyui_class_of(json_object_get(g, "5")), "VAEEncode");
	assert_true(
		json_real_value(json_object_get(json_object_get(json_object_get(g, "3"), "inputs"),
						"denoise")) == 0.25);
	assert_null(json_object_get(g, "12"));
	json_decref(g);

	g = json(TXT2IMG);
	assert_int_equal(comfyui_builtin_inputs(g, "in.png", "m.png", 0.5), 0);
	assert_string_equal(comfyui_class_of(json_object_get(g, "12")), "LoadImageMask");
	assert_string_equal(comfyui_class_of(json_object_get(g, "13")), "SetLatentNoiseMask");
	want = json("[\"13\", 0]");
	assert_true(json_equal(
		json_object_get(json_object_get(json_object_get(g, "3"), "inputs"), "latent_image"),
		want));
	json_decref(want);
	json_decref(g);

	g = json(TXT2IMG);
	assert_int_equal(comfyui_builtin_inputs(g, "in.png", "m.png", 1.0), 0);
	assert_string_equal(comfyui_class_of(json_object_get(g, "5")), "VAEEncodeForInpaint");
	assert_null(json_object_get(g, "13"));
	json_decref(g);

	/* not a built-in graph's shape */
	g = json("{\"3\": {\"class_type\": \"KSampler\", \"inputs\": {}}}");
	assert_int_equal(comfyui_builtin_inputs(g, "in.png", NULL, 0.5), -1);
	json_decref(g);
}

static void test_override_errors(void **state)
{
	expect_params_error(TXT2IMG, "{\"promt\": \"6.text\"}",
			    "backends.c.params: unknown parameter 'promt' (did you mean 'prompt'?) "
			    "(known: prompt, negative, seed, steps, width, height, cfg, sampler, "
			    "scheduler, model, batch_size, image, mask, strength)");
	expect_params_error(TXT2IMG, "{\"seed\": \"42.inputs.seed\"}",
			    "backends.c.params.seed: the workflow has no node \"42\"");
	expect_params_error(TXT2IMG, "{\"seed\": \"3.inputs.sed\"}",
			    "backends.c.params.seed: node \"3\" (KSampler) has no input 'sed' "
			    "(inputs: seed, steps, cfg, sampler_name, scheduler, denoise)");
	expect_params_error(TXT2IMG, "{\"seed\": \"3.inputs.model\"}",
			    "backends.c.params.seed: input model of node \"3\" (KSampler) is a "
			    "link, not a value");
	expect_params_error(TXT2IMG, "{\"seed\": 3}",
			    "backends.c.params.seed: expected \"NODE.inputs.INPUT\" (e.g. "
			    "\"6.inputs.text\"), a list of those, or null");
	expect_params_error(TXT2IMG, "{\"seed\": \"nodot\"}",
			    "backends.c.params.seed: expected \"NODE.inputs.INPUT\" (e.g. "
			    "\"6.inputs.text\"), a list of those, or null");
	expect_params_error(TXT2IMG, "{\"seed\": [\"3.seed\", 4]}",
			    "backends.c.params.seed: expected \"NODE.inputs.INPUT\" (e.g. "
			    "\"6.inputs.text\"), a list of those, or null");
	expect_params_error(TXT2IMG, "[]",
			    "backends.c.params: expected a mapping such as {prompt: "
			    "\"6.inputs.text\"}");
}

static void expect_describe(const char *body, const char *want)
{
	json_t *b = json(body);
	char out[900];

	comfyui_describe_prompt_error(out, sizeof(out), b);
	assert_string_equal(out, want);
	json_decref(b);
}

static void test_describe_prompt_error(void **state)
{
	/* the protocol document's example */
	expect_describe(
		"{\"error\": {\"type\": \"prompt_outputs_failed_validation\", \"message\": "
		"\"Prompt "
		"outputs failed validation\", \"details\": \"Value not in list: ckpt_name: "
		"'nope.safetensors' not in [...]\", \"extra_info\": {}}, \"node_errors\": "
		"{\"ckpt\": "
		"{\"class_type\": \"CheckpointLoaderSimple\", \"dependent_outputs\": [\"save\"], "
		"\"errors\": [{\"type\": \"value_not_in_list\", \"message\": \"Value not in "
		"list\", "
		"\"details\": \"ckpt_name: 'nope.safetensors' not in [...]\", \"extra_info\": "
		"{\"input_name\": \"ckpt_name\", \"input_config\": null, \"received_value\": "
		"\"nope.safetensors\"}}]}}}",
		"Prompt outputs failed validation: node ckpt (CheckpointLoaderSimple) input "
		"ckpt_name: Value not in list: ckpt_name: 'nope.safetensors' not in [...]");
	/* several nodes in id order, several errors in one */
	expect_describe("{\"error\": {\"message\": \"Prompt outputs failed validation\"}, "
			"\"node_errors\": {"
			"\"10\": {\"class_type\": \"B\", \"errors\": [{\"message\": \"m3\", "
			"\"extra_info\": "
			"{\"input_name\": \"z\"}}]},"
			"\"9\": {\"class_type\": \"A\", \"errors\": [{\"message\": \"m1\", "
			"\"details\": \"d1\", "
			"\"extra_info\": {\"input_name\": \"x\"}}, {\"message\": \"m2\", "
			"\"details\": \"\"}]}}}",
			"Prompt outputs failed validation: node 9 (A) input x: m1: d1; node 9 (A): "
			"m2; node "
			"10 (B) input z: m3");
	/* an unknown class: the details carry the node */
	expect_describe("{\"error\": {\"type\": \"invalid_prompt\", \"message\": \"Cannot execute "
			"because node Foo does not exist.\", \"details\": \"Node ID '#12'\", "
			"\"extra_info\": {}}, \"node_errors\": {}}",
			"Cannot execute because node Foo does not exist.: Node ID '#12'");
	/* older servers: a bare string and a list */
	expect_describe("{\"error\": \"no prompt\", \"node_errors\": []}", "no prompt");
	expect_describe("{}", "prompt refused");
	/* no control characters reach the terminal */
	expect_describe("{\"error\": {\"message\": \"bad\\u001b[31m\\nthing\"}}", "bad[31m thing");
}

static void test_describe_prompt_error_is_bounded(void **state)
{
	struct buf big = BUF_INIT;
	json_t *b;
	char out[300];
	int i;

	buf_adds(&big, "{\"error\": {\"message\": \"m\"}, \"node_errors\": {");
	for (i = 0; i < 200; i++)
		buf_addf(&big,
			 "%s\"%d\": {\"class_type\": \"K\", \"errors\": [{\"message\": "
			 "\"%0300d\"}]}",
			 i ? "," : "", i, i);
	buf_adds(&big, "}}");
	b = json((const char *)big.data);
	comfyui_describe_prompt_error(out, sizeof(out), b);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_non_null(strstr(out, "..."));
	json_decref(b);
	buf_release(&big);
}

static int history(const char *text, const char *id, json_t **images, struct err *err)
{
	json_t *h = json(text);
	int rc = comfyui_history_images(h, id, images, err);

	json_decref(h);
	return rc;
}

static void test_history_images(void **state)
{
	struct err err = ERR_INIT;
	json_t *images = NULL, *want;

	assert_int_equal(history("{}", "p", &images, &err), 0);
	assert_null(images);
	assert_int_equal(history("{\"other\": {}}", "p", &images, &err), 0);
	assert_int_equal(
		history("{\"p\": {\"status\": {\"status_str\": \"success\", \"completed\": true}, "
			"\"outputs\": {"
			"\"10\": {\"images\": [{\"filename\": \"c.png\", \"subfolder\": \"s\", "
			"\"type\": \"output\"}]},"
			"\"2\": {\"images\": [{\"filename\": \"t.png\", \"subfolder\": \"\", "
			"\"type\": "
			"\"temp\"}, {\"filename\": \"a.png\"}, {\"filename\": \"\"}]},"
			"\"9\": {\"text\": [\"not an image\"], \"images\": [{\"filename\": "
			"\"b.png\", "
			"\"type\": \"output\"}]}}}}",
			"p", &images, &err),
		1);
	want = json("[{\"node\": \"2\", \"filename\": \"a.png\", \"subfolder\": \"\", \"type\": "
		    "\"output\", \"cached\": false},"
		    "{\"node\": \"9\", \"filename\": \"b.png\", \"subfolder\": \"\", \"type\": "
		    "\"output\", \"cached\": false},"
		    "{\"node\": \"10\", \"filename\": \"c.png\", \"subfolder\": \"s\", \"type\": "
		    "\"output\", \"cached\": false},"
		    "{\"node\": \"2\", \"filename\": \"t.png\", \"subfolder\": \"\", \"type\": "
		    "\"temp\", \"cached\": false}]");
	assert_true(json_equal(images, want));
	json_decref(want);
	json_decref(images);

	/* ComfyUI served node 9 from its cache (an identical earlier run): its image says so */
	assert_int_equal(
		history("{\"p\": {\"status\": {\"status_str\": \"success\", \"messages\": ["
			"[\"execution_start\", {\"prompt_id\": \"p\"}],"
			"[\"execution_cached\", {\"nodes\": [\"4\", \"9\"], \"prompt_id\": "
			"\"p\"}]]},"
			"\"outputs\": {\"9\": {\"images\": [{\"filename\": \"b.png\"}]},"
			"\"12\": {\"images\": [{\"filename\": \"d.png\"}]}}}}",
			"p", &images, &err),
		1);
	assert_true(json_is_true(json_object_get(json_array_get(images, 0), "cached")));
	assert_true(json_is_false(json_object_get(json_array_get(images, 1), "cached")));
	json_decref(images);

	/* finished without images: an empty list, the caller says what is wrong */
	assert_int_equal(history("{\"p\": {\"outputs\": {}}}", "p", &images, &err), 1);
	assert_int_equal(json_array_size(images), 0);
	json_decref(images);
}

static void test_history_failures(void **state)
{
	struct err err = ERR_INIT;
	json_t *images = NULL;

	assert_int_equal(
		history("{\"p\": {\"outputs\": {}, \"status\": {\"status_str\": \"error\", "
			"\"completed\": false, \"messages\": [[\"execution_start\", {}], "
			"[\"execution_error\", {\"node_id\": \"3\", \"node_type\": \"KSampler\", "
			"\"exception_type\": \"RuntimeError\", \"exception_message\": "
			"\"boom\\n\\n\"}]]}}}",
			"p", &images, &err),
		-1);
	assert_string_equal(err.msg, "execution failed in node 3 (KSampler): RuntimeError: boom");
	assert_int_equal(err.code, 1);
	assert_int_equal(history("{\"p\": {\"status\": {\"status_str\": \"error\", \"messages\": "
				 "[[\"execution_interrupted\", {\"node_id\": \"3\"}]]}}}",
				 "p", &images, &err),
			 -1);
	assert_string_equal(err.msg, "execution was interrupted on the server");
	assert_int_equal(
		history("{\"p\": {\"status\": {\"status_str\": \"error\"}}}", "p", &images, &err),
		-1);
	assert_string_equal(err.msg, "execution failed (the server gives no detail)");
	assert_int_equal(history("[]", "p", &images, &err), -1);
	assert_int_equal(history("{\"p\": 3}", "p", &images, &err), -1);
	assert_int_equal(history("{\"p\": {\"outputs\": []}}", "p", &images, &err), -1);
	assert_string_equal(err.msg, "unexpected answer from GET /history (no outputs)");
	assert_null(images);
}

/* ---- the config slice, through the ops table --------------------------------------------- */

static int validate(const char *cfg_text, struct err *err)
{
	const struct backend_ops *ops = backend_find("comfyui");
	json_t *cfg = json(cfg_text);
	int rc;

	assert_non_null(ops);
	rc = ops->validate("c", cfg, err);
	json_decref(cfg);
	return rc;
}

static void test_config(void **state)
{
	const struct backend_ops *ops = backend_find("comfyui");
	struct err err = ERR_INIT;
	struct backend *b = NULL;
	json_t *cfg;

	assert_int_equal(ops->max_batch, 1);
	assert_int_equal(validate("{\"type\": \"comfyui\", \"base_url\": \"http://h:8188\", "
				  "\"model\": \"m.safetensors\"}",
				  &err),
			 0);
	/* flux by model name needs nothing else; a custom graph file needs no model */
	assert_int_equal(
		validate("{\"type\": \"comfyui\", \"base_url\": \"https://h\", \"model\": "
			 "\"My-FLUX-schnell.safetensors\", \"cfg\": 1, \"default_steps\": 4}",
			 &err),
		0);
	assert_int_equal(validate("{\"type\": \"comfyui\", \"base_url\": \"http://h\"}", &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.key, "");
	assert_int_equal(validate("{\"type\": \"comfyui\", \"base_url\": \"http://h\", \"model\": "
				  "\"m\", \"default_steps\": 0}",
				  &err),
			 -1);
	assert_string_equal(err.key, "default_steps");
	assert_int_equal(validate("{\"type\": \"comfyui\", \"base_url\": \"http://h\", \"model\": "
				  "\"m\", \"cfg\": 101}",
				  &err),
			 -1);
	assert_string_equal(err.key, "cfg");
	assert_int_equal(validate("{\"type\": \"comfyui\", \"base_url\": \"http://h\", \"model\": "
				  "\"m\", \"timeout\": \"soon\"}",
				  &err),
			 -1);
	assert_string_equal(err.key, "timeout");
	/* the flux graph has no negative to set, but every other knob */
	assert_int_equal(
		validate("{\"type\": \"comfyui\", \"base_url\": \"http://h\", \"workflow\": "
			 "\"builtin:flux-schnell\", \"sampler\": \"euler\", \"scheduler\": "
			 "\"beta\", \"params\": {\"negative\": null}}",
			 &err),
		0);

	/* open: the instance name is kept; close frees everything (ASan watches) */
	cfg = json("{\"type\": \"comfyui\", \"base_url\": \"http://h:1///\", \"model\": \"m\"}");
	assert_int_equal(ops->open(&b, "mine", cfg, &err), 0);
	assert_non_null(b);
	assert_string_equal(b->name, "mine");
	assert_ptr_equal(b->ops, ops);
	ops->close(b);
	json_decref(cfg);
}

static void test_config_workflow_file(void **state)
{
	char path[] = "/tmp/imagen-test-comfyui-XXXXXX", text[512];
	struct err err = ERR_INIT;
	FILE *f;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("{\"1\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\"}},"
	      " \"2\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"1\", 0]}}}",
	      f);
	fclose(f);
	snprintf(text, sizeof(text),
		 "{\"type\": \"comfyui\", \"base_url\": \"http://h\", \"workflow\": \"%s\"}", path);
	assert_int_equal(validate(text, &err), 0);
	/* a model needs a loader to go into */
	snprintf(text, sizeof(text),
		 "{\"type\": \"comfyui\", \"base_url\": \"http://h\", \"workflow\": \"%s\", "
		 "\"model\": \"m\"}",
		 path);
	assert_int_equal(validate(text, &err), -1);
	assert_string_equal(err.key, "model");
	assert_int_equal(err.code, 2);

	f = fopen(path, "w");
	fputs("{\"1\": {\"class_type\": \"CLIPTextEncode\"}}", f);
	fclose(f);
	snprintf(text, sizeof(text),
		 "{\"type\": \"comfyui\", \"base_url\": \"http://h\", \"workflow\": \"%s\"}", path);
	assert_int_equal(validate(text, &err), -1);
	assert_string_equal(err.key, "workflow");
	assert_non_null(
		strstr(err.msg, "node \"1\" is not {\"class_type\": ..., \"inputs\": {...}}"));

	f = fopen(path, "w");
	fputs("{\"1\": ", f);
	fclose(f);
	assert_int_equal(validate(text, &err), -1);
	assert_non_null(strstr(err.msg, "not JSON"));
	unlink(path);
	assert_int_equal(validate(text, &err), -1);
	assert_string_equal(err.key, "workflow");
	assert_int_equal(err.code, 2);
}

/* Several images from a graph whose seed goes nowhere: ComfyUI's cache would answer every
 * run after the first with its image.  Refused (exit 2) before any request - the server
 * here does not exist - unless a batch size can make them all in one run. */
static void test_count_without_seed_is_refused_before_queueing(void **state)
{
	const struct backend_ops *ops = backend_find("comfyui");
	struct imagen_request req;
	struct imagen_result res[16];
	struct err err = ERR_INIT;
	struct backend *b = NULL;
	size_t nres = 7;
	json_t *cfg, *opts = json_object();

	cfg = json("{\"type\": \"comfyui\", \"base_url\": \"http://127.0.0.1:1\", \"model\": "
		   "\"m\", \"params\": {\"seed\": null, \"batch_size\": null}}");
	assert_int_equal(ops->open(&b, "local", cfg, &err), 0);
	memset(&req, 0, sizeof(req));
	memset(res, 0, sizeof(res));
	req.prompt = "x";
	req.opts = opts;
	req.count = 1;
	req.total = 3;
	req.room = 16;
	assert_int_equal(backend_generate(b, &req, res, &nres, &err), -1);
	assert_int_equal(err.code, 2);
	assert_int_equal(nres, 0);
	assert_non_null(strstr(err.msg, "3 images asked for, but the workflow builtin:txt2img "
					"has no seed input"));
	assert_non_null(strstr(err.msg, "set backends.local.params.seed"));
	ops->close(b);
	json_decref(cfg);

	/* a batch size: one run of 3; more than the caller has room for is refused too */
	cfg = json("{\"type\": \"comfyui\", \"base_url\": \"http://127.0.0.1:1\", \"model\": "
		   "\"m\", \"params\": {\"seed\": null}}");
	assert_int_equal(ops->open(&b, "local", cfg, &err), 0);
	req.total = 17;
	err_clear(&err);
	assert_int_equal(backend_generate(b, &req, res, &nres, &err), -1);
	assert_int_equal(err.code, 2);
	assert_non_null(strstr(err.msg, "one batch holds at most 16"));
	/* one image: nothing to refuse (the connection then fails: code 1) */
	req.total = 1;
	setenv("IMAGEN_HTTP_RETRIES", "1", 1);
	err_clear(&err);
	assert_int_equal(backend_generate(b, &req, res, &nres, &err), -1);
	assert_int_equal(err.code, 1);
	unsetenv("IMAGEN_HTTP_RETRIES");
	ops->close(b);
	json_decref(cfg);
	json_decref(opts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect_standard_graph),
		cmocka_unit_test(test_detect_follows_links),
		cmocka_unit_test(test_detect_edge_cases),
		cmocka_unit_test(test_detect_image_inputs),
		cmocka_unit_test(test_builtin_inputs),
		cmocka_unit_test(test_detect_lone_nodes),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_override_errors),
		cmocka_unit_test(test_describe_prompt_error),
		cmocka_unit_test(test_describe_prompt_error_is_bounded),
		cmocka_unit_test(test_history_images),
		cmocka_unit_test(test_history_failures),
		cmocka_unit_test(test_count_without_seed_is_refused_before_queueing),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_workflow_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
