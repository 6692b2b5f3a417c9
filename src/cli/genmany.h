/* genmany.h - `imagen generate` through the batch engine: --count N on an upstream that
 * makes one image per request (N requests in flight up to the instance's concurrency),
 * a prompt with wildcards (each image's pick follows its seed; --combinatorial makes
 * every combination), and -b POOL (the pool's strategy picks the member; a member that
 * turns the request away hands it to the next). */
#ifndef IMAGEN_GENMANY_H
#define IMAGEN_GENMANY_H

#include "core/config.h"
#include "core/events.h"
#include "gen/gen.h"

struct genmany {
	const struct config *cfg;
	const struct gen_request *req; /* built from the flags and --from: gives the seed, the
					* count, the backend (instance or pool) and the prompt */
	const struct gen_args *flags;  /* the command line */
	const struct gen_args *from;   /* --from, or NULL */
	int combinatorial;
	int json, quiet, verbose;
	const struct ev_sink *images; /* receives EV_IMAGE (from several threads at once) */
	const struct gen_step *steps; /* the after-steps of every image (NULL: the default) */
};

/** Whether generate needs the engine: a pool, wildcards in the prompt the flags give (or
 *  --combinatorial), or several images from an upstream that makes one per request. */
int genmany_needed(const struct gen_request *req, const struct gen_args *flags, int combinatorial);

/** Run it; failures are printed on stderr (and as records with --json).  Returns the
 *  exit status: 0, 1 (or the failure's own status), 2 before anything ran, 130. */
int genmany_run(const struct genmany *g);

#endif
