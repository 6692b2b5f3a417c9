/* termsafe.h - outside text made safe to show on a terminal.
 *
 * Text that comes from outside (PNG text chunks, upstream messages, file names, a
 * config file someone sent) may carry control bytes: ESC ] 0 ; … BEL retitles a
 * terminal, ESC [ 2 J clears it, a lone 0x9b byte is CSI on an 8-bit terminal.  Every
 * front end passes what it prints for a person through termsafe_append(); machine
 * output (--json) is written exactly and never goes through here.
 */
#ifndef IMAGEN_TERMSAFE_H
#define IMAGEN_TERMSAFE_H

#include <stddef.h>

#include "util/buf.h"

/* Flags for termsafe_append(). */
enum {
	TERMSAFE_NEWLINE = 1, /* keep '\n' as it is (multi-line output); else it shows as \n */
};

/**
 * Append s[0..n) to out with every control character made visible: C0 controls and DEL
 * as \t, \r, \n (unless TERMSAFE_NEWLINE) or \xNN; C1 controls (U+0080..U+009F) as
 * \uNNNN; a byte that is not part of valid UTF-8 as \xNN.  Everything else (printable
 * ASCII, valid UTF-8, backslashes) is copied unchanged.  Returns 0, or -1 when memory
 * is short or out's cap is reached.
 */
int termsafe_append(struct buf *out, const char *s, size_t n, unsigned flags);

#endif
