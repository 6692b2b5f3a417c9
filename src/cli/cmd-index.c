/* cmd-index.c - imagen index [DIR...]: bring the catalog up to date with the disk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/scan.h"
#include "cli/cli.h"
#include "cli/term.h"
#include "cli/cmds.h"
#include "cli/listing.h"
#include "core/config.h"
#include "core/output.h"

enum { OPT_REBUILD = 1000, OPT_PRUNE, OPT_JSON };

static const struct opt_spec index_opts[] = {
	{ OPT_PRUNE, "prune", 0, ARG_NONE, NULL, "forget images whose file is gone", HINT_NONE },
	{ OPT_REBUILD, "rebuild", 0, ARG_NONE, NULL,
	  "make a new catalog from the files (a damaged one is kept aside)", HINT_NONE },
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print the counts as JSON", HINT_NONE },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

struct index_ui {
	struct term term;    /* the progress bar */
	struct ev_sink bar; /* its sink */
	int quiet;
};

/* The terminal's view of the index events: the progress bar, and one line per file that
 * could not be read. */
static void index_emit(const struct ev_sink *sink, const struct ev *ev)
{
	struct index_ui *ui = sink->ctx;

	if (ev->kind == EV_STEPS) {
		ev_steps(&ui->bar, ev->value, ev->max, NULL);
	} else if (ev->kind == EV_LOG && !ui->quiet) {
		term_clear(&ui->term);
		fputs("imagen: index: ", stderr); /* the text names a file: shown escaped */
		listing_put(stderr, ev->text, 0);
		fputc('\n', stderr);
	}
}

/* The output directory, as generate would write to it. */
static int default_dir(char **out, struct global_opts *g)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	const char *env = getenv("IMAGEN_OUTPUT_DIR");

	if (config_load(&cfg, g->config_path, &err) < 0) {
		cli_error("%s", err.msg);
		return -1;
	}
	if (output_expand_dir(out, env && *env ? env : cfg->output_dir, &err) < 0) {
		cli_error("index: %s", err.msg);
		config_free(cfg);
		return -1;
	}
	config_free(cfg);
	return 0;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void report(const struct scan_stats *st, double secs, int json, int prune)
{
	double rate = secs > 0 ? (double)(st->added + st->updated + st->moved) / secs : 0;

	if (json) {
		json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "files",
				      st->files, "added", st->added, "updated", st->updated,
				      "moved", st->moved, "unchanged", st->unchanged, "missing",
				      st->missing, "pruned", st->pruned, "unreadable",
				      st->unreadable, "seconds", secs, "images_per_second", rate);

		cli_print_json(stdout, o, JSON_COMPACT | JSON_REAL_PRECISION(6));
		json_decref(o);
		return;
	}
	printf("%lld image%s: %lld new, %lld changed, %lld moved, %lld unchanged, %lld missing",
	       st->files, st->files == 1 ? "" : "s", st->added, st->updated, st->moved,
	       st->unchanged, st->missing);
	if (prune)
		printf(" (%lld forgotten)", st->pruned);
	if (st->unreadable)
		printf(", %lld unreadable", st->unreadable);
	printf(" in %.2f s", secs);
	if (st->added + st->updated + st->moved)
		printf(" (%.0f images/s)", rate);
	putchar('\n');
}

static int cmd_index(struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	struct catalog *c = NULL;
	struct index_ui ui;
	struct ev_sink sink = { index_emit, &ui, 0, 0 };
	struct scan_opts o = { NULL, 0, 0, &sink };
	struct scan_stats st;
	struct err err = ERR_INIT;
	struct timespec t0;
	struct stat sb;
	const char *arg, **dirs = NULL;
	char *path = NULL, *dflt = NULL, *kept = NULL;
	int opt, first, rc = 0, rebuild = 0, json = 0;

	if (cli_begin(&p, &commands_index, g, argc, argv) < 0)
		return 2;
	while (!rc && (opt = cli_next(&p, &arg)) != 0) {
		if (opt == -1 || opt == -2)
			rc = opt;
		else if (opt == OPT_PRUNE)
			o.prune = 1;
		else if (opt == OPT_REBUILD)
			rebuild = 1;
		else if (opt == OPT_JSON)
			json = 1;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (rc)
		return rc == -2 ? 0 : 2;
	if (first < argc) {
		o.dirs = (const char **)(argv + first);
		o.ndirs = (size_t)(argc - first);
	} else {
		if (default_dir(&dflt, g) < 0)
			return 2;
		if (stat(dflt, &sb) < 0 && errno == ENOENT && !rebuild) {
			if (!g->quiet)
				cli_error("index: %s does not exist yet: nothing to index", dflt);
			free(dflt);
			return 0;
		}
		dirs = calloc(1, sizeof(*dirs));
		if (!dirs) {
			free(dflt);
			return 1;
		}
		dirs[0] = dflt;
		o.dirs = dirs;
		o.ndirs = stat(dflt, &sb) == 0 ? 1 : 0;
	}
	memset(&ui, 0, sizeof(ui));
	ui.quiet = g->quiet;
	term_init(&ui.term, g->quiet || json, g->verbose);
	ui.bar = term_sink(&ui.term);
	{
		struct ev start = { .kind = EV_JOB_START, .text = "index" };

		ev_emit(&ui.bar, &start);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = 1;
	if (rebuild) {
		if (catalog_default_path(&path, env_process(), &err) < 0 ||
		    catalog_rebuild(&c, path, &o, &st, &kept, &err) < 0) {
			term_clear(&ui.term);
			cli_error("index: %s", err.msg);
			rc = err.code == 2 ? 2 : 1;
			goto out;
		}
	} else {
		if (listing_open(&c, "index", 1) < 0)
			goto out;
		if (catalog_scan(c, &o, &st, &err) < 0) {
			term_clear(&ui.term);
			cli_error("index: %s", err.msg);
			rc = err.code == 2 ? 2 : 1;
			goto out;
		}
	}
	term_clear(&ui.term);
	if (kept && !g->quiet)
		cli_error("index: the damaged catalog is kept as %s", kept);
	if (!g->quiet || json)
		report(&st, seconds_since(&t0), json, o.prune);
	rc = 0;
out:
	term_release(&ui.term);
	catalog_close(c);
	free(path);
	free(kept);
	free(dflt);
	free(dirs);
	if (fflush(stdout) != 0 && rc == 0)
		rc = 1;
	return rc;
}

const struct cmd_entry commands_index = {
	"index",
	"[--prune] [--rebuild] [--json] [DIR...]",
	"catalog the images in DIR (default: the output directory)",
	"Reads every PNG, JPEG and WebP file under DIR whose size or modification time\n"
	"changed since the last run: imagen's sidecars and PNG chunks, and what other tools\n"
	"wrote (A1111/Forge parameters in PNG text or JPEG/WebP EXIF, ComfyUI prompt and\n"
	"workflow, InvokeAI, NovelAI).  A file moved or renamed is found again by its\n"
	"sha256 (its tags and rating follow it); images whose file is gone are marked\n"
	"missing (search missing:yes), and --prune forgets them.  --rebuild makes a new\n"
	"catalog from the files on disk, for a damaged one (kept as catalog.db.damaged).\n"
	"The catalog: $IMAGEN_CATALOG, else $XDG_DATA_HOME/imagen/catalog.db.",
	index_opts,
	cmd_index,
};
