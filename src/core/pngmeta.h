/* pngmeta.h - read and insert PNG text chunks without re-encoding the image. */
#ifndef IMAGEN_PNGMETA_H
#define IMAGEN_PNGMETA_H

#include <stddef.h>
#include <sys/uio.h>

#include "util/err.h"

/**
 * One text chunk: keyword and text, both UTF-8 here.  In the file the keyword is Latin-1
 * (1-79 printable characters, no leading, trailing or double spaces); it is converted
 * both ways.
 */
struct png_text {
	char *keyword;
	char *text;
};

/**
 * Walk the chunk structure of png[0..len): signature, chunk lengths inside the
 * buffer, CRCs correct, IHDR first, at least one IDAT (consecutive ones), IEND last
 * with nothing after it.  Fills *width / *height from IHDR when non-NULL.  Returns 0,
 * or -1 with a message such as "not a PNG file" / "truncated PNG (chunk IDAT at offset
 * 33)" / "bad CRC in chunk tEXt at offset 33".  Safe on any input, png may be NULL
 * when len is 0.
 */
int pngmeta_check(const unsigned char *png, size_t len, unsigned *width, unsigned *height,
		  struct err *err);

/**
 * Build a new PNG: png with every tEXt/zTXt/iTXt chunk whose keyword equals one of
 * texts[i].keyword removed, and texts[] inserted, in order, right after IHDR.  Each
 * is written as tEXt when the text is plain ASCII, as uncompressed iTXt (UTF-8)
 * otherwise.  Every other chunk (image data included) is copied byte for byte.
 * png must pass pngmeta_check(); an invalid keyword or text that is not UTF-8 is
 * refused.  *out is malloc'd (free()).
 */
int pngmeta_insert(unsigned char **out, size_t *out_len, const unsigned char *png, size_t len,
		   const struct png_text *texts, size_t ntexts, struct err *err);

/**
 * The PNG pngmeta_insert() would build, as pieces to hand to writev(): runs of the
 * original buffer (which must outlive it) with the new text chunks between them, so a
 * large image is never copied.  iov[0..iovcnt) add up to len bytes.  Release with
 * pngmeta_splice_release().
 */
struct pngmeta_splice {
	struct iovec *iov;
	int iovcnt;
	size_t len;
	unsigned char *chunks; /* the new text chunks, which one iov points into */
};
int pngmeta_splice(struct pngmeta_splice *out, const unsigned char *png, size_t len,
		   const struct png_text *texts, size_t ntexts, struct err *err);
void pngmeta_splice_release(struct pngmeta_splice *s);

/**
 * Read every tEXt (Latin-1, converted to UTF-8), zTXt (likewise) and iTXt (UTF-8,
 * compressed or not; not re-validated) chunk, in file order.  Decompressed text is
 * capped (16 MiB).  png must pass pngmeta_check(); a malformed text chunk (no keyword,
 * bad compression, a NUL in the text) fails the whole call, naming the chunk.  *out is
 * a malloc'd array of *n entries (NULL when there are none); free with
 * pngmeta_text_free().
 */
int pngmeta_read_text(struct png_text **out, size_t *n, const unsigned char *png, size_t len,
		      struct err *err);

/** The text of the first chunk with this keyword, or NULL (borrowed from texts). */
const char *pngmeta_find(const struct png_text *texts, size_t n, const char *keyword);

void pngmeta_text_free(struct png_text *texts, size_t n);

/**
 * Encode 8-bit RGB pixels (w*h*3 bytes, rows top to bottom) as a PNG with libspng,
 * tuned for speed (fixed SUB filter, zlib level 6 with Z_RLE: ~7 ms at 1024x1024).
 * *out is malloc'd (free()).
 */
int png_encode_rgb(unsigned char **out, size_t *out_len, const unsigned char *rgb, unsigned w,
		   unsigned h, struct err *err);

/** The same for 8-bit pixels of 1 (grey), 3 (RGB) or 4 (RGBA) channels per pixel. */
int png_encode(unsigned char **out, size_t *out_len, const unsigned char *px, unsigned w,
	       unsigned h, int channels, struct err *err);

#endif
