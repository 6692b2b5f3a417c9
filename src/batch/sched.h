/* sched.h - run a batch's jobs on worker threads within concurrency limits and a budget.
 *
 * The seam to the generation core: the scheduler never generates.  It calls a runner,
 * batch_run_fn, on its worker threads, one job at a time per thread, naming the backend
 * instance chosen for that attempt; the runner (gen_run in production, a fake in tests)
 * generates, writes the images and says how it went in a struct batch_outcome.
 *
 * What batch_run guarantees:
 *   - at most opts->concurrency jobs run at once, and at most an instance's current
 *     limit on each instance (pool.h: configured concurrency, halved on 429, AIMD);
 *   - jobs start in index order as far as the limits allow (a job waiting for a busy
 *     backend does not hold back jobs for another);
 *   - a retryable outcome (BATCH_RETRY, BATCH_RATE_LIMITED) rests that instance and puts
 *     the job back at the front of its queue, so a pool sends it to another member; after
 *     max_attempts runs it fails with the last error;
 *   - a target whose every instance has failed max_attempts times in a row, for at least
 *     backoff_max seconds, with nothing in flight, is down: its waiting jobs fail at once
 *     ("every backend of 'farm' keeps failing (last error: ...)") instead of each waiting
 *     out the rests; a resume tries them again;
 *   - each job that ends (done, failed, cancelled) gets its journal line written and
 *     fsync'd (batch_journal_append) before opts->report hears of it;
 *   - budget: with max_cost > 0, a job's estimated cost is reserved before it is sent;
 *     when the next job would take spent + reserved past the cap, nothing more starts
 *     (jobs in flight settle first: their real cost may leave room); each reservation is
 *     settled with the outcome's real cost (the estimate when that is unknown, 0 for
 *     failures of unknown cost).  A job whose price is unknown refuses the whole run
 *     before anything starts (code 2) unless allow_unknown_cost, when it counts as 0;
 *   - stop (Ctrl-C): once opts->stop() (default cancel_requested()) is true, nothing
 *     more starts; running jobs end on their own (the runner cancels upstream) and jobs
 *     that did not end stay pending in the journal, for --resume.
 */
#ifndef IMAGEN_BATCH_SCHED_H
#define IMAGEN_BATCH_SCHED_H

#include <jansson.h>
#include <stddef.h>

#include "batch/job.h"
#include "batch/journal.h"
#include "batch/pool.h"
#include "core/events.h"
#include "util/err.h"

/** What one attempt came to.  The scheduler zeroes it (cost_usd -1) before each run. */
struct batch_outcome {
	enum batch_result result;
	double cost_usd;    /* what this attempt cost; < 0 unknown */
	double retry_after; /* seconds the upstream asked to wait (429, 503); 0 none */
	int images;         /* images written */
	json_t *record;     /* the runner's record of the job (paths, seeds...), owned: the
			     * scheduler puts it in the journal line ("record") and frees it */
	struct err err;     /* why, when not BATCH_DONE */
};

/**
 * Run job on backend instance `instance` (for a pool: the member chosen).  Called on a
 * worker thread, concurrently with other jobs; sink is the job's own copy of the batch's
 * sink (sink->job = job->index).  Returns 0 when out->result is BATCH_DONE, else -1
 * (a -1 with BATCH_DONE counts as BATCH_FAILED).  Must return BATCH_RETRY or
 * BATCH_RATE_LIMITED only when the upstream did not take the work: a request that may
 * have reached a billing upstream is never re-sent blindly (BATCH_FAILED instead).
 */
typedef int (*batch_run_fn)(void *ctx, const struct batch_job *job, const char *instance,
			    const struct ev_sink *sink, struct batch_outcome *out);

/** Estimated cost in USD of job on instance: 0 with *usd set, -1 when unknown.  Called
 *  under the scheduler's lock: fast, no locks of its own, no I/O. */
typedef int (*batch_estimate_fn)(void *ctx, const struct batch_job *job, const char *instance,
				 double *usd);

/** A job ended for good (its journal line is on disk).  instance: where it last ran. */
typedef void (*batch_report_fn)(void *ctx, const struct batch_job *job, const char *instance,
				const struct batch_outcome *out);

struct batch_sched_opts {
	int concurrency;               /* jobs at once overall (worker threads), >= 1 */
	struct batch_targets *targets; /* finished; every job's backend names a target */
	batch_run_fn run;
	void *ctx;                  /* for run, estimate and report */
	batch_estimate_fn estimate; /* NULL: every price unknown */
	double max_cost;            /* > 0: the cap in USD; 0 none */
	double spent_before;        /* spent already against the cap (per-day budgets) */
	int allow_unknown_cost;
	int max_attempts;              /* runs of one job before it fails; 0: 4 */
	double backoff_base;           /* first rest of a failing member, s; 0: 1 */
	double backoff_max;            /* longest rest, s, and how long a target must keep
					* failing to be down; 0: 60 */
	struct batch_journal *journal; /* NULL: no journal */
	batch_report_fn report;        /* NULL: none */
	const struct ev_sink *sink;    /* NULL: events dropped */
	int (*stop)(void);             /* NULL: cancel_requested */
};

enum batch_stop {
	BATCH_STOP_NONE,   /* every job ran */
	BATCH_STOP_CANCEL, /* opts->stop() said stop */
	BATCH_STOP_BUDGET, /* the next job would have passed max_cost */
	BATCH_STOP_ERROR,  /* the journal could not be written */
};

struct batch_summary {
	size_t total; /* jobs asked to run */
	size_t done, failed, cancelled;
	size_t not_run;      /* never ended: stopped before they ran or while waiting a retry */
	size_t retries;      /* attempts that ended retryable and were tried again */
	double spent;        /* settled cost of this run, USD */
	size_t unknown_cost; /* jobs done whose real cost was unknown */
	int max_in_flight;   /* most jobs that ran at once */
	enum batch_stop stop;
};

/**
 * Run jobs->jobs[which[0..n)] (distinct indexes; which NULL: every job, n ignored) to the
 * end or to a stop.
 * Returns 0 with *out filled (failed jobs are counted there, not errors), or -1: before
 * anything ran (code 2: a job's backend names no target, unknown price under a budget;
 * the message names the job's FILE:LINE:COL), or after a journal write failed (the run
 * stopped; out is filled too).
 */
int batch_run(struct batch_summary *out, const struct batch_list *jobs, const size_t *which,
	      size_t n, const struct batch_sched_opts *opts, struct err *err);

#endif
