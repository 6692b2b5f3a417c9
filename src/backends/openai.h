/* openai.h - the pure parts of the `openai` adapter (size mapping and cost in
 * openai-config.c, response parsing in openai.c), shared by its two files and exposed for
 * tests/unit/test_openai.c.  The adapter itself is openai_backend_ops in openai.c. */
#ifndef IMAGEN_BACKENDS_OPENAI_H
#define IMAGEN_BACKENDS_OPENAI_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define OPENAI_MAX_SIZES 32
#define OPENAI_MAX_N 10 /* most images one request may ask for (n) */

/** What `size` values a model accepts. */
enum openai_size_kind {
	OPENAI_SIZES_LIST,     /* exactly the sizes in w[]/h[] */
	OPENAI_SIZES_FLEXIBLE, /* gpt-image-2 rule: multiples of 16, aspect <= 3:1, long side
				* <= 3840, at most 3840x2160 pixels */
	OPENAI_SIZES_ANY,      /* no client-side check */
};

struct openai_sizes {
	enum openai_size_kind kind;
	int n;
	int w[OPENAI_MAX_SIZES], h[OPENAI_MAX_SIZES];
};

/** The documented sizes of a model family, by name prefix: dall-e-2, dall-e-3,
 *  gpt-image-2 (flexible), and the GPT image 1 sizes for every other name. */
void openai_default_sizes(const char *model, struct openai_sizes *out);

/** Parse a `sizes` config value: a list of "WxH" strings, or "any" / "flexible".
 *  Returns 0, or -1 with a message naming the bad entry. */
int openai_sizes_parse(const json_t *v, struct openai_sizes *out, struct err *err);

/** "1024x1024, 1536x1024, 1024x1536" (or the flexible rule in words) into out. */
void openai_sizes_describe(const struct openai_sizes *s, char *out, size_t size);

/**
 * Choose the `size` to send.  width/height come from -W/-H (0 = not given); configured
 * is the `size` from config or --set (NULL = none).  -W/-H win: both given must match an
 * accepted size exactly (no silent resizing); one given must match exactly one
 * accepted size.  Without -W/-H the configured size is checked ("auto" passes); with
 * neither, out is "" (send no size: the upstream's default applies).  Returns 0, or
 * -1 (err->code 2) with the accepted sizes listed.
 */
int openai_pick_size(const struct openai_sizes *s, int width, int height, const char *configured,
		     char *out, size_t size, struct err *err);

/** Parse "WxH" (both 1..65535); 0 on success. */
int openai_parse_wxh(const char *s, int *w, int *h);

/** Most images per request by default: 1 for dall-e-3 names, 10 otherwise. */
int openai_default_max_n(const char *model);

/** One image of a parsed response (strings borrowed from the reply). */
struct openai_item {
	const char *b64;     /* data[i].b64_json when it was left to the JSON parser */
	unsigned char *data; /* data[i].b64_json decoded during parsing (owned by the
			      * reply until taken: set it to NULL), or NULL */
	size_t len;
	const char *b64_error;      /* why that decoding failed, or NULL */
	const char *url;            /* data[i].url or NULL */
	const char *revised_prompt; /* or NULL */
};

struct openai_reply {
	json_t *root;
	struct openai_item *items;
	size_t n;
	const json_t *usage;                                     /* object or NULL */
	const json_t *created;                                   /* number or NULL */
	const char *size, *quality, *output_format, *background; /* echoes, NULL when absent */
	void *blobs; /* internal: values decoded before parsing */
	size_t nblobs;
};

/**
 * Parse a 2xx body, in place: every "b64_json" string value is base64-decoded straight
 * from body and replaced there by a short placeholder before the JSON parser runs (a
 * JSON parser copies and checks a multi-megabyte string byte by byte); body[0..len) is
 * rewritten (shorter, still NUL-terminated) and only good for freeing after.  Fails on
 * malformed JSON, a missing `data` array or an element with neither b64_json nor url.
 * Release with openai_reply_release().
 */
int openai_parse_reply(char *body, size_t len, struct openai_reply *out, struct err *err);
void openai_reply_release(struct openai_reply *r);

/** Built-in price table (JSON text: model -> price object), from the protocol notes. */
extern const char openai_default_prices[];

/**
 * The cost record of one image of a response that returned `images` images.
 * prices_cfg: the instance's `prices` map (may be NULL); an entry for the model there
 * replaces the built-in one.  usage: the response's usage block (NULL when absent):
 * with it and per-token prices, the request total split evenly over the images;
 * otherwise the per_image price by quality ("auto"/NULL: unknown) and size "WxH".
 * Unknown price: cost_unknown() with the reason.  Never NULL except on ENOMEM.
 */
json_t *openai_cost(const char *instance, const char *model, const json_t *prices_cfg,
		    const json_t *usage, int images, const char *quality, const char *size);

/** Validate a `prices` map (config): 0, or -1 with the message. */
int openai_prices_check(const char *instance, const json_t *prices, struct err *err);

/* ---- shared by openai.c and openai-config.c ------------------------------------------- */

/* The request options a config slice sets and --set may override. */
struct openai_params {
	const char *quality, *size, *output_format, *background, *moderation, *style,
		*response_format;
	long long output_compression; /* -1 = not sent */
};

/* What an instance's config slice says (strings borrowed from the slice). */
struct openai_cfg {
	const char *model, *api_key_env, *base_url;
	struct openai_params p;
	struct openai_sizes sizes;
	long long max_n, timeout_s;
	const json_t *prices; /* NULL when absent */
};

/** The keys a config slice may have (NULL-terminated). */
extern const char *const openai_cfg_keys[];

/** Read and check an instance's slice into *c (defaults for what is absent).  Returns 0,
 *  or -1 with err (code 2, err->key naming the key at fault). */
int openai_read_cfg(const char *name, const json_t *cfg, struct openai_cfg *c, struct err *err);

#endif
