/* cmd-stats.c - imagen stats [QUERY]: images and cost per backend, model and period. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/listing.h"

enum { OPT_JSON = 1000, OPT_BY };

#define MODELS_SHOWN 15

static const struct opt_spec stats_opts[] = {
	{ OPT_BY, "by", 0, ARG_REQUIRED, "month|day", "the period to count by (default month)",
	  HINT_NONE },
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print JSON for machines", HINT_NONE },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

static void section(const json_t *rows, const char *title, const char *key, size_t max)
{
	const json_t *r;
	size_t i;

	printf("\nby %s\n", title);
	json_array_foreach (rows, i, r) {
		const char *name = json_string_value(json_object_get(r, key));

		if (max && i == max) {
			printf("  ... %zu more (--json lists them all)\n",
			       json_array_size(rows) - max);
			break;
		}
		fputs("  ", stdout);
		/* names come from files other tools wrote: shown escaped, cut to a column */
		printf("%*s", 32 - listing_put(stdout, name ? name : "(none)", 32), "");
		printf("  %8lld  $%.2f\n",
		       (long long)json_integer_value(json_object_get(r, "images")),
		       json_real_value(json_object_get(r, "cost_usd")));
	}
}

static int cmd_stats(struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	struct catalog *c = NULL;
	struct err err = ERR_INIT;
	struct query q = { NULL, 0 };
	const char *arg, *by = "month";
	char *text = NULL;
	json_t *st = NULL;
	int opt, first, rc = 0, json = 0;

	/* -blurry is an excluded word, not options */
	listing_mark_negations(argc, argv, "vqh", "c");
	if (cli_begin(&p, &commands_stats, g, argc, argv) < 0)
		return 2;
	while (!rc && (opt = cli_next(&p, &arg)) != 0) {
		if (opt == -1 || opt == -2)
			rc = opt;
		else if (opt == OPT_JSON)
			json = 1;
		else if (opt == OPT_BY)
			by = arg;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (rc)
		return rc == -2 ? 0 : 2;
	if (strcmp(by, "month") && strcmp(by, "day")) {
		cli_error("stats: --by: expected month or day, not '%s'", by);
		return 2;
	}
	text = listing_join(argc, argv, first);
	if (!text || query_parse(&q, text, NULL, &err) < 0) {
		cli_error("stats: %s", text ? err.msg : "out of memory");
		free(text);
		return 2;
	}
	if (catalog_query_resolve(&q, &err) < 0) {
		cli_error("stats: %s", err.msg);
		query_free(&q);
		free(text);
		return err.code == 2 ? 2 : 1;
	}
	rc = 1;
	if (listing_open(&c, "stats", 0) < 0)
		goto out;
	if (catalog_stats(&st, c, &q, time(NULL), by, &err) < 0) {
		cli_error("stats: %s", err.msg);
		goto out;
	}
	if (json) {
		cli_print_json(stdout, st, JSON_COMPACT | JSON_REAL_PRECISION(12));
	} else {
		printf("%lld images, $%.2f\n",
		       (long long)json_integer_value(json_object_get(st, "images")),
		       json_real_value(json_object_get(st, "cost_usd")));
		section(json_object_get(st, "by_backend"), "backend", "backend", 0);
		section(json_object_get(st, "by_model"), "model", "model",
			g->verbose ? 0 : MODELS_SHOWN);
		section(json_object_get(st, !strcmp(by, "day") ? "by_day" : "by_month"), by, by, 0);
	}
	rc = 0;
out:
	json_decref(st);
	query_free(&q);
	free(text);
	catalog_close(c);
	if (fflush(stdout) != 0 && rc == 0)
		rc = 1;
	return rc;
}

const struct cmd_entry commands_stats = {
	"stats",
	"[--json] [--by month|day] [QUERY...]",
	"count images and their cost per backend, model and month",
	"Totals over the catalog, or over the images QUERY finds (as for search): images\n"
	"and cost in USD by backend, by model (the first 15; -v or --json for all) and by\n"
	"month or --by day (local time).",
	stats_opts,
	cmd_stats,
};
