/* test_term.c - the terminal sink's message lines: which levels show under -q and -v,
 * and outside text (upstream messages, file names) with its control characters escaped.
 * stderr is pointed at a file while the sink writes, then read back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/term.h"
#include "testlib.h"

/* Everything the sink writes for these log lines, with (quiet, verbose). */
static char *capture(int quiet, int verbose, const struct ev *evs, size_t n)
{
	char path[] = "/tmp/imagen-test-term-XXXXXX";
	int fd = mkstemp(path), saved;
	struct term t;
	struct ev_sink sink;
	size_t i;
	char *out;

	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	term_init(&t, quiet, verbose); /* stderr is a file: no progress line */
	sink = term_sink(&t);
	for (i = 0; i < n; i++)
		ev_emit(&sink, &evs[i]);
	term_release(&t);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(fd);
	out = slurp(path, NULL);
	unlink(path);
	return out;
}

static const struct ev lines[] = {
	{ .kind = EV_LOG, .level = EV_ERROR, .text = "output: kept elsewhere" },
	{ .kind = EV_LOG, .level = EV_WARN, .source = "cloud sync", .text = "still queued" },
	{ .kind = EV_LOG, .level = EV_VERBOSE, .source = "http", .text = "GET /x -> 200" },
	{ .kind = EV_LOG, .level = EV_DEBUG, .source = "http", .text = "debug" },
};

static void test_levels(void **state)
{
	char *s;

	(void)state;
	s = capture(0, 0, lines, 4);
	assert_string_equal(s, "imagen: output: kept elsewhere\n"
			       "imagen: cloud sync: still queued\n");
	free(s);
	s = capture(1, 0, lines, 4); /* -q: errors only */
	assert_string_equal(s, "imagen: output: kept elsewhere\n");
	free(s);
	s = capture(0, 1, lines, 4); /* -v */
	assert_string_equal(s, "imagen: output: kept elsewhere\n"
			       "imagen: cloud sync: still queued\n"
			       "imagen: http: GET /x -> 200\n");
	free(s);
}

static void test_outside_text_is_escaped(void **state)
{
	/* what an upstream or a file name could carry: retitle, clear, 8-bit CSI */
	static const struct ev evil[] = {
		{ .kind = EV_LOG,
		  .level = EV_WARN,
		  .source = "comfy\x1b[2J",
		  .text = "HTTP 500: \x1b]0;PWNED\x07 \xc2\x9b" "31m\nnext" },
	};
	char *s;

	(void)state;
	s = capture(0, 0, evil, 1);
	assert_null(strchr(s, '\x1b'));
	assert_null(strchr(s, '\x07'));
	assert_null(strstr(s, "\xc2\x9b"));
	assert_string_equal(s, "imagen: comfy\\x1b[2J: HTTP 500: \\x1b]0;PWNED\\x07 \\u009b31m\\nnext\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_outside_text_is_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
