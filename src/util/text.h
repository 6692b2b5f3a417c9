/* text.h - upstream text made fit for one message line.  Servers' error messages, node
 * names and file names reach our messages and logs: they arrive with line breaks,
 * control characters (a terminal escape is one) and any length. */
#ifndef IMAGEN_TEXT_H
#define IMAGEN_TEXT_H

#include <stddef.h>

#include "util/buf.h"

/**
 * Append s[0..len) to b as part of one printable line: CR, LF and tab become a space,
 * other C0 controls, DEL and the C1 controls (U+0080..U+009F in UTF-8) are dropped, and
 * a run of spaces becomes one.  At most max bytes of s are looked at (0 = all); when s
 * is longer, "..." ends what was appended.  s may be NULL (nothing is appended).
 * Returns 0, or -1 when b's cap or memory runs out.
 */
int text_clean_add(struct buf *b, const char *s, size_t len, size_t max);

/** text_clean_add for a NUL-terminated s (NULL: nothing). */
int text_clean_adds(struct buf *b, const char *s, size_t max);

/** The same for a NUL-terminated s into out (always NUL-terminated, cut to fit size),
 *  without leading or trailing spaces.  s NULL gives "". */
void text_clean(char *out, size_t size, const char *s);

#endif
