/* foreign_meta.c - libFuzzer harness for what the catalog reads from images other tools
 * made (catalog/probe.c, catalog/foreign.c).  The first byte picks the reader, the rest is
 * its input:
 *   0 an image file: probe, then its PNG text chunks or its EXIF block
 *   1 ComfyUI API graph   2 ComfyUI UI graph   3 InvokeAI metadata   4 InvokeAI 2.x
 *   5 NovelAI Comment     6 A1111 parameters   7 an EXIF block without its header
 * Nothing may crash, leak or read out of bounds; a record, when there is one, is a JSON
 * object whose texts are valid UTF-8 (jansson refuses anything else) and whose probed
 * size is never negative. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/foreign.h"
#include "catalog/probe.h"
#include "core/pngmeta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(json_t *r)
{
	if (r && !json_is_object(r))
		abort();
	json_decref(r);
}

static void image(const unsigned char *d, size_t n)
{
	struct image_probe p;
	struct png_text *texts = NULL;
	size_t ntexts = 0;
	const char *source;

	image_probe(&p, d, n);
	if (p.width < 0 || p.height < 0 || (p.exif && (p.exif < d || p.exif + p.exif_len > d + n)))
		abort();
	if (p.format && !strcmp(p.format, "png") && pngmeta_check(d, n, NULL, NULL, NULL) == 0 &&
	    pngmeta_read_text(&texts, &ntexts, d, n, NULL) == 0) {
		check(foreign_from_png(texts, ntexts, &source));
		pngmeta_text_free(texts, ntexts);
	}
	if (p.exif)
		check(foreign_from_exif(p.exif, p.exif_len, p.exif_has_header, &source));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	const char *source;

	if (size < 1)
		return 0;
	if (data[0] % 8 == 0) {
		image(data + 1, size - 1);
		return 0;
	}
	if (data[0] % 8 == 7) {
		check(foreign_from_exif(data + 1, size - 1, 0, &source));
		return 0;
	}
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 8) {
	case 1:
		check(foreign_comfyui(text, NULL));
		break;
	case 2:
		check(foreign_comfyui(NULL, text));
		break;
	case 3:
		check(foreign_invokeai(text, 0));
		break;
	case 4:
		check(foreign_invokeai(text, 1));
		break;
	case 5:
		check(foreign_novelai(text, "NovelAI Diffusion", NULL));
		break;
	default:
		check(foreign_a1111(text));
		break;
	}
	free(text);
	return 0;
}
