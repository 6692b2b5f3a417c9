/* cli.h - command and option tables: the parser, the help text and (later) shell
 * completion are all generated from these, so they cannot drift apart. */
#ifndef IMAGEN_CLI_H
#define IMAGEN_CLI_H

#include <jansson.h>
#include <stdio.h>

enum arg_kind { ARG_NONE = 0, ARG_REQUIRED, ARG_OPTIONAL };

/* what an option's argument is, for completion */
enum arg_hint { HINT_NONE = 0, HINT_FILE, HINT_DIR, HINT_BACKEND, HINT_STYLE, HINT_MODE };

struct opt_spec {
	int id; /* returned by cli_next(); short options use their letter */
	const char *long_name;
	int short_name; /* 0 when none */
	enum arg_kind arg;
	const char *arg_name; /* "N", "FILE", … */
	const char *help;
	enum arg_hint hint;
	const char *def; /* shown by help as "(default: ...)": a value ("3600") or where it
			  * comes from ("the backend's"); NULL for none */
	const char *cfg; /* the config key that gives the default: help shows "(default: KEY,
			  * else VALUE)" with VALUE from the options table; NULL for none */
};

struct global_opts {
	const char *config_path; /* -c/--config */
	int verbose;             /* -v, repeatable */
	int quiet;               /* -q */
};

struct cmd_entry {
	const char *name;
	const char *usage;           /* after "imagen NAME " */
	const char *summary;         /* one line for `imagen --help` */
	const char *description;     /* paragraph(s) for `imagen help NAME` */
	const struct opt_spec *opts; /* terminated by an entry with id 0; the common options
				      * (-c, -v, -q, -h) are added by the parser */
	int (*exec)(struct global_opts *g, int argc, char **argv);
};

/* Ids for the options every command takes. */
enum { OPT_HELP = 'h', OPT_CONFIG = 'c', OPT_VERBOSE = 'v', OPT_QUIET = 'q' };

struct cli_parser {
	const struct cmd_entry *cmd;
	struct global_opts *g;
	int argc;
	char **argv;
	/* getopt tables built from the specs */
	char shortopts[128];
	void *longopts; /* struct option[] */
	int nlong;
};

/** Prepare parsing of argv (argv[0] is the command name) for cmd. */
int cli_begin(struct cli_parser *p, const struct cmd_entry *cmd, struct global_opts *g, int argc,
	      char **argv);
/**
 * The next option: its id with *arg set (NULL when none), 0 when options are done
 * (operands then start at cli_optind()), -1 after printing a usage error, -2 after
 * printing help (the command should exit 0).  -c/-v/-q are handled here.
 */
int cli_next(struct cli_parser *p, const char **arg);
int cli_optind(const struct cli_parser *p);
void cli_end(struct cli_parser *p);

/** The command table (main.c). */
extern const struct cmd_entry *const commands[]; /* NULL-terminated */
const struct cmd_entry *cli_find_command(const char *name);

/** Common options appended to every command. */
extern const struct opt_spec common_opts[];

/** Print `imagen help CMD` text. */
void cli_print_command_help(FILE *out, const struct cmd_entry *cmd);
/** Print `imagen --help`. */
void cli_print_help(FILE *out);

/** Print "imagen: " + message to stderr as one line: control characters in the message
 *  (newlines included) are shown escaped (util/termsafe.h), never sent to the terminal. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** printf to out for a person: control characters other than newline that the formatted
 *  text carries (outside text: PNG chunks, file names, upstream messages) are escaped.
 *  Machine output (--json) goes out exactly instead, with plain stdio. */
void cli_print(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Machine output: v as JSON (json_dumps flags) and a newline on out, exactly (never
 *  escaped).  v NULL prints nothing.  Returns 0, or -1 when v could not be encoded. */
int cli_print_json(FILE *out, const json_t *v, size_t flags);

/** Parse a decimal integer in [min, max] for option `what`; prints the error, -1. */
int cli_parse_int(const char *what, const char *s, long long min, long long max, long long *out);

#endif
