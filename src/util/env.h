/* env.h - one way to read environment variables, so a caller can hand the library a
 * table instead of the process environment (tests, and later jobs that carry their own). */
#ifndef IMAGEN_ENV_H
#define IMAGEN_ENV_H

/** Where variables come from: get(ctx, name) returns the value, or NULL when unset.  The
 *  string stays valid while the source is unchanged. */
struct env {
	const char *(*get)(void *ctx, const char *name);
	void *ctx;
};

/** The process environment (getenv).  Static storage. */
const struct env *env_process(void);

/** name's value in env, NULL when unset (a NULL env has nothing set). */
const char *env_get(const struct env *env, const char *name);

#endif
