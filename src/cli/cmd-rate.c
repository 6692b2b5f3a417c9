/* cmd-rate.c - imagen rate FILE... N: a rating from 0 (none) to 5. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/listing.h"

static const struct opt_spec rate_opts[] = {
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

static int cmd_rate(struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	struct catalog *c = NULL;
	struct err err = ERR_INIT;
	const char *arg;
	char *abs = NULL;
	long long rating;
	int i, opt, first, rc = 0;

	if (cli_begin(&p, &commands_rate, g, argc, argv) < 0)
		return 2;
	while (!rc && (opt = cli_next(&p, &arg)) != 0)
		if (opt == -1 || opt == -2)
			rc = opt;
	first = cli_optind(&p);
	cli_end(&p);
	if (rc)
		return rc == -2 ? 0 : 2;
	if (argc - first < 2) {
		cli_error("rate: expected FILE... RATING (e.g. imagen rate fox.png 4)");
		return 2;
	}
	if (cli_parse_int("rate: RATING", argv[argc - 1], 0, 5, &rating) < 0)
		return 2;
	if (listing_open(&c, "rate", 1) < 0)
		return 1;
	for (i = first; i < argc - 1; i++) {
		if (catalog_ensure(c, argv[i], &abs, &err) < 0 ||
		    catalog_rate(c, abs, (int)rating, &err) < 0) {
			cli_error("rate: %s", err.msg);
			rc = 1;
		}
		free(abs);
		abs = NULL;
	}
	catalog_close(c);
	return rc;
}

const struct cmd_entry commands_rate = {
	"rate",
	"FILE... RATING",
	"rate images from 1 to 5 (0 clears)",
	"Sets the rating of every FILE (images not catalogued yet are added); find them with\n"
	"imagen search rating>=4, list them best first with --sort rating.",
	rate_opts,
	cmd_rate,
};
