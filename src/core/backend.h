/* backend.h - the contract between the framework and each adapter. */
#ifndef IMAGEN_BACKEND_H
#define IMAGEN_BACKEND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct ev_sink;
struct gen_input;

/** What every adapter receives.  Everything is borrowed from the caller. */
struct imagen_request {
	const char *prompt;          /* final prompt: style suffix already applied */
	const char *negative_prompt; /* NULL when none; adapters that can't honour it ignore it */
	int width, height, steps;    /* 0 = the adapter's default */
	int64_t seed;                /* always set: the framework picks one if the user didn't */
	const char *style;           /* preset name, "none" when none */
	const json_t *opts; /* --set pairs as a JSON object (int/bool/string values), never NULL */
	int count;          /* images wanted from this call, 1..ops->max_batch */
	int total;          /* images the whole run wants (--count), >= count; 0 = count.  An
			     * adapter that cannot make that many different images refuses
			     * on the first call, before any request */
	int room;           /* slots in the result array (>= count): an upstream run that
			     * makes more images than asked (a ComfyUI graph with several
			     * outputs or a batch) hands back up to room of them */
	const struct ev_sink *events; /* where to report status, steps and -v detail lines
				       * (core/events.h); NULL-safe.  Adapters never print. */
	/* image inputs (core/inputs.h), read and checked by the core; none: ninputs 0.  An
	 * adapter checks its upstream's own limits and refuses what it cannot take (code
	 * 2, naming the file and the rule) before any request. */
	const struct gen_input *inputs; /* --image files, in order */
	size_t ninputs;
	const struct gen_input *mask;  /* --mask, NULL when none (needs an image) */
	const unsigned char *mask_map; /* mask->width x height bytes, 255 = repaint, --mask-invert
					* applied; mask_encode() makes the upstream's PNG */
	double strength;               /* 0..1, how far the result may move from the input:
					* set whenever there are inputs (default 0.6) */
	int size_from_input;           /* width/height are the first input's: round them to a size
					* the upstream accepts (size_round) rather than refuse them */
};

/** What an adapter hands back.  The caller releases it with imagen_result_release(). */
struct imagen_result {
	unsigned char *data; /* image bytes (malloc'd) */
	size_t len;
	char mime[32];     /* "image/png" */
	int width, height; /* what was actually produced */
	int steps;         /* what was actually used (0 if the notion does not apply) */
	int64_t seed;      /* the seed the upstream actually used */
	int seed_honoured; /* 0 when the upstream has no notion of a seed */
	char *model;       /* malloc'd, NULL when unknown */
	json_t *metadata;  /* adapter metadata (owned reference), goes verbatim into the sidecar */
	json_t *cost;      /* billed backends: cost record of THIS image (owned, cost.h);
			    * NULL for unbilled backends */
	int no_strength;   /* the upstream took the inputs but no strength: the record's
			    * strength is null */
};

void imagen_result_release(struct imagen_result *res);

/** An open backend instance.  Adapters embed this as the first member of their own struct. */
struct backend {
	const struct backend_ops *ops;
	char *name; /* instance name from imagen.yaml, owned by the framework's backend_open() */
	/* the running generation's sink (req->events), set by backend_generate() for the
	 * length of the call, so the adapter's helpers (cancel and download requests) can
	 * report too; NULL between calls.  A handle runs one generation at a time. */
	const struct ev_sink *events;
};

struct backend_ops {
	const char *type;    /* the `type:` value in imagen.yaml */
	const char *summary; /* one line for `imagen backends` */
	/** Most images one generate() call can return (1 = no batching).  For --count N
	 *  the framework calls generate() with count = min(remaining, max_batch); when
	 *  max_batch is 1 it makes N calls with seeds seed, seed+1, ... */
	int max_batch;
	/** Config-only check of the instance's slice (the object under backends.NAME,
	 *  `type` included): no environment, no network.  On error, set err->key to the
	 *  offending key (relative to the slice) so the caller can print FILE:LINE:COL. */
	int (*validate)(const char *name, const json_t *cfg, struct err *err);
	/** Open an instance: validate, read credentials from the environment, fail fast
	 *  before any network call.  *out is allocated by the adapter. */
	int (*open)(struct backend **out, const char *name, const json_t *cfg, struct err *err);
	/** Produce req->count images into res[0..count-1] (zeroed by the caller, room
	 *  slots long) and set *nres to how many were filled; an adapter whose one upstream
	 *  run yields more images may fill up to req->room so that none is lost.  Returns
	 *  0, or -1 with err filled; on -1 the first *nres results are still valid and are
	 *  kept (nothing generated is lost).
	 *  Ctrl-C: when cancel_requested() the adapter asks its upstream to stop the work
	 *  it started (http no_cancel request) and fails with err->code 130. */
	int (*generate)(struct backend *b, const struct imagen_request *req,
			struct imagen_result *res, size_t *nres, struct err *err);
	void (*close)(struct backend *b);
	/** The keys an instance's slice may hold (`type` included), NULL-terminated: config
	 *  loading refuses any other before validate() runs. */
	const char *const *keys;
	/** This adapter's instance in the sample imagen.yaml: YAML for one `NAME:` mapping
	 *  with its keys and comments, unindented, that passes validate().  `config init`
	 *  writes it under backends: (active for the default backend, else commented out;
	 *  comment lines starting in column 0 introduce it).  NULL: not in the sample. */
	const char *sample;
	/** Whether the upstream is up and takes our credentials (`imagen backends --check`):
	 *  one cheap request (ComfyUI GET /system_stats, A1111 GET /sdapi/v1/options, OpenAI
	 *  GET {base_url}/models, Replicate GET /v1/account), no retries.  0 when it is up,
	 *  else -1 with err saying why.  NULL: always up (nothing to ask). */
	int (*check)(struct backend *b, struct err *err);
};

/** Call b->ops->generate with b->events set to req->events for the length of the call.
 *  The framework's one way to run an adapter. */
int backend_generate(struct backend *b, const struct imagen_request *req, struct imagen_result *res,
		     size_t *nres, struct err *err);

/** Look up an adapter type in the static registry; NULL when unknown. */
const struct backend_ops *backend_find(const char *type);
/** The registry, NULL-terminated, in display order. */
const struct backend_ops *const *backend_types(void);
/** Comma-separated list of compiled-in types, e.g. "mock" (static storage). */
const char *backend_type_list(void);

/* Helpers for adapters validating their slice. */

/** Fail (err->key set) on any key of cfg not in the NULL-terminated `known`; the message
 *  reads "unknown key 'stpes' in backends.NAME (did you mean 'steps'?)". */
int cfg_check_keys(const char *name, const json_t *cfg, const char *const *known, struct err *err);
/** Read an optional integer in [min, max] from cfg[key] (*out left untouched when absent).
 *  Strings holding a decimal integer are accepted (for --set values). */
int cfg_get_int(const json_t *cfg, const char *name, const char *key, long long min, long long max,
		long long *out, struct err *err);
/** Read an optional string from cfg[key] (*out borrowed, left untouched when absent). */
int cfg_get_string(const json_t *cfg, const char *name, const char *key, const char **out,
		   struct err *err);

#endif
