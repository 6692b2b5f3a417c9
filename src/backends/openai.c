/* openai.c - the `openai` adapter: POST {base_url}/images/generations (OpenAI Images API or
 * any server speaking it), images from b64_json or a downloaded url, cost from usage tokens
 * or a per-image price.  This file is the request flow; the config slice, sizes and prices
 * are openai-config.c.  Wire facts: ../shared/protocols/openai-images.md. */
#include "backends/openai.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/adapter.h"
#include "core/backend.h"
#include "util/base64.h"
#include "util/buf.h"
#include "net/http.h"
#include "core/image.h"
#include "core/inputs.h"
#include "core/events.h"
#include "util/suggest.h"
#include "util/text.h"

/* what one image may weigh on the wire (base64 or download): a 4K PNG is ~25 MB */
#define OPENAI_IMAGE_CAP ((size_t)64 << 20)

struct openai_backend {
	struct backend base; /* first: the framework holds a struct backend * */
	json_t *slice;       /* deep copy of the config slice: cfg's strings point into it */
	struct openai_cfg cfg;
	char *endpoint;   /* {base_url}/images/generations */
	char *path;       /* its path, for messages: "/v1/images/generations" */
	char *auth;       /* "Authorization: Bearer KEY" - never printed */
	char *edits;      /* {base_url}/images/edits (--image) */
	char *edits_path; /* "/v1/images/edits" */
};

extern const struct backend_ops openai_backend_ops;

static const char *const openai_opt_keys[] = {
	"quality",    "size",       "output_format", "output_compression",
	"background", "moderation", "style",         "response_format",
	NULL,
};

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
	rc = http_check_get(b->name, url, headers, NULL, err);
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
	free(o->edits);
	free(o->edits_path);
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
	if (asprintf(&o->edits, "%.*s/images/edits", (int)blen, o->cfg.base_url) < 0)
		o->edits = NULL;
	if (asprintf(&o->auth, "Authorization: Bearer %s", key) < 0)
		o->auth = NULL;
	if (o->endpoint) {
		path = strstr(o->endpoint, "://");
		path = path ? strchr(path + 3, '/') : NULL;
		o->path = strdup(path ? path : "/images/generations");
	}
	if (o->edits) {
		path = strstr(o->edits, "://");
		path = path ? strchr(path + 3, '/') : NULL;
		o->edits_path = strdup(path ? path : "/images/edits");
	}
	if (!o->endpoint || !o->auth || !o->path || !o->edits || !o->edits_path) {
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

/* error.code (else error.type) of an OpenAI error body, into out ("" when none). */
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

		text_clean(out, size, c);
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
		text_clean(msg, sizeof(msg), str_field(e, "message"));
		text_clean(param, sizeof(param), str_field(e, "param"));
		text_clean(code, sizeof(code), str_field(e, "code"));
	}
	json_decref(j);
	if (!msg[0]) {
		char d[300];
		const char *colon;

		http_describe_status(d, sizeof(d), resp);
		colon = strchr(d, ':');
		if (colon)
			text_clean(msg, sizeof(msg), colon + 2);
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
	/* a 429 for insufficient_quota is money, not rate: nothing a later try changes */
	if (err && resp->status == 429 && !strcmp(code, "insufficient_quota"))
		err->kind = ERR_KIND_NONE;
}

/* The protocol notes' one exception to the common rules: a 429 whose error code is
 * insufficient_quota is money, not rate - asking again cannot help. */
static enum http_verdict openai_judge(void *arg, int rc, const struct http_response *resp,
				      const struct err *err)
{
	char code[64];

	if (rc == 0 && resp->status == 429) {
		error_code_of(resp, code, sizeof(code));
		if (!strcmp(code, "insufficient_quota"))
			return HTTP_VERDICT_FINAL;
	}
	return HTTP_VERDICT_POLICY;
}

/* POST the request under the common retry loop (a billed create: http.c never sends it
 * twice once it may have arrived).  Returns 0 with the last response (any status), -1 on
 * transport failure or Ctrl-C (err->code 130). */
static int post(const struct openai_backend *o, const struct imagen_request *req, const char *body,
		const struct http_part *parts, size_t nparts, int n, struct http_response *resp,
		struct err *err)
{
	const char *headers[] = { o->auth, "Content-Type: application/json",
				  "Accept: application/json", NULL };
	const char *form_headers[] = { o->auth, "Accept: application/json", NULL };
	struct http_request hr;

	memset(&hr, 0, sizeof(hr));
	hr.method = "POST";
	hr.url = nparts ? o->edits : o->endpoint;
	hr.headers = nparts ? form_headers : headers;
	hr.body = body;
	hr.body_len = strlen(body);
	hr.parts = parts; /* an edit: multipart, a create like any other (never re-sent) */
	hr.nparts = nparts;
	hr.timeout_ms = o->cfg.timeout_s * 1000L;
	hr.max_body = ((size_t)1 << 20) + (size_t)n * OPENAI_IMAGE_CAP;
	hr.label = o->base.name;
	hr.events = req->events;
	hr.progress_status = "generating"; /* the elapsed time keeps moving while OpenAI works */
	hr.judge = openai_judge;
	if (http_request_retry(&hr, NULL, resp, err) == 0)
		return 0;
	if (err && err->code != HTTP_EXIT_CANCELED) {
		err_prefix(err, "POST %s", nparts ? o->edits_path : o->path);
		err->code = 1;
	}
	return -1;
}

/* ---- edits (--image) ---------------------------------------------------------------- */

#define OPENAI_DALLE2_MAX_BYTES ((size_t)4 << 20) /* images and every mask: < 4 MB */
#define OPENAI_GPT_MAX_BYTES ((size_t)50 << 20)
#define OPENAI_MAX_INPUTS 16
#define FORM_MAX (16 + OPENAI_MAX_INPUTS + 1)

static int has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* What the model's edits take, checked before any request (code 2, naming the file). */
static int check_edit_inputs(const struct openai_backend *o, const struct imagen_request *req,
			     size_t mask_len, struct err *err)
{
	const char *m = o->cfg.model;
	const struct gen_input *in = &req->inputs[0];
	size_t i;

	if (has_prefix(m, "dall-e-3"))
		return err_code(err, 2,
				"--image %s: model dall-e-3 takes no image input (edits: dall-e-2 "
				"and the GPT image models)",
				in->path);
	if (has_prefix(m, "dall-e-2")) {
		if (req->ninputs > 1)
			return err_code(err, 2, "--image %s: dall-e-2 edits one image",
					req->inputs[1].path);
		if (in->format != IMAGE_PNG)
			return err_code(err, 2, "--image %s: dall-e-2 takes a PNG (this is %s)",
					in->path, image_mime(in->format));
		if (in->width != in->height)
			return err_code(err, 2,
					"--image %s: dall-e-2 takes a square image (this is %dx%d)",
					in->path, in->width, in->height);
		if (in->len >= OPENAI_DALLE2_MAX_BYTES)
			return err_code(err, 2,
					"--image %s: dall-e-2 takes less than 4 MB (this is %zu "
					"bytes)",
					in->path, in->len);
	} else {
		if (req->ninputs > OPENAI_MAX_INPUTS)
			return err_code(err, 2, "--image: %s takes at most %d images", m,
					OPENAI_MAX_INPUTS);
		for (i = 0; i < req->ninputs; i++)
			if (req->inputs[i].len >= OPENAI_GPT_MAX_BYTES)
				return err_code(err, 2,
						"--image %s: %s takes less than 50 MB a file",
						req->inputs[i].path, m);
	}
	if (req->mask && mask_len >= OPENAI_DALLE2_MAX_BYTES)
		return err_code(
			err, 2,
			"--mask %s: as an alpha mask it is %zu bytes, OpenAI takes less than "
			"4 MB",
			req->mask->path, mask_len);
	return 0;
}

/* The size for an edit that takes the input's: the accepted size nearest its shape. */
static void edit_size(const struct openai_sizes *s, int w, int h, char *out, size_t size)
{
	double want = (double)w / h, best = 1e9;
	int i, bi = -1, rw, rh;

	if (s->kind == OPENAI_SIZES_ANY) {
		snprintf(out, size, "%dx%d", w, h);
		return;
	}
	if (s->kind == OPENAI_SIZES_FLEXIBLE) {
		/* multiples of 16, at most 3840 a side and 3840x2160 pixels */
		size_round(w, h, 16, 3840, &rw, &rh);
		while ((long long)rw * rh > 3840LL * 2160) {
			size_round(rw * 9 / 10, rh * 9 / 10, 16, 3840, &rw, &rh);
		}
		snprintf(out, size, "%dx%d", rw, rh);
		return;
	}
	for (i = 0; i < s->n; i++) {
		double r = (double)s->w[i] / s->h[i], d = r > want ? r / want : want / r;

		if (d < best - 1e-9) {
			best = d;
			bi = i;
		}
	}
	if (bi < 0)
		out[0] = '\0';
	else
		snprintf(out, size, "%dx%d", s->w[bi], s->h[bi]);
}

/* The multipart form of an edit: the body's fields as text parts (what a generation
 * would send, minus the fields edits do not take), then the images and the mask. */
struct edit_form {
	struct http_part parts[FORM_MAX];
	size_t n;
	char nums[4][24];
	char names[OPENAI_MAX_INPUTS][24];
};

static void edit_form_build(struct edit_form *f, const json_t *body,
			    const struct imagen_request *req, const unsigned char *mask,
			    size_t mask_len)
{
	const char *key;
	json_t *v;
	size_t i, nn = 0;

	f->n = 0;
	json_object_foreach ((json_t *)body, key, v) {
		struct http_part *p;

		if (!strcmp(key, "moderation") || !strcmp(key, "style") || f->n >= 16)
			continue;
		p = &f->parts[f->n++];
		memset(p, 0, sizeof(*p));
		p->name = key;
		if (json_is_integer(v) && nn < 4) {
			snprintf(f->nums[nn], sizeof(f->nums[nn]), "%lld",
				 (long long)json_integer_value(v));
			p->data = f->nums[nn++];
		} else {
			p->data = json_is_string(v) ? json_string_value(v) : "";
		}
		p->len = strlen(p->data);
	}
	for (i = 0; i < req->ninputs && i < OPENAI_MAX_INPUTS; i++) {
		struct http_part *p = &f->parts[f->n++];

		snprintf(f->names[i], sizeof(f->names[i]), "image-%zu.%s", i + 1,
			 image_extension(req->inputs[i].format));
		p->name = req->ninputs > 1 ? "image[]" : "image";
		p->data = req->inputs[i].data;
		p->len = req->inputs[i].len;
		p->filename = f->names[i];
		p->type = image_mime(req->inputs[i].format);
	}
	if (mask) {
		struct http_part *p = &f->parts[f->n++];

		p->name = "mask";
		p->data = mask;
		p->len = mask_len;
		p->filename = "mask.png";
		p->type = "image/png";
	}
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
			  const unsigned char *mask, size_t mask_len, struct imagen_result *res,
			  int *got, struct err *err)
{
	struct edit_form form;
	struct http_response resp;
	struct openai_reply reply;
	struct err e2 = ERR_INIT;
	struct image_info info;
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
	form.n = 0;
	if (req->ninputs)
		edit_form_build(&form, body, req, mask, mask_len);
	rc = post(o, req, text, form.parts, form.n, n, &resp, err);
	free(text);
	if (rc < 0) {
		json_decref(body);
		http_response_release(&resp);
		return -1;
	}
	snprintf(what, sizeof(what), "POST %s", req->ninputs ? o->edits_path : o->path);
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
		if (image_check(r->data, r->len, &info, &e2)) {
			err_code(err, 1, "image %d from the upstream is unusable: %s", index,
				 e2.msg);
			goto fail;
		}
		snprintf(r->mime, sizeof(r->mime), "%s", image_mime(info.format));
		r->len = info.len; /* without anything after the image's end */
		w = info.width;
		h = info.height;
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
		r->no_strength = req->ninputs > 0; /* edits take no strength */
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
	int count = req->count > 0 ? req->count : 1, done = 0, got, n, rc = 0;
	unsigned char *mask = NULL;
	size_t mask_len = 0;

	*nres = 0;
	if (req->opts && read_opts(req->opts, &p, err))
		return -1;
	if (req->ninputs && req->mask &&
	    mask_encode(req->mask_map, req->mask->width, req->mask->height, MASK_ALPHA_REPAINT,
			&mask, &mask_len, err) < 0)
		return -1;
	if (req->ninputs && check_edit_inputs(o, req, mask_len, err) < 0) {
		free(mask);
		return -1;
	}
	if (req->size_from_input && !p.size) {
		edit_size(&o->cfg.sizes, req->width, req->height, size, sizeof(size));
	} else if (openai_pick_size(&o->cfg.sizes, req->size_from_input ? 0 : req->width,
				    req->size_from_input ? 0 : req->height, p.size, size,
				    sizeof(size), err)) {
		free(mask);
		return -1;
	}
	/* more than max_n (dall-e-3: 1) images: several calls, one after the other */
	while (done < count) {
		n = count - done < o->cfg.max_n ? count - done : (int)o->cfg.max_n;
		if (openai_request(o, req, &p, size, n, done, mask, mask_len, res + done, &got,
				   err)) {
			done += got;
			rc = -1;
			break;
		}
		done += got;
	}
	free(mask);
	*nres = (size_t)done;
	return rc;
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
