/* runner.h - the batch engine's seam to the generation core.
 *
 * batch_run (sched.h) calls a runner on its worker threads; this is the production one:
 * each job becomes a request (gen_request_build: the command line's fixed options >
 * the job > --from > config), runs through gen_run on a backend handle of the instance
 * the scheduler chose, and its outcome becomes the scheduler's:
 *   done                     every image written
 *   cancelled                Ctrl-C (the images written so far are kept)
 *   rate limited / retry     nothing was written and the adapter's error says the
 *                            upstream did not take the work (batch_classify)
 *   failed                   anything else: a request that may have reached a billing
 *                            upstream is never sent again
 * Backend handles are opened lazily, at most one per job in flight on an instance (a
 * handle runs one generation at a time), reused by the next job there and closed by
 * batch_runner_free.
 */
#ifndef IMAGEN_BATCH_RUNNER_H
#define IMAGEN_BATCH_RUNNER_H

#include "batch/pool.h"
#include "batch/sched.h"
#include "core/config.h"
#include "gen/gen.h"

/**
 * Every instance and pool of cfg as batch targets (pool.h reads each instance's
 * `concurrency` and a pool's `members` and `strategy`).  A refusal is "config:
 * FILE:LINE:COL: ..." pointing at the value at fault, code 2.  Free with
 * batch_targets_free.
 */
int batch_targets_from_config(struct batch_targets **out, const struct config *cfg,
			      struct err *err);

/** batch_max_batch_fn over a configuration (ctx: const struct config *): the adapter's
 *  max_batch; a pool's least-batched member's (so a count is split when any member
 *  returns one image per call); 1 for an unknown name. */
int batch_max_batch(void *ctx, const char *backend);

/** The first instance target may send to (an instance: itself); NULL when unknown. */
const char *batch_first_instance(const struct batch_targets *t, const char *target);

/** The overall limit when none is given: the sum of the configured limits of the
 *  instances the jobs jobs->jobs[which[0..n)] (which NULL: the first n) may use, each
 *  counted once, at most BATCH_CONCURRENCY_MAX, at least 1. */
int batch_default_concurrency_of(const struct batch_targets *t, const struct batch_list *jobs,
				 const size_t *which, size_t n);

/**
 * The scheduler's retry knobs for a front end: max_attempts 4 per instance of the
 * largest target (a pool gives each member its tries before a job fails), and the first
 * rest of a failing member from IMAGEN_BATCH_BACKOFF_MS in env (milliseconds, 1 to
 * 60000; default 1 s), the longest rest 60 times that, at most 60 s.
 */
void batch_sched_retries(struct batch_sched_opts *so, const struct batch_targets *t,
			 const struct env *env);

/**
 * How a failed attempt that wrote nothing maps to a scheduler result, from the kind
 * net/http.c gave the adapter's error (util/err.h) on the request that submits the
 * work: BATCH_RATE_LIMITED for ERR_KIND_RATE_LIMITED (a 429; not openai's
 * insufficient_quota, which the adapter leaves without a kind: money, not rate);
 * BATCH_RETRY for ERR_KIND_UNAVAILABLE (502, 503) and ERR_KIND_UNSENT (the request never
 * left: connection refused, unknown host, TLS); BATCH_FAILED for everything else, and for
 * any failure of a later request (a GET: polling, history, downloads), after which the
 * work may have been done and billed.  e NULL: BATCH_FAILED.
 */
enum batch_result batch_classify(const struct err *e);

struct batch_runner_opts {
	const struct config *cfg;
	const struct gen_args *flags; /* above the job: options every request takes as given
				       * (output directory, naming, cloud, preview); its
				       * prompt, backend, seed and count must be unset */
	const struct gen_args *from;  /* below the job (generate --from); NULL */
	const struct gen_env *env;
	const struct gen_step *steps; /* NULL: gen_steps_default */
	int prompt_from_job;          /* 1: the job's prompt (wildcards resolved) is sent; 0: the
				       * prompt comes from `from` (generate --count --from) */
	int index_is_job;             /* records' "index": the job's index (generate --count:
				       * one job per image), else 0, 1, ... within the job */
	int run_total;                /* generate --count N on the engine: N, the images the
				       * run wants (each request says so: gen_request.run_total);
				       * 0 for a batch, whose jobs are separate generations */
	const char *batch_id;         /* the journal's id, recorded with the job's index in
				       * every image's sidecar; NULL: none (generate) */
};

struct batch_runner;

int batch_runner_new(struct batch_runner **out, const struct batch_runner_opts *o, struct err *err);
/** Set opts.batch_id once the journal exists (id borrowed: it must outlive the runs). */
void batch_runner_set_batch(struct batch_runner *r, const char *id);

/** Close every backend handle and free r (NULL is fine). */
void batch_runner_free(struct batch_runner *r);

/**
 * batch_run_fn: run job on instance with the job's sink.  out->record (owned by the
 * scheduler then) is {"images": [paths written], "seed": the job's seed}; out->err
 * says why when not done.  Thread-safe.
 */
int batch_runner_run(void *ctx, const struct batch_job *job, const char *instance,
		     const struct ev_sink *sink, struct batch_outcome *out);

/** Check, before anything runs, that job makes a valid request on instance (the request
 *  is built and dropped): the builder's refusal prefixed with the job's "FILE:LINE:COL: "
 *  (code 2). */
int batch_runner_check(struct batch_runner *r, const struct batch_job *job, const char *file,
		       const char *instance, struct err *err);

/** batch_estimate_fn over estimate.h for the instance's configuration. */
int batch_runner_estimate(void *ctx, const struct batch_job *job, const char *instance,
			  double *usd);

#endif
