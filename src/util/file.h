/* file.h - reading a whole file with a bound. */
#ifndef IMAGEN_FILE_H
#define IMAGEN_FILE_H

#include <stddef.h>

#include "util/err.h"

/**
 * Read a whole regular file, refusing one over max bytes (the message names the size
 * and the limit).  *out is malloc'd and NUL-terminated; *len excludes the NUL.
 */
int file_read(unsigned char **out, size_t *len, const char *path, size_t max, struct err *err);

#endif
