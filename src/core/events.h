/* events.h - how the library reports: events into a sink the front end supplies.
 *
 * The generation core, the adapters, the HTTP layer and cloud sync never print.
 * They describe what happens (a status, a step, a log line, an image written) as a
 * struct ev handed to ev_sink.emit; the front end decides what it becomes: the
 * terminal's progress line and messages (cli/term.c), JSON lines, or nothing.
 *
 * Thread safety: emit may be called from several threads at once (one generation per
 * thread, each with its own sink value carrying its job number); a sink whose emit
 * touches shared state locks it itself.  Everything an event points to is borrowed
 * for the duration of the call only.
 */
#ifndef IMAGEN_EVENTS_H
#define IMAGEN_EVENTS_H

#include <jansson.h>
#include <stdarg.h>

enum ev_kind {
	EV_JOB_START, /* a generation begins: text = label ("mock", "comfy 2/3") */
	EV_STATUS,    /* what the upstream is doing: text ("queued", "generating") */
	EV_STEPS,     /* sampling progress: value of max, text = node/what or NULL */
	EV_LOG,       /* a message line: level, source, text (no "imagen: " prefix) */
	EV_IMAGE,     /* an image is on disk: path, record (the --json record) */
	EV_JOB_END,   /* the generation is over (success or not); clears its display */
};

enum ev_level {
	EV_ERROR = -1,  /* shown even with -q: "output: ...; the image was saved to ... instead" */
	EV_WARN = 0,    /* shown unless -q: "cloud sync: HTTP 401 ...; still queued" */
	EV_VERBOSE = 1, /* -v: request lines, retries, timings */
	EV_DEBUG = 2,   /* -vv */
};

struct ev {
	enum ev_kind kind;
	int level;            /* EV_LOG: enum ev_level */
	const char *source;   /* who speaks: an instance name, "http", "cloud sync"; may be NULL */
	const char *text;     /* see enum ev_kind; may be NULL */
	long value, max;      /* EV_STEPS */
	const char *path;     /* EV_IMAGE */
	const json_t *record; /* EV_IMAGE: the image's record (borrowed) */
};

struct ev_sink;
typedef void (*ev_emit_fn)(const struct ev_sink *sink, const struct ev *ev);

/** A sink is a small value: copy it and set job/label for each generation. */
struct ev_sink {
	ev_emit_fn emit; /* NULL: events are dropped */
	void *ctx;       /* the front end's state */
	int job;         /* which generation of the run these events belong to */
	int verbose;     /* the -v level the front end shows (EV_LOG above it is not built) */
	int progress;    /* the front end draws status and steps (a terminal): an adapter may
			  * poll its upstream for them; 0 = nobody looks, don't bother */
};

/** Hand one event to the sink; sink or sink->emit may be NULL (nothing happens). */
void ev_emit(const struct ev_sink *sink, const struct ev *ev);
/** Whether a log line at level would be shown (so callers skip building it). */
int ev_wants(const struct ev_sink *sink, int level);
/** Whether status and step events are drawn (worth polling an upstream for). */
int ev_wants_progress(const struct ev_sink *sink);

void ev_status(const struct ev_sink *sink, const char *status);
void ev_steps(const struct ev_sink *sink, long value, long max, const char *what);
/** A log line "source: text" at level; formatted only when ev_wants(sink, level). */
void ev_log(const struct ev_sink *sink, int level, const char *source, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void ev_logv(const struct ev_sink *sink, int level, const char *source, const char *fmt,
	     va_list ap) __attribute__((format(printf, 4, 0)));

#endif
