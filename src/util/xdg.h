/* xdg.h - paths under the XDG base directories (config, state). */
#ifndef IMAGEN_XDG_H
#define IMAGEN_XDG_H

#include "util/env.h"
#include "util/err.h"

enum xdg_base {
	XDG_CONFIG, /* $XDG_CONFIG_HOME, else ~/.config */
	XDG_STATE,  /* $XDG_STATE_HOME, else ~/.local/state */
};

/**
 * BASE/tail, where BASE is the XDG variable when it holds an absolute path (the spec
 * says to ignore a relative one), else the default under $HOME, both read through env
 * (env_process() in production).  *out malloc'd.  Neither set: -1, code 2, "neither XDG_STATE_HOME
 * nor HOME is set".
 */
int xdg_path(char **out, enum xdg_base base, const char *tail, const struct env *env,
	     struct err *err);

#endif
