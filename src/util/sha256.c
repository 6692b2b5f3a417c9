/* sha256.c - SHA-256 through GLib (already linked for libchafa), not a hand-written one. */
#include "util/sha256.h"

#include <glib.h>
#include <stdio.h>

void sha256_hex(char hex[65], const void *data, size_t len)
{
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);

	g_checksum_update(c, data, (gssize)len);
	snprintf(hex, 65, "%s", g_checksum_get_string(c));
	g_checksum_free(c);
}
