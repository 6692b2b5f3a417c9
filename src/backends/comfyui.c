/* comfyui.c - the `comfyui` adapter: an API-format graph (built in, or the user's) with the
 * request's knobs written into it, queued with POST /prompt, followed on the /ws socket
 * (or by polling /history when the socket is not there), images fetched with /view.
 * This file is the config and the network flow; the graph itself (built-in graphs,
 * where each knob goes, the server's error and history shapes) is comfyui-graph.c.
 * Wire facts: ../shared/protocols/comfyui.md. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "core/adapter.h"
#include "core/backend.h"
#include "backends/comfyui.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "net/http.h"
#include "core/image.h"
#include "core/inputs.h"
#include "core/events.h"
#include "util/sha256.h"
#include "util/suggest.h"
#include "util/text.h"
#include "net/ws.h"

#define CF_DEFAULT_TIMEOUT_S 600
#define CF_MAX_TIMEOUT_S 86400
#define CF_MAX_SIDE 16384 /* MAX_RESOLUTION in ComfyUI's nodes.py */
#define CF_MIN_SIDE 16
#define CF_MAX_STEPS 10000
#define CF_POLL_S 0.5
#define CF_WS_SLICE_MS 250
#define CF_SUCCESS_GRACE_S 2.0
#define CF_CANCEL_TIMEOUT_MS 5000L
#define CF_PROMPT_TIMEOUT_MS 60000L
#define CF_HISTORY_TIMEOUT_MS 30000L
#define CF_MAX_HISTORY ((size_t)32 << 20)
#define CF_UPLOAD_TIMEOUT_MS 120000L

/* ---- config ------------------------------------------------------------------------------ */

struct comfy {
	struct backend base; /* first: the framework holds a struct backend * */
	char *base_url;      /* no trailing slash */
	char *workflow;      /* "builtin:txt2img", "builtin:flux-schnell" or the path */
	json_t *graph;       /* the template */
	struct comfyui_params *params;
	char *model, *sampler, *scheduler; /* NULL: the graph's own */
	double cfg;
	int has_cfg;
	int default_steps; /* 0: the graph's own */
	long timeout_s;
};

extern const struct backend_ops comfyui_backend_ops;

static const char *const cfg_keys[] = {
	"type", "base_url", "workflow", "model", "default_steps", "sampler", "scheduler",
	"cfg",  "params",   "timeout",  NULL,
};

static const char *const opt_keys[] = { "cfg", "sampler", "scheduler", "model", NULL };

static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay && *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return 1;
	return 0;
}

static void comfy_free(struct comfy *c)
{
	if (!c)
		return;
	free(c->base_url);
	free(c->workflow);
	json_decref(c->graph);
	comfyui_params_free(c->params);
	free(c->model);
	free(c->sampler);
	free(c->scheduler);
	free(c->base.name);
	free(c);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Everything open() needs, from the slice; validate() runs the same and throws it away. */
static int comfy_load(struct comfy **out, const char *name, const json_t *cfg, struct err *err)
{
	const char *base = NULL, *workflow = NULL, *model = NULL, *sampler = NULL,
		   *scheduler = NULL;
	long long steps = 0, timeout = CF_DEFAULT_TIMEOUT_S;
	const json_t *v;
	struct comfy *c;
	size_t bl;

	*out = NULL;
	if (!json_is_object(cfg))
		return err_code(err, 2, "backends.%s: expected a mapping", name);
	if (cfg_check_keys(name, cfg, cfg_keys, err) ||
	    cfg_get_string(cfg, name, "base_url", &base, err) ||
	    cfg_get_string(cfg, name, "workflow", &workflow, err) ||
	    cfg_get_string(cfg, name, "model", &model, err) ||
	    cfg_get_string(cfg, name, "sampler", &sampler, err) ||
	    cfg_get_string(cfg, name, "scheduler", &scheduler, err) ||
	    cfg_get_int(cfg, name, "default_steps", 1, CF_MAX_STEPS, &steps, err) ||
	    cfg_get_int(cfg, name, "timeout", 1, CF_MAX_TIMEOUT_S, &timeout, err))
		goto bad;
	if (!base || !*base) {
		err_key(err, base ? "base_url" : "",
			"backends.%s.base_url is required (e.g. "
			"http://127.0.0.1:8188)",
			name);
		goto bad;
	}
	if (strncasecmp(base, "http://", 7) && strncasecmp(base, "https://", 8)) {
		err_key(err, "base_url",
			"backends.%s.base_url: expected an http:// or https:// URL, got '%s'", name,
			base);
		goto bad;
	}
	if (model && !*model)
		model = NULL;
	if (sampler && !*sampler)
		sampler = NULL;
	if (scheduler && !*scheduler)
		scheduler = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_code(err, 1, "out of memory");
	c->base.ops = &comfyui_backend_ops;
	v = json_object_get(cfg, "cfg");
	if (v) {
		if (adapter_number(v, 0, 100, &c->cfg) < 0) {
			err_key(err, "cfg", "backends.%s.cfg: expected a number, 0..100", name);
			goto bad_c;
		}
		c->has_cfg = 1;
	}
	if (!workflow || !*workflow)
		workflow = contains_ci(model, "flux") ? BUILTIN_FLUX : BUILTIN_TXT2IMG;
	if (!strcmp(workflow, BUILTIN_FLUX) && !model)
		model = CF_DEFAULT_FLUX_MODEL;
	if (!strcmp(workflow, BUILTIN_TXT2IMG) && !model) {
		err_key(err, "",
			"backends.%s.model is required with the built-in txt2img graph (a "
			"checkpoint in ComfyUI's models/checkpoints, e.g. "
			"v1-5-pruned-emaonly.safetensors)",
			name);
		goto bad_c;
	}
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	c->base_url = strndup(base, bl);
	c->workflow = strdup(workflow);
	c->model = dup_or_null(model);
	c->sampler = dup_or_null(sampler);
	c->scheduler = dup_or_null(scheduler);
	c->default_steps = (int)steps;
	c->timeout_s = (long)timeout;
	if (!c->base_url || !c->workflow || (model && !c->model) || (sampler && !c->sampler) ||
	    (scheduler && !c->scheduler)) {
		err_code(err, 1, "out of memory");
		goto bad_c;
	}
	if (comfyui_load_graph(&c->graph, name, workflow, err) < 0 ||
	    comfyui_params_detect(&c->params, c->graph, json_object_get(cfg, "params"), name, err) <
		    0)
		goto bad_c;
	if (!c->params->n[P_PROMPT]) {
		err_key(err, "params",
			"backends.%s: cannot tell where the prompt goes in %s; set "
			"backends.%s.params.prompt (e.g. \"6.inputs.text\")",
			name, workflow, name);
		goto bad_c;
	}
	if (c->model && !c->params->n[P_MODEL]) {
		err_key(err, "model",
			"backends.%s.model: %s has no checkpoint or UNET loader to put it in (set "
			"backends.%s.params.model)",
			name, workflow, name);
		goto bad_c;
	}
	if (c->sampler && !c->params->n[P_SAMPLER]) {
		err_key(err, "sampler",
			"backends.%s.sampler: %s has no sampler input (set "
			"backends.%s.params.sampler)",
			name, workflow, name);
		goto bad_c;
	}
	if (c->scheduler && !c->params->n[P_SCHEDULER]) {
		err_key(err, "scheduler",
			"backends.%s.scheduler: %s has no scheduler input (set "
			"backends.%s.params.scheduler)",
			name, workflow, name);
		goto bad_c;
	}
	if (c->has_cfg && !c->params->n[P_CFG]) {
		err_key(err, "cfg",
			"backends.%s.cfg: %s has no cfg input (set "
			"backends.%s.params.cfg)",
			name, workflow, name);
		goto bad_c;
	}
	*out = c;
	return 0;
bad_c:
	comfy_free(c);
bad:
	if (err && err->code != 1)
		err->code = 2;
	return -1;
}

static int comfyui_validate(const char *name, const json_t *cfg, struct err *err)
{
	struct comfy *c;

	if (comfy_load(&c, name, cfg, err) < 0)
		return -1;
	comfy_free(c);
	return 0;
}

static int comfyui_open(struct backend **out, const char *name, const json_t *cfg, struct err *err)
{
	struct comfy *c;

	*out = NULL;
	if (comfy_load(&c, name ? name : "comfyui", cfg, err) < 0)
		return -1;
	c->base.name = strdup(name ? name : "comfyui");
	if (!c->base.name) {
		comfy_free(c);
		return err_code(err, 1, "out of memory");
	}
	*out = &c->base;
	return 0;
}

static void comfyui_close(struct backend *b)
{
	comfy_free((struct comfy *)b);
}

/* ---- one generation ---------------------------------------------------------------------- */

/* What a single generate() call knows. */
struct run {
	struct comfy *c;
	const struct imagen_request *req;
	json_t *graph; /* the template with the request written in */
	char client_id[37], prompt_id[37];
	long long number;   /* queue number from POST /prompt, -1 when unknown */
	struct ws *ws;      /* NULL: polling /history */
	char ws_error[256]; /* why the socket is not used, "" when it is */
	int started, done;  /* execution_start / finished seen on the socket */
	int queued;         /* POST /prompt may have queued it: cancel on the way out */
	int adopted;        /* POST /prompt failed, but the server had queued the prompt */
	int batch;          /* the batch_size written into the graph */
	int width, height;  /* the size asked for (0: the graph's own) */
	char image_name[128], mask_name[128]; /* the uploads' names on the server, "" none */
	unsigned char *mask_png;              /* the mask as uploaded (white = repaint) */
	size_t mask_len;
	double success_at; /* when execution_success came, 0 before */
	double t0;
};

static int uuid4(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

static void verbose(const struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void verbose(const struct run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ev_logv(r->req->events, EV_VERBOSE, r->c->base.name, fmt, ap);
	va_end(ap);
}

/* The --set options this adapter knows, over the config's values. */
struct run_opts {
	const char *model, *sampler, *scheduler;
	double cfg;
	int has_cfg;
};

static int read_opts(const struct comfy *c, const json_t *opts, struct run_opts *o, struct err *err)
{
	const char *key, *hint;
	const json_t *v;
	void *it;

	o->model = c->model;
	o->sampler = c->sampler;
	o->scheduler = c->scheduler;
	o->cfg = c->cfg;
	o->has_cfg = c->has_cfg;
	for (it = json_object_iter((json_t *)opts); it;
	     it = json_object_iter_next((json_t *)opts, it)) {
		key = json_object_iter_key(it);
		v = json_object_iter_value(it);
		if (!strcmp(key, "cfg")) {
			if (adapter_number(v, 0, 100, &o->cfg) < 0)
				return err_code(err, 2, "option cfg: expected a number, 0..100");
			o->has_cfg = 1;
			continue;
		}
		if (!strcmp(key, "model") || !strcmp(key, "sampler") || !strcmp(key, "scheduler")) {
			if (!json_is_string(v) || !*json_string_value(v))
				return err_code(err, 2, "option %s: expected a name", key);
			*(key[0] == 'm'   ? &o->model
			  : key[1] == 'a' ? &o->sampler
					  : &o->scheduler) = json_string_value(v);
			continue;
		}
		hint = suggest_closest(key, opt_keys);
		return err_code(err, 2,
				"unknown option '%s' for the comfyui backend (known: cfg, sampler, "
				"scheduler, model%s%s%s)",
				key, hint ? "; did you mean '" : "", hint ? hint : "",
				hint ? "'?" : "");
	}
	if ((o->model && !c->params->n[P_MODEL]) || (o->sampler && !c->params->n[P_SAMPLER]) ||
	    (o->scheduler && !c->params->n[P_SCHEDULER]) || (o->has_cfg && !c->params->n[P_CFG]))
		return err_code(err, 2, "option %s: the workflow %s has no input for it",
				o->model && !c->params->n[P_MODEL]           ? "model"
				: o->sampler && !c->params->n[P_SAMPLER]     ? "sampler"
				: o->scheduler && !c->params->n[P_SCHEDULER] ? "scheduler"
									     : "cfg",
				c->workflow);
	return 0;
}

static int is_builtin(const struct comfy *c)
{
	return !strncmp(c->workflow, "builtin:", 8);
}

static int check_side(const char *what, int v, struct err *err)
{
	if (v && (v < CF_MIN_SIDE || v > CF_MAX_SIDE))
		return err_code(err, 2, "%s %d is out of range for ComfyUI (%d..%d)", what, v,
				CF_MIN_SIDE, CF_MAX_SIDE);
	return 0;
}

/* The graph to queue: the template with the request's values in place. */
static int build_graph(struct run *r, const struct run_opts *o, struct err *err)
{
	const struct comfyui_params *p = r->c->params;
	const struct imagen_request *req = r->req;
	int steps = req->steps ? req->steps : r->c->default_steps;
	json_t *g;
	int bad = 0;

	if (check_side("width", r->width, err) || check_side("height", r->height, err))
		return -1;
	if (steps < 0 || steps > CF_MAX_STEPS)
		return err_code(err, 2, "steps %d is out of range for ComfyUI (1..%d)", steps,
				CF_MAX_STEPS);
	g = json_deep_copy(r->c->graph);
	if (!g)
		return err_code(err, 1, "out of memory");
	bad |= comfyui_set_param(g, p, P_PROMPT, json_string(req->prompt ? req->prompt : ""));
	if (p->n[P_NEGATIVE])
		bad |= comfyui_set_param(
			g, p, P_NEGATIVE,
			json_string(req->negative_prompt ? req->negative_prompt : ""));
	if (p->n[P_SEED])
		bad |= comfyui_set_param(g, p, P_SEED, json_integer((json_int_t)req->seed));
	if (p->n[P_STEPS] && steps)
		bad |= comfyui_set_param(g, p, P_STEPS, json_integer(steps));
	if (p->n[P_WIDTH] && r->width)
		bad |= comfyui_set_param(g, p, P_WIDTH, json_integer(r->width));
	if (p->n[P_HEIGHT] && r->height)
		bad |= comfyui_set_param(g, p, P_HEIGHT, json_integer(r->height));
	if (p->n[P_BATCH])
		bad |= comfyui_set_param(g, p, P_BATCH, json_integer(r->batch));
	if (o->has_cfg)
		bad |= comfyui_set_param(g, p, P_CFG, json_real(o->cfg));
	if (o->sampler)
		bad |= comfyui_set_param(g, p, P_SAMPLER, json_string(o->sampler));
	if (o->scheduler)
		bad |= comfyui_set_param(g, p, P_SCHEDULER, json_string(o->scheduler));
	if (o->model)
		bad |= comfyui_set_param(g, p, P_MODEL, json_string(o->model));
	if (bad) {
		json_decref(g);
		/* json_string refuses text that is not UTF-8 */
		return err_code(err, 2, "the prompt is not valid UTF-8 (or memory is short)");
	}
	if (req->ninputs && is_builtin(r->c)) {
		if (comfyui_builtin_inputs(g, r->image_name, req->mask ? r->mask_name : NULL,
					   req->strength) < 0)
			bad = 1;
	} else if (req->ninputs) {
		bad |= comfyui_set_param(g, p, P_IMAGE, json_string(r->image_name));
		if (req->mask)
			bad |= comfyui_set_param(g, p, P_MASK, json_string(r->mask_name));
		if (p->n[P_STRENGTH])
			bad |= comfyui_set_param(g, p, P_STRENGTH, json_real(req->strength));
	}
	if (bad) {
		json_decref(g);
		return err_code(err, 1, "out of memory");
	}
	r->graph = g;
	return 0;
}

static char *url_of(const struct comfy *c, const char *path)
{
	char *u;

	if (asprintf(&u, "%s%s", c->base_url, path) < 0)
		return NULL;
	return u;
}

/* One request to the server.  retry: the http retry policy; cancel: the no_cancel request
 * sent after Ctrl-C (one attempt, short). */
static int request(const struct run *r, const char *method, const char *path, const char *body,
		   long timeout_ms, size_t max_body, int retry, int cancel, http_judge_fn judge,
		   void *judge_arg, struct http_response *resp, struct err *err)
{
	static const char *const json_hdr[] = { "Content-Type: application/json", NULL };
	struct http_request hr;
	char *url = url_of(r->c, path);
	int rc;

	if (!url)
		return err_code(err, 1, "out of memory");
	memset(&hr, 0, sizeof(hr));
	hr.method = method;
	hr.url = url;
	hr.headers = body ? json_hdr : NULL;
	hr.body = body;
	hr.body_len = body ? strlen(body) : 0;
	hr.timeout_ms = timeout_ms;
	hr.max_body = max_body;
	hr.no_cancel = cancel;
	hr.label = r->c->base.name;
	hr.events = r->req->events;
	hr.judge = judge;
	hr.judge_arg = judge_arg;
	if (cancel)
		hr.connect_timeout_ms = timeout_ms;
	rc = retry ? http_request_retry(&hr, NULL, resp, err) : http_request(&hr, resp, err);
	free(url);
	return rc;
}

/* "HTTP 503: ... (after 4 attempts)" for a failed answer to METHOD PATH. */
static int fail_status(const char *method, const char *path, const struct http_response *resp,
		       struct err *err)
{
	char desc[512];

	http_describe_status(desc, sizeof(desc), resp);
	if (resp->attempts > 1)
		return err_code(err, 1, "%s %s: %s (after %d attempts)", method, path, desc,
				resp->attempts);
	return err_code(err, 1, "%s %s: %s", method, path, desc);
}

/* A transport failure (or Ctrl-C) from request(): name the request, keep the code. */
static int fail_transport(const char *method, const char *path, struct err *err)
{
	if (err && err->code == HTTP_EXIT_CANCELED)
		return -1;
	err_prefix(err, "%s %s", method, path);
	if (err)
		err->code = 1;
	return -1;
}

/* Where our prompt is in GET /queue: 2 running, 1 pending, 0 in neither, -1 unknown. */
static int queue_place(const struct run *r)
{
	struct http_response resp;
	struct err e = ERR_INIT;
	const char *lists[2] = { "queue_running", "queue_pending" };
	json_t *q;
	size_t i, k;
	int place = -1;

	memset(&resp, 0, sizeof(resp));
	if (request(r, "GET", "/queue", NULL, CF_CANCEL_TIMEOUT_MS, 0, 0, 1, NULL, NULL, &resp,
		    &e) < 0 ||
	    resp.status != 200) {
		http_response_release(&resp);
		return -1;
	}
	q = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	http_response_release(&resp);
	if (!json_is_object(q)) {
		json_decref(q);
		return -1;
	}
	place = 0;
	for (k = 0; k < 2 && !place; k++) {
		const json_t *l = json_object_get(q, lists[k]);

		for (i = 0; i < json_array_size(l); i++) {
			const char *id = json_string_value(json_array_get(json_array_get(l, i), 1));

			if (id && !strcmp(id, r->prompt_id)) {
				place = k == 0 ? 2 : 1;
				break;
			}
		}
	}
	json_decref(q);
	return place;
}

/*
 * Ask the server to drop our prompt: delete it from the queue while it waits, interrupt
 * it only when it is the one running - POST /interrupt without a prompt_id (older
 * servers ignore the id) would stop whatever runs, someone else's work included.
 */
static void cancel_upstream(const struct run *r)
{
	struct http_response resp;
	struct err e = ERR_INIT;
	char body[128];
	int place, i;

	memset(&resp, 0, sizeof(resp));
	place = queue_place(r);
	verbose(r, "stopping prompt %s (%s)", r->prompt_id,
		place == 2   ? "running: interrupt"
		: place == 1 ? "queued: delete"
		: place == 0 ? "no longer queued"
			     : "queue unknown: delete");
	for (i = 0; i < 2 && place != 0 && place != 2; i++) {
		snprintf(body, sizeof(body), "{\"delete\": [\"%s\"]}", r->prompt_id);
		request(r, "POST", "/queue", body, CF_CANCEL_TIMEOUT_MS, 0, 0, 1, NULL, NULL, &resp,
			&e);
		http_response_release(&resp);
		if (place < 0)
			return; /* we cannot tell whether it runs: never interrupt blindly */
		/* it may have started between the two requests */
		place = queue_place(r);
	}
	if (place == 2) {
		snprintf(body, sizeof(body), "{\"prompt_id\": \"%s\"}", r->prompt_id);
		request(r, "POST", "/interrupt", body, CF_CANCEL_TIMEOUT_MS, 0, 0, 1, NULL, NULL,
			&resp, &e);
		http_response_release(&resp);
	}
}

/* Open the socket before queueing, so no message about our prompt can be missed. */
static void open_socket(struct run *r)
{
	struct ws_options o;
	struct err e = ERR_INIT;
	char *path = NULL, *url;

	memset(&o, 0, sizeof(o));
	o.events = r->req->events;
	o.label = r->c->base.name;
	if (asprintf(&path, "/ws?clientId=%s", r->client_id) < 0 || !(url = url_of(r->c, path))) {
		free(path);
		snprintf(r->ws_error, sizeof(r->ws_error), "out of memory");
		return;
	}
	if (ws_connect(&r->ws, url, &o, &e) < 0) {
		r->ws = NULL;
		snprintf(r->ws_error, sizeof(r->ws_error), "%.200s", e.msg);
	}
	free(url);
	free(path);
}

static void drop_socket(struct run *r, const char *why)
{
	snprintf(r->ws_error, sizeof(r->ws_error), "%.200s", why);
	verbose(r, "%s; polling /history instead", why);
	ws_close(r->ws);
	r->ws = NULL;
}

/* Whether the server holds our prompt: queued, running or in /history (ComfyUI queues
 * a prompt before it answers POST /prompt).  1 yes, 0 no, -1 cannot tell. */
static int prompt_known(const struct run *r)
{
	struct http_response resp;
	struct err e = ERR_INIT;
	char path[64];
	json_t *h;
	int place = queue_place(r), known;

	if (place != 0)
		return place > 0 ? 1 : -1;
	snprintf(path, sizeof(path), "/history/%s", r->prompt_id);
	memset(&resp, 0, sizeof(resp));
	if (request(r, "GET", path, NULL, CF_CANCEL_TIMEOUT_MS, CF_MAX_HISTORY, 0, 1, NULL, NULL,
		    &resp, &e) < 0 ||
	    resp.status != 200) {
		http_response_release(&resp);
		return -1;
	}
	h = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	http_response_release(&resp);
	known = json_is_object(h) ? json_object_get(h, r->prompt_id) != NULL : -1;
	json_decref(h);
	return known;
}

/* POST /prompt's judge.  Our prompt_id is the idempotency handle ComfyUI lacks: after a
 * failure that may have reached the server, ask whether it holds the prompt; it does:
 * carry on with it (FINAL, r->adopted).  Otherwise the usual rules: a POST that may
 * have arrived is not sent again. */
static enum http_verdict prompt_judge(void *arg, int rc, const struct http_response *resp,
				      const struct err *err)
{
	struct run *r = arg;

	if (rc == 0 || !resp->sent)
		return HTTP_VERDICT_POLICY;
	if (prompt_known(r) == 1) {
		r->adopted = 1;
		return HTTP_VERDICT_FINAL;
	}
	return HTTP_VERDICT_POLICY;
}

/* POST /prompt.  Returns 0, or -1 (a 400 names the nodes and inputs at fault). */
static int queue_prompt(struct run *r, struct err *err)
{
	struct http_response resp;
	const json_t *pid, *num;
	json_t *body, *ans;
	char *text;
	int rc;

	body = json_pack("{s:O, s:s, s:s}", "prompt", r->graph, "client_id", r->client_id,
			 "prompt_id", r->prompt_id);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return err_code(err, 1, "out of memory");
	memset(&resp, 0, sizeof(resp));
	r->queued = 1;
	rc = request(r, "POST", "/prompt", text, CF_PROMPT_TIMEOUT_MS, 0, 1, 0, prompt_judge, r,
		     &resp, err);
	free(text);
	if (rc < 0 && r->adopted && !cancel_requested()) {
		verbose(r, "%s; the server has prompt %s, carrying on with it", err->msg,
			r->prompt_id);
		err_clear(err);
		http_response_release(&resp);
		return 0;
	}
	if (rc < 0) {
		http_response_release(&resp);
		return fail_transport("POST", "/prompt", err);
	}
	ans = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	if (resp.status == 400 && json_is_object(ans)) {
		char desc[900];

		r->queued = 0;
		comfyui_describe_prompt_error(desc, sizeof(desc), ans);
		json_decref(ans);
		http_response_release(&resp);
		return err_code(err, 1, "POST /prompt: HTTP 400: %s", desc);
	}
	if (resp.status < 200 || resp.status > 299) {
		/* only a 5xx after all retries leaves a doubt whether it was queued */
		r->queued = resp.status >= 500;
		json_decref(ans);
		rc = fail_status("POST", "/prompt", &resp, err);
		http_response_release(&resp);
		return rc;
	}
	http_response_release(&resp);
	if (!json_is_object(ans)) {
		json_decref(ans);
		return err_code(err, 1, "upstream returned malformed JSON (POST /prompt)");
	}
	pid = json_object_get(ans, "prompt_id");
	num = json_object_get(ans, "number");
	/* an older server ignores our prompt_id and makes its own */
	if (json_is_string(pid) && strlen(json_string_value(pid)) < sizeof(r->prompt_id))
		snprintf(r->prompt_id, sizeof(r->prompt_id), "%s", json_string_value(pid));
	else if (pid) {
		json_decref(ans);
		return err_code(err, 1, "unexpected answer from POST /prompt (prompt_id)");
	}
	r->number = json_is_number(num) ? (long long)json_number_value(num) : -1;
	json_decref(ans);
	verbose(r, "queued prompt %s (number %lld, %s)", r->prompt_id, r->number,
		r->ws ? "following the websocket" : "polling /history");
	return 0;
}

/* One text message from the socket.  Returns 1 when our prompt finished, 0 to go on, -1
 * on its failure (err), -2 when the message is not what ComfyUI sends (stop trusting the
 * socket). */
static int on_message(struct run *r, const unsigned char *data, size_t len, struct err *err)
{
	json_t *m = json_loadb((const char *)data, len, 0, NULL);
	const json_t *d = json_object_get(m, "data");
	const char *type = json_string_value(json_object_get(m, "type"));
	const char *pid = json_string_value(json_object_get(d, "prompt_id"));
	int rc = 0;

	if (!type) {
		json_decref(m);
		return -2;
	}
	if (!json_is_object(d))
		goto out; /* custom nodes send their own kinds of message */
	if (pid && strcmp(pid, r->prompt_id) != 0)
		goto out; /* someone else's prompt */
	if (!strcmp(type, "status")) {
		if (!r->started)
			ev_status(r->req->events, "queued");
	} else if (!strcmp(type, "execution_start")) {
		r->started = 1;
		ev_status(r->req->events, "running");
	} else if (!strcmp(type, "executing")) {
		const json_t *node = json_object_get(d, "node");

		if (json_is_null(node) && (pid || r->started))
			rc = 1;
		else if (json_is_string(node))
			ev_status(r->req->events, comfyui_class_of(json_object_get(
							  r->graph, json_string_value(node))));
	} else if (!strcmp(type, "progress")) {
		const json_t *node = json_object_get(d, "node");
		const char *cls = json_is_string(node) ? comfyui_class_of(json_object_get(
								 r->graph, json_string_value(node)))
						       : "";

		ev_steps(r->req->events, (long)json_number_value(json_object_get(d, "value")),
			 (long)json_number_value(json_object_get(d, "max")), *cls ? cls : NULL);
	} else if (!strcmp(type, "execution_success")) {
		/* ComfyUI writes the history entry after this message and then sends
		 * executing {node: null}: that one says the entry is there */
		r->success_at = http_now_s();
	} else if (!strcmp(type, "execution_error")) {
		comfyui_describe_execution_error(err, d);
		r->queued = 0; /* it is over on the server */
		rc = -1;
	} else if (!strcmp(type, "execution_interrupted")) {
		r->queued = 0;
		rc = err_code(err, 1, "execution was interrupted on the server");
	}
out:
	json_decref(m);
	return rc;
}

/* Follow the socket until our prompt is done; on socket trouble, leave r->ws NULL and
 * return 0 so the caller polls. */
static int follow_socket(struct run *r, double deadline, struct err *err)
{
	const unsigned char *data;
	struct err e = ERR_INIT;
	size_t len;
	int op, rc;

	while (r->ws) {
		if (http_now_s() > deadline)
			return 0; /* the caller reports the timeout */
		if (r->success_at && http_now_s() - r->success_at > CF_SUCCESS_GRACE_S)
			return 0; /* no executing null after the success: the history will tell */
		rc = ws_recv(r->ws, &op, &data, &len, CF_WS_SLICE_MS, &e);
		if (rc < 0) {
			if (e.code == HTTP_EXIT_CANCELED)
				return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
			drop_socket(r, e.msg);
			return 0;
		}
		if (rc == 0 || op != WS_TEXT)
			continue; /* binary frames are previews: not ours to keep */
		rc = on_message(r, data, len, err);
		if (rc == -2) {
			drop_socket(r, "websocket message that is not ComfyUI's");
			return 0;
		}
		if (rc < 0)
			return -1;
		if (rc == 1) {
			r->done = 1;
			return 0;
		}
	}
	return 0;
}

/* GET /history/{id} until it holds the prompt.  *images as comfyui_history_images. */
static int wait_history(struct run *r, double deadline, json_t **images, struct err *err)
{
	struct http_response resp;
	char path[128];
	json_t *h;
	int rc;

	snprintf(path, sizeof(path), "/history/%s", r->prompt_id);
	if (!r->ws && !r->done)
		ev_status(r->req->events, "waiting");
	for (;;) {
		memset(&resp, 0, sizeof(resp));
		if (request(r, "GET", path, NULL, CF_HISTORY_TIMEOUT_MS, CF_MAX_HISTORY, 1, 0, NULL,
			    NULL, &resp, err) < 0) {
			http_response_release(&resp);
			return fail_transport("GET", path, err);
		}
		if (resp.status != 200) {
			rc = fail_status("GET", path, &resp, err);
			http_response_release(&resp);
			return rc;
		}
		h = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
		http_response_release(&resp);
		if (!h)
			return err_code(err, 1, "upstream returned malformed JSON (GET %s)", path);
		rc = comfyui_history_images(h, r->prompt_id, images, err);
		if (json_is_object(json_object_get(h, r->prompt_id)))
			r->queued = 0; /* finished on the server, one way or the other */
		json_decref(h);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		if (http_now_s() > deadline)
			return err_code(err, 1,
					"no result for prompt %s after %ld s (backends.%s.timeout)",
					r->prompt_id, r->c->timeout_s, r->c->base.name);
		if (cancel_sleep(CF_POLL_S))
			return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
	}
}

/* /view's judge: a 200 whose body is not a whole image (cut short, garbage from a
 * proxy) is asked for again - the file stays on the server. */
static enum http_verdict view_judge(void *arg, int rc, const struct http_response *resp,
				    const struct err *err)
{
	if (rc == 0 && resp->status == 200 &&
	    image_check(resp->body.data, resp->body.len, NULL, NULL) < 0)
		return HTTP_VERDICT_RETRY;
	return HTTP_VERDICT_POLICY;
}

/* GET /view for one image into res. */
static int download(struct run *r, const json_t *im, struct imagen_result *res, struct err *err)
{
	const char *fn = json_string_value(json_object_get(im, "filename"));
	const char *sub = json_string_value(json_object_get(im, "subfolder"));
	const char *type = json_string_value(json_object_get(im, "type"));
	char *efn = http_escape(fn), *esub = http_escape(sub), *etype = http_escape(type);
	char *path = NULL, shown[300];
	struct http_response resp;
	struct image_info info;
	struct err e2 = ERR_INIT;
	int rc = -1;

	memset(&resp, 0, sizeof(resp));
	snprintf(shown, sizeof(shown), "/view (%s)", fn);
	if (!efn || !esub || !etype ||
	    asprintf(&path, "/view?filename=%s&subfolder=%s&type=%s", efn, esub, etype) < 0) {
		path = NULL;
		err_code(err, 1, "out of memory");
		goto out;
	}
	if (request(r, "GET", path, NULL, 0, 0, 1, 0, view_judge, NULL, &resp, err) < 0) {
		fail_transport("GET", shown, err);
		goto out;
	}
	if (resp.status != 200) {
		fail_status("GET", shown, &resp, err);
		goto out;
	}
	if (image_check(resp.body.data, resp.body.len, &info, &e2) < 0) {
		char why[sizeof(e2.msg)];

		if (image_sniff(resp.body.data, resp.body.len) == IMAGE_NONE)
			snprintf(why, sizeof(why), "the answer is not an image (%zu bytes)",
				 resp.body.len);
		else
			snprintf(why, sizeof(why), "%s", e2.msg);
		if (resp.attempts > 1)
			err_code(err, 1, "GET %s: %.900s (after %d attempts)", shown, why,
				 resp.attempts);
		else
			err_code(err, 1, "GET %s: %.900s", shown, why);
		goto out;
	}
	snprintf(res->mime, sizeof(res->mime), "%s", image_mime(info.format));
	res->width = info.width;
	res->height = info.height;
	res->data = buf_detach(&resp.body, &res->len);
	res->len = info.len; /* without anything after the image's end */
	rc = 0;
out:
	http_response_release(&resp);
	free(path);
	free(efn);
	free(esub);
	free(etype);
	return rc;
}

/* ---- image inputs ------------------------------------------------------------------------ */

/* The file name an upload gets: its content's hash, so the same bytes always have the
 * same name - sent again after a failure, the upload overwrites itself. */
static void upload_name(char *out, size_t size, const char *prefix, const void *data, size_t len,
			enum image_format fmt)
{
	char hex[65];

	sha256_hex(hex, data, len);
	snprintf(out, size, "%s-%s.%s", prefix, hex, image_extension(fmt));
}

/*
 * The inputs against the workflow, before any request: one image; in a user's workflow a
 * place for it (params.image, else its one LoadImage node) and for the mask; the size
 * asked for (the input's, rounded to 8, by default); the names the uploads will have.
 */
static int plan_inputs(struct run *r, struct err *err)
{
	const struct imagen_request *req = r->req;
	const struct comfy *c = r->c;
	char ids[160];
	size_t n;

	r->width = req->width;
	r->height = req->height;
	if (!req->ninputs)
		return 0;
	if (req->ninputs > 1)
		return err_code(err, 2,
				"--image %s: the comfyui backend takes one input image (one "
				"LoadImage gets it)",
				req->inputs[1].path);
	if (req->size_from_input)
		size_round(r->width, r->height, 8, CF_MAX_SIDE, &r->width, &r->height);
	if (!is_builtin(c) && !c->params->n[P_IMAGE]) {
		n = comfyui_nodes_of_class(c->graph, "LoadImage", ids, sizeof(ids));
		if (n > 1)
			return err_code(
				err, 2,
				"--image %s: the workflow %s has %zu LoadImage nodes (%s): "
				"say which one takes the input with backends.%s.params.image "
				"(e.g. \"NODE.inputs.image\")",
				req->inputs[0].path, c->workflow, n, ids, c->base.name);
		return err_code(err, 2,
				"--image %s: the workflow %s has no LoadImage node to take it (set "
				"backends.%s.params.image)",
				req->inputs[0].path, c->workflow, c->base.name);
	}
	if (req->mask && !is_builtin(c) && !c->params->n[P_MASK]) {
		n = comfyui_nodes_of_class(c->graph, "LoadImageMask", ids, sizeof(ids));
		return err_code(
			err, 2,
			"--mask %s: the workflow %s has %s LoadImageMask node%s%s%s to take it "
			"(set backends.%s.params.mask)",
			req->mask->path, c->workflow, n ? "several" : "no", n ? "s (" : "",
			n ? ids : "", n ? ")" : "", c->base.name);
	}
	upload_name(r->image_name, sizeof(r->image_name), "imagen", req->inputs[0].data,
		    req->inputs[0].len, req->inputs[0].format);
	if (!req->mask)
		return 0;
	if (mask_encode(req->mask_map, req->mask->width, req->mask->height, MASK_WHITE_REPAINT,
			&r->mask_png, &r->mask_len, err) < 0)
		return -1;
	upload_name(r->mask_name, sizeof(r->mask_name), "imagen-mask", r->mask_png, r->mask_len,
		    IMAGE_PNG);
	return 0;
}

/*
 * POST /upload/image: one file as multipart part `image` under its name (kept in name,
 * size bytes), overwrite true, type input.  The name is the content's hash, so the
 * request is idempotent and retried like one.  The server's answer names the file as it
 * keeps it ("sub/name" with a subfolder); that goes into the graph.
 */
static int upload(struct run *r, const void *data, size_t len, enum image_format fmt, char *name,
		  size_t size, struct err *err)
{
	struct http_part parts[3];
	struct http_request hr;
	struct http_response resp;
	const char *got, *sub;
	char *url = url_of(r->c, "/upload/image");
	json_t *ans;
	int rc = -1;

	if (!url)
		return err_code(err, 1, "out of memory");
	memset(parts, 0, sizeof(parts));
	parts[0].name = "image";
	parts[0].data = data;
	parts[0].len = len;
	parts[0].filename = name;
	parts[0].type = image_mime(fmt);
	parts[1].name = "overwrite";
	parts[1].data = "true";
	parts[1].len = 4;
	parts[2].name = "type";
	parts[2].data = "input";
	parts[2].len = 5;
	memset(&hr, 0, sizeof(hr));
	memset(&resp, 0, sizeof(resp));
	hr.method = "POST";
	hr.url = url;
	hr.parts = parts;
	hr.nparts = 3;
	hr.timeout_ms = CF_UPLOAD_TIMEOUT_MS;
	hr.label = r->c->base.name;
	hr.events = r->req->events;
	hr.progress_status = "uploading";
	hr.idempotent = 1;
	if (http_request_retry(&hr, NULL, &resp, err) < 0) {
		fail_transport("POST", "/upload/image", err);
		goto out;
	}
	if (resp.status != 200) {
		fail_status("POST", "/upload/image", &resp, err);
		goto out;
	}
	ans = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	got = json_string_value(json_object_get(ans, "name"));
	sub = json_string_value(json_object_get(ans, "subfolder"));
	if (!got || !*got || strlen(got) + (sub ? strlen(sub) : 0) + 2 > size) {
		json_decref(ans);
		err_code(err, 1, "unexpected answer from POST /upload/image (name)");
		goto out;
	}
	if (sub && *sub)
		snprintf(name, size, "%s/%s", sub, got);
	else
		snprintf(name, size, "%s", got);
	json_decref(ans);
	verbose(r, "uploaded %zu bytes as %s", len, name);
	rc = 0;
out:
	http_response_release(&resp);
	free(url);
	return rc;
}

/* Upload the input and the mask; when the server keeps one under another name than
 * ours, write the graph again with its names.  0 or -1. */
static int upload_inputs(struct run *r, const struct run_opts *o, struct err *err)
{
	const struct gen_input *in = &r->req->inputs[0];
	char image[sizeof(r->image_name)], mask[sizeof(r->mask_name)];

	snprintf(image, sizeof(image), "%s", r->image_name);
	snprintf(mask, sizeof(mask), "%s", r->mask_name);
	ev_status(r->req->events, "uploading");
	if (upload(r, in->data, in->len, in->format, r->image_name, sizeof(r->image_name), err) <
		    0 ||
	    (r->mask_png && upload(r, r->mask_png, r->mask_len, IMAGE_PNG, r->mask_name,
				   sizeof(r->mask_name), err) < 0))
		return -1;
	if (!strcmp(image, r->image_name) && !strcmp(mask, r->mask_name))
		return 0;
	json_decref(r->graph);
	r->graph = NULL;
	return build_graph(r, o, err);
}

/* Whether every image of the run came from ComfyUI's cache (comfyui_history_images). */
static int all_cached(const json_t *images)
{
	const json_t *im;
	size_t i;

	json_array_foreach (images, i, im)
		if (!json_is_true(json_object_get(im, "cached")))
			return 0;
	return json_array_size(images) > 0;
}

static json_t *int_or_null(const json_t *v)
{
	return json_is_integer(v) ? json_incref((json_t *)v) : json_null();
}

static int fill_result(struct run *r, const json_t *images, size_t index, struct imagen_result *res,
		       struct err *err)
{
	const struct comfyui_params *p = r->c->params;
	const json_t *v, *im = json_array_get(images, index);
	json_t *md;

	v = comfyui_get_param(r->graph, p, P_STEPS);
	res->steps = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	/* sizes from the image itself; the graph's numbers for formats we do not parse */
	if (!res->width) {
		v = comfyui_get_param(r->graph, p, P_WIDTH);
		res->width = json_is_integer(v) ? (int)json_integer_value(v) : 0;
		v = comfyui_get_param(r->graph, p, P_HEIGHT);
		res->height = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	}
	res->seed = r->req->seed;
	/* one seed for the whole run: only the first image is what that seed alone gives
	 * with this graph (the others need their batch index or output node too) */
	res->seed_honoured = p->n[P_SEED] > 0 && index == 0;
	v = comfyui_get_param(r->graph, p, P_MODEL);
	res->model =
		json_is_string(v) && *json_string_value(v) ? strdup(json_string_value(v)) : NULL;
	md = json_pack("{s:s, s:s, s:o, s:s, s:s, s:O, s:I, s:o, s:o}", "prompt_id", r->prompt_id,
		       "client_id", r->client_id, "number",
		       r->number >= 0 ? json_integer(r->number) : json_null(), "workflow",
		       r->c->workflow, "events", r->ws_error[0] ? "polling" : "websocket", "image",
		       (json_t *)im, "images", (json_int_t)json_array_size(images), "params",
		       comfyui_params_json(p), "elapsed_ms",
		       json_integer((json_int_t)((http_now_s() - r->t0) * 1e3)));
	if (md && json_array_size(images) > 1)
		json_object_set_new(md, "image_index", json_integer((json_int_t)index));
	if (md && r->ws_error[0])
		json_object_set_new(md, "websocket_error", json_string(r->ws_error));
	if (md && (v = comfyui_get_param(r->graph, p, P_SAMPLER)) && json_is_string(v))
		json_object_set(md, "sampler", (json_t *)v);
	if (md && (v = comfyui_get_param(r->graph, p, P_SCHEDULER)) && json_is_string(v))
		json_object_set(md, "scheduler", (json_t *)v);
	if (md && (v = comfyui_get_param(r->graph, p, P_CFG)) && json_is_number(v))
		json_object_set(md, "cfg", (json_t *)v);
	if (md && (v = comfyui_get_param(r->graph, p, P_BATCH)))
		json_object_set_new(md, "batch_size", int_or_null(v));
	if (md && r->image_name[0])
		json_object_set_new(md, "uploads",
				    r->mask_name[0] ? json_pack("{s:s, s:s}", "image",
								r->image_name, "mask", r->mask_name)
						    : json_pack("{s:s}", "image", r->image_name));
	/* a user's workflow without a denoise to put it in did not get the strength */
	res->no_strength = r->image_name[0] && !is_builtin(r->c) && !p->n[P_STRENGTH];
	res->metadata = md;
	res->cost = NULL; /* a local server: nothing is billed */
	if (!md || (!res->model && json_is_string(comfyui_get_param(r->graph, p, P_MODEL)) &&
		    *json_string_value(comfyui_get_param(r->graph, p, P_MODEL))))
		return err_code(err, 1, "out of memory");
	return 0;
}

/*
 * How many images one run makes.  The framework asks for one per call, with seed, seed+1,
 * ...; that only gives different images when the seed goes somewhere.  ComfyUI caches
 * node outputs: a graph queued again unchanged is answered from the cache with the first
 * run's file.  So without a seed input the whole run's images come from one batch
 * (batch_size = req->total), and a graph with neither input cannot make more than one:
 * refused before anything is queued.
 */
static int plan_batch(const struct comfy *c, const struct imagen_request *req, int *batch,
		      struct err *err)
{
	int total = req->total > req->count ? req->total : req->count;

	*batch = 1;
	if (total <= 1 || c->params->n[P_SEED])
		return 0;
	if (!c->params->n[P_BATCH])
		return err_code(err, 2,
				"%d images asked for, but the workflow %s has no seed input: "
				"ComfyUI would answer every run after the first from its cache "
				"with the same image (set backends.%s.params.seed, or "
				"params.batch_size to make them in one run)",
				total, c->workflow, c->base.name);
	if (total > req->room)
		return err_code(err, 2,
				"%d images asked for, but the workflow %s has no seed input and "
				"one batch holds at most %d (set backends.%s.params.seed)",
				total, c->workflow, req->room, c->base.name);
	*batch = total;
	return 0;
}

static int comfyui_generate(struct backend *b, const struct imagen_request *req,
			    struct imagen_result *res, size_t *nres, struct err *err)
{
	struct comfy *c = (struct comfy *)b;
	struct run_opts o;
	json_t *images = NULL;
	struct run r;
	double deadline;
	size_t i, want;
	int rc = -1;

	*nres = 0;
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.req = req;
	r.number = -1;
	r.t0 = http_now_s();
	if (plan_batch(c, req, &r.batch, err) < 0 || read_opts(c, req->opts, &o, err) < 0 ||
	    plan_inputs(&r, err) < 0 || build_graph(&r, &o, err) < 0) {
		free(r.mask_png);
		return -1;
	}
	if (uuid4(r.client_id) < 0 || uuid4(r.prompt_id) < 0) {
		err_code(err, 1, "getrandom: %s", strerror(errno));
		goto out;
	}
	if (req->ninputs && upload_inputs(&r, &o, err) < 0)
		goto out;
	ev_status(req->events, "connecting");
	open_socket(&r);
	if (!r.ws && cancel_requested()) {
		err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		goto out;
	}
	if (!r.ws)
		verbose(&r, "%s; polling /history instead", r.ws_error);
	if (queue_prompt(&r, err) < 0)
		goto out;
	deadline = http_now_s() + (double)c->timeout_s;
	if (follow_socket(&r, deadline, err) < 0)
		goto out;
	if (wait_history(&r, deadline, &images, err) < 0)
		goto out;
	if (!json_array_size(images)) {
		err_code(err, 1, "prompt %s finished without an image (no SaveImage output in %s)",
			 r.prompt_id, c->workflow);
		goto out;
	}
	if (all_cached(images))
		ev_log(req->events, EV_WARN, c->base.name,
		       "prompt %s was answered from ComfyUI's cache: %s the one%s an earlier run "
		       "of the same graph made",
		       r.prompt_id, json_array_size(images) > 1 ? "its images are" : "its image is",
		       json_array_size(images) > 1 ? "s" : "");
	ev_status(req->events, "downloading");
	/* every image the run saved (a batch, several SaveImage nodes), as far as the
	 * caller has room: they are ours, generated and paid for in GPU time */
	want = req->count > 0 ? (size_t)req->count : 1;
	if (req->room > req->count)
		want = (size_t)req->room;
	for (i = 0; i < want && i < json_array_size(images); i++) {
		if (download(&r, json_array_get(images, i), &res[i], err) < 0 ||
		    fill_result(&r, images, i, &res[i], err) < 0) {
			imagen_result_release(&res[i]);
			goto out;
		}
		*nres = i + 1;
	}
	rc = 0;
out:
	/* interrupted, or given up for whatever reason before it finished: do not leave our
	 * prompt queued or running for nobody */
	if (rc < 0 && r.queued)
		cancel_upstream(&r);
	ws_close(r.ws);
	json_decref(images);
	json_decref(r.graph);
	free(r.mask_png);
	return rc;
}

/* This adapter's instance in the sample imagen.yaml (`imagen config init`): one
 * NAME: with its keys, as a user would write it; it must pass validate(). */
static const char comfyui_sample[] =
	"# A ComfyUI server (local: no cost recorded).\n"
	"comfy:\n"
	"  type: comfyui\n"
	"  base_url: http://127.0.0.1:8188\n"
	"  workflow: builtin:txt2img           # builtin:flux-schnell, or a graph saved with\n"
	"                                      # \"Export (API)\"; default: flux-schnell when\n"
	"                                      # model contains \"flux\", else txt2img\n"
	"  model: v1-5-pruned-emaonly.safetensors   # checkpoint; required with txt2img\n"
	"  default_steps: 20                   # unset: the graph's own\n"
	"  sampler: euler                      # KSampler sampler_name\n"
	"  scheduler: normal\n"
	"  cfg: 7.0                            # 0..100\n"
	"  params:                             # where each knob goes; found from the\n"
	"    prompt: \"6.inputs.text\"           # standard nodes when absent (negative,\n"
	"    seed: \"3.inputs.seed\"             # seed, steps, width, height, cfg, sampler,\n"
	"                                      # scheduler, model, batch_size, image, mask,\n"
	"                                      # strength; null: none)\n"
	"  timeout: 600                        # seconds to wait once queued\n";

/* imagen backends --check: GET /system_stats. */
static int comfyui_check(struct backend *b, struct err *err)
{
	char *url = url_of((const struct comfy *)b, "/system_stats");
	int rc = url ? http_check_get(b->name, url, NULL, NULL, err)
		     : err_code(err, 1, "out of memory");

	free(url);
	return rc;
}

const struct backend_ops comfyui_backend_ops = {
	.type = "comfyui",
	.summary = "a ComfyUI server: built-in txt2img / Flux schnell graphs or your workflow",
	.max_batch = 1,
	.validate = comfyui_validate,
	.open = comfyui_open,
	.generate = comfyui_generate,
	.close = comfyui_close,
	.check = comfyui_check,
	.keys = cfg_keys,
	.sample = comfyui_sample,
};
