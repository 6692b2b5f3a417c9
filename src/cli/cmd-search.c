/* cmd-search.c - imagen search QUERY: find images in the catalog. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/listing.h"

#define TABLE_ROWS 50 /* a table for a person: more is what --limit is for */

static const struct opt_spec search_opts[] = {
	LISTING_OPTS,
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

static int cmd_search(struct global_opts *g, int argc, char **argv)
{
	struct listing_args a = { LIST_TABLE, NULL, 0, 0 };
	struct cli_parser p;
	const char *arg;
	long long rows = 0;
	char *query;
	int c, first, rc = 0;

	/* -blurry is an excluded word, not options */
	listing_mark_negations(argc, argv, "vqh0", "nc");
	if (cli_begin(&p, &commands_search, g, argc, argv) < 0)
		return 2;
	while (!rc && (c = cli_next(&p, &arg)) != 0) {
		if (c == -1 || c == -2)
			rc = c;
		else if (listing_option(&a, "search", c, arg) < 0)
			rc = -1;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (rc)
		return rc == -2 ? 0 : 2;
	if (first >= argc) {
		cli_error("search: what? (e.g. imagen search red fox seed:42; imagen ls lists the "
			  "latest)");
		return 2;
	}
	query = listing_join(argc, argv, first);
	if (!query) {
		cli_error("out of memory");
		return 1;
	}
	rc = listing_search("search", query, &a, TABLE_ROWS, &rows);
	free(query);
	if (rc == 0 && !rows)
		rc = 1; /* as grep: nothing matched */
	if (fflush(stdout) != 0 && rc == 0)
		rc = 1;
	return rc;
}

const struct cmd_entry commands_search = {
	"search",
	"[--json|--paths|-0] [--sort ORDER] [-n N] QUERY...",
	"find images in the catalog",
	"Words must all match the prompt, model or tags (\"a phrase\", prefix*, -excluded);\n"
	"filters narrow further: seed:42 seed:100..200 model:flux* backend:NAME style:NAME\n"
	"sampler:NAME type:TYPE tag:NAME source:a1111 format:png path:GLOB sha256:HEX*\n"
	"batch:ID neg:WORD size:1024x1024 width>=1024 height<768 steps:N cfg>5 cost>0.02\n"
	"rating>=4 since:2026-11-01 before:2026-12 date:2026-11-24 since:7d today\n"
	"synced:no missing:yes parent:FILE (made from FILE: an --image or --mask with its\n"
	"content); -FILTER negates one.  Shows a table (the newest 50 unless\n"
	"--limit), --json one record per line, --paths or -0 the paths for xargs.  Exit\n"
	"status 0 when something matched, 1 when nothing did, 2 on a query error (it names\n"
	"the column).  The catalog is kept by generate and imagen index.",
	search_opts,
	cmd_search,
};
