/* preview.c - show an image where the user is.
 *
 * Inside tmux a new window runs a viewer on the file (preview.command, else tmux-img,
 * chafa or timg) and imagen does not wait for it.  Elsewhere, on a terminal, the image
 * is drawn under the output with libchafa: kitty graphics, iTerm2 inline images or sixels
 * where the terminal identifies as supporting them, Unicode symbols otherwise.  This is
 * the presentation layer, so unlike the rest of the library it prints (one line per
 * failure, "imagen: preview: ..."); a failure never touches the image or the exit code.
 *
 * No chafa or glib call happens unless an image is drawn: `imagen version` stays cheap.
 */
#include "cli/preview.h"
#include "cli/cli.h"

#include <chafa.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/image.h"
#include "util/file.h"

extern char **environ;

#define PREVIEW_FILE_MAX (256u * 1024 * 1024)
#define TMUX_WAIT_MS 3000
#define TMUX_OUT_MAX 4096

/* ---- the decision ---- */

static int env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

void preview_env_read(struct preview_env *env)
{
	const char *ci = getenv("CI"), *term = getenv("TERM");

	env->stdout_tty = isatty(STDOUT_FILENO);
	env->in_tmux = env_set("TMUX");
	env->ci = ci && *ci && strcmp(ci, "false") && strcmp(ci, "0");
	env->term_dumb = !term || !*term || !strcmp(term, "dumb");
	env->stderr_tty = isatty(STDERR_FILENO);
	env->dev_tty = 0;
	if (!env->stdout_tty || !env->stderr_tty) {
		int fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);

		if (fd >= 0) {
			env->dev_tty = 1;
			close(fd);
		}
	}
}

enum preview_target preview_target(const struct preview_env *env, int json)
{
	if (env->stdout_tty && !json)
		return PREVIEW_TO_STDOUT;
	if (env->stderr_tty)
		return PREVIEW_TO_STDERR;
	return env->dev_tty ? PREVIEW_TO_TTY : PREVIEW_TO_NONE;
}

enum preview_how preview_decide(enum mode mode, int inline_cfg, const struct preview_env *env,
				int json, int quiet, const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (mode == MODE_OFF)
		return PREVIEW_NONE;
	if (mode == MODE_AUTO && (json || quiet || env->ci || !env->stdout_tty || env->term_dumb))
		return PREVIEW_NONE;
	/* inside tmux a window is the default; preview.inline: true draws in the pane */
	if (env->in_tmux && inline_cfg != 1)
		return PREVIEW_WINDOW;
	if (inline_cfg == 0) {
		*why = "preview.inline is false and this is not a tmux session: nothing to show";
		return PREVIEW_NONE;
	}
	if (preview_target(env, json) == PREVIEW_TO_NONE) {
		*why = json ? "cannot draw inline: stdout carries the --json record and there is "
			      "no terminal to draw on"
			    : "cannot draw inline: no terminal to draw on (stdout, stderr and "
			      "/dev/tty are not terminals)";
		return PREVIEW_NONE;
	}
	return PREVIEW_INLINE;
}

/* ---- command templates, names, quoting ---- */

int preview_shell_quote(struct buf *b, const char *s)
{
	int rc = buf_adds(b, "'");

	for (; !rc && *s; s++)
		rc = *s == '\'' ? buf_adds(b, "'\\''") : buf_add(b, s, 1);
	return rc ? rc : buf_adds(b, "'");
}

void preview_window_name(char out[PREVIEW_NAME_MAX + 1], const char *path)
{
	const char *base = strrchr(path, '/'), *dot;
	size_t len, i;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	if (len > PREVIEW_NAME_MAX) {
		len = PREVIEW_NAME_MAX;
		/* never cut a UTF-8 sequence in half: back up over continuation bytes */
		while (len && ((unsigned char)base[len] & 0xc0) == 0x80)
			len--;
	}
	for (i = 0; i < len; i++)
		out[i] = (unsigned char)base[i] < 0x20 || base[i] == 0x7f ? '_' : base[i];
	out[len] = '\0';
	if (!len)
		snprintf(out, PREVIEW_NAME_MAX + 1, "imagen");
}

/* Where an escape sequence starting at s[0] == ESC ends (one past it), for the kinds
 * tmux would swallow rather than pass on: APC (ESC _), DCS (ESC P), OSC (ESC ]), ended by
 * ST (ESC \) or, for OSC, BEL.  0 for any other sequence. */
static size_t string_seq_end(const unsigned char *s, size_t len)
{
	size_t i;

	if (len < 2 || (s[1] != '_' && s[1] != 'P' && s[1] != ']'))
		return 0;
	for (i = 2; i < len; i++) {
		if (s[i] == 0x07 && s[1] == ']')
			return i + 1;
		if (s[i] == 0x1b && i + 1 < len && s[i + 1] == '\\')
			return i + 2;
	}
	return len; /* unterminated: wrap what there is */
}

int preview_tmux_wrap(struct buf *out, const unsigned char *s, size_t len)
{
	size_t i = 0, end, k;
	int rc = 0;

	while (!rc && i < len) {
		end = s[i] == 0x1b ? string_seq_end(s + i, len - i) : 0;
		if (!end) {
			rc = buf_add(out, s + i, 1);
			i++;
			continue;
		}
		rc = buf_adds(out, "\033Ptmux;");
		for (k = i; !rc && k < i + end; k++)
			rc = s[k] == 0x1b ? buf_add(out, "\033\033", 2) : buf_add(out, s + k, 1);
		if (!rc)
			rc = buf_adds(out, "\033\\");
		i += end;
	}
	return rc;
}

/* ---- running tmux ---- */

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* The first line of what tmux said, for a one-line message. */
static const char *first_line(struct buf *b)
{
	char *s = (char *)b->data;

	if (!b->len)
		return "";
	s[strcspn(s, "\r\n")] = '\0';
	return s;
}

/*
 * Run tmux with argv (argv[0] == "tmux") and wait for it: the commands used here answer
 * at once (new-window returns as soon as the window exists, without waiting for what
 * runs in it).  stdin is /dev/null; stdout is captured into out when given, else
 * /dev/null; stderr is captured for the error message.  After TMUX_WAIT_MS it is killed.
 */
static int run_tmux(char *const argv[], struct buf *out, struct err *err)
{
	posix_spawn_file_actions_t fa;
	int opipe[2] = { -1, -1 }, epipe[2] = { -1, -1 }, status = 0, rc = -1, spawned;
	struct buf errbuf = BUF_INIT;
	struct timespec deadline;
	pid_t pid = -1;

	errbuf.max = TMUX_OUT_MAX;
	if (out)
		out->max = TMUX_OUT_MAX;
	if (pipe2(epipe, O_CLOEXEC) < 0 || (out && pipe2(opipe, O_CLOEXEC) < 0)) {
		err_set(err, "pipe: %s", strerror(errno));
		goto close;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		err_set(err, "out of memory");
		goto close;
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, opipe[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, epipe[1], 2);
	spawned = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (spawned != 0) {
		if (spawned == ENOENT)
			err_set(err, "tmux not found on $PATH: install tmux");
		else
			err_set(err, "cannot run tmux: %s", strerror(spawned));
		goto close;
	}
	close(epipe[1]);
	epipe[1] = -1;
	if (out) {
		close(opipe[1]);
		opipe[1] = -1;
	}

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += TMUX_WAIT_MS / 1000;
	while (epipe[0] >= 0 || opipe[0] >= 0) {
		struct pollfd pf[2] = { { epipe[0], POLLIN, 0 }, { opipe[0], POLLIN, 0 } };
		long left = ms_left(&deadline);
		char chunk[1024];
		ssize_t n;
		int i;

		if (left <= 0 || poll(pf, 2, (int)left) == 0) {
			kill(pid, SIGKILL);
			err_set(err, "tmux did not answer within %d s", TMUX_WAIT_MS / 1000);
			goto reap;
		}
		for (i = 0; i < 2; i++) {
			int *fd = i ? &opipe[0] : &epipe[0];

			if (*fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(*fd, chunk, sizeof(chunk));
			if (n > 0) {
				/* past the cap the rest is dropped: the first line matters */
				(void)buf_add(i ? out : &errbuf, chunk, (size_t)n);
			} else if (n == 0 || errno != EINTR) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	rc = 0;
reap:
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		rc = -1;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			err_set(err, "tmux not found on $PATH: install tmux");
		else
			err_set(err, "tmux %s: %s", argv[1],
				errbuf.len ? first_line(&errbuf) : "failed");
	}
close:
	if (rc < 0 && !err->msg[0])
		err_set(err, "tmux failed");
	for (int i = 0; i < 2; i++) {
		if (opipe[i] >= 0)
			close(opipe[i]);
		if (epipe[i] >= 0)
			close(epipe[i]);
	}
	buf_release(&errbuf);
	return rc;
}

/* ---- the tmux window ---- */

/* path/name of an executable found on $PATH; *out malloc'd. */
static int find_in_path(char **out, const char *name)
{
	const char *path = getenv("PATH"), *p, *colon;
	struct stat st;
	char *cand;

	*out = NULL;
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p = colon + 1) {
		int len;

		colon = strchr(p, ':');
		len = colon ? (int)(colon - p) : (int)strlen(p);
		/* an empty entry is the current directory */
		if (asprintf(&cand, "%.*s/%s", len ? len : 1, len ? p : ".", name) < 0)
			return -1;
		if (access(cand, X_OK) == 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
			*out = cand;
			return 0;
		}
		free(cand);
		if (!colon)
			return -1;
	}
}

/* The viewer the windows run, found once per run. */
struct viewer {
	const char *tmpl; /* preview.command, or NULL */
	char *exe;        /* else tmux-img, chafa or timg found on $PATH */
	int hold;         /* the viewer exits at once: keep the window until Enter */
};

static int viewer_find(struct viewer *v, const struct config *cfg, struct err *err)
{
	static const struct {
		const char *name;
		int hold;
	} known[] = { { "tmux-img", 0 }, { "chafa", 1 }, { "timg", 1 } };
	size_t i, n;
	char word[256], *found = NULL;

	memset(v, 0, sizeof(*v));
	if (cfg->preview_command && *cfg->preview_command) {
		v->tmpl = cfg->preview_command;
		/* a plain first word that is nowhere on $PATH would only flash a dead window */
		n = strcspn(v->tmpl, " \t");
		if (n && n < sizeof(word) &&
		    strspn(v->tmpl, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789._+-/") >= n) {
			memcpy(word, v->tmpl, n);
			word[n] = '\0';
			if (strchr(word, '/') ? access(word, X_OK) != 0
					      : find_in_path(&found, word) < 0)
				return err_set(err, "preview.command: '%s' not found%s", word,
					       strchr(word, '/') ? "" : " on $PATH");
			free(found);
		}
		return 0;
	}
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (find_in_path(&v->exe, known[i].name) == 0) {
			v->hold = known[i].hold;
			return 0;
		}
	}
	return err_set(err, "no image viewer found for the tmux window: install chafa "
			    "(apt install chafa) or timg, or set preview.command");
}

static int preview_window(const struct config *cfg, const struct viewer *v, const char *path,
			  struct err *err)
{
	char name[PREVIEW_NAME_MAX + 1], tname[2 * PREVIEW_NAME_MAX + 1];
	char *abs = NULL, *cmd = NULL, *cwd = NULL;
	char *argv[16];
	struct buf hold = BUF_INIT;
	int n = 0, rc = -1;
	size_t i, k = 0;

	abs = realpath(path, NULL);
	if (!abs)
		return err_set(err, "%s: %s", path, strerror(errno));
	preview_window_name(name, path); /* a symlink keeps the name it was given */
	/* tmux expands formats in -n (#S, #{...}): a '#' in a file name must stay one */
	for (i = 0; name[i]; i++) {
		if (name[i] == '#')
			tname[k++] = '#';
		tname[k++] = name[i];
	}
	tname[k] = '\0';
	argv[n++] = "tmux";
	argv[n++] = "new-window";
	if (!cfg->preview_focus)
		argv[n++] = "-d";
	argv[n++] = "-a"; /* right after the window imagen runs in */
	argv[n++] = "-n";
	argv[n++] = tname;
	cwd = getcwd(NULL, 0);
	if (cwd) {
		argv[n++] = "-c";
		argv[n++] = cwd;
	}
	/* several arguments: tmux runs them directly, whatever the user's default-shell */
	if (v->tmpl) {
		/* the path is an argument, never shell text: a file named $(…) stays a name */
		if (preview_expand_command(&cmd, v->tmpl, err) < 0)
			goto out;
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		argv[n++] = cmd;
		argv[n++] = "imagen-preview";
		argv[n++] = abs;
	} else if (v->hold) {
		if (preview_shell_quote(&hold, v->exe) < 0 ||
		    buf_adds(&hold, " \"$1\"; printf '\\n%s  (press Enter to close)' \"$1\"; "
				    "read -r _") < 0) {
			err_set(err, "out of memory");
			goto out;
		}
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		argv[n++] = (char *)hold.data;
		argv[n++] = "imagen-preview";
		argv[n++] = abs;
	} else {
		argv[n++] = v->exe;
		argv[n++] = abs;
	}
	argv[n] = NULL;
	rc = run_tmux(argv, NULL, err);
out:
	buf_release(&hold);
	free(cmd);
	free(cwd);
	free(abs);
	return rc;
}

/* ---- drawing inline ---- */

/* Terminal facts for inline drawing, gathered once per run. */
struct term {
	FILE *out;          /* the terminal drawn on (preview_target) */
	int own_out;        /* out is /dev/tty, opened here: close it */
	int plain;          /* TERM=dumb: ASCII characters, no escape sequence at all */
	int cols, rows;     /* cells; rows 0 when unknown */
	int cell_w, cell_h; /* pixels per cell; 0 when unknown */
	int passthrough;    /* inside tmux with allow-passthrough: wrap what tmux would eat */
	ChafaTermInfo *ti;
	ChafaPixelMode pixel;
	ChafaCanvasMode canvas;
};

static const char *env_lookup(char **envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* A copy of envp (pointers borrowed) without the listed names, room for `extra` more. */
static char **env_without(char **envp, const char *const *drop, size_t extra)
{
	size_t n = 0, k = 0, d;
	char **out;

	while (envp && envp[n])
		n++;
	out = calloc(n + extra + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int keep = 1;

		for (d = 0; drop[d]; d++) {
			size_t len = strlen(drop[d]);

			if (!strncmp(envp[i], drop[d], len) && envp[i][len] == '=')
				keep = 0;
		}
		if (keep)
			out[k++] = envp[i];
	}
	return out;
}

/* chafa's terminal database, helped along for terminals that speak kitty graphics but
 * that chafa 1.12 does not know by name (ghostty; kitty seen through $KITTY_WINDOW_ID). */
static ChafaTermInfo *detect_term(char **envp)
{
	static const char *const drop[] = { "TERM", NULL };
	const char *term = env_lookup(envp, "TERM"), *prog = env_lookup(envp, "TERM_PROGRAM");
	ChafaTermInfo *ti;
	char **env2;
	int kitty = (term && !strcmp(term, "xterm-ghostty")) ||
		    (prog && !strcmp(prog, "ghostty")) ||
		    (env_lookup(envp, "KITTY_WINDOW_ID") && !env_lookup(envp, "TMUX") &&
		     !(prog && *prog));

	if (!kitty)
		return chafa_term_db_detect(chafa_term_db_get_default(), envp);
	env2 = env_without(envp, drop, 1);
	if (!env2)
		return chafa_term_db_detect(chafa_term_db_get_default(), envp);
	for (size_t i = 0;; i++) {
		if (!env2[i]) {
			env2[i] = "TERM=xterm-kitty";
			break;
		}
	}
	ti = chafa_term_db_detect(chafa_term_db_get_default(), env2);
	free(env2);
	return ti;
}

static ChafaPixelMode pixel_mode(const ChafaTermInfo *ti)
{
	if (chafa_term_info_have_seq(ti, CHAFA_TERM_SEQ_BEGIN_KITTY_IMMEDIATE_IMAGE_V1))
		return CHAFA_PIXEL_MODE_KITTY;
	if (chafa_term_info_have_seq(ti, CHAFA_TERM_SEQ_BEGIN_ITERM2_IMAGE))
		return CHAFA_PIXEL_MODE_ITERM2;
	if (chafa_term_info_have_seq(ti, CHAFA_TERM_SEQ_BEGIN_SIXELS))
		return CHAFA_PIXEL_MODE_SIXELS;
	return CHAFA_PIXEL_MODE_SYMBOLS;
}

const char *preview_protocol(char **envp)
{
	ChafaTermInfo *ti = detect_term(envp);
	ChafaPixelMode m = pixel_mode(ti);

	chafa_term_info_unref(ti);
	return m == CHAFA_PIXEL_MODE_KITTY    ? "kitty"
	       : m == CHAFA_PIXEL_MODE_ITERM2 ? "iterm2"
	       : m == CHAFA_PIXEL_MODE_SIXELS ? "sixels"
					      : "symbols";
}

/* Inside tmux: the outer terminal (the attached client's) and whether the pane lets
 * escape sequences through.  The environment chafa sees is rewritten to describe the
 * outer terminal; without passthrough it stays tmux's (symbols). */
static char **tmux_outer_env(struct term *t)
{
	static const char *const drop[] = { "TERM", "TERM_PROGRAM", "TMUX", "KITTY_WINDOW_ID",
					    NULL };
	static const struct {
		const char *prefix, *term, *prog;
	} types[] = {
		{ "iTerm2", NULL, "TERM_PROGRAM=iTerm.app" },
		{ "WezTerm", NULL, "TERM_PROGRAM=WezTerm" },
		{ "kitty", "TERM=xterm-kitty", NULL },
		{ "ghostty", "TERM=xterm-kitty", NULL },
		{ "foot", "TERM=foot", NULL },
		{ "mlterm", "TERM=mlterm", NULL },
	};
	static char term_var[128];
	char *argv[] = { "tmux", "display-message", "-p", NULL, NULL, NULL, NULL };
	const char *pane = getenv("TMUX_PANE"), *termv = NULL, *progv = NULL;
	struct buf out = BUF_INIT;
	struct err err = ERR_INIT;
	char *f[3] = { NULL, NULL, NULL }, *s, **env2 = NULL;
	size_t i, k = 0;
	int n = 3;

	if (pane && *pane) {
		argv[n++] = "-t";
		argv[n++] = (char *)pane;
	}
	argv[n] = "#{allow-passthrough}\t#{client_termname}\t#{client_termtype}";
	if (run_tmux(argv, &out, &err) < 0 || !out.len)
		goto out;
	s = (char *)out.data;
	s[strcspn(s, "\n")] = '\0';
	for (i = 0; i < 3 && s; i++) {
		f[i] = s;
		s = strchr(s, '\t');
		if (s)
			*s++ = '\0';
	}
	if (!f[0] || !(!strcmp(f[0], "1") || !strcmp(f[0], "on") || !strcmp(f[0], "all")))
		goto out;
	if (f[1] && *f[1]) {
		snprintf(term_var, sizeof(term_var), "TERM=%s", f[1]);
		termv = term_var;
	}
	for (i = 0; f[2] && i < sizeof(types) / sizeof(types[0]); i++) {
		if (!strncmp(f[2], types[i].prefix, strlen(types[i].prefix))) {
			termv = types[i].term ? types[i].term : termv;
			progv = types[i].prog;
			break;
		}
	}
	env2 = env_without(environ, drop, 2);
	if (!env2)
		goto out;
	while (env2[k])
		k++;
	if (termv)
		env2[k++] = (char *)termv;
	if (progv)
		env2[k++] = (char *)progv;
	t->passthrough = 1;
out:
	buf_release(&out);
	return env2;
}

static void term_size(struct term *t)
{
	struct winsize ws;
	const char *c = getenv("COLUMNS"), *l = getenv("LINES");

	memset(&ws, 0, sizeof(ws));
	if (ioctl(fileno(t->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
		t->cols = ws.ws_col;
		t->rows = ws.ws_row;
		if (ws.ws_xpixel && ws.ws_ypixel) {
			t->cell_w = ws.ws_xpixel / ws.ws_col;
			t->cell_h = ws.ws_ypixel / (ws.ws_row ? ws.ws_row : 1);
		}
		return;
	}
	t->cols = c && atoi(c) > 0 ? atoi(c) : 80;
	t->rows = l && atoi(l) > 0 ? atoi(l) : 0;
}

static int term_open(struct term *t, const struct preview_env *env, enum preview_target to,
		     struct err *err)
{
	ChafaTermInfo *fallback;
	char **outer = NULL;
	const char *ct = getenv("COLORTERM");
	int direct, fd;

	memset(t, 0, sizeof(*t));
	if (to == PREVIEW_TO_TTY) {
		fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
		t->out = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!t->out) {
			if (fd >= 0)
				close(fd);
			return err_set(err, "/dev/tty: %s", strerror(errno));
		}
		t->own_out = 1;
	} else {
		t->out = to == PREVIEW_TO_STDERR ? stderr : stdout;
	}
	term_size(t);
	if (env->term_dumb) {
		/* a dumb terminal gets characters only: no colour, cursor or graphics codes */
		t->plain = 1;
		t->ti = chafa_term_info_new();
		t->pixel = CHAFA_PIXEL_MODE_SYMBOLS;
		t->canvas = CHAFA_CANVAS_MODE_FGBG;
		return 0;
	}
	if (env->in_tmux)
		outer = tmux_outer_env(t);
	t->ti = detect_term(outer ? outer : environ);
	free(outer);
	t->pixel = pixel_mode(t->ti);
	if (env->in_tmux && !t->passthrough)
		t->pixel = CHAFA_PIXEL_MODE_SYMBOLS;
	direct = chafa_term_info_have_seq(t->ti, CHAFA_TERM_SEQ_SET_COLOR_FGBG_DIRECT) ||
		 (ct && (!strcmp(ct, "truecolor") || !strcmp(ct, "24bit")));
	t->canvas = direct ? CHAFA_CANVAS_MODE_TRUECOLOR
		    : chafa_term_info_have_seq(t->ti, CHAFA_TERM_SEQ_SET_COLOR_FGBG_256)
			    ? CHAFA_CANVAS_MODE_INDEXED_240
			    : CHAFA_CANVAS_MODE_INDEXED_16;
	/* sequences the database lacks for this terminal come from chafa's generic set */
	fallback = chafa_term_db_get_fallback_info(chafa_term_db_get_default());
	chafa_term_info_supplement(t->ti, fallback);
	chafa_term_info_unref(fallback);
	return 0;
}

static void term_close(struct term *t)
{
	if (t->ti)
		chafa_term_info_unref(t->ti);
	t->ti = NULL;
	if (t->own_out)
		fclose(t->out);
	t->out = NULL;
}

static int load_rgba(unsigned char **out, unsigned *w, unsigned *h, const char *path,
		     struct err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	int iw = 0, ih = 0, rc;

	*out = NULL;
	if (file_read(&data, &len, path, PREVIEW_FILE_MAX, err) < 0)
		return -1;
	rc = png_decode_rgba(data, len, out, &iw, &ih, err);
	free(data);
	if (rc < 0) {
		err_prefix(err, "%s", path);
		return -1;
	}
	*w = (unsigned)iw;
	*h = (unsigned)ih;
	return 0;
}

static int write_all(FILE *out, const void *p, size_t n)
{
	return fwrite(p, 1, n, out) == n ? 0 : -1;
}

static int preview_draw(const struct term *t, const char *path, struct err *err)
{
	unsigned char *px = NULL;
	unsigned w = 0, h = 0;
	int cols = t->cols, rows, cw = t->cell_w ? t->cell_w : 10, ch = t->cell_h ? t->cell_h : 20;
	ChafaCanvasConfig *cc;
	ChafaCanvas *canvas;
	GString *gs;
	struct buf wrapped = BUF_INIT;
	int rc = 0;

	if (load_rgba(&px, &w, &h, path, err) < 0)
		return -1;
	rows = t->rows ? t->rows / 2 : PREVIEW_ROWS_MAX;
	rows = rows < PREVIEW_ROWS_MIN   ? PREVIEW_ROWS_MIN
	       : rows > PREVIEW_ROWS_MAX ? PREVIEW_ROWS_MAX
					 : rows;
	if (t->rows > 1 && rows > t->rows - 1)
		rows = t->rows - 1;
	chafa_calc_canvas_geometry((gint)w, (gint)h, &cols, &rows, (gfloat)cw / (gfloat)ch, TRUE,
				   FALSE);

	cc = chafa_canvas_config_new();
	chafa_canvas_config_set_geometry(cc, cols, rows);
	chafa_canvas_config_set_cell_geometry(cc, cw, ch);
	chafa_canvas_config_set_canvas_mode(cc, t->canvas);
	chafa_canvas_config_set_pixel_mode(cc, t->pixel);
	if (t->plain) {
		ChafaSymbolMap *sm = chafa_symbol_map_new();

		chafa_symbol_map_add_by_tags(sm, CHAFA_SYMBOL_TAG_ASCII);
		chafa_canvas_config_set_symbol_map(cc, sm);
		chafa_symbol_map_unref(sm);
	}
	canvas = chafa_canvas_new(cc);
	chafa_canvas_draw_all_pixels(canvas, CHAFA_PIXEL_RGBA8_UNASSOCIATED, px, (gint)w, (gint)h,
				     (gint)w * 4);
	gs = chafa_canvas_print(canvas, t->ti);

	/* what was printed before (the path) comes first, whichever stream draws */
	fflush(stdout);
	if (t->passthrough && t->pixel != CHAFA_PIXEL_MODE_SYMBOLS) {
		/* tmux does not know the picture takes room: make the room first, draw at its
		 * top, then put tmux's cursor below it */
		for (int i = 0; i < rows; i++)
			buf_adds(&wrapped, "\n");
		buf_addf(&wrapped, "\033[%dA", rows);
		if (preview_tmux_wrap(&wrapped, (const unsigned char *)gs->str, gs->len) < 0 ||
		    buf_addf(&wrapped, "\033[%dB\r\n", rows) < 0) {
			err_set(err, "out of memory");
			rc = -1;
		} else {
			rc = write_all(t->out, wrapped.data, wrapped.len);
		}
	} else {
		rc = write_all(t->out, gs->str, gs->len);
		if (!rc)
			rc = write_all(t->out, "\n", 1);
	}
	if (fflush(t->out) != 0 || rc < 0) {
		if (!err->msg[0])
			err_set(err, "cannot write to the terminal: %s", strerror(errno));
		rc = -1;
	}
	buf_release(&wrapped);
	g_string_free(gs, TRUE);
	chafa_canvas_unref(canvas);
	chafa_canvas_config_unref(cc);
	free(px);
	return rc;
}

/* ---- the two ways in ---- */

static size_t preview_run(const struct config *cfg, enum mode mode, const char *const *paths,
			  size_t npaths, int json, int quiet)
{
	struct preview_env env;
	struct viewer v;
	struct term t;
	struct err err = ERR_INIT;
	const char *why;
	enum preview_how how;
	size_t i, failed = 0, n = npaths;

	if (!npaths)
		return 0;
	preview_env_read(&env);
	how = preview_decide(mode, cfg->preview_inline, &env, json, quiet, &why);
	if (how == PREVIEW_NONE) {
		if (why)
			cli_error("preview: %s", why);
		return why ? npaths : 0;
	}
	if (n > PREVIEW_IMAGES_MAX) {
		if (!quiet)
			cli_error("preview: showing the first %d of %zu images", PREVIEW_IMAGES_MAX,
				  npaths);
		n = PREVIEW_IMAGES_MAX;
	}
	memset(&v, 0, sizeof(v));
	if (how == PREVIEW_WINDOW) {
		if (viewer_find(&v, cfg, &err) < 0) {
			cli_error("preview: %s", err.msg);
			return npaths;
		}
	} else if (term_open(&t, &env, preview_target(&env, json), &err) < 0) {
		cli_error("preview: %s", err.msg);
		return npaths;
	}
	for (i = 0; i < n; i++) {
		err_clear(&err);
		if ((how == PREVIEW_WINDOW ? preview_window(cfg, &v, paths[i], &err)
					   : preview_draw(&t, paths[i], &err)) < 0) {
			cli_error("preview: %s", err.msg);
			failed++;
		}
	}
	if (how == PREVIEW_WINDOW)
		free(v.exe);
	else
		term_close(&t);
	return failed;
}

void preview_after_generate(const struct config *cfg, const struct settings *st,
			    const char *const *paths, size_t npaths, int json, int quiet)
{
	(void)preview_run(cfg, st->preview, paths, npaths, json, quiet);
}

size_t preview_show(const struct config *cfg, const char *const *paths, size_t npaths)
{
	return preview_run(cfg, MODE_ON, paths, npaths, 0, 0);
}
