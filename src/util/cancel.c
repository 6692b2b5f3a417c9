/* cancel.c - the stop flag a Ctrl-C raises, and a sleep that notices it. */
#include "util/cancel.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

static volatile sig_atomic_t stop_asked;

int cancel_raise(void)
{
	int was = stop_asked != 0;

	stop_asked = 1;
	return was;
}

int cancel_requested(void)
{
	return stop_asked != 0;
}

void cancel_set_for_test(int on)
{
	stop_asked = on ? 1 : 0;
}

int cancel_sleep(double seconds)
{
	struct timespec now, end, slice;

	if (stop_asked)
		return 1;
	if (seconds <= 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)seconds;
	end.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		long long left_ns;

		if (stop_asked)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left_ns = (long long)(end.tv_sec - now.tv_sec) * 1000000000LL +
			  (end.tv_nsec - now.tv_nsec);
		if (left_ns <= 0)
			return 0;
		/* short slices: a signal that lands between the check and the sleep is still
		 * seen within 50 ms */
		if (left_ns > 50000000LL)
			left_ns = 50000000LL;
		slice.tv_sec = 0;
		slice.tv_nsec = (long)left_ns;
		if (nanosleep(&slice, NULL) < 0 && errno != EINTR)
			return 0;
	}
}
