/* pngmeta.c - the PNG chunk walk and text chunk reader on any bytes (inspect, --from,
 * sync, every upstream's image), then the splice that writes metadata into it. */
#include "fuzz.h"

#include "core/pngmeta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct png_text *texts = NULL, add = { "imagen", "{\"prompt\": \"fuzz\"}" };
	struct pngmeta_splice sp;
	struct err err = ERR_INIT;
	unsigned w = 0, h = 0;
	unsigned char *out = NULL;
	size_t n = 0, out_len = 0;

	if (pngmeta_check(data, size, &w, &h, &err) != 0)
		return 0;
	if (pngmeta_read_text(&texts, &n, data, size, &err) == 0) {
		(void)pngmeta_find(texts, n, "parameters");
		pngmeta_text_free(texts, n);
	}
	if (pngmeta_insert(&out, &out_len, data, size, &add, 1, &err) == 0) {
		/* what imagen writes must walk cleanly again */
		if (pngmeta_check(out, out_len, NULL, NULL, &err) != 0)
			abort();
		free(out);
	}
	if (pngmeta_splice(&sp, data, size, &add, 1, &err) == 0)
		pngmeta_splice_release(&sp);
	return 0;
}
