/* batchview.h - what `imagen batch` (and `generate --count`) shows on stderr while many
 * jobs run at once.
 *
 * On a terminal: one display redrawn in place, about four times a second: a bar for the
 * batch (done/total, failed, images per minute, ETA, cost so far) and one line per job
 * running (its number, backend, status or steps, elapsed time).  Message lines (a failed
 * job, warnings, -v detail) scroll above it.  When stderr is not a terminal: plain lines,
 * one per job that ends.  With -q: nothing but errors. */
#ifndef IMAGEN_BATCHVIEW_H
#define IMAGEN_BATCHVIEW_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "cli/ticker.h"
#include "core/events.h"

struct bv_slot {
	int job;            /* the job's index */
	char label[64];     /* "mock", "comfy 2/3": from EV_JOB_START */
	char status[96];    /* the upstream's status; "" before the first */
	long value, max;    /* steps, when max > 0 */
	struct timespec t0; /* when the job started */
};

struct batchview {
	pthread_mutex_t mu;
	int quiet, verbose;
	int tty;   /* the redrawn display: stderr is a terminal and not -q */
	int color; /* tty, NO_COLOR unset, TERM not dumb */
	int plain; /* a line per job that ends when not on a terminal (1 after init) */
	const char *title;
	size_t total, done, failed, images;
	double spent;    /* USD so far */
	double max_cost; /* > 0: shown as "$spent/$max" */
	struct timespec t0;
	struct bv_slot *slots; /* jobs running now */
	size_t nslots, cap;
	int drawn; /* lines of the display on screen */

	struct ticker ticker; /* redraws the display on a terminal */
};

/** Set up: reads isatty(stderr), NO_COLOR and TERM once.  total: jobs to run. */
void batchview_init(struct batchview *v, const char *title, size_t total, double max_cost,
		    int quiet, int verbose);
/** Stop the ticker, erase the display, release v. */
void batchview_release(struct batchview *v);
/** The sink drawing events of job sink->job (copy it per job: the scheduler does). */
struct ev_sink batchview_sink(struct batchview *v);

/** A job ended: counted, and a plain line when stderr is not a terminal (a failure is a
 *  message line everywhere, even with -q).  error NULL: done. */
void batchview_job_end(struct batchview *v, size_t job, const char *instance, int images,
		       double cost, const char *error);
/** One message line ("imagen: " + text) above the display. */
void batchview_say(struct batchview *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
