/* cancel.h - Ctrl-C: the flag that asks everything to stop (transfers abort, adapters ask
 * their upstream to stop the work, nothing partial is written, exit 130).  The signal
 * handlers that raise it belong to the front end (cli/main.c); the library only reads it. */
#ifndef IMAGEN_CANCEL_H
#define IMAGEN_CANCEL_H

/** Raise the flag; returns whether it was already raised.  Async-signal-safe: a signal
 *  handler calls it. */
int cancel_raise(void);
/** Non-zero once a stop was asked for. Async-signal-safe to read. */
int cancel_requested(void);
/** Sleep up to seconds, returning early (1) when a stop is asked for; 0 otherwise. */
int cancel_sleep(double seconds);
/** For tests: raise or clear the flag as if a signal had come. */
void cancel_set_for_test(int on);

#endif
