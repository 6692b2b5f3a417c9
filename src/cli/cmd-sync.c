/* cmd-sync.c - imagen sync [FILE...] | --status: retry the outbox, backfill older images. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/term.h"
#include "cloud/cloud.h"
#include "cli/cmds.h"
#include "cli/listing.h"
#include "core/config.h"
#include "cloud/outbox.h"
#include "util/env.h"

enum { OPT_STATUS = 1000, OPT_JSON };

static const struct opt_spec sync_opts[] = {
	{ OPT_STATUS, "status", 0, ARG_NONE, NULL, "list the images waiting in the outbox",
	  HINT_NONE, NULL },
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print JSON for machines", HINT_NONE, NULL },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

static int show_status(const char *outbox, int json)
{
	struct err err = ERR_INIT;
	json_t *items = NULL, *it, *o;
	const char *last, *up;
	size_t i, n;

	if (outbox_load(&items, outbox, &err) < 0) {
		cli_error("%s", err.msg);
		return 1;
	}
	n = json_array_size(items);
	if (json) {
		o = json_pack("{s:s, s:I, s:O}", "outbox", outbox, "pending", (json_int_t)n,
			      "items", items);
		cli_print_json(stdout, o, JSON_COMPACT);
		json_decref(o);
		json_decref(items);
		return 0;
	}
	if (!n)
		cli_print(stdout, "nothing pending (%s)\n", outbox);
	else
		cli_print(stdout, "%zu pending (%s)\n", n, outbox);
	json_array_foreach (items, i, it) {
		last = json_string_value(json_object_get(it, "last_error"));
		up = json_string_value(json_object_get(it, "uploaded_sha256"));
		cli_print(stdout,
			  "%s\n  storage path %s, queued %s, %lld attempt%s%s\n  last error: %s\n",
			  json_string_value(json_object_get(it, "image")),
			  json_string_value(json_object_get(it, "storage_path"))
				  ? json_string_value(json_object_get(it, "storage_path"))
				  : "(unknown)",
			  json_string_value(json_object_get(it, "queued_at"))
				  ? json_string_value(json_object_get(it, "queued_at"))
				  : "?",
			  (long long)json_integer_value(json_object_get(it, "attempts")),
			  json_integer_value(json_object_get(it, "attempts")) == 1 ? "" : "s",
			  up ? ", upload landed" : "", last && *last ? last : "(none)");
	}
	json_decref(items);
	return 0;
}

/* Sync one image; queued: whether it came from the outbox.  Returns 0 when it synced. */
static int sync_one(const struct cloud_conn *c, const char *outbox, const json_t *pending,
		    const char *path, int queued, struct global_opts *g, int json)
{
	struct cloud_item it;
	struct cloud_result res;
	struct err err = ERR_INIT, qerr = ERR_INIT;
	const json_t *entry;
	json_t *e, *o;
	char line[1400];
	int still_queued = 0, keep, rc = 1;

	memset(&res, 0, sizeof(res));
	if (cloud_item_load(&it, path, &err) < 0) {
		snprintf(line, sizeof(line), "%s", err.msg);
		/* a queued image that is gone or can no longer sync leaves the queue: retrying
		 * cannot help; the message says so.  One that could not be read this time
		 * (permissions, I/O) stays. */
		keep = queued && err.kind != ERR_KIND_INPUT;
		if (keep)
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 "; still queued");
		else if (queued && outbox_remove(outbox, path, NULL, &qerr) == 0)
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 "; dropped from the outbox");
		if (!g->quiet)
			cli_error("cloud sync: %s", line);
		if (json) {
			o = json_pack("{s:s, s:s, s:s, s:b}", "image", path, "status", "failed",
				      "error", err.msg, "queued", keep);
			cli_print_json(stdout, o, JSON_COMPACT);
			json_decref(o);
		}
		return 1;
	}
	/* an earlier attempt whose upload of these very bytes landed needs no second upload */
	entry = outbox_find(pending, it.image);
	if (cloud_sync_item(c, &it, json_string_value(json_object_get(entry, "uploaded_sha256")),
			    &res, &err) == 0) {
		if (outbox_remove(outbox, it.image, NULL, &qerr) < 0 && !g->quiet)
			cli_error("cloud sync: %s synced, but %s", it.storage_path, qerr.msg);
		listing_synced(it.image, it.storage_path, g->quiet); /* synced:yes in search */
		if (json) {
			o = cloud_result_json(c, &it, &res, NULL, 0);
			json_object_set_new(o, "image", json_string(it.image));
			cli_print_json(stdout, o, JSON_COMPACT);
			json_decref(o);
		} else if (!g->quiet) {
			cli_print(stdout, "%s -> %s/%s\n", it.image, c->bucket, it.storage_path);
		}
		rc = 0;
		goto out;
	}
	snprintf(line, sizeof(line), "%s", err.msg);
	e = cloud_outbox_entry(it.image, &it, &res, err.msg);
	if (e && outbox_put(outbox, e, &qerr) == 0) {
		still_queued = 1;
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "; %s",
			 queued || entry ? "still queued" : "queued for imagen sync");
	} else {
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "; not queued: %s",
			 e ? qerr.msg : "out of memory");
	}
	json_decref(e);
	if (!g->quiet)
		cli_error("cloud sync: %s", line);
	if (json) {
		o = cloud_result_json(c, &it, &res, err.msg, still_queued);
		json_object_set_new(o, "image", json_string(it.image));
		cli_print_json(stdout, o, JSON_COMPACT);
		json_decref(o);
	}
out:
	cloud_item_release(&it);
	return rc;
}

static int cmd_sync(struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	struct config *cfg = NULL;
	struct cloud_conn c;
	struct term term;
	struct ev_sink sink;
	struct err err = ERR_INIT;
	const char *arg;
	char *outbox = NULL;
	json_t *pending = NULL, *it;
	int status = 0, json = 0, rc = 0, opt, first, have_conn = 0;
	size_t i;

	term_init(&term, g->quiet, g->verbose);

	if (cli_begin(&p, &commands_sync, g, argc, argv) < 0)
		return 2;
	while (!rc && (opt = cli_next(&p, &arg)) != 0) {
		if (opt == -1)
			rc = 2;
		else if (opt == -2)
			rc = -1;
		else if (opt == OPT_STATUS)
			status = 1;
		else if (opt == OPT_JSON)
			json = 1;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (status && first < argc) {
		cli_error("sync: --status takes no FILE");
		return 2;
	}
	if (outbox_path(&outbox, env_process(), &err) < 0) {
		cli_error("%s", err.msg);
		return 2;
	}
	if (status) {
		rc = show_status(outbox, json);
		goto out;
	}

	rc = 2;
	if (config_load(&cfg, g->config_path, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	/* asked for explicitly: runs whatever output.cloud_sync says, but needs the cloud
	 * section, the key and the owner */
	if (cloud_connect(&c, cfg, env_process(), CLOUD_NEED_OWNER, &err) < 0) {
		cli_error("cloud sync: %s", err.msg);
		goto out;
	}
	have_conn = 1;
	sink = term_sink(&term);
	c.events = &sink; /* -v: one line per request */
	if (outbox_load(&pending, outbox, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	rc = 0;
	if (first < argc) {
		for (i = (size_t)first; i < (size_t)argc; i++)
			if (sync_one(&c, outbox, pending, argv[i], 0, g, json))
				rc = 1;
	} else {
		if (!json_array_size(pending) && !g->quiet && !json)
			cli_print(stdout, "nothing pending (%s)\n", outbox);
		json_array_foreach (pending, i, it) {
			if (sync_one(&c, outbox, pending,
				     json_string_value(json_object_get(it, "image")), 1, g, json))
				rc = 1;
		}
	}
out:
	term_release(&term);
	if (have_conn)
		cloud_close(&c);
	json_decref(pending);
	config_free(cfg);
	free(outbox);
	if (fflush(stdout) != 0 && rc == 0)
		rc = 1;
	return rc;
}

const struct cmd_entry commands_sync = {
	"sync",
	"[--status] [--json] [FILE...]",
	"upload images to Supabase: retry the outbox, or sync the given images",
	"Without FILE, retries every image whose cloud sync failed earlier (the outbox,\n"
	"$XDG_STATE_HOME/imagen/outbox.json), removing each one that syncs.  With FILE...,\n"
	"syncs those images (backfill of older images), reading each one's sidecar or the\n"
	"PNG's imagen chunk.  Needs the cloud section, the key and owner_user_id, whatever\n"
	"output.cloud_sync says.  --status lists what is pending.  Exit status 0 when\n"
	"everything synced, 1 when something failed (it stays queued), 2 on a usage or\n"
	"configuration error.",
	sync_opts,
	cmd_sync,
};
