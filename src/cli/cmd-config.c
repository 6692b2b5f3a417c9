/* cmd-config.c - imagen config validate|show|init|path. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batch/runner.h"
#include "cli/cli.h"
#include "cli/cmds.h"
#include "core/config.h"
#include "core/output.h"
#include "util/buf.h"
#include "util/env.h"

enum { OPT_STDOUT = 1000 };

static const struct opt_spec config_opts[] = {
	{ OPT_STDOUT, "stdout", 0, ARG_NONE, NULL, "init: print the sample instead of writing it",
	  HINT_NONE, NULL },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

static int cmd_validate(struct global_opts *g, const char *file)
{
	struct batch_targets *targets = NULL;
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	char warn[2048], *line, *save = NULL;
	int rc;

	rc = file ? config_load_file(&cfg, file, &err) : config_load(&cfg, g->config_path, &err);
	/* concurrency and pools are the batch engine's to check */
	if (rc == 0 && (rc = batch_targets_from_config(&targets, cfg, &err)) == 0)
		batch_targets_free(targets);
	if (rc < 0) {
		cli_error("%s", err.msg);
		config_free(cfg);
		return 2;
	}
	if (config_warnings(cfg, warn, sizeof(warn)) && !g->quiet)
		for (line = strtok_r(warn, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			cli_error("warning: %s: %s", cfg->display, line);
	if (!g->quiet) {
		/* the built-in mock is counted apart: it is there whatever the file says */
		size_t n = config_backends_configured(cfg);
		int builtin = n < cfg->nbackends;

		printf("%s: valid (", cfg->display);
		if (n)
			printf("%zu backend%s configured%s", n, n == 1 ? "" : "s",
			       builtin ? " + the built-in mock" : "");
		else
			printf("the built-in mock only");
		printf(", %zu style%s)\n", cfg->nstyles, cfg->nstyles == 1 ? "" : "s");
	}
	config_free(cfg);
	return 0;
}

/* Values under keys that name a secret are never shown; *_env keys only name a variable. */
static int secret_key(const char *key)
{
	static const char *const words[] = { "key",    "token", "secret",     "password",
					     "passwd", "auth",  "credential", NULL };
	size_t i, len = strlen(key);

	if (len > 4 && !strcasecmp(key + len - 4, "_env"))
		return 0;
	for (i = 0; words[i]; i++)
		if (strcasestr(key, words[i]))
			return 1;
	return 0;
}

static void print_scalar(const json_t *v, int redact)
{
	char *s;

	if (redact) {
		fputs("\"<redacted>\"", stdout);
		return;
	}
	if (json_is_string(v)) {
		const char *str = json_string_value(v), *at = strchr(str, '@'),
			   *scheme = strstr(str, "://");

		/* user:password@ inside a URL is a secret too */
		if (scheme && at && memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) &&
		    !memchr(scheme + 3, '/', (size_t)(at - scheme - 3))) {
			const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));

			printf("\"%.*s<redacted>%s\"", (int)(colon + 1 - str), str, at);
			return;
		}
	}
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	fputs(s ? s : "null", stdout);
	free(s);
}

static void print_yaml(const json_t *v, int indent)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach ((json_t *)v, key, val) {
			printf("%*s%s:", indent, "", key);
			if ((json_is_object(val) && json_object_size(val)) ||
			    (json_is_array(val) && json_array_size(val))) {
				putchar('\n');
				print_yaml(val, indent + 2);
			} else {
				putchar(' ');
				if (json_is_object(val))
					fputs("{}", stdout);
				else if (json_is_array(val))
					fputs("[]", stdout);
				else
					print_scalar(val, secret_key(key));
				putchar('\n');
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, val) {
			printf("%*s- ", indent, "");
			print_scalar(val, 0);
			putchar('\n');
		}
	}
}

static void show_line(int indent, const char *key, const char *val, enum origin from)
{
	json_t *s = json_string(val);

	printf("%*s%s: ", indent, "", key);
	print_scalar(s, 0);
	if (from != FROM_DEFAULT && from != FROM_CONFIG)
		printf("    # from %s", origin_name(from));
	putchar('\n');
	json_decref(s);
}

/* One key of the options table, after precedence (its flags are not on this command
 * line): strings and modes quoted, booleans bare. */
static int show_option(const struct config *cfg, const struct cfg_option *o, struct err *err)
{
	const char *val, *leaf = strchr(o->key, '.') + 1;
	enum origin from;

	if (config_resolve(&val, &from, cfg, o, NULL, FROM_FLAG, env_process(), err) < 0)
		return -1;
	if (!*val && o->unset)
		printf("  # %s: %s\n", leaf, o->unset);
	else if (o->type == CFG_STRING || o->type == CFG_MODE)
		show_line(2, leaf, val, from);
	else
		printf("  %s: %s\n", leaf, val);
	return 0;
}

static int cmd_show(struct global_opts *g)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	struct overrides ov = { NULL, FROM_FLAG, NULL, -1, -1 };
	const struct cfg_section *sec;
	const struct cfg_option *o;
	struct settings st;
	size_t i;
	int rc = 0;

	/* settings_resolve refuses what generate would (a bad variable, sync on without a
	 * usable cloud section) */
	if (config_load(&cfg, g->config_path, &err) < 0 ||
	    settings_resolve(&st, cfg, &ov, env_process(), &err) < 0) {
		cli_error("%s", err.msg);
		config_free(cfg);
		return 2;
	}
	printf("# effective configuration: %s\n"
	       "# precedence: flag > environment > config file > built-in default\n",
	       cfg->display);
	for (sec = config_sections; !rc && sec->name; sec++) {
		if (sec->optional && !config_has_section(cfg, sec->name))
			continue;
		switch (sec->kind) {
		case CFG_SECTION_OPTIONS:
			printf("%s:\n", sec->name);
			for (o = config_options; !rc && o->key; o++)
				if (!strncmp(o->key, sec->name, strlen(sec->name)) &&
				    o->key[strlen(sec->name)] == '.')
					rc = show_option(cfg, o, &err);
			break;
		case CFG_SECTION_STYLES:
			printf("styles:%s\n", cfg->nstyles ? "" : " {}");
			for (i = 0; i < cfg->nstyles; i++)
				show_line(2, cfg->styles[i].name, cfg->styles[i].suffix,
					  FROM_CONFIG);
			break;
		case CFG_SECTION_BACKENDS:
			printf("backends:\n");
			for (i = 0; i < cfg->nbackends; i++) {
				printf("  %s:%s\n", cfg->backends[i].name,
				       cfg->backends[i].node ? "" : "    # built-in");
				print_yaml(cfg->backends[i].slice, 4);
			}
			break;
		}
	}
	if (rc)
		cli_error("%s", err.msg);
	config_free(cfg);
	return rc ? 2 : 0;
}

static int cmd_init(struct global_opts *g, int to_stdout)
{
	struct err err = ERR_INIT;
	struct buf sample = BUF_INIT;
	char *path = NULL, *slash;
	int rc = 2, exists;

	if (config_sample(&sample) < 0) {
		cli_error("config init: out of memory");
		return 2;
	}
	if (to_stdout) {
		fwrite(sample.data, 1, sample.len, stdout);
		buf_release(&sample);
		return 0;
	}
	/* the same path every other command would read */
	if (config_find(&path, &exists, g->config_path, env_process(), &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		if (output_mkdirs(path, &err) < 0) {
			cli_error("config init: %s", err.msg);
			goto out;
		}
		*slash = '/';
	}
	if (output_write_new(path, sample.data, sample.len, &err) < 0) {
		if (strstr(err.msg, "already exists"))
			cli_error("config init: %s already exists (not overwritten)", path);
		else
			cli_error("config init: %s", err.msg);
		goto out;
	}
	printf("%s\n", path);
	rc = 0;
out:
	buf_release(&sample);
	free(path);
	return rc;
}

static int cmd_path(struct global_opts *g)
{
	struct err err = ERR_INIT;
	char *path = NULL;
	int exists;

	if (config_find(&path, &exists, g->config_path, env_process(), &err) < 0) {
		cli_error("%s", err.msg);
		return 2;
	}
	printf("%s\n", path);
	if (!exists && !g->quiet)
		cli_error("%s does not exist: the built-in default is in use (imagen config init "
			  "writes a sample)",
			  path);
	free(path);
	return 0;
}

static int cmd_config(struct global_opts *g, int argc, char **argv)
{
	static const char *const subs[] = { "validate", "show", "init", "path", NULL };
	struct cli_parser p;
	const char *arg, *sub;
	int c, to_stdout = 0, rc = 0, first;

	if (cli_begin(&p, &commands_config, g, argc, argv) < 0)
		return 2;
	while ((c = cli_next(&p, &arg)) != 0) {
		if (c == -1 || c == -2) {
			cli_end(&p);
			return c == -1 ? 2 : 0;
		}
		if (c == OPT_STDOUT)
			to_stdout = 1;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (first >= argc) {
		cli_error(
			"config: which one? validate, show, init or path (see imagen help config)");
		return 2;
	}
	sub = argv[first];
	if (!strcmp(sub, "validate")) {
		if (argc - first > 2) {
			cli_error("config validate: too many arguments");
			return 2;
		}
		rc = cmd_validate(g, argc - first == 2 ? argv[first + 1] : NULL);
	} else if (argc - first > 1) {
		cli_error("config %s: unexpected argument '%s'", sub, argv[first + 1]);
		rc = 2;
	} else if (!strcmp(sub, "show")) {
		rc = cmd_show(g);
	} else if (!strcmp(sub, "init")) {
		rc = cmd_init(g, to_stdout);
	} else if (!strcmp(sub, "path")) {
		rc = cmd_path(g);
	} else {
		cli_error("config: unknown subcommand '%s' (expected %s, %s, %s or %s)", sub,
			  subs[0], subs[1], subs[2], subs[3]);
		rc = 2;
	}
	return rc;
}

const struct cmd_entry commands_config = {
	"config",
	"validate [FILE] | show | init [--stdout] | path",
	"check, show or create the configuration",
	"  validate  check the config (or FILE): exit 0 when valid, 2 when not; warnings on "
	"stderr\n"
	"  show      the effective config after precedence, secrets redacted\n"
	"  init      write a commented sample to the config path (never overwrites)\n"
	"  path      print the config path in use",
	config_opts,
	cmd_config,
};
