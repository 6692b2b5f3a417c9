/* config.h - imagen.yaml: discovery, validation, the embedded default, precedence. */
#ifndef IMAGEN_CONFIG_H
#define IMAGEN_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "core/backend.h"
#include "util/env.h"
#include "util/err.h"
#include "core/yamlnode.h"

enum mode { MODE_AUTO = 0, MODE_ON, MODE_OFF };

struct cfg_backend {
	const char *name; /* borrowed from the tree */
	const char *type;
	const struct backend_ops *ops;
	json_t *cfg;              /* the slice handed to the adapter (owned) */
	const struct ynode *node; /* NULL for the implicit built-in mock */
};

struct cfg_style {
	const char *name;
	const char *suffix;
};

struct config {
	char *path;          /* file the config came from; NULL = embedded default */
	const char *display; /* what error messages call it: the path or "(built-in default)" */
	struct ynode *root;

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

	struct cfg_backend *backends;
	size_t nbackends;
};

/** Where the config comes from: --config, $IMAGEN_CONFIG, else the XDG default path, the
 *  variables read through env.  *path_out is malloc'd; *exists tells whether the file is
 *  there (the XDG path may be absent, in which case the embedded default applies). */
int config_find(char **path_out, int *exists, const char *flag_path, const struct env *env,
		struct err *err);

/** The default config path ($XDG_CONFIG_HOME/imagen/imagen.yaml or ~/.config/...). */
int config_default_path(char **path_out, const struct env *env, struct err *err);

/** Load config text (validated) naming it `display` in messages. */
int config_parse(struct config **out, const char *text, size_t len, const char *display,
		 struct err *err);

/** Load and validate a file. */
int config_load_file(struct config **out, const char *path, struct err *err);

/** The embedded default (no file). */
int config_load_default(struct config **out, struct err *err);

/** Find (in the process environment) + load in one step: what commands do. */
int config_load(struct config **out, const char *flag_path, struct err *err);

void config_free(struct config *cfg);

/** Configured instance by name, or NULL. */
const struct cfg_backend *config_backend(const struct config *cfg, const char *name);
/** Comma-separated configured instance names into buf. */
void config_backend_names(const struct config *cfg, char *buf, size_t size);
/** A style's suffix: "" for "none", NULL when not configured. */
const char *config_style_suffix(const struct config *cfg, const char *name);

/** Warnings (one per line, no prefix) that `config validate` prints; returns count. */
size_t config_warnings(const struct config *cfg, char *buf, size_t size);

/** Parse "auto" / "on" / "off"; -1 otherwise. */
int mode_parse(const char *s);
const char *mode_name(enum mode m);

/** The commented sample config that `config init` writes. */
extern const char config_sample[];
/** The embedded default config. */
extern const char config_builtin[];

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

/** Resolve every knob, the variables read through env.
 *  Invalid environment values are errors naming the variable.  Cloud sync: auto is on
 *  exactly when config_cloud_usable() holds, off otherwise; on without a usable cloud
 *  config is an error (code 2) naming what is missing. */
int settings_resolve(struct settings *out, const struct config *cfg, const struct overrides *ov,
		     const struct env *env, struct err *err);

const char *origin_name(enum origin o);

/** Whether cloud sync can run: cloud.supabase_url is set and the environment variable
 *  named by cloud.service_key_env (read through env) is set and not empty.
 *  Returns 0, or -1 (code 2) with a message naming what is missing.  owner_user_id is
 *  not checked here: the sync step refuses without it, with its own message. */
int config_cloud_usable(const struct config *cfg, const struct env *env, struct err *err);

/** Position of a dotted key path (e.g. "backends.mock.steps") in the file; 0 on success. */
int config_locate(const struct config *cfg, const char *path, int *line, int *col);

#endif
