/* main.c - global options, then dispatch through the command table. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/cancel.h"
#include "cli/cmds.h"
#include "net/http.h"
#include "util/suggest.h"

const struct cmd_entry *const commands[] = {
	&commands_generate, &commands_batch,      &commands_config, &commands_backends,
	&commands_styles,   &commands_inspect,    &commands_show,   &commands_search,
	&commands_ls,       &commands_index,      &commands_tag,    &commands_rate,
	&commands_stats,    &commands_sync,       &commands_url,    &commands_version,
	&commands_completion, &commands_help,     NULL,
};

static void unknown_command(const char *context, const char *name);

static int cmd_help(struct global_opts *g, int argc, char **argv)
{
	const struct cmd_entry *cmd;

	(void)g;
	if (argc < 2) {
		cli_print_help(stdout);
		return 0;
	}
	cmd = cli_find_command(argv[1]);
	if (!cmd) {
		unknown_command("help: ", argv[1]);
		return 2;
	}
	cli_print_command_help(stdout, cmd);
	return 0;
}

const struct cmd_entry commands_help = {
	"help", "[COMMAND]", "show help for imagen or one command", NULL, NULL, cmd_help,
};

/* SIGINT/SIGTERM: the first asks for a clean stop (the library sees cancel_requested()),
 * the second exits at once: only the front end may end the process. */
static void on_signal(int sig)
{
	static const char msg[] = "\nimagen: interrupted again, exiting now\n";

	(void)sig;
	if (cancel_raise()) {
		ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);

		(void)n;
		_exit(130);
	}
}

static void signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: a blocking poll/sleep returns EINTR so the stop is noticed at once */
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* "unknown command 'gen' (did you mean 'generate'?)": a typo or an abbreviation. */
static void unknown_command(const char *context, const char *name)
{
	const char *names[32], *hint;
	size_t i;

	for (i = 0; commands[i] && i < 31; i++)
		names[i] = commands[i]->name;
	names[i] = NULL;
	hint = suggest_closest(name, names);
	if (hint)
		cli_error("%sunknown command '%s' (did you mean '%s'?)", context, name, hint);
	else
		cli_error("%sunknown command '%s' (see imagen --help)", context, name);
}

int main(int argc, char **argv)
{
	struct global_opts g = { NULL, 0, 0 };
	const struct cmd_entry *cmd;
	int i;

	/* options before the command apply to it: imagen -c FILE generate … */
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			cli_print_help(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("imagen %s\n", IMAGEN_VERSION);
			return 0;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			g.verbose++;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			g.quiet = 1;
		} else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			if (i + 1 >= argc) {
				cli_error("option '%s' needs a value", a);
				return 2;
			}
			g.config_path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			g.config_path = a + 9;
		} else {
			cli_error("unknown option '%s' (see imagen --help)", a);
			return 2;
		}
	}
	if (i >= argc) {
		cli_print_help(stderr);
		return 2;
	}
	cmd = cli_find_command(argv[i]);
	if (!cmd) {
		unknown_command("", argv[i]);
		return 2;
	}
	signals_install();
#ifdef M_MMAP_THRESHOLD
	/* Image bodies (MiBs each) come and go on many threads at once in a batch.  glibc
	 * raises its mmap threshold after the first such free and then serves them from
	 * per-thread heaps it keeps: a fixed threshold gives them back at once (peak RSS at
	 * --concurrency 16 with 3 MiB images: 128 MiB without, 48 MiB with). */
	mallopt(M_MMAP_THRESHOLD, 512 * 1024);
#endif
	return cmd->exec(&g, argc - i, argv + i);
}
