/* cmd-show.c - imagen show FILE...: preview existing images the way generate does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "core/config.h"
#include "cli/preview.h"

static const struct opt_spec show_opts[] = {
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

/* A file that is there and readable: the viewer gets nothing it cannot open. */
static int check_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || access(path, R_OK) < 0) {
		cli_error("show: %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		cli_error("show: %s: not a regular file", path);
		return -1;
	}
	return 0;
}

/* -v: what `imagen inspect` prints, one -v less (so -vv adds inspect's own -v). */
static void print_metadata(struct global_opts *g, const char *path)
{
	struct global_opts ig = *g;
	char *argv[] = { "inspect", "--", (char *)path, NULL };

	ig.verbose = g->verbose - 1;
	fflush(stdout);
	(void)commands_inspect.exec(&ig, 3, argv);
	fflush(stdout);
}

static int cmd_show(struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	const char *arg, **paths;
	size_t n = 0, k;
	int c, i, first, rc = 0;

	if (cli_begin(&p, &commands_show, g, argc, argv) < 0)
		return 2;
	while ((c = cli_next(&p, &arg)) != 0) {
		if (c == -1 || c == -2) {
			cli_end(&p);
			return c == -1 ? 2 : 0;
		}
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (first >= argc) {
		cli_error("show: which image? (imagen show FILE.png)");
		return 2;
	}
	if (config_load(&cfg, g->config_path, &err) < 0) {
		cli_error("%s", err.msg);
		return 2;
	}
	paths = calloc((size_t)(argc - first), sizeof(*paths));
	if (!paths) {
		cli_error("out of memory");
		config_free(cfg);
		return 2;
	}
	for (i = first; i < argc; i++) {
		if (check_file(argv[i]) < 0)
			rc = 1;
		else
			paths[n++] = argv[i];
	}
	if (g->verbose) {
		/* each image under its own metadata */
		for (k = 0; k < n; k++) {
			print_metadata(g, paths[k]);
			if (preview_show(cfg, &paths[k], 1))
				rc = 1;
		}
	} else if (n && preview_show(cfg, paths, n)) {
		rc = 1;
	}
	free(paths);
	config_free(cfg);
	return rc;
}

const struct cmd_entry commands_show = {
	"show",
	"FILE...",
	"preview images in a tmux window or inline in the terminal",
	"Shows each FILE the way generate previews a new image: inside tmux in a new\n"
	"window running the viewer (preview.command, else tmux-img, chafa or timg), else\n"
	"drawn under the output (kitty, iTerm2 or sixel graphics where the terminal has\n"
	"them, Unicode symbols otherwise).  -v first prints the metadata as inspect does.\n"
	"Exit 1 when a file cannot be read or shown.",
	show_opts,
	cmd_show,
};
