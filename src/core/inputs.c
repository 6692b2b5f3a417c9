/* inputs.c - image inputs: load and check, decode PNG, masks, output sizes (inputs.h). */
#include "core/inputs.h"

#include <spng.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/image.h"
#include "core/pngmeta.h"
#include "util/file.h"
#include "util/sha256.h"


int gen_input_from_bytes(struct gen_input *in, const char *role, const char *path, const void *data,
			 size_t len, struct err *err)
{
	struct image_info info;
	struct err e = ERR_INIT;
	const char *flag = !strcmp(role, "mask") ? "--mask" : "--image";

	memset(in, 0, sizeof(*in));
	in->role = !strcmp(role, "mask") ? "mask" : "image";
	if (len > GEN_INPUT_MAX_BYTES)
		return err_code(err, 2, "%s %s: %zu bytes, more than any upstream takes (%zu MB)",
				flag, path, len, GEN_INPUT_MAX_BYTES >> 20);
	if (image_check(data, len, &info, &e) < 0)
		return err_code(err, 2, "%s %s: %s", flag, path, e.msg);
	if (info.width <= 0 || info.height <= 0 || info.width > GEN_INPUT_MAX_SIDE ||
	    info.height > GEN_INPUT_MAX_SIDE)
		return err_code(err, 2, "%s %s: size %dx%d is not usable (1..%d a side)", flag,
				path, info.width, info.height, GEN_INPUT_MAX_SIDE);
	if (!strcmp(role, "mask") && info.format != IMAGE_PNG)
		return err_code(err, 2, "%s %s: a mask must be a PNG (this is %s)", flag, path,
				image_mime(info.format));
	in->path = strdup(path);
	in->data = malloc(info.len ? info.len : 1);
	if (!in->path || !in->data) {
		gen_input_release(in);
		return err_code(err, 1, "out of memory");
	}
	memcpy(in->data, data, info.len);
	in->len = info.len;
	in->format = info.format;
	in->width = info.width;
	in->height = info.height;
	sha256_hex(in->sha256, in->data, in->len);
	return 0;
}

int gen_input_load(struct gen_input *in, const char *role, const char *path, struct err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	struct err e = ERR_INIT;
	int rc;

	memset(in, 0, sizeof(*in));
	if (file_read(&data, &len, path, GEN_INPUT_MAX_BYTES, &e) < 0)
		return err_code(err, 2, "%s %s", !strcmp(role, "mask") ? "--mask" : "--image",
				e.msg);
	rc = gen_input_from_bytes(in, role, path, data, len, err);
	free(data);
	return rc;
}

void gen_input_release(struct gen_input *in)
{
	free(in->path);
	free(in->data);
	memset(in, 0, sizeof(*in));
}

int mask_repaint_map(const void *png, size_t len, int invert, unsigned char **map, int *w, int *h,
		     struct err *err)
{
	unsigned char *px, *m;
	size_t i, n;
	int alpha = 0;

	*map = NULL;
	if (png_decode_rgba(png, len, &px, w, h, err) < 0)
		return -1;
	n = (size_t)*w * (size_t)*h;
	m = malloc(n ? n : 1);
	if (!m) {
		free(px);
		return err_set(err, "out of memory");
	}
	for (i = 0; i < n && !alpha; i++)
		alpha = px[i * 4 + 3] != 255;
	for (i = 0; i < n; i++) {
		const unsigned char *p = px + i * 4;
		/* Rec. 601 luma in integers: the same bytes on every build */
		unsigned v =
			alpha ? 255u - p[3] : (299u * p[0] + 587u * p[1] + 114u * p[2]) / 1000u;

		m[i] = (unsigned char)(invert ? 255u - v : v);
	}
	free(px);
	*map = m;
	return 0;
}

int mask_encode(const unsigned char *map, int w, int h, enum mask_style style, unsigned char **out,
		size_t *len, struct err *err)
{
	size_t i, n = (size_t)w * (size_t)h;
	unsigned char *px;
	int rc;

	*out = NULL;
	*len = 0;
	if (w <= 0 || h <= 0)
		return err_set(err, "cannot encode a %dx%d mask", w, h);
	if (style == MASK_WHITE_REPAINT)
		return png_encode(out, len, map, (unsigned)w, (unsigned)h, 1, err);
	px = calloc(n, 4);
	if (!px)
		return err_set(err, "out of memory");
	for (i = 0; i < n; i++)
		px[i * 4 + 3] = (unsigned char)(255u - map[i]);
	rc = png_encode(out, len, px, (unsigned)w, (unsigned)h, 4, err);
	free(px);
	return rc;
}

static int round_to(long long v, int multiple)
{
	long long r = (v + multiple / 2) / multiple * multiple;

	return (int)(r < multiple ? multiple : r);
}

void size_round(int w, int h, int multiple, int max_side, int *ow, int *oh)
{
	long long W = w > 0 ? w : 1, H = h > 0 ? h : 1;

	if (multiple < 1)
		multiple = 1;
	if (max_side > 0 && (W > max_side || H > max_side)) {
		if (W >= H) {
			H = H * max_side / W;
			W = max_side;
		} else {
			W = W * max_side / H;
			H = max_side;
		}
	}
	*ow = round_to(W, multiple);
	*oh = round_to(H, multiple);
	if (max_side > 0) {
		while (*ow > max_side)
			*ow -= multiple;
		while (*oh > max_side)
			*oh -= multiple;
	}
}
