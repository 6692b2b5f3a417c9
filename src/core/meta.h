/* meta.h - what an image carries about itself: sidecar JSON, PNG text, reproduction. */
#ifndef IMAGEN_META_H
#define IMAGEN_META_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "util/err.h"
#include "core/output.h"
#include "core/inputs.h"

/** Everything known about one generation. */
struct gen_info {
	const char *prompt;       /* as typed */
	const char *final_prompt; /* style applied (what the backend received) */
	const char *negative;     /* NULL when none */
	const char *style;
	const char *backend; /* instance */
	const char *backend_type;
	const json_t *options; /* --set */
	const struct imagen_result *res;
	const struct gen_record *rec;
	const struct gen_input *inputs; /* image inputs (ninputs 0: none) */
	size_t ninputs;
	const struct gen_input *mask; /* NULL when none */
	int mask_invert;
	double strength;      /* recorded when there are inputs, unless res->no_strength */
	const char *batch_id; /* the batch it belongs to; NULL: none */
	int job;              /* its job index in that batch (with batch_id) */
};

/** The sidecar object (new reference): the same object goes into the PNG `imagen` chunk.
 *  With image inputs it adds "inputs": [{role, path, sha256, bytes, width, height}] (the
 *  images in order, then the mask), "strength" (null when the upstream took none) and
 *  "mask_invert" (with a mask).  A batch's image has "batch_id" and "job" (its index in
 *  the batch's journal), so the catalog can tell a batch's images apart. */
json_t *meta_sidecar(const struct gen_info *info);

/**
 * The A1111 `parameters` text (malloc'd; NULL when memory is short): the final prompt,
 * the negative prompt, and every parameter the result and the request know, in A1111's
 * order and spelling: Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model hash,
 * Model, Denoising strength, Clip skip, Mask blur.  With image inputs Denoising strength
 * is the request's strength (unless the upstream took none) and Mask blur, with a mask,
 * the adapter's metadata mask_blur.  Sampler, scheduler and CFG come from the
 * adapter's metadata (sampler, scheduler, cfg_scale or cfg), else from the --set options;
 * Model hash and Model from a1111's sd_model_hash and sd_model_name, else the result's
 * model.  When the upstream wrote its own infotext (metadata "infotext", as a1111 hands
 * back), its parameters are kept as they are, in its order, and ours only add what it
 * lacks.
 */
char *meta_infotext(const struct gen_info *info);

/** What --from recovered from a PNG or sidecar. */
struct repro {
	char *prompt;             /* as typed */
	char *final_prompt;       /* NULL when unknown */
	char *negative;           /* NULL when none */
	char *style;              /* NULL when unknown */
	char *backend;            /* NULL when unknown (plain A1111 PNGs) */
	int width, height, steps; /* 0 when unknown */
	int64_t seed;
	int has_seed;
	json_t *options;    /* NULL or object */
	const char *source; /* "imagen" chunk, "parameters" chunk, or "sidecar" */
	/* From a parameters chunk only (an imagen chunk keeps these in options): */
	char *sampler;    /* "Sampler", NULL when absent */
	char *scheduler;  /* "Schedule type", NULL when absent */
	char *model;      /* "Model", NULL when absent */
	char *model_hash; /* "Model hash", NULL when absent */
	double cfg_scale; /* "CFG scale" when has_cfg */
	double denoise;   /* "Denoising strength" when has_denoise */
	int has_cfg, has_denoise;
	json_t *params; /* every parameter of the line as written (strings), else NULL */
	struct gen_input_ref *images; /* recorded image inputs (strings owned), nimages */
	size_t nimages;
	struct gen_input_ref mask; /* mask.path NULL when none (strings owned) */
	int mask_invert;
	double strength; /* img2img strength (the imagen chunk's, or Denoising strength) */
	int has_strength;
};

/** 1 when data[0..len) looks like an imagen sidecar (a JSON object, leading whitespace
 *  allowed), as repro_load() and `imagen inspect` tell one from other files. */
int meta_is_sidecar(const unsigned char *data, size_t len);

/**
 * Read path: a PNG (its `imagen` chunk, else its A1111 `parameters` chunk) or an
 * imagen sidecar JSON.  Errors name the file and the field.
 */
int repro_load(struct repro *out, const char *path, struct err *err);
void repro_release(struct repro *r);

/**
 * Turn what a parameters chunk recorded into request options for a backend of type
 * backend_type, where that backend speaks A1111's vocabulary: for "a1111" the sampler,
 * scheduler and cfg_scale options.  A key opts already holds (a --set option) is left
 * alone; other backend types and imagen-chunk sources add nothing (their own options
 * were recorded as they were sent).  Returns 0, or -1 when memory is short.
 */
int repro_backend_options(const struct repro *r, const char *backend_type, json_t *opts,
			  struct err *err);

#endif
