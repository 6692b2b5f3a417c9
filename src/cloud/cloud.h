/* cloud.h - sync of one image to Supabase: the Storage upload, the imagen.images row and,
 * for billed backends, the mai.imagen_usage row.  Wire facts: shared/protocols/supabase.md.
 *
 * The sync step reads the image and its record back from disk (never from memory), so
 * `imagen generate`, `imagen sync` and `imagen sync FILE` share one code path:
 *   storage path = "{date}/{file name}": the exact local file name, and the date of the
 *   record's created_at (the same clock reading that dated the local name). */
#ifndef IMAGEN_CLOUD_H
#define IMAGEN_CLOUD_H

#include <jansson.h>
#include <stddef.h>

#include "core/config.h"
#include "util/env.h"
#include "util/err.h"

struct ev_sink;

#define CLOUD_MAX_IMAGE_BYTES (256u * 1024 * 1024)

/** Where and as whom to sync. */
struct cloud_conn {
	char *base;         /* supabase_url without trailing '/' (malloc'd) */
	const char *bucket; /* borrowed from the config */
	const char *owner;  /* owner_user_id, "" when not set (borrowed) */
	char *h_apikey;     /* "apikey: KEY" (malloc'd; a secret: never printed) */
	char *h_auth;       /* "Authorization: Bearer KEY", NULL for sb_... keys (malloc'd) */
	const struct ev_sink *events; /* -v request lines; set by the caller, NULL = none */
};

/* cloud_connect flags */
#define CLOUD_NEED_OWNER 1u /* refuse without cloud.owner_user_id (what syncing needs) */

/** The one cloud set-up every command shares: a connection from the config and the key
 *  in the environment variable named by cloud.service_key_env (read through env).
 *  Fails (code 2, kind ERR_KIND_CONFIG, *out left closed) naming what is missing: see
 *  config_cloud_usable; a key with a line break; with CLOUD_NEED_OWNER, an empty
 *  owner_user_id ("owner_user_id is not set (see imagen config init)").  No network. */
int cloud_connect(struct cloud_conn *out, const struct config *cfg, const struct env *env,
		  unsigned flags, struct err *err);
void cloud_close(struct cloud_conn *c);

/** A key of the new format (sb_secret_..., sb_publishable_...) is not a JWT: it goes in
 *  the apikey header only.  Legacy JWT keys go in apikey and Authorization: Bearer. */
int cloud_key_is_jwt(const char *key);

/** What the sync step reads back from disk about one image. */
struct cloud_item {
	char *image;           /* absolute path of the image */
	const char *file_name; /* points into image */
	char date[11];         /* YYYY-MM-DD from the record's created_at */
	char *storage_path;    /* "{date}/{file name}" (malloc'd) */
	json_t *record;        /* the sidecar JSON, or the PNG's imagen chunk (owned) */
	char *record_from;     /* the sidecar path, or "FILE (imagen chunk)" (malloc'd) */
	unsigned char *data;   /* the image bytes (malloc'd) */
	size_t bytes;
	char sha256[65];
	const char *mime; /* image/png, image/jpeg or image/webp */
};

/**
 * Read an image and its record from disk.  The record is the sidecar NAME.json beside
 * the image when it exists, else the PNG's `imagen` chunk.  Refused (nothing is sent),
 * with a one-line message naming the file: a file that is not a PNG/JPEG/WebP image, no
 * record, a record without `created_at` (an ISO 8601 timestamp: its date names the
 * storage folder), a record without a `prompt` (the source of the slug and of the
 * row's prompt) or without `backend`/`backend_type`, a file name that starts with a
 * YYYY-MM-DD date other than the record's date (the storage path would not mirror the
 * local name), and a file name with a character Storage refuses in a key.
 * err->kind is ERR_KIND_INPUT for these "this file cannot be synced as it is" errors,
 * and for a file that is gone, not a regular file or too large; ERR_KIND_NONE for a read
 * that may succeed later (permissions, I/O errors, a symlink loop).  err->code is 1.
 */
int cloud_item_load(struct cloud_item *out, const char *image_path, struct err *err);
void cloud_item_release(struct cloud_item *it);

/** The imagen.images row for an item (new reference): owner_user_id, storage_path,
 *  bucket, prompt, final_prompt, negative_prompt, style, backend, backend_type, model,
 *  seed, width, height, steps, bytes, sha256, cost_usd, cost, metadata (the record
 *  verbatim), generated_at (the record's created_at).  Absent fields are null. */
json_t *cloud_image_row(const struct cloud_item *it, const char *owner, const char *bucket);

/** The mai.imagen_usage row (new reference), or NULL when the record has no cost record
 *  (an unbilled backend).  cost_method is cost.method, else the reason the cost is
 *  unknown; predict_time_s and the token counts come from the cost detail or the
 *  adapter's metadata when present; created_at is the record's created_at (when the
 *  cost was incurred, also for a late backfill). */
json_t *cloud_usage_row(const struct cloud_item *it, const char *owner);

/** The outcome of one sync. */
struct cloud_result {
	int uploaded;       /* the object is in the bucket (this run, or trusted from before) */
	int upload_skipped; /* the earlier upload of these very bytes was trusted */
	int billed;         /* a usage row was due */
	char row_id[64];    /* imagen.images id, "" until inserted */
	char usage_id[64];  /* mai.imagen_usage id, "" when none */
};

/**
 * Sync one item: upload (x-upsert: true) unless uploaded_sha256 equals the item's
 * sha256 (an earlier attempt's upload of the same bytes landed), then upsert the
 * images row on storage_path, then the usage row when billed.  Retries per the HTTP
 * layer's policy.  On failure returns -1 with a one-line reason that says how far it
 * got ("uploaded D/F.png but the row insert failed: HTTP 400: ..."); res tells what
 * landed.  Requires an owner (CLOUD_NEED_OWNER).
 */
int cloud_sync_item(const struct cloud_conn *c, const struct cloud_item *it,
		    const char *uploaded_sha256, struct cloud_result *res, struct err *err);

/** The JSON report of one sync (new reference), for --json output:
 *  {"status": "synced"|"failed", "bucket", "storage_path", "sha256", "row_id",
 *   "usage_row_id", "uploaded", "upload_skipped", "error", "queued"}; it/res may be NULL
 *  (nothing known), error NULL on success. */
json_t *cloud_result_json(const struct cloud_conn *c, const struct cloud_item *it,
			  const struct cloud_result *res, const char *error, int queued);

/** The outbox entry for a failed sync (new reference). */
json_t *cloud_outbox_entry(const char *image, const struct cloud_item *it,
			   const struct cloud_result *res, const char *error);

/**
 * A signed URL for the object at storage_path, valid expires_s seconds: the full URL
 * (supabase_url + /storage/v1 + the signedURL answered).  *out is malloc'd; it is a
 * credential: print it only where asked.  A missing object fails with err->kind
 * ERR_KIND_NOT_FOUND.
 */
int cloud_sign_url(char **out, const struct cloud_conn *c, const char *storage_path, long expires_s,
		   struct err *err);

/**
 * Sync one just-written image when st->cloud_on (a no-op returning NULL otherwise):
 * reads the image and its record back from disk (the key and the outbox path through
 * env).  Reports one line (source "cloud sync") to events on failure at EV_WARN (at
 * EV_VERBOSE on success), queues the image in the outbox on failure, never fails the
 * command.
 * Returns the cloud result object for the --json record (new reference; see
 * cloud_result_json) or NULL when sync is off.
 */
json_t *cloud_after_generate(const struct config *cfg, const struct settings *st,
			     const struct env *env, const char *image_path,
			     const struct ev_sink *events);

#endif
