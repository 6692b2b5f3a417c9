/* ticker.c - the redraw thread of a terminal display (see ticker.h). */
#include "cli/ticker.h"

#include <signal.h>
#include <time.h>

void ticker_init(struct ticker *k, pthread_mutex_t *mu, void (*draw)(void *ctx), void *ctx)
{
	pthread_condattr_t ca;

	k->mu = mu;
	k->draw = draw;
	k->ctx = ctx;
	k->running = k->stopping = 0;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->wake, &ca);
	pthread_condattr_destroy(&ca);
}

static void *ticker_main(void *arg)
{
	struct ticker *k = arg;
	struct timespec when;

	pthread_mutex_lock(k->mu);
	while (!k->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &when);
		when.tv_nsec += TICKER_PERIOD_NS;
		if (when.tv_nsec >= 1000000000L) {
			when.tv_sec++;
			when.tv_nsec -= 1000000000L;
		}
		while (!k->stopping && pthread_cond_timedwait(&k->wake, k->mu, &when) == 0)
			; /* woken early: only a stop does that */
		if (!k->stopping)
			k->draw(k->ctx);
	}
	pthread_mutex_unlock(k->mu);
	return NULL;
}

void ticker_start_locked(struct ticker *k)
{
	sigset_t all, old;

	if (k->running || k->stopping)
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	k->running = pthread_create(&k->thread, NULL, ticker_main, k) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void ticker_stop(struct ticker *k)
{
	pthread_mutex_lock(k->mu);
	k->stopping = 1;
	pthread_cond_signal(&k->wake);
	pthread_mutex_unlock(k->mu);
	if (k->running)
		pthread_join(k->thread, NULL);
	k->running = 0;
}

void ticker_release(struct ticker *k)
{
	ticker_stop(k);
	pthread_cond_destroy(&k->wake);
}
