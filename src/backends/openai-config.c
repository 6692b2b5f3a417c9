/* openai-config.c - the config side of the `openai` adapter: its config slice (keys,
 * defaults, checks), the sizes each model accepts, and the price table with the cost of
 * an image.  No network here: openai.c runs the requests.  Wire facts:
 * ../shared/protocols/openai-images.md. */
#include "backends/openai.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/adapter.h"
#include "core/backend.h"
#include "core/cost.h"
#include "util/suggest.h"

#define OPENAI_DEFAULT_BASE_URL "https://api.openai.com/v1"
#define OPENAI_DEFAULT_KEY_ENV "OPENAI_API_KEY"
#define OPENAI_DEFAULT_TIMEOUT_S 600 /* GPT image at high quality can take minutes */
#define OPENAI_MAX_TIMEOUT_S 3600
const char *const openai_cfg_keys[] = {
	"type",
	"model",
	"api_key_env",
	"base_url",
	"quality",
	"size",
	"sizes",
	"output_format",
	"output_compression",
	"background",
	"moderation",
	"style",
	"response_format",
	"max_n",
	"timeout",
	"prices",
	NULL,
};

static const char *const price_keys[] = {
	"text_input_per_mtok", "image_input_per_mtok", "image_output_per_mtok", "per_image", NULL,
};

/* USD, from the model pages quoted in openai-images.md section 7 (DALL-E figures from
 * copies of the old pricing page).  Per-image keys: "QUALITY/WxH", "WxH" or "QUALITY". */
const char openai_default_prices[] =
	"{\"gpt-image-1\": {\"text_input_per_mtok\": 5.0, \"image_input_per_mtok\": 10.0,"
	" \"image_output_per_mtok\": 40.0, \"per_image\": {"
	"\"low/1024x1024\": 0.011, \"low/1024x1536\": 0.016, \"low/1536x1024\": 0.016,"
	" \"medium/1024x1024\": 0.042, \"medium/1024x1536\": 0.063, \"medium/1536x1024\": 0.063,"
	" \"high/1024x1024\": 0.167, \"high/1024x1536\": 0.25, \"high/1536x1024\": 0.25}},"
	" \"gpt-image-1-mini\": {\"text_input_per_mtok\": 2.0, \"image_input_per_mtok\": 2.5,"
	" \"image_output_per_mtok\": 8.0, \"per_image\": {"
	"\"low/1024x1024\": 0.005, \"low/1024x1536\": 0.006, \"low/1536x1024\": 0.006,"
	" \"medium/1024x1024\": 0.011, \"medium/1024x1536\": 0.015, \"medium/1536x1024\": 0.015,"
	" \"high/1024x1024\": 0.036, \"high/1024x1536\": 0.052, \"high/1536x1024\": 0.052}},"
	" \"dall-e-3\": {\"per_image\": {"
	"\"standard/1024x1024\": 0.04, \"standard/1024x1792\": 0.08, \"standard/1792x1024\": 0.08,"
	" \"hd/1024x1024\": 0.08, \"hd/1024x1792\": 0.12, \"hd/1792x1024\": 0.12}},"
	" \"dall-e-2\": {\"per_image\": {"
	"\"256x256\": 0.016, \"512x512\": 0.018, \"1024x1024\": 0.02}}}";

/* ---- sizes -------------------------------------------------------------------------- */

int openai_parse_wxh(const char *s, int *w, int *h)
{
	char *end;
	long a, b;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	a = strtol(s, &end, 10);
	if (*end != 'x' || !isdigit((unsigned char)end[1]))
		return -1;
	b = strtol(end + 1, &end, 10);
	if (*end || a < 1 || b < 1 || a > 65535 || b > 65535)
		return -1;
	*w = (int)a;
	*h = (int)b;
	return 0;
}

static int starts_with(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

static void sizes_set(struct openai_sizes *out, const int (*wh)[2], int n)
{
	int i;

	out->kind = OPENAI_SIZES_LIST;
	out->n = n;
	for (i = 0; i < n; i++) {
		out->w[i] = wh[i][0];
		out->h[i] = wh[i][1];
	}
}

void openai_default_sizes(const char *model, struct openai_sizes *out)
{
	static const int dalle2[][2] = { { 256, 256 }, { 512, 512 }, { 1024, 1024 } };
	static const int dalle3[][2] = { { 1024, 1024 }, { 1792, 1024 }, { 1024, 1792 } };
	static const int gpt[][2] = { { 1024, 1024 }, { 1536, 1024 }, { 1024, 1536 } };

	memset(out, 0, sizeof(*out));
	if (starts_with(model, "dall-e-2"))
		sizes_set(out, dalle2, 3);
	else if (starts_with(model, "dall-e-3"))
		sizes_set(out, dalle3, 3);
	else if (starts_with(model, "gpt-image-2"))
		out->kind = OPENAI_SIZES_FLEXIBLE;
	else
		sizes_set(out, gpt, 3);
}

int openai_sizes_parse(const json_t *v, struct openai_sizes *out, struct err *err)
{
	size_t i;
	const json_t *e;

	memset(out, 0, sizeof(*out));
	if (json_is_string(v) && !strcmp(json_string_value(v), "any")) {
		out->kind = OPENAI_SIZES_ANY;
		return 0;
	}
	if (json_is_string(v) && !strcmp(json_string_value(v), "flexible")) {
		out->kind = OPENAI_SIZES_FLEXIBLE;
		return 0;
	}
	if (!json_is_array(v) || !json_array_size(v))
		return err_set(err, "expected a list of WxH sizes, or 'any' or 'flexible'");
	if (json_array_size(v) > OPENAI_MAX_SIZES)
		return err_set(err, "at most %d sizes", OPENAI_MAX_SIZES);
	out->kind = OPENAI_SIZES_LIST;
	json_array_foreach (v, i, e) {
		if (!json_is_string(e) ||
		    openai_parse_wxh(json_string_value(e), &out->w[out->n], &out->h[out->n]))
			return err_set(err, "entry %zu: expected WxH such as 1024x1024", i + 1);
		out->n++;
	}
	return 0;
}

void openai_sizes_describe(const struct openai_sizes *s, char *out, size_t size)
{
	size_t off = 0;
	int i;

	out[0] = '\0';
	if (s->kind == OPENAI_SIZES_FLEXIBLE) {
		snprintf(out, size,
			 "WxH with both sides multiples of 16, aspect ratio at most 3:1, long side "
			 "at most 3840, at most 3840x2160 pixels");
		return;
	}
	if (s->kind == OPENAI_SIZES_ANY) {
		snprintf(out, size, "any WxH");
		return;
	}
	for (i = 0; i < s->n && off < size; i++) {
		int k = snprintf(out + off, size - off, "%s%dx%d", i ? ", " : "", s->w[i], s->h[i]);

		if (k < 0)
			break;
		off += (size_t)k;
	}
}

static int flexible_ok(int w, int h)
{
	long long lo = w < h ? w : h, hi = w < h ? h : w;

	return w % 16 == 0 && h % 16 == 0 && hi <= 3 * lo && hi <= 3840 &&
	       (long long)w * h <= 3840LL * 2160;
}

static int size_ok(const struct openai_sizes *s, int w, int h)
{
	int i;

	if (s->kind == OPENAI_SIZES_ANY)
		return 1;
	if (s->kind == OPENAI_SIZES_FLEXIBLE)
		return flexible_ok(w, h);
	for (i = 0; i < s->n; i++)
		if (s->w[i] == w && s->h[i] == h)
			return 1;
	return 0;
}

int openai_pick_size(const struct openai_sizes *s, int width, int height, const char *configured,
		     char *out, size_t size, struct err *err)
{
	char list[512];
	int w, h, i, found = -1, matches = 0;

	out[0] = '\0';
	openai_sizes_describe(s, list, sizeof(list));
	if (width > 0 && height > 0) {
		if (!size_ok(s, width, height))
			return err_code(err, 2,
					"size %dx%d is not accepted by this model (accepted: %s)",
					width, height, list);
		snprintf(out, size, "%dx%d", width, height);
		return 0;
	}
	if (width > 0 || height > 0) {
		if (s->kind != OPENAI_SIZES_LIST)
			return err_code(err, 2, "give both --width and --height (accepted: %s)",
					list);
		for (i = 0; i < s->n; i++) {
			if ((width > 0 && s->w[i] == width) || (height > 0 && s->h[i] == height)) {
				found = i;
				matches++;
			}
		}
		if (matches != 1)
			return err_code(
				err, 2, "%s %d %s; give both --width and --height (accepted: %s)",
				width > 0 ? "width" : "height", width > 0 ? width : height,
				matches ? "matches several sizes" : "fits no accepted size", list);
		snprintf(out, size, "%dx%d", s->w[found], s->h[found]);
		return 0;
	}
	if (!configured || !*configured)
		return 0;
	if (!strcmp(configured, "auto")) {
		snprintf(out, size, "auto");
		return 0;
	}
	if (openai_parse_wxh(configured, &w, &h))
		return err_code(err, 2, "size '%s': expected WxH such as 1024x1024, or auto",
				configured);
	if (!size_ok(s, w, h))
		return err_code(err, 2, "size %s is not accepted by this model (accepted: %s)",
				configured, list);
	snprintf(out, size, "%dx%d", w, h);
	return 0;
}

int openai_default_max_n(const char *model)
{
	return starts_with(model, "dall-e-3") ? 1 : OPENAI_MAX_N;
}

/* ---- prices ------------------------------------------------------------------------- */

static int price_value_ok(const json_t *v)
{
	return json_is_number(v) && json_number_value(v) >= 0;
}

int openai_prices_check(const char *instance, const json_t *prices, struct err *err)
{
	const char *model, *key, *hint, *k2;
	const json_t *entry, *v, *v2;

	if (!json_is_object(prices))
		return err_set(err,
			       "backends.%s.prices: expected a mapping from model name to prices",
			       instance);
	json_object_foreach ((json_t *)prices, model, entry) {
		if (!json_is_object(entry))
			return err_set(err, "backends.%s.prices.%s: expected a mapping", instance,
				       model);
		json_object_foreach ((json_t *)entry, key, v) {
			size_t i;
			int known = 0;

			for (i = 0; price_keys[i]; i++)
				known |= !strcmp(price_keys[i], key);
			if (!known) {
				hint = suggest_closest(key, price_keys);
				return err_set(
					err,
					"backends.%s.prices.%s: unknown key '%s'%s%s%s (known: "
					"text_input_per_mtok, image_input_per_mtok, "
					"image_output_per_mtok, per_image)",
					instance, model, key, hint ? " (did you mean '" : "",
					hint ? hint : "", hint ? "'?)" : "");
			}
			if (!strcmp(key, "per_image") && json_is_object(v)) {
				json_object_foreach ((json_t *)v, k2, v2) {
					if (!price_value_ok(v2))
						return err_set(
							err,
							"backends.%s.prices.%s.per_image.%s: "
							"expected a price in USD (a number >= 0)",
							instance, model, k2);
				}
				continue;
			}
			if (!price_value_ok(v))
				return err_set(
					err,
					"backends.%s.prices.%s.%s: expected a price in USD (a "
					"number >= 0%s)",
					instance, model, key,
					!strcmp(key, "per_image")
						? ", or a mapping such as medium/1024x1024: 0.042"
						: "");
		}
	}
	return 0;
}

static double num_field(const json_t *o, const char *key, int *present)
{
	const json_t *v = json_object_get(o, key);

	*present = json_is_number(v);
	return *present ? json_number_value(v) : 0;
}

static json_t *cost_by_tokens(const json_t *entry, const json_t *usage, int images,
			      const char *source, const char **why)
{
	const json_t *det = json_object_get(usage, "input_tokens_details");
	double in_all, in_text, in_img, out, rt, ri, ro, total;
	int has_out, has_in, has, has_rt, has_ri, has_ro;

	out = num_field(usage, "output_tokens", &has_out);
	in_all = num_field(usage, "input_tokens", &has_in);
	ro = num_field(entry, "image_output_per_mtok", &has_ro);
	rt = num_field(entry, "text_input_per_mtok", &has_rt);
	ri = num_field(entry, "image_input_per_mtok", &has_ri);
	if (!has_out) {
		*why = "the usage block has no output_tokens";
		return NULL;
	}
	if (!has_ro) {
		*why = "no image_output_per_mtok price";
		return NULL;
	}
	if (json_is_object(det)) {
		in_text = num_field(det, "text_tokens", &has);
		in_img = num_field(det, "image_tokens", &has);
	} else {
		in_text = in_all;
		in_img = 0;
	}
	if (in_text > 0 && !has_rt) {
		*why = "no text_input_per_mtok price";
		return NULL;
	}
	if (in_img > 0 && !has_ri) {
		*why = "no image_input_per_mtok price";
		return NULL;
	}
	total = (in_text * rt + in_img * ri + out * ro) / 1e6;
	return cost_known(total / images, "usage tokens x prices", source,
			  json_pack("{s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:i}", "input_text_tokens",
				    (json_int_t)in_text, "input_image_tokens", (json_int_t)in_img,
				    "output_tokens", (json_int_t)out, "text_input_per_mtok", rt,
				    "image_input_per_mtok", ri, "image_output_per_mtok", ro,
				    "request_usd", total, "images_in_request", images));
}

json_t *openai_cost(const char *instance, const char *model, const json_t *prices_cfg,
		    const json_t *usage, int images, const char *quality, const char *size)
{
	json_t *defaults = NULL, *c = NULL;
	const json_t *entry = NULL, *pi, *v = NULL;
	const char *source = "config", *why = NULL;
	char key[96], reason[512];
	int has_q = quality && *quality && strcmp(quality, "auto");

	if (images < 1)
		images = 1;
	if (prices_cfg)
		entry = json_object_get(prices_cfg, model);
	if (!entry) {
		defaults = json_loads(openai_default_prices, 0, NULL);
		entry = json_object_get(defaults, model);
		source = "default";
	}
	if (!json_is_object(entry)) {
		snprintf(reason, sizeof(reason), "no price for model %s (set backends.%s.prices)",
			 model, instance);
		json_decref(defaults);
		return cost_unknown(reason);
	}
	if (usage) {
		c = cost_by_tokens(entry, usage, images, source, &why);
		if (c) {
			json_decref(defaults);
			return c;
		}
	}
	pi = json_object_get(entry, "per_image");
	if (json_is_number(pi)) {
		v = pi;
	} else if (json_is_object(pi)) {
		if (has_q && size) {
			snprintf(key, sizeof(key), "%s/%s", quality, size);
			v = json_object_get(pi, key);
		}
		if (!v && size)
			v = json_object_get(pi, size);
		if (!v && has_q)
			v = json_object_get(pi, quality);
	}
	if (json_is_number(v)) {
		c = cost_known(json_number_value(v), "per-image price", source,
			       json_pack("{s:s?, s:s?, s:f}", "quality", quality, "size", size,
					 "per_image", json_number_value(v)));
	} else {
		snprintf(reason, sizeof(reason),
			 "%s%sno per-image price for model %s at quality %s, size %s (set "
			 "backends.%s.prices)",
			 usage ? (why ? why : "") : "no usage in the response",
			 usage && !why ? "" : "; ", model, has_q ? quality : "unknown",
			 size ? size : "unknown", instance);
		c = cost_unknown(reason);
	}
	json_decref(defaults);
	return c;
}

/* ---- config ------------------------------------------------------------------------- */

static int cfg_fail(struct err *err)
{
	if (err)
		err->code = 2;
	return -1;
}

static int check_choice(const char *name, const char *key, const char *v, const char *a,
			const char *b, const char *c, struct err *err)
{
	if (!v || !strcmp(v, a) || !strcmp(v, b) || (c && !strcmp(v, c)))
		return 0;
	return err_key(err, key, "backends.%s.%s: '%s' is not one of %s, %s%s%s", name, key, v, a,
		       b, c ? ", " : "", c ? c : "");
}

int openai_read_cfg(const char *name, const json_t *cfg, struct openai_cfg *c, struct err *err)
{
	const json_t *v;
	char pick[64];
	struct err e2 = ERR_INIT;

	memset(c, 0, sizeof(*c));
	c->api_key_env = OPENAI_DEFAULT_KEY_ENV;
	c->base_url = OPENAI_DEFAULT_BASE_URL;
	c->p.output_compression = -1;
	c->timeout_s = OPENAI_DEFAULT_TIMEOUT_S;
	if (!json_is_object(cfg))
		return err_code(err, 2, "backends.%s: expected a mapping", name);
	if (cfg_check_keys(name, cfg, openai_cfg_keys, err) ||
	    cfg_get_string(cfg, name, "model", &c->model, err) ||
	    cfg_get_string(cfg, name, "api_key_env", &c->api_key_env, err) ||
	    cfg_get_string(cfg, name, "base_url", &c->base_url, err) ||
	    cfg_get_string(cfg, name, "quality", &c->p.quality, err) ||
	    cfg_get_string(cfg, name, "size", &c->p.size, err) ||
	    cfg_get_string(cfg, name, "output_format", &c->p.output_format, err) ||
	    cfg_get_string(cfg, name, "background", &c->p.background, err) ||
	    cfg_get_string(cfg, name, "moderation", &c->p.moderation, err) ||
	    cfg_get_string(cfg, name, "style", &c->p.style, err) ||
	    cfg_get_string(cfg, name, "response_format", &c->p.response_format, err) ||
	    cfg_get_int(cfg, name, "output_compression", 0, 100, &c->p.output_compression, err) ||
	    cfg_get_int(cfg, name, "timeout", 1, OPENAI_MAX_TIMEOUT_S, &c->timeout_s, err))
		return cfg_fail(err);
	if (!c->model || !*c->model) {
		err_key(err, "model",
			"backends.%s: missing key 'model' (the model name, e.g. gpt-image-1)",
			name);
		return cfg_fail(err);
	}
	if (!adapter_env_name_ok(c->api_key_env)) {
		err_key(err, "api_key_env",
			"backends.%s.api_key_env: '%s' is not an environment variable name", name,
			c->api_key_env);
		return cfg_fail(err);
	}
	if (strncmp(c->base_url, "http://", 7) && strncmp(c->base_url, "https://", 8)) {
		err_key(err, "base_url",
			"backends.%s.base_url: expected an http:// or https:// URL, got '%s'", name,
			c->base_url);
		return cfg_fail(err);
	}
	if (check_choice(name, "output_format", c->p.output_format, "png", "jpeg", "webp", err) ||
	    check_choice(name, "response_format", c->p.response_format, "url", "b64_json", NULL,
			 err))
		return cfg_fail(err);
	c->max_n = openai_default_max_n(c->model);
	if (cfg_get_int(cfg, name, "max_n", 1, OPENAI_MAX_N, &c->max_n, err))
		return cfg_fail(err);
	v = json_object_get(cfg, "sizes");
	if (v) {
		if (openai_sizes_parse(v, &c->sizes, &e2)) {
			err_key(err, "sizes", "backends.%s.sizes: %s", name, e2.msg);
			return cfg_fail(err);
		}
	} else {
		openai_default_sizes(c->model, &c->sizes);
	}
	if (c->p.size && openai_pick_size(&c->sizes, 0, 0, c->p.size, pick, sizeof(pick), &e2)) {
		err_key(err, "size", "backends.%s.%s", name, e2.msg);
		return cfg_fail(err);
	}
	v = json_object_get(cfg, "prices");
	if (v) {
		if (openai_prices_check(name, v, err)) {
			snprintf(err->key, sizeof(err->key), "prices");
			return cfg_fail(err);
		}
		c->prices = v;
	}
	return 0;
}
