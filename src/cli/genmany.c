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

struct many {
	const struct genmany *g;
	struct batch_runner *runner;
	struct batchview view;
	struct ev_sink view_sink;
	pthread_mutex_t mu;
	struct failure *fail;
	size_t nfail, images;
	int failed; /* a final failure: like one generate run, the images not started are not */
};

static void many_emit(const struct ev_sink *sink, const struct ev *ev)
{
	struct many *m = sink->ctx;
	struct ev_sink s = ev->kind == EV_IMAGE ? *m->g->images : m->view_sink;

	if (ev->kind == EV_IMAGE) {
		pthread_mutex_lock(&m->mu);
		m->images++;
		pthread_mutex_unlock(&m->mu);
	}
	s.job = sink->job;
	ev_emit(&s, ev);
}

static int many_run(void *ctx, const struct batch_job *job, const char *instance,
		    const struct ev_sink *sink, struct batch_outcome *out)
{
	struct many *m = ctx;
	int failed;

	pthread_mutex_lock(&m->mu);
	failed = m->failed;
	pthread_mutex_unlock(&m->mu);
	if (failed) {
		out->result = BATCH_CANCELLED;
		err_set(&out->err, "not run: an earlier image failed");
		return -1;
	}
	return batch_runner_run(m->runner, job, instance, sink, out);
}

static void many_report(void *ctx, const struct batch_job *job, const char *instance,
			const struct batch_outcome *out)
{
	struct many *m = ctx;
	struct failure *grown;

	(void)instance;
	batchview_job_end(&m->view, job->index, instance, out->images, 0, NULL);
	if (out->result == BATCH_DONE || out->result == BATCH_CANCELLED)
		return;
	pthread_mutex_lock(&m->mu);
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
	char *s;

	cli_error("%s", msg);
	if (!g->json || !(rec = gen_record_failure(g->req, (int)index, seed, msg, code)))
		return;
	s = json_dumps(rec, JSON_COMPACT | JSON_REAL_PRECISION(12));
	if (s)
		printf("%s\n", s);
	free(s);
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
	pthread_mutex_init(&m.mu, NULL);
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
	ro.prompt_from_job = g->flags->prompt != NULL;
	ro.index_is_job = 1;
	if (batch_runner_new(&m.runner, &ro, &err) < 0) {
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
	} else if (!code && sum.done < list.n) {
		code = 1;
	}
out:
	if (view)
		batchview_release(&m.view);
	for (i = 0; i < m.nfail; i++)
		free(m.fail[i].msg);
	free(m.fail);
	batch_runner_free(m.runner);
	batch_targets_free(t);
	batch_list_release(&list);
	pthread_mutex_destroy(&m.mu);
	return code;
}
