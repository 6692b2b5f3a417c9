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
	double strength; /* recorded when there are inputs, unless res->no_strength */
};

/** The sidecar object (new reference): the same object goes into the PNG `imagen` chunk.
 *  With image inputs it adds "inputs": [{role, path, sha256, bytes, width, height}] (the
 *  images in order, then the mask), "strength" (null when the upstream took none) and
 *  "mask_invert" (with a mask). */
json_t *meta_sidecar(const struct gen_info *info);

/** The A1111 `parameters` text (malloc'd); with inputs it carries `Denoising strength`
 *  and, when the adapter's metadata has `mask_blur`, `Mask blur`. */
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
	json_t *options;              /* NULL or object */
	const char *source;           /* "imagen" chunk, "parameters" chunk, or "sidecar" */
	struct gen_input_ref *images; /* recorded image inputs (strings owned), nimages */
	size_t nimages;
	struct gen_input_ref mask; /* mask.path NULL when none (strings owned) */
	int mask_invert;
	double strength;
	int has_strength;
};

/**
 * Read path: a PNG (its `imagen` chunk, else its A1111 `parameters` chunk) or an
 * imagen sidecar JSON.  Errors name the file and the field.
 */
int repro_load(struct repro *out, const char *path, struct err *err);
void repro_release(struct repro *r);

#endif
