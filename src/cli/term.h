/* term.h - the terminal front end of the event sink: the one redrawn progress line on
 * stderr and the "imagen: source: text" message lines.  Only front ends use it. */
#ifndef IMAGEN_TERM_H
#define IMAGEN_TERM_H

#include <pthread.h>
#include <time.h>

#include "cli/ticker.h"
#include "core/events.h"

enum term_line { TERM_LINE_NONE = 0, TERM_LINE_STATUS, TERM_LINE_STEPS };

struct term {
	pthread_mutex_t mu; /* events arrive from several threads (a1111's poller, the ticker) */
	int quiet;          /* -q: no progress line, no EV_WARN lines */
	int verbose;        /* -v level: EV_LOG up to it is shown */
	int enabled;        /* the progress line: stderr is a terminal and not -q */
	int color;          /* enabled and NO_COLOR unset and TERM != dumb */
	int drawn;          /* a line is on screen and must be cleared */
	struct timespec t0; /* when the current job started */
	char label[64];

	/* what the line shows, so the ticker can redraw it with the elapsed time moving */
	enum term_line line;
	char status[128];
	long value, max;
	char what[64];

	struct ticker ticker; /* started with the first job, stopped by term_release */
};

/** Set up from the global options; reads isatty(stderr), NO_COLOR and TERM once. */
void term_init(struct term *t, int quiet, int verbose);
/** Stop the ticker, erase the line, release t. */
void term_release(struct term *t);
/** A sink whose events go to t (job 0); copy it and change job for more. */
struct ev_sink term_sink(struct term *t);
/** Erase the progress line before the front end prints on stderr itself; the line stays
 *  away (the ticker draws nothing) until the next status or step event. */
void term_clear(struct term *t);

#endif
