/* progress.h - the one-line progress display on stderr (terminals only). */
#ifndef IMAGEN_PROGRESS_H
#define IMAGEN_PROGRESS_H

#include <time.h>

struct progress {
	int enabled; /* stderr is a terminal and not -q */
	int color;   /* enabled and NO_COLOR unset and TERM != dumb */
	int drawn;   /* a line is on screen and must be cleared */
	struct timespec t0;
	char label[64];
};

/** Set up for one generation; enabled only when stderr is a tty and !quiet. */
void progress_init(struct progress *p, const char *label, int quiet);
/** Step display "label  [#####-----] 12/20  3.4s" (what may be NULL or a node name).
 *  p may be NULL (then nothing happens), as for every function here. */
void progress_steps(struct progress *p, long value, long max, const char *what);
/** Status display "label  starting  3.4s" for upstreams without steps. */
void progress_status(struct progress *p, const char *status);
/** Erase the line (before printing anything else on stderr, and at the end). */
void progress_clear(struct progress *p);

#endif
