/* step.h - the catalog as an after-step of the generation core: every image a front end
 * makes gets its row the moment it is on disk. */
#ifndef IMAGEN_CATALOG_STEP_H
#define IMAGEN_CATALOG_STEP_H

#include <pthread.h>

#include "gen/gen.h"
#include "util/env.h"

struct catalog;

/** The step's state, shared by every run (and thread) of one front end. */
struct catalog_step {
	pthread_mutex_t mu;
	const struct env *env; /* where the catalog is (catalog_default_path) */
	struct catalog *cat;   /* opened at the first image */
	int open_failed;       /* said once, not for every image */
};

void catalog_step_init(struct catalog_step *s, const struct env *env);
void catalog_step_release(struct catalog_step *s);

/** The steps a front end runs: gen_steps_default, then the catalog's (after cloud sync,
 *  so the row knows the cloud state), ended by a NULL name.  out has room entries
 *  (CATALOG_STEPS_ROOM is enough); returns how many steps there are. */
#define CATALOG_STEPS_ROOM 8
size_t catalog_steps(struct gen_step *out, size_t room, struct catalog_step *s);

/**
 * The gen_step run function (ctx: a struct catalog_step): a row for the record's image,
 * its sidecar (record.metadata) and cloud state (record.cloud, so a cloud step must come
 * first).  Never fails the image: a failure is one EV_WARN line ("catalog: ... (the
 * image is kept; imagen index repairs the catalog)").  Returns true when the row was
 * written, false when not: the record's "catalog" key.
 */
json_t *catalog_step_run(const struct gen_step *step, const struct gen_request *req,
			 const json_t *record, const struct ev_sink *sink);

/**
 * For struct gen_env's find_input (ctx: a struct catalog_step): the paths of the
 * catalogued images with this content (catalog_paths_by_sha256), a new array; NULL when
 * there is no catalog yet or it cannot be read (--from then says the input is missing).
 */
json_t *catalog_step_find_input(void *ctx, const char *sha256);

#endif
