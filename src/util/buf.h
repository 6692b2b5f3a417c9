/* buf.h - a growable byte buffer with a size cap (after curl's dynbuf). */
#ifndef IMAGEN_BUF_H
#define IMAGEN_BUF_H

#include <stddef.h>

struct buf {
	unsigned char *data; /* always NUL-terminated when len > 0 or after any append */
	size_t len;
	size_t cap; /* allocated */
	size_t max; /* 0 = unlimited; appends beyond it fail */
};

#define BUF_INIT                                                                                   \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

/** Append n bytes; returns 0, or -1 when the cap would be exceeded or memory is short. */
int buf_add(struct buf *b, const void *p, size_t n);
/** Append a NUL-terminated string. */
int buf_adds(struct buf *b, const char *s);
/** Append printf-style formatted text. */
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Free the storage and reset to empty (the cap `max` is kept). */
void buf_release(struct buf *b);
/** Hand the storage to the caller (free() it); the buffer is left empty. */
void *buf_detach(struct buf *b, size_t *len_out);

#endif
