/* env.c - the process environment behind struct env. */
#include "util/env.h"

#include <stdlib.h>

static const char *process_get(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static const struct env process_env = { process_get, NULL };

const struct env *env_process(void)
{
	return &process_env;
}

const char *env_get(const struct env *env, const char *name)
{
	return env && env->get ? env->get(env->ctx, name) : NULL;
}
