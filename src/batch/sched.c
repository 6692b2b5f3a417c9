/* sched.c - worker threads over per-backend queues: one mutex, one condition variable. */
#include "batch/sched.h"
#include "util/cancel.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STOP_POLL 0.05 /* seconds between looks at the stop flag while waiting */
#define COST_EPSILON 1e-9

/* A ring buffer of job indexes: retries go back to the front. */
struct deque {
	size_t *v;
	size_t cap, head, n;
};

static int dq_grow(struct deque *q)
{
	size_t cap = q->cap ? q->cap * 2 : 16, i;
	size_t *v = malloc(cap * sizeof(*v));

	if (!v)
		return -1;
	for (i = 0; i < q->n; i++)
		v[i] = q->v[(q->head + i) % q->cap];
	free(q->v);
	q->v = v;
	q->cap = cap;
	q->head = 0;
	return 0;
}

static int dq_push_back(struct deque *q, size_t x)
{
	if (q->n == q->cap && dq_grow(q) < 0)
		return -1;
	q->v[(q->head + q->n++) % q->cap] = x;
	return 0;
}

static int dq_push_front(struct deque *q, size_t x)
{
	if (q->n == q->cap && dq_grow(q) < 0)
		return -1;
	q->head = (q->head + q->cap - 1) % q->cap;
	q->v[q->head] = x;
	q->n++;
	return 0;
}

static size_t dq_front(const struct deque *q)
{
	return q->v[q->head];
}

static void dq_pop_front(struct deque *q)
{
	q->head = (q->head + 1) % q->cap;
	q->n--;
}

struct sched {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const struct batch_sched_opts *o;
	const struct batch_list *jobs;
	struct batch_targets *t;
	int (*stop_fn)(void);
	int max_attempts;
	double down_after; /* seconds of failures before a wholly failing target gives up */

	int *target_of;         /* by job index */
	int *attempts;          /* by job index */
	double *reserve;        /* by job index: the estimate reserved while it runs */
	struct deque *queues;   /* by target */
	unsigned char *blocked; /* by target: scratch of dispatch() */
	size_t ntargets, queued;

	int in_flight;
	double spent, reserved;
	int stopped;
	struct err err; /* the journal failure that stopped the run */
	struct batch_summary sum;
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stop_with(struct sched *s, enum batch_stop why)
{
	if (!s->stopped) {
		s->stopped = 1;
		s->sum.stop = why;
	}
	pthread_cond_broadcast(&s->cv);
}

/* Wait for a change, until wake (0: none known) but no longer than STOP_POLL. */
static void wait_until(struct sched *s, double wake)
{
	double now = mono_now(), until = now + STOP_POLL;
	struct timespec ts;

	if (wake > now && wake < until)
		until = wake;
	ts.tv_sec = (time_t)until;
	ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

enum dispatch { D_RUN, D_WAIT, D_BUDGET, D_DOWN };

/* Under the lock: the next job that can start, in index order across targets (D_RUN:
 * *inst_out is where), or one to fail because every instance its target may use is down
 * (D_DOWN: *inst_out is the target, why the last error). */
static enum dispatch dispatch(struct sched *s, size_t *job_out, int *inst_out, double *wake,
			      char *why, size_t why_size)
{
	const struct batch_sched_opts *o = s->o;
	double now = mono_now();
	size_t tg;

	*wake = 0;
	memset(s->blocked, 0, s->ntargets);
	for (;;) {
		size_t best_job = SIZE_MAX, j;
		int best = -1, inst;
		double w, est = 0;

		for (tg = 0; tg < s->ntargets; tg++) {
			if (s->blocked[tg] || !s->queues[tg].n)
				continue;
			if (dq_front(&s->queues[tg]) < best_job) {
				best_job = dq_front(&s->queues[tg]);
				best = (int)tg;
			}
		}
		if (best < 0)
			return D_WAIT;
		inst = batch_targets_pick(s->t, best, now, &w);
		if (inst < 0 && batch_targets_down(s->t, best, s->max_attempts, s->down_after, now,
						   why, why_size)) {
			dq_pop_front(&s->queues[best]);
			s->queued--;
			*job_out = best_job;
			*inst_out = best;
			return D_DOWN;
		}
		if (inst < 0) {
			s->blocked[best] = 1;
			if (w > 0 && (*wake == 0 || w < *wake))
				*wake = w;
			continue;
		}
		j = best_job;
		if (o->max_cost > 0) {
			if (!o->estimate ||
			    o->estimate(o->ctx, &s->jobs->jobs[j],
					batch_targets_inst_name(s->t, inst), &est) < 0)
				est = 0; /* unknown: allowed, checked before the run */
			if (s->spent + s->reserved + est > o->max_cost + COST_EPSILON)
				return s->in_flight > 0 ? D_WAIT : D_BUDGET;
		}
		dq_pop_front(&s->queues[best]);
		s->queued--;
		batch_targets_begin(s->t, inst);
		if (++s->in_flight > s->sum.max_in_flight)
			s->sum.max_in_flight = s->in_flight;
		s->reserved += est;
		s->reserve[j] = est;
		*job_out = j;
		*inst_out = inst;
		return D_RUN;
	}
}

/* The journal line of a job that ended. */
static json_t *journal_fields(const char *inst, int attempts, double cost, int cost_known,
			      const struct batch_outcome *out)
{
	json_t *f = json_pack("{ss si si}", "backend", inst, "attempts", attempts, "images",
			      out->images);

	if (!f)
		return NULL;
	if ((cost_known && json_object_set_new(f, "cost", json_real(cost)) < 0) ||
	    (out->record && json_object_set(f, "record", out->record) < 0) ||
	    (out->result != BATCH_DONE &&
	     json_object_set_new(f, "error", json_string(out->err.msg)) < 0)) {
		json_decref(f);
		return NULL;
	}
	return f;
}

/* A job ended for good (lock not held): its journal line, then the report, then the
 * count.  Takes out->record. */
static void finish(struct sched *s, size_t j, const char *where, struct batch_outcome *out,
		   int attempts, double cost, int cost_known)
{
	const struct batch_sched_opts *o = s->o;
	const struct batch_job *job = &s->jobs->jobs[j];
	enum batch_job_state st = out->result == BATCH_DONE        ? BATCH_JOB_DONE
				  : out->result == BATCH_CANCELLED ? BATCH_JOB_CANCELLED
								   : BATCH_JOB_FAILED;
	json_t *fields;

	if (o->journal) {
		struct err jerr = ERR_INIT;

		fields = journal_fields(where, attempts, cost, cost_known, out);
		if (!fields ||
		    batch_journal_append(o->journal, job->index, st, fields, &jerr) < 0) {
			if (!fields)
				err_set(&jerr, "out of memory");
			pthread_mutex_lock(&s->mu);
			if (!s->err.msg[0])
				s->err = jerr;
			stop_with(s, BATCH_STOP_ERROR);
			pthread_mutex_unlock(&s->mu);
		}
		json_decref(fields);
	}
	if (o->report)
		o->report(o->ctx, job, where, out);
	pthread_mutex_lock(&s->mu);
	if (st == BATCH_JOB_DONE) {
		s->sum.done++;
		if (out->cost_usd < 0)
			s->sum.unknown_cost++;
	} else if (st == BATCH_JOB_CANCELLED) {
		s->sum.cancelled++;
	} else {
		s->sum.failed++;
	}
	pthread_mutex_unlock(&s->mu);
	json_decref(out->record);
	out->record = NULL;
}

/* Run job j on inst (lock not held), then settle. */
static void run_one(struct sched *s, size_t j, int inst)
{
	const struct batch_sched_opts *o = s->o;
	const struct batch_job *job = &s->jobs->jobs[j];
	const char *iname = batch_targets_inst_name(s->t, inst);
	struct ev_sink sink;
	struct batch_outcome out;
	double rest, cost;
	int retryable, attempts, cost_known;

	memset(&sink, 0, sizeof(sink));
	if (o->sink)
		sink = *o->sink;
	sink.job = (int)job->index;
	memset(&out, 0, sizeof(out));
	out.cost_usd = -1;
	if (o->run(o->ctx, job, iname, &sink, &out) < 0 && out.result == BATCH_DONE)
		out.result = BATCH_FAILED;
	if (out.result != BATCH_DONE && !out.err.msg[0])
		err_set(&out.err, "the job failed without a message");

	pthread_mutex_lock(&s->mu);
	rest = batch_targets_end(s->t, inst, out.result, out.retry_after, out.err.msg, mono_now());
	s->in_flight--;
	cost_known = out.cost_usd >= 0 || (out.result == BATCH_DONE && s->reserve[j] > 0);
	cost = out.cost_usd >= 0 ? out.cost_usd : out.result == BATCH_DONE ? s->reserve[j] : 0;
	s->reserved -= s->reserve[j];
	s->reserve[j] = 0;
	s->spent += cost;
	s->sum.spent += cost;
	attempts = ++s->attempts[j];
	retryable = out.result == BATCH_RETRY || out.result == BATCH_RATE_LIMITED;
	if (retryable && (s->stopped || attempts < s->max_attempts)) {
		/* again, on whichever member is up (stopped: it stays pending for resume) */
		if (s->stopped || dq_push_front(&s->queues[s->target_of[j]], j) < 0) {
			s->sum.not_run++;
		} else {
			s->queued++;
			s->sum.retries++;
		}
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		ev_log(&sink, EV_VERBOSE, iname, "%s%s; resting %.1f s, job %zu back in the queue",
		       out.result == BATCH_RATE_LIMITED ? "rate limited: " : "", out.err.msg, rest,
		       job->index);
		json_decref(out.record);
		return;
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (retryable)
		err_prefix(&out.err, "gave up after %d attempts", attempts);
	finish(s, j, iname, &out, attempts, cost, cost_known);
}

/* Fail job j without running it: every instance of target is down. */
static void fail_down(struct sched *s, size_t j, int target, const char *why)
{
	struct batch_outcome out;
	int attempts;

	memset(&out, 0, sizeof(out));
	out.result = BATCH_FAILED;
	out.cost_usd = -1;
	err_set(&out.err, "every backend of '%s' keeps failing (last error: %s)",
		batch_targets_name(s->t, target), why);
	pthread_mutex_lock(&s->mu);
	attempts = s->attempts[j];
	pthread_mutex_unlock(&s->mu);
	finish(s, j, batch_targets_name(s->t, target), &out, attempts, 0, 0);
}

static void *worker(void *arg)
{
	struct sched *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		size_t j;
		int inst;
		double wake;
		enum dispatch d;
		char why[256];

		if (!s->stopped && s->stop_fn())
			stop_with(s, BATCH_STOP_CANCEL);
		if (s->stopped)
			break;
		if (s->queued == 0) {
			if (s->in_flight == 0)
				break;    /* every job ended */
			wait_until(s, 0); /* a running job may come back for a retry */
			continue;
		}
		d = dispatch(s, &j, &inst, &wake, why, sizeof(why));
		if (d == D_BUDGET) {
			stop_with(s, BATCH_STOP_BUDGET);
			break;
		}
		if (d == D_WAIT) {
			wait_until(s, wake);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		if (d == D_DOWN)
			fail_down(s, j, inst, why);
		else
			run_one(s, j, inst);
		pthread_mutex_lock(&s->mu);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static const char *job_file(const struct batch_list *jobs)
{
	return jobs->file ? jobs->file : "batch";
}

/* Before anything runs: every job has a target, and a price when there is a budget. */
static int check_jobs(struct sched *s, const size_t *which, size_t n, struct err *err)
{
	const struct batch_sched_opts *o = s->o;
	int members[BATCH_CONCURRENCY_MAX * 4];
	size_t i, k, m;

	for (i = 0; i < n; i++) {
		size_t j = which ? which[i] : i;
		const struct batch_job *job;
		int tg;

		if (j >= s->jobs->n)
			return err_code(err, 2, "batch: job %zu is not in the batch", j);
		job = &s->jobs->jobs[j];
		if (s->target_of[j] >= 0)
			return err_code(err, 2, "batch: job %zu is listed twice", j);
		if (!job->backend)
			return err_code(err, 2, "%s:%d:%d: the job has no backend",
					job_file(s->jobs), job->line, job->col);
		tg = batch_targets_find(s->t, job->backend);
		if (tg < 0)
			return err_code(err, 2, "%s:%d:%d: unknown backend '%s'", job_file(s->jobs),
					job->line, job->col, job->backend);
		s->target_of[j] = tg;
		if (o->max_cost <= 0 || o->allow_unknown_cost)
			continue;
		m = batch_targets_members(s->t, tg, members, sizeof(members) / sizeof(members[0]));
		for (k = 0; k < m && k < sizeof(members) / sizeof(members[0]); k++) {
			const char *iname = batch_targets_inst_name(s->t, members[k]);
			double usd;

			if (!o->estimate || o->estimate(o->ctx, job, iname, &usd) < 0)
				return err_code(err, 2,
						"%s:%d:%d: budget: the price of a job on '%s' is "
						"unknown (allow unknown costs to run it anyway)",
						job_file(s->jobs), job->line, job->col, iname);
		}
	}
	return 0;
}

static void sched_free(struct sched *s)
{
	size_t i;

	for (i = 0; i < s->ntargets && s->queues; i++)
		free(s->queues[i].v);
	free(s->queues);
	free(s->blocked);
	free(s->target_of);
	free(s->attempts);
	free(s->reserve);
}

int batch_run(struct batch_summary *out, const struct batch_list *jobs, const size_t *which,
	      size_t n, const struct batch_sched_opts *opts, struct err *err)
{
	struct sched s;
	pthread_condattr_t ca;
	pthread_t *threads = NULL;
	int nworkers, started = 0, i, rc = -1;
	size_t k;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	if (!which)
		n = jobs->n;
	out->total = n;
	if (!opts->run || !opts->targets)
		return err_set(err, "batch: no runner or no backends");
	s.o = opts;
	s.jobs = jobs;
	s.t = opts->targets;
	s.stop_fn = opts->stop ? opts->stop : cancel_requested;
	s.max_attempts = opts->max_attempts > 0 ? opts->max_attempts : 4;
	s.down_after = opts->backoff_max > 0 ? opts->backoff_max : 60;
	batch_targets_backoff(s.t, opts->backoff_base, opts->backoff_max);
	s.spent = opts->spent_before;
	s.ntargets = batch_targets_count(s.t);
	s.target_of = calloc(jobs->n ? jobs->n : 1, sizeof(*s.target_of));
	s.attempts = calloc(jobs->n ? jobs->n : 1, sizeof(*s.attempts));
	s.reserve = calloc(jobs->n ? jobs->n : 1, sizeof(*s.reserve));
	s.queues = calloc(s.ntargets ? s.ntargets : 1, sizeof(*s.queues));
	s.blocked = calloc(s.ntargets ? s.ntargets : 1, 1);
	if (!s.target_of || !s.attempts || !s.reserve || !s.queues || !s.blocked) {
		err_set(err, "out of memory");
		goto out;
	}
	for (k = 0; k < jobs->n; k++)
		s.target_of[k] = -1;
	if (check_jobs(&s, which, n, err) < 0)
		goto out;
	for (k = 0; k < n; k++) {
		size_t j = which ? which[k] : k;

		if (dq_push_back(&s.queues[s.target_of[j]], j) < 0) {
			err_set(err, "out of memory");
			goto out;
		}
		s.queued++;
	}
	nworkers = opts->concurrency > 0 ? opts->concurrency : 1;
	if ((size_t)nworkers > n)
		nworkers = n ? (int)n : 1;
	threads = calloc((size_t)nworkers, sizeof(*threads));
	if (!threads) {
		err_set(err, "out of memory");
		goto out;
	}
	pthread_mutex_init(&s.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s.cv, &ca);
	pthread_condattr_destroy(&ca);
	for (i = 0; i < nworkers; i++) {
		if (pthread_create(&threads[i], NULL, worker, &s) != 0)
			break;
		started++;
	}
	if (started == 0) {
		/* no thread at all: run on this one */
		worker(&s);
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
	s.sum.total = n;
	s.sum.not_run += s.queued;
	*out = s.sum;
	if (s.sum.stop == BATCH_STOP_ERROR) {
		if (err)
			*err = s.err;
		goto out;
	}
	rc = 0;
out:
	free(threads);
	sched_free(&s);
	return rc;
}
