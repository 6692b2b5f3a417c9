/* estimate.h - what a job will cost before it is sent, from the adapters' price tables.
 *
 * A budget reserves each job's estimate before the job goes out, so the estimate never
 * guesses low: where the price depends on something the upstream decides (OpenAI's
 * `quality: auto`, an unstated size), the dearest matching entry counts.  Unknown means
 * unknown: the caller decides (a budget refuses to start without --allow-unknown-cost).
 *   mock, comfyui, a1111   0 (local: nothing is billed)
 *   openai                 the per-image price of the model (config `prices`, else the
 *                          built-in table) at the quality and size the request asks for
 *   replicate              the `per_image` price in config `prices` for the model
 *                          (per-second prices and the adapter's own table: unknown)
 *   anything else          unknown
 */
#ifndef IMAGEN_BATCH_ESTIMATE_H
#define IMAGEN_BATCH_ESTIMATE_H

#include <stddef.h>

#include "batch/job.h"
#include "core/config.h"

/**
 * Estimated cost in USD of job (its count, size and `set` options) on instance cb:
 * 0 with *usd set, or -1 with why[0..size) saying what is unknown.  Pure: no I/O, no
 * locks (the scheduler calls it under its own).
 */
int batch_estimate(const struct cfg_backend *cb, const struct batch_job *job, double *usd,
		   char *why, size_t size);

#endif
