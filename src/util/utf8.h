/* utf8.h - strict UTF-8 decoding shared by every parser of outside text. */
#ifndef IMAGEN_UTF8_H
#define IMAGEN_UTF8_H

#include <stddef.h>
#include <stdint.h>

/**
 * Decode one UTF-8 sequence at s[*i] (i < n; strict: no overlongs, surrogates or
 * values past U+10FFFF).  Returns 0 with *cp set and *i advanced, or -1.
 */
int utf8_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp);

/** 1 when s[0..n) is entirely valid UTF-8, else 0; *bad (if non-NULL) gets the offset
 *  of the first invalid sequence. */
int utf8_valid(const unsigned char *s, size_t n, size_t *bad);

#endif
