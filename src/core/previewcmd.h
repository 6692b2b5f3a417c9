/* previewcmd.h - the preview.command template: checked by config loading, expanded by
 * the preview front end (cli/preview.c).  Below config.c so no include runs back up. */
#ifndef IMAGEN_PREVIEWCMD_H
#define IMAGEN_PREVIEWCMD_H

#include "util/err.h"

/** Check a preview.command template: non-empty, contains {path}, no other placeholder,
 *  every quote closed (the text runs under /bin/sh -c).  Returns 0, or -1 with a message
 *  (no key prefix) in err. */
int preview_check_command(const char *tmpl, struct err *err);

/**
 * The shell text a preview.command template runs as, under
 * `/bin/sh -c TEXT imagen-preview FILE`: the path is never spliced into the text (a file
 * named `$(…)` must stay a name).  TEXT first exports $1 as IMAGEN_IMAGE, then each {path}
 * becomes a reference to it, quoted for where it stands: "${IMAGEN_IMAGE}" in plain text
 * and for a lone '{path}', ${IMAGEN_IMAGE} inside "…" (the quotes are there), and
 * "${IMAGEN_IMAGE}" inside other '…' text, which only a nested shell (sh -c '…') would
 * run and which expands the exported variable itself.  *out is malloc'd.
 */
int preview_expand_command(char **out, const char *tmpl, struct err *err);

#endif
