/* test_batch_sched.c - the batch scheduler with a fake runner: limits, pools, AIMD, budget,
 * Ctrl-C and resume, a SIGKILL in the middle. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch/journal.h"
#include "batch/parse.h"
#include "batch/pool.h"
#include "batch/sched.h"

/* ---- the fake runner ---------------------------------------------------------------------- */

#define MAX_JOBS 64
#define MAX_INST 4

enum behaviour { OK, DOWN, LIMITED, BAD_REQUEST };

struct fake_inst {
	const char *name;
	enum behaviour how;
	int limited_left; /* LIMITED: this many 429s first */
	int in_flight, max_in_flight;
	int runs, ok;
};

struct fake {
	pthread_mutex_t mu;
	struct fake_inst inst[MAX_INST];
	int ninst;
	int sleep_ms;
	double cost; /* real cost of a done job; < 0 unknown */
	int in_flight, max_in_flight;
	int done[MAX_JOBS]; /* times each job was done */
	int started[MAX_JOBS];
	int order[MAX_INST][MAX_JOBS]; /* job indexes in start order, per instance */
	int norder[MAX_INST];
	int stop_after; /* > 0: ask to stop once this many jobs are done */
	int ndone;
	int oddities; /* things a worker thread saw wrong (cmocka asserts only on main) */
	int kill_at;  /* >= 0: SIGKILL this process when this job starts */
	int runs_fd;  /* >= 0: append "INDEX\n" for each job done (survives a kill) */
	/* report checks */
	const char *root, *id;
	int reports, reported_before_journal;
};

static struct fake F;

static void fake_reset(int sleep_ms)
{
	memset(&F, 0, sizeof(F));
	pthread_mutex_init(&F.mu, NULL);
	F.sleep_ms = sleep_ms;
	F.cost = -1;
	F.kill_at = -1;
	F.runs_fd = -1;
}

static struct fake_inst *fake_add(const char *name, enum behaviour how)
{
	struct fake_inst *fi = &F.inst[F.ninst++];

	fi->name = name;
	fi->how = how;
	return fi;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int fake_run(void *ctx, const struct batch_job *job, const char *instance,
		    const struct ev_sink *sink, struct batch_outcome *out)
{
	struct fake_inst *fi = NULL;
	enum batch_result r = BATCH_DONE;
	int i, idx = -1;

	(void)ctx;
	if ((int)job->index == F.kill_at)
		kill(getpid(), SIGKILL);
	pthread_mutex_lock(&F.mu);
	for (i = 0; i < F.ninst; i++)
		if (!strcmp(F.inst[i].name, instance)) {
			fi = &F.inst[i];
			idx = i;
		}
	if (!fi || sink->job != (int)job->index || job->index >= MAX_JOBS)
		abort();
	F.started[job->index]++;
	F.order[idx][F.norder[idx]++] = (int)job->index;
	if (++F.in_flight > F.max_in_flight)
		F.max_in_flight = F.in_flight;
	if (++fi->in_flight > fi->max_in_flight)
		fi->max_in_flight = fi->in_flight;
	fi->runs++;
	if (fi->how == DOWN)
		r = BATCH_RETRY;
	else if (fi->how == BAD_REQUEST)
		r = BATCH_FAILED;
	else if (fi->how == LIMITED && fi->limited_left > 0) {
		fi->limited_left--;
		r = BATCH_RATE_LIMITED;
	}
	pthread_mutex_unlock(&F.mu);

	if (r == BATCH_DONE)
		sleep_ms(F.sleep_ms);

	pthread_mutex_lock(&F.mu);
	F.in_flight--;
	fi->in_flight--;
	if (r == BATCH_DONE) {
		fi->ok++;
		F.done[job->index]++;
		if (F.runs_fd >= 0) {
			char line[32];
			int n = snprintf(line, sizeof(line), "%zu\n", job->index);

			if (write(F.runs_fd, line, (size_t)n) != n)
				F.oddities++;
		}
		F.ndone++;
	}
	pthread_mutex_unlock(&F.mu);

	out->result = r;
	if (r == BATCH_DONE) {
		out->cost_usd = F.cost;
		out->images = 1;
		out->record = json_pack("{ss}", "path", instance);
		return 0;
	}
	if (r == BATCH_RETRY)
		err_set(&out->err, "connection refused");
	else if (r == BATCH_RATE_LIMITED)
		err_set(&out->err, "HTTP 429 too many requests");
	else
		err_set(&out->err, "HTTP 400 bad request");
	return -1;
}

static int fake_stop(void)
{
	int stop;

	pthread_mutex_lock(&F.mu);
	stop = F.stop_after > 0 && F.ndone >= F.stop_after;
	pthread_mutex_unlock(&F.mu);
	return stop;
}

static int never_stop(void)
{
	return 0;
}

/* The report comes after the journal line is on disk: read it back from there. */
static void fake_report(void *ctx, const struct batch_job *job, const char *instance,
			const struct batch_outcome *out)
{
	struct batch_state st;
	struct err err = ERR_INIT;

	(void)ctx;
	(void)instance;
	(void)out;
	if (!F.root)
		return;
	if (batch_state_load(&st, F.root, F.id, &err) < 0) {
		pthread_mutex_lock(&F.mu);
		F.oddities++;
		pthread_mutex_unlock(&F.mu);
		return;
	}
	pthread_mutex_lock(&F.mu);
	F.reports++;
	if (st.status[job->index] == BATCH_JOB_PENDING)
		F.reported_before_journal++;
	pthread_mutex_unlock(&F.mu);
	batch_state_release(&st);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void jobs_on(struct batch_list *l, size_t n, const char *const *backends, size_t nb)
{
	struct err err = ERR_INIT;
	char text[8192] = "";
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "{\"prompt\": \"job %zu\", \"backend\": \"%s\", \"seed\": %zu}\n", i,
			 backends[i % nb], i);
	assert_int_equal(batch_parse(l, text, strlen(text), "b.jsonl", BATCH_FMT_JSONL, &err), 0);
}

static struct batch_targets *targets_from(const char *yaml_json)
{
	struct batch_targets *t;
	struct err err = ERR_INIT;
	json_error_t jerr;
	json_t *cfg = json_loads(yaml_json, 0, &jerr), *slice;
	const char *name;

	if (!cfg)
		fail_msg("bad JSON in test: %s", jerr.text);
	assert_int_equal(batch_targets_new(&t, &err), 0);
	json_object_foreach (cfg, name, slice) {
		if (batch_targets_add(t, name, slice, &err) != 0)
			fail_msg("add %s: %s", name, err.msg);
	}
	if (batch_targets_finish(t, &err) != 0)
		fail_msg("finish: %s", err.msg);
	json_decref(cfg);
	return t;
}

static struct batch_sched_opts opts_for(struct batch_targets *t, int concurrency)
{
	struct batch_sched_opts o;

	memset(&o, 0, sizeof(o));
	o.concurrency = concurrency;
	o.targets = t;
	o.run = fake_run;
	o.stop = never_stop;
	o.backoff_base = 0.005;
	o.backoff_max = 0.04;
	return o;
}

static struct batch_inst_stats stats(struct batch_targets *t, const char *name)
{
	struct batch_inst_stats s;

	assert_int_equal(batch_targets_stats(t, name, &s), 0);
	return s;
}

static char *make_root(void)
{
	char base[] = "/tmp/imagen-sched-XXXXXX", *root;

	assert_non_null(mkdtemp(base));
	assert_true(asprintf(&root, "%s/batches", base) > 0);
	return root;
}

static void remove_root(char *root)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strlen(root) - strlen("/batches")), root);
	assert_int_equal(system(cmd), 0);
	free(root);
}

/* ---- limits ------------------------------------------------------------------------------- */

static void test_limits_never_exceeded(void **state)
{
	static const char *const be[] = { "api", "gpu", "gpu", "api" };
	struct batch_targets *t =
		targets_from("{\"api\": {\"type\": \"openai\", \"concurrency\": 3},"
			     " \"gpu\": {\"type\": \"comfyui\"}}");
	struct batch_sched_opts o = opts_for(t, 4);
	struct batch_summary sum;
	struct batch_list l;
	struct err err = ERR_INIT;
	int i, k;

	(void)state;
	fake_reset(15);
	fake_add("api", OK);
	fake_add("gpu", OK);
	jobs_on(&l, 40, be, 4);
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	assert_int_equal(sum.total, 40);
	assert_int_equal(sum.done, 40);
	assert_int_equal(sum.failed + sum.not_run + sum.cancelled, 0);
	assert_int_equal(sum.stop, BATCH_STOP_NONE);
	/* the limits hold: overall 4, api 3, gpu 2 (comfyui's default) ... */
	assert_true(F.max_in_flight <= 4);
	assert_true(F.inst[0].max_in_flight <= 3);
	assert_true(F.inst[1].max_in_flight <= 2);
	assert_true(sum.max_in_flight <= 4);
	assert_int_equal(stats(t, "gpu").limit, 2);
	/* ... and are used: 20 jobs on 2 slots and 20 on 3, 15 ms each */
	assert_int_equal(F.max_in_flight, 4);
	assert_int_equal(F.inst[1].max_in_flight, 2);
	for (i = 0; i < 40; i++)
		assert_int_equal(F.done[i], 1);
	/* each backend's jobs are handed out in the file's order.  The runner records a
	 * job once its worker thread runs, after the scheduler let go of it, so two jobs
	 * handed out together may be recorded either way round (seen on a loaded machine):
	 * compare each job with the one two slot-fulls earlier (api 3 slots, gpu 2); being
	 * overtaken by that much means the order was broken, not a thread started late */
	for (k = 0; k < 2; k++) {
		int win = 2 * (k == 0 ? 3 : 2);

		for (i = win; i < F.norder[k]; i++)
			assert_true(F.order[k][i] > F.order[k][i - win]);
	}
	batch_list_release(&l);
	batch_targets_free(t);
}

static void test_unknown_backend_refused(void **state)
{
	static const char *const be[] = { "api", "nope" };
	struct batch_targets *t = targets_from("{\"api\": {\"type\": \"mock\"}}");
	struct batch_sched_opts o = opts_for(t, 2);
	struct batch_summary sum;
	struct batch_list l;
	struct err err = ERR_INIT;

	(void)state;
	fake_reset(0);
	fake_add("api", OK);
	jobs_on(&l, 2, be, 2);
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "b.jsonl:2:1: unknown backend 'nope'");
	assert_int_equal(F.inst[0].runs, 0); /* nothing ran */
	batch_list_release(&l);
	batch_targets_free(t);
}

/* ---- pools -------------------------------------------------------------------------------- */

static void test_pool_member_down_and_429(void **state)
{
	static const char *const be[] = { "farm" };
	struct batch_targets *t =
		targets_from("{\"down\": {\"type\": \"comfyui\", \"concurrency\": 2},"
			     " \"busy\": {\"type\": \"openai\"},"
			     " \"farm\": {\"type\": \"pool\", \"members\": [\"down\", \"busy\"]}}");
	struct batch_sched_opts o = opts_for(t, 4);
	struct batch_summary sum;
	struct batch_list l;
	struct err err = ERR_INIT;
	struct batch_inst_stats busy;
	int i;

	(void)state;
	fake_reset(5);
	fake_add("down", DOWN);
	fake_add("busy", LIMITED)->limited_left = 2;
	o.max_attempts = 30;
	jobs_on(&l, 16, be, 1);
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	/* every job done exactly once, all on the member that answers */
	assert_int_equal(sum.done, 16);
	assert_int_equal(sum.failed, 0);
	for (i = 0; i < 16; i++)
		assert_int_equal(F.done[i], 1);
	assert_int_equal(F.inst[0].ok, 0);
	assert_int_equal(F.inst[1].ok, 16);
	/* the down member was tried, failed over, and rested */
	assert_true(stats(t, "down").retried >= 1);
	assert_int_equal(stats(t, "down").done, 0);
	assert_true(sum.retries >= 3);
	/* two 429s halved busy's limit 4 → 2 → 1; 16 successes grew it back to 4 */
	busy = stats(t, "busy");
	assert_int_equal(busy.rate_limited, 2);
	assert_int_equal(busy.limit, 4);
	assert_int_equal(busy.cur_limit, 4);
	assert_true(F.inst[1].max_in_flight <= 4);
	assert_true(F.inst[0].max_in_flight <= 2);
	batch_list_release(&l);
	batch_targets_free(t);
}

static void test_retries_exhausted_and_final_errors(void **state)
{
	static const char *const be[] = { "dead", "strict" };
	struct batch_targets *t = targets_from("{\"dead\": {\"type\": \"mock\"},"
					       " \"strict\": {\"type\": \"mock\"}}");
	struct batch_sched_opts o = opts_for(t, 2);
	struct batch_summary sum;
	struct batch_list l;
	struct batch_state st;
	struct batch_journal *j;
	struct err err = ERR_INIT;
	char *root = make_root(), path[512], line[1024];
	FILE *f;
	int lines = 0;

	(void)state;
	fake_reset(0);
	fake_add("dead", DOWN);
	fake_add("strict", BAD_REQUEST);
	o.max_attempts = 3;
	jobs_on(&l, 2, be, 2);
	assert_int_equal(batch_journal_create(&j, root, "b.jsonl", NULL, &l, &err), 0);
	o.journal = j;
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	assert_int_equal(sum.failed, 2);
	assert_int_equal(sum.retries, 2);
	assert_int_equal(F.inst[0].runs, 3); /* retried up to max_attempts */
	assert_int_equal(F.inst[1].runs, 1); /* a final error is not retried */
	assert_int_equal(batch_state_load(&st, root, batch_journal_id(j), &err), 0);
	assert_int_equal(st.failed, 2);
	batch_state_release(&st);
	snprintf(path, sizeof(path), "%s/journal.jsonl", batch_journal_dir(j));
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *o2 = json_loads(line, 0, NULL);
		const char *e = json_string_value(json_object_get(o2, "error"));

		if (json_integer_value(json_object_get(o2, "job")) == 0) {
			assert_string_equal(e, "gave up after 3 attempts: connection refused");
			assert_int_equal(json_integer_value(json_object_get(o2, "attempts")), 3);
		} else {
			assert_string_equal(e, "HTTP 400 bad request");
		}
		assert_string_equal(json_string_value(json_object_get(o2, "status")), "failed");
		json_decref(o2);
		lines++;
	}
	fclose(f);
	assert_int_equal(lines, 2);
	batch_journal_close(j);
	batch_list_release(&l);
	batch_targets_free(t);
	remove_root(root);
}

static void test_pick_strategies(void **state)
{
	struct batch_targets *t =
		targets_from("{\"a\": {\"type\": \"mock\", \"concurrency\": 64},"
			     " \"b\": {\"type\": \"mock\", \"concurrency\": 64},"
			     " \"rr\": {\"type\": \"pool\", \"strategy\": \"round-robin\","
			     "          \"members\": [{\"name\": \"a\", \"weight\": 2}, \"b\"]},"
			     " \"lb\": {\"type\": \"pool\", \"members\": [\"a\", {\"name\": \"b\", "
			     "\"weight\": 3}]},"
			     " \"ord\": {\"type\": \"pool\", \"strategy\": \"ordered\", "
			     "\"members\": [\"a\", \"b\"]}}");
	int rr = batch_targets_find(t, "rr"), lb = batch_targets_find(t, "lb");
	int ord = batch_targets_find(t, "ord"), a, b, i, na = 0;
	char seq[8] = "";
	double wake;

	(void)state;
	batch_targets_backoff(t, 1, 60);
	a = 0;
	b = 1;
	assert_string_equal(batch_targets_inst_name(t, a), "a");
	/* smooth weighted round robin 2:1 → a b a, a b a, ... */
	for (i = 0; i < 30; i++) {
		int got = batch_targets_pick(t, rr, 0, &wake);

		if (i < 6)
			seq[i] = got == a ? 'a' : 'b';
		na += got == a;
	}
	assert_string_equal(seq, "abaaba");
	assert_int_equal(na, 20);

	/* least busy per weight: a 1 in flight (1/1) vs b 2 in flight (2/3) → b */
	batch_targets_begin(t, a);
	batch_targets_begin(t, b);
	batch_targets_begin(t, b);
	assert_int_equal(batch_targets_pick(t, lb, 0, &wake), b);
	batch_targets_begin(t, b); /* 3/3 = 1/1: the first listed wins the tie */
	assert_int_equal(batch_targets_pick(t, lb, 0, &wake), a);

	/* ordered: the first member while it is up */
	assert_int_equal(batch_targets_pick(t, ord, 0, &wake), a);
	/* a fails: it rests, the next member takes over, until a is back */
	assert_true(batch_targets_end(t, a, BATCH_RETRY, 0, "e", 10.0) == 1.0);
	assert_int_equal(batch_targets_pick(t, ord, 10.5, &wake), b);
	assert_int_equal(batch_targets_pick(t, ord, 11.0, &wake), a);
	/* every member resting: no pick, and when to look again */
	batch_targets_end(t, b, BATCH_RETRY, 0, "e", 20.0);
	batch_targets_end(t, b, BATCH_RETRY, 0, "e", 20.0); /* second failure: 2 s */
	batch_targets_begin(t, a);
	batch_targets_end(t, a, BATCH_RETRY, 0, "e", 20.5); /* second failure: 2 s */
	assert_int_equal(batch_targets_pick(t, lb, 21.0, &wake), -1);
	assert_true(wake == 22.0);
	batch_targets_free(t);
}

static void test_rest_and_aimd(void **state)
{
	struct batch_targets *t =
		targets_from("{\"x\": {\"type\": \"openai\", \"concurrency\": 8}}");
	int x = batch_targets_find(t, "x"), i;
	double wake;

	(void)state;
	batch_targets_backoff(t, 1, 30);
	for (i = 0; i < 8; i++)
		batch_targets_begin(t, 0);
	assert_int_equal(batch_targets_pick(t, x, 0, &wake), -1); /* full: wait for room */
	assert_true(wake == 0);
	/* 429s halve the limit down to 1, rests double (1, 2, 4) and honour Retry-After */
	assert_true(batch_targets_end(t, 0, BATCH_RATE_LIMITED, 0, "e", 0) == 1);
	assert_int_equal(stats(t, "x").cur_limit, 4);
	assert_true(batch_targets_end(t, 0, BATCH_RATE_LIMITED, 0, "e", 0) == 2);
	assert_int_equal(stats(t, "x").cur_limit, 2);
	assert_true(batch_targets_end(t, 0, BATCH_RATE_LIMITED, 0, "e", 0) == 4);
	assert_true(batch_targets_end(t, 0, BATCH_RATE_LIMITED, 10, "e", 0) == 10);
	assert_true(batch_targets_end(t, 0, BATCH_RATE_LIMITED, 99, "e", 0) == 30);
	assert_int_equal(stats(t, "x").cur_limit, 1);
	assert_true(stats(t, "x").rest_until == 30);
	assert_int_equal(batch_targets_pick(t, x, 29, &wake), -1);
	assert_true(wake == 30);
	/* 3 still in flight, limit 1: no room until they end, whatever the rest */
	assert_int_equal(stats(t, "x").in_flight, 3);
	assert_int_equal(batch_targets_pick(t, x, 31, &wake), -1);
	/* each success: one more slot, up to the configured 8; the rest is over */
	batch_targets_end(t, 0, BATCH_DONE, 0, "e", 31);
	assert_int_equal(stats(t, "x").cur_limit, 2);
	assert_true(stats(t, "x").rest_until == 0);
	for (i = 0; i < 10; i++) {
		batch_targets_begin(t, 0);
		batch_targets_end(t, 0, BATCH_DONE, 0, "e", 32);
	}
	assert_int_equal(stats(t, "x").cur_limit, 8);
	/* a final error says nothing about the member's health */
	batch_targets_begin(t, 0);
	assert_true(batch_targets_end(t, 0, BATCH_FAILED, 0, "e", 40) == 0);
	assert_int_equal(stats(t, "x").cur_limit, 8);
	batch_targets_free(t);
}

static void test_target_down(void **state)
{
	struct batch_targets *t =
		targets_from("{\"a\": {\"type\": \"mock\"}, \"b\": {\"type\": \"mock\"},"
			     " \"p\": {\"type\": \"pool\", \"members\": [\"a\", \"b\"]}}");
	int p = batch_targets_find(t, "p"), i;
	char why[64] = "";

	(void)state;
	batch_targets_backoff(t, 1, 60);
	for (i = 0; i < 4; i++) {
		batch_targets_begin(t, 0);
		batch_targets_end(t, 0, BATCH_RETRY, 0, "connection refused", 100.0 + 10 * i);
	}
	/* a has failed 4 times over 30 s: not yet a minute; b is fine */
	assert_false(batch_targets_down(t, p, 4, 60, 130.0, why, sizeof(why)));
	assert_false(batch_targets_down(t, p, 4, 60, 200.0, why, sizeof(why)));
	assert_true(
		batch_targets_down(t, batch_targets_find(t, "a"), 4, 60, 200.0, why, sizeof(why)));
	assert_string_equal(why, "connection refused");
	for (i = 0; i < 4; i++) {
		batch_targets_begin(t, 1);
		batch_targets_end(t, 1, BATCH_RATE_LIMITED, 0, "HTTP 429", 150.0);
	}
	/* both down long enough, but b still has a job in flight */
	batch_targets_begin(t, 1);
	assert_false(batch_targets_down(t, p, 4, 60, 300.0, why, sizeof(why)));
	batch_targets_end(t, 1, BATCH_RETRY, 0, "HTTP 503", 300.0);
	assert_true(batch_targets_down(t, p, 4, 60, 360.0, why, sizeof(why)));
	assert_string_equal(why, "HTTP 503");
	/* one success and the pool is up again */
	batch_targets_begin(t, 0);
	batch_targets_end(t, 0, BATCH_DONE, 0, NULL, 361.0);
	assert_false(batch_targets_down(t, p, 4, 60, 999.0, why, sizeof(why)));
	batch_targets_free(t);
}

static int down_reports;

static void count_down(void *ctx, const struct batch_job *job, const char *instance,
		       const struct batch_outcome *out)
{
	(void)ctx;
	(void)job;
	pthread_mutex_lock(&F.mu);
	if (out->result == BATCH_FAILED && !strcmp(instance, "dead") &&
	    !strcmp(out->err.msg, "every backend of 'dead' keeps failing (last error: "
				  "connection refused)"))
		down_reports++;
	pthread_mutex_unlock(&F.mu);
}

static void test_wholly_down_target_fails_fast(void **state)
{
	static const char *const be[] = { "dead" };
	struct batch_targets *t = targets_from("{\"dead\": {\"type\": \"mock\"}}");
	struct batch_sched_opts o = opts_for(t, 2);
	struct batch_summary sum;
	struct batch_list l;
	struct err err = ERR_INIT;

	(void)state;
	fake_reset(0);
	fake_add("dead", DOWN);
	down_reports = 0;
	o.max_attempts = 3;
	o.backoff_base = 0.002;
	o.backoff_max = 0.01;
	o.report = count_down;
	jobs_on(&l, 12, be, 1);
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	assert_int_equal(sum.failed, 12);
	/* without the rule every job would have run 3 times */
	assert_true(F.inst[0].runs < 36);
	assert_true(down_reports >= 1);
	assert_int_equal(down_reports + (int)(F.inst[0].runs - sum.retries), 12);
	batch_list_release(&l);
	batch_targets_free(t);
}

static void test_pool_config(void **state)
{
	struct batch_targets *t;
	struct err err = ERR_INIT;
	json_t *s;

	(void)state;
	assert_int_equal(batch_default_concurrency("comfyui"), 2);
	assert_int_equal(batch_default_concurrency("a1111"), 2);
	assert_int_equal(batch_default_concurrency("openai"), 4);
	assert_int_equal(batch_default_concurrency("replicate"), 4);
	assert_int_equal(batch_default_concurrency("mock"), 1);
	assert_int_equal(batch_default_concurrency("other"), 2);

	assert_int_equal(batch_targets_new(&t, &err), 0);
	s = json_pack("{ss si}", "type", "comfyui", "concurrency", 0);
	assert_int_equal(batch_targets_add(t, "gpu", s, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.key, "concurrency");
	assert_string_equal(err.msg, "backends.gpu.concurrency: 0 is out of range (1..64)");
	json_decref(s);
	s = json_pack("{ss s[s] ss}", "type", "pool", "members", "a", "strategy", "least_busy");
	assert_int_equal(batch_targets_add(t, "p", s, &err), -1);
	assert_string_equal(err.key, "strategy");
	assert_string_equal(err.msg, "backends.p.strategy: unknown strategy 'least_busy' (did "
				     "you mean 'least-busy'?)");
	json_decref(s);
	s = json_pack("{ss s[s{sssi}]}", "type", "pool", "members", "a", "name", "b", "weight", 0);
	assert_int_equal(batch_targets_add(t, "p", s, &err), -1);
	assert_string_equal(err.key, "members.1.weight");
	json_decref(s);
	s = json_pack("{ss s[{ss si}]}", "type", "pool", "members", "name", "b", "wieght", 2);
	assert_int_equal(batch_targets_add(t, "p", s, &err), -1);
	assert_string_equal(err.key, "members.0.wieght");
	assert_string_equal(err.msg,
			    "backends.p.members.0.wieght: unknown key (did you mean 'weight'?)");
	json_decref(s);
	s = json_pack("{ss s[]}", "type", "pool", "members");
	assert_int_equal(batch_targets_add(t, "p", s, &err), -1);
	assert_string_equal(err.msg, "backends.p.members: expected a list of backend names");
	json_decref(s);
	s = json_pack("{ss s[s] si}", "type", "pool", "members", "a", "concurrency", 3);
	assert_int_equal(batch_targets_add(t, "p", s, &err), -1);
	assert_string_equal(err.key, "concurrency");
	json_decref(s);
	batch_targets_free(t);

	/* members resolved at the end */
	assert_int_equal(batch_targets_new(&t, &err), 0);
	s = json_pack("{ss s[ss]}", "type", "pool", "members", "a", "ghost");
	assert_int_equal(batch_targets_add(t, "p", s, &err), 0);
	json_decref(s);
	s = json_pack("{ss}", "type", "mock");
	assert_int_equal(batch_targets_add(t, "a", s, &err), 0);
	assert_int_equal(batch_targets_add(t, "a", s, &err), -1);
	assert_string_equal(err.msg, "backends.a: defined twice");
	json_decref(s);
	assert_int_equal(batch_targets_finish(t, &err), -1);
	assert_string_equal(err.msg, "backends.p.members: no backend 'ghost'");
	batch_targets_free(t);

	assert_int_equal(batch_targets_new(&t, &err), 0);
	s = json_pack("{ss s[s]}", "type", "pool", "members", "q");
	assert_int_equal(batch_targets_add(t, "p", s, &err), 0);
	assert_int_equal(batch_targets_add(t, "q", s, &err), 0);
	json_decref(s);
	assert_int_equal(batch_targets_finish(t, &err), -1);
	assert_string_equal(err.msg,
			    "backends.p.members: 'q' is a pool (members are backend instances)");
	batch_targets_free(t);

	t = NULL;
	assert_int_equal(batch_targets_new(&t, &err), 0);
	s = json_pack("{ss s[ss]}", "type", "pool", "members", "a", "a");
	assert_int_equal(batch_targets_add(t, "p", s, &err), 0);
	json_decref(s);
	s = json_pack("{ss}", "type", "mock");
	assert_int_equal(batch_targets_add(t, "a", s, &err), 0);
	json_decref(s);
	assert_int_equal(batch_targets_finish(t, &err), -1);
	assert_string_equal(err.msg, "backends.p.members: 'a' is listed twice");
	batch_targets_free(t);
}

/* ---- budget ------------------------------------------------------------------------------- */

static int price(void *ctx, const struct batch_job *job, const char *instance, double *usd)
{
	(void)ctx;
	(void)job;
	if (!strcmp(instance, "free"))
		return -1;
	*usd = 0.05;
	return 0;
}

static void test_budget_stops_scheduling(void **state)
{
	static const char *const paid[] = { "paid" }, *const mixed[] = { "paid", "free" };
	struct batch_targets *t = targets_from("{\"paid\": {\"type\": \"openai\"},"
					       " \"free\": {\"type\": \"comfyui\"}}");
	struct batch_sched_opts o = opts_for(t, 4);
	struct batch_summary sum;
	struct batch_list l;
	struct err err = ERR_INIT;

	(void)state;
	/* estimate = real = 0.05, cap 0.2: four jobs, the fifth would pass the cap */
	fake_reset(5);
	fake_add("paid", OK);
	fake_add("free", OK);
	F.cost = 0.05;
	o.estimate = price;
	o.max_cost = 0.2;
	jobs_on(&l, 10, paid, 1);
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	assert_int_equal(sum.done, 4);
	assert_int_equal(sum.not_run, 6);
	assert_int_equal(sum.stop, BATCH_STOP_BUDGET);
	assert_true(sum.spent > 0.1999 && sum.spent < 0.2001);
	assert_int_equal(F.inst[0].runs, 4);

	/* real costs below the estimate free room: 0.02 spent per job, 0.05 reserved for the
	 * next, one at a time: jobs 0..7 fit (7 x 0.02 + 0.05 <= 0.2), job 8 does not */
	fake_reset(1);
	fake_add("paid", OK);
	F.cost = 0.02;
	o.concurrency = 1;
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	assert_int_equal(sum.done, 8);
	assert_int_equal(sum.stop, BATCH_STOP_BUDGET);

	/* spent before (today's earlier batches) counts against the cap */
	fake_reset(1);
	fake_add("paid", OK);
	F.cost = 0.05;
	o.spent_before = 0.12;
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	assert_int_equal(sum.done, 1);
	o.spent_before = 0;
	batch_list_release(&l);

	/* an unknown price under a budget refuses to start ... */
	fake_reset(1);
	fake_add("paid", OK);
	fake_add("free", OK);
	jobs_on(&l, 4, mixed, 2);
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "b.jsonl:2:1: budget: the price of a job on 'free' is "
				     "unknown (allow unknown costs to run it anyway)");
	assert_int_equal(F.inst[0].runs + F.inst[1].runs, 0);
	/* ... unless allowed (counted as 0); without a budget prices do not matter */
	o.allow_unknown_cost = 1;
	F.cost = -1;
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	assert_int_equal(sum.done, 4);
	assert_int_equal(sum.unknown_cost, 4);
	o.allow_unknown_cost = 0;
	o.max_cost = 0;
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	assert_int_equal(sum.done, 4);
	batch_list_release(&l);
	batch_targets_free(t);
}

/* ---- stop and resume ---------------------------------------------------------------------- */

static void test_ctrl_c_then_resume(void **state)
{
	static const char *const be[] = { "api" };
	struct batch_targets *t = targets_from("{\"api\": {\"type\": \"openai\"}}");
	struct batch_sched_opts o = opts_for(t, 3);
	struct batch_summary sum;
	struct batch_list l;
	struct batch_state st;
	struct batch_journal *j;
	struct err err = ERR_INIT;
	char *root = make_root(), id[BATCH_ID_MAX + 1];
	size_t *rem, n;
	int i;

	(void)state;
	fake_reset(10);
	fake_add("api", OK);
	F.stop_after = 5;
	jobs_on(&l, 30, be, 1);
	assert_int_equal(batch_journal_create(&j, root, "b.jsonl", NULL, &l, &err), 0);
	snprintf(id, sizeof(id), "%s", batch_journal_id(j));
	F.root = root;
	F.id = id;
	o.journal = j;
	o.report = fake_report;
	o.stop = fake_stop;
	assert_int_equal(batch_run(&sum, &l, NULL, 0, &o, &err), 0);
	assert_int_equal(sum.stop, BATCH_STOP_CANCEL);
	/* nothing new started after the stop; what ran has ended and is in the journal */
	assert_true(sum.done >= 5 && sum.done <= 5 + 2);
	assert_int_equal(sum.done + sum.not_run, 30);
	assert_int_equal(F.reports, (int)sum.done);
	assert_int_equal(F.reported_before_journal, 0);
	assert_int_equal(F.oddities, 0);
	batch_journal_close(j);
	batch_list_release(&l);

	/* resume: the batch's own jobs from its journal, only those not done */
	assert_int_equal(batch_state_load(&st, root, id, &err), 0);
	assert_int_equal(st.done, sum.done);
	assert_int_equal(batch_state_remaining(&st, &rem, &n, &err), 0);
	assert_int_equal(n, 30 - sum.done);
	assert_int_equal(batch_journal_reopen(&j, root, id, &err), 0);
	F.stop_after = 0;
	o.journal = j;
	assert_int_equal(batch_run(&sum, &st.jobs, rem, n, &o, &err), 0);
	assert_int_equal(sum.done, n);
	assert_int_equal(sum.stop, BATCH_STOP_NONE);
	/* no job lost, none done twice */
	for (i = 0; i < 30; i++)
		assert_int_equal(F.done[i], 1);
	free(rem);
	batch_state_release(&st);
	batch_journal_close(j);
	assert_int_equal(batch_state_load(&st, root, id, &err), 0);
	assert_int_equal(st.done, 30);
	batch_state_release(&st);
	batch_targets_free(t);
	remove_root(root);
}

static void test_sigkill_then_resume(void **state)
{
	static const char *const be[] = { "api" };
	struct batch_targets *t = targets_from("{\"api\": {\"type\": \"mock\"}}");
	struct batch_sched_opts o = opts_for(t, 1);
	struct batch_summary sum;
	struct batch_list l;
	struct batch_state st;
	struct batch_journal *j;
	struct err err = ERR_INIT;
	char *root = make_root(), id[BATCH_ID_MAX + 1], runs[512], buf[512];
	int counts[20], status, i, fd;
	size_t *rem, n;
	ssize_t got;
	pid_t pid;

	(void)state;
	jobs_on(&l, 20, be, 1);
	assert_int_equal(batch_journal_create(&j, root, "b.jsonl", NULL, &l, &err), 0);
	snprintf(id, sizeof(id), "%s", batch_journal_id(j));
	snprintf(runs, sizeof(runs), "%s/runs", batch_journal_dir(j));
	o.journal = j;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the batch process: killed without warning as job 7 starts */
		fake_reset(1);
		fake_add("api", OK);
		F.kill_at = 7;
		F.runs_fd = open(runs, O_WRONLY | O_CREAT | O_APPEND, 0600);
		batch_run(&sum, &l, NULL, 0, &o, &err);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	batch_journal_close(j);
	batch_list_release(&l);

	assert_int_equal(batch_state_load(&st, root, id, &err), 0);
	assert_int_equal(st.done, 7);
	assert_int_equal(st.status[7], BATCH_JOB_PENDING);
	assert_int_equal(batch_state_remaining(&st, &rem, &n, &err), 0);
	assert_int_equal(n, 13);
	assert_int_equal(rem[0], 7);
	assert_int_equal(batch_journal_reopen(&j, root, id, &err), 0);
	fake_reset(1);
	fake_add("api", OK);
	F.runs_fd = open(runs, O_WRONLY | O_APPEND);
	o.journal = j;
	assert_int_equal(batch_run(&sum, &st.jobs, rem, n, &o, &err), 0);
	assert_int_equal(sum.done, 13);
	close(F.runs_fd);
	batch_journal_close(j);
	free(rem);
	batch_state_release(&st);

	/* across both processes every job was done exactly once */
	memset(counts, 0, sizeof(counts));
	fd = open(runs, O_RDONLY);
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(got > 0);
	buf[got] = '\0';
	for (char *p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
		counts[atoi(p)]++;
	for (i = 0; i < 20; i++)
		assert_int_equal(counts[i], 1);
	assert_int_equal(batch_state_load(&st, root, id, &err), 0);
	assert_int_equal(st.done, 20);
	batch_state_release(&st);
	batch_targets_free(t);
	remove_root(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits_never_exceeded),
		cmocka_unit_test(test_unknown_backend_refused),
		cmocka_unit_test(test_pool_member_down_and_429),
		cmocka_unit_test(test_retries_exhausted_and_final_errors),
		cmocka_unit_test(test_pick_strategies),
		cmocka_unit_test(test_rest_and_aimd),
		cmocka_unit_test(test_target_down),
		cmocka_unit_test(test_wholly_down_target_fails_fast),
		cmocka_unit_test(test_pool_config),
		cmocka_unit_test(test_budget_stops_scheduling),
		cmocka_unit_test(test_ctrl_c_then_resume),
		cmocka_unit_test(test_sigkill_then_resume),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
