/* cmd-url.c - imagen url FILE [--expires SECONDS]: a signed URL for an uploaded image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/term.h"
#include "cloud/cloud.h"
#include "cli/cmds.h"
#include "core/config.h"
#include "util/env.h"

enum { OPT_EXPIRES = 1000, OPT_JSON };

#define EXPIRES_DEFAULT 3600
#define EXPIRES_MAX (10LL * 365 * 24 * 3600)

static const struct opt_spec url_opts[] = {
	{ OPT_EXPIRES, "expires", 0, ARG_REQUIRED, "SECONDS", "how long the URL stays valid",
	  HINT_NONE, "3600" },
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print JSON for machines", HINT_NONE, NULL },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

static int cmd_url(struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	struct config *cfg = NULL;
	struct cloud_conn c;
	struct cloud_item it;
	struct term term;
	struct ev_sink sink;
	struct err err = ERR_INIT;
	const char *arg;
	char *url = NULL;
	long long expires = EXPIRES_DEFAULT;
	int json = 0, rc = 0, opt, first, have_conn = 0;
	json_t *o;

	term_init(&term, g->quiet, g->verbose);

	memset(&it, 0, sizeof(it));
	if (cli_begin(&p, &commands_url, g, argc, argv) < 0)
		return 2;
	while (!rc && (opt = cli_next(&p, &arg)) != 0) {
		if (opt == -1)
			rc = 2;
		else if (opt == -2)
			rc = -1;
		else if (opt == OPT_EXPIRES)
			rc = cli_parse_int("--expires", arg, 1, EXPIRES_MAX, &expires) < 0 ? 2 : 0;
		else if (opt == OPT_JSON)
			json = 1;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (argc - first != 1) {
		cli_error("url: expected one FILE (imagen url FILE [--expires SECONDS])");
		return 2;
	}

	rc = 2;
	if (config_load(&cfg, g->config_path, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (cloud_connect(&c, cfg, env_process(), 0, &err) < 0) {
		cli_error("url: %s", err.msg);
		goto out;
	}
	have_conn = 1;
	sink = term_sink(&term);
	c.events = &sink; /* -v: one line per request */
	rc = 1;
	/* the storage path comes from the image and its record, exactly as sync made it */
	if (cloud_item_load(&it, argv[first], &err) < 0 ||
	    cloud_sign_url(&url, &c, it.storage_path, (long)expires, &err) < 0) {
		cli_error("url: %s", err.msg);
		goto out;
	}
	if (json) {
		o = json_pack("{s:s, s:s, s:s, s:I}", "image", it.image, "storage_path",
			      it.storage_path, "url", url, "expires_in", (json_int_t)expires);
		cli_print_json(stdout, o, JSON_COMPACT);
		json_decref(o);
	} else {
		cli_print(stdout, "%s\n", url);
	}
	rc = 0;
out:
	term_release(&term);
	if (have_conn)
		cloud_close(&c);
	cloud_item_release(&it);
	free(url);
	config_free(cfg);
	if (fflush(stdout) != 0 && rc == 0)
		rc = 1;
	return rc;
}

const struct cmd_entry commands_url = {
	"url",
	"[--expires SECONDS] [--json] FILE",
	"print a signed URL for an image uploaded by cloud sync",
	"Asks Supabase Storage to sign the object FILE was uploaded to ({date}/{file name}\n"
	"in cloud.bucket) and prints the full URL on stdout.  Anyone holding it can fetch\n"
	"the image until it expires (--expires, default 3600 seconds): share it with care.\n"
	"Exit status 1 when the object is not there or signing failed.",
	url_opts,
	cmd_url,
};
