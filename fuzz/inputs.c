/* fuzz/inputs.c - libFuzzer harness for image inputs (core/inputs.c): the checks of an
 * input file and the mask reader (PNG decoding to a repaint map), fed any bytes a user's
 * --image or --mask file may hold.  A mask that reads must round-trip through both
 * encodings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/inputs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gen_input in;
	unsigned char *map = NULL, *png = NULL, *back = NULL;
	size_t len = 0;
	int w = 0, h = 0, w2, h2;

	if (gen_input_from_bytes(&in, "image", "fuzz", data, size, NULL) == 0) {
		if (in.len > size || in.width <= 0 || in.height <= 0)
			abort();
		gen_input_release(&in);
	}
	if (mask_repaint_map(data, size, size & 1, &map, &w, &h, NULL) == 0) {
		if (w <= 0 || h <= 0 || (size_t)w * (size_t)h > ((size_t)1 << 22))
			goto out; /* a huge image: the round trip would only be slow */
		if (mask_encode(map, w, h, MASK_ALPHA_REPAINT, &png, &len, NULL) < 0)
			abort();
		if (mask_repaint_map(png, len, 0, &back, &w2, &h2, NULL) < 0 || w2 != w ||
		    h2 != h || memcmp(back, map, (size_t)w * (size_t)h))
			abort();
	}
out:
	free(map);
	free(png);
	free(back);
	return 0;
}
