/* runner.c - batch jobs through the generation core (see runner.h). */
#include "batch/runner.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/estimate.h"
#include "core/cost.h"
#include "net/http.h"

/* ---- targets ------------------------------------------------------------------------ */

/* "config: FILE:LINE:COL: msg" for the value at backends.<path> (the key itself when it is
 * unknown), or "config: FILE: msg" when the file has no such place. */
static int config_fail(const struct config *cfg, const char *path, struct err *err)
{
	const struct ynode *n = NULL, *kn = NULL;
	char full[sizeof(err->key) + 16], msg[sizeof(err->msg)];

	snprintf(msg, sizeof(msg), "%s", err->msg);
	if (path && *path) {
		snprintf(full, sizeof(full), "backends.%s", path);
		n = config_node(cfg, full, &kn);
		if (n && strstr(msg, "unknown key"))
			n = kn;
	}
	if (n)
		return err_code(err, 2, "config: %s:%d:%d: %s", cfg->display, n->line, n->col, msg);
	return err_code(err, 2, "config: %s: %s", cfg->display, msg);
}

int batch_targets_from_config(struct batch_targets **out, const struct config *cfg, struct err *err)
{
	struct batch_targets *t;
	char path[sizeof(err->key) + 200];
	size_t i;

	*out = NULL;
	if (batch_targets_new(&t, err) < 0)
		return -1;
	for (i = 0; i < cfg->nbackends; i++) {
		const struct cfg_backend *cb = &cfg->backends[i];

		err_clear(err);
		if (batch_targets_add(t, cb->name, cb->slice, err) < 0) {
			snprintf(path, sizeof(path), "%s%s%s", cb->name, err->key[0] ? "." : "",
				 err->key);
			config_fail(cfg, path, err);
			batch_targets_free(t);
			return -1;
		}
	}
	err_clear(err);
	if (batch_targets_finish(t, err) < 0) {
		snprintf(path, sizeof(path), "%s", err->key);
		config_fail(cfg, path, err);
		batch_targets_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int batch_max_batch(void *ctx, const char *backend)
{
	const struct config *cfg = ctx;
	const struct cfg_backend *cb = config_backend(cfg, backend);
	const json_t *m;
	size_t i;
	int least = 0, mb;

	if (!cb)
		return 1;
	if (cb->ops)
		return cb->ops->max_batch > 0 ? cb->ops->max_batch : 1;
	json_array_foreach (json_object_get(cb->slice, "members"), i, m) {
		const char *name = json_is_object(m) ? json_string_value(json_object_get(m, "name"))
						     : json_string_value(m);
		const struct cfg_backend *mc = name ? config_backend(cfg, name) : NULL;

		/* members are instances (batch_targets_finish made sure) */
		mb = mc && mc->ops && mc->ops->max_batch > 0 ? mc->ops->max_batch : 1;
		if (!least || mb < least)
			least = mb;
	}
	return least ? least : 1;
}

const char *batch_first_instance(const struct batch_targets *t, const char *target)
{
	int tg = target ? batch_targets_find(t, target) : -1, inst;

	if (tg < 0 || batch_targets_members(t, tg, &inst, 1) < 1)
		return NULL;
	return batch_targets_inst_name(t, inst);
}

int batch_default_concurrency_of(const struct batch_targets *t, const struct batch_list *jobs,
				 const size_t *which, size_t n)
{
	size_t nt = batch_targets_count(t), i, k, m;
	unsigned char *target_seen = calloc(nt + 1, 1), *inst_seen = calloc(nt + 1, 1);
	int total = 0, members[BATCH_CONCURRENCY_MAX];

	for (i = 0; target_seen && inst_seen && i < n; i++) {
		const struct batch_job *job = &jobs->jobs[which ? which[i] : i];
		int tg = job->backend ? batch_targets_find(t, job->backend) : -1;

		if (tg < 0 || target_seen[tg])
			continue;
		target_seen[tg] = 1;
		m = batch_targets_members(t, tg, members, BATCH_CONCURRENCY_MAX);
		for (k = 0; k < m && k < BATCH_CONCURRENCY_MAX; k++) {
			struct batch_inst_stats st;
			const char *name = batch_targets_inst_name(t, members[k]);

			/* instance indexes are below the target count: every instance is a
			 * target of its own */
			if (inst_seen[members[k]] || batch_targets_stats(t, name, &st) < 0)
				continue;
			inst_seen[members[k]] = 1;
			total += st.limit;
		}
	}
	free(target_seen);
	free(inst_seen);
	if (total < 1)
		total = 1;
	return total > BATCH_CONCURRENCY_MAX ? BATCH_CONCURRENCY_MAX : total;
}

void batch_sched_retries(struct batch_sched_opts *so, const struct batch_targets *t,
			 const struct env *env)
{
	const char *v = env_get(env, "IMAGEN_BATCH_BACKOFF_MS");
	size_t i, most = 1, n;
	char *end;
	long ms;

	for (i = 0; i < batch_targets_count(t); i++)
		if ((n = batch_targets_members(t, (int)i, NULL, 0)) > most)
			most = n;
	so->max_attempts = (int)(4 * (most < 16 ? most : 16));
	if (v && *v) {
		ms = strtol(v, &end, 10);
		if (!*end && ms >= 1 && ms <= 60000) {
			so->backoff_base = (double)ms / 1e3;
			so->backoff_max = so->backoff_base * 60 < 60 ? so->backoff_base * 60 : 60;
		}
	}
}

/* ---- outcomes ----------------------------------------------------------------------- */

enum batch_result batch_classify(const struct err *e)
{
	switch (e ? e->kind : ERR_KIND_NONE) {
	case ERR_KIND_RATE_LIMITED:
		return BATCH_RATE_LIMITED;
	case ERR_KIND_UNAVAILABLE:
	case ERR_KIND_UNSENT:
		return BATCH_RETRY;
	default:
		/* anything else, and any failure of a later request (polling, downloads):
		 * the upstream may have the work, done and billed */
		return BATCH_FAILED;
	}
}

/* ---- the runner --------------------------------------------------------------------- */

struct idle {
	const struct cfg_backend *cb;
	struct backend *be;
};

struct batch_runner {
	struct batch_runner_opts o;
	pthread_mutex_t mu;
	struct idle *idle; /* handles not running a job now */
	size_t nidle, cap;
};

int batch_runner_new(struct batch_runner **out, const struct batch_runner_opts *o, struct err *err)
{
	struct batch_runner *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return err_set(err, "out of memory");
	r->o = *o;
	pthread_mutex_init(&r->mu, NULL);
	*out = r;
	return 0;
}

void batch_runner_set_batch(struct batch_runner *r, const char *id)
{
	r->o.batch_id = id;
}

void batch_runner_free(struct batch_runner *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nidle; i++)
		r->idle[i].be->ops->close(r->idle[i].be);
	free(r->idle);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* An idle handle of cb, or a new one. */
static int handle_take(struct batch_runner *r, const struct cfg_backend *cb, struct backend **be,
		       struct err *err)
{
	size_t i;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->nidle; i++) {
		if (r->idle[i].cb == cb) {
			*be = r->idle[i].be;
			r->idle[i] = r->idle[--r->nidle];
			pthread_mutex_unlock(&r->mu);
			return 0;
		}
	}
	pthread_mutex_unlock(&r->mu);
	if (!cb->ops)
		return err_code(err, 2, "backend \"%s\": a pool is not a backend instance",
				cb->name);
	if (cb->ops->open(be, cb->name, cb->cfg, err) < 0) {
		err_prefix(err, "backend \"%s\"", cb->name);
		if (!err->code)
			err->code = 2;
		return -1;
	}
	return 0;
}

static void handle_give(struct batch_runner *r, const struct cfg_backend *cb, struct backend *be)
{
	struct idle *v;

	pthread_mutex_lock(&r->mu);
	if (r->nidle == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;

		v = realloc(r->idle, cap * sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&r->mu);
			be->ops->close(be);
			return;
		}
		r->idle = v;
		r->cap = cap;
	}
	r->idle[r->nidle++] = (struct idle){ cb, be };
	pthread_mutex_unlock(&r->mu);
}

/* The job's image inputs (parse.c checked their shape) into a, refs the room for them
 * (GEN_INPUTS_MAX + 1: the mask last). */
static void job_inputs(const struct batch_job *job, struct gen_input_ref *refs, struct gen_args *a)
{
	const json_t *in = job->inputs, *v;
	size_t i;

	if (!in)
		return;
	memset(refs, 0, (GEN_INPUTS_MAX + 1) * sizeof(*refs));
	json_array_foreach (json_object_get(in, "image"), i, v)
		if (i < GEN_INPUTS_MAX)
			refs[a->nimages++].path = json_string_value(v);
	a->images = a->nimages ? refs : NULL;
	if ((v = json_object_get(in, "mask"))) {
		refs[GEN_INPUTS_MAX].path = json_string_value(v);
		a->mask = &refs[GEN_INPUTS_MAX];
	}
	if ((v = json_object_get(in, "mask_invert")))
		a->mask_invert = json_is_true(v);
	if ((v = json_object_get(in, "strength"))) {
		a->strength = json_number_value(v);
		a->has_strength = 1;
	}
}

/* The job as the request builder's second source (refs: room for its inputs). */
static void job_args(const struct batch_runner *r, const struct batch_job *job,
		     const char *instance, char *what, size_t what_size, struct gen_input_ref *refs,
		     struct gen_args *a)
{
	gen_args_init(a);
	snprintf(what, what_size, "job %zu", job->index + 1);
	a->what = what;
	if (r->o.prompt_from_job) {
		a->prompt = batch_job_prompt(job);
		a->prompt_template = job->resolved ? job->prompt : NULL;
	}
	a->negative = job->negative;
	a->style = job->style;
	a->backend = instance;
	a->name = job->name;
	a->width = job->width;
	a->height = job->height;
	a->steps = job->steps;
	a->count = job->count;
	a->seed = job->seed;
	a->has_seed = job->has_seed;
	a->options = job->set;
	a->batch_id = r->o.batch_id;
	a->job = (int)job->index;
	job_inputs(job, refs, a);
}

/* The paths written and what they cost: the sum of the images' costs, 0 for images of
 * an unbilled backend (cost null), -1 when one image's cost is unknown. */
static json_t *summarise(const struct gen_outcome *oc, int64_t seed, double *cost)
{
	json_t *images = json_array(), *rec;
	const json_t *r, *c;
	size_t i;
	double usd;

	*cost = 0;
	json_array_foreach (oc->records, i, r) {
		const char *path = json_string_value(json_object_get(r, "image"));

		if (!path)
			continue;
		json_array_append_new(images, json_string(path));
		c = json_object_get(r, "cost");
		if (json_is_null(c) || !c)
			continue;
		usd = cost_usd(c);
		if (usd < 0 || *cost < 0)
			*cost = -1;
		else
			*cost += usd;
	}
	rec = json_pack("{s:o, s:I}", "images", images ? images : json_array(), "seed",
			(json_int_t)seed);
	return rec;
}

/* The message of the run's failure: its last record's error. */
static const char *failure_text(const struct gen_outcome *oc)
{
	const char *msg = NULL;
	const json_t *r;
	size_t i;

	json_array_foreach (oc->records, i, r)
		if (json_string_value(json_object_get(r, "error")))
			msg = json_string_value(json_object_get(r, "error"));
	return msg ? msg : "generation failed";
}

int batch_runner_run(void *ctx, const struct batch_job *job, const char *instance,
		     const struct ev_sink *sink, struct batch_outcome *out)
{
	struct batch_runner *r = ctx;
	struct gen_args a;
	struct gen_request req;
	struct gen_outcome oc = { 0 };
	struct backend *be = NULL;
	char what[48];
	struct gen_input_ref refs[GEN_INPUTS_MAX + 1];

	job_args(r, job, instance, what, sizeof(what), refs, &a);
	if (gen_request_build(&req, r->o.cfg, r->o.flags, &a, r->o.from, r->o.env, &out->err) < 0) {
		out->result = BATCH_FAILED;
		return -1;
	}
	req.first_index = r->o.index_is_job ? (int)job->index : 0;
	req.run_total = r->o.run_total;
	if (handle_take(r, req.cb, &be, &out->err) < 0) {
		gen_request_release(&req);
		out->result = BATCH_FAILED;
		return -1;
	}
	gen_run(&oc, &req, be, r->o.steps, sink);
	handle_give(r, req.cb, be);
	out->images = oc.written;
	out->record = summarise(&oc, req.seed, &out->cost_usd);
	if (oc.code == 0) {
		out->result = BATCH_DONE;
	} else {
		err_code(&out->err, oc.code, "%s", failure_text(&oc));
		if (oc.code == HTTP_EXIT_CANCELED)
			out->result = BATCH_CANCELLED;
		else if (oc.written == 0 && (out->result = batch_classify(&oc.err)) != BATCH_FAILED)
			out->retry_after = oc.err.retry_after;
		else
			out->result = BATCH_FAILED;
	}
	gen_outcome_release(&oc);
	gen_request_release(&req);
	return out->result == BATCH_DONE ? 0 : -1;
}

int batch_runner_check(struct batch_runner *r, const struct batch_job *job, const char *file,
		       const char *instance, struct err *err)
{
	struct gen_args a;
	struct gen_request req;
	char what[48];
	struct gen_input_ref refs[GEN_INPUTS_MAX + 1];

	job_args(r, job, instance, what, sizeof(what), refs, &a);
	if (gen_request_build(&req, r->o.cfg, r->o.flags, &a, r->o.from, r->o.env, err) < 0) {
		err_prefix(err, "%s:%d:%d", file ? file : "batch", job->line, job->col);
		err->code = 2;
		return -1;
	}
	gen_request_release(&req);
	return 0;
}

int batch_runner_estimate(void *ctx, const struct batch_job *job, const char *instance, double *usd)
{
	const struct batch_runner *r = ctx;
	const struct cfg_backend *cb = config_backend(r->o.cfg, instance);
	char why[256];

	if (!cb)
		return -1;
	return batch_estimate(cb, job, usd, why, sizeof(why));
}
