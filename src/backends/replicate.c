/* replicate.c - the `replicate` adapter: Replicate's HTTP API v1 (predictions).
 *
 * One generate() call runs one prediction per batch of at most max_outputs images
 * (input.num_outputs), created with `Prefer: wait=N` so fast models answer in the create
 * response; when the wait runs out the prediction is polled at urls.get until it ends.
 * Every output URL is downloaded into memory and checked before it is handed back.
 *
 * A create request is only retried when no prediction came of it: on a transport failure
 * the adapter first looks for the prediction in GET /predictions (matched by prompt, seed
 * and creation time) and carries on with it, so a dropped connection never bills twice.
 * The same lookup finds the prediction to cancel when Ctrl-C interrupts a create that
 * Replicate is holding open.
 *
 * This file is the predictions and downloads; the config slice, the known official
 * models and prices are replicate-config.c.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/replicate.h"
#include "core/adapter.h"
#include "core/backend.h"
#include "util/cancel.h"
#include "core/cost.h"
#include "net/http.h"
#include "core/image.h"
#include "core/inputs.h"
#include "core/events.h"
#include "util/base64.h"
#include "util/sha256.h"
#include "util/text.h"

#define RP_API_TIMEOUT_MS 60000L /* one poll / list request */
#define RP_CANCEL_TIMEOUT_MS 5000L
#define RP_DOWNLOAD_TIMEOUT_MS 300000L
#define RP_MAX_JSON ((size_t)16 << 20)
#define RP_MAX_IMAGE ((size_t)64 << 20)
#define RP_LOGS_TAIL 1000
#define RP_DATA_URI_MAX ((size_t)256 << 10) /* larger inputs go through the Files API */
#define RP_UPLOAD_TIMEOUT_MS 300000L
#define RP_ORPHAN_SKEW 30 /* seconds of clock difference tolerated when matching */

/* The aspect ratios Replicate's FLUX models accept (protocols/replicate.md §5). */
static const struct {
	const char *name;
	int w, h;
} rp_ratios[] = {
	{ "1:1", 1, 1 }, { "16:9", 16, 9 }, { "21:9", 21, 9 }, { "3:2", 3, 2 },
	{ "2:3", 2, 3 }, { "4:5", 4, 5 },   { "5:4", 5, 4 },   { "3:4", 3, 4 },
	{ "4:3", 4, 3 }, { "9:16", 9, 16 }, { "9:21", 9, 21 },
};

extern const struct backend_ops replicate_backend_ops;

static int replicate_validate(const char *name, const json_t *cfg, struct err *err)
{
	struct rp_cfg c;

	return rp_read_cfg(name, cfg, &c, err);
}

/* imagen backends --check: GET /v1/account, the cheap token check. */
static int replicate_check(struct backend *b, struct err *err)
{
	const struct rp_backend *r = (const struct rp_backend *)b;
	const char *headers[] = { r->auth, NULL };
	char *url = NULL;
	int rc;

	if (asprintf(&url, "%s/account", r->base_url) < 0)
		return err_code(err, 1, "out of memory");
	rc = http_check_get(b->name, url, headers, NULL, err);
	free(url);
	return rc;
}

static void replicate_close(struct backend *b)
{
	struct rp_backend *r = (struct rp_backend *)b;

	if (!r)
		return;
	if (r->auth) {
		explicit_bzero(r->auth, strlen(r->auth));
		free(r->auth);
	}
	free(r->model);
	free(r->version);
	free(r->base_url);
	free(r->neg_key);
	free(r->in_image);
	free(r->in_mask);
	free(r->in_strength);
	json_decref(r->input);
	json_decref(r->prices);
	free(r->base.name);
	free(r);
}

static int replicate_open(struct backend **out, const char *name, const json_t *cfg,
			  struct err *err)
{
	const struct rp_known *known;
	struct rp_backend *r;
	struct rp_cfg c;
	const char *colon, *token;
	size_t n;

	*out = NULL;
	if (rp_read_cfg(name, cfg, &c, err) < 0)
		return -1;
	token = getenv(c.token_env);
	if (!token || !*token)
		return err_code(err, 2, "%s is not set", c.token_env);
	if (strpbrk(token, "\r\n"))
		return err_code(err, 2, "%s holds a line break", c.token_env);

	r = calloc(1, sizeof(*r));
	if (!r)
		return err_code(err, 1, "out of memory");
	r->base.ops = &replicate_backend_ops;
	r->base.name = strdup(name);
	rp_check_model(c.model, &colon);
	n = colon ? (size_t)(colon - c.model) : strlen(c.model);
	r->model = strndup(c.model, n);
	if (colon)
		r->version = strdup(colon + 1);
	r->base_url = strdup(c.base_url);
	if (asprintf(&r->auth, "Authorization: Bearer %s", token) < 0)
		r->auth = NULL;
	if (!r->base.name || !r->model || (colon && !r->version) || !r->base_url || !r->auth)
		goto nomem;
	n = strlen(r->base_url);
	while (n && r->base_url[n - 1] == '/')
		r->base_url[--n] = '\0';

	known = rp_known_find(r->model, strlen(r->model));
	r->size = known ? known->size : SIZE_WIDTH_HEIGHT;
	if (c.has_size)
		r->size = !strcmp(c.size, "aspect_ratio") ? SIZE_ASPECT_RATIO
			  : !strcmp(c.size, "none")       ? SIZE_NONE
							  : SIZE_WIDTH_HEIGHT;
	if (c.has_neg_key)
		r->neg_key = *c.neg_key ? strdup(c.neg_key) : NULL;
	else if (!known || known->negative)
		r->neg_key = strdup("negative_prompt");
	if ((c.has_neg_key ? *c.neg_key != 0 : !known || known->negative) && !r->neg_key)
		goto nomem;
	r->max_outputs = (int)(c.has_max_outputs ? c.max_outputs
			       : known           ? known->max_outputs
						 : RP_MAX_BATCH);
	r->wait_s = (int)c.wait_s;
	r->poll_ms = (long)c.poll_ms;
	r->timeout_s = (long)c.timeout_s;
	r->input = c.input ? json_deep_copy(c.input) : NULL;
	if ((c.in_image && !(r->in_image = strdup(c.in_image))) ||
	    (c.in_mask && !(r->in_mask = strdup(c.in_mask))) ||
	    (c.in_strength && !(r->in_strength = strdup(c.in_strength))))
		goto nomem;
	r->prices = c.prices ? json_deep_copy(c.prices) : NULL;
	if ((c.input && !r->input) || (c.prices && !r->prices))
		goto nomem;
	*out = &r->base;
	return 0;
nomem:
	replicate_close(&r->base);
	return err_code(err, 1, "out of memory");
}

/* ---- small helpers ---------------------------------------------------------------------- */

/* The path (and query, redacted) of a URL, for messages: "/v1/predictions/abc". */
static void url_path(char *out, size_t size, const char *url)
{
	char red[2048];
	const char *p;

	http_redact_url(red, sizeof(red), url);
	p = strstr(red, "://");
	p = p ? p + 3 : red;
	p += strcspn(p, "/?#");
	snprintf(out, size, "%s", *p ? p : "/");
}

/* Length of "scheme://host[:port]" at the start of url. */
static size_t origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p)
		return 0;
	p += 3;
	return (size_t)(p - url) + strcspn(p, "/?#");
}

static int same_origin(const char *a, const char *b)
{
	size_t n = origin_len(a);

	return n && n == origin_len(b) && !strncasecmp(a, b, n);
}

/* Replicate's file host, where the API reference says to send the token as well. */
static int delivery_host(const char *url)
{
	const char *h = strstr(url, "://");
	size_t n;

	if (!h || strncmp(url, "https://", 8))
		return 0;
	h += 3;
	n = strcspn(h, "/?#:@");
	if (h[n] == '@')
		return 0; /* userinfo in a file URL: not one of Replicate's */
	return (n == 18 && !strncasecmp(h, "replicate.delivery", 18)) ||
	       (n > 19 && !strncasecmp(h + n - 19, ".replicate.delivery", 19));
}

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int terminal_status(const char *s)
{
	return !strcmp(s, "succeeded") || !strcmp(s, "failed") || !strcmp(s, "canceled") ||
	       !strcmp(s, "aborted");
}

/* "2025-06-01T10:00:00.120Z" -> seconds since the epoch, -1 when unreadable. */
static time_t parse_utc(const char *s)
{
	struct tm tm;
	int n = 0;

	if (!s)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n < 19)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/* ---- the request ------------------------------------------------------------------------ */

/* "3.5" from --set is meant as a number: models take floats (guidance, strength). */
static json_t *typed_opt(const json_t *v)
{
	const char *s, *p;
	char *end;
	double d;

	if (!json_is_string(v))
		return json_deep_copy(v);
	s = json_string_value(v);
	p = s + (*s == '-');
	if (!isdigit((unsigned char)*p))
		return json_deep_copy(v);
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != '.' || !isdigit((unsigned char)*p))
		return json_deep_copy(v);
	while (isdigit((unsigned char)*p))
		p++;
	if (*p)
		return json_deep_copy(v);
	errno = 0;
	d = strtod(s, &end);
	if (errno || *end || !isfinite(d))
		return json_deep_copy(v);
	return json_real(d);
}

/* The nearest accepted aspect ratio to w:h (by log ratio). */
static const char *nearest_ratio(int w, int h)
{
	double want = log((double)w / h), best = INFINITY, d;
	const char *name = "1:1";
	size_t i;

	for (i = 0; i < sizeof(rp_ratios) / sizeof(rp_ratios[0]); i++) {
		d = fabs(want - log((double)rp_ratios[i].w / rp_ratios[i].h));
		if (d < best - 1e-12) {
			best = d;
			name = rp_ratios[i].name;
		}
	}
	return name;
}

static int utf8_ok(const char *s)
{
	json_t *j;
	int ok;

	if (!s)
		return 1;
	j = json_string(s);
	ok = j != NULL;
	json_decref(j);
	return ok;
}

/* Merge src into dst (null values remove the key). */
static int merge_input(json_t *dst, const json_t *src, int from_opts)
{
	const char *k;
	json_t *v, *nv;

	json_object_foreach ((json_t *)src, k, v) {
		if (json_is_null(v)) {
			json_object_del(dst, k);
			continue;
		}
		nv = from_opts ? typed_opt(v) : json_deep_copy(v);
		if (!nv || json_object_set_new(dst, k, nv) < 0)
			return -1;
	}
	return 0;
}

/*
 * The prediction input: mapped common fields, then config `input`, then --set (later
 * wins; a null removes a key).  prompt, seed and num_outputs are always imagen's.
 */
static json_t *rp_build_input(const struct rp_backend *r, const struct imagen_request *req,
			      const json_t *files, int count, int64_t seed, struct err *err)
{
	int bad, w = req->width, h = req->height;
	json_t *in;

	if (req->size_from_input) /* the input's size, in 8-pixel blocks as models want */
		size_round(w, h, 8, 0, &w, &h);

	/* JSON carries UTF-8 only: say so rather than "out of memory" */
	if (!utf8_ok(req->prompt) || !utf8_ok(req->negative_prompt)) {
		err_code(err, 2, "the %s is not valid UTF-8",
			 utf8_ok(req->prompt) ? "negative prompt" : "prompt");
		return NULL;
	}
	in = json_object();
	bad = !in;
	if (in) {
		bad |= json_object_set_new(in, "prompt",
					   json_string(req->prompt ? req->prompt : ""));
		if (r->neg_key && req->negative_prompt && *req->negative_prompt)
			bad |= json_object_set_new(in, r->neg_key,
						   json_string(req->negative_prompt));
		bad |= json_object_set_new(in, "seed", json_integer((json_int_t)seed));
		if (r->max_outputs > 1)
			bad |= json_object_set_new(in, "num_outputs", json_integer(count));
		if (r->size == SIZE_WIDTH_HEIGHT) {
			if (w > 0)
				bad |= json_object_set_new(in, "width", json_integer(w));
			if (h > 0)
				bad |= json_object_set_new(in, "height", json_integer(h));
		} else if (r->size == SIZE_ASPECT_RATIO && w > 0 && h > 0) {
			bad |= json_object_set_new(in, "aspect_ratio",
						   json_string(nearest_ratio(w, h)));
		}
		if (req->steps > 0)
			bad |= json_object_set_new(in, "num_inference_steps",
						   json_integer(req->steps));
		bad |= json_object_set_new(in, "output_format", json_string("png"));
		if (r->input)
			bad |= merge_input(in, r->input, 0);
		if (req->opts)
			bad |= merge_input(in, req->opts, 1);
		/* the inputs are imagen's, as the record says them */
		if (files)
			bad |= json_object_update(in, (json_t *)files);
	}
	if (bad) {
		json_decref(in);
		err_code(err, 1, "out of memory");
		return NULL;
	}
	return in;
}

/* --set keys imagen owns are refused before anything is sent. */
static int rp_check_opts(const json_t *opts, struct err *err)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)opts, k, v) {
		if (rp_reserved_key(k))
			return err_code(err, 2,
					"option '%s' is set by imagen (use the prompt argument, "
					"--seed or --count)",
					k);
	}
	return 0;
}

/* ---- talking to the API ----------------------------------------------------------------- */

/* SEND_RETRY: the common retry loop (GET); SEND_CREATE: the same under the create's
 * judge; SEND_ONCE: one attempt; SEND_CANCEL: one attempt that ignores Ctrl-C. */
enum { SEND_RETRY, SEND_CREATE, SEND_ONCE, SEND_CANCEL };

struct rp_create_ctx;
static enum http_verdict rp_create_judge(void *arg, int rc, const struct http_response *resp,
					 const struct err *err);

static int rp_send(const struct rp_backend *r, const char *method, const char *url,
		   const char *body, const char *prefer, long timeout_ms, int mode,
		   struct rp_create_ctx *create, struct http_response *resp, struct err *err)
{
	const char *hdrs[5];
	struct http_request hr;
	size_t n = 0;

	hdrs[n++] = r->auth;
	hdrs[n++] = "Accept: application/json";
	if (body)
		hdrs[n++] = "Content-Type: application/json";
	if (prefer)
		hdrs[n++] = prefer;
	hdrs[n] = NULL;
	memset(&hr, 0, sizeof(hr));
	hr.method = method;
	hr.url = url;
	hr.headers = hdrs;
	hr.body = body;
	hr.body_len = body ? strlen(body) : 0;
	hr.timeout_ms = timeout_ms;
	hr.max_body = RP_MAX_JSON;
	hr.no_cancel = mode == SEND_CANCEL;
	hr.label = r->base.name;
	hr.events = r->base.events;
	if (mode == SEND_CREATE) {
		/* a create held open by Prefer: wait still shows the time going by */
		hr.progress_status = "starting";
		hr.judge = rp_create_judge;
		hr.judge_arg = create;
	}
	if (mode == SEND_RETRY || mode == SEND_CREATE)
		return http_request_retry(&hr, NULL, resp, err);
	return http_request(&hr, resp, err);
}

/* "HTTP 422 from POST /v1/predictions[ after 3 attempts]: <upstream detail>". */
static int rp_http_error(struct err *err, const struct http_response *resp, const char *method,
			 const char *path)
{
	char what[512], n[48] = "";
	const char *text;

	http_describe_status(what, sizeof(what), resp);
	text = strchr(what, ':');
	if (resp->attempts > 1)
		snprintf(n, sizeof(n), " after %d attempts", resp->attempts);
	return err_code(err, 1, "HTTP %ld from %s %s%s%s%s%s", resp->status, method, path, n,
			text ? text : "", resp->status == 401 ? " (check the token)" : "",
			resp->status == 402 ? " (check the account's credit)" : "");
}

/* A 2xx JSON object from resp, or an error naming the request. */
static json_t *rp_parse(const struct http_response *resp, const char *method, const char *url,
			struct err *err)
{
	char path[512];
	json_t *j;

	url_path(path, sizeof(path), url);
	if (resp->status < 200 || resp->status > 299) {
		rp_http_error(err, resp, method, path);
		return NULL;
	}
	j = json_loadb(resp->body.data ? (const char *)resp->body.data : "", resp->body.len, 0,
		       NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		err_code(err, 1, "upstream returned malformed JSON (%s %s)", method, path);
		return NULL;
	}
	return j;
}

static int rp_check_prediction(const json_t *p, const char *method, const char *url,
			       struct err *err)
{
	char path[512];

	if (jstr(p, "id") && *jstr(p, "id") && jstr(p, "status"))
		return 0;
	url_path(path, sizeof(path), url);
	return err_code(err, 1, "upstream returned a prediction without id or status (%s %s)",
			method, path);
}

/* The prediction's own URL for `what` ("get"/"cancel"): urls.* when it is on the API's
 * origin (the token goes nowhere else), otherwise built from base_url. */
static char *rp_pred_url(const struct rp_backend *r, const json_t *pred, const char *what)
{
	const char *u = jstr(json_object_get(pred, "urls"), what);
	char *out = NULL, *id;

	if (u && same_origin(u, r->base_url))
		return strdup(u);
	id = http_escape(jstr(pred, "id"));
	if (id && asprintf(&out, "%s/predictions/%s%s", r->base_url, id,
			   strcmp(what, "cancel") ? "" : "/cancel") < 0)
		out = NULL;
	free(id);
	return out;
}

/* Ask Replicate to stop a prediction; best effort, the result is ignored. */
static void rp_cancel(const struct rp_backend *r, const json_t *pred)
{
	struct http_response resp;
	struct err e = ERR_INIT;
	char *url = rp_pred_url(r, pred, "cancel");

	if (!url)
		return;
	memset(&resp, 0, sizeof(resp));
	rp_send(r, "POST", url, NULL, NULL, RP_CANCEL_TIMEOUT_MS, SEND_CANCEL, NULL, &resp, &e);
	ev_log(r->base.events, EV_VERBOSE, r->base.name,
	       "asked Replicate to cancel prediction %s (%s)", jstr(pred, "id"),
	       resp.status ? (resp.status < 300 ? "accepted" : "refused") : e.msg);
	http_response_release(&resp);
	free(url);
}

/*
 * A prediction of ours that a failed or interrupted create request may have left behind:
 * the newest in the first page of GET /predictions with our model, prompt and seed, not
 * canceled or aborted, created after `since` (minus some clock skew).  NULL when none
 * (or the lookup failed).
 */
static json_t *rp_find_orphan(const struct rp_backend *r, const json_t *input, time_t since,
			      int no_cancel)
{
	struct http_response resp;
	struct err e = ERR_INIT;
	json_t *list, *item, *found = NULL;
	char *url = NULL;
	const char *model;
	time_t created;
	size_t i;

	if (asprintf(&url, "%s/predictions", r->base_url) < 0)
		return NULL;
	memset(&resp, 0, sizeof(resp));
	if (rp_send(r, "GET", url, NULL, NULL, no_cancel ? RP_CANCEL_TIMEOUT_MS : 10000L,
		    no_cancel ? SEND_CANCEL : SEND_ONCE, NULL, &resp, &e) == 0) {
		list = rp_parse(&resp, "GET", url, &e);
		json_array_foreach (json_object_get(list, "results"), i, item) {
			const json_t *in = json_object_get(item, "input");

			model = jstr(item, "model");
			created = parse_utc(jstr(item, "created_at"));
			/* a canceled or aborted one is an earlier run's, never ours to adopt */
			if (!jstr(item, "id") || !jstr(item, "status") ||
			    !strcmp(jstr(item, "status"), "canceled") ||
			    !strcmp(jstr(item, "status"), "aborted") ||
			    !json_equal(json_object_get(in, "prompt"),
					json_object_get(input, "prompt")) ||
			    !json_equal(json_object_get(in, "seed"),
					json_object_get(input, "seed")) ||
			    (model && strcmp(model, r->model)) ||
			    (created >= 0 && created < since - RP_ORPHAN_SKEW))
				continue;
			found = json_incref(item);
			break;
		}
		json_decref(list);
	}
	http_response_release(&resp);
	free(url);
	return found;
}

/* A create we cannot follow (interrupted, unreadable answer) may have started a
 * prediction: find it and ask Replicate to stop it, ignoring Ctrl-C while doing so. */
static void rp_stop_orphan(const struct rp_backend *r, const json_t *input, time_t since)
{
	json_t *pred = rp_find_orphan(r, input, since, 1);

	if (pred && !terminal_status(jstr(pred, "status")))
		rp_cancel(r, pred);
	json_decref(pred);
}

/* What the create's judge knows and finds. */
struct rp_create_ctx {
	const struct rp_backend *r;
	const json_t *input;
	time_t since;  /* wall clock when the first attempt started */
	json_t *found; /* a prediction of ours a failed attempt left upstream (own reference) */
};

/*
 * Replicate's no-double-create rule, as the retry loop's judge.  An answer (any status)
 * and a create that never left follow the usual rules.  A create that may have reached
 * Replicate is not sent again blindly: the prediction it may have started is looked for
 * (GET /predictions: our model, prompt and seed, created since the first attempt); found,
 * it is adopted (FINAL, ctx->found); not found, Replicate never got it, so sending it
 * again cannot bill twice (RETRY).  Ctrl-C during the lookup ends the loop.
 */
static enum http_verdict rp_create_judge(void *arg, int rc, const struct http_response *resp,
					 const struct err *err)
{
	struct rp_create_ctx *x = arg;

	if (rc == 0 || !resp->sent)
		return HTTP_VERDICT_POLICY;
	x->found = rp_find_orphan(x->r, x->input, x->since, 0);
	if (x->found || cancel_requested())
		return HTTP_VERDICT_FINAL;
	return HTTP_VERDICT_RETRY;
}

/*
 * POST the prediction.  Returns the prediction (new reference) or NULL with err set.
 * 429 and 5xx are retried under the usual policy (Retry-After or the body's retry_after
 * honoured by http.c); a transport failure as rp_create_judge says; other statuses are
 * final.  A create we cannot follow (interrupted, unreadable answer) is found and stopped.
 */
static json_t *rp_create(const struct rp_backend *r, const char *url, const char *body,
			 const json_t *input, struct err *err)
{
	struct rp_create_ctx x = { r, input, time(NULL), NULL };
	struct http_response resp;
	char prefer[32], *prefer_p = NULL, path[512];
	json_t *pred = NULL;
	int rc;

	if (r->wait_s > 0) {
		snprintf(prefer, sizeof(prefer), "Prefer: wait=%d", r->wait_s);
		prefer_p = prefer;
	}
	memset(&resp, 0, sizeof(resp));
	url_path(path, sizeof(path), url);
	/* Replicate holds the request up to wait_s: allow that plus a margin */
	rc = rp_send(r, "POST", url, body, prefer_p, (r->wait_s + 30) * 1000L, SEND_CREATE, &x,
		     &resp, err);
	if ((rc < 0 && err->code == HTTP_EXIT_CANCELED) || cancel_requested()) {
		/* Replicate may be running it already (a lookup cut short proves nothing) */
		json_decref(x.found);
		rp_stop_orphan(r, input, x.since);
		err_code(err, HTTP_EXIT_CANCELED, "interrupted");
	} else if (x.found) {
		ev_log(r->base.events, EV_VERBOSE, r->base.name,
		       "%s; carrying on with prediction %s", err->msg, jstr(x.found, "id"));
		err_clear(err);
		pred = x.found;
	} else if (rc < 0) {
		err_prefix(err, "POST %s", path);
		err->code = 1;
	} else if (resp.status >= 200 && resp.status <= 299) {
		pred = rp_parse(&resp, "POST", url, err);
		if (pred && rp_check_prediction(pred, "POST", url, err) < 0) {
			json_decref(pred);
			pred = NULL;
		}
		if (!pred) /* created, but we cannot follow it: stop it, not pay */
			rp_stop_orphan(r, input, x.since);
	} else {
		rp_http_error(err, &resp, "POST", path);
	}
	http_response_release(&resp);
	return pred;
}

/* Poll until the prediction ends.  *pred is replaced by each fresh copy. */
static int rp_wait(const struct rp_backend *r, const struct imagen_request *req, json_t **pred,
		   int *polls, struct err *err)
{
	struct http_response resp;
	double deadline = http_now_s() + (double)r->timeout_s;
	const char *status = jstr(*pred, "status");
	char *url = rp_pred_url(r, *pred, "get");
	json_t *next;
	int rc = -1;

	memset(&resp, 0, sizeof(resp));
	if (!url)
		return err_code(err, 1, "out of memory");
	while (!terminal_status(status)) {
		ev_status(req->events, status);
		if (http_now_s() > deadline) {
			rp_cancel(r, *pred);
			err_code(err, 1,
				 "prediction %s still %s after %ld s (asked Replicate to "
				 "cancel it)",
				 jstr(*pred, "id"), status, r->timeout_s);
			goto out;
		}
		if (cancel_sleep((double)r->poll_ms / 1e3)) {
			rp_cancel(r, *pred);
			err_code(err, HTTP_EXIT_CANCELED, "interrupted");
			goto out;
		}
		if (rp_send(r, "GET", url, NULL, NULL, RP_API_TIMEOUT_MS, SEND_RETRY, NULL, &resp,
			    err) < 0) {
			/* whatever happened, nobody will collect this prediction's output */
			rp_cancel(r, *pred);
			if (err->code != HTTP_EXIT_CANCELED) {
				char path[512];

				url_path(path, sizeof(path), url);
				err_prefix(err, "GET %s", path);
			}
			goto out;
		}
		(*polls)++;
		next = rp_parse(&resp, "GET", url, err);
		if (!next || rp_check_prediction(next, "GET", url, err) < 0) {
			json_decref(next);
			rp_cancel(r, *pred);
			goto out;
		}
		if (strcmp(status, jstr(next, "status")))
			ev_log(req->events, EV_VERBOSE, r->base.name, "prediction %s %s",
			       jstr(next, "id"), jstr(next, "status"));
		json_decref(*pred);
		*pred = next;
		status = jstr(next, "status");
	}
	rc = 0;
out:
	http_response_release(&resp);
	free(url);
	return rc;
}

/* ---- outputs ---------------------------------------------------------------------------- */

/* Download one output; on success res has data, mime, width and height. */
static int rp_fetch(const struct rp_backend *r, const char *url, int index, int total,
		    struct imagen_result *res, struct err *err)
{
	struct http_response resp;
	struct http_request hr;
	struct err e = ERR_INIT;
	const char *hdrs[3] = { NULL, NULL, NULL };
	unsigned char *d = NULL;
	size_t n = 0;
	enum image_format fmt;
	struct image_info info;
	char path[512];

	if (!strncmp(url, "data:", 5))
		snprintf(path, sizeof(path), "a data: URL");
	else
		url_path(path, sizeof(path), url);
	if (!strncmp(url, "data:", 5)) {
		if (base64_decode_text(&d, &n, url, strlen(url), NULL) < 0)
			return err_code(err, 1,
					"output %d of %d is a data URL without base64 image "
					"data",
					index + 1, total);
	} else if (!strncmp(url, "http://", 7) || !strncmp(url, "https://", 8)) {
		memset(&hr, 0, sizeof(hr));
		memset(&resp, 0, sizeof(resp));
		/* the token only goes to the API's own origin and Replicate's file host */
		if (same_origin(url, r->base_url) || delivery_host(url))
			hdrs[0] = r->auth;
		hr.url = url;
		hr.headers = hdrs[0] ? hdrs : NULL;
		hr.timeout_ms = RP_DOWNLOAD_TIMEOUT_MS;
		hr.max_body = RP_MAX_IMAGE;
		hr.label = r->base.name;
		hr.events = r->base.events;
		if (http_request_retry(&hr, NULL, &resp, &e) < 0) {
			http_response_release(&resp);
			if (e.code == HTTP_EXIT_CANCELED)
				return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
			return err_code(err, 1, "cannot download output %d of %d (GET %s): %s",
					index + 1, total, path, e.msg);
		}
		if (resp.status < 200 || resp.status > 299) {
			rp_http_error(&e, &resp, "GET", path);
			http_response_release(&resp);
			return err_code(err, 1, "cannot download output %d of %d: %s", index + 1,
					total, e.msg);
		}
		d = buf_detach(&resp.body, &n);
		http_response_release(&resp);
	} else {
		return err_code(err, 1, "output %d of %d is not a URL imagen can download",
				index + 1, total);
	}

	fmt = image_sniff(d, n);
	if (fmt == IMAGE_NONE) {
		free(d);
		return err_code(err, 1, "output %d of %d is not an image (%zu bytes from %s%s)",
				index + 1, total, n, *path == '/' ? "GET " : "", path);
	}
	if (image_check(d, n, &info, &e) < 0) {
		free(d);
		return err_code(err, 1, "output %d of %d is not a valid %s: %s (%s%s)", index + 1,
				total,
				fmt == IMAGE_PNG    ? "PNG"
				: fmt == IMAGE_JPEG ? "JPEG"
						    : "WebP",
				e.msg, *path == '/' ? "GET " : "", path);
	}
	snprintf(res->mime, sizeof(res->mime), "%s", image_mime(info.format));
	res->data = d;
	res->len = info.len; /* without anything after the image's end */
	res->width = info.width;
	res->height = info.height;
	return 0;
}

/* ---- cost ------------------------------------------------------------------------------- */

/* USD figures to 1e-10: 3 x 0.003 is 0.009 in the record, not 0.009000000000000001. */
static double usd_round(double v)
{
	return round(v * 1e10) / 1e10;
}

/* The cost record of one image of a prediction that made n images (new reference). */
static json_t *rp_cost(const struct rp_backend *r, const char *full, const json_t *pred, int n)
{
	const char *source = "default", *id = jstr(pred, "id");
	const json_t *price, *pt;
	json_t *owned, *cost;
	double each, unit;
	char reason[512];

	price = rp_price(r, full, &owned, &source);
	if (!price) {
		snprintf(reason, sizeof(reason), "no price for model %s (set backends.%s.prices)",
			 r->model, r->base.name);
		return cost_unknown(reason);
	}
	if (json_object_get(price, "per_image")) {
		unit = json_number_value(json_object_get(price, "per_image"));
		cost = cost_known(
			unit, "per-image price", source,
			json_pack("{s:f, s:i, s:f, s:s?, s:s}", "per_image", unit,
				  "images_in_prediction", n, "prediction_usd", usd_round(unit * n),
				  "prediction_id", id, "split",
				  "each image of the prediction is billed at the per-image "
				  "price"));
		json_decref(owned);
		return cost;
	}
	unit = json_number_value(json_object_get(price, "per_second"));
	json_decref(owned);
	pt = json_object_get(json_object_get(pred, "metrics"), "predict_time");
	if (!json_is_number(pt)) {
		snprintf(reason, sizeof(reason),
			 "prediction %s reports no metrics.predict_time for the per_second price",
			 id ? id : "?");
		return cost_unknown(reason);
	}
	each = usd_round(json_number_value(pt) * unit / n);
	return cost_known(each, "predict_time x per-second price", source,
			  json_pack("{s:f, s:f, s:f, s:i, s:s?, s:s}", "per_second", unit,
				    "predict_time", json_number_value(pt), "prediction_usd",
				    usd_round(json_number_value(pt) * unit), "images_in_prediction",
				    n, "prediction_id", id, "split",
				    "the prediction's cost divided equally among its images"));
}

/* ---- one prediction --------------------------------------------------------------------- */

/* The last RP_LOGS_TAIL bytes of the logs, starting on a character boundary. */
static json_t *logs_tail(const json_t *pred)
{
	const char *s = jstr(pred, "logs");
	size_t n;

	if (!s || !*s)
		return NULL;
	n = strlen(s);
	if (n > RP_LOGS_TAIL) {
		s += n - RP_LOGS_TAIL;
		while ((*s & 0xc0) == 0x80)
			s++;
	}
	return json_string(s);
}

/* The input as the record shows it: a data URI stands as "data:image/png;base64,... (N
 * characters)" - the file itself is in the sidecar's inputs by its hash. */
static json_t *rp_input_shown(const json_t *input)
{
	json_t *o = json_deep_copy(input), *v;
	const char *k, *s, *comma;

	json_object_foreach (o, k, v) {
		s = json_string_value(v);
		if (!s || strncmp(s, "data:", 5) || !(comma = strchr(s, ',')))
			continue;
		json_object_set_new(o, k,
				    json_sprintf("%.*s... (%zu characters)", (int)(comma - s + 1),
						 s, strlen(s)));
	}
	return o;
}

static json_t *rp_metadata(const struct rp_backend *r, const json_t *pred, const json_t *input,
			   const char *url, int index, int n, int polls, int64_t seed,
			   int neg_dropped, const char *mode)
{
	const json_t *metrics = json_object_get(pred, "metrics");
	char red[2048];
	json_t *m, *logs;

	if (strncmp(url, "data:", 5))
		http_redact_url(red, sizeof(red), url);
	else
		snprintf(red, sizeof(red), "data: URL");
	m = json_pack("{s:s?, s:s, s:s?, s:s?, s:O?, s:O?, s:s?, s:s?, s:s?, s:s, s:i, s:i, s:I, "
		      "s:b, s:s, s:i, s:O}",
		      "prediction_id", jstr(pred, "id"), "model", r->model, "version",
		      jstr(pred, "version") ? jstr(pred, "version") : r->version, "status",
		      jstr(pred, "status"), "predict_time",
		      json_object_get(metrics, "predict_time"), "total_time",
		      json_object_get(metrics, "total_time"), "created_at",
		      jstr(pred, "created_at"), "started_at", jstr(pred, "started_at"),
		      "completed_at", jstr(pred, "completed_at"), "output_url", red, "batch_index",
		      index, "batch_size", n, "seed", (json_int_t)seed, "seed_shared", n > 1,
		      "mode", mode, "polls", polls, "input", input);
	if (!m)
		return NULL;
	json_object_set_new(m, "input", rp_input_shown(input));
	if (n > 1)
		json_object_set_new(
			m, "seed_note",
			json_string("every output of one Replicate prediction shares "
				    "its seed: only output 0 comes back from this seed "
				    "alone; output i needs num_outputs=batch_size too"));
	if (neg_dropped)
		json_object_set_new(m, "negative_prompt_sent", json_false());
	logs = logs_tail(pred);
	if (logs)
		json_object_set_new(m, "logs", logs);
	return m;
}

/* Run one prediction of `count` images with `seed`; fills res[0..*got). */
static int rp_predict(const struct rp_backend *r, const struct imagen_request *req,
		      const json_t *files, int count, int64_t seed, struct imagen_result *res,
		      size_t *got, struct err *err)
{
	json_t *input, *body_obj = NULL, *pred = NULL, *out, *urls = NULL;
	char *body = NULL, *url = NULL, full[512];
	const char *status, *u;
	int polls = 0, n, i, rc = -1, neg_dropped, steps = req->steps;
	const json_t *sv;

	*got = 0;
	input = rp_build_input(r, req, files, count, seed, err);
	if (!input)
		return -1;
	neg_dropped = req->negative_prompt && *req->negative_prompt &&
		      (!r->neg_key || !json_object_get(input, r->neg_key));
	sv = json_object_get(input, "num_inference_steps");
	if (json_is_integer(sv))
		steps = (int)json_integer_value(sv);
	snprintf(full, sizeof(full), "%s%s%s", r->model, r->version ? ":" : "",
		 r->version ? r->version : "");
	if (r->version) {
		body_obj = json_pack("{s:s, s:O}", "version", r->version, "input", input);
		if (asprintf(&url, "%s/predictions", r->base_url) < 0)
			url = NULL;
	} else {
		body_obj = json_pack("{s:O}", "input", input);
		if (asprintf(&url, "%s/models/%s/predictions", r->base_url, r->model) < 0)
			url = NULL;
	}
	body = body_obj ? json_dumps(body_obj, JSON_COMPACT) : NULL;
	if (!body || !url) {
		err_code(err, 1, "out of memory");
		goto out;
	}

	ev_status(req->events, "starting");
	pred = rp_create(r, url, body, input, err);
	if (!pred)
		goto out;
	status = jstr(pred, "status");
	ev_log(req->events, EV_VERBOSE, r->base.name, "prediction %s %s", jstr(pred, "id"), status);
	if (rp_wait(r, req, &pred, &polls, err) < 0)
		goto out;
	status = jstr(pred, "status");
	sv = json_object_get(json_object_get(pred, "metrics"), "predict_time");
	if (json_is_number(sv))
		ev_log(req->events, EV_VERBOSE, r->base.name,
		       "prediction %s %s, predict_time %.3f s", jstr(pred, "id"), status,
		       json_number_value(sv));
	if (strcmp(status, "succeeded")) {
		char why[400];

		text_clean(why, sizeof(why), jstr(pred, "error"));
		if (!strcmp(status, "failed"))
			err_code(err, 1, "prediction %s failed: %s", jstr(pred, "id"),
				 why[0] ? why : "(Replicate gave no error text)");
		else if (!strcmp(status, "canceled"))
			err_code(err, 1, "prediction %s was canceled upstream%s%s",
				 jstr(pred, "id"), why[0] ? ": " : "", why);
		else
			err_code(err, 1, "prediction %s was aborted upstream before it ran%s%s",
				 jstr(pred, "id"), why[0] ? ": " : "", why);
		goto out;
	}

	/* file outputs: an array of URLs, or one URL for single-output models */
	out = json_object_get(pred, "output");
	urls = json_array();
	if (!urls) {
		err_code(err, 1, "out of memory");
		goto out;
	}
	if (json_is_string(out))
		json_array_append(urls, out);
	else if (json_is_array(out))
		json_array_extend(urls, out);
	n = (int)json_array_size(urls);
	for (i = 0; i < n; i++)
		if (!json_is_string(json_array_get(urls, i)))
			break;
	if (n == 0 || i < n) {
		err_code(err, 1, "prediction %s succeeded but its output holds no file URLs%s",
			 jstr(pred, "id"),
			 json_is_true(json_object_get(pred, "data_removed")) ? " (data removed)"
									     : "");
		goto out;
	}
	if (n > count)
		n = count; /* more than asked: keep what the caller has room for */

	for (i = 0; i < n; i++) {
		struct imagen_result *o = &res[i];

		if (ev_wants_progress(req->events)) {
			char what[64];

			snprintf(what, sizeof(what), "downloading %d/%d", i + 1, n);
			ev_status(req->events, what);
		}
		u = json_string_value(json_array_get(urls, i));
		if (rp_fetch(r, u, i, n, o, err) < 0)
			goto out;
		if (!o->width && r->size == SIZE_WIDTH_HEIGHT) {
			sv = json_object_get(input, "width");
			o->width = json_is_integer(sv) ? (int)json_integer_value(sv) : 0;
			sv = json_object_get(input, "height");
			o->height = json_is_integer(sv) ? (int)json_integer_value(sv) : 0;
		}
		o->steps = steps > 0 ? steps : 0;
		o->seed = seed;
		/* one seed for the whole batch: only output 0 is what that seed alone gives */
		o->seed_honoured = i == 0;
		o->model = strdup(full);
		o->metadata = rp_metadata(r, pred, input, u, i, n, polls, seed, neg_dropped,
					  r->wait_s > 0 ? "wait" : "poll");
		o->cost = rp_cost(r, full, pred, n);
		o->no_strength = req->ninputs && !r->in_strength;
		if (!o->model || !o->metadata || !o->cost) {
			imagen_result_release(o);
			err_code(err, 1, "out of memory");
			goto out;
		}
		(*got)++;
	}
	rc = 0;
out:
	json_decref(urls);
	json_decref(pred);
	json_decref(body_obj);
	json_decref(input);
	free(body);
	free(url);
	return rc;
}

/* ---- image inputs ------------------------------------------------------------------------ */

/*
 * POST /v1/files: one file as multipart part `content` (its name and type on the part);
 * *url gets the answer's urls.get, which a prediction input takes.  A POST: not sent
 * again once it may have arrived (a second copy would only cost storage, but the rule
 * holds).
 */
static int rp_upload(const struct rp_backend *r, const char *role, const void *data, size_t len,
		     enum image_format fmt, json_t **url, struct err *err)
{
	const char *hdrs[3] = { r->auth, "Accept: application/json", NULL }, *got;
	char fname[96], hex[65], *u = NULL;
	struct http_part part;
	struct http_request hr;
	struct http_response resp;
	json_t *ans = NULL;
	int rc = -1;

	sha256_hex(hex, data, len);
	snprintf(fname, sizeof(fname), "%s-%.16s.%s", role, hex, image_extension(fmt));
	if (asprintf(&u, "%s/files", r->base_url) < 0)
		return err_code(err, 1, "out of memory");
	memset(&part, 0, sizeof(part));
	part.name = "content";
	part.data = data;
	part.len = len;
	part.filename = fname;
	part.type = image_mime(fmt);
	memset(&hr, 0, sizeof(hr));
	memset(&resp, 0, sizeof(resp));
	hr.method = "POST";
	hr.url = u;
	hr.headers = hdrs;
	hr.parts = &part;
	hr.nparts = 1;
	hr.timeout_ms = RP_UPLOAD_TIMEOUT_MS;
	hr.max_body = RP_MAX_JSON;
	hr.label = r->base.name;
	hr.events = r->base.events;
	hr.progress_status = "uploading";
	if (http_request_retry(&hr, NULL, &resp, err) < 0) {
		if (err && err->code != HTTP_EXIT_CANCELED) {
			err_prefix(err, "POST /v1/files");
			err->code = 1;
		}
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		rp_http_error(err, &resp, "POST", "/v1/files");
		goto out;
	}
	ans = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	got = json_string_value(json_object_get(json_object_get(ans, "urls"), "get"));
	if (!got || (strncmp(got, "https://", 8) && strncmp(got, "http://", 7))) {
		err_code(err, 1, "unexpected answer from POST /v1/files (no urls.get)");
		goto out;
	}
	ev_log(r->base.events, EV_VERBOSE, r->base.name, "uploaded %s (%zu bytes) as file %.64s",
	       fname, len,
	       json_string_value(json_object_get(ans, "id"))
		       ? json_string_value(json_object_get(ans, "id"))
		       : "?");
	*url = json_string(got);
	rc = *url ? 0 : err_code(err, 1, "out of memory");
out:
	json_decref(ans);
	http_response_release(&resp);
	free(u);
	return rc;
}

/* One file as a model input: a data URI up to RP_DATA_URI_MAX bytes, else a Files API
 * URL.  *out: a new string. */
static int rp_file_input(const struct rp_backend *r, const char *role, const void *data, size_t len,
			 enum image_format fmt, json_t **out, struct err *err)
{
	char prefix[48];
	char *uri;

	if (len > RP_DATA_URI_MAX)
		return rp_upload(r, role, data, len, fmt, out, err);
	snprintf(prefix, sizeof(prefix), "data:%s;base64,", image_mime(fmt));
	uri = base64_encode(data, len, prefix);
	*out = uri ? json_string(uri) : NULL;
	free(uri);
	return *out ? 0 : err_code(err, 1, "out of memory");
}

/*
 * The inputs as model fields (input_map): the image, the mask (white = repaint) and the
 * strength, into *files (new object).  What the model cannot take is refused before any
 * request; the uploads come after every check.
 */
static int rp_inputs(const struct rp_backend *r, const struct imagen_request *req, json_t **files,
		     struct err *err)
{
	unsigned char *png = NULL;
	size_t len = 0;
	json_t *o, *v = NULL;

	*files = NULL;
	if (req->ninputs > 1)
		return err_code(err, 2,
				"--image %s: the replicate backend sends one input image (the "
				"model's input_map.image field)",
				req->inputs[1].path);
	if (!r->in_image)
		return err_code(
			err, 2,
			"--image %s: backends.%s.input_map.image is null (the model takes no "
			"image)",
			req->inputs[0].path, r->base.name);
	if (req->mask && !r->in_mask)
		return err_code(err, 2,
				"--mask %s: backends.%s.input_map.mask is null (the model takes no "
				"mask)",
				req->mask->path, r->base.name);
	if (req->mask && mask_encode(req->mask_map, req->mask->width, req->mask->height,
				     MASK_WHITE_REPAINT, &png, &len, err) < 0)
		return -1;
	o = json_object();
	if (!o)
		goto nomem;
	if (r->in_strength && json_object_set_new(o, r->in_strength, json_real(req->strength)) < 0)
		goto nomem;
	ev_status(req->events, "uploading");
	if (rp_file_input(r, "image", req->inputs[0].data, req->inputs[0].len,
			  req->inputs[0].format, &v, err) < 0 ||
	    json_object_set_new(o, r->in_image, v) < 0)
		goto bad;
	if (png && (rp_file_input(r, "mask", png, len, IMAGE_PNG, &v, err) < 0 ||
		    json_object_set_new(o, r->in_mask, v) < 0))
		goto bad;
	free(png);
	*files = o;
	return 0;
nomem:
	err_code(err, 1, "out of memory");
bad:
	free(png);
	json_decref(o);
	return -1;
}

static int replicate_generate(struct backend *b, const struct imagen_request *req,
			      struct imagen_result *res, size_t *nres, struct err *err)
{
	struct rp_backend *r = (struct rp_backend *)b;
	int done = 0, count = req->count > 0 ? req->count : 1, n, rc = 0;
	size_t got;
	int64_t seed;

	json_t *files = NULL;

	*nres = 0;
	if ((req->opts && rp_check_opts(req->opts, err) < 0) ||
	    (req->ninputs && rp_inputs(r, req, &files, err) < 0))
		return -1;
	/* more than one prediction only when the model takes fewer outputs than asked */
	while (done < count) {
		n = count - done < r->max_outputs ? count - done : r->max_outputs;
		seed = (int64_t)(((uint64_t)req->seed + (uint64_t)done) & (uint64_t)INT64_MAX);
		if (rp_predict(r, req, files, n, seed, res + done, &got, err) < 0) {
			*nres = (size_t)done + got;
			rc = -1;
			break;
		}
		done += (int)got;
		*nres = (size_t)done;
		if (got == 0) {
			rc = err_code(err, 1, "the prediction returned no image");
			break;
		}
	}
	json_decref(files);
	return rc;
}

/* This adapter's instance in the sample imagen.yaml (`imagen config init`): one
 * NAME: with its keys, as a user would write it; it must pass validate(). */
static const char replicate_sample[] =
	"# Replicate: an official model (owner/name) or any owner/name:VERSION.\n"
	"flux:\n"
	"  type: replicate\n"
	"  model: black-forest-labs/flux-schnell\n"
	"  token_env: REPLICATE_API_TOKEN  # the NAME of the variable holding the token\n"
	"  base_url: https://api.replicate.com/v1\n"
	"  input: {go_fast: true}          # extra model inputs; --set wins, null removes\n"
	"  wait: 60                        # Prefer: wait=N (1..60); 0: poll from the start\n"
	"  poll_ms: 1000                   # polling interval once the wait ran out\n"
	"  timeout: 600                    # seconds before the prediction is canceled\n"
	"  max_outputs: 4                  # num_outputs per prediction; 1: not sent\n"
	"  size_input: aspect_ratio        # width_height|aspect_ratio|none (default by model)\n"
	"  negative_prompt_key: \"\"         # input for -n; \"\": not sent (default by model)\n"
	"  input_map:                      # the model's fields for --image, --mask,\n"
	"    image: image                  # --strength (null: not sent); small files go\n"
	"    mask: mask                    # as data URIs, larger ones through the Files\n"
	"    strength: prompt_strength     # API\n"
	"  prices:                         # USD; replaces the built-in entry of a model\n"
	"    black-forest-labs/flux-schnell: {per_image: 0.003}\n"
	"    acme/sdxl-lite: {per_second: 0.0014}   # x metrics.predict_time\n";

const struct backend_ops replicate_backend_ops = {
	.type = "replicate",
	.summary = "Replicate predictions API (official models and owner/name:version)",
	.max_batch = RP_MAX_BATCH,
	.validate = replicate_validate,
	.open = replicate_open,
	.generate = replicate_generate,
	.close = replicate_close,
	.check = replicate_check,
	.keys = rp_cfg_keys,
	.sample = replicate_sample,
};
