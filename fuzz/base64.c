/* base64.c - the shared decoder of every upstream's images, in each of its modes (the
 * first byte picks the flags). */
#include "fuzz.h"

#include "util/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = ERR_INIT;
	unsigned char *out = NULL;
	size_t len = 0;

	if (!size)
		return 0;
	if (base64_decode(&out, &len, (const char *)data + 1, size - 1, data[0] & 1u, &err) == 0) {
		/* never more bytes out than the text could hold */
		if (len > (size - 1) / 4 * 3 + 3)
			abort();
		free(out);
	}
	return 0;
}
