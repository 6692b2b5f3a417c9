/* image.h - the one place that knows image formats: which of PNG, JPEG and WebP some
 * bytes are, whether the file is whole, and its pixel size.  Every adapter checks what
 * an upstream sent through here; the framework checks every result the same way. */
#ifndef IMAGEN_IMAGE_H
#define IMAGEN_IMAGE_H

#include <stddef.h>

#include "util/err.h"

enum image_format {
	IMAGE_NONE = 0, /* not one of the formats below */
	IMAGE_PNG,
	IMAGE_JPEG,
	IMAGE_WEBP,
};

/** What image_check found. */
struct image_info {
	enum image_format format;
	int width, height; /* from IHDR, the JPEG frame header (SOFn), the VP8/VP8L/VP8X header;
			    * a JPEG whose height comes later (DNL) says 0 */
	size_t len;        /* the bytes that are the image: a writer may leave junk after its
			    * end (PNG after IEND, JPEG after EOI, WebP after its RIFF size);
			    * data[0..len) is the image without it, len <= n */
};

/** The format by its leading bytes (the signature), IMAGE_NONE when none of ours.
 *  Says nothing about the rest of the file: image_check does. */
enum image_format image_sniff(const void *data, size_t n);

/** "image/png", "image/jpeg", "image/webp"; NULL for IMAGE_NONE. */
const char *image_mime(enum image_format f);

/** The file extension without the dot: "png", "jpg", "webp"; NULL for IMAGE_NONE. */
const char *image_extension(enum image_format f);

/** The format a MIME type names ("image/jpg" too), IMAGE_NONE for any other. */
enum image_format image_format_of_mime(const char *mime);

/**
 * Check that data[0..n) holds one whole image of a format we keep: PNG (every chunk
 * inside the buffer with a good CRC, IHDR first, IDAT, IEND: pngmeta_check), JPEG (the
 * marker segments walked from SOI through the entropy-coded data to EOI, a frame header
 * on the way), WebP (a RIFF size inside the buffer, its chunks filling it, a VP8, VP8L or
 * VP8X first chunk with its signature).  Bytes after the image's end are not an error:
 * out->len says where it ends.  Returns 0 with *out filled, or -1 with a message such as
 * "not a PNG, JPEG or WebP image (12 bytes)", "truncated PNG (chunk IDAT at offset 33)",
 * "truncated JPEG (2000 bytes)", "truncated WebP (60 of 124 bytes)".  Safe on any input;
 * data may be NULL when n is 0.  out may be NULL.
 */
int image_check(const void *data, size_t n, struct image_info *out, struct err *err);

#define IMAGE_DECODE_MAX_SIDE 65536
#define IMAGE_DECODE_MAX_PIXELS (64u << 20)

/** Decode a PNG to 8-bit RGBA (w*h*4 bytes, malloc'd into *rgba) with libspng, for the
 *  mock's blends, mask conversion and the inline preview.  At most IMAGE_DECODE_MAX_SIDE
 *  a side and IMAGE_DECODE_MAX_PIXELS pixels.  Safe on any input; the message does not
 *  name a file (the caller prefixes it). */
int png_decode_rgba(const void *png, size_t len, unsigned char **rgba, int *w, int *h,
		    struct err *err);

#endif
