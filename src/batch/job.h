/* job.h - the jobs of a batch: one generation request each, as read from a batch file,
 * then completed (defaults, seeds, counts, wildcards) into what the scheduler runs.
 *
 * The life of a batch, each step a pure function over a struct batch_list:
 *   batch_parse()             file text → jobs as written (parse.h)
 *   batch_apply_defaults()    fields a job leaves out come from the command line
 *   batch_assign_seeds()      a job without a seed gets one derived from a base seed
 *   batch_split_counts()      count N on an unbatched backend → N jobs of seed, seed+1, …
 *   batch_resolve_wildcards() {a|b} and __name__ picked from each job's seed, or every
 *                             combination (wildcard.h)
 * batch_prepare() runs the four completion steps in that order.  The result is written
 * to the journal (journal.h) before any job runs, so a resumed batch runs exactly the
 * same requests.
 */
#ifndef IMAGEN_BATCH_JOB_H
#define IMAGEN_BATCH_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct wildcards;

/* Limits shared by every format (the same as `imagen generate`'s options). */
#define BATCH_SEED_MAX INT64_MAX
#define BATCH_DIM_MAX 16384
#define BATCH_STEPS_MAX 10000
#define BATCH_COUNT_MAX 100
#define BATCH_PROMPT_MAX (64 * 1024) /* bytes of one prompt */
#define BATCH_NAME_MAX 200           /* bytes of a job name */
#define BATCH_MAX_JOBS 100000        /* jobs in one batch, after every expansion */

/** One generation request.  Strings and set are owned by the job; NULL / 0 means "not
 *  given here" (a default applies). */
struct batch_job {
	size_t index;   /* position in the batch, from 0: the journal's key */
	int line, col;  /* where the job stands in its file (1-based), for messages */
	char *name;     /* "name": a label for the file-name template; NULL */
	char *prompt;   /* the prompt as written (may hold wildcards); never NULL */
	char *resolved; /* the prompt with its wildcards resolved; NULL when it has none */
	char *negative;
	char *style;
	char *backend;
	int64_t seed; /* meaningful when has_seed */
	int has_seed;
	int width, height, steps, count;
	json_t *set;    /* --set style request options (owned object); NULL when none */
	json_t *inputs; /* image inputs (owned object; NULL when none): "image" (an array of
			 * absolute paths), "mask" (an absolute path), "strength" (0..1),
			 * "mask_invert" (boolean), each key only when given */
};

/** A growable array of jobs and the name of the file they came from. */
struct batch_list {
	struct batch_job *jobs;
	size_t n, cap;
	char *file; /* what messages call the source: a path or "<stdin>" (owned) */
};

#define BATCH_LIST_INIT                                                                            \
	{                                                                                          \
		NULL, 0, 0, NULL                                                                   \
	}

/** The prompt to send: resolved when the job has wildcards, else prompt (borrowed). */
const char *batch_job_prompt(const struct batch_job *job);

/** Free what a job owns and zero it. */
void batch_job_release(struct batch_job *job);
/** Deep copy of src into *dst (dst's old contents are not freed). */
int batch_job_copy(struct batch_job *dst, const struct batch_job *src);

/** Append a job, taking ownership of its contents (job is zeroed); index is set to the
 *  new position.  Refuses more than BATCH_MAX_JOBS (code 2). */
int batch_list_push(struct batch_list *list, struct batch_job *job, struct err *err);
/** Free every job and the file name; the list is empty afterwards. */
void batch_list_release(struct batch_list *list);
/** Renumber index = position (after steps that insert jobs). */
void batch_list_renumber(struct batch_list *list);

/** Fill what j leaves out from d (every field but prompt and resolved; set and inputs
 *  keys merged, j's own winning).  Returns 0, or -1 when memory is short. */
int batch_job_fill(struct batch_job *j, const struct batch_job *d);

/**
 * Fill what each job leaves out from defaults (the command line): name, negative,
 * style, backend, seed, width, height, steps, count; set keys are merged, the job's own
 * keys winning.  defaults->prompt is ignored.  Precedence for a field therefore reads
 * job > file `defaults:` (already applied by the parser) > command line > config.
 */
int batch_apply_defaults(struct batch_list *list, const struct batch_job *defaults,
			 struct err *err);

/**
 * Give every job without a seed the seed splitmix64(base + index) >> 32 (32 bits, the
 * range every upstream accepts, like `generate`'s random seed).  Pure: the same base
 * gives the same seeds; the caller picks base at random once per batch.
 */
void batch_assign_seeds(struct batch_list *list, uint64_t base);

/** Most images one call to backend can return (backend_ops.max_batch); NULL backend
 *  means the default one.  Returning 1 asks for one job per image. */
typedef int (*batch_max_batch_fn)(void *ctx, const char *backend);

/**
 * A job with count N > 1 whose backend returns one image per call (max_batch(ctx,
 * backend) == 1, or max_batch NULL) becomes N jobs with count 1 and seeds seed, seed+1,
 * … (the same rule as `generate --count`), so the scheduler can run them at once and
 * each image's wildcards follow its own seed.  Seeds must be assigned first (a job
 * without one is left whole).  Renumbers the list.
 */
int batch_split_counts(struct batch_list *list, batch_max_batch_fn max_batch, void *ctx,
		       struct err *err);

/**
 * Resolve each job's wildcards (wildcard.h).  Sampled: job->resolved is picked from the
 * job's seed (jobs without a seed are refused: assign seeds first).  combinatorial:
 * a job is replaced by one job per combination, all with the job's seed, at most
 * max_jobs in all (BATCH_MAX_JOBS when 0).  Errors name "FILE:LINE:COL: " of the job.
 * w may be NULL when no job uses __name__ wildcards.  Renumbers the list.
 */
int batch_resolve_wildcards(struct batch_list *list, struct wildcards *w, int combinatorial,
			    size_t max_jobs, struct err *err);

/** The completion steps in order: defaults (may be NULL), seeds, counts, wildcards. */
int batch_prepare(struct batch_list *list, const struct batch_job *defaults, uint64_t seed_base,
		  batch_max_batch_fn max_batch, void *ctx, struct wildcards *w, int combinatorial,
		  struct err *err);

/**
 * A job as a JSON object (new reference): index, line, col, prompt, and each field that
 * is set (resolved, name, negative, style, backend, seed, width, height, steps, count,
 * set).  What the journal stores and `--dry-run` prints.
 */
json_t *batch_job_to_json(const struct batch_job *job);
/** The inverse of batch_job_to_json; refuses a malformed object (the journal was
 *  edited or damaged), naming the field. */
int batch_job_from_json(struct batch_job *out, const json_t *obj, struct err *err);

/** 64-bit mixing function (Steele et al., SplitMix64), the one hash of this library. */
uint64_t batch_mix64(uint64_t x);

#endif
