/* outbox.h - the local queue of images whose cloud sync failed, retried by `imagen sync`.
 *
 * One JSON file, $XDG_STATE_HOME/imagen/outbox.json (default ~/.local/state/imagen/):
 *   {"version": 1, "items": [ENTRY, ...]}
 * ENTRY: {"image": absolute path of the PNG (the key: one entry per image),
 *         "storage_path": "{date}/{file name}" or null when unknown,
 *         "queued_at": ISO 8601, "attempts": N, "last_error": "...",
 *         "uploaded_sha256": sha256 of the bytes whose upload landed, or absent}.
 * Every change takes an exclusive flock on outbox.json.lock (a stable file: the JSON file
 * itself is replaced by rename), reads the file, changes it and writes it atomically
 * (temporary file in the same directory, fsync, rename, directory fsync), so concurrent
 * imagen runs never lose an entry. */
#ifndef IMAGEN_OUTBOX_H
#define IMAGEN_OUTBOX_H

#include <jansson.h>

#include "util/env.h"
#include "util/err.h"

#define OUTBOX_MAX_BYTES (16u * 1024 * 1024)

/** The outbox file path ($XDG_STATE_HOME/imagen/outbox.json when that is absolute, else
 *  $HOME/.local/state/imagen/outbox.json), both read through env; *out is malloc'd. */
int outbox_path(char **out, const struct env *env, struct err *err);

/** The pending entries (new reference to an array; empty when the file does not exist).
 *  Reads under a shared lock.  A file that is not an outbox is an error naming it. */
int outbox_load(json_t **out, const char *path, struct err *err);

/** Add entry (borrowed; must carry a string "image"), replacing an entry for the same
 *  image: its "attempts" is carried over and incremented, its "queued_at" kept.  Creates
 *  the directory and file as needed. */
int outbox_put(const char *path, const json_t *entry, struct err *err);

/** Remove the entry for image (no-op when absent or when the file does not exist).
 *  *removed (may be NULL) tells whether one was there. */
int outbox_remove(const char *path, const char *image, int *removed, struct err *err);

/** The entry for image in items (borrowed), or NULL. */
json_t *outbox_find(const json_t *items, const char *image);

#endif
