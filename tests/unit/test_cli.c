/* test_cli.c - the option tables and what they drive: getopt parsing (options after
 * operands, the common -c/-v/-q/-h, optional values), the messages for bad input, and
 * the help text. */
#include "testlib.h"

#include <fcntl.h>

#include "cli/cli.h"

/* ---- a command table of our own (main.c's is not in the library) ---------------------------- */

enum { OPT_JSON = 1000, OPT_PREVIEW, OPT_COUNT = 'n', OPT_STYLE = 's' };

static const struct opt_spec paint_opts[] = {
	{ OPT_COUNT, "count", 'n', ARG_REQUIRED, "N", "how many", HINT_NONE, NULL },
	{ OPT_STYLE, "style", 's', ARG_REQUIRED, "NAME", "style preset", HINT_STYLE, NULL },
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print JSON", HINT_NONE, NULL },
	{ OPT_PREVIEW, "preview", 0, ARG_OPTIONAL, "auto|on|off", "show the image", HINT_MODE, NULL },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

static int paint_exec(struct global_opts *g, int argc, char **argv)
{
	(void)g;
	(void)argc;
	(void)argv;
	return 0;
}

static const struct cmd_entry paint = {
	"paint",    "[options] PROMPT", "paint a picture", "Paints it.\nTwice.",
	paint_opts, paint_exec,
};
static const struct cmd_entry bare = { "bare", "", "no options", NULL, NULL, paint_exec };

const struct cmd_entry *const commands[] = { &paint, &bare, NULL };

/* ---- running the parser -------------------------------------------------------------------- */

struct run {
	struct global_opts g;
	int ids[16]; /* what cli_next returned, in order (the final 0, -1 or -2 too) */
	const char *args[16];
	int n;
	int optind; /* operands start here once options are done */
	char *err;  /* what went to stderr */
	char *out;  /* what went to stdout */
};

/* Read back what fd received while it pointed at the temporary file tmp. */
static char *restore_fd(int fd, int saved, FILE *tmp)
{
	char *text;
	long n;

	fflush(fd == 1 ? stdout : stderr);
	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
	n = ftell(tmp);
	assert_true(n >= 0);
	rewind(tmp);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, tmp), (size_t)n);
	fclose(tmp);
	return text;
}

static int redirect_fd(int fd, FILE **tmp)
{
	int saved;

	fflush(fd == 1 ? stdout : stderr);
	*tmp = tmpfile();
	assert_non_null(*tmp);
	saved = dup(fd);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(*tmp), fd), fd);
	return saved;
}

/* Parse argv (NULL-terminated; argv[0] is the command name) for cmd, recording it all. */
static void parse(struct run *r, const struct cmd_entry *cmd, char **argv)
{
	struct cli_parser p;
	FILE *terr, *tout;
	int argc = 0, c, serr, sout;
	const char *arg;

	memset(r, 0, sizeof(*r));
	while (argv[argc])
		argc++;
	serr = redirect_fd(2, &terr);
	sout = redirect_fd(1, &tout);
	assert_int_equal(cli_begin(&p, cmd, &r->g, argc, argv), 0);
	do {
		c = cli_next(&p, &arg);
		r->ids[r->n] = c;
		r->args[r->n] = c > 0 ? arg : NULL;
		r->n++;
	} while (c > 0 && r->n < 16);
	r->optind = cli_optind(&p);
	cli_end(&p);
	r->out = restore_fd(1, sout, tout);
	r->err = restore_fd(2, serr, terr);
}

static void run_free(struct run *r)
{
	free(r->err);
	free(r->out);
}

/* ---- parsing ------------------------------------------------------------------------------- */

static void test_options_in_any_order_and_operands(void **state)
{
	char *argv[] = { "paint", "a", "-n", "3", "lighthouse", "--style=noir", "--json", NULL };
	struct run r;

	(void)state;
	parse(&r, &paint, argv);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.ids[0], OPT_COUNT);
	assert_string_equal(r.args[0], "3");
	assert_int_equal(r.ids[1], OPT_STYLE);
	assert_string_equal(r.args[1], "noir");
	assert_int_equal(r.ids[2], OPT_JSON);
	assert_null(r.args[2]);
	assert_int_equal(r.ids[3], 0);
	/* GNU getopt moved the operands behind the options, in their order */
	assert_int_equal(r.optind, 5);
	assert_string_equal(argv[r.optind], "a");
	assert_string_equal(argv[r.optind + 1], "lighthouse");
	assert_string_equal(r.err, "");
	run_free(&r);

	/* "--" ends the options: what follows is an operand even when it looks like one */
	{
		char *argv2[] = { "paint", "--", "--json", NULL };

		parse(&r, &paint, argv2);
		assert_int_equal(r.ids[0], 0);
		assert_string_equal(argv2[r.optind], "--json");
		run_free(&r);
	}
}

static void test_common_options_are_taken_by_the_parser(void **state)
{
	char *argv[] = { "bare", "-v", "--config", "/x.yaml", "-vq", "--verbose", NULL };
	struct run r;

	(void)state;
	parse(&r, &bare, argv);
	assert_int_equal(r.n, 1); /* none of them reaches the command */
	assert_int_equal(r.ids[0], 0);
	assert_string_equal(r.g.config_path, "/x.yaml");
	assert_int_equal(r.g.verbose, 3);
	assert_int_equal(r.g.quiet, 1);
	run_free(&r);
}

static void test_optional_value_in_the_next_word(void **state)
{
	struct run r;

	(void)state;
	{
		/* a listed value in the next word belongs to the option */
		char *argv[] = { "paint", "--preview", "on", "x", NULL };

		parse(&r, &paint, argv);
		assert_int_equal(r.ids[0], OPT_PREVIEW);
		assert_string_equal(r.args[0], "on");
		assert_string_equal(argv[r.optind], "x");
		run_free(&r);
	}
	{
		/* anything else stays an operand (a prompt that starts with "on a hill") */
		char *argv[] = { "paint", "--preview", "on a hill", NULL };

		parse(&r, &paint, argv);
		assert_int_equal(r.ids[0], OPT_PREVIEW);
		assert_null(r.args[0]);
		assert_string_equal(argv[r.optind], "on a hill");
		run_free(&r);
	}
	{
		char *argv[] = { "paint", "--preview=off", NULL };

		parse(&r, &paint, argv);
		assert_string_equal(r.args[0], "off");
		run_free(&r);
	}
}

/* ---- bad input: one line each, naming the command ---------------------------------------------
 */

static void test_unknown_options_suggest_the_closest(void **state)
{
	struct run r;

	(void)state;
	{
		char *argv[] = { "paint", "--jsno", NULL };

		parse(&r, &paint, argv);
		assert_int_equal(r.ids[r.n - 1], -1);
		assert_string_equal(
			r.err, "imagen: paint: unknown option '--jsno' (did you mean '--json'?)\n");
		run_free(&r);
	}
	{
		/* the common options are candidates too; the value after '=' is not part of it */
		char *argv[] = { "paint", "--confg=/x", NULL };

		parse(&r, &paint, argv);
		assert_string_equal(
			r.err,
			"imagen: paint: unknown option '--confg=/x' (did you mean '--config'?)\n");
		run_free(&r);
	}
	{
		char *argv[] = { "paint", "--zzzzzz", NULL };

		parse(&r, &paint, argv);
		assert_string_equal(r.err, "imagen: paint: unknown option '--zzzzzz' (see imagen "
					   "help paint)\n");
		run_free(&r);
	}
	{
		char *argv[] = { "paint", "-x", NULL };

		parse(&r, &paint, argv);
		assert_int_equal(r.ids[r.n - 1], -1);
		assert_string_equal(r.err,
				    "imagen: paint: unknown option '-x' (see imagen help paint)\n");
		run_free(&r);
	}
}

static void test_missing_value(void **state)
{
	char *argv[] = { "paint", "x", "--count", NULL };
	struct run r;

	(void)state;
	parse(&r, &paint, argv);
	assert_int_equal(r.ids[r.n - 1], -1);
	assert_string_equal(r.err, "imagen: paint: option '--count' needs a value\n");
	run_free(&r);
}

static void test_parse_int(void **state)
{
	long long v = 7;
	FILE *t;
	int saved;
	char *err;

	(void)state;
	assert_int_equal(cli_parse_int("--count", "16", 1, 16, &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(cli_parse_int("--seed", "-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	saved = redirect_fd(2, &t);
	v = 7;
	assert_int_equal(cli_parse_int("--count", "17", 1, 16, &v), -1);
	assert_int_equal(cli_parse_int("--count", "", 1, 16, &v), -1);
	assert_int_equal(cli_parse_int("--count", "3x", 1, 16, &v), -1);
	assert_int_equal(cli_parse_int("--count", " 3", 1, 16, &v), -1);
	assert_int_equal(cli_parse_int("--count", "99999999999999999999", 1, 16, &v), -1);
	err = restore_fd(2, saved, t);
	assert_int_equal(v, 7); /* untouched on failure */
	assert_non_null(strstr(err, "imagen: --count: invalid value '17' (expected an integer "
				    "from 1 to 16)\n"));
	assert_non_null(strstr(err, "invalid value ' 3'"));
	free(err);
}

/* ---- help ---------------------------------------------------------------------------------- */

static void test_help_comes_from_the_table(void **state)
{
	char *argv[] = { "paint", "-h", "ignored", NULL };
	struct run r;

	(void)state;
	parse(&r, &paint, argv);
	assert_int_equal(r.ids[r.n - 1], -2); /* the command exits 0 */
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "usage: imagen paint [options] PROMPT\n\npaint a picture\n"));
	assert_non_null(strstr(r.out, "\nPaints it.\nTwice.\n"));
	assert_non_null(strstr(r.out, "  -n, --count N             how many\n"));
	assert_non_null(strstr(r.out, "      --preview[=auto|on|off]"));
	assert_non_null(strstr(r.out, "\ncommon options:\n  -c, --config FILE"));
	run_free(&r);

	/* a command without options has no "options:" block, and no description line */
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		assert_non_null(f);
		cli_print_command_help(f, &bare);
		fclose(f);
		assert_non_null(strstr(buf, "usage: imagen bare\n\nno options\n\ncommon options:"));
		assert_null(strstr(buf, "\noptions:"));
		free(buf);
	}
}

static void test_command_table(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_ptr_equal(cli_find_command("paint"), &paint);
	assert_ptr_equal(cli_find_command("bare"), &bare);
	assert_null(cli_find_command("pain"));
	assert_null(cli_find_command(""));
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	cli_print_help(f);
	fclose(f);
	assert_non_null(strstr(buf, "\n  paint       paint a picture\n  bare        no options\n"));
	assert_non_null(strstr(buf, "exit status: 0 success"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_in_any_order_and_operands),
		cmocka_unit_test(test_common_options_are_taken_by_the_parser),
		cmocka_unit_test(test_optional_value_in_the_next_word),
		cmocka_unit_test(test_unknown_options_suggest_the_closest),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_help_comes_from_the_table),
		cmocka_unit_test(test_command_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
