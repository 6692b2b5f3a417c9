/* lines.h - line-oriented text shared by plain batch files and wildcard lists (private to
 * src/batch/): one entry per line, blank lines and '#' comments skipped, white space
 * trimmed, positions kept for messages. */
#ifndef IMAGEN_BATCH_LINES_H
#define IMAGEN_BATCH_LINES_H

#include <stddef.h>

#include "util/err.h"

struct text_line {
	const char *s; /* the entry, trimmed (borrowed from the text, not NUL-terminated) */
	size_t len;
	int line, col; /* 1-based position of the entry's first character */
};

/**
 * Refuse text that is not text: a NUL byte, invalid UTF-8, or a control character other
 * than tab, CR and LF.  The message reads "FILE:LINE:COL: not a text file (...)" (code 2).
 */
int lines_check(const char *text, size_t len, const char *file, struct err *err);

/** The next entry at or after *pos (*lineno counts lines, start it at 0); 1 when one was
 *  found, 0 at the end.  The text should have passed lines_check. */
int lines_next(const char *text, size_t len, size_t *pos, int *lineno, struct text_line *out);

/** 1-based column of byte offset off in a line starting at line_start (UTF-8 characters). */
int lines_col(const char *line_start, size_t off);

#endif
