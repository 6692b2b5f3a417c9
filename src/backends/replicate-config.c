/* replicate-config.c - the config side of the `replicate` adapter: its config slice (keys,
 * defaults, checks), what imagen knows about a few official models, and the price of a
 * model.  No network here: replicate.c runs the predictions.  Wire facts:
 * ../shared/protocols/replicate.md. */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/replicate.h"
#include "core/adapter.h"
#include "util/suggest.h"

#define RP_DEFAULT_BASE "https://api.replicate.com/v1"
#define RP_DEFAULT_TOKEN_ENV "REPLICATE_API_TOKEN"
#define RP_DEFAULT_WAIT 60 /* Prefer: wait=N, N in 1..60 */
#define RP_DEFAULT_POLL_MS 1000L
#define RP_DEFAULT_TIMEOUT 600L /* seconds for a prediction to end */

static const struct rp_known rp_known_models[] = {
	{ "black-forest-labs/flux-schnell", 0.003, SIZE_ASPECT_RATIO, 0, 4 },
	{ "black-forest-labs/flux-dev", 0.025, SIZE_ASPECT_RATIO, 0, 4 },
	{ "black-forest-labs/flux-pro", 0.055, SIZE_ASPECT_RATIO, 0, 1 },
	{ "black-forest-labs/flux-1.1-pro", 0.04, SIZE_ASPECT_RATIO, 0, 1 },
};

/* Inputs imagen sets itself: a --set or config `input` entry would make the record lie. */
static const char *const rp_reserved[] = { "prompt", "seed", "num_outputs", NULL };

const char *const rp_cfg_keys[] = {
	"type",      "model",   "token_env", "base_url",    "input",      "prices",
	"wait",      "poll_ms", "timeout",   "max_outputs", "size_input", "negative_prompt_key",
	"input_map", NULL,
};

/* ---- config ----------------------------------------------------------------------------- */

const struct rp_known *rp_known_find(const char *model, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(rp_known_models) / sizeof(rp_known_models[0]); i++)
		if (strlen(rp_known_models[i].model) == len &&
		    !strncmp(rp_known_models[i].model, model, len))
			return &rp_known_models[i];
	return NULL;
}

static int name_char(int c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.';
}

/* owner/name or owner/name:version; *slash and *colon point into s (colon NULL if none). */
int rp_check_model(const char *s, const char **colon)
{
	const char *p = s, *slash;

	while (name_char((unsigned char)*p))
		p++;
	if (p == s || *p != '/')
		return -1;
	slash = p++;
	while (name_char((unsigned char)*p))
		p++;
	if (p == slash + 1 || (*p && *p != ':'))
		return -1;
	*colon = NULL;
	if (*p == ':') {
		*colon = p++;
		if (!*p)
			return -1;
		for (; *p; p++)
			if (!isalnum((unsigned char)*p))
				return -1;
	}
	return 0;
}

int rp_reserved_key(const char *k)
{
	size_t i;

	for (i = 0; rp_reserved[i]; i++)
		if (!strcmp(rp_reserved[i], k))
			return 1;
	return 0;
}

static int rp_check_prices(const char *name, const json_t *prices, struct err *err)
{
	const char *model, *k;
	json_t *p, *v;
	int n;

	if (!json_is_object(prices))
		return err_key(err, "prices",
			       "backends.%s.prices: expected a mapping of model names to prices",
			       name);
	json_object_foreach ((json_t *)prices, model, p) {
		if (!json_is_object(p))
			return err_key(
				err, "prices",
				"backends.%s.prices.%s: expected a mapping with per_image or "
				"per_second",
				name, model);
		n = 0;
		json_object_foreach (p, k, v) {
			if (strcmp(k, "per_image") && strcmp(k, "per_second"))
				return err_key(err, "prices",
					       "backends.%s.prices.%s: unknown key '%s' (known: "
					       "per_image, per_second)",
					       name, model, k);
			if (!json_is_number(v) || json_number_value(v) < 0 ||
			    !isfinite(json_number_value(v)))
				return err_key(
					err, "prices",
					"backends.%s.prices.%s.%s: expected a price in USD (a "
					"number >= 0)",
					name, model, k);
			n++;
		}
		if (n != 1)
			return err_key(err, "prices",
				       "backends.%s.prices.%s: give exactly one of per_image, "
				       "per_second",
				       name, model);
	}
	return 0;
}

/* A model input name: letters, digits and '_', not one imagen sets itself. */
static int input_name_ok(const char *s)
{
	const char *p;

	for (p = s; *p && (isalnum((unsigned char)*p) || *p == '_'); p++)
		;
	return *s && !*p && !rp_reserved_key(s);
}

/* input_map: {image, mask, strength} to the model's field names, null: not sent. */
static int rp_read_input_map(const char *name, const json_t *map, struct rp_cfg *c, struct err *err)
{
	static const char *const keys[] = { "image", "mask", "strength", NULL };
	const char *k, **slot;
	json_t *v;

	if (!json_is_object(map))
		return err_key(err, "input_map",
			       "backends.%s.input_map: expected a mapping such as {image: "
			       "input_image, strength: null}",
			       name);
	json_object_foreach ((json_t *)map, k, v) {
		slot = !strcmp(k, "image")      ? &c->in_image
		       : !strcmp(k, "mask")     ? &c->in_mask
		       : !strcmp(k, "strength") ? &c->in_strength
						: NULL;
		if (!slot) {
			const char *hint = suggest_closest(k, keys);

			return err_key(err, "input_map",
				       "backends.%s.input_map: unknown key '%s'%s%s%s (known: "
				       "image, mask, strength)",
				       name, k, hint ? " (did you mean '" : "", hint ? hint : "",
				       hint ? "'?)" : "");
		}
		if (json_is_null(v)) {
			*slot = NULL;
			continue;
		}
		if (!json_is_string(v) || !input_name_ok(json_string_value(v)))
			return err_key(err, "input_map",
				       "backends.%s.input_map.%s: expected a model input name "
				       "(letters, digits, '_') or null",
				       name, k);
		*slot = json_string_value(v);
	}
	return 0;
}

int rp_read_cfg(const char *name, const json_t *cfg, struct rp_cfg *c, struct err *err)
{
	const char *colon, *p, *k;
	json_t *v;

	memset(c, 0, sizeof(*c));
	c->token_env = RP_DEFAULT_TOKEN_ENV;
	c->base_url = RP_DEFAULT_BASE;
	c->wait_s = RP_DEFAULT_WAIT;
	c->poll_ms = RP_DEFAULT_POLL_MS;
	c->timeout_s = RP_DEFAULT_TIMEOUT;
	c->max_outputs = RP_MAX_BATCH;
	c->in_image = RP_DEFAULT_IN_IMAGE;
	c->in_mask = RP_DEFAULT_IN_MASK;
	c->in_strength = RP_DEFAULT_IN_STRENGTH;
	if (!json_is_object(cfg))
		return err_code(err, 2, "backends.%s: expected a mapping", name);
	if (cfg_check_keys(name, cfg, rp_cfg_keys, err) ||
	    cfg_get_string(cfg, name, "model", &c->model, err) ||
	    cfg_get_string(cfg, name, "token_env", &c->token_env, err) ||
	    cfg_get_string(cfg, name, "base_url", &c->base_url, err) ||
	    cfg_get_string(cfg, name, "size_input", &c->size, err) ||
	    cfg_get_string(cfg, name, "negative_prompt_key", &c->neg_key, err) ||
	    cfg_get_int(cfg, name, "wait", 0, 60, &c->wait_s, err) ||
	    cfg_get_int(cfg, name, "poll_ms", 10, 60000, &c->poll_ms, err) ||
	    cfg_get_int(cfg, name, "timeout", 1, 86400, &c->timeout_s, err) ||
	    cfg_get_int(cfg, name, "max_outputs", 1, RP_MAX_BATCH, &c->max_outputs, err))
		goto bad;
	c->has_neg_key = json_object_get(cfg, "negative_prompt_key") != NULL;
	c->has_size = c->size != NULL;
	c->has_max_outputs = json_object_get(cfg, "max_outputs") != NULL;

	if (!c->model || !*c->model) {
		err_key(err, c->model ? "model" : "",
			"backends.%s: model is required (owner/name or owner/name:version, e.g. "
			"black-forest-labs/flux-schnell)",
			name);
		goto bad;
	}
	if (rp_check_model(c->model, &colon) < 0) {
		err_key(err, "model",
			"backends.%s.model: '%s' is not owner/name or owner/name:version", name,
			c->model);
		goto bad;
	}
	if (!adapter_env_name_ok(c->token_env)) {
		err_key(err, "token_env",
			"backends.%s.token_env: '%s' is not an environment variable name", name,
			c->token_env);
		goto bad;
	}
	if (strncmp(c->base_url, "http://", 7) && strncmp(c->base_url, "https://", 8)) {
		err_key(err, "base_url",
			"backends.%s.base_url: expected an http:// or https:// URL", name);
		goto bad;
	}
	if (c->size && strcmp(c->size, "width_height") && strcmp(c->size, "aspect_ratio") &&
	    strcmp(c->size, "none")) {
		err_key(err, "size_input",
			"backends.%s.size_input: '%s' is not one of width_height, aspect_ratio, "
			"none",
			name, c->size);
		goto bad;
	}
	if (c->neg_key && *c->neg_key) {
		for (p = c->neg_key; *p && (isalnum((unsigned char)*p) || *p == '_'); p++)
			;
		if (*p || rp_reserved_key(c->neg_key)) {
			err_key(err, "negative_prompt_key",
				"backends.%s.negative_prompt_key: '%s' is not a usable input name",
				name, c->neg_key);
			goto bad;
		}
	}
	c->input = json_object_get(cfg, "input");
	if (c->input) {
		if (!json_is_object(c->input)) {
			err_key(err, "input",
				"backends.%s.input: expected a mapping of model inputs", name);
			goto bad;
		}
		json_object_foreach ((json_t *)c->input, k, v) {
			if (rp_reserved_key(k)) {
				err_key(err, "input",
					"backends.%s.input.%s: imagen sets %s itself (use the "
					"prompt "
					"argument, --seed or --count)",
					name, k, k);
				goto bad;
			}
		}
	}
	c->prices = json_object_get(cfg, "prices");
	if (c->prices && rp_check_prices(name, c->prices, err) < 0)
		goto bad;
	if (json_object_get(cfg, "input_map") &&
	    rp_read_input_map(name, json_object_get(cfg, "input_map"), c, err) < 0)
		goto bad;
	return 0;
bad:
	if (err)
		err->code = 2;
	return -1;
}

/* The price object for this model and where it came from; NULL when none is known. */
const json_t *rp_price(const struct rp_backend *r, const char *full, json_t **owned,
		       const char **source)
{
	const struct rp_known *k;
	const json_t *p = NULL;

	*owned = NULL;
	if (r->prices) {
		p = json_object_get(r->prices, full);
		if (!p)
			p = json_object_get(r->prices, r->model);
	}
	if (p) {
		*source = "config";
		return p;
	}
	k = rp_known_find(r->model, strlen(r->model));
	if (!k)
		return NULL;
	*source = "default";
	*owned = json_pack("{s:f}", "per_image", k->per_image);
	return *owned;
}
