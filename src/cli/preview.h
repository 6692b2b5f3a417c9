/* preview.h - show an image where the user is: a tmux window running a viewer, or drawn
 * inline in the terminal with libchafa (kitty, iTerm2, sixel, else Unicode symbols). */
#ifndef IMAGEN_PREVIEW_H
#define IMAGEN_PREVIEW_H

#include <stddef.h>

#include "util/buf.h"
#include "core/config.h"
#include "core/previewcmd.h" /* preview_check_command, preview_expand_command */
#include "util/err.h"

/* Inline drawing: never taller than this many rows, nor than half the terminal. */
#define PREVIEW_ROWS_MAX 24
#define PREVIEW_ROWS_MIN 8
/* A tmux window name: the file name without its extension, cut to this many bytes. */
#define PREVIEW_NAME_MAX 40
/* One run previews at most this many images (one window, or one drawing, each). */
#define PREVIEW_IMAGES_MAX 16

enum preview_how { PREVIEW_NONE = 0, PREVIEW_WINDOW, PREVIEW_INLINE };

/* What the decision depends on, read once from the process (preview_env_read). */
struct preview_env {
	int stdout_tty; /* isatty(1) */
	int in_tmux;    /* $TMUX set */
	int ci;         /* $CI set (and not "false"/"0") */
	int term_dumb;  /* $TERM unset or "dumb" */
	int stderr_tty; /* isatty(2) */
	int dev_tty;    /* /dev/tty opens for writing: the process has a controlling terminal */
};

/** Fill env from the environment, stdout, stderr and /dev/tty. */
void preview_env_read(struct preview_env *env);

/* Where an inline drawing goes. */
enum preview_target { PREVIEW_TO_NONE = 0, PREVIEW_TO_STDOUT, PREVIEW_TO_STDERR, PREVIEW_TO_TTY };

/**
 * The terminal an inline drawing goes to, never a pipe or a file (what scripts capture
 * stays clean): stdout when it is a terminal and does not carry the --json record, else
 * stderr when it is a terminal, else /dev/tty, else none.  Pure.
 */
enum preview_target preview_target(const struct preview_env *env, int json);

/**
 * How to preview, given the resolved mode, preview.inline (-1 auto, 0, 1) and what the
 * run prints.  auto previews only when stdout is a terminal, outside CI, without --json
 * or -q, and not on TERM=dumb; on forces it where possible (inline only when
 * preview_target() finds a terminal; on TERM=dumb as plain text).  When the answer is PREVIEW_NONE
 * for a reason the user should hear about (mode on), *why (if non-NULL) is set to a static
 * explanation, else to NULL.  Pure: no I/O.
 */
enum preview_how preview_decide(enum mode mode, int inline_cfg, const struct preview_env *env,
				int json, int quiet, const char **why);

/** Append s to b quoted for /bin/sh ('…', with ' as '\''). */
int preview_shell_quote(struct buf *b, const char *s);

/** The tmux window name for an image: its file name without the extension, control
 *  characters replaced by '_', cut at a UTF-8 boundary to PREVIEW_NAME_MAX bytes. */
void preview_window_name(char out[PREVIEW_NAME_MAX + 1], const char *path);

/** Wrap terminal output for tmux's passthrough: each escape sequence that tmux would
 *  swallow (APC, DCS, OSC) goes inside ESC P tmux; … ESC \ with its ESCs doubled;
 *  everything else is copied as it is. */
int preview_tmux_wrap(struct buf *out, const unsigned char *s, size_t len);

/** The graphics protocol chafa would use for a terminal described by envp (TERM,
 *  TERM_PROGRAM, …): "kitty", "iterm2", "sixels" or "symbols". */
const char *preview_protocol(char **envp);

/**
 * Preview the images just written, per settings (mode already resolved in st->preview,
 * auto rules applied here: stdout tty, $CI, json, quiet).  Never fails the command:
 * prints its own one-line "imagen: preview: ..." message on stderr when `on` cannot be
 * honoured.  Call it after the paths (or the --json record) are printed.
 */
void preview_after_generate(const struct config *cfg, const struct settings *st,
			    const char *const *paths, size_t npaths, int json, int quiet);

/**
 * Preview existing images (imagen show): like mode on.  Prints a one-line message on
 * stderr for each image that could not be shown; returns how many those were.
 */
size_t preview_show(const struct config *cfg, const char *const *paths, size_t npaths);

#endif
