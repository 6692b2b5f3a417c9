/* events.c - the few helpers every reporter uses to talk to a sink. */
#include "core/events.h"

#include <stdio.h>

void ev_emit(const struct ev_sink *sink, const struct ev *ev)
{
	if (sink && sink->emit && ev)
		sink->emit(sink, ev);
}

int ev_wants(const struct ev_sink *sink, int level)
{
	return sink && sink->emit && (level <= EV_WARN || sink->verbose >= level);
}

int ev_wants_progress(const struct ev_sink *sink)
{
	return sink && sink->emit && sink->progress;
}

void ev_status(const struct ev_sink *sink, const char *status)
{
	struct ev ev = { .kind = EV_STATUS, .text = status };

	ev_emit(sink, &ev);
}

void ev_steps(const struct ev_sink *sink, long value, long max, const char *what)
{
	struct ev ev = { .kind = EV_STEPS, .value = value, .max = max, .text = what };

	ev_emit(sink, &ev);
}

void ev_logv(const struct ev_sink *sink, int level, const char *source, const char *fmt, va_list ap)
{
	struct ev ev = { .kind = EV_LOG, .level = level, .source = source };
	char line[2048];

	if (!ev_wants(sink, level))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	ev.text = line;
	ev_emit(sink, &ev);
}

void ev_log(const struct ev_sink *sink, int level, const char *source, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ev_logv(sink, level, source, fmt, ap);
	va_end(ap);
}
