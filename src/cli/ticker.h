/* ticker.h - a thread that redraws a terminal display every so often, so elapsed times
 * and ETAs keep moving while nothing else happens.  The terminal line (term.c) and the
 * batch display (batchview.c) each own one. */
#ifndef IMAGEN_TICKER_H
#define IMAGEN_TICKER_H

#include <pthread.h>

#define TICKER_PERIOD_NS 250000000L /* four redraws a second */

struct ticker {
	pthread_mutex_t *mu;     /* the display's lock: held while draw runs */
	void (*draw)(void *ctx); /* redraw the display (mu held) */
	void *ctx;
	pthread_t thread;
	pthread_cond_t wake; /* CLOCK_MONOTONIC; signalled to stop */
	int running, stopping;
};

/** Set up (no thread yet): draw(ctx) runs every TICKER_PERIOD_NS with *mu held. */
void ticker_init(struct ticker *k, pthread_mutex_t *mu, void (*draw)(void *ctx), void *ctx);
/** Start the thread if it is not running and was not stopped (call with *mu held).  It
 *  blocks every signal: Ctrl-C stays with the threads that look at the stop flag. */
void ticker_start_locked(struct ticker *k);
/** Stop and join the thread (call without *mu held); nothing is drawn after it. */
void ticker_stop(struct ticker *k);
/** ticker_stop, then release what ticker_init made. */
void ticker_release(struct ticker *k);

#endif
