/* fuzz/image.c - libFuzzer harness for the image module (core/image.c): sniffing and
 * the whole-file checks of PNG, JPEG and WebP bytes that upstreams send.  A success must
 * describe an image inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_info info;
	struct err err = ERR_INIT;
	enum image_format f = image_sniff(data, size);

	if (image_check(data, size, &info, &err) == 0) {
		if (info.len > size || info.format != f || info.format == IMAGE_NONE ||
		    info.width <= 0 || info.height < 0 || !image_mime(info.format))
			abort();
		/* the image without its tail is still the same image */
		if (image_check(data, info.len, NULL, NULL) != 0)
			abort();
	}
	return 0;
}
