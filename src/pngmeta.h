/* pngmeta.h - read and insert PNG text chunks without re-encoding the image. */
#ifndef IMAGEN_PNGMETA_H
#define IMAGEN_PNGMETA_H

#include <stddef.h>

#include "err.h"

/** One text chunk: keyword (Latin-1 keyword rules) and UTF-8 text. */
struct png_text {
	char *keyword;
	char *text;
};

/**
 * Walk the chunk structure of png[0..len): signature, chunk lengths inside the
 * buffer, CRCs correct, IHDR first, at least one IDAT, IEND last.  Fills *width /
 * *height from IHDR when non-NULL.  Returns 0, or -1 with a message such as
 * "not a PNG file" / "truncated PNG (chunk IDAT at offset 33)" / "bad CRC in chunk tEXt".
 */
int pngmeta_check(const unsigned char *png, size_t len, unsigned *width, unsigned *height,
                  struct err *err);

/**
 * Build a new PNG: png with every tEXt/zTXt/iTXt chunk whose keyword equals one of
 * texts[i].keyword removed, and texts[] inserted, in order, right after IHDR.  Each
 * is written as tEXt when the text is plain ASCII, as uncompressed iTXt (UTF-8)
 * otherwise.  Image data chunks are copied byte for byte.  *out is malloc'd.
 */
int pngmeta_insert(unsigned char **out, size_t *out_len, const unsigned char *png, size_t len,
                   const struct png_text *texts, size_t ntexts, struct err *err);

/**
 * Read every tEXt (Latin-1, converted to UTF-8), zTXt and iTXt (compressed or not)
 * chunk, in file order.  Decompressed text is capped (16 MiB).  *out is a malloc'd
 * array of *n entries; free with pngmeta_text_free().
 */
int pngmeta_read_text(struct png_text **out, size_t *n, const unsigned char *png, size_t len,
                      struct err *err);

/** The text of the first chunk with this keyword, or NULL (borrowed from texts). */
const char *pngmeta_find(const struct png_text *texts, size_t n, const char *keyword);

void pngmeta_text_free(struct png_text *texts, size_t n);

/**
 * Encode 8-bit RGB pixels (w*h*3 bytes, rows top to bottom) as a PNG with libspng,
 * tuned for speed (fixed filter, moderate zlib level).  *out is malloc'd.
 */
int png_encode_rgb(unsigned char **out, size_t *out_len, const unsigned char *rgb, unsigned w,
                   unsigned h, struct err *err);

#endif
