/* pool.h - where a batch's jobs can run: backend instances, each with an in-flight limit,
 * and pools that spread jobs over several instances.
 *
 * Config (each instance's slice of backends.NAME, as JSON):
 *   any adapter type   concurrency: N   jobs in flight at once on this instance (1..64);
 *                      default batch_default_concurrency(type).  Other keys are the
 *                      adapter's and are not looked at here.
 *   type: pool         members: [a, b]  or  [{name: a, weight: 2}, b]   (weight 1..100,
 *                               default 1; members are instances, not pools, each once)
 *                      strategy: least-busy (default) | round-robin | ordered
 *                      (no other keys)
 * Strategies, among the members that are not resting and have room:
 *   least-busy   the fewest jobs in flight per unit of weight (ties: the first listed)
 *   round-robin  smooth weighted round robin (nginx's): over 2+1 weights a, a, b, ...
 *   ordered      the first member that is not resting, or wait for it when it is busy:
 *                the others are fallbacks for when it is down
 * Health: a member whose job ended with a retryable error (connection refused, 5xx, 429)
 * rests: base * 2^(failures-1) seconds, at least the upstream's Retry-After, at most max.
 * A 429 also halves the member's current limit (at least 1); each success grows it back
 * by one up to the configured limit (AIMD).  A success ends the rest at once.
 *
 * The runtime state (in flight, rests, limits) lives in the set and is changed only by
 * the scheduler under its lock: one set serves one batch_run at a time.
 */
#ifndef IMAGEN_BATCH_POOL_H
#define IMAGEN_BATCH_POOL_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define BATCH_CONCURRENCY_MAX 64
#define BATCH_WEIGHT_MAX 100

enum pool_strategy { POOL_LEAST_BUSY, POOL_ROUND_ROBIN, POOL_ORDERED };

/** How an attempt ended, for the member's health. */
enum batch_result {
	BATCH_DONE,         /* images written */
	BATCH_FAILED,       /* a final error (bad request, refused content): not retried */
	BATCH_RETRY,        /* the upstream did not take the work (connection refused, 5xx
			     * before anything was accepted): another member may try */
	BATCH_RATE_LIMITED, /* 429: as BATCH_RETRY, and the member's limit is halved */
	BATCH_CANCELLED,    /* stopped by Ctrl-C */
};

/** In-flight limit of an instance of adapter type when its config has no concurrency:
 *  comfyui and a1111 2 (one GPU job running, the next queued, so it never idles),
 *  openai and replicate 4 (hosted APIs take parallel requests), mock 1 (the built-in
 *  stand-in makes its images one after another, in order, unless told otherwise), any
 *  other 2. */
int batch_default_concurrency(const char *type);

struct batch_targets;

int batch_targets_new(struct batch_targets **out, struct err *err);
void batch_targets_free(struct batch_targets *t);

/**
 * Add instance name from its config slice (an object with "type").  A pool's members
 * are resolved by batch_targets_finish.  Errors set err->key to the offending key
 * relative to the slice ("members.1.weight", "strategy", "concurrency") so the caller
 * can point at FILE:LINE:COL; code 2.
 */
int batch_targets_add(struct batch_targets *t, const char *name, const json_t *slice,
		      struct err *err);

/** Resolve pool members (known, not pools, not twice).  Call once after every add.
 *  Errors (code 2) set err->key to the member's path under backends:
 *  ("farm.members.1"). */
int batch_targets_finish(struct batch_targets *t, struct err *err);

/** The target (instance or pool) called name, or -1. */
int batch_targets_find(const struct batch_targets *t, const char *name);
/** How many targets there are; their names. */
size_t batch_targets_count(const struct batch_targets *t);
const char *batch_targets_name(const struct batch_targets *t, int target);
/** The instances a target may send to (itself, or a pool's members): *n of them into
 *  out[0..max).  Instance indexes, for batch_targets_inst_name. */
size_t batch_targets_members(const struct batch_targets *t, int target, int *out, size_t max);
const char *batch_targets_inst_name(const struct batch_targets *t, int inst);

/* ---- runtime (the scheduler, under its lock) ---- */

/**
 * The instance a job for target should go to at time now (seconds, any monotonic clock),
 * or -1 when none can take it now; then *wake is the earliest time a resting member is
 * back (0 when the wait is for room, not for a rest).  Round-robin state advances.
 */
int batch_targets_pick(struct batch_targets *t, int target, double now, double *wake);
/** Rests: the first lasts base seconds, each further failure in a row doubles it, up to
 *  max (default 1 and 60). */
void batch_targets_backoff(struct batch_targets *t, double base, double max);
/** A job was sent to inst. */
void batch_targets_begin(struct batch_targets *t, int inst);
/** The job on inst ended with result; retry_after is the upstream's wish in seconds (0
 *  none), why the error (kept as the member's last error).  Applies rests and AIMD;
 *  returns the rest given (0 when none). */
double batch_targets_end(struct batch_targets *t, int inst, enum batch_result result,
			 double retry_after, const char *why, double now);
/**
 * 1 when every instance target may use has failed at least min_fails times in a row and
 * for at least min_secs (a pool wholly down, not a blip): the scheduler then fails the
 * target's waiting jobs at once instead of letting each wait out its rests.  Members
 * with a job in flight are not down.  why gets the last error of the member resting
 * longest.
 */
int batch_targets_down(const struct batch_targets *t, int target, int min_fails, double min_secs,
		       double now, char *why, size_t size);

struct batch_inst_stats {
	int limit;     /* configured */
	int cur_limit; /* now (AIMD) */
	int in_flight, max_in_flight;
	unsigned long done, retried, rate_limited;
	int fails; /* retryable failures in a row */
	double rest_until;
};

/** Counters of instance name; -1 when there is no such instance. */
int batch_targets_stats(const struct batch_targets *t, const char *name,
			struct batch_inst_stats *out);

#endif
