/* cmd-completion.c - imagen completion bash|zsh|fish: a completion script generated from
 * the command table (main.c) and the option tables (each cmd-*.c, cli.c) the parser
 * itself uses, so what the shell offers cannot drift from what imagen accepts.
 *
 * What an option's value is comes from its opt_spec hint (file, directory, backend,
 * style, auto|on|off).  What a command's operands are is read from its usage line:
 * "a | b | c" (or "a|b|c") lists subcommands, FILE means file paths (after that
 * subcommand only, when it is part of one), COMMAND means a command name.  Backend and
 * style names are asked of imagen at completion time (`imagen completion names ...`,
 * honouring -c), so they follow the user's config.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "core/config.h"

#define SUBS_MAX 8

/* Operands of a command, read from its usage line. */
struct operands {
	int files;    /* FILE... */
	int commands; /* COMMAND */
	int variadic; /* something free-form (a prompt) */
	size_t nsubs;
	char subs[SUBS_MAX][24];
	int sub_files[SUBS_MAX]; /* this subcommand takes a FILE */
};

static void operands_of(const struct cmd_entry *cmd, struct operands *o)
{
	const char *u = cmd->usage ? cmd->usage : "", *piece = u, *bar;
	size_t n, len;
	int all_words = 1;

	memset(o, 0, sizeof(*o));
	for (;;) {
		bar = strchr(piece, '|');
		len = bar ? (size_t)(bar - piece) : strlen(piece);
		while (len && *piece == ' ') {
			piece++;
			len--;
		}
		for (n = 0; n < len && (islower((unsigned char)piece[n]) || piece[n] == '-'); n++)
			;
		if (!n || (n < len && piece[n] != ' ') || o->nsubs == SUBS_MAX ||
		    n >= sizeof(o->subs[0])) {
			all_words = 0;
		} else {
			memcpy(o->subs[o->nsubs], piece, n);
			o->subs[o->nsubs][n] = '\0';
			o->sub_files[o->nsubs] = memmem(piece, len, "FILE", 4) != NULL;
			o->nsubs++;
		}
		if (!bar)
			break;
		piece = bar + 1;
	}
	if (!all_words || o->nsubs < 2)
		o->nsubs = 0;
	if (!o->nsubs) {
		o->files = strstr(u, "FILE") != NULL;
		o->commands = strstr(u, "COMMAND") != NULL;
		o->variadic = !o->files && strstr(u, "...") != NULL;
	}
}

static const char *hint_word(enum arg_hint h)
{
	switch (h) {
	case HINT_FILE:
		return "file";
	case HINT_DIR:
		return "dir";
	case HINT_BACKEND:
		return "backend";
	case HINT_STYLE:
		return "style";
	case HINT_MODE:
		return "mode";
	default:
		return "";
	}
}

/* A shell variable name part for a command name. */
static void var_name(char *out, size_t size, const char *name)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < size; i++)
		out[i] = isalnum((unsigned char)name[i]) ? name[i] : '_';
	out[i] = '\0';
}

/* s inside '…' for sh/bash/zsh. */
static void put_sq(FILE *out, const char *s)
{
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", out);
		else
			fputc(*s, out);
}

/* ---- bash ---- */

/* One word per option: SHORT,LONG,ARG,HINT (ARG n none, r required, o optional). */
static void bash_specs(FILE *out, const struct opt_spec *o)
{
	size_t i;

	for (i = 0; o && o[i].id; i++) {
		if (o[i].short_name)
			fputc(o[i].short_name, out);
		fprintf(out, ",%s,%c,%s ", o[i].long_name,
			o[i].arg == ARG_NONE       ? 'n'
			: o[i].arg == ARG_REQUIRED ? 'r'
						   : 'o',
			o[i].arg == ARG_NONE ? "" : hint_word(o[i].hint));
	}
}

static const char bash_engine[] =
	"_imagen_names() # backends|styles: imagen itself answers, so the names follow the "
	"config\n"
	"{\n"
	"\tlocal i exe=${words[0]/#\\~/$HOME} cfg=()\n"
	"\tfor ((i = 1; i < ${#words[@]}; i++)); do\n"
	"\t\tcase ${words[i]} in\n"
	"\t\t-c | --config) cfg=(--config \"${words[i + 1]/#\\~/$HOME}\") ;;\n"
	"\t\t--config=*) cfg=(\"--config=${words[i]#--config=}\") ;;\n"
	"\t\tesac\n"
	"\tdone\n"
	"\t\"$exe\" \"${cfg[@]}\" completion names \"$1\" 2>/dev/null\n"
	"}\n"
	"\n"
	"_imagen_value() # HINT CUR: the value of an option\n"
	"{\n"
	"\tlocal -a vals=()\n"
	"\tcase $1 in\n"
	"\tfile) compopt -o filenames 2>/dev/null\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$2\") ;;\n"
	"\tdir) compopt -o filenames 2>/dev/null\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -d -- \"$2\") ;;\n"
	"\tbackend | style) mapfile -t vals < <(_imagen_names \"${1}s\")\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -W \"${vals[*]}\" -- \"$2\") ;;\n"
	"\tmode) mapfile -t COMPREPLY < <(compgen -W \"auto on off\" -- \"$2\") ;;\n"
	"\tesac\n"
	"}\n"
	"\n"
	"_imagen_find() # OPTION SPECS...: sets _a (n/r/o) and _h for a known option\n"
	"{\n"
	"\tlocal o=$1 spec s l\n"
	"\tshift\n"
	"\tfor spec in \"$@\"; do\n"
	"\t\tIFS=, read -r s l _a _h <<<\"$spec\"\n"
	"\t\t[[ (-n $s && $o == \"-$s\") || $o == \"--$l\" ]] && return 0\n"
	"\tdone\n"
	"\treturn 1\n"
	"}\n"
	"\n"
	"_imagen()\n"
	"{\n"
	"\tlocal -a words=() specs=() opts=()\n"
	"\tlocal i w cword=0 join=0 cur prev cmd='' cmdi=0 ops sub='' s l _a _h\n"
	"\tCOMPREPLY=()\n"
	"\t# bash splits --opt=value at '=': put such words back together\n"
	"\tfor ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do\n"
	"\t\tw=${COMP_WORDS[i]}\n"
	"\t\tif ((join)); then\n"
	"\t\t\twords[${#words[@]} - 1]+=$w\n"
	"\t\t\tjoin=0\n"
	"\t\telif [[ $w == = && ${#words[@]} -gt 1 && ${words[${#words[@]} - 1]} == --* ]]; "
	"then\n"
	"\t\t\twords[${#words[@]} - 1]+=$w\n"
	"\t\t\tjoin=1\n"
	"\t\telse\n"
	"\t\t\twords+=(\"$w\")\n"
	"\t\tfi\n"
	"\t\t((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))\n"
	"\tdone\n"
	"\tcur=${words[cword]}\n"
	"\t((cword > 0)) && prev=${words[cword - 1]}\n"
	"\n"
	"\t# the command: the first word that is neither a global option nor its value\n"
	"\tread -r -a specs <<<\"$_imagen_specs_\"\n"
	"\tfor ((i = 1; i < cword; i++)); do\n"
	"\t\tw=${words[i]}\n"
	"\t\tif [[ $w == -* ]]; then\n"
	"\t\t\t[[ $w != *=* ]] && _imagen_find \"$w\" \"${specs[@]}\" && [[ $_a == r ]] && "
	"((i++))\n"
	"\t\telse\n"
	"\t\t\tcmd=$w cmdi=$i\n"
	"\t\t\tbreak\n"
	"\t\tfi\n"
	"\tdone\n"
	"\tif [[ -n $cmd ]]; then\n"
	"\t\tw=_imagen_specs_${cmd//[^a-zA-Z0-9]/_}\n"
	"\t\tread -r -a specs <<<\"${!w-} $_imagen_specs__common\"\n"
	"\tfi\n"
	"\n"
	"\tif [[ $prev == -* && $prev != *=* ]] && _imagen_find \"$prev\" \"${specs[@]}\" &&\n"
	"\t\t[[ $_a == r ]]; then\n"
	"\t\t_imagen_value \"$_h\" \"$cur\"\n"
	"\t\treturn 0\n"
	"\tfi\n"
	"\tcase $cur in\n"
	"\t--*=*)\n"
	"\t\tif _imagen_find \"${cur%%=*}\" \"${specs[@]}\" && [[ $_a != n ]]; then\n"
	"\t\t\t_imagen_value \"$_h\" \"${cur#*=}\"\n"
	"\t\t\t[[ $COMP_WORDBREAKS == *=* ]] || COMPREPLY=(\"${COMPREPLY[@]/#/${cur%%=*}=}\")\n"
	"\t\tfi\n"
	"\t\treturn 0 ;;\n"
	"\t-*)\n"
	"\t\tfor w in \"${specs[@]}\"; do\n"
	"\t\t\tIFS=, read -r s l _a _h <<<\"$w\"\n"
	"\t\t\topts+=(\"--$l\")\n"
	"\t\t\t[[ -n $s ]] && opts+=(\"-$s\")\n"
	"\t\tdone\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -W \"${opts[*]}\" -- \"$cur\")\n"
	"\t\treturn 0 ;;\n"
	"\tesac\n"
	"\n"
	"\tif [[ -z $cmd ]]; then\n"
	"\t\tmapfile -t COMPREPLY < <(compgen -W \"$_imagen_commands\" -- \"$cur\")\n"
	"\t\treturn 0\n"
	"\tfi\n"
	"\tw=_imagen_operands_${cmd//[^a-zA-Z0-9]/_}\n"
	"\tops=${!w-}\n"
	"\tcase $ops in\n"
	"\t'') ;;\n"
	"\t@file) _imagen_value file \"$cur\" ;;\n"
	"\t@commands) mapfile -t COMPREPLY < <(compgen -W \"$_imagen_commands\" -- \"$cur\") ;;\n"
	"\t*)\n"
	"\t\t# a subcommand first; then files for those marked :file\n"
	"\t\tfor ((i = cmdi + 1; i < cword; i++)); do\n"
	"\t\t\tw=${words[i]}\n"
	"\t\t\tif [[ $w == -* ]]; then\n"
	"\t\t\t\t[[ $w != *=* ]] && _imagen_find \"$w\" \"${specs[@]}\" && [[ $_a == r ]] && "
	"((i++))\n"
	"\t\t\telse\n"
	"\t\t\t\tsub=$w\n"
	"\t\t\t\tbreak\n"
	"\t\t\tfi\n"
	"\t\tdone\n"
	"\t\tif [[ -z $sub ]]; then\n"
	"\t\t\tmapfile -t COMPREPLY < <(compgen -W \"${ops//:file/}\" -- \"$cur\")\n"
	"\t\telif [[ \" $ops \" == *\" $sub:file \"* ]]; then\n"
	"\t\t\t_imagen_value file \"$cur\"\n"
	"\t\tfi ;;\n"
	"\tesac\n"
	"\treturn 0\n"
	"}\n"
	"\n"
	"complete -F _imagen imagen\n";

static void gen_bash(FILE *out)
{
	struct operands o;
	char var[64];
	size_t i, k;

	fputs("# bash completion for imagen(1)\n"
	      "# generated by `imagen completion bash` from the tables imagen parses with;\n"
	      "# install as ~/.local/share/bash-completion/completions/imagen\n\n",
	      out);
	fputs("_imagen_commands='", out);
	for (i = 0; commands[i]; i++)
		fprintf(out, "%s%s", i ? " " : "", commands[i]->name);
	fputs("'\n# options: SHORT,LONG,ARG,HINT (ARG n none, r required, o optional)\n"
	      "_imagen_specs_='",
	      out);
	bash_specs(out, common_opts);
	fputs(",version,n,'\n_imagen_specs__common='", out);
	bash_specs(out, common_opts);
	fputs("'\n", out);
	for (i = 0; commands[i]; i++) {
		var_name(var, sizeof(var), commands[i]->name);
		fprintf(out, "_imagen_specs_%s='", var);
		bash_specs(out, commands[i]->opts);
		fprintf(out, "'\n_imagen_operands_%s='", var);
		operands_of(commands[i], &o);
		if (o.files)
			fputs("@file", out);
		else if (o.commands)
			fputs("@commands", out);
		for (k = 0; k < o.nsubs; k++)
			fprintf(out, "%s%s%s", k ? " " : "", o.subs[k],
				o.sub_files[k] ? ":file" : "");
		fputs("'\n", out);
	}
	fputc('\n', out);
	fputs(bash_engine, out);
}

/* ---- zsh ---- */

/* Help text inside _arguments' [...] within '...'. */
static void put_zsh_desc(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\'')
			fputs("'\\''", out);
		else if (*s == '[' || *s == ']' || *s == ':' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else
			fputc(*s, out);
	}
}

static const char *zsh_action(enum arg_hint h)
{
	switch (h) {
	case HINT_FILE:
		return "_files";
	case HINT_DIR:
		return "_files -/";
	case HINT_BACKEND:
		return "_imagen_backends";
	case HINT_STYLE:
		return "_imagen_styles";
	case HINT_MODE:
		return "(auto on off)";
	default:
		return " ";
	}
}

static void zsh_specs(FILE *out, const struct opt_spec *o)
{
	size_t i;

	for (i = 0; o && o[i].id; i++) {
		const char *rep = o[i].help && strstr(o[i].help, "repeatable") ? "*" : "";
		const char *lsuf = o[i].arg == ARG_REQUIRED   ? "="
				   : o[i].arg == ARG_OPTIONAL ? "=-"
							      : "";

		fputs("\t\t", out);
		/* a repeatable option must not exclude itself */
		if (o[i].short_name && *rep)
			fprintf(out, "'*'{-%c%s,--%s%s}'", o[i].short_name,
				o[i].arg == ARG_REQUIRED ? "+" : "", o[i].long_name, lsuf);
		else if (o[i].short_name)
			fprintf(out, "'(-%c --%s)'{-%c%s,--%s%s}'", o[i].short_name, o[i].long_name,
				o[i].short_name, o[i].arg == ARG_REQUIRED ? "+" : "",
				o[i].long_name, lsuf);
		else
			fprintf(out, "'%s--%s%s", rep, o[i].long_name, lsuf);
		fputc('[', out);
		put_zsh_desc(out, o[i].help);
		fputc(']', out);
		if (o[i].arg != ARG_NONE) {
			fputs(o[i].arg == ARG_OPTIONAL ? "::" : ":", out);
			put_zsh_desc(out, o[i].arg_name ? o[i].arg_name : "value");
			fputc(':', out);
			put_sq(out, zsh_action(o[i].hint));
		}
		fputs("' \\\n", out);
	}
}

static const char zsh_head[] =
	"#compdef imagen\n"
	"# zsh completion for imagen(1)\n"
	"# generated by `imagen completion zsh` from the tables imagen parses with;\n"
	"# install as _imagen in a directory on $fpath\n"
	"\n"
	"_imagen_names() { # backends|styles: imagen itself answers, so the names follow the "
	"config\n"
	"\tlocal -a cfg names\n"
	"\tlocal i\n"
	"\tfor ((i = 2; i <= $#_imagen_words; i++)); do\n"
	"\t\tcase $_imagen_words[i] in\n"
	"\t\t(-c|--config) cfg=(--config \"${_imagen_words[i+1]/#\\~/$HOME}\") ;;\n"
	"\t\t(--config=*) cfg=(\"$_imagen_words[i]\") ;;\n"
	"\t\tesac\n"
	"\tdone\n"
	"\tnames=(${(f)\"$(\"${_imagen_words[1]/#\\~/$HOME}\" $cfg completion names $1 "
	"2>/dev/null)\"})\n"
	"\t_wanted $1 expl ${1%s} compadd -a names\n"
	"}\n"
	"_imagen_backends() { _imagen_names backends }\n"
	"_imagen_styles() { _imagen_names styles }\n"
	"\n";

static void gen_zsh(FILE *out)
{
	struct operands o;
	char var[64];
	size_t i, k;

	fputs(zsh_head, out);
	fputs("_imagen_commands() {\n\tlocal -a cmds\n\tcmds=(\n", out);
	for (i = 0; commands[i]; i++) {
		fprintf(out, "\t\t'%s:", commands[i]->name);
		put_sq(out, commands[i]->summary);
		fputs("'\n", out);
	}
	fputs("\t)\n\t_describe -t commands 'imagen command' cmds\n}\n\n", out);

	for (i = 0; commands[i]; i++) {
		var_name(var, sizeof(var), commands[i]->name);
		operands_of(commands[i], &o);
		fprintf(out, "_imagen_cmd_%s() {\n\t_arguments -s -S \\\n", var);
		zsh_specs(out, commands[i]->opts);
		zsh_specs(out, common_opts);
		if (o.files) {
			fputs("\t\t'*:file:_files'\n", out);
		} else if (o.commands) {
			fputs("\t\t'1:command:_imagen_commands'\n", out);
		} else if (o.nsubs) {
			int any = 0;

			fputs("\t\t'1:subcommand:(", out);
			for (k = 0; k < o.nsubs; k++)
				fprintf(out, "%s%s", k ? " " : "", o.subs[k]);
			fputs(")'", out);
			for (k = 0; k < o.nsubs; k++)
				if (o.sub_files[k])
					fprintf(out, "%s%s",
						any++ ? "|" : " \\\n\t\t'*:file:{[[ $line[1] == (",
						o.subs[k]);
			fputs(any ? ") ]] && _files}'\n" : "\n", out);
		} else if (o.variadic) {
			fputs("\t\t'*:argument: '\n", out);
		} else {
			fputs("\n", out);
		}
		fputs("}\n\n", out);
	}

	fputs("_imagen() {\n"
	      "\tlocal curcontext=$curcontext state line ret=1\n"
	      "\tlocal -a _imagen_words\n"
	      "\t_imagen_words=(\"${words[@]}\")\n"
	      "\t_arguments -C -A '-*' \\\n",
	      out);
	zsh_specs(out, common_opts);
	fputs("\t\t'--version[print the version]' \\\n"
	      "\t\t'1:command:_imagen_commands' \\\n"
	      "\t\t'*:: :->args' && ret=0\n"
	      "\tif [[ $state == args ]]; then\n"
	      "\t\tcurcontext=${curcontext%:*:*}:imagen-$words[1]:\n"
	      "\t\tcase $words[1] in\n",
	      out);
	for (i = 0; commands[i]; i++) {
		var_name(var, sizeof(var), commands[i]->name);
		fprintf(out, "\t\t(%s) _imagen_cmd_%s && ret=0 ;;\n", commands[i]->name, var);
	}
	fputs("\t\tesac\n"
	      "\tfi\n"
	      "\treturn ret\n"
	      "}\n"
	      "\n"
	      "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
	      "\t_imagen \"$@\"\n"
	      "else\n"
	      "\tcompdef _imagen imagen\n"
	      "fi\n",
	      out);
}

/* ---- fish ---- */

static void put_fish(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; s && *s; s++) {
		if (*s == '\'' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('\'', out);
}

static void fish_opts(FILE *out, const char *cond, const struct opt_spec *o)
{
	size_t i;

	for (i = 0; o && o[i].id; i++) {
		fprintf(out, "complete -c imagen -n %s", cond);
		if (o[i].short_name)
			fprintf(out, " -s %c", o[i].short_name);
		fprintf(out, " -l %s", o[i].long_name);
		if (o[i].arg == ARG_REQUIRED) {
			switch (o[i].hint) {
			case HINT_FILE:
				fputs(" -r -F", out);
				break;
			case HINT_DIR:
				fputs(" -x -a '(__fish_complete_directories (commandline -ct))'",
				      out);
				break;
			case HINT_BACKEND:
				fputs(" -x -a '(__imagen_names backends)'", out);
				break;
			case HINT_STYLE:
				fputs(" -x -a '(__imagen_names styles)'", out);
				break;
			case HINT_MODE:
				fputs(" -x -a 'auto on off'", out);
				break;
			default:
				fputs(" -x", out);
				break;
			}
		} else if (o[i].arg == ARG_OPTIONAL && o[i].hint == HINT_MODE) {
			fputs(" -a 'auto on off'", out);
		}
		fputs(" -d ", out);
		put_fish(out, o[i].help);
		fputc('\n', out);
	}
}

/* Options that take their value as the next word, for the operand scanner. */
static void fish_argopts(FILE *out, const struct opt_spec *o)
{
	size_t i;

	for (i = 0; o && o[i].id; i++) {
		if (o[i].arg != ARG_REQUIRED)
			continue;
		if (o[i].short_name)
			fprintf(out, " -%c", o[i].short_name);
		fprintf(out, " --%s", o[i].long_name);
	}
}

static const char fish_head[] =
	"# fish completion for imagen(1)\n"
	"# generated by `imagen completion fish` from the tables imagen parses with;\n"
	"# install as ~/.config/fish/completions/imagen.fish\n"
	"\n"
	"# backends|styles: imagen itself answers, so the names follow the config\n"
	"function __imagen_names\n"
	"    set -l toks (commandline -opc)\n"
	"    set -l cfg\n"
	"    for i in (seq 2 (count $toks))\n"
	"        switch $toks[$i]\n"
	"            case -c --config\n"
	"                set -l j (math $i + 1)\n"
	"                test $j -le (count $toks); and set cfg --config $toks[$j]\n"
	"            case '--config=*'\n"
	"                set cfg $toks[$i]\n"
	"        end\n"
	"    end\n"
	"    command $toks[1] $cfg completion names $argv[1] 2>/dev/null\n"
	"end\n"
	"\n"
	"# The operands typed so far: the command, then its own (options and their values "
	"skipped).\n"
	"function __imagen_operands\n"
	"    set -l toks (commandline -opc)\n"
	"    set -e toks[1]\n"
	"    set -l skip 0\n"
	"    set -l cmd\n"
	"    for t in $toks\n"
	"        if test $skip = 1\n"
	"            set skip 0\n"
	"            continue\n"
	"        end\n"
	"        set -l argopts $__imagen_argopts_\n"
	"        if set -q cmd[1]\n"
	"            set -l v __imagen_argopts_(string replace -ra '[^a-zA-Z0-9]' _ -- $cmd[1])\n"
	"            set argopts $argopts $$v\n"
	"        end\n"
	"        if contains -- $t $argopts\n"
	"            set skip 1\n"
	"        else if not string match -q -- '-*' $t\n"
	"            set cmd $cmd $t\n"
	"        end\n"
	"    end\n"
	"    set -q cmd[1]; or return 1\n"
	"    printf '%s\\n' $cmd\n"
	"end\n"
	"\n"
	"function __imagen_using # COMMAND [N]: the command is COMMAND with N operands so far\n"
	"    set -l ops (__imagen_operands)\n"
	"    test \"$ops[1]\" = $argv[1]; or return 1\n"
	"    set -q argv[2]; or return 0\n"
	"    test (math (count $ops) - 1) -eq $argv[2]\n"
	"end\n"
	"\n"
	"function __imagen_sub # COMMAND SUB...: the first operand of COMMAND is one of SUB\n"
	"    set -l ops (__imagen_operands)\n"
	"    test \"$ops[1]\" = $argv[1]; and contains -- \"$ops[2]\" $argv[2..-1]\n"
	"end\n"
	"\n"
	"complete -c imagen -f\n";

static void gen_fish(FILE *out)
{
	struct operands o;
	char var[64], cond[128];
	size_t i, k;

	fputs(fish_head, out);
	fputs("set -g __imagen_argopts_", out);
	fish_argopts(out, common_opts);
	fputc('\n', out);
	for (i = 0; commands[i]; i++) {
		var_name(var, sizeof(var), commands[i]->name);
		fprintf(out, "set -g __imagen_argopts_%s", var);
		fish_argopts(out, commands[i]->opts);
		fputc('\n', out);
	}
	fputs("\n# before the command\n", out);
	fish_opts(out, "'not __imagen_operands >/dev/null'", common_opts);
	fputs("complete -c imagen -n 'not __imagen_operands >/dev/null' -l version "
	      "-d 'print the version'\n",
	      out);
	for (i = 0; commands[i]; i++) {
		fprintf(out, "complete -c imagen -n 'not __imagen_operands >/dev/null' -a %s -d ",
			commands[i]->name);
		put_fish(out, commands[i]->summary);
		fputc('\n', out);
	}
	for (i = 0; commands[i]; i++) {
		fprintf(out, "\n# %s\n", commands[i]->name);
		snprintf(cond, sizeof(cond), "'__imagen_using %s'", commands[i]->name);
		fish_opts(out, cond, commands[i]->opts);
		fish_opts(out, cond, common_opts);
		operands_of(commands[i], &o);
		if (o.files) {
			fprintf(out, "complete -c imagen -n %s -F\n", cond);
		} else if (o.commands) {
			fprintf(out, "complete -c imagen -n '__imagen_using %s 0' -a '",
				commands[i]->name);
			for (k = 0; commands[k]; k++)
				fprintf(out, "%s%s", k ? " " : "", commands[k]->name);
			fputs("'\n", out);
		} else if (o.nsubs) {
			fprintf(out, "complete -c imagen -n '__imagen_using %s 0' -a '",
				commands[i]->name);
			for (k = 0; k < o.nsubs; k++)
				fprintf(out, "%s%s", k ? " " : "", o.subs[k]);
			fputs("'\n", out);
			for (k = 0; k < o.nsubs; k++)
				if (o.sub_files[k])
					fprintf(out,
						"complete -c imagen -n '__imagen_sub %s %s' -F\n",
						commands[i]->name, o.subs[k]);
		}
	}
}

/* ---- names: what the scripts ask at completion time ---- */

static int print_names(struct global_opts *g, const char *what)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	size_t i;

	if (strcmp(what, "backends") && strcmp(what, "styles")) {
		cli_error("completion names: expected backends or styles, got '%s'", what);
		return 2;
	}
	if (config_load(&cfg, g->config_path, &err) < 0) {
		cli_error("%s", err.msg);
		return 2;
	}
	if (!strcmp(what, "backends")) {
		for (i = 0; i < cfg->nbackends; i++)
			printf("%s\n", cfg->backends[i].name);
	} else {
		printf("none\n");
		for (i = 0; i < cfg->nstyles; i++)
			printf("%s\n", cfg->styles[i].name);
	}
	config_free(cfg);
	return 0;
}

static int cmd_completion(struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	const char *arg, *shell;
	int c, first;

	if (cli_begin(&p, &commands_completion, g, argc, argv) < 0)
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
		cli_error("completion: which shell? bash, zsh or fish (e.g. source <(imagen "
			  "completion bash))");
		return 2;
	}
	shell = argv[first];
	if (!strcmp(shell, "names")) {
		if (argc - first != 2) {
			cli_error("completion names: expected backends or styles");
			return 2;
		}
		return print_names(g, argv[first + 1]);
	}
	if (argc - first > 1) {
		cli_error("completion: unexpected argument '%s'", argv[first + 1]);
		return 2;
	}
	if (!strcmp(shell, "bash"))
		gen_bash(stdout);
	else if (!strcmp(shell, "zsh"))
		gen_zsh(stdout);
	else if (!strcmp(shell, "fish"))
		gen_fish(stdout);
	else {
		cli_error("completion: unknown shell '%s' (expected bash, zsh or fish)", shell);
		return 2;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

static const struct opt_spec completion_opts[] = {
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

const struct cmd_entry commands_completion = {
	"completion",
	"bash|zsh|fish",
	"print a shell completion script",
	"Prints the completion script for the shell, generated from imagen's own command\n"
	"and option tables; it completes commands, options, backend and style names from\n"
	"your config, and file paths.  Load it for this session with\n"
	"  source <(imagen completion bash)      # bash, zsh likewise\n"
	"  imagen completion fish | source       # fish\n"
	"make install puts all three where the shells look.  The scripts ask\n"
	"`imagen completion names backends|styles` for the configured names.",
	completion_opts,
	cmd_completion,
};
