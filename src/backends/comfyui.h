/* comfyui.h - the graph side of the comfyui adapter (comfyui-graph.c), shared with the
 * network side (comfyui.c) and exposed for tests/unit/test_comfyui.c.  The adapter itself
 * is reached through comfyui_backend_ops like every other. */
#ifndef IMAGEN_BACKENDS_COMFYUI_H
#define IMAGEN_BACKENDS_COMFYUI_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define BUILTIN_TXT2IMG "builtin:txt2img"
#define BUILTIN_FLUX "builtin:flux-schnell"
#define CF_DEFAULT_FLUX_MODEL "flux1-schnell-fp8.safetensors"

/** The knobs a graph may have a place for. */
enum cf_param {
	P_PROMPT,
	P_NEGATIVE,
	P_SEED,
	P_STEPS,
	P_WIDTH,
	P_HEIGHT,
	P_CFG,
	P_SAMPLER,
	P_SCHEDULER,
	P_MODEL,
	P_BATCH,
	P_IMAGE,    /* an input image's uploaded name (LoadImage.image) */
	P_MASK,     /* the mask's uploaded name (LoadImageMask.image) */
	P_STRENGTH, /* KSampler denoise */
	P_N
};

/** One place: input `input` of node `node`. */
struct cf_target {
	char *node;
	char *input;
};

/** Where each knob goes in a graph: node inputs per parameter (n[k] places for knob k). */
struct comfyui_params {
	struct cf_target *t[P_N];
	size_t n[P_N];
};

/**
 * Find where prompt, negative, seed, steps, width, height, cfg, sampler, scheduler,
 * model, batch_size, image, mask and strength go in an API-format graph: from the standard nodes
 * (the first KSampler/KSamplerAdvanced, the CLIPTextEncode nodes its positive/negative inputs come
 * from, its latent's Empty*LatentImage, the checkpoint/UNET loader behind its model, its
 * denoise for the strength), or a lone node of a known class (a single LoadImage for the
 * image, a single LoadImageMask for the mask; for graphs without a KSampler, the rest).  overrides
 * (the config's `params` map, may be NULL) replaces entries: "6.inputs.text" or "6.text", a list of
 * those, or null for "nowhere".  Every target must name a node of graph and one of its
 * non-link inputs.  name is the backend instance (for messages).  Returns 0 with *out,
 * or -1 (err->key "params" when an override is at fault).
 */
int comfyui_params_detect(struct comfyui_params **out, const json_t *graph, const json_t *overrides,
			  const char *name, struct err *err);

/** {"prompt": "6.inputs.text", "seed": "3.inputs.seed", ...} (a list where a parameter
 *  has several targets), only the parameters that have one (new reference). */
json_t *comfyui_params_json(const struct comfyui_params *p);

void comfyui_params_free(struct comfyui_params *p);

/**
 * The one-line description of a POST /prompt 400 body: the error's message, then each
 * node error as "node 4 (CheckpointLoaderSimple) input ckpt_name: Value not in list:
 * ckpt_name: 'x' not in [...]", joined by "; ", control characters removed, cut to fit.
 */
void comfyui_describe_prompt_error(char *out, size_t size, const json_t *body);

/**
 * The images a /history/{id} answer lists for prompt_id: *images gets a new array of
 * {"node", "filename", "subfolder", "type", "cached"} (nodes in id order; "output" images
 * before "temp" ones; cached: the status messages' execution_cached lists the node, so
 * the image is an earlier identical run's).  Returns 1 when the prompt is finished, 0 when the
 * answer does not hold it yet ({}), -1 with err when it finished with an error (the message names
 * the node and the exception) or the answer is not the expected shape.
 */
int comfyui_history_images(const json_t *history, const char *prompt_id, json_t **images,
			   struct err *err);

/** The ids of graph's nodes of class cls, sorted and joined by ", " into out (cut to
 *  fit); returns how many there are. */
size_t comfyui_nodes_of_class(const json_t *graph, const char *cls, char *out, size_t size);

/**
 * Turn a built-in graph (BUILTIN_TXT2IMG, BUILTIN_FLUX, knobs already written) into its
 * img2img or inpaint form: LoadImage(image) -> ImageScale(width x height: the latent's
 * size) -> VAEEncode feeds the KSampler instead of the empty latent, whose denoise
 * becomes strength.  With a mask (LoadImageMask(mask), red channel: white = repaint):
 * strength < 1 adds SetLatentNoiseMask (the content under the mask is kept as a start),
 * strength 1 uses VAEEncodeForInpaint (grey fill, grow_mask_by 6) instead of VAEEncode.
 * image and mask are names the server knows (its upload answers).  0, or -1 (out of
 * memory, or not a built-in graph's shape).
 */
int comfyui_builtin_inputs(json_t *graph, const char *image, const char *mask, double strength);

/* ---- shared by comfyui.c and comfyui-graph.c ------------------------------------------ */

/** Load the workflow: a built-in graph (BUILTIN_TXT2IMG, BUILTIN_FLUX) or an API-format
 *  JSON file (~/ expanded); a UI-format export, non-JSON or a node without class_type
 *  and inputs is refused (err->key "workflow", code 2).  *out is a new reference. */
int comfyui_load_graph(json_t **out, const char *name, const char *workflow, struct err *err);

/** Write value (stolen) into every place of knob `which`; -1 when value is NULL or a
 *  write fails. */
int comfyui_set_param(json_t *graph, const struct comfyui_params *p, int which, json_t *value);

/** The value now at knob `which`'s first place (borrowed), NULL when it has none. */
const json_t *comfyui_get_param(const json_t *graph, const struct comfyui_params *p, int which);

/** A node's class_type, "" when it has none (node may be NULL). */
const char *comfyui_class_of(const json_t *node);

/** err (code 1) from the data of an execution_error message: "execution failed in node 3
 *  (KSampler): RuntimeError: CUDA out of memory". */
void comfyui_describe_execution_error(struct err *err, const json_t *d);

#endif
