/* cli.c - getopt_long driven by the option tables; help text from the same tables. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "util/suggest.h"

const struct opt_spec common_opts[] = {
	{ OPT_CONFIG, "config", 'c', ARG_REQUIRED, "FILE", "use this config file", HINT_FILE,
	  "$IMAGEN_CONFIG, else ~/.config/imagen/imagen.yaml" },
	{ OPT_VERBOSE, "verbose", 'v', ARG_NONE, NULL, "say more on stderr (repeatable)", HINT_NONE,
	  NULL },
	{ OPT_QUIET, "quiet", 'q', ARG_NONE, NULL, "print only errors on stderr", HINT_NONE, NULL },
	{ OPT_HELP, "help", 'h', ARG_NONE, NULL, "show this help", HINT_NONE, NULL },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

int cli_parse_int(const char *what, const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max ||
	    (*s != '-' && !(*s >= '0' && *s <= '9'))) {
		cli_error("%s: invalid value '%s' (expected an integer from %lld to %lld)", what, s,
			  min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static size_t count_opts(const struct opt_spec *o)
{
	size_t n = 0;

	while (o && o[n].id)
		n++;
	return n;
}

int cli_begin(struct cli_parser *p, const struct cmd_entry *cmd, struct global_opts *g, int argc,
	      char **argv)
{
	const struct opt_spec *lists[2] = { cmd->opts, common_opts };
	struct option *lo;
	size_t n = count_opts(cmd->opts) + count_opts(common_opts), k = 0, s = 0, i, l;

	memset(p, 0, sizeof(*p));
	p->cmd = cmd;
	p->g = g;
	p->argc = argc;
	p->argv = argv;
	lo = calloc(n + 1, sizeof(*lo));
	if (!lo)
		return -1;
	/* '+' would stop at the first operand; we let GNU getopt permute so options may
	 * follow the prompt.  ':' makes a missing argument distinguishable. */
	p->shortopts[s++] = ':';
	for (l = 0; l < 2; l++) {
		for (i = 0; lists[l] && lists[l][i].id; i++) {
			const struct opt_spec *o = &lists[l][i];

			lo[k].name = o->long_name;
			lo[k].has_arg = o->arg == ARG_NONE       ? no_argument
					: o->arg == ARG_REQUIRED ? required_argument
								 : optional_argument;
			lo[k].flag = NULL;
			lo[k].val = o->id;
			k++;
			if (o->short_name && s + 3 < sizeof(p->shortopts)) {
				p->shortopts[s++] = (char)o->short_name;
				if (o->arg == ARG_REQUIRED)
					p->shortopts[s++] = ':';
			}
		}
	}
	p->shortopts[s] = '\0';
	p->longopts = lo;
	p->nlong = (int)k;
	optind = 0; /* GNU: full re-initialisation for each parse */
	opterr = 0;
	return 0;
}

static void unknown_option(struct cli_parser *p, const char *bad)
{
	const struct opt_spec *lists[2] = { p->cmd->opts, common_opts };
	const char *names[128], *hint;
	char want[128];
	size_t n = 0, l, i;

	for (l = 0; l < 2; l++)
		for (i = 0; lists[l] && lists[l][i].id && n < 127; i++)
			names[n++] = lists[l][i].long_name;
	names[n] = NULL;
	snprintf(want, sizeof(want), "%s", bad + (strncmp(bad, "--", 2) ? 0 : 2));
	want[strcspn(want, "=")] = '\0';
	hint = strncmp(bad, "--", 2) ? NULL : suggest_closest(want, names);
	if (hint)
		cli_error("%s: unknown option '%s' (did you mean '--%s'?)", p->cmd->name, bad,
			  hint);
	else
		cli_error("%s: unknown option '%s' (see imagen help %s)", p->cmd->name, bad,
			  p->cmd->name);
}

/* Is word one of the values listed in an option's "a|b|c" argument name? */
static int listed_value(const char *list, const char *word)
{
	size_t n = strlen(word);

	while (list && n) {
		const char *bar = strchr(list, '|');
		size_t len = bar ? (size_t)(bar - list) : strlen(list);

		if (len == n && !strncmp(list, word, n))
			return 1;
		list = bar ? bar + 1 : NULL;
	}
	return 0;
}

/* An option whose value is optional takes it from the next word too, when that word is
 * exactly one of its listed values ("--preview on"); anything else stays an operand, so
 * "--preview on a hill" quoted as one word is still a prompt. */
static void optional_value_in_next_word(struct cli_parser *p, int id, const char **arg)
{
	const struct opt_spec *o;

	if (*arg || optind >= p->argc)
		return;
	for (o = p->cmd->opts; o && o->id; o++) {
		if (o->id != id)
			continue;
		if (o->arg == ARG_OPTIONAL && listed_value(o->arg_name, p->argv[optind]))
			*arg = p->argv[optind++];
		return;
	}
}

int cli_next(struct cli_parser *p, const char **arg)
{
	int c, idx = -1;
	char shortbad[3];

	for (;;) {
		idx = -1;
		c = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, &idx);
		*arg = optarg;
		if (c == -1)
			return 0;
		if (c == '?') {
			if (optopt) {
				snprintf(shortbad, sizeof(shortbad), "-%c", optopt);
				unknown_option(p, shortbad);
			} else {
				unknown_option(p, p->argv[optind - 1]);
			}
			return -1;
		}
		if (c == ':') {
			cli_error("%s: option '%s' needs a value", p->cmd->name,
				  p->argv[optind - 1]);
			return -1;
		}
		switch (c) {
		case OPT_HELP:
			cli_print_command_help(stdout, p->cmd);
			return -2;
		case OPT_CONFIG:
			p->g->config_path = optarg;
			continue;
		case OPT_VERBOSE:
			p->g->verbose++;
			continue;
		case OPT_QUIET:
			p->g->quiet = 1;
			continue;
		default:
			optional_value_in_next_word(p, c, arg);
			return c;
		}
	}
}

int cli_optind(const struct cli_parser *p)
{
	(void)p;
	return optind;
}

void cli_end(struct cli_parser *p)
{
	free(p->longopts);
	p->longopts = NULL;
}

const struct cmd_entry *cli_find_command(const char *name)
{
	size_t i;

	for (i = 0; commands[i]; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

#define HELP_WIDTH 80

/* What help says an option defaults to: its own text, or the config key that gives it and
 * that key's built-in value from the options table (one place for every default). */
static const char *option_default(char *buf, size_t size, const struct opt_spec *o)
{
	const struct cfg_option *c = o->cfg ? config_option(o->cfg) : NULL;

	if (!c)
		return o->def;
	snprintf(buf, size, "%s, else %s", c->key, *c->def ? c->def : "none");
	return buf;
}

static void print_opts(FILE *out, const struct opt_spec *o)
{
	char left[64], dbuf[160];
	const char *def;
	size_t i;

	for (i = 0; o && o[i].id; i++) {
		int n = 0;

		if (o[i].short_name)
			n = snprintf(left, sizeof(left), "-%c, --%s", o[i].short_name,
				     o[i].long_name);
		else
			n = snprintf(left, sizeof(left), "    --%s", o[i].long_name);
		if (o[i].arg == ARG_REQUIRED && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s", o[i].arg_name);
		else if (o[i].arg == ARG_OPTIONAL && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, "[=%s]", o[i].arg_name);
		if (strlen(left) > 24)
			fprintf(out, "  %s\n  %-24s  %s", left, "", o[i].help);
		else
			fprintf(out, "  %-24s  %s", left, o[i].help);
		def = option_default(dbuf, sizeof(dbuf), &o[i]);
		/* "(default: ...)" on a line of its own under the help when it would not fit */
		if (def && 28 + strlen(o[i].help) + 12 + strlen(def) > HELP_WIDTH)
			fprintf(out, "\n  %-24s  (default: %s)", "", def);
		else if (def)
			fprintf(out, " (default: %s)", def);
		fputc('\n', out);
	}
}

void cli_print_command_help(FILE *out, const struct cmd_entry *cmd)
{
	fprintf(out, "usage: imagen %s%s%s\n\n%s\n", cmd->name, *cmd->usage ? " " : "", cmd->usage,
		cmd->summary);
	if (cmd->description && *cmd->description)
		fprintf(out, "\n%s\n", cmd->description);
	if (count_opts(cmd->opts)) {
		fputs("\noptions:\n", out);
		print_opts(out, cmd->opts);
	}
	fputs("\ncommon options:\n", out);
	print_opts(out, common_opts);
}

void cli_print_help(FILE *out)
{
	size_t i;

	fputs("usage: imagen [-c FILE] [-v] [-q] COMMAND [ARGS]\n\n"
	      "Generate images from the terminal through a configured backend (comfyui,\n"
	      "replicate, openai, a1111, or the built-in mock).  Every image gets a JSON\n"
	      "sidecar, metadata inside the PNG and a row in the catalog (imagen search).\n\n"
	      "commands:\n",
	      out);
	for (i = 0; commands[i]; i++)
		fprintf(out, "  %-10s  %s\n", commands[i]->name, commands[i]->summary);
	fputs("\nrun 'imagen help COMMAND' for a command's options.\n\n"
	      "exit status: 0 success, 1 generation failed, 2 usage or config error,\n"
	      "130 interrupted.\n"
	      "search exits 1 when nothing matched.\n"
	      "config: --config FILE, $IMAGEN_CONFIG, $XDG_CONFIG_HOME/imagen/imagen.yaml,\n"
	      "else a built-in default (backend mock, output ~/Pictures/imagen).\n"
	      "catalog: $IMAGEN_CATALOG, else $XDG_DATA_HOME/imagen/catalog.db.\n",
	      out);
}
