/* cmd-info.c - imagen backends, imagen styles, imagen version: what is configured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "core/config.h"

enum { OPT_JSON = 1000, OPT_CHECK };

static const struct opt_spec json_opts[] = {
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print JSON", HINT_NONE, NULL },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

static const struct opt_spec backends_opts[] = {
	{ OPT_CHECK, "check", 0, ARG_NONE, NULL,
	  "ask every instance whether it is up (exit 1 when one is not)", HINT_NONE },
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print JSON", HINT_NONE },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

/* Shared front half: parse --json, reject operands, load the config. */
static int begin(const struct cmd_entry *cmd, struct global_opts *g, int argc, char **argv,
		 int *json, int *check, struct config **cfg)
{
	struct cli_parser p;
	struct err err = ERR_INIT;
	const char *arg;
	int c, first;

	*json = 0;
	*cfg = NULL;
	if (cli_begin(&p, cmd, g, argc, argv) < 0)
		return 2;
	while ((c = cli_next(&p, &arg)) != 0) {
		if (c == -1 || c == -2) {
			cli_end(&p);
			return c == -1 ? 2 : -1;
		}
		if (c == OPT_JSON)
			*json = 1;
		if (c == OPT_CHECK && check)
			*check = 1;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (first < argc) {
		cli_error("%s: unexpected argument '%s'", cmd->name, argv[first]);
		return 2;
	}
	if (config_load(cfg, g->config_path, &err) < 0) {
		cli_error("%s", err.msg);
		return 2;
	}
	return 0;
}

/* o as indented JSON on stdout (takes its reference); 1 when it could not be made. */
static int print_json(json_t *o)
{
	int rc = o && cli_print_json(stdout, o, JSON_INDENT(2)) == 0 ? 0 : 1;

	json_decref(o);
	return rc;
}

/* One instance: open (credentials from the environment), ask, close. */
static int check_one(const struct cfg_backend *cb, char *why, size_t size)
{
	struct backend *be = NULL;
	struct err err = ERR_INIT;
	int rc = 0;

	if (cb->ops->open(&be, cb->name, cb->cfg, &err) < 0 ||
	    (be->ops->check && be->ops->check(be, &err) < 0)) {
		snprintf(why, size, "%s", err.msg);
		rc = -1;
	}
	if (be)
		be->ops->close(be);
	return rc;
}

/* A pool is up when a member is; its members are checked first (file order does not
 * say so). */
static int check_backends(const struct config *cfg, int json)
{
	char(*why)[sizeof(((struct err *)0)->msg)] =
		calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*why));
	int *up = calloc(cfg->nbackends ? cfg->nbackends : 1, sizeof(*up)), down = 0;
	json_t *arr = json_array();
	size_t i, k;

	if (!why || !up || !arr) {
		free(why);
		free(up);
		json_decref(arr);
		cli_error("out of memory");
		return 1;
	}
	for (i = 0; i < cfg->nbackends; i++)
		if (cfg->backends[i].ops)
			up[i] = check_one(&cfg->backends[i], why[i], sizeof(why[i])) == 0;
	for (i = 0; i < cfg->nbackends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];
		const json_t *m;
		int n = 0, nup = 0;

		if (b->ops)
			continue;
		json_array_foreach (json_object_get(b->slice, "members"), k, m) {
			const char *name = json_is_object(m)
						   ? json_string_value(json_object_get(m, "name"))
						   : json_string_value(m);
			const struct cfg_backend *mc = name ? config_backend(cfg, name) : NULL;

			n++;
			nup += mc && up[mc - cfg->backends];
		}
		up[i] = nup > 0;
		snprintf(why[i], sizeof(why[i]), "%d of %d members up", nup, n);
	}
	if (!json)
		printf("%-20s %-12s %-6s %s\n", "INSTANCE", "TYPE", "STATUS", "DETAIL");
	for (i = 0; i < cfg->nbackends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];

		down += !up[i];
		if (json)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:s?}", "name",
							     b->name, "type", b->type, "up", up[i],
							     "detail", why[i][0] ? why[i] : NULL));
		else
			printf("%-20s %-12s %-6s %s\n", b->name, b->type, up[i] ? "up" : "down",
			       why[i]);
	}
	if (json)
		print_json(arr);
	else
		json_decref(arr);
	free(why);
	free(up);
	return down ? 1 : 0;
}

static int cmd_backends(struct global_opts *g, int argc, char **argv)
{
	const struct backend_ops *const *types = backend_types();
	struct config *cfg;
	struct err err = ERR_INIT;
	const char *def;
	enum origin from;
	json_t *o, *inst, *tarr;
	size_t i;
	int json, check = 0, rc = begin(&commands_backends, g, argc, argv, &json, &check, &cfg);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (check) {
		rc = check_backends(cfg, json);
		config_free(cfg);
		return rc;
	}
	/* the default is what generate would pick without -b (a string: cannot fail) */
	config_resolve(&def, &from, cfg, config_option("defaults.backend"), NULL, FROM_FLAG,
		       env_process(), &err);
	if (json) {
		inst = json_array();
		tarr = json_array();
		for (i = 0; i < cfg->nbackends; i++)
			json_array_append_new(inst, json_pack("{s:s, s:s, s:b, s:b}", "name",
							      cfg->backends[i].name, "type",
							      cfg->backends[i].type, "default",
							      !strcmp(cfg->backends[i].name, def),
							      "builtin", !cfg->backends[i].node));
		for (i = 0; types[i]; i++)
			json_array_append_new(tarr, json_pack("{s:s, s:s}", "type", types[i]->type,
							      "summary", types[i]->summary));
		o = json_pack("{s:o, s:o}", "instances", inst, "types", tarr);
		rc = print_json(o);
	} else {
		printf("%-20s %-12s %s\n", "INSTANCE", "TYPE", "NOTES");
		for (i = 0; i < cfg->nbackends; i++) {
			const struct cfg_backend *b = &cfg->backends[i];
			int is_def = !strcmp(b->name, def);

			printf("%-20s %-12s %s%s%s\n", b->name, b->type, b->node ? "" : "built-in",
			       is_def && !b->node ? ", " : "", is_def ? "default" : "");
		}
		printf("\nadapter types compiled in:\n");
		for (i = 0; types[i]; i++)
			printf("  %-12s %s\n", types[i]->type, types[i]->summary);
	}
	config_free(cfg);
	return rc;
}

const struct cmd_entry commands_backends = {
	"backends",
	"[--check] [--json]",
	"list configured backend instances and adapter types",
	"--check asks each instance whether it is up (ComfyUI GET /system_stats, A1111 GET\n"
	"/sdapi/v1/options, OpenAI GET /v1/models, Replicate GET /v1/account; the mock is\n"
	"always up); a pool is up when one of its members is.",
	backends_opts,
	cmd_backends,
};

static int cmd_styles(struct global_opts *g, int argc, char **argv)
{
	struct config *cfg;
	json_t *arr;
	size_t i;
	int json, rc = begin(&commands_styles, g, argc, argv, &json, NULL, &cfg);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (json) {
		arr = json_array();
		json_array_append_new(arr,
				      json_pack("{s:s, s:s, s:b}", "name", "none", "suffix", "",
						"default", !strcmp(cfg->default_style, "none")));
		for (i = 0; i < cfg->nstyles; i++)
			json_array_append_new(
				arr, json_pack("{s:s, s:s, s:b}", "name", cfg->styles[i].name,
					       "suffix", cfg->styles[i].suffix, "default",
					       !strcmp(cfg->default_style, cfg->styles[i].name)));
		rc = print_json(arr);
	} else {
		printf("%-16s %s%s\n", "none", "(no suffix)",
		       strcmp(cfg->default_style, "none") ? "" : "  [default]");
		for (i = 0; i < cfg->nstyles; i++)
			cli_print(stdout, "%-16s %s%s\n", cfg->styles[i].name,
				  cfg->styles[i].suffix,
				  strcmp(cfg->default_style, cfg->styles[i].name) ? ""
										  : "  [default]");
	}
	config_free(cfg);
	return rc;
}

const struct cmd_entry commands_styles = {
	"styles", "[--json]", "list style presets and their suffixes", NULL, json_opts, cmd_styles,
};

static int cmd_version(struct global_opts *g, int argc, char **argv)
{
	(void)g;
	(void)argv;
	if (argc > 1 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) {
		cli_error("version: unexpected argument '%s'", argv[1]);
		return 2;
	}
	printf("imagen %s\n", IMAGEN_VERSION);
	return 0;
}

const struct cmd_entry commands_version = {
	"version", "", "print the version", NULL, NULL, cmd_version,
};
