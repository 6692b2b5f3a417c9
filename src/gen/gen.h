/* gen.h - the generation core: one request builder with one precedence rule, and one run
 * that generates, checks, writes and records images without a terminal around it.
 *
 * Front ends (imagen generate today; batches, a server and workers next) build a request
 * from their sources, open a backend handle, and call gen_run with their event sink.  The
 * core never prints, never exits and reads no global state but the cancellation flag:
 * the environment reaches it through struct gen_env.  gen_run may run on several threads
 * at once, each with its own request, backend handle and outcome.
 */
#ifndef IMAGEN_GEN_H
#define IMAGEN_GEN_H

#include <jansson.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/config.h"
#include "core/events.h"
#include "core/inputs.h"
#include "core/meta.h"
#include "util/env.h"
#include "util/err.h"

#define GEN_SEED_MAX INT64_MAX
#define GEN_COUNT_MAX 100

/**
 * One source of wishes for a generation: the command-line flags, a batch job's own
 * values, or a --from record.  Everything is borrowed.  Not given: NULL strings, 0
 * numbers, has_seed 0, cloud/preview -1 (gen_args_init sets that).
 */
struct gen_args {
	const char *what; /* how messages name this source ("--from", "job 3"); NULL: flags */
	const char *prompt;
	const char *final_prompt;    /* the exact text a recorded generation sent: replayed when
				      * this source also gives the prompt and the style that win */
	const char *prompt_template; /* the prompt as written, before its wildcards were
				      * resolved into prompt: recorded in the sidecar when
				      * this source gives the prompt; NULL when none */
	const char *negative;        /* "" = explicitly none */
	const char *style;
	const char *backend; /* instance name */
	const char *output_dir;
	const char *name; /* naming template */
	int width, height, steps, count;
	int64_t seed;
	int has_seed;
	const json_t *options; /* --set pairs (object) */
	int cloud, preview;    /* enum mode */
	/* image inputs: the images come from the first source that names any, the mask
	 * (with mask_invert) from the first that names one */
	const struct gen_input_ref *images;
	size_t nimages;
	const struct gen_input_ref *mask; /* NULL when none */
	int mask_invert;                  /* -1 not given, 0, 1 */
	double strength;                  /* 0..1, when has_strength */
	int has_strength;
	/* the batch this generation belongs to: recorded in the sidecar as "batch_id" and
	 * "job" (the journal's job index), taken from the first source that names a
	 * batch_id; NULL: not a batch's (generate writes neither key) */
	const char *batch_id;
	int job; /* -1 not given */
};

/** Every field "not given". */
void gen_args_init(struct gen_args *a);

/** The source a --from record gives (borrowing from r): its texts, size, steps, seed,
 *  backend and options; a record that names no style gives "none" (a recorded prompt is
 *  already whole: the default style's suffix is not appended to it). */
void gen_args_from_repro(struct gen_args *out, const struct repro *r);

/**
 * Add one "KEY=VALUE" request option to the object opts, typed the way YAML would type
 * it (integers and true/false; anything else a string).  Refused (-1, code 2): no '=',
 * an empty or over-long key, a key with characters other than letters, digits, '_',
 * '-', '.', a value that is not valid UTF-8.
 */
int gen_option_set(json_t *opts, const char *arg, struct err *err);

/** What the builder may ask of the outside world (tests substitute both). */
struct gen_env {
	const struct env *vars; /* environment variables (util/env.h); required */
	/* a random 32-bit seed; NULL: getrandom(2) */
	int (*random)(void *ctx, uint32_t *out);
	void *random_ctx;
	/* where else an input a --from record names may be, by its sha256: paths of files
	 * that may hold that content (a new JSON array of strings, each checked by its hash
	 * before use; NULL: none), asked after the recorded path and the output directory.
	 * The front end passes the catalog's lookup; NULL: no such place. */
	json_t *(*find_input)(void *ctx, const char *sha256);
	void *find_input_ctx;
};

/** One fully resolved generation (owned; release with gen_request_release). */
struct gen_request {
	const struct config *cfg;     /* borrowed: must outlive the request */
	const struct cfg_backend *cb; /* borrowed from cfg */
	struct settings st;           /* backend, output dir, cloud sync, preview and where
				       * each came from; its strings point into cfg or here */
	char *prompt;                 /* as typed (wildcards resolved) */
	char *prompt_template;        /* with its wildcards, when it had any; NULL */
	char *final_prompt;           /* what the backend receives (style applied) */
	char *negative;               /* NULL when none */
	char *style;                  /* "none" when none */
	int width, height, steps;     /* 0 = the adapter's default */
	int count;                    /* images wanted, >= 1 */
	int run_total;                /* images the whole run wants when this request is one
				       * of several (generate --count on the engine: one
				       * request per image); 0 = count.  Adapters see it as
				       * imagen_request.total (a ComfyUI graph without a seed
				       * refuses a run of more than one) */
	int64_t seed;                 /* always set */
	char seed_from[24];           /* "flag", "--from", "job 3" or "random" */
	json_t *options;              /* merged request options (object, never NULL) */
	char *name;                   /* naming template, checked */
	char *output_dir;             /* absolute, ~ expanded */
	char *rescue_dir;             /* where an image goes when output_dir refuses it;
				       * NULL: only /tmp is tried */
	int write_sidecar;            /* output.write_metadata_json */
	const struct env *env;        /* borrowed from the builder's gen_env: the after-steps
				       * read the cloud key and the outbox path through it */
	struct gen_input *inputs;     /* the images, read and checked (ninputs 0: none) */
	size_t ninputs;
	struct gen_input *mask;  /* NULL when none */
	unsigned char *mask_map; /* mask_repaint_map of the mask, --mask-invert applied */
	int mask_invert;
	double strength; /* set when there are inputs (GEN_STRENGTH_DEFAULT unless given) */
	int first_index; /* the records' "index" of the first image (0; a front
			  * end running one image per request numbers them) */
	char *batch_id;  /* the batch's id (sidecar "batch_id"); NULL: none */
	int job;         /* the job's index in the batch (sidecar "job"), -1 */
};

/**
 * Build one request.  Each value comes from the first source that gives it, in the one
 * order: flags > job > from > configuration (settings_resolve: environment, then the
 * file) > built-in default; --set options merge in that order (a higher source's key
 * wins).  flags, job and from may be NULL.  Refused before anything is spent (-1, code
 * 2, message naming the field): no prompt or a whitespace-only one; a text that goes
 * into the metadata (prompt, final prompt, negative prompt, style, backend) that is not
 * valid UTF-8, naming the byte; an unknown backend or style (with "did you mean");
 * a naming template that is invalid or whose extension is not an image's (.png, .jpg,
 * .jpeg, .webp or .{ext}); a bad environment value; an input image or mask that
 * gen_input_load refuses, a mask without an image or of another size than the first
 * image, a strength outside 0..1 or one with no image.  Reads the environment only
 * through env; the file system only for the current directory (a relative output
 * directory) and the inputs: an input a --from record names is taken from its path
 * when the file there still has the recorded sha256, else searched for by that hash
 * in the output directory, else among env->find_input's paths (the catalog), else
 * refused naming the missing input.
 */
int gen_request_build(struct gen_request *out, const struct config *cfg,
		      const struct gen_args *flags, const struct gen_args *job,
		      const struct gen_args *from, const struct gen_env *env, struct err *err);
void gen_request_release(struct gen_request *r);

/** The -v lines that say where each setting came from (EV_VERBOSE into sink). */
void gen_request_log(const struct gen_request *r, const struct ev_sink *sink);

/**
 * An after-step: what happens to each image once it is safely where it was asked to go
 * (file, sidecar and PNG chunks written).  run returns a JSON value for the image's
 * record under the key `name` (new reference), or NULL for null; it reports through
 * sink and never changes the outcome.  record is the image's record so far (borrowed);
 * its "image" is the absolute path.
 */
struct gen_step {
	const char *name;
	json_t *(*run)(const struct gen_step *step, const struct gen_request *req,
		       const json_t *record, const struct ev_sink *sink);
	void *ctx;
};

/** The steps every front end runs, ended by an entry with name NULL: cloud sync
 *  (cloud_after_generate: a no-op when sync is off). */
extern const struct gen_step gen_steps_default[];

/**
 * What a run did.  records holds one record per image kept on disk, in order, and one
 * record per failure that lost an image or ended the run (its "image" is null).  Every
 * record has one shape (see gen_record_failure): "error" (null or the one-line message)
 * and "exit_code" (0 or the status that failure asks for).
 */
struct gen_outcome {
	int code;        /* the run's exit status: 0, 1, 2, 130 or the adapter's code */
	int written;     /* images on disk (where asked or rescued) */
	json_t *records; /* array (owned) */
	struct err err;  /* the backend's own error when a call failed (its message as the
			  * adapter gave it), for a front end deciding whether to retry */
};

/**
 * Generate req->count images on be (opened by the caller for req->cb; one run per
 * handle at a time): batches of at most be->ops->max_batch per call; an unbatched
 * adapter gets seeds seed, seed+1, ... per call.  Each image that arrives is checked
 * (its bytes are the format its MIME type says), written with its sidecar and PNG
 * metadata atomically before the next call (a later failure or Ctrl-C loses nothing),
 * rescued to req->rescue_dir or /tmp when the output directory refuses it, handed to
 * steps (NULL: gen_steps_default) when it is where asked, and reported as EV_IMAGE with
 * its record.  What goes wrong after an image is kept is an EV_LOG line at EV_ERROR.
 * The output directory is checked first (code 2 before anything is generated).
 * Returns 0 when out->code is 0, else -1; out is filled either way (release it).
 */
int gen_run(struct gen_outcome *out, const struct gen_request *req, struct backend *be,
	    const struct gen_step *steps, const struct ev_sink *sink);
void gen_outcome_release(struct gen_outcome *o);

/** The record of a failure (new reference): every key of an image's record, null where
 *  nothing is known, with "error" and "exit_code" set, and a null key for each of steps
 *  (NULL: gen_steps_default), so a failure reported outside gen_run has the shape of the
 *  run's records.  req may be NULL (the request could not be built); index or seed < 0
 *  gives null. */
json_t *gen_record_failure(const struct gen_request *req, const struct gen_step *steps, int index,
			   int64_t seed, const char *error, int code);

#endif
