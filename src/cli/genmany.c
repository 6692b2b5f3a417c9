/* genmany.c - imagen generate through the batch engine (see genmany.h). */
#include "cli/genmany.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/runner.h"
#include "batch/sched.h"
#include "batch/wildcard.h"
#include "cli/batchview.h"
#include "cli/cli.h"
#include "net/http.h"

int genmany_needed(const struct gen_request *req, const struct gen_args *flags, int combinatorial)
{
	const struct backend_ops *ops = req->cb->ops;

	if (!ops)
		return 1; /* a pool */
	if (flags->prompt && (combinatorial || wildcards_present(flags->prompt)))
		return 1;
	return req->count > 1 && ops->max_batch <= 1;
}

struct failure {
	size_t index;
	int64_t seed;
	int code;
	char *msg;
};

/* An image that arrived before the images of the jobs ahead of it were printed. */
struct held {
	size_t job;
	char *path;
	json_t *record;
};

struct many {
	const struct genmany *g;
	struct batch_runner *runner;
	struct batchview view;
	struct ev_sink view_sink;
	pthread_mutex_t mu;
	pthread_cond_t turn;   /* a job decided, or the first run ended */
	size_t next_decide;    /* jobs decide to run or not in their order: the next one */
	struct failure *fail;
	size_t nfail, images;
	int failed;            /* a final failure: like one generate run, the images not started are
				* not */
	size_t wanted;         /* --count: images asked for (a run may give several: ComfyUI) */
	size_t skipped;        /* jobs not started because the images already written are enough */
	size_t running, ended; /* jobs in many_run now; runs that ended */

	/* images are printed in job order, as one generate run prints them: a job's images
	 * wait for the jobs before it to end; "index" counts the images printed */
	unsigned char *job_ended; /* by job index */
	size_t njobs, next_job, printed;
	struct held *held;
	size_t nheld;
};

/* Hand one image to the command's sink with its place in the run (mu held). */
static void print_image(struct many *m, const char *path, json_t *record)
{
	struct ev ev = { .kind = EV_IMAGE };
	json_t *rec = json_copy(record);

	if (rec)
		json_object_set_new(rec, "index", json_integer((json_int_t)m->printed));
	m->printed++;
	ev.path = path;
	ev.record = rec ? rec : record;
	ev_emit(m->g->images, &ev);
	json_decref(rec);
}

/* Print what the jobs that are now first in line hold (mu held); all: every job's,
 * at the end of the run. */
static void flush_held(struct many *m, int all)
{
	size_t i, k;

	while (m->next_job < m->njobs && (all || m->job_ended[m->next_job])) {
		for (i = 0, k = 0; i < m->nheld; i++) {
			if (m->held[i].job == m->next_job) {
				print_image(m, m->held[i].path, m->held[i].record);
				free(m->held[i].path);
				json_decref(m->held[i].record);
			} else {
				m->held[k++] = m->held[i];
			}
		}
		m->nheld = k;
		m->next_job++;
	}
}

static void image_arrived(struct many *m, size_t job, const struct ev *ev)
{
	struct held *grown;

	pthread_mutex_lock(&m->mu);
	m->images++;
	if (job == m->next_job) {
		print_image(m, ev->path, (json_t *)ev->record);
	} else if ((grown = realloc(m->held, (m->nheld + 1) * sizeof(*grown)))) {
		m->held = grown;
		m->held[m->nheld].job = job;
		m->held[m->nheld].path = strdup(ev->path ? ev->path : "");
		m->held[m->nheld].record = json_deep_copy(ev->record);
		m->nheld++;
	} else {
		print_image(m, ev->path, (json_t *)ev->record); /* out of order, not lost */
	}
	pthread_mutex_unlock(&m->mu);
}

static void many_emit(const struct ev_sink *sink, const struct ev *ev)
{
	struct many *m = sink->ctx;
	struct ev_sink s = m->view_sink;

	if (ev->kind == EV_IMAGE) {
		image_arrived(m, (size_t)sink->job, ev);
		return;
	}
	s.job = sink->job;
	ev_emit(&s, ev);
}

static int many_run(void *ctx, const struct batch_job *job, const char *instance,
		    const struct ev_sink *sink, struct batch_outcome *out)
{
	struct many *m = ctx;
	int failed;

	size_t per_run;
	int rc;

	pthread_mutex_lock(&m->mu);
	/* jobs decide in their order (seed, seed+1, ...: the images --count N keeps are the
	 * first ones), and until one run has ended nobody knows how many images a run gives
	 * (a ComfyUI graph without a seed makes all of --count in one batch, one saving two
	 * images gives two): the others wait rather than start runs that may not be wanted.
	 * The scheduler hands jobs out in order, so the one waited for is on its way; a job
	 * sent again after a rest decided before. */
	while (job->index > m->next_decide ||
	       (job->index == m->next_decide && m->wanted && m->ended == 0 && m->running > 0))
		pthread_cond_wait(&m->turn, &m->mu);
	failed = m->failed;
	/* --count counts images: when the runs ended so far gave several each (a ComfyUI
	 * graph saving two), the images written and those the running jobs will bring may
	 * already be enough */
	per_run = m->ended && m->images / m->ended > 1 ? m->images / m->ended : 1;
	if (!failed && m->wanted && m->images + m->running * per_run >= m->wanted) {
		m->skipped++;
		failed = -1;
	}
	if (!failed)
		m->running++;
	if (job->index == m->next_decide) {
		m->next_decide++;
		pthread_cond_broadcast(&m->turn);
	}
	pthread_mutex_unlock(&m->mu);
	if (failed) {
		out->result = BATCH_CANCELLED;
		err_set(&out->err,
			failed > 0 ? "not run: an earlier image failed" : "not run: enough images");
		return -1;
	}
	rc = batch_runner_run(m->runner, job, instance, sink, out);
	pthread_mutex_lock(&m->mu);
	m->running--;
	m->ended++;
	pthread_cond_broadcast(&m->turn);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static void many_report(void *ctx, const struct batch_job *job, const char *instance,
			const struct batch_outcome *out)
{
	struct many *m = ctx;
	struct failure *grown;

	batchview_job_end(&m->view, job->index, instance, out->images, 0, NULL);
	pthread_mutex_lock(&m->mu);
	if (job->index < m->njobs)
		m->job_ended[job->index] = 1;
	flush_held(m, 0);
	if (out->result == BATCH_DONE || out->result == BATCH_CANCELLED) {
		pthread_mutex_unlock(&m->mu);
		return;
	}
	m->failed = 1;
	grown = realloc(m->fail, (m->nfail + 1) * sizeof(*grown));
	if (grown) {
		m->fail = grown;
		m->fail[m->nfail].index = job->index;
		m->fail[m->nfail].seed = job->seed;
		m->fail[m->nfail].code = out->err.code ? out->err.code : 1;
		m->fail[m->nfail].msg = strdup(out->err.msg);
		m->nfail++;
	}
	pthread_mutex_unlock(&m->mu);
}

static void print_failure(const struct genmany *g, size_t index, int64_t seed, int code,
			  const char *msg)
{
	json_t *rec;

	cli_error("%s", msg);
	if (!g->json || !(rec = gen_record_failure(g->req, g->steps, (int)index, seed, msg, code)))
		return;
	cli_print_json(stdout, rec, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(rec);
}

/* The one job the command line describes, completed: one job per image on an unbatched
 * upstream, and its wildcards resolved from each image's seed. */
static int make_jobs(const struct genmany *g, struct batch_list *list, struct err *err)
{
	const struct gen_request *req = g->req;
	struct batch_job job;
	struct wildcards *w = NULL;
	char *dir = NULL, *check = NULL;
	int templ = g->flags->prompt && (g->combinatorial || wildcards_present(g->flags->prompt));
	int rc = -1;

	memset(&job, 0, sizeof(job));
	job.line = job.col = 1;
	job.prompt = strdup(g->flags->prompt ? g->flags->prompt : req->prompt);
	job.backend = strdup(req->st.backend);
	job.seed = req->seed;
	job.has_seed = 1;
	job.count = req->count;
	if (!job.prompt || !job.backend) {
		batch_job_release(&job);
		return err_code(err, 1, "out of memory");
	}
	if (batch_list_push(list, &job, err) < 0 ||
	    batch_split_counts(list, batch_max_batch, (void *)g->cfg, err) < 0)
		return -1;
	if (!templ)
		return 0;
	if (wildcards_default_dir(&dir, req->env, err) < 0)
		dir = NULL; /* no HOME: only a __name__ needs the folder, and says so */
	if (wildcards_new(&w, dir, err) < 0)
		goto out;
	/* the template's own mistakes, said once and without a file position */
	if (wildcards_pick(&check, w, g->flags->prompt, req->seed, err) < 0) {
		err_prefix(err, "generate: the prompt");
		goto out;
	}
	rc = batch_resolve_wildcards(list, w, g->combinatorial, GEN_COUNT_MAX, err);
out:
	free(check);
	free(dir);
	wildcards_free(w);
	return rc;
}

int genmany_run(const struct genmany *g)
{
	struct batch_list list = { NULL, 0, 0, NULL };
	struct batch_targets *t = NULL;
	struct batch_runner_opts ro;
	struct batch_sched_opts so;
	struct batch_summary sum;
	struct gen_args fixed = *g->flags;
	struct gen_env env = { g->req->env, NULL, NULL };
	struct ev_sink sink;
	struct many m;
	struct err err = ERR_INIT;
	size_t i;
	int code = 2, view = 0;

	memset(&m, 0, sizeof(m));
	m.g = g;
	m.wanted = g->combinatorial ? 0 : (size_t)g->req->count;
	pthread_mutex_init(&m.mu, NULL);
	pthread_cond_init(&m.turn, NULL);
	if (!(list.file = strdup("generate"))) {
		cli_error("out of memory");
		goto out;
	}
	if (make_jobs(g, &list, &err) < 0 || batch_targets_from_config(&t, g->cfg, &err) < 0) {
		print_failure(g, 0, g->req->seed, err.code ? err.code : 2, err.msg);
		code = err.code ? err.code : 2;
		goto out;
	}
	/* the job gives prompt, backend (the chosen instance), seed and count */
	fixed.prompt = NULL;
	fixed.prompt_template = NULL;
	fixed.backend = NULL;
	fixed.seed = 0;
	fixed.has_seed = 0;
	fixed.count = 0;
	memset(&ro, 0, sizeof(ro));
	ro.cfg = g->cfg;
	ro.flags = &fixed;
	ro.from = g->from;
	ro.env = &env;
	ro.steps = g->steps;
	ro.prompt_from_job = g->flags->prompt != NULL;
	ro.index_is_job = 1;
	ro.run_total = g->req->count;
	m.njobs = list.n;
	m.job_ended = calloc(list.n ? list.n : 1, 1);
	if (!m.job_ended || batch_runner_new(&m.runner, &ro, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	batchview_init(&m.view, "imagen", list.n, 0, g->quiet, g->verbose);
	m.view.plain = 0;
	view = 1;
	m.view_sink = batchview_sink(&m.view);
	sink = m.view_sink;
	sink.emit = many_emit;
	sink.ctx = &m;

	memset(&so, 0, sizeof(so));
	so.concurrency = batch_default_concurrency_of(t, &list, NULL, list.n);
	so.targets = t;
	so.run = many_run;
	so.report = many_report;
	so.ctx = &m;
	so.sink = &sink;
	batch_sched_retries(&so, t, g->req->env);
	if (batch_run(&sum, &list, NULL, list.n, &so, &err) < 0) {
		batchview_release(&m.view);
		view = 0;
		print_failure(g, 0, g->req->seed, err.code ? err.code : 2, err.msg);
		code = err.code ? err.code : 2;
		goto out;
	}
	batchview_release(&m.view);
	view = 0;
	pthread_mutex_lock(&m.mu);
	flush_held(&m, 1); /* what jobs stopped by Ctrl-C left behind */
	pthread_mutex_unlock(&m.mu);
	code = 0;
	for (i = 0; i < m.nfail; i++) {
		print_failure(g, m.fail[i].index, m.fail[i].seed, m.fail[i].code,
			      m.fail[i].msg ? m.fail[i].msg : "generation failed");
		if (!code)
			code = m.fail[i].code;
	}
	if (sum.stop == BATCH_STOP_CANCEL) {
		print_failure(g, sum.done, -1, HTTP_EXIT_CANCELED,
			      m.images ? "interrupted (the images written so far are kept)"
				       : "interrupted");
		code = HTTP_EXIT_CANCELED;
	} else if (!code && sum.done + m.skipped < list.n) {
		code = 1;
	}
out:
	if (view)
		batchview_release(&m.view);
	for (i = 0; i < m.nfail; i++)
		free(m.fail[i].msg);
	free(m.fail);
	for (i = 0; i < m.nheld; i++) {
		free(m.held[i].path);
		json_decref(m.held[i].record);
	}
	free(m.held);
	free(m.job_ended);
	batch_runner_free(m.runner);
	batch_targets_free(t);
	batch_list_release(&list);
	pthread_cond_destroy(&m.turn);
	pthread_mutex_destroy(&m.mu);
	return code;
}
