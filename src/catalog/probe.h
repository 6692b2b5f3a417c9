/* probe.h - what kind of image a file is, how large, and where its EXIF block sits,
 * read from the bytes alone (no decoding). */
#ifndef IMAGEN_PROBE_H
#define IMAGEN_PROBE_H

#include <stddef.h>

struct image_probe {
	const char *format; /* "png", "jpeg", "webp", or NULL when none of them */
	int width, height;  /* 0 when the header does not say */
	/* the EXIF block of a JPEG (APP1 "Exif\0\0" segment) or WebP ("EXIF" chunk), pointing
	 * into the data; exif_has_header: it starts with "Exif\0\0" (else with the TIFF
	 * header itself, as WebP writers usually do) */
	const unsigned char *exif;
	size_t exif_len;
	int exif_has_header;
};

/**
 * Probe d[0..n): the format from the signature; the size from PNG's IHDR, a JPEG SOFn
 * segment, or WebP's VP8, VP8L or VP8X header; the EXIF block.  Walks only lengths that
 * stay inside the data: safe on any input.  Returns 0 when the format is known, -1
 * otherwise (*out is still filled with what little is known).
 */
int image_probe(struct image_probe *out, const unsigned char *d, size_t n);

#endif
