/* cmd-config.c - imagen config validate|show|init|path. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "core/config.h"
#include "core/output.h"

enum { OPT_STDOUT = 1000 };

static const struct opt_spec config_opts[] = {
	{ OPT_STDOUT, "stdout", 0, ARG_NONE, NULL, "init: print the sample instead of writing it",
	  HINT_NONE, NULL },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

static int cmd_validate(struct global_opts *g, const char *file)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	char warn[2048], *line, *save = NULL;
	int rc;

	rc = file ? config_load_file(&cfg, file, &err) : config_load(&cfg, g->config_path, &err);
	if (rc < 0) {
		cli_error("%s", err.msg);
		return 2;
	}
	if (config_warnings(cfg, warn, sizeof(warn)) && !g->quiet)
		for (line = strtok_r(warn, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			cli_error("warning: %s: %s", cfg->display, line);
	if (!g->quiet)
		printf("%s: valid (%zu backend%s, %zu style%s)\n", cfg->display, cfg->nbackends,
		       cfg->nbackends == 1 ? "" : "s", cfg->nstyles, cfg->nstyles == 1 ? "" : "s");
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

static int cmd_show(struct global_opts *g)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	struct overrides ov = { NULL, FROM_FLAG, NULL, -1, -1 };
	struct settings st;
	size_t i;

	if (config_load(&cfg, g->config_path, &err) < 0 ||
	    settings_resolve(&st, cfg, &ov, (const char *(*)(const char *))getenv, &err) < 0) {
		cli_error("%s", err.msg);
		config_free(cfg);
		return 2;
	}
	printf("# effective configuration: %s\n"
	       "# precedence: flag > environment > config file > built-in default\n",
	       cfg->display);
	printf("defaults:\n");
	show_line(2, "backend", st.backend, st.backend_from);
	show_line(2, "style", cfg->default_style, FROM_CONFIG);
	printf("styles:%s\n", cfg->nstyles ? "" : " {}");
	for (i = 0; i < cfg->nstyles; i++)
		show_line(2, cfg->styles[i].name, cfg->styles[i].suffix, FROM_CONFIG);
	printf("output:\n");
	show_line(2, "directory", st.output_dir, st.output_dir_from);
	show_line(2, "naming", cfg->naming, FROM_CONFIG);
	printf("  write_metadata_json: %s\n", cfg->write_metadata_json ? "true" : "false");
	show_line(2, "cloud_sync", mode_name(st.cloud_sync), st.cloud_sync_from);
	show_line(2, "preview", mode_name(st.preview), st.preview_from);
	printf("preview:\n");
	if (*cfg->preview_command)
		show_line(2, "command", cfg->preview_command, FROM_CONFIG);
	else
		printf("  # command: (the first of tmux-img, chafa, timg on $PATH)\n");
	printf("  focus: %s\n", cfg->preview_focus ? "true" : "false");
	printf("  inline: %s\n", cfg->preview_inline < 0 ? "auto"
				 : cfg->preview_inline   ? "true"
							 : "false");
	if (cfg->has_cloud) {
		printf("cloud:\n");
		show_line(2, "supabase_url", cfg->supabase_url, FROM_CONFIG);
		show_line(2, "service_key_env", cfg->service_key_env, FROM_CONFIG);
		show_line(2, "bucket", cfg->bucket, FROM_CONFIG);
		show_line(2, "owner_user_id", cfg->owner_user_id, FROM_CONFIG);
	}
	printf("backends:\n");
	for (i = 0; i < cfg->nbackends; i++) {
		printf("  %s:%s\n", cfg->backends[i].name,
		       cfg->backends[i].node ? "" : "    # built-in");
		print_yaml(cfg->backends[i].cfg, 4);
	}
	config_free(cfg);
	return 0;
}

static int cmd_init(struct global_opts *g, int to_stdout)
{
	struct err err = ERR_INIT;
	char *path = NULL, *slash;
	int rc = 2, exists;

	if (to_stdout) {
		fputs(config_sample, stdout);
		return 0;
	}
	/* the same path every other command would read */
	if (config_find(&path, &exists, g->config_path, &err) < 0) {
		cli_error("%s", err.msg);
		return 2;
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
	if (output_write_new(path, config_sample, strlen(config_sample), &err) < 0) {
		if (strstr(err.msg, "already exists"))
			cli_error("config init: %s already exists (not overwritten)", path);
		else
			cli_error("config init: %s", err.msg);
		goto out;
	}
	printf("%s\n", path);
	rc = 0;
out:
	free(path);
	return rc;
}

static int cmd_path(struct global_opts *g)
{
	struct err err = ERR_INIT;
	char *path = NULL;
	int exists;

	if (config_find(&path, &exists, g->config_path, &err) < 0) {
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
