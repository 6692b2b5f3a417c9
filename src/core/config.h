/* config.h - imagen.yaml: discovery, the options table (defaults, validation, precedence,
 * `config show`, the sample), styles and backend instances. */
#ifndef IMAGEN_CONFIG_H
#define IMAGEN_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "core/backend.h"
#include "util/buf.h"
#include "util/env.h"
#include "util/err.h"
#include "core/yamlnode.h"

enum mode { MODE_AUTO = 0, MODE_ON, MODE_OFF };

/* The instance type that is not an adapter: a pool spreads a batch's jobs over other
 * instances (members, strategy; read by src/batch/pool.c, which checks them). */
#define CFG_POOL_TYPE "pool"

struct cfg_backend {
	const char *name; /* borrowed from the tree */
	const char *type;
	const struct backend_ops *ops; /* NULL for a pool */
	json_t *cfg;                   /* the slice handed to the adapter (owned): as written
					* but for the framework's own key `concurrency` */
	json_t *slice;                 /* the slice as written (owned): what the batch engine
					* reads (concurrency; a pool's members and strategy) */
	const struct ynode *node;      /* NULL for the implicit built-in mock */
};

struct cfg_style {
	const char *name;
	const char *suffix;
};

struct config {
	char *path;          /* file the config came from; NULL = the built-in default */
	const char *display; /* what error messages call it: the path or "(built-in default)" */
	struct ynode *root;

	/* the values of config_options[] (each row names its field by offset) */
	const char *default_backend; /* never NULL after loading */
	const char *default_style;   /* never NULL ("none") */

	struct cfg_style *styles;
	size_t nstyles;

	const char *output_dir; /* unexpanded (may start with ~) */
	const char *naming;
	int write_metadata_json;
	enum mode cloud_sync;
	enum mode preview;

	/* preview: how a preview is shown (whether at all is output.preview) */
	const char *preview_command; /* template with {path}; "" = tmux-img, chafa or timg */
	int preview_focus;           /* the tmux window takes the focus */
	int preview_inline;          /* -1 auto (inline outside tmux, a window inside), 0, 1 */

	int has_cloud; /* a cloud: section is present */
	const char *supabase_url;
	const char *service_key_env;
	const char *bucket;
	const char *owner_user_id;

	const char *budget_per_batch; /* USD as text, "" = no cap (config_usd reads it) */
	const char *budget_per_day;

	struct cfg_backend *backends;
	size_t nbackends;
};

/* ---- the options table (after tmux's options-table.c) ----
 * Every framework key of imagen.yaml is one row: its type, built-in default, the
 * environment variable and flag that override it, an extra check and its help line.
 * Defaults, validation, precedence, `config show` and the sample all come from it. */

enum cfg_type {
	CFG_STRING,   /* any string (a check may narrow it) */
	CFG_BOOL,     /* true | false (plain, not quoted) */
	CFG_MODE,     /* auto | on | off: enum mode */
	CFG_TRISTATE, /* auto | true | false: int -1, 1, 0 */
};

#define CFG_LATE 1u /* the check looks at styles or backends: it runs once they are loaded */

struct cfg_option {
	const char *key; /* "section.name" */
	enum cfg_type type;
	const char *def;  /* the built-in default, in the type's syntax ("" for no string) */
	const char *env;  /* variable between the flag and the file, or NULL */
	const char *flag; /* the flag that wins over everything (documentation), or NULL */
	/** A file value's extra check: 0, or -1 with a message the loader prefixes with the
	 *  key and FILE:LINE:COL.  NULL when the type says it all. */
	int (*check)(const struct config *cfg, const char *value, struct err *err);
	unsigned flags;      /* CFG_LATE */
	size_t offset;       /* the field of struct config holding the value */
	const char *help;    /* one line: the sample's comment */
	const char *note;    /* sample: comment lines above the key, or NULL */
	const char *example; /* an empty default is shown commented out with this value, or NULL */
	const char *unset;   /* config show: what an empty value means, or NULL */
};

enum cfg_section_kind {
	CFG_SECTION_OPTIONS,  /* keys from config_options[] */
	CFG_SECTION_STYLES,   /* name: suffix */
	CFG_SECTION_BACKENDS, /* name: {type: ..., the adapter's keys} */
};

struct cfg_section {
	const char *name;
	enum cfg_section_kind kind;
	int optional;     /* config show lists it only when the file has it */
	const char *note; /* sample: comment lines above the section, or NULL */
};

/** The sections in file order, then the options grouped by section in the same order;
 *  each ends with a NULL name / key. */
extern const struct cfg_section config_sections[];
extern const struct cfg_option config_options[];

/** The row of a dotted key ("output.directory"), or NULL. */
const struct cfg_option *config_option(const char *key);

/** An option's value in cfg as text ("true", "auto", the string itself): borrowed from
 *  cfg or static storage. */
const char *config_value(const struct config *cfg, const struct cfg_option *opt);

/** Whether the file (not the built-in default) holds section `name`. */
int config_has_section(const struct config *cfg, const char *name);

/* ---- discovery and loading ---- */

/** Where the config comes from: --config, $IMAGEN_CONFIG, else the XDG default path, the
 *  variables read through env.  *path_out is malloc'd; *exists tells whether the file is
 *  there (the XDG path may be absent, in which case the built-in default applies). */
int config_find(char **path_out, int *exists, const char *flag_path, const struct env *env,
		struct err *err);

/** The default config path ($XDG_CONFIG_HOME/imagen/imagen.yaml or ~/.config/...). */
int config_default_path(char **path_out, const struct env *env, struct err *err);

/** Load config text (validated) naming it `display` in messages. */
int config_parse(struct config **out, const char *text, size_t len, const char *display,
		 struct err *err);

/** Load and validate a file. */
int config_load_file(struct config **out, const char *path, struct err *err);

/** The built-in default (no file): the table's defaults, the built-in style presets and
 *  the built-in mock instance. */
int config_load_default(struct config **out, struct err *err);

/** Find (in the process environment) + load in one step: what commands do. */
int config_load(struct config **out, const char *flag_path, struct err *err);

void config_free(struct config *cfg);

/** Configured instance by name, or NULL (a pool too: its ops are NULL). */
const struct cfg_backend *config_backend(const struct config *cfg, const char *name);
/** Comma-separated configured instance names into buf. */
void config_backend_names(const struct config *cfg, char *buf, size_t size);
/** A style's suffix: "" for "none", NULL when not configured. */
const char *config_style_suffix(const struct config *cfg, const char *name);

/** Warnings (one per line, no prefix) that `config validate` prints; returns count. */
size_t config_warnings(const struct config *cfg, char *buf, size_t size);

/** An amount in USD as budget.* holds it: the number, 0 for "" or NULL (no cap), -1 for
 *  anything but a number above 0 (at most 1e9). */
double config_usd(const char *s);

/** Parse "auto" / "on" / "off"; -1 otherwise. */
int mode_parse(const char *s);
const char *mode_name(enum mode m);

/** The commented sample config that `config init` writes, appended to out: the options
 *  table's defaults and help lines, the built-in styles, and each adapter's own sample
 *  block (backend_ops.sample; the default backend's active, the others commented out).
 *  Returns 0, or -1 when memory is short. */
int config_sample(struct buf *out);

/** Configured instances: those the file names, not counting the implicit built-in mock. */
size_t config_backends_configured(const struct config *cfg);

/* --- precedence: flag > environment > config file > built-in default --- */

enum origin { FROM_DEFAULT, FROM_CONFIG, FROM_ENV, FROM_FILE_ARG, FROM_FLAG };

struct overrides { /* what flags (or --from) asked for; NULL / -1 = not given */
	const char *backend;
	enum origin backend_origin; /* FROM_FLAG or FROM_FILE_ARG (--from) */
	const char *output_dir;
	int cloud_sync; /* enum mode or -1 */
	int preview;    /* enum mode or -1 */
};

struct settings {
	const char *backend;
	enum origin backend_from;
	const char *output_dir;
	enum origin output_dir_from;
	enum mode cloud_sync; /* as asked for (auto, on or off) */
	enum origin cloud_sync_from;
	int cloud_on; /* cloud_sync resolved: 1 when the sync step runs after generate */
	enum mode preview;
	enum origin preview_from;
};

/** One option through the precedence chain, the one place it is written: flag (when
 *  non-NULL, taken with origin flag_from) > opt->env in env (set and not empty) > the
 *  file's value > the default.  *value is borrowed (flag, env, cfg or static storage).
 *  An environment value the type refuses is an error (code 2) naming the variable:
 *  "IMAGEN_PREVIEW: invalid value 'x' (expected auto, on or off)".  The option's check
 *  is not applied to flag or environment values (the caller checks what it uses). */
int config_resolve(const char **value, enum origin *from, const struct config *cfg,
		   const struct cfg_option *opt, const char *flag, enum origin flag_from,
		   const struct env *env, struct err *err);

/** Resolve every knob of struct settings through config_resolve.  Cloud sync: auto is
 *  on exactly when config_cloud_usable() holds, off otherwise; on without a usable cloud
 *  config is an error (code 2) naming what is missing. */
int settings_resolve(struct settings *out, const struct config *cfg, const struct overrides *ov,
		     const struct env *env, struct err *err);

const char *origin_name(enum origin o);

/** Whether cloud sync can run: cloud.supabase_url is set and the environment variable
 *  named by cloud.service_key_env (read through env) is set and not empty.
 *  Returns 0, or -1 (code 2) with a message naming what is missing.  owner_user_id is
 *  not checked here: the sync step refuses without it, with its own message. */
int config_cloud_usable(const struct config *cfg, const struct env *env, struct err *err);

/** The node at a dotted path in the file ("backends.farm.members.1.weight": a number
 *  indexes a list), and the key naming it in *key_out (for a list item, the item);
 *  NULL when the file has no such node. */
const struct ynode *config_node(const struct config *cfg, const char *path,
				const struct ynode **key_out);
/** Position of a dotted key path (e.g. "backends.mock.steps") in the file; 0 on success. */
int config_locate(const struct config *cfg, const char *path, int *line, int *col);

#endif
