/* err.h - error context carried up to the one place that prints. */
#ifndef IMAGEN_ERR_H
#define IMAGEN_ERR_H

#include <stdarg.h>

/**
 * An error travels up from where it happened to main.c / cmd-*.c, which
 * print it once with the "imagen: " prefix.  Functions return 0 on success
 * or -1 after filling *err.  No thread-local state: each caller owns one.
 *
 * `key` optionally names a config key path relative to the slice the callee
 * was handed (e.g. "steps" inside an adapter's config), so the framework can
 * turn it into FILE:LINE:COL.  `code` is the process exit status the error
 * asks for (2 usage/config, 1 generation failed, 130 interrupted) and nothing else;
 * `kind` says what sort of failure it was, for callers that decide by it (as libgit2
 * keeps its error class apart from the return code).
 */
enum err_kind {
	ERR_KIND_NONE = 0,  /* nothing more specific is known */
	ERR_KIND_CONFIG,    /* the configuration is incomplete or wrong: retrying cannot help
			     * until it is fixed */
	ERR_KIND_INPUT,     /* an input (a file, its record) cannot be used as it is:
			     * retrying cannot help */
	ERR_KIND_NOT_FOUND, /* what was asked for is not there */
	/* set by net/http.c on a request that submits work (any method but GET and HEAD),
	 * and kept by the adapters' rewording: */
	ERR_KIND_RATE_LIMITED, /* answered 429: the upstream did not take the work
				* (retry_after: the seconds it asked for) */
	ERR_KIND_UNAVAILABLE,  /* answered 502 or 503: turned away at the door */
	ERR_KIND_UNSENT,       /* provably never left: connection refused, unknown host, TLS
				* handshake or certificate failure */
};

struct err {
	int code;
	enum err_kind kind;
	char key[128];
	char msg[1024];
	double retry_after; /* with ERR_KIND_RATE_LIMITED / UNAVAILABLE: seconds the upstream
			     * asked to wait (Retry-After); 0 when it said nothing */
};

#define ERR_INIT                                                                                   \
	{                                                                                          \
		0, ERR_KIND_NONE, "", "", 0                                                        \
	}

/** Fill err (if non-NULL) with a printf-style message; returns -1. */
int err_set(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int err_setv(struct err *err, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/** Like err_set, also recording the exit code the error asks for. */
int err_code(struct err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Like err_code, also recording the kind of failure. */
int err_kind(struct err *err, enum err_kind kind, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/** Like err_set, also recording a config key path (relative to the callee's slice). */
int err_key(struct err *err, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** Prepend "prefix: " to the message already in err. */
void err_prefix(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Reset err to empty. */
void err_clear(struct err *err);

#endif
