/* a1111.c - the `a1111` adapter: an AUTOMATIC1111 / Forge WebUI started with --api.
 *
 * One POST /sdapi/v1/txt2img per call (--count N up to A1111_MAX_BATCH becomes
 * batch_size N); the answer carries the images as base64 and `info`, a JSON document
 * encoded as a string, with the seeds really used.  While the request blocks, a second
 * thread polls GET /sdapi/v1/progress for the progress line; Ctrl-C sends
 * POST /sdapi/v1/interrupt.  Wire facts: ../shared/protocols/a1111.md. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/adapter.h"
#include "core/backend.h"
#include "util/base64.h"
#include "util/cancel.h"
#include "net/http.h"
#include "core/image.h"
#include "core/inputs.h"
#include "core/events.h"
#include "util/suggest.h"
#include "util/text.h"

#define A1111_DEFAULT_URL "http://127.0.0.1:7860"
#define A1111_DEFAULT_SAMPLER "Euler a"
#define A1111_DEFAULT_SCHEDULER "Automatic"
#define A1111_DEFAULT_CFG 7.0
#define A1111_DEFAULT_SIDE 512
#define A1111_DEFAULT_STEPS 20
#define A1111_DEFAULT_TIMEOUT_S 600
#define A1111_MAX_SIDE 16384
#define A1111_MAX_STEPS 10000
#define A1111_MAX_CFG 100.0
#define A1111_MAX_TIMEOUT_S 86400
#define A1111_MAX_BATCH 8
#define A1111_MAX_BODY ((size_t)512 << 20) /* a batch of big base64 PNGs */
#define A1111_POLL_MS 500
#define A1111_POLL_TIMEOUT_MS 2000
#define A1111_CANCEL_TIMEOUT_MS 5000
#define A1111_TXT2IMG "/sdapi/v1/txt2img"
#define A1111_IMG2IMG "/sdapi/v1/img2img"
#define A1111_ROUTE(req) ((req) && (req)->ninputs ? A1111_IMG2IMG : A1111_TXT2IMG)
#define A1111_MASK_BLUR 4    /* A1111's own default (mask_blur_x/y) */
#define A1111_INPAINT_FILL 1 /* "original", the UI's default (the API's is 0, fill) */
#define A1111_INPAINT_PADDING 32

struct a1111_backend {
	struct backend base;               /* first: the framework holds a struct backend * */
	char *base_url;                    /* no trailing slash */
	char *sampler, *scheduler, *model; /* model NULL: whatever the server has loaded */
	char *auth_env; /* name of the variable, for messages; NULL without auth */
	char *userpwd;  /* "user:password" from the environment; never printed */
	double cfg_scale;
	int width, height, steps;
	long timeout_ms;
	const char *route; /* the running request's route (txt2img or img2img), for messages */
};

/* What the config slice says, read by validate() and open() alike (borrowed strings). */
struct a1111_cfg {
	const char *base_url, *sampler, *scheduler, *model, *auth_env;
	double cfg_scale;
	long long width, height, steps, timeout;
};

/* The per-request choices: config values overridden by --set. */
struct a1111_params {
	const char *sampler, *scheduler, *model;
	double cfg_scale;
	int width, height, steps;
	int mask_blur, inpainting_fill, inpaint_full_res; /* img2img with a mask */
};

extern const struct backend_ops a1111_backend_ops;

static const char *const a1111_cfg_keys[] = {
	"type",  "base_url", "model", "sampler",  "scheduler", "cfg_scale",
	"width", "height",   "steps", "auth_env", "timeout",   NULL,
};

static const char *const a1111_opt_keys[] = { "sampler",          "scheduler",
					      "cfg_scale",        "model",
					      "mask_blur",        "inpainting_fill",
					      "inpaint_full_res", NULL };

/* ---- config ------------------------------------------------------------------------------ */

/* An optional string; null counts as absent, "" as a mistake. */
static int get_str(const json_t *cfg, const char *name, const char *key, const char **out,
		   struct err *err)
{
	const json_t *v = json_object_get(cfg, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !*json_string_value(v))
		return err_key(err, key, "backends.%s.%s: expected a non-empty string", name, key);
	*out = json_string_value(v);
	return 0;
}

static int check_base_url(const char *name, const char *url, struct err *err)
{
	const char *host, *end;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return err_key(
			err, "base_url",
			"backends.%s.base_url: expected an http:// or https:// URL, got '%s'", name,
			url);
	host = strstr(url, "://") + 3;
	end = host + strcspn(host, "/?#");
	if (end == host)
		return err_key(err, "base_url", "backends.%s.base_url: no host in '%s'", name, url);
	/* a password in the config file would be printed by `config show`: keep it in the
	 * environment (auth_env) instead; the URL itself is not echoed for the same reason */
	if (memchr(host, '@', (size_t)(end - host)))
		return err_key(err, "base_url",
			       "backends.%s.base_url: credentials in the URL are not allowed (name "
			       "a variable holding user:password in auth_env)",
			       name);
	if (strpbrk(url, "?#"))
		return err_key(
			err, "base_url",
			"backends.%s.base_url: expected a base URL without query or fragment",
			name);
	return 0;
}

static int a1111_read_cfg(const char *name, const json_t *cfg, struct a1111_cfg *out,
			  struct err *err)
{
	const json_t *v;

	memset(out, 0, sizeof(*out));
	out->base_url = A1111_DEFAULT_URL;
	out->sampler = A1111_DEFAULT_SAMPLER;
	out->scheduler = A1111_DEFAULT_SCHEDULER;
	out->cfg_scale = A1111_DEFAULT_CFG;
	out->width = out->height = A1111_DEFAULT_SIDE;
	out->steps = A1111_DEFAULT_STEPS;
	out->timeout = A1111_DEFAULT_TIMEOUT_S;
	if (!cfg)
		return 0;
	if (!json_is_object(cfg))
		return err_code(err, 2, "backends.%s: expected a mapping", name);
	if (cfg_check_keys(name, cfg, a1111_cfg_keys, err) ||
	    get_str(cfg, name, "base_url", &out->base_url, err) ||
	    get_str(cfg, name, "sampler", &out->sampler, err) ||
	    get_str(cfg, name, "scheduler", &out->scheduler, err) ||
	    get_str(cfg, name, "model", &out->model, err) ||
	    get_str(cfg, name, "auth_env", &out->auth_env, err) ||
	    cfg_get_int(cfg, name, "width", 8, A1111_MAX_SIDE, &out->width, err) ||
	    cfg_get_int(cfg, name, "height", 8, A1111_MAX_SIDE, &out->height, err) ||
	    cfg_get_int(cfg, name, "steps", 1, A1111_MAX_STEPS, &out->steps, err) ||
	    cfg_get_int(cfg, name, "timeout", 1, A1111_MAX_TIMEOUT_S, &out->timeout, err))
		goto bad;
	v = json_object_get(cfg, "cfg_scale");
	if (v && adapter_number(v, 0, A1111_MAX_CFG, &out->cfg_scale)) {
		err_key(err, "cfg_scale", "backends.%s.cfg_scale: expected a number, 0..%g", name,
			A1111_MAX_CFG);
		goto bad;
	}
	if (out->width % 8 || out->height % 8) {
		err_key(err, out->width % 8 ? "width" : "height",
			"backends.%s.%s: %lld is not a multiple of 8", name,
			out->width % 8 ? "width" : "height",
			out->width % 8 ? out->width : out->height);
		goto bad;
	}
	if (check_base_url(name, out->base_url, err))
		goto bad;
	if (out->auth_env && !adapter_env_name_ok(out->auth_env)) {
		err_key(err, "auth_env",
			"backends.%s.auth_env: expected the NAME of an environment variable "
			"(letters, digits, '_'), not its value",
			name);
		goto bad;
	}
	return 0;
bad:
	if (err)
		err->code = 2;
	return -1;
}

static int a1111_validate(const char *name, const json_t *cfg, struct err *err)
{
	struct a1111_cfg c;

	return a1111_read_cfg(name, cfg, &c, err);
}

/* imagen backends --check: GET /sdapi/v1/options (answers once the API is up, and asks
 * for the credentials when the server has --api-auth). */
static int a1111_check(struct backend *b, struct err *err)
{
	const struct a1111_backend *m = (const struct a1111_backend *)b;
	char *url = NULL;
	int rc;

	if (asprintf(&url, "%s/sdapi/v1/options", m->base_url) < 0)
		return err_code(err, 1, "out of memory");
	rc = http_check_get(b->name, url, NULL, m->userpwd, err);
	free(url);
	return rc;
}

static void a1111_close(struct backend *b)
{
	struct a1111_backend *m = (struct a1111_backend *)b;

	if (!m)
		return;
	free(m->base_url);
	free(m->sampler);
	free(m->scheduler);
	free(m->model);
	free(m->auth_env);
	if (m->userpwd) {
		/* not a real defence, but no copy of the password outlives its use */
		memset(m->userpwd, 0, strlen(m->userpwd));
		free(m->userpwd);
	}
	free(m->base.name);
	free(m);
}

static char *dup_or_null(const char *s, int *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

static int a1111_open(struct backend **out, const char *name, const json_t *cfg, struct err *err)
{
	struct a1111_backend *m;
	struct a1111_cfg c;
	const char *secret = NULL;
	size_t n;
	int oom = 0;

	*out = NULL;
	if (a1111_read_cfg(name, cfg, &c, err))
		return -1;
	if (c.auth_env) {
		secret = getenv(c.auth_env);
		if (!secret || !*secret)
			return err_code(err, 2,
					"%s is not set (auth_env: it should hold user:password)",
					c.auth_env);
		if (!strchr(secret, ':'))
			return err_code(err, 2,
					"%s does not look like user:password (no ':' in it)",
					c.auth_env);
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_code(err, 1, "out of memory");
	m->base.ops = &a1111_backend_ops;
	m->base.name = dup_or_null(name ? name : "a1111", &oom);
	m->base_url = dup_or_null(c.base_url, &oom);
	m->sampler = dup_or_null(c.sampler, &oom);
	m->scheduler = dup_or_null(c.scheduler, &oom);
	m->model = dup_or_null(c.model, &oom);
	m->auth_env = dup_or_null(c.auth_env, &oom);
	m->userpwd = dup_or_null(secret, &oom);
	if (oom) {
		a1111_close(&m->base);
		return err_code(err, 1, "out of memory");
	}
	n = strlen(m->base_url);
	while (n > 0 && m->base_url[n - 1] == '/')
		m->base_url[--n] = '\0';
	m->cfg_scale = c.cfg_scale;
	m->width = (int)c.width;
	m->height = (int)c.height;
	m->steps = (int)c.steps;
	m->timeout_ms = (long)c.timeout * 1000L;
	*out = &m->base;
	return 0;
}

/* ---- the request ------------------------------------------------------------------------- */

/* --set sampler=..., scheduler=..., cfg_scale=..., model=... over the config values. */
static int a1111_read_opts(const json_t *opts, struct a1111_params *p, struct err *err)
{
	const char *key, *hint;
	const json_t *v;
	void *it;
	size_t i;

	for (it = json_object_iter((json_t *)opts); it;
	     it = json_object_iter_next((json_t *)opts, it)) {
		key = json_object_iter_key(it);
		v = json_object_iter_value(it);
		for (i = 0; a1111_opt_keys[i] && strcmp(a1111_opt_keys[i], key); i++)
			;
		if (!a1111_opt_keys[i]) {
			hint = suggest_closest(key, a1111_opt_keys);
			return err_code(
				err, 2,
				"unknown option '%s' for the a1111 backend (known: sampler, "
				"scheduler, cfg_scale, model, mask_blur, inpainting_fill, "
				"inpaint_full_res%s%s%s)",
				key, hint ? "; did you mean '" : "", hint ? hint : "",
				hint ? "'?" : "");
		}
		if (!strcmp(key, "cfg_scale")) {
			if (adapter_number(v, 0, A1111_MAX_CFG, &p->cfg_scale))
				return err_code(err, 2,
						"option cfg_scale: expected a number, 0..%g",
						A1111_MAX_CFG);
			continue;
		}
		if (!strcmp(key, "mask_blur") || !strcmp(key, "inpainting_fill")) {
			int fill = !strcmp(key, "inpainting_fill");
			double d;

			if (adapter_number(v, 0, fill ? 3 : 64, &d) || d != (int)d)
				return err_code(err, 2, "option %s: expected an integer, 0..%d",
						key, fill ? 3 : 64);
			*(fill ? &p->inpainting_fill : &p->mask_blur) = (int)d;
			continue;
		}
		if (!strcmp(key, "inpaint_full_res")) {
			if (!json_is_boolean(v))
				return err_code(err, 2,
						"option inpaint_full_res: expected true or false");
			p->inpaint_full_res = json_is_true(v);
			continue;
		}
		if (!json_is_string(v) || !*json_string_value(v))
			return err_code(err, 2, "option %s: expected a name", key);
		if (!strcmp(key, "sampler"))
			p->sampler = json_string_value(v);
		else if (!strcmp(key, "scheduler"))
			p->scheduler = json_string_value(v);
		else
			p->model = json_string_value(v);
	}
	return 0;
}

/* The settings of one call (strings borrowed from m and req->opts). */
static int a1111_params_for(const struct a1111_backend *m, const struct imagen_request *req,
			    struct a1111_params *p, struct err *err)
{
	p->sampler = m->sampler;
	p->scheduler = m->scheduler;
	p->model = m->model;
	p->cfg_scale = m->cfg_scale;
	p->width = req->width ? req->width : m->width;
	p->height = req->height ? req->height : m->height;
	p->steps = req->steps ? req->steps : m->steps;
	p->mask_blur = A1111_MASK_BLUR;
	p->inpainting_fill = A1111_INPAINT_FILL;
	p->inpaint_full_res = 0; /* "Whole picture", the UI's default */
	if (req->size_from_input)
		size_round(p->width, p->height, 8, A1111_MAX_SIDE, &p->width, &p->height);
	if (req->opts && a1111_read_opts(req->opts, p, err))
		return -1;
	/* one init image is repeated for the batch; more images than the batch fail there */
	if (req->ninputs > 1)
		return err_code(err, 2,
				"--image %s: the a1111 backend takes one input image (img2img "
				"has one init image)",
				req->inputs[1].path);
	if (p->width % 8 || p->height % 8)
		return err_code(
			err, 2,
			"%s %d is not a multiple of 8 (AUTOMATIC1111 works in 8-pixel blocks)",
			p->width % 8 ? "width" : "height", p->width % 8 ? p->width : p->height);
	if (p->width > A1111_MAX_SIDE || p->height > A1111_MAX_SIDE || p->steps > A1111_MAX_STEPS)
		return err_code(err, 2, "size or steps out of range for the a1111 backend");
	return 0;
}

/* The img2img fields: the init image and strength, and the mask (white = repaint) with
 * its settings.  0, or -1 when memory is short. */
static int add_img2img(json_t *o, const struct a1111_params *p, const struct imagen_request *req)
{
	unsigned char *png = NULL;
	size_t len = 0;
	char *b64;
	json_t *a = json_array();

	if (!a || json_object_set_new(o, "init_images", a) < 0)
		return -1;
	b64 = base64_encode(req->inputs[0].data, req->inputs[0].len, NULL);
	if (!b64 || json_array_append_new(a, json_string(b64)) < 0) {
		free(b64);
		return -1;
	}
	free(b64);
	if (json_object_set_new(o, "denoising_strength", json_real(req->strength)) < 0 ||
	    json_object_set_new(o, "resize_mode", json_integer(0)) < 0 ||
	    json_object_set_new(o, "include_init_images", json_false()) < 0)
		return -1;
	if (!req->mask)
		return 0;
	if (mask_encode(req->mask_map, req->mask->width, req->mask->height, MASK_WHITE_REPAINT,
			&png, &len, NULL) < 0)
		return -1;
	b64 = base64_encode(png, len, NULL);
	free(png);
	if (!b64 || json_object_set_new(o, "mask", json_string(b64)) < 0) {
		free(b64);
		return -1;
	}
	free(b64);
	return json_object_set_new(o, "mask_blur", json_integer(p->mask_blur)) < 0 ||
			       json_object_set_new(o, "inpainting_fill",
						   json_integer(p->inpainting_fill)) < 0 ||
			       json_object_set_new(o, "inpaint_full_res",
						   json_boolean(p->inpaint_full_res)) < 0 ||
			       json_object_set_new(o, "inpaint_full_res_padding",
						   json_integer(A1111_INPAINT_PADDING)) < 0 ||
			       json_object_set_new(o, "inpainting_mask_invert", json_integer(0)) < 0
		       ? -1
		       : 0;
}

/** The txt2img body, or img2img's with inputs (new reference, NULL when memory is
 *  short). */
static json_t *a1111_build_body(const struct a1111_params *p, const struct imagen_request *req)
{
	json_t *o;
	int count = req->count > 0 ? req->count : 1;

	o = json_pack("{s:s, s:s, s:I, s:i, s:i, s:i, s:s, s:s, s:f, s:i, s:i, s:b, s:b}", "prompt",
		      req->prompt ? req->prompt : "", "negative_prompt",
		      req->negative_prompt ? req->negative_prompt : "", "seed",
		      (json_int_t)req->seed, "steps", p->steps, "width", p->width, "height",
		      p->height, "sampler_name", p->sampler, "scheduler", p->scheduler, "cfg_scale",
		      p->cfg_scale, "batch_size", count, "n_iter", 1, "send_images", 1,
		      "save_images", 0);
	if (o && p->model &&
	    json_object_set_new(o, "override_settings",
				json_pack("{s:s}", "sd_model_checkpoint", p->model)) < 0) {
		json_decref(o);
		return NULL;
	}
	if (o && req->ninputs && add_img2img(o, p, req) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- errors ------------------------------------------------------------------------------ */

/*
 * The message of a non-2xx answer.  A1111's handler answers {"error": "<exception class>",
 * "detail": ..., "errors": "<message>"}; request validation gives FastAPI's
 * {"detail": [{"loc": [...], "msg": ...}]}.  http_describe_status would pick the class
 * name ("HTTPException"), so the shapes are read here.
 */
static void a1111_error_text(char *out, size_t size, const struct http_response *resp)
{
	json_t *j = NULL, *detail, *error, *errors;
	struct buf text = BUF_INIT;
	char line[401];
	size_t i;

	if (resp->body.len)
		j = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
	detail = json_object_get(j, "detail");
	error = json_object_get(j, "error");
	errors = json_object_get(j, "errors");
	if (json_is_array(detail) && json_array_size(detail)) {
		json_t *e = json_array_get(detail, 0), *loc = json_object_get(e, "loc"), *part;
		const char *msg = json_string_value(json_object_get(e, "msg"));
		int first = 1;

		json_array_foreach (loc, i, part) {
			char num[32];

			if (first && json_is_string(part) &&
			    !strcmp(json_string_value(part), "body"))
				continue;
			if (!first)
				text_clean_adds(&text, ".", 400);
			if (json_is_integer(part)) {
				snprintf(num, sizeof(num), "%lld",
					 (long long)json_integer_value(part));
				text_clean_adds(&text, num, 400);
			} else {
				text_clean_adds(&text, json_string_value(part), 400);
			}
			first = 0;
		}
		if (!first)
			text_clean_adds(&text, ": ", 400);
		text_clean_adds(&text, msg ? msg : "invalid request", 400);
		if (json_array_size(detail) > 1) {
			char more[48];

			snprintf(more, sizeof(more), " (and %zu more)",
				 json_array_size(detail) - 1);
			text_clean_adds(&text, more, 400);
		}
	} else if (json_is_string(error) && json_is_string(errors) &&
		   strcmp(json_string_value(error), "HTTPException") &&
		   *json_string_value(errors)) {
		/* an exception inside the WebUI: "OutOfMemoryError: CUDA out of memory..." */
		text_clean_adds(&text, json_string_value(error), 400);
		text_clean_adds(&text, ": ", 400);
		text_clean_adds(&text, json_string_value(errors), 400);
	} else if (json_is_string(detail) && *json_string_value(detail)) {
		text_clean_adds(&text, json_string_value(detail), 400);
	}
	json_decref(j);
	text_clean(line, sizeof(line), text.len ? (const char *)text.data : NULL);
	if (line[0])
		snprintf(out, size, "HTTP %ld: %s", resp->status, line);
	else
		http_describe_status(out, size, resp);
	buf_release(&text);
}

/* "HTTP 422 from POST /sdapi/v1/txt2img[ after N attempts]: <text>[ (hint)]" */
static int a1111_status_error(const struct a1111_backend *m, const struct http_response *resp,
			      struct err *err)
{
	char desc[512], attempts[48] = "";
	const char *text, *hint = "";
	char hintbuf[160];

	a1111_error_text(desc, sizeof(desc), resp);
	/* desc is "HTTP NNN" or "HTTP NNN: text" */
	text = strchr(desc, ':');
	text = text ? text + 2 : "";
	if (resp->attempts > 1)
		snprintf(attempts, sizeof(attempts), " after %d attempts", resp->attempts);
	if (resp->status == 401) {
		if (m->auth_env)
			snprintf(hintbuf, sizeof(hintbuf), " (check the user:password in %s)",
				 m->auth_env);
		else
			snprintf(hintbuf, sizeof(hintbuf),
				 " (the server wants a user and password: set auth_env)");
		hint = hintbuf;
	} else if (resp->status == 404 && !*text) {
		hint = " (is the WebUI started with --api?)";
	}
	return err_code(err, 1, "HTTP %ld from POST %s%s%s%s%s", resp->status,
			m->route ? m->route : A1111_TXT2IMG, attempts, *text ? ": " : "", text,
			hint);
}

/* ---- progress ---------------------------------------------------------------------------- */

/* The progress poller: a second thread asks GET /sdapi/v1/progress every A1111_POLL_MS
 * while the main thread is blocked in the txt2img request, and is the only one drawing
 * the progress line until it is joined. */
struct poller {
	const struct a1111_backend *m;
	const struct ev_sink *events;
	char *url;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int started;
};

static void poll_once(struct poller *pl)
{
	struct http_request hr = { 0 };
	struct http_response resp = { 0 };
	struct err err = ERR_INIT;
	json_t *j, *state;
	long step, steps, job_count;
	double eta;
	char what[48];

	hr.method = "GET";
	hr.url = pl->url;
	hr.timeout_ms = A1111_POLL_TIMEOUT_MS;
	hr.connect_timeout_ms = A1111_POLL_TIMEOUT_MS;
	hr.max_body = (size_t)1 << 20;
	hr.userpwd = pl->m->userpwd;
	hr.label = pl->m->base.name;
	hr.events = pl->events;
	if (http_request(&hr, &resp, &err) < 0 || resp.status != 200) {
		http_response_release(&resp);
		return; /* the progress line is a nicety: the txt2img answer says what matters */
	}
	j = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	http_response_release(&resp);
	state = json_object_get(j, "state");
	step = (long)json_integer_value(json_object_get(state, "sampling_step"));
	steps = (long)json_integer_value(json_object_get(state, "sampling_steps"));
	job_count = (long)json_integer_value(json_object_get(state, "job_count"));
	eta = json_number_value(json_object_get(j, "eta_relative"));
	if (j && job_count > 0 && steps > 0) {
		what[0] = '\0';
		if (eta > 0 && eta < 1e6)
			snprintf(what, sizeof(what), "eta %.0fs", eta);
		ev_steps(pl->events, step, steps, what[0] ? what : NULL);
	} else if (j) {
		/* our request waits behind another job, or a model is loading */
		ev_status(pl->events, "waiting for the server");
	}
	json_decref(j);
}

static void *poller_main(void *arg)
{
	struct poller *pl = arg;
	struct timespec until;
	int rc;

	pthread_mutex_lock(&pl->mu);
	while (!pl->stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)A1111_POLL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		/* 0 is a signal or a spurious wake-up: wait on until stop or the deadline */
		rc = 0;
		while (!pl->stop && rc == 0)
			rc = pthread_cond_timedwait(&pl->cv, &pl->mu, &until);
		if (pl->stop || cancel_requested())
			break;
		pthread_mutex_unlock(&pl->mu);
		poll_once(pl);
		pthread_mutex_lock(&pl->mu);
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

/* Start polling when there is a progress line to draw; a failure only costs the line. */
static void poller_start(struct poller *pl, const struct a1111_backend *m,
			 const struct imagen_request *req)
{
	pthread_condattr_t ca;

	memset(pl, 0, sizeof(*pl));
	if (!ev_wants_progress(req->events))
		return;
	pl->m = m;
	pl->events = req->events;
	if (asprintf(&pl->url, "%s/sdapi/v1/progress?skip_current_image=true", m->base_url) < 0) {
		pl->url = NULL;
		return;
	}
	if (pthread_condattr_init(&ca))
		goto out_free;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&pl->cv, &ca)) {
		pthread_condattr_destroy(&ca);
		goto out_free;
	}
	pthread_condattr_destroy(&ca);
	if (pthread_mutex_init(&pl->mu, NULL))
		goto out_cond;
	if (pthread_create(&pl->thread, NULL, poller_main, pl))
		goto out_mutex;
	pl->started = 1;
	return;
out_mutex:
	pthread_mutex_destroy(&pl->mu);
out_cond:
	pthread_cond_destroy(&pl->cv);
out_free:
	free(pl->url);
	pl->url = NULL;
}

/* Stop and join: after this only the caller's thread touches the progress line. */
static void poller_stop(struct poller *pl)
{
	if (pl->started) {
		pthread_mutex_lock(&pl->mu);
		pl->stop = 1;
		pthread_cond_signal(&pl->cv);
		pthread_mutex_unlock(&pl->mu);
		pthread_join(pl->thread, NULL);
		pthread_mutex_destroy(&pl->mu);
		pthread_cond_destroy(&pl->cv);
		pl->started = 0;
	}
	free(pl->url);
	pl->url = NULL;
}

/* ---- the response ------------------------------------------------------------------------ */

/* `info`: a JSON document inside a JSON string (parse twice).  Returns a new reference,
 * or NULL with *why saying what was wrong with it. */
static json_t *parse_info(const json_t *v, const char **why)
{
	json_t *info;

	if (json_is_object(v)) /* some forks send the object itself */
		return json_incref((json_t *)v);
	if (!v) {
		*why = "the response has no info";
		return NULL;
	}
	if (!json_is_string(v)) {
		*why = "info is not a JSON-encoded string";
		return NULL;
	}
	info = json_loadb(json_string_value(v), json_string_length(v), 0, NULL);
	if (!json_is_object(info)) {
		json_decref(info);
		*why = "info is not valid JSON";
		return NULL;
	}
	return info;
}

static int json_int_at(const json_t *arr, size_t i, int64_t *out)
{
	const json_t *v = json_array_get(arr, i);

	if (!json_is_integer(v))
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* Metadata of image i (0-based among the real images, grid excluded). */
static json_t *image_metadata(const json_t *info, const struct a1111_params *p, size_t i,
			      size_t first, const char *info_error, int64_t seed_requested,
			      int64_t seed, size_t trimmed)
{
	json_t *md = json_object(), *v;
	int64_t sub;

	if (!md)
		return NULL;
	v = json_object_get(info, "sampler_name");
	json_object_set_new(md, "sampler",
			    json_string(json_is_string(v) ? json_string_value(v) : p->sampler));
	json_object_set_new(md, "scheduler", json_string(p->scheduler));
	v = json_object_get(info, "cfg_scale");
	json_object_set_new(md, "cfg_scale",
			    json_is_number(v) ? json_deep_copy(v) : json_real(p->cfg_scale));
	if (json_is_string(v = json_object_get(info, "sd_model_name")))
		json_object_set(md, "sd_model_name", v);
	if (json_is_string(v = json_object_get(info, "sd_model_hash")))
		json_object_set(md, "sd_model_hash", v);
	if (p->model)
		json_object_set_new(md, "checkpoint", json_string(p->model));
	if (!json_int_at(json_object_get(info, "all_subseeds"), i, &sub))
		json_object_set_new(md, "subseed", json_integer(sub));
	if (json_is_string(v = json_object_get(info, "version")))
		json_object_set(md, "version", v);
	if (json_is_string(v = json_array_get(json_object_get(info, "infotexts"), first + i)))
		json_object_set(md, "infotext", v);
	if (seed != seed_requested)
		json_object_set_new(md, "seed_requested", json_integer(seed_requested));
	if (info_error)
		json_object_set_new(md, "info_error", json_string(info_error));
	if (trimmed)
		json_object_set_new(md, "bytes_after_iend_removed",
				    json_integer((json_int_t)trimmed));
	return md;
}

/*
 * Turn a txt2img answer into results.  Valid images fill res[0..*nres) in order; an image
 * that is not valid base64 or not a whole image fails the call (naming it) but the good
 * ones are kept.  A broken `info` only costs the upstream's seeds: the requested ones are
 * recorded instead and the sidecar says so.
 */
static int a1111_parse_response(const char *body, size_t len, const struct a1111_params *p,
				const struct imagen_request *req, struct imagen_result *res,
				size_t *nres, struct err *err)
{
	json_t *j, *images, *info = NULL, *v;
	const char *info_error = NULL, *mime, *model;
	size_t n, first = 0, i, want = req->count > 0 ? (size_t)req->count : 1, got = 0;
	int64_t seed, base_seed;
	int rc = -1, bad = 0;
	char bad_msg[512] = "";

	*nres = 0;
	j = json_loadb(body, len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_code(err, 1, "upstream returned malformed JSON (POST %s)",
				A1111_ROUTE(req));
	}
	images = json_object_get(j, "images");
	if (!json_is_array(images) || json_array_size(images) == 0) {
		err_code(err, 1, "upstream returned no images (POST %s)", A1111_ROUTE(req));
		goto out;
	}
	n = json_array_size(images);
	info = parse_info(json_object_get(j, "info"), &info_error);

	/* with several images A1111 puts a grid first and says where the real ones start */
	v = json_object_get(info, "index_of_first_image");
	if (json_is_integer(v) && json_integer_value(v) >= 0 && (size_t)json_integer_value(v) < n)
		first = (size_t)json_integer_value(v);
	else if (!info && want > 1 && n == want + 1)
		first = 1;

	base_seed = req->seed;
	v = json_object_get(info, "seed");
	if (json_is_integer(v))
		base_seed = (int64_t)json_integer_value(v);
	model = p->model;
	v = json_object_get(info, "sd_model_name");
	if (!model && json_is_string(v))
		model = json_string_value(v);

	for (i = 0; i < want && first + i < n; i++) {
		struct imagen_result *r = &res[got];
		const json_t *s = json_array_get(images, first + i);
		unsigned char *data;
		size_t dlen, trimmed;
		struct image_info img;
		struct err perr = ERR_INIT;

		/* standard base64, padding optional; some forks send a data: URL */
		if (!json_is_string(s) || base64_decode_text(&data, &dlen, json_string_value(s),
							     json_string_length(s), NULL)) {
			if (!bad++)
				snprintf(bad_msg, sizeof(bad_msg),
					 "image %zu of the response is not valid base64", i + 1);
			continue;
		}
		if (image_check(data, dlen, &img, &perr) < 0) {
			if (!bad++)
				snprintf(bad_msg, sizeof(bad_msg),
					 "image %zu of the response is not a usable image: %.400s",
					 i + 1, perr.msg);
			free(data);
			continue;
		}
		/* bytes a writer left after the image's end would make it refused later */
		trimmed = dlen - img.len;
		dlen = img.len;
		mime = image_mime(img.format);
		seed = (int64_t)(((uint64_t)base_seed + i) & (uint64_t)INT64_MAX);
		json_int_at(json_object_get(info, "all_seeds"), i, &seed);

		r->data = data;
		r->len = dlen;
		snprintf(r->mime, sizeof(r->mime), "%s", mime);
		r->width = img.width ? img.width : p->width;
		r->height = img.height ? img.height : p->height;
		v = json_object_get(info, "steps");
		r->steps = json_is_integer(v) ? (int)json_integer_value(v) : p->steps;
		r->seed = seed;
		r->seed_honoured = 1;
		r->model = model ? strdup(model) : NULL;
		r->metadata = image_metadata(
			info, p, i, first, info_error,
			(int64_t)(((uint64_t)req->seed + i) & (uint64_t)INT64_MAX), seed, trimmed);
		r->cost = NULL; /* a local server: nothing is billed */
		if ((model && !r->model) || !r->metadata) {
			imagen_result_release(r);
			err_code(err, 1, "out of memory");
			goto out;
		}
		got++;
	}
	*nres = got;
	if (bad) {
		err_code(err, 1, "%s", bad_msg);
		goto out;
	}
	if (got < want) {
		err_code(err, 1, "upstream returned %zu image%s, %zu %s asked for", got,
			 got == 1 ? "" : "s", want, want == 1 ? "was" : "were");
		goto out;
	}
	rc = 0;
out:
	json_decref(info);
	json_decref(j);
	return rc;
}

/* ---- generate ---------------------------------------------------------------------------- */

/* After Ctrl-C: ask the server to stop the generation (A1111 has no job ids: this stops
 * whatever it is generating, which is ours unless another client's job was ahead). */
static void a1111_interrupt(const struct a1111_backend *m)
{
	struct http_request hr = { 0 };
	struct http_response resp = { 0 };
	struct err err = ERR_INIT;
	char *url = NULL;

	if (asprintf(&url, "%s/sdapi/v1/interrupt", m->base_url) < 0)
		return;
	hr.method = "POST";
	hr.url = url;
	hr.headers = (const char *const[]){ "Content-Type: application/json", NULL };
	hr.no_cancel = 1;
	hr.timeout_ms = A1111_CANCEL_TIMEOUT_MS;
	hr.connect_timeout_ms = A1111_CANCEL_TIMEOUT_MS;
	hr.max_body = 65536;
	hr.userpwd = m->userpwd;
	hr.label = m->base.name;
	hr.events = m->base.events;
	http_request(&hr, &resp, &err); /* best effort: we are leaving either way */
	http_response_release(&resp);
	free(url);
}

static int a1111_generate(struct backend *b, const struct imagen_request *req,
			  struct imagen_result *res, size_t *nres, struct err *err)
{
	static const char *const headers[] = { "Content-Type: application/json",
					       "Accept: application/json", NULL };
	struct a1111_backend *m = (struct a1111_backend *)b;
	struct http_request hr = { 0 };
	struct http_response resp = { 0 };
	struct a1111_params p;
	struct poller pl;
	json_t *body;
	char *text, *url = NULL;
	int rc = -1, hrc;
	size_t i;

	*nres = 0;
	if (a1111_params_for(m, req, &p, err))
		return -1;
	if (req->count > A1111_MAX_BATCH)
		return err_code(err, 2, "at most %d images per request", A1111_MAX_BATCH);
	body = a1111_build_body(&p, req);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	m->route = A1111_ROUTE(req);
	if (!text || asprintf(&url, "%s%s", m->base_url, m->route) < 0) {
		free(text);
		return err_code(err, 1, "out of memory");
	}

	hr.method = "POST";
	hr.url = url;
	hr.headers = headers;
	hr.body = text;
	hr.body_len = strlen(text);
	hr.timeout_ms = m->timeout_ms;
	hr.max_body = A1111_MAX_BODY;
	hr.userpwd = m->userpwd;
	hr.label = m->base.name;
	hr.events = req->events;

	ev_status(req->events, "generating");
	poller_start(&pl, m, req);
	hrc = http_request_retry(&hr, NULL, &resp, err);
	poller_stop(&pl);

	if (hrc < 0) {
		if (err && err->code == HTTP_EXIT_CANCELED) {
			a1111_interrupt(m);
			err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		} else if (err) {
			/* name the endpoint, as the other adapters do */
			err_prefix(err, "POST %s", m->route);
			err->code = 1;
		}
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		a1111_status_error(m, &resp, err);
		goto out;
	}
	rc = a1111_parse_response((const char *)resp.body.data, resp.body.len, &p, req, res, nres,
				  err);
	for (i = 0; req->mask && i < *nres; i++) /* the infotext's "Mask blur" */
		json_object_set_new(res[i].metadata, "mask_blur", json_integer(p.mask_blur));
out:
	http_response_release(&resp);
	free(text);
	free(url);
	return rc;
}

/* This adapter's instance in the sample imagen.yaml (`imagen config init`): one
 * NAME: with its keys, as a user would write it; it must pass validate(). */
static const char a1111_sample[] =
	"# AUTOMATIC1111 / Forge WebUI started with --api (local: no cost recorded).\n"
	"sd-local:\n"
	"  type: a1111\n"
	"  base_url: http://127.0.0.1:7860\n"
	"  model: \"sd_xl_base_1.0.safetensors\"  # override_settings.sd_model_checkpoint;\n"
	"                                      # unset: the model the server has loaded\n"
	"  sampler: Euler a                  # sampler_name\n"
	"  scheduler: Automatic              # Karras, Exponential, ... (A1111 >= 1.9)\n"
	"  cfg_scale: 7\n"
	"  width: 512                        # multiples of 8\n"
	"  height: 512\n"
	"  steps: 20\n"
	"  auth_env: A1111_AUTH              # NAME of a variable holding user:password\n"
	"                                    # (--api-auth); unset: no authentication\n"
	"  timeout: 600                      # seconds per attempt\n";

const struct backend_ops a1111_backend_ops = {
	.type = "a1111",
	.summary = "AUTOMATIC1111 / Forge WebUI API (txt2img, img2img, inpainting, batches, "
		   "progress, interrupt)",
	.max_batch = A1111_MAX_BATCH,
	.validate = a1111_validate,
	.open = a1111_open,
	.generate = a1111_generate,
	.close = a1111_close,
	.check = a1111_check,
	.keys = a1111_cfg_keys,
	.sample = a1111_sample,
};
