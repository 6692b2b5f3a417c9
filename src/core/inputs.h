/* inputs.h - image inputs of a generation (img2img, edits, inpainting): the files read
 * and checked once by the core, the mask turned into what each upstream wants, and the
 * output size an upstream accepts.  Pure functions apart from gen_input_load. */
#ifndef IMAGEN_INPUTS_H
#define IMAGEN_INPUTS_H

#include <stddef.h>

#include "core/image.h"
#include "util/err.h"

#define GEN_INPUTS_MAX 16                      /* --image files per generation */
#define GEN_INPUT_MAX_BYTES ((size_t)50 << 20) /* any upstream's largest (OpenAI GPT) */
#define GEN_INPUT_MAX_SIDE 16384
#define GEN_STRENGTH_DEFAULT 0.6

/** An input as a source names it: a path, and from a --from record also the hash and
 *  size it had (NULL / 0 when unknown), by which a moved file is found again. */
struct gen_input_ref {
	const char *path;
	const char *sha256;
	long long bytes;
};

/** One input file, read whole and checked (owned; gen_input_release). */
struct gen_input {
	const char *role; /* "image" or "mask" (static) */
	char *path;       /* as given (a --from record's path when found there; else where
			   * it was found by its hash) */
	unsigned char *data;
	size_t len;
	enum image_format format;
	int width, height;
	char sha256[65];
};

/**
 * Read path as an input of this role and check it: a readable regular file of at most
 * GEN_INPUT_MAX_BYTES, a whole PNG, JPEG or WebP (core/image.h) with a known size within
 * GEN_INPUT_MAX_SIDE; a mask must be a PNG.  Fills sha256.  Errors (code 2) are one line
 * naming the file and the rule: "--image cat.gif: not a PNG, JPEG or WebP image (...)".
 */
int gen_input_load(struct gen_input *in, const char *role, const char *path, struct err *err);

/** The same checks on bytes already in memory (data is copied). */
int gen_input_from_bytes(struct gen_input *in, const char *role, const char *path, const void *data,
			 size_t len, struct err *err);

void gen_input_release(struct gen_input *in);

/**
 * The repaint map of a black-and-white mask (PNG bytes): w*h bytes, 255 = repaint, 0 =
 * keep.  A mask with any transparent pixel is read by its alpha (transparent = repaint,
 * the OpenAI convention); an opaque one by its brightness (white = repaint, A1111's and
 * ComfyUI's).  invert flips the result (--mask-invert).  *map is malloc'd.
 */
int mask_repaint_map(const void *png, size_t len, int invert, unsigned char **map, int *w, int *h,
		     struct err *err);

enum mask_style {
	MASK_WHITE_REPAINT, /* 8-bit grey PNG, white = repaint (A1111, ComfyUI, Replicate) */
	MASK_ALPHA_REPAINT, /* RGBA PNG, black, alpha 0 = repaint (OpenAI) */
};

/** A repaint map as the PNG an upstream wants (*out malloc'd). */
int mask_encode(const unsigned char *map, int w, int h, enum mask_style style, unsigned char **out,
		size_t *len, struct err *err);

/**
 * The output size for an input of w x h that an upstream accepts: scaled down (aspect
 * kept) so neither side exceeds max_side (0 = no limit), then each side rounded to the
 * nearest multiple of `multiple` (>= 1) and at least `multiple`.
 */
void size_round(int w, int h, int multiple, int max_side, int *ow, int *oh);

#endif
