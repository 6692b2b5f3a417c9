/* sha256.h - content hashes (GLib's GChecksum does the work). */
#ifndef IMAGEN_SHA256_H
#define IMAGEN_SHA256_H

#include <stddef.h>

/** The lowercase hex SHA-256 digest of data[0..len) into hex (64 digits + NUL). */
void sha256_hex(char hex[65], const void *data, size_t len);

#endif
