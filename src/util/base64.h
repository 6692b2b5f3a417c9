/* base64.h - one base64 decoder for every upstream that sends image bytes as text. */
#ifndef IMAGEN_BASE64_H
#define IMAGEN_BASE64_H

#include <stddef.h>

#include "util/err.h"

/* Flags for base64_decode. */
enum {
	/** RFC 4648 standard alphabet, '=' padding required, only CR and LF skipped. */
	BASE64_STRICT = 0,
	/** Padding optional, the URL-safe '-' and '_' too, any blank skipped, and the
	 *  unused bits of a final partial group must be zero. */
	BASE64_LENIENT = 1,
};

/**
 * Decode s[0..n) into a malloc'd *out of *len bytes (the caller frees it).  Returns 0,
 * or -1 with err filled ("invalid base64 at offset N", "truncated base64 (N characters)")
 * and *out NULL.  Whole groups of four alphabet characters take a table-driven fast path,
 * which is nearly all of a large image.
 */
int base64_decode(unsigned char **out, size_t *len, const char *s, size_t n, unsigned flags,
		  struct err *err);

/**
 * Decode image bytes sent as text: plain base64, or a data: URL carrying it
 * ("data:image/png;base64,iVBOR...", as Replicate and some WebUI forks send).  Decoded
 * with BASE64_LENIENT.  *out is malloc'd.  Returns 0, or -1 with err filled ("a data:
 * URL without base64 data", or base64_decode's message) and *out NULL.
 */
int base64_decode_text(unsigned char **out, size_t *len, const char *s, size_t n, struct err *err);

/** Encode data[0..n) as standard padded base64 with no line breaks, prefixed with
 *  prefix when not NULL ("data:image/png;base64,").  malloc'd; NULL when memory is
 *  short. */
char *base64_encode(const void *data, size_t n, const char *prefix);

#endif
