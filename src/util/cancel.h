/* cancel.h - Ctrl-C: the first SIGINT/SIGTERM asks everything to stop (transfers abort,
 * adapters ask their upstream to stop the work, nothing partial is written, exit 130);
 * a second one exits at once. */
#ifndef IMAGEN_CANCEL_H
#define IMAGEN_CANCEL_H

/** Install the SIGINT/SIGTERM handlers (main, once). */
void cancel_install(void);
/** Non-zero once a stop was asked for. Async-signal-safe to read. */
int cancel_requested(void);
/** Sleep up to seconds, returning early (1) when a stop is asked for; 0 otherwise. */
int cancel_sleep(double seconds);
/** For tests: raise or clear the flag as if a signal had come. */
void cancel_set_for_test(int on);

#endif
