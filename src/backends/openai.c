/* openai.c - the `openai` adapter: POST {base_url}/images/generations (OpenAI Images API or
 * any server speaking it), images from b64_json or a downloaded url, cost from usage tokens
 * or a per-image price.  Wire facts: ../shared/protocols/openai-images.md. */
#include "backends/openai.h"

#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/backend.h"
#include "util/base64.h"
#include "util/bytes.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "core/cost.h"
#include "net/http.h"
#include "core/pngmeta.h"
#include "core/events.h"
#include "util/suggest.h"

#define OPENAI_DEFAULT_BASE_URL "https://api.openai.com/v1"
#define OPENAI_DEFAULT_KEY_ENV "OPENAI_API_KEY"
#define OPENAI_DEFAULT_TIMEOUT_S 600 /* GPT image at high quality can take minutes */
#define OPENAI_MAX_TIMEOUT_S 3600
#define OPENAI_MAX_N 10
/* what one image may weigh on the wire (base64 or download): a 4K PNG is ~25 MB */
#define OPENAI_IMAGE_CAP ((size_t)64 << 20)

/* The request options a config slice sets and --set may override. */
struct openai_params {
	const char *quality, *size, *output_format, *background, *moderation, *style,
		*response_format;
	long long output_compression; /* -1 = not sent */
};

struct openai_cfg {
	const char *model, *api_key_env, *base_url;
	struct openai_params p;
	struct openai_sizes sizes;
	long long max_n, timeout_s;
	const json_t *prices; /* NULL when absent */
};

struct openai_backend {
	struct backend base; /* first: the framework holds a struct backend * */
	json_t *slice;       /* deep copy of the config slice: cfg's strings point into it */
	struct openai_cfg cfg;
	char *endpoint; /* {base_url}/images/generations */
	char *path;     /* its path, for messages: "/v1/images/generations" */
	char *auth;     /* "Authorization: Bearer KEY" - never printed */
};

extern const struct backend_ops openai_backend_ops;

static const char *const openai_cfg_keys[] = {
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

static const char *const openai_opt_keys[] = {
	"quality",    "size",       "output_format", "output_compression",
	"background", "moderation", "style",         "response_format",
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

/* ---- response ----------------------------------------------------------------------- */

static const char *str_field(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A b64_json value decoded before parsing. */
struct b64_blob {
	unsigned char *data;
	size_t len;
	char error[128];
};

void openai_reply_release(struct openai_reply *r)
{
	struct b64_blob *b;
	size_t i;

	if (!r)
		return;
	b = r->blobs;
	for (i = 0; i < r->nblobs; i++)
		free(b[i].data);
	free(b);
	for (i = 0; r->items && i < r->n; i++)
		free(r->items[i].data);
	free(r->items);
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The closing quote of the JSON string whose body starts at p (escapes skipped), or end. */
static const char *string_end(const char *p, const char *end)
{
	while (p < end) {
		p += strcspn(p, "\"\\"); /* the buffer is NUL-terminated past end */
		if (p >= end || *p == '"')
			return p < end ? p : end;
		p += 2;
	}
	return end;
}

/*
 * Decode every "b64_json": "..." value in place: the value is replaced by "#N" (N its
 * index in *blobs) and the text after it moved up, so the parser gets a small document
 * with the same structure.  A value holding an escape sequence is left alone (the parser
 * then handles it).  *len is updated; the text stays NUL-terminated.
 */
static int extract_b64(char *text, size_t *len, struct b64_blob **blobs, size_t *nblobs)
{
	char *p = text, *end = text + *len, *q, *v, *ve, *w = text, *from = text;
	struct b64_blob *b = NULL, *nb;
	size_t n = 0, cap = 0, seg;
	struct err e = ERR_INIT;
	char tag[32];
	int k;

	*blobs = NULL;
	*nblobs = 0;
	while (p < end) {
		p = memchr(p, '"', (size_t)(end - p));
		if (!p)
			break;
		q = (char *)string_end(p + 1, end);
		if (q >= end)
			break;
		if (q - p - 1 != 8 || memcmp(p + 1, "b64_json", 8)) {
			p = q + 1;
			continue;
		}
		v = (char *)skip_ws(q + 1, end);
		if (v >= end || *v != ':') {
			p = q + 1;
			continue;
		}
		v = (char *)skip_ws(v + 1, end);
		if (v >= end || *v != '"') {
			p = v;
			continue;
		}
		ve = v + 1 + strcspn(v + 1, "\"\\");
		if (ve >= end || *ve != '"') {
			p = (char *)string_end(v + 1, end) + 1; /* escaped: the parser's job */
			continue;
		}
		if (ve - v - 1 < 16) { /* too short to be worth it */
			p = ve + 1;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			nb = realloc(b, cap * sizeof(*b));
			if (!nb)
				goto oom;
			b = nb;
		}
		memset(&b[n], 0, sizeof(b[n]));
		if (base64_decode(&b[n].data, &b[n].len, v + 1, (size_t)(ve - v - 1), BASE64_STRICT,
				  &e))
			snprintf(b[n].error, sizeof(b[n].error), "%.127s", e.msg);
		/* keep text[from .. v] (through the opening quote), then the tag */
		seg = (size_t)(v + 1 - from);
		memmove(w, from, seg);
		w += seg;
		k = snprintf(tag, sizeof(tag), "#%zu", n);
		memcpy(w, tag, (size_t)k);
		w += k;
		from = ve; /* the closing quote comes next */
		n++;
		p = ve + 1;
	}
	seg = (size_t)(end - from);
	memmove(w, from, seg);
	w += seg;
	*w = '\0';
	*len = (size_t)(w - text);
	*blobs = b;
	*nblobs = n;
	return 0;
oom:
	while (n--)
		free(b[n].data);
	free(b);
	return -1;
}

int openai_parse_reply(char *body, size_t len, struct openai_reply *out, struct err *err)
{
	const json_t *data, *e, *v;
	struct b64_blob *blobs;
	const char *b64;
	size_t i, idx;
	char *endp;

	memset(out, 0, sizeof(*out));
	if (!body)
		return err_set(err, "malformed JSON");
	if (extract_b64(body, &len, &blobs, &out->nblobs))
		return err_set(err, "out of memory");
	out->blobs = blobs;
	out->root = json_loadb(body, len, 0, NULL);
	if (!json_is_object(out->root)) {
		openai_reply_release(out);
		return err_set(err, "malformed JSON");
	}
	data = json_object_get(out->root, "data");
	if (!json_is_array(data)) {
		openai_reply_release(out);
		return err_set(err, "no data array in the response");
	}
	out->n = json_array_size(data);
	out->items = calloc(out->n ? out->n : 1, sizeof(*out->items));
	if (!out->items) {
		openai_reply_release(out);
		return err_set(err, "out of memory");
	}
	json_array_foreach (data, i, e) {
		struct openai_item *it = &out->items[i];

		b64 = str_field(e, "b64_json");
		if (b64 && b64[0] == '#') {
			/* a placeholder: base64 never holds '#' */
			idx = (size_t)strtoul(b64 + 1, &endp, 10);
			if (*endp || idx >= out->nblobs ||
			    (!blobs[idx].data && !blobs[idx].error[0])) {
				openai_reply_release(out);
				return err_set(err, "data[%zu] has a malformed b64_json", i);
			}
			if (blobs[idx].error[0]) {
				it->b64_error = blobs[idx].error;
			} else {
				/* the item owns the bytes from now on */
				it->data = blobs[idx].data;
				it->len = blobs[idx].len;
				blobs[idx].data = NULL;
			}
		} else {
			it->b64 = b64;
		}
		it->url = str_field(e, "url");
		it->revised_prompt = str_field(e, "revised_prompt");
		if (!b64 && !it->url) {
			openai_reply_release(out);
			return err_set(err, "data[%zu] has neither b64_json nor url", i);
		}
	}
	v = json_object_get(out->root, "usage");
	out->usage = json_is_object(v) ? v : NULL;
	v = json_object_get(out->root, "created");
	out->created = json_is_number(v) ? v : NULL;
	out->size = str_field(out->root, "size");
	out->quality = str_field(out->root, "quality");
	out->output_format = str_field(out->root, "output_format");
	out->background = str_field(out->root, "background");
	return 0;
}

/* Walk the JPEG marker segments to EOI; the size comes from the SOFn segment. */
static int check_jpeg(const unsigned char *d, size_t n, int *w, int *h, struct err *err)
{
	size_t i = 2, seg;
	unsigned char m;

	while (i < n) {
		if (d[i] != 0xff)
			return err_set(err, "corrupt JPEG (no marker at offset %zu)", i);
		while (i < n && d[i] == 0xff)
			i++;
		if (i >= n)
			break;
		m = d[i++];
		if (m == 0xd9)
			return i == n || n - i <= 16 ? 0 : err_set(err, "data after the JPEG end");
		if ((m >= 0xd0 && m <= 0xd7) || m == 0x01)
			continue;
		if (i + 2 > n)
			break;
		seg = bytes_be16(d + i);
		if (seg < 2 || i + seg > n)
			break;
		if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc && seg >= 7) {
			*h = (int)bytes_be16(d + i + 3);
			*w = (int)bytes_be16(d + i + 5);
		}
		i += seg;
		if (m == 0xda) {
			/* entropy-coded data: runs to the next marker that is not a stuffed
			 * 0xff00 or a restart marker */
			while (i + 1 < n && !(d[i] == 0xff && d[i + 1] != 0 &&
					      !(d[i + 1] >= 0xd0 && d[i + 1] <= 0xd7)))
				i++;
			if (i + 1 >= n)
				break;
		}
	}
	return err_set(err, "truncated JPEG (%zu bytes)", n);
}

static int check_webp(const unsigned char *d, size_t n, int *w, int *h, struct err *err)
{
	unsigned long riff = bytes_le32(d + 4);
	const unsigned char *c = d + 12, *p = d + 20;

	if (riff + 8 > n)
		return err_set(err, "truncated WebP (%zu of %lu bytes)", n, riff + 8);
	if (n < 30)
		return err_set(err, "truncated WebP (%zu bytes)", n);
	if (!memcmp(c, "VP8 ", 4) && p[3] == 0x9d && p[4] == 0x01 && p[5] == 0x2a) {
		*w = (int)((p[6] | p[7] << 8) & 0x3fff);
		*h = (int)((p[8] | p[9] << 8) & 0x3fff);
	} else if (!memcmp(c, "VP8L", 4) && p[0] == 0x2f) {
		unsigned long bits = bytes_le32(p + 1);

		*w = (int)(bits & 0x3fff) + 1;
		*h = (int)((bits >> 14) & 0x3fff) + 1;
	} else if (!memcmp(c, "VP8X", 4)) {
		*w = (int)(p[4] | p[5] << 8 | p[6] << 16) + 1;
		*h = (int)(p[7] | p[8] << 8 | p[9] << 16) + 1;
	} else {
		return err_set(err, "corrupt WebP (unknown first chunk)");
	}
	return 0;
}

int openai_check_image(const unsigned char *data, size_t len, char *mime, size_t mime_size,
		       int *width, int *height, struct err *err)
{
	unsigned pw = 0, ph = 0;

	*width = *height = 0;
	if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) {
		if (pngmeta_check(data, len, &pw, &ph, err))
			return -1;
		snprintf(mime, mime_size, "image/png");
		*width = (int)pw;
		*height = (int)ph;
		return 0;
	}
	if (len >= 4 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
		if (check_jpeg(data, len, width, height, err))
			return -1;
		snprintf(mime, mime_size, "image/jpeg");
		return 0;
	}
	if (len >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4)) {
		if (check_webp(data, len, width, height, err))
			return -1;
		snprintf(mime, mime_size, "image/webp");
		return 0;
	}
	return err_set(err, "not a PNG, JPEG or WebP image (%zu bytes)", len);
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

static int env_name_ok(const char *s)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

static int check_choice(const char *name, const char *key, const char *v, const char *a,
			const char *b, const char *c, struct err *err)
{
	if (!v || !strcmp(v, a) || !strcmp(v, b) || (c && !strcmp(v, c)))
		return 0;
	return err_key(err, key, "backends.%s.%s: '%s' is not one of %s, %s%s%s", name, key, v, a,
		       b, c ? ", " : "", c ? c : "");
}

static int openai_read_cfg(const char *name, const json_t *cfg, struct openai_cfg *c,
			   struct err *err)
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
	if (!env_name_ok(c->api_key_env)) {
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

static int openai_validate(const char *name, const json_t *cfg, struct err *err)
{
	struct openai_cfg c;

	return openai_read_cfg(name, cfg, &c, err);
}

/* imagen backends --check: GET {base_url}/models with the key. */
static int openai_check(struct backend *b, struct err *err)
{
	const struct openai_backend *o = (const struct openai_backend *)b;
	const char *headers[] = { o->auth, "Accept: application/json", NULL };
	size_t blen = strlen(o->cfg.base_url);
	char *url = NULL;
	int rc;

	while (blen && o->cfg.base_url[blen - 1] == '/')
		blen--;
	if (asprintf(&url, "%.*s/models", (int)blen, o->cfg.base_url) < 0)
		return err_code(err, 1, "out of memory");
	rc = backend_check_get(b, url, headers, NULL, err);
	free(url);
	return rc;
}

static void openai_close(struct backend *b)
{
	struct openai_backend *o = (struct openai_backend *)b;

	if (!o)
		return;
	if (o->auth) {
		/* the key leaves memory with the backend */
		memset(o->auth, 0, strlen(o->auth));
		free(o->auth);
	}
	free(o->endpoint);
	free(o->path);
	json_decref(o->slice);
	free(o->base.name);
	free(o);
}

static int openai_open(struct backend **out, const char *name, const json_t *cfg, struct err *err)
{
	struct openai_backend *o;
	const char *key, *s, *path;
	size_t blen;

	*out = NULL;
	if (!name)
		name = "openai";
	o = calloc(1, sizeof(*o));
	if (!o)
		return err_code(err, 1, "out of memory");
	o->base.ops = &openai_backend_ops;
	o->slice = json_deep_copy(cfg);
	o->base.name = strdup(name);
	if (!o->slice || !o->base.name) {
		openai_close(&o->base);
		return err_code(err, 1, "out of memory");
	}
	if (openai_read_cfg(name, o->slice, &o->cfg, err)) {
		openai_close(&o->base);
		return -1;
	}
	key = getenv(o->cfg.api_key_env);
	if (!key || !*key) {
		err_code(err, 2, "%s is not set", o->cfg.api_key_env);
		openai_close(&o->base);
		return -1;
	}
	for (s = key; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			/* a line break would smuggle headers into the request */
			err_code(err, 2, "%s contains a control character", o->cfg.api_key_env);
			openai_close(&o->base);
			return -1;
		}
	}
	blen = strlen(o->cfg.base_url);
	while (blen && o->cfg.base_url[blen - 1] == '/')
		blen--;
	if (asprintf(&o->endpoint, "%.*s/images/generations", (int)blen, o->cfg.base_url) < 0)
		o->endpoint = NULL;
	if (asprintf(&o->auth, "Authorization: Bearer %s", key) < 0)
		o->auth = NULL;
	if (o->endpoint) {
		path = strstr(o->endpoint, "://");
		path = path ? strchr(path + 3, '/') : NULL;
		o->path = strdup(path ? path : "/images/generations");
	}
	if (!o->endpoint || !o->auth || !o->path) {
		openai_close(&o->base);
		return err_code(err, 1, "out of memory");
	}
	*out = &o->base;
	return 0;
}

/* ---- one generation ----------------------------------------------------------------- */

/* --set overrides: strings for everything but output_compression. */
static int read_opts(const json_t *opts, struct openai_params *p, struct err *err)
{
	const char *key, *hint;
	const json_t *v;
	long long n;
	void *it;

	for (it = json_object_iter((json_t *)opts); it;
	     it = json_object_iter_next((json_t *)opts, it)) {
		size_t i;
		int known = 0;

		key = json_object_iter_key(it);
		v = json_object_iter_value(it);
		for (i = 0; openai_opt_keys[i]; i++)
			known |= !strcmp(openai_opt_keys[i], key);
		if (!known) {
			hint = suggest_closest(key, openai_opt_keys);
			return err_code(
				err, 2,
				"unknown option '%s' for the openai backend (known: quality, "
				"size, output_format, output_compression, background, "
				"moderation, style, response_format%s%s%s)",
				key, hint ? "; did you mean '" : "", hint ? hint : "",
				hint ? "'?" : "");
		}
		if (!strcmp(key, "output_compression")) {
			n = json_is_integer(v) ? json_integer_value(v) : -1;
			if (n < 0 || n > 100)
				return err_code(err, 2,
						"option output_compression: expected 0..100");
			p->output_compression = n;
			continue;
		}
		if (!json_is_string(v) || !*json_string_value(v))
			return err_code(err, 2, "option %s: expected a word such as %s", key,
					!strcmp(key, "quality") ? "high" : "png");
		if (!strcmp(key, "quality"))
			p->quality = json_string_value(v);
		else if (!strcmp(key, "size"))
			p->size = json_string_value(v);
		else if (!strcmp(key, "output_format"))
			p->output_format = json_string_value(v);
		else if (!strcmp(key, "background"))
			p->background = json_string_value(v);
		else if (!strcmp(key, "moderation"))
			p->moderation = json_string_value(v);
		else if (!strcmp(key, "style"))
			p->style = json_string_value(v);
		else
			p->response_format = json_string_value(v);
	}
	if (p->output_format && strcmp(p->output_format, "png") &&
	    strcmp(p->output_format, "jpeg") && strcmp(p->output_format, "webp"))
		return err_code(err, 2, "option output_format: '%s' is not one of png, jpeg, webp",
				p->output_format);
	if (p->response_format && strcmp(p->response_format, "url") &&
	    strcmp(p->response_format, "b64_json"))
		return err_code(err, 2, "option response_format: '%s' is not one of url, b64_json",
				p->response_format);
	return 0;
}

/* The request body: everything that was given, nothing the upstream would default. */
static json_t *build_body(const struct openai_backend *o, const char *prompt,
			  const struct openai_params *p, const char *size, int n)
{
	json_t *b = json_pack("{s:s, s:s, s:i}", "model", o->cfg.model, "prompt", prompt, "n", n);

	if (!b)
		return NULL;
	if (*size)
		json_object_set_new(b, "size", json_string(size));
	if (p->quality)
		json_object_set_new(b, "quality", json_string(p->quality));
	if (p->output_format)
		json_object_set_new(b, "output_format", json_string(p->output_format));
	if (p->output_compression >= 0)
		json_object_set_new(b, "output_compression", json_integer(p->output_compression));
	if (p->background)
		json_object_set_new(b, "background", json_string(p->background));
	if (p->moderation)
		json_object_set_new(b, "moderation", json_string(p->moderation));
	if (p->style)
		json_object_set_new(b, "style", json_string(p->style));
	if (p->response_format)
		json_object_set_new(b, "response_format", json_string(p->response_format));
	return b;
}

/* error.code of an OpenAI error body, into out ("" when none). */
/* An upstream text as one printable line (NULL reads as empty). */
static void clean_copy(char *out, size_t size, const char *in)
{
	http_clean_text(out, size, in ? in : "", in ? strlen(in) : 0);
}

static void error_code_of(const struct http_response *resp, char *out, size_t size)
{
	json_t *j;
	const json_t *e;

	out[0] = '\0';
	if (!resp->body.len || resp->body.len > 65536)
		return;
	j = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
	e = json_object_get(j, "error");
	if (json_is_object(e)) {
		const char *c = str_field(e, "code") ? str_field(e, "code") : str_field(e, "type");

		clean_copy(out, size, c ? c : "");
	}
	json_decref(j);
}

/* "HTTP 400 from POST /v1/images/generations: <message> (param size, code x)" */
static void describe_failure(const struct openai_backend *o, const char *what,
			     const struct http_response *resp, struct err *err)
{
	char msg[400] = "", param[64] = "", code[64] = "", tail[200] = "", attempts[32] = "";
	json_t *j = NULL;
	const json_t *e;

	if (resp->body.len && resp->body.len <= 65536)
		j = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
	e = json_object_get(j, "error");
	if (json_is_object(e)) {
		clean_copy(msg, sizeof(msg), str_field(e, "message"));
		clean_copy(param, sizeof(param), str_field(e, "param"));
		clean_copy(code, sizeof(code), str_field(e, "code"));
	}
	json_decref(j);
	if (!msg[0]) {
		char d[300];
		const char *colon;

		http_describe_status(d, sizeof(d), resp);
		colon = strchr(d, ':');
		if (colon)
			clean_copy(msg, sizeof(msg), colon + 2);
	}
	if (param[0] || code[0])
		snprintf(tail, sizeof(tail), " (%s%s%s%s%s)", param[0] ? "param " : "", param,
			 param[0] && code[0] ? ", " : "", code[0] ? "code " : "", code);
	if (resp->status == 401)
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), " (check %s)",
			 o->cfg.api_key_env);
	if (resp->attempts > 1)
		snprintf(attempts, sizeof(attempts), " after %d attempts", resp->attempts);
	err_code(err, 1, "HTTP %ld from %s%s%s%s%s", resp->status, what, attempts,
		 msg[0] ? ": " : "", msg, tail);
}

/*
 * POST under the common retry policy, with one exception from the protocol notes: a 429
 * whose error code is insufficient_quota (money, not rate) is final.  Returns 0 with the
 * last response (any status), -1 on transport failure or Ctrl-C (err->code 130).
 */
static int post_retry(const struct openai_backend *o, const struct imagen_request *req,
		      const char *body, int n, struct http_response *resp, struct err *err)
{
	const char *headers[] = { o->auth, "Content-Type: application/json",
				  "Accept: application/json", NULL };
	struct http_request hr;
	struct retry_policy pol = http_retry_default();
	double start = http_now_s(), delay;
	char code[64];
	int attempt, rc;
	long status;

	memset(&hr, 0, sizeof(hr));
	hr.method = "POST";
	hr.url = o->endpoint;
	hr.headers = headers;
	hr.body = body;
	hr.body_len = strlen(body);
	hr.timeout_ms = o->cfg.timeout_s * 1000L;
	hr.max_body = ((size_t)1 << 20) + (size_t)n * OPENAI_IMAGE_CAP;
	hr.label = o->base.name;
	hr.events = req->events;
	hr.progress_status = "generating"; /* the elapsed time keeps moving while OpenAI works */
	for (attempt = 1;; attempt++) {
		err_clear(err);
		rc = http_request(&hr, resp, err);
		resp->attempts = attempt;
		if (rc < 0 && err && err->code == HTTP_EXIT_CANCELED)
			return -1;
		status = rc < 0 ? 0 : resp->status;
		if (status == 429) {
			error_code_of(resp, code, sizeof(code));
			if (!strcmp(code, "insufficient_quota"))
				break;
		}
		if (!retry_decide(&pol, attempt, status, rc < 0 ? -1 : resp->retry_after,
				  http_now_s() - start, http_jitter(), &delay))
			break;
		if (ev_wants(req->events, EV_VERBOSE)) {
			char why[64];

			if (rc < 0)
				snprintf(why, sizeof(why), "transport error");
			else
				snprintf(why, sizeof(why), "HTTP %ld", status);
			ev_log(req->events, EV_VERBOSE, o->base.name,
			       "%s, retrying in %.1f s (attempt %d of %d)", why, delay, attempt + 1,
			       pol.max_attempts);
		}
		if (cancel_sleep(delay)) {
			http_response_release(resp);
			return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		}
	}
	if (rc < 0) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		if (attempt > 1)
			err_code(err, 1, "POST %s after %d attempts: %s", o->path, attempt, msg);
		else
			err_code(err, 1, "POST %s: %s", o->path, msg);
	}
	return rc;
}

/* GET an image url (no credentials: it is a signed link on another host). */
static int download(const struct openai_backend *o, const char *url, int index,
		    unsigned char **data, size_t *len, struct err *err)
{
	struct http_request hr;
	struct http_response resp;
	char safe[1024], what[1100];
	int rc;

	memset(&hr, 0, sizeof(hr));
	memset(&resp, 0, sizeof(resp));
	hr.url = url;
	hr.timeout_ms = o->cfg.timeout_s * 1000L;
	hr.max_body = OPENAI_IMAGE_CAP;
	hr.label = o->base.name;
	hr.events = o->base.events;
	http_redact_url(safe, sizeof(safe), url);
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return err_code(err, 1, "image %d: url is not http(s): %s", index, safe);
	rc = http_request_retry(&hr, NULL, &resp, err);
	if (rc < 0) {
		if (err && err->code != HTTP_EXIT_CANCELED)
			err_prefix(err, "downloading image %d", index);
		http_response_release(&resp);
		return -1;
	}
	if (resp.status < 200 || resp.status > 299) {
		snprintf(what, sizeof(what), "GET %s (image %d)", safe, index);
		describe_failure(o, what, &resp, err);
		http_response_release(&resp);
		return -1;
	}
	*data = buf_detach(&resp.body, len);
	http_response_release(&resp);
	if (!*data)
		return err_code(err, 1, "image %d: empty download from %s", index, safe);
	return 0;
}

/* The request body without prompt and model (they are in the sidecar already). */
static json_t *sent_fields(const json_t *body)
{
	json_t *s = json_deep_copy(body);

	json_object_del(s, "prompt");
	json_object_del(s, "model");
	return s;
}

static json_t *echo_fields(const struct openai_reply *r)
{
	json_t *e = json_object();

	if (r->created)
		json_object_set(e, "created", (json_t *)r->created);
	if (r->size)
		json_object_set_new(e, "size", json_string(r->size));
	if (r->quality)
		json_object_set_new(e, "quality", json_string(r->quality));
	if (r->output_format)
		json_object_set_new(e, "output_format", json_string(r->output_format));
	if (r->background)
		json_object_set_new(e, "background", json_string(r->background));
	return e;
}

/* One upstream call for n images into res[0..n-1]; *got says how many were filled. */
static int openai_request(struct openai_backend *o, const struct imagen_request *req,
			  const struct openai_params *p, const char *size, int n, int first,
			  struct imagen_result *res, int *got, struct err *err)
{
	struct http_response resp;
	struct openai_reply reply;
	struct err e2 = ERR_INIT;
	json_t *body;
	char *text, status[64], sizebuf[32], what[300];
	const char *quality, *cost_size;
	int rc, i, attempts, nimg;
	double elapsed;

	*got = 0;
	memset(&resp, 0, sizeof(resp));
	body = build_body(o, req->prompt ? req->prompt : "", p, size, n);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text) {
		json_decref(body);
		return err_code(err, 1, "out of memory");
	}
	snprintf(status, sizeof(status), n > 1 ? "generating %d images" : "generating", n);
	ev_status(req->events, status);
	rc = post_retry(o, req, text, n, &resp, err);
	free(text);
	if (rc < 0) {
		json_decref(body);
		http_response_release(&resp);
		return -1;
	}
	snprintf(what, sizeof(what), "POST %s", o->path);
	if (resp.status < 200 || resp.status > 299) {
		describe_failure(o, what, &resp, err);
		json_decref(body);
		http_response_release(&resp);
		return -1;
	}
	attempts = resp.attempts;
	elapsed = resp.elapsed_ms;
	rc = openai_parse_reply((char *)resp.body.data, resp.body.len, &reply, &e2);
	http_response_release(&resp); /* the parsed tree holds what is needed */
	if (rc < 0) {
		json_decref(body);
		if (!strcmp(e2.msg, "malformed JSON"))
			return err_code(err, 1, "upstream returned malformed JSON (%s)", what);
		return err_code(err, 1, "unexpected response to %s: %s", what, e2.msg);
	}

	quality = reply.quality ? reply.quality : p->quality;
	nimg = reply.n < (size_t)n ? (int)reply.n : n;
	for (i = 0; i < n && (size_t)i < reply.n; i++) {
		struct imagen_result *r = &res[i];
		struct openai_item *it = &reply.items[i];
		int w = 0, h = 0, index = first + i + 1;
		int from_url = !it->data && !it->b64_error && !it->b64;

		if (it->data) {
			r->data = it->data; /* taken from the reply */
			r->len = it->len;
			it->data = NULL;
		} else if (it->b64_error) {
			err_code(err, 1, "image %d of the response: %s", index, it->b64_error);
			goto fail;
		} else if (it->b64) {
			if (base64_decode(&r->data, &r->len, it->b64, strlen(it->b64),
					  BASE64_STRICT, &e2)) {
				err_code(err, 1, "image %d of the response: %s", index, e2.msg);
				goto fail;
			}
		} else if (download(o, it->url, index, &r->data, &r->len, err)) {
			goto fail;
		}
		if (openai_check_image(r->data, r->len, r->mime, sizeof(r->mime), &w, &h, &e2)) {
			err_code(err, 1, "image %d from the upstream is unusable: %s", index,
				 e2.msg);
			goto fail;
		}
		if ((!w || !h) && reply.size)
			openai_parse_wxh(reply.size, &w, &h);
		r->width = w;
		r->height = h;
		r->steps = 0;
		/* no seed upstream: number the images like the framework does (stays in
		 * 0..2^63-1) so each gets its own recorded seed and name */
		r->seed = (int64_t)(((uint64_t)req->seed + (uint64_t)(first + i)) &
				    (uint64_t)INT64_MAX);
		r->seed_honoured = 0;
		r->model = strdup(o->cfg.model);
		r->metadata = json_pack("{s:o, s:o, s:i, s:i, s:s, s:i, s:f}", "request",
					sent_fields(body), "response", echo_fields(&reply),
					"images_in_request", nimg, "image_index", i, "image_source",
					from_url ? "url" : "b64_json", "attempts", attempts,
					"elapsed_ms", elapsed);
		if (r->metadata && it->revised_prompt)
			json_object_set_new(r->metadata, "revised_prompt",
					    json_string(it->revised_prompt));
		if (r->metadata && reply.usage)
			json_object_set(r->metadata, "usage", (json_t *)reply.usage);
		if (r->metadata && req->negative_prompt && *req->negative_prompt)
			json_object_set_new(
				r->metadata, "negative_prompt",
				json_string(
					"not sent: the OpenAI Images API has no negative prompt"));
		if (reply.size && strcmp(reply.size, "auto")) {
			cost_size = reply.size;
		} else if (*size && strcmp(size, "auto")) {
			cost_size = size;
		} else {
			snprintf(sizebuf, sizeof(sizebuf), "%dx%d", w, h);
			cost_size = sizebuf;
		}
		r->cost = openai_cost(o->base.name, o->cfg.model, o->cfg.prices, reply.usage, nimg,
				      quality, cost_size);
		if (!r->model || !r->metadata || !r->cost) {
			err_code(err, 1, "out of memory");
			goto fail;
		}
		*got = i + 1;
	}
	if (reply.n < (size_t)n) {
		err_code(err, 1, "upstream returned %zu of the %d images asked for (%s)", reply.n,
			 n, what);
		openai_reply_release(&reply);
		json_decref(body);
		return -1;
	}
	openai_reply_release(&reply);
	json_decref(body);
	return 0;
fail:
	imagen_result_release(&res[i]);
	openai_reply_release(&reply);
	json_decref(body);
	return -1;
}

static int openai_generate(struct backend *b, const struct imagen_request *req,
			   struct imagen_result *res, size_t *nres, struct err *err)
{
	struct openai_backend *o = (struct openai_backend *)b;
	struct openai_params p = o->cfg.p;
	char size[32];
	int count = req->count > 0 ? req->count : 1, done = 0, got, n;

	*nres = 0;
	if (req->opts && read_opts(req->opts, &p, err))
		return -1;
	if (openai_pick_size(&o->cfg.sizes, req->width, req->height, p.size, size, sizeof(size),
			     err))
		return -1;
	/* more than max_n (dall-e-3: 1) images: several calls, one after the other */
	while (done < count) {
		n = count - done < o->cfg.max_n ? count - done : (int)o->cfg.max_n;
		if (openai_request(o, req, &p, size, n, done, res + done, &got, err)) {
			*nres = (size_t)(done + got);
			return -1;
		}
		done += got;
	}
	*nres = (size_t)done;
	return 0;
}

/* This adapter's instance in the sample imagen.yaml (`imagen config init`): one
 * NAME: with its keys, as a user would write it; it must pass validate(). */
static const char openai_sample[] =
	"# OpenAI Images API, or any server speaking it (set base_url).  No seed upstream.\n"
	"openai:\n"
	"  type: openai\n"
	"  model: gpt-image-1              # required; sent as is\n"
	"  api_key_env: OPENAI_API_KEY     # the NAME of the variable holding the key\n"
	"  base_url: https://api.openai.com/v1\n"
	"  quality: medium                 # low|medium|high|auto (dall-e-3: standard|hd)\n"
	"  size: 1024x1024                 # or auto; -W/-H must match an accepted size\n"
	"  sizes: [1024x1024, 1536x1024, 1024x1536]   # or any | flexible; default by model\n"
	"  output_format: png              # png|jpeg|webp (GPT image models)\n"
	"  output_compression: 90          # 0..100, jpeg/webp\n"
	"  background: auto                # transparent|opaque|auto\n"
	"  moderation: auto                # auto|low\n"
	"  style: vivid                    # dall-e-3 only\n"
	"  response_format: b64_json       # url|b64_json, DALL-E only\n"
	"  max_n: 10                       # images per request (dall-e-3 default: 1)\n"
	"  timeout: 600                    # seconds per attempt\n"
	"  prices:                         # USD; replaces the built-in entry of a model\n"
	"    gpt-image-1:\n"
	"      text_input_per_mtok: 5.0\n"
	"      image_input_per_mtok: 10.0\n"
	"      image_output_per_mtok: 40.0\n"
	"      per_image: {medium/1024x1024: 0.042}   # or one number\n";

const struct backend_ops openai_backend_ops = {
	.type = "openai",
	.summary = "OpenAI Images API (or a compatible server): b64_json or url, usage cost",
	.max_batch = OPENAI_MAX_N,
	.validate = openai_validate,
	.open = openai_open,
	.generate = openai_generate,
	.close = openai_close,
	.check = openai_check,
	.keys = openai_cfg_keys,
	.sample = openai_sample,
};
