/* cmds.h - one entry per subcommand, each defined in its cmd-NAME.c. */
#ifndef IMAGEN_CMDS_H
#define IMAGEN_CMDS_H

#include "cli/cli.h"

extern const struct cmd_entry commands_generate;
extern const struct cmd_entry commands_batch;
extern const struct cmd_entry commands_config;
extern const struct cmd_entry commands_backends;
extern const struct cmd_entry commands_styles;
extern const struct cmd_entry commands_inspect;
extern const struct cmd_entry commands_search;
extern const struct cmd_entry commands_ls;
extern const struct cmd_entry commands_index;
extern const struct cmd_entry commands_tag;
extern const struct cmd_entry commands_rate;
extern const struct cmd_entry commands_stats;
extern const struct cmd_entry commands_sync;
extern const struct cmd_entry commands_url;
extern const struct cmd_entry commands_show;
extern const struct cmd_entry commands_version;
extern const struct cmd_entry commands_completion;
extern const struct cmd_entry commands_help;

#endif
