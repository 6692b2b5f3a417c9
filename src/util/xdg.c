/* xdg.c - paths under the XDG base directories. */
#include "util/xdg.h"

#include <stdio.h>
#include <stdlib.h>

int xdg_path(char **out, enum xdg_base base, const char *tail, const struct env *env,
	     struct err *err)
{
	const char *var = base == XDG_STATE ? "XDG_STATE_HOME" : "XDG_CONFIG_HOME";
	const char *dflt = base == XDG_STATE ? ".local/state" : ".config";
	const char *xdg = env_get(env, var), *home = env_get(env, "HOME");
	int n;

	*out = NULL;
	if (xdg && xdg[0] == '/')
		n = asprintf(out, "%s/%s", xdg, tail);
	else if (home && home[0])
		n = asprintf(out, "%s/%s/%s", home, dflt, tail);
	else
		return err_code(err, 2, "neither %s nor HOME is set", var);
	if (n < 0) {
		*out = NULL;
		return err_set(err, "out of memory");
	}
	return 0;
}
