/* previewcmd.h - the preview.command template: checked by config loading, expanded by
 * the preview front end (cli/preview.c).  Below config.c so no include runs back up. */
#ifndef IMAGEN_PREVIEWCMD_H
#define IMAGEN_PREVIEWCMD_H

#include "util/err.h"

/** Check a preview.command template: non-empty, contains {path}, no other placeholder.
 *  Returns 0, or -1 with a message (no key prefix) in err. */
int preview_check_command(const char *tmpl, struct err *err);

#endif
