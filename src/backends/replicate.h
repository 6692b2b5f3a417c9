/* replicate.h - what the two files of the `replicate` adapter share: replicate-config.c
 * (the config slice, the known official models, prices) and replicate.c (predictions,
 * downloads).  The adapter itself is replicate_backend_ops in replicate.c. */
#ifndef IMAGEN_BACKENDS_REPLICATE_H
#define IMAGEN_BACKENDS_REPLICATE_H

#include <jansson.h>
#include <stddef.h>

#include "core/backend.h"
#include "util/err.h"

#define RP_MAX_BATCH 4 /* num_outputs the Replicate image models accept: 1..4 */

enum rp_size { SIZE_WIDTH_HEIGHT, SIZE_ASPECT_RATIO, SIZE_NONE };

struct rp_backend {
	struct backend base; /* first: the framework holds a struct backend * */
	char *model;         /* "owner/name" */
	char *version;       /* NULL: the model's own endpoint (official models) */
	char *base_url;      /* no trailing slash */
	char *auth;          /* "Authorization: Bearer ..." - secret, wiped on close */
	json_t *input;       /* config `input` (own reference), NULL when absent */
	json_t *prices;      /* config `prices` (own reference), NULL when absent */
	char *neg_key;       /* input key for the negative prompt, NULL: not sent */
	char *in_image, *in_mask, *in_strength; /* input_map: the model's fields for the
						 * image, mask and strength; NULL: not sent */
	enum rp_size size;
	int wait_s; /* 0: no Prefer header, poll from the start */
	int max_outputs;
	long poll_ms;
	long timeout_s;
};

/* What the config slice says, read by validate() and open() alike (strings borrowed). */
struct rp_cfg {
	const char *model, *token_env, *base_url, *neg_key, *size;
	const json_t *input, *prices;
	const char *in_image, *in_mask, *in_strength; /* input_map (NULL: not sent) */
	long long wait_s, poll_ms, timeout_s, max_outputs;
	int has_neg_key, has_size, has_max_outputs;
};

/*
 * What imagen knows about a few official models without being told: their per-image price
 * (replicate.com model pages, through ../shared/protocols/replicate.md and public copies of
 * those pages; config `prices` overrides), whether they take width/height or aspect_ratio,
 * a negative prompt, and num_outputs.
 */
struct rp_known {
	const char *model;
	double per_image;
	enum rp_size size;
	int negative;
	int max_outputs;
};

#define RP_DEFAULT_IN_IMAGE "image"
#define RP_DEFAULT_IN_MASK "mask"
#define RP_DEFAULT_IN_STRENGTH "prompt_strength"

/** The keys a config slice may have (NULL-terminated). */
extern const char *const rp_cfg_keys[];

/** Read and check an instance's slice into *c (defaults for what is absent).  Returns 0,
 *  or -1 with err (code 2, err->key naming the key at fault). */
int rp_read_cfg(const char *name, const json_t *cfg, struct rp_cfg *c, struct err *err);

/** What imagen knows about model[0..len) ("owner/name"), NULL when nothing. */
const struct rp_known *rp_known_find(const char *model, size_t len);

/** Whether s is owner/name or owner/name:version; *colon points at the ':' (NULL when
 *  there is no version).  0 or -1. */
int rp_check_model(const char *s, const char **colon);

/** Whether k is an input imagen sets itself (prompt, seed, num_outputs). */
int rp_reserved_key(const char *k);

/** The price object for the model (config `prices` by full name or owner/name, else the
 *  built-in per-image price) and where it came from ("config"/"default"); NULL when none
 *  is known.  *owned: a reference the caller drops (the built-in one), else NULL. */
const json_t *rp_price(const struct rp_backend *r, const char *full, json_t **owned,
		       const char **source);

#endif
