/* cmd-ls.c - imagen ls: the latest images in the catalog. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/listing.h"

#define LS_ROWS 20

static const struct opt_spec ls_opts[] = {
	LISTING_OPTS,
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

static int cmd_ls(struct global_opts *g, int argc, char **argv)
{
	struct listing_args a = { LIST_TABLE, NULL, LS_ROWS, 1 };
	struct cli_parser p;
	const char *arg;
	long long rows;
	int c, first, rc = 0;

	if (cli_begin(&p, &commands_ls, g, argc, argv) < 0)
		return 2;
	while (!rc && (c = cli_next(&p, &arg)) != 0) {
		if (c == -1 || c == -2)
			rc = c;
		else if (listing_option(&a, "ls", c, arg) < 0)
			rc = -1;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (rc)
		return rc == -2 ? 0 : 2;
	if (first < argc) {
		cli_error("ls: takes no QUERY (imagen search QUERY finds images)");
		return 2;
	}
	rc = listing_search("ls", "", &a, LS_ROWS, &rows);
	if (fflush(stdout) != 0 && rc == 0)
		rc = 1;
	return rc;
}

const struct cmd_entry commands_ls = {
	"ls",
	"[--json|--paths|-0] [--sort ORDER] [-n N]",
	"list the latest images in the catalog",
	"The newest 20 images (-n N for more, -n 0 for all), as a table, --json records or\n"
	"--paths; --sort as for search.",
	ls_opts,
	cmd_ls,
};
