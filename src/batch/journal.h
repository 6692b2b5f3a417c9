/* journal.h - a batch's durable record, so a stopped or killed batch can resume.
 *
 * Each batch has a folder ROOT/ID/ (ROOT = batch_state_root(): $XDG_STATE_HOME/imagen/
 * batches, or ~/.local/state/imagen/batches) holding
 *   batch.json     written once, atomically, before any job runs:
 *                  {"version": 1, "id", "created" (UTC, ms), "source" (the batch file),
 *                   "settings" (the caller's JSON: options the batch was started with),
 *                   "jobs": [batch_job_to_json(), ...]}  (seeds and wildcards resolved)
 *   journal.jsonl  one line per job that ended, appended as one write() and fsync'd
 *                  before batch_journal_append returns (so before the job is reported):
 *                  {"job": INDEX, "status": "done"|"failed"|"cancelled", "time", ...the
 *                   caller's fields, e.g. "backend", "cost", "record", "error"}
 * The last line about a job wins: a job that failed and then succeeded on resume is done.
 * A line is only there once its newline is: a final line without one (the process was
 * killed mid-write) is ignored when reading, and cut off before the next append.
 * IDs are "YYYYMMDD-HHMMSS-mmmXX" (UTC time, milliseconds, two random hex digits), so
 * they sort by creation time.
 */
#ifndef IMAGEN_BATCH_JOURNAL_H
#define IMAGEN_BATCH_JOURNAL_H

#include <jansson.h>
#include <stddef.h>

#include "batch/job.h"
#include "util/env.h"
#include "util/err.h"

#define BATCH_ID_MAX 64

enum batch_job_state { BATCH_JOB_PENDING, BATCH_JOB_DONE, BATCH_JOB_FAILED, BATCH_JOB_CANCELLED };

/** "done", "failed", "cancelled" ("pending" for BATCH_JOB_PENDING). */
const char *batch_job_state_name(enum batch_job_state st);

/** ROOT: $XDG_STATE_HOME/imagen/batches when XDG_STATE_HOME is absolute, else
 *  $HOME/.local/state/imagen/batches.  *out malloc'd; env is env_process() in production. */
int batch_state_root(char **out, const struct env *env, struct err *err);

/** 1 when id can name a batch folder: 1..BATCH_ID_MAX of [A-Za-z0-9._-], not starting with
 *  '.' (so a user-given ID never leaves ROOT). */
int batch_id_valid(const char *id);

/** An open journal: appends are thread-safe. */
struct batch_journal;

/**
 * Start a batch: make ROOT/ID/ (mode 0700, ROOT created as needed), write batch.json
 * (jobs, source and a copy of settings, which may be NULL) atomically and open an empty
 * journal.jsonl.  *out is closed with batch_journal_close.
 */
int batch_journal_create(struct batch_journal **out, const char *root, const char *source,
			 const json_t *settings, const struct batch_list *jobs, struct err *err);

/** Open the journal of batch id for appending (resume), first cutting off a final line
 *  the last run did not finish writing.  Unknown id: code 2. */
int batch_journal_reopen(struct batch_journal **out, const char *root, const char *id,
			 struct err *err);

const char *batch_journal_id(const struct batch_journal *j);
/** The batch's folder (ROOT/ID). */
const char *batch_journal_dir(const struct batch_journal *j);

/**
 * Record that job index ended in state st (not PENDING).  fields (may be NULL) is an
 * object whose members are added to the line (borrowed; "job", "status", "time" are set
 * here).  Returns once the line is written and fsync'd; -1 on a write error (the line may
 * then be torn: readers ignore it).  Safe to call from several threads at once.
 */
int batch_journal_append(struct batch_journal *j, size_t index, enum batch_job_state st,
			 const json_t *fields, struct err *err);

void batch_journal_close(struct batch_journal *j);

/** A batch as read back from its folder. */
struct batch_state {
	char *id, *dir, *source, *created;
	json_t *settings;       /* the settings object (owned), never NULL after loading */
	struct batch_list jobs; /* every job of the batch, by index */
	unsigned char *status;  /* status[i]: enum batch_job_state of jobs.jobs[i] */
	size_t done, failed, cancelled, pending;
	double spent; /* sum of the "cost" fields of every line */
	int torn;     /* 1 when a final unfinished line was ignored */
};

/** Read batch id (batch.json and journal.jsonl).  A malformed line other than a torn last
 *  one is refused, naming the file and line (code 2).  Release with batch_state_release. */
int batch_state_load(struct batch_state *out, const char *root, const char *id, struct err *err);
void batch_state_release(struct batch_state *st);

/** The indexes of the jobs to run again on resume: every job not done (pending, failed
 *  or cancelled), in index order.  *out malloc'd (NULL when *n is 0). */
int batch_state_remaining(const struct batch_state *st, size_t **out, size_t *n, struct err *err);

/** One line of `imagen batch --status`. */
struct batch_info {
	char id[BATCH_ID_MAX + 1];
	char *source, *created;
	size_t total, done, failed, cancelled, pending;
	double spent;
};

/** Every batch under root, oldest first (folders that are not batches are skipped; an
 *  absent root is an empty list).  Free with batch_infos_free. */
int batch_journal_list(struct batch_info **out, size_t *n, const char *root, struct err *err);
void batch_infos_free(struct batch_info *v, size_t n);

/** The newest batch's id (malloc'd); code 2 "no batch to resume in ROOT" when none. */
int batch_journal_latest(char **id_out, const char *root, struct err *err);

/** What every batch's journal lines under root record as spent at or after the UTC time
 *  since ("2025-06-01T00:00:00.000Z" form, compared as text): for per-day budgets. */
int batch_journal_spent_since(double *usd, const char *root, const char *since, struct err *err);

#endif
