/* test_preview.c - when a preview happens and how: the decision table, the viewer command
 * template, window names, tmux passthrough wrapping, terminal protocol detection, and the
 * preview: config section. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "cli/preview.h"

/* ---- the decision ---- */

static enum preview_how decide(enum mode m, int inl, int tty, int tmux, int ci, int dumb, int json,
			       int quiet, const char **why)
{
	/* a controlling terminal exists (the common case): see the target tests for the rest */
	struct preview_env env = { tty, tmux, ci, dumb, tty, 1 };

	return preview_decide(m, inl, &env, json, quiet, why);
}

static void test_auto_needs_a_terminal_and_a_quiet_stdout(void **state)
{
	const char *why = "x";

	(void)state;
	/* a terminal outside tmux: inline; inside tmux: a window */
	assert_int_equal(decide(MODE_AUTO, -1, 1, 0, 0, 0, 0, 0, &why), PREVIEW_INLINE);
	assert_null(why);
	assert_int_equal(decide(MODE_AUTO, -1, 1, 1, 0, 0, 0, 0, &why), PREVIEW_WINDOW);
	/* never into a pipe, in CI, with --json or -q, on a dumb terminal, and silently */
	assert_int_equal(decide(MODE_AUTO, -1, 0, 0, 0, 0, 0, 0, &why), PREVIEW_NONE);
	assert_null(why);
	assert_int_equal(decide(MODE_AUTO, -1, 0, 1, 0, 0, 0, 0, &why), PREVIEW_NONE);
	assert_int_equal(decide(MODE_AUTO, -1, 1, 1, 1, 0, 0, 0, &why), PREVIEW_NONE);
	assert_int_equal(decide(MODE_AUTO, -1, 1, 1, 0, 0, 1, 0, &why), PREVIEW_NONE);
	assert_int_equal(decide(MODE_AUTO, -1, 1, 1, 0, 0, 0, 1, &why), PREVIEW_NONE);
	assert_int_equal(decide(MODE_AUTO, -1, 1, 0, 0, 1, 0, 0, &why), PREVIEW_NONE);
	assert_null(why);
}

static void test_on_forces_and_off_never(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_int_equal(decide(MODE_OFF, 1, 1, 1, 0, 0, 0, 0, &why), PREVIEW_NONE);
	assert_null(why);
	/* on: a pipe, CI, -q do not stop it */
	assert_int_equal(decide(MODE_ON, -1, 0, 1, 1, 0, 0, 1, &why), PREVIEW_WINDOW);
	assert_int_equal(decide(MODE_ON, -1, 0, 0, 1, 1, 0, 1, &why), PREVIEW_INLINE);
	/* a window does not touch stdout, so --json is fine inside tmux; a drawing goes to
	 * the terminal, never into the JSON */
	assert_int_equal(decide(MODE_ON, -1, 1, 1, 0, 0, 1, 0, &why), PREVIEW_WINDOW);
	assert_int_equal(decide(MODE_ON, -1, 1, 0, 0, 0, 1, 0, &why), PREVIEW_INLINE);
	assert_null(why);
}

static void test_inline_draws_on_a_terminal_never_into_a_pipe(void **state)
{
	/* stdout_tty, in_tmux, ci, term_dumb, stderr_tty, dev_tty */
	struct preview_env all = { 1, 0, 0, 0, 1, 1 }, piped = { 0, 0, 0, 0, 1, 1 },
			   both = { 0, 0, 0, 0, 0, 1 }, none = { 0, 0, 0, 0, 0, 0 };
	const char *why = NULL;

	(void)state;
	assert_int_equal(preview_target(&all, 0), PREVIEW_TO_STDOUT);
	/* --json on stdout, or stdout piped: the drawing goes to stderr's terminal */
	assert_int_equal(preview_target(&all, 1), PREVIEW_TO_STDERR);
	assert_int_equal(preview_target(&piped, 0), PREVIEW_TO_STDERR);
	/* both streams captured: the controlling terminal, else nothing */
	assert_int_equal(preview_target(&both, 0), PREVIEW_TO_TTY);
	assert_int_equal(preview_target(&both, 1), PREVIEW_TO_TTY);
	assert_int_equal(preview_target(&none, 0), PREVIEW_TO_NONE);
	assert_int_equal(preview_decide(MODE_ON, -1, &none, 0, 0, &why), PREVIEW_NONE);
	assert_non_null(why);
	assert_non_null(strstr(why, "no terminal"));
	assert_int_equal(preview_decide(MODE_ON, -1, &none, 1, 0, &why), PREVIEW_NONE);
	assert_non_null(strstr(why, "--json"));
	/* auto still needs stdout on a terminal: a script capturing it gets no picture */
	assert_int_equal(preview_decide(MODE_AUTO, -1, &piped, 0, 0, &why), PREVIEW_NONE);
	assert_null(why);
}

static void test_inline_setting(void **state)
{
	const char *why = NULL;

	(void)state;
	/* true: inline inside tmux too (through passthrough) */
	assert_int_equal(decide(MODE_AUTO, 1, 1, 1, 0, 0, 0, 0, &why), PREVIEW_INLINE);
	/* false: a window inside tmux, nothing outside (a reason only when on) */
	assert_int_equal(decide(MODE_AUTO, 0, 1, 1, 0, 0, 0, 0, &why), PREVIEW_WINDOW);
	assert_int_equal(decide(MODE_AUTO, 0, 1, 0, 0, 0, 0, 0, &why), PREVIEW_NONE);
	assert_non_null(why);
	assert_non_null(strstr(why, "preview.inline"));
}

/* ---- the viewer command ---- */

static void test_command_template_check(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(preview_check_command("chafa {path}", &err), 0);
	assert_int_equal(preview_check_command("feh --scale-down {path} # {path}", &err), 0);
	assert_int_equal(preview_check_command("", &err), -1);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(preview_check_command("chafa", &err), -1);
	assert_string_equal(err.msg, "'chafa' has no {path} (where the image file goes)");
	assert_int_equal(preview_check_command("chafa {paht}", &err), -1);
	assert_string_equal(err.msg, "unknown placeholder '{paht}' (only {path})");
	/* the text runs under sh -c: an open quote is a mistake to name now, not later */
	assert_int_equal(preview_check_command("sh -c 'chafa {path}", &err), -1);
	assert_string_equal(err.msg, "'sh -c 'chafa {path}' has an unterminated ' quote");
	assert_int_equal(preview_check_command("echo \"{path}", &err), -1);
	assert_string_equal(err.msg, "'echo \"{path}' has an unterminated \" quote");
	assert_int_equal(preview_check_command("echo \\\"{path} 'it'\\''s'", &err), 0);
}

static void assert_expands(const char *tmpl, const char *want)
{
	struct err err = ERR_INIT;
	char *s = NULL, *full;

	assert_int_equal(preview_expand_command(&s, tmpl, &err), 0);
	assert_int_equal(asprintf(&full, "IMAGEN_IMAGE=$1; export IMAGEN_IMAGE; %s", want) > 0, 1);
	assert_string_equal(s, full);
	free(full);
	free(s);
}

static void test_command_expansion_never_splices_the_path(void **state)
{
	(void)state;
	assert_expands("v {path} --title={path}",
		       "v \"${IMAGEN_IMAGE}\" --title=\"${IMAGEN_IMAGE}\"");
	/* inside "…" the quotes are the user's */
	assert_expands("echo \"{path}\"", "echo \"${IMAGEN_IMAGE}\"");
	assert_expands("echo \"file: {path}!\"", "echo \"file: ${IMAGEN_IMAGE}!\"");
	/* a lone '{path}' is a quoted word: it becomes a quoted reference */
	assert_expands("feh '{path}'", "feh \"${IMAGEN_IMAGE}\"");
	/* '…' text for a nested shell: that shell expands the exported variable */
	assert_expands("sh -c 'echo {path}; read -r _'",
		       "sh -c 'echo \"${IMAGEN_IMAGE}\"; read -r _'");
	/* escapes and quotes are followed the way sh reads them */
	assert_expands("echo \\\"{path} \"a'b\" {path}",
		       "echo \\\"\"${IMAGEN_IMAGE}\" \"a'b\" \"${IMAGEN_IMAGE}\"");
}

/* What actually runs: the template under /bin/sh -c with the path as $1, for file names
 * built to break out of every kind of quoting. */
static void test_command_runs_with_hostile_file_names(void **state)
{
	static const char *const names[] = {
		"/tmp/$(touch PWNED).png",   "/tmp/`touch PWNED`.png",
		"/tmp/it's \"x\".png",       "/tmp/a b\tc\nd.png",
		"/tmp/'$(touch PWNED)'.png", "/tmp/\\\"; touch PWNED; \".png",
	};
	static const char *const tmpls[] = {
		"printf '%s' {path}",
		"printf '%s' \"{path}\"",
		"printf '%s' '{path}'",
		"sh -c 'printf \"%s\" {path}'",
		"f() { printf '%s' \"$1\"; }; f {path}",
	};
	char dir[] = "/tmp/imagen-test-preview-XXXXXX", *cmd, buf[512];
	struct err err = ERR_INIT;
	size_t i, k;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (i = 0; i < sizeof(tmpls) / sizeof(tmpls[0]); i++) {
		assert_int_equal(preview_check_command(tmpls[i], &err), 0);
		assert_int_equal(preview_expand_command(&cmd, tmpls[i], &err), 0);
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			int fds[2], status;
			ssize_t n, got = 0;
			pid_t pid;

			assert_int_equal(pipe(fds), 0);
			pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) {
				dup2(fds[1], 1);
				if (chdir(dir) < 0)
					_exit(126);
				execl("/bin/sh", "sh", "-c", cmd, "imagen-preview", names[k],
				      (char *)NULL);
				_exit(127);
			}
			close(fds[1]);
			while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
				got += n;
			close(fds[0]);
			buf[got] = '\0';
			assert_int_equal(waitpid(pid, &status, 0), pid);
			/* the command saw exactly the file name, and ran nothing from it */
			if (strcmp(buf, names[k]))
				fail_msg("template %s, name %s: got '%s'", tmpls[i], names[k], buf);
			assert_int_equal(access("PWNED", F_OK), -1);
			snprintf(buf, sizeof(buf), "%s/PWNED", dir);
			assert_int_equal(access(buf, F_OK), -1);
		}
		free(cmd);
	}
	rmdir(dir);
}

static void test_window_name(void **state)
{
	char name[PREVIEW_NAME_MAX + 1];
	char longp[200];

	(void)state;
	preview_window_name(name, "/home/u/Pictures/imagen/2026-11-24-a-red-fox-42.png");
	assert_string_equal(name, "2026-11-24-a-red-fox-42");
	preview_window_name(name, "plain");
	assert_string_equal(name, "plain");
	preview_window_name(name, "/x/a\tb\033c.png");
	assert_string_equal(name, "a_b_c");
	/* cut to the limit, never inside a UTF-8 sequence */
	memset(longp, 'x', sizeof(longp));
	strcpy(longp + 39, "\xc3\xa9tail.png"); /* é straddles byte 40 */
	preview_window_name(name, longp);
	assert_int_equal(strlen(name), 39);
	strcpy(longp + 38, "\xc3\xa9tail.png"); /* é fits exactly */
	preview_window_name(name, longp);
	assert_int_equal(strlen(name), 40);
	assert_memory_equal(name + 38, "\xc3\xa9", 2);
}

/* ---- tmux passthrough ---- */

static void test_tmux_wrap(void **state)
{
	struct buf b = BUF_INIT;
	const char in[] = "ab\033[2Acd\033_Gq=1;AAAA\033\\ef\033]1337;File=x\007\033Pq#0\033\\";
	const char want[] = "ab\033[2Acd"
			    "\033Ptmux;\033\033_Gq=1;AAAA\033\033\\\033\\"
			    "ef"
			    "\033Ptmux;\033\033]1337;File=x\007\033\\"
			    "\033Ptmux;\033\033Pq#0\033\033\\\033\\";

	(void)state;
	assert_int_equal(preview_tmux_wrap(&b, (const unsigned char *)in, sizeof(in) - 1), 0);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, sizeof(want) - 1);
	buf_release(&b);
}

/* ---- which graphics the terminal speaks (TERM / TERM_PROGRAM as terminals set them) ---- */

static void test_protocol_detection(void **state)
{
	char *kitty[] = { "TERM=xterm-kitty", NULL };
	char *ghostty[] = { "TERM=xterm-ghostty", "TERM_PROGRAM=ghostty", NULL };
	char *iterm[] = { "TERM=xterm-256color", "TERM_PROGRAM=iTerm.app", NULL };
	char *mlterm[] = { "TERM=mlterm", NULL };
	char *foot[] = { "TERM=foot", NULL };
	char *xterm[] = { "TERM=xterm-256color", "COLORTERM=truecolor", NULL };
	char *kitty_id[] = { "TERM=xterm-256color", "KITTY_WINDOW_ID=3", NULL };

	(void)state;
	assert_string_equal(preview_protocol(kitty), "kitty");
	assert_string_equal(preview_protocol(ghostty), "kitty");
	assert_string_equal(preview_protocol(kitty_id), "kitty");
	assert_string_equal(preview_protocol(iterm), "iterm2");
	assert_string_equal(preview_protocol(mlterm), "sixels");
	assert_string_equal(preview_protocol(foot), "sixels");
	assert_string_equal(preview_protocol(xterm), "symbols");
}

/* ---- the preview: section ---- */

static struct config *parse(const char *text, struct err *err)
{
	struct config *cfg = NULL;

	config_parse(&cfg, text, strlen(text), "t.yaml", err);
	return cfg;
}

static void test_config_section(void **state)
{
	struct err err = ERR_INIT;
	struct config *cfg;

	(void)state;
	cfg = parse("output:\n  preview: on\n", &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->preview_command, "");
	assert_int_equal(cfg->preview_focus, 0);
	assert_int_equal(cfg->preview_inline, -1);
	config_free(cfg);

	cfg = parse("preview:\n  command: \"feh {path}\"\n  focus: true\n  inline: false\n", &err);
	assert_non_null(cfg);
	assert_string_equal(cfg->preview_command, "feh {path}");
	assert_int_equal(cfg->preview_focus, 1);
	assert_int_equal(cfg->preview_inline, 0);
	config_free(cfg);

	cfg = parse("preview:\n  inline: auto\n", &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->preview_inline, -1);
	config_free(cfg);

	assert_null(parse("preview:\n  command: feh\n", &err));
	assert_string_equal(err.msg, "config: t.yaml:2:12: preview.command: 'feh' has no {path} "
				     "(where the image file goes)");
	assert_null(parse("preview:\n  foucs: true\n", &err));
	assert_string_equal(err.msg, "config: t.yaml:2:3: unknown key 'foucs' in preview (did you "
				     "mean 'focus'?)");
	assert_null(parse("preview:\n  inline: sometimes\n", &err));
	assert_string_equal(err.msg, "config: t.yaml:2:11: preview.inline: expected auto, true or "
				     "false, got 'sometimes'");
	/* the mode stays where it was: output.preview */
	assert_null(parse("preview:\n  mode: on\n", &err));
	assert_non_null(strstr(err.msg, "unknown key 'mode' in preview"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto_needs_a_terminal_and_a_quiet_stdout),
		cmocka_unit_test(test_on_forces_and_off_never),
		cmocka_unit_test(test_inline_draws_on_a_terminal_never_into_a_pipe),
		cmocka_unit_test(test_inline_setting),
		cmocka_unit_test(test_command_template_check),
		cmocka_unit_test(test_command_expansion_never_splices_the_path),
		cmocka_unit_test(test_command_runs_with_hostile_file_names),
		cmocka_unit_test(test_window_name),
		cmocka_unit_test(test_tmux_wrap),
		cmocka_unit_test(test_protocol_detection),
		cmocka_unit_test(test_config_section),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
