/* parse.h - batch files: plain text, JSON Lines and YAML (with a matrix) to jobs.
 *
 * Plain text: one prompt per line; blank lines and lines whose first non-blank character
 * is '#' are skipped; white space around a prompt is trimmed.
 *
 * JSON Lines: one job object per line (blank lines skipped), keys
 *   prompt (required), negative, style, backend, name  strings
 *   seed (0..2^63-1), width, height (1..16384), steps (1..10000), count (1..100)  integers
 *   set  an object of request options (string, integer, real or boolean values)
 * Unknown keys, duplicate keys and values of the wrong type are refused.
 *
 * YAML: a mapping with
 *   defaults:  a job (the keys above, prompt included) filling what each job leaves out
 *   jobs:      a list of jobs (a mapping as above, or a plain string: the prompt)
 *   matrix:    a mapping (or a list of them) whose keys each give a list of values (or
 *              one value); every combination is a job, the first key varying slowest:
 *                prompts, negatives, styles, backends, names  strings
 *                seeds, steps                                  integers
 *                sizes                                         "WIDTHxHEIGHT"
 *                set                                           a mapping KEY: [values]
 * At least one job in all.  Precedence for a field: the job's own value > `defaults:` >
 * the command line (batch_apply_defaults) > config.
 *
 * Every error is refused with code 2 and a message "FILE:LINE:COL: what" (for a value,
 * the position of the value; for an unknown key, of the key), and no jobs are returned.
 */
#ifndef IMAGEN_BATCH_PARSE_H
#define IMAGEN_BATCH_PARSE_H

#include <stddef.h>

#include "batch/job.h"
#include "util/err.h"

enum batch_format { BATCH_FMT_AUTO, BATCH_FMT_TEXT, BATCH_FMT_JSONL, BATCH_FMT_YAML };

#define BATCH_FILE_MAX (16 * 1024 * 1024) /* bytes of a text or JSON Lines batch file */

/** "auto", "text", "jsonl" or "yaml" → the format; -1 for anything else. */
int batch_format_parse(const char *name);
const char *batch_format_name(enum batch_format fmt);

/**
 * The format of a batch file: by path's extension (.txt → text, .jsonl/.ndjson → JSON
 * Lines, .yaml/.yml → YAML), else by content: the first line that is not blank, a '#'
 * comment or "---" decides (a JSON object → JSON Lines; "jobs:", "matrix:" or
 * "defaults:" → YAML; anything else → text).  path may be NULL or "-".
 */
enum batch_format batch_format_detect(const char *path, const char *text, size_t len);

/**
 * Parse text[0..len) in format fmt (BATCH_FMT_AUTO: batch_format_detect(NULL, ...)) into
 * out (which must be empty; on success it owns the jobs and a copy of file, the name used
 * in messages).  On error out is left empty.
 */
int batch_parse(struct batch_list *out, const char *text, size_t len, const char *file,
		enum batch_format fmt, struct err *err);

/** Read path ("-": standard input, called "<stdin>" in messages; at most BATCH_FILE_MAX
 *  bytes) and parse it; fmt BATCH_FMT_AUTO detects from the path and the content. */
int batch_read(struct batch_list *out, const char *path, enum batch_format fmt, struct err *err);

/**
 * Check each job's backend and style against the known names (NULL-terminated lists;
 * a NULL list skips that check): "FILE:LINE:COL: unknown backend 'comfy' (did you mean
 * 'comfyui'?)" with code 2.  Jobs without a backend or style pass.
 */
int batch_check_names(const struct batch_list *list, const char *const *backends,
		      const char *const *styles, struct err *err);

#endif
