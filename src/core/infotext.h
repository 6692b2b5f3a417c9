/* infotext.h - the AUTOMATIC1111 "parameters" text (protocols/a1111.md §6). */
#ifndef IMAGEN_INFOTEXT_H
#define IMAGEN_INFOTEXT_H

#include <jansson.h>

#include "util/err.h"

/**
 * Format the infotext:
 *   <prompt>\n[Negative prompt: <negative>\n]<Key: value, Key: value, ...>
 * No trailing newline.  The Negative prompt line is omitted when negative is NULL
 * or empty, the parameter line when no parameter is written.  params (may be NULL) is
 * a JSON object whose insertion order is kept; string, integer and real values are
 * written (reals with %g), booleans as True/False (Python's spelling, as A1111 writes
 * them), null/empty-string values and arrays/objects are omitted, a string value equal
 * to its key is written bare, values containing ',' ':' or a newline are written as
 * JSON strings.  Returns a malloc'd string, or NULL on allocation failure.
 */
char *infotext_format(const char *prompt, const char *negative, const json_t *params);

/**
 * Parse infotext the way Forge's parse_generation_parameters does: the last line
 * holds the parameters only when it has at least 3 `Key: value` matches, otherwise
 * it belongs to the prompt; lines are stripped; "Negative prompt:" starts the
 * negative prompt.  *params gets a new object of string values (quoted values
 * unquoted, keys with an empty value dropped, "Size" kept whole, not split into
 * Size-1/Size-2).  *prompt and *negative are malloc'd (negative "" when absent).
 * Fails on text that is not UTF-8; on failure all three outputs are NULL.
 */
int infotext_parse(const char *text, char **prompt, char **negative, json_t **params,
		   struct err *err);

#endif
