/* config.c - imagen.yaml: discovery, the options table and what it drives (defaults,
 * validation with FILE:LINE:COL, precedence, `config show`, the sample), styles and
 * backend instances. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/output.h"
#include "core/previewcmd.h"
#include "util/suggest.h"

/* ---- the checks the table names ---- */

static int check_not_empty(const struct config *cfg, const char *value, struct err *err)
{
	(void)cfg;
	return *value ? 0 : err_set(err, "must not be empty");
}

static int check_env_name(const struct config *cfg, const char *value, struct err *err)
{
	(void)cfg;
	return *value ? 0 : err_set(err, "must name an environment variable");
}

static int check_naming(const struct config *cfg, const char *value, struct err *err)
{
	(void)cfg;
	return output_check_template(value, err);
}

static int check_preview_command(const struct config *cfg, const char *value, struct err *err)
{
	(void)cfg;
	return preview_check_command(value, err);
}

static int check_url(const struct config *cfg, const char *value, struct err *err)
{
	(void)cfg;
	if (*value && strncmp(value, "https://", 8) && strncmp(value, "http://", 7))
		return err_set(err, "expected an http(s) URL, got '%s'", value);
	return 0;
}

static int valid_uuid(const char *s)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	int g, i;

	for (g = 0; g < 5; g++) {
		for (i = 0; i < groups[g]; i++, s++)
			if (!isxdigit((unsigned char)*s))
				return 0;
		if (g < 4 && *s++ != '-')
			return 0;
	}
	return *s == '\0';
}

static int check_uuid(const struct config *cfg, const char *value, struct err *err)
{
	(void)cfg;
	if (*value && !valid_uuid(value))
		return err_set(err,
			       "'%s' is not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
			       value);
	return 0;
}

/* An amount in USD: empty (no cap) or a number above 0. */
static int check_usd(const struct config *cfg, const char *value, struct err *err)
{
	(void)cfg;
	if (*value && config_usd(value) <= 0)
		return err_set(err, "expected an amount in USD above 0, got '%s'", value);
	return 0;
}

double config_usd(const char *s)
{
	char *end;
	double v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	return errno || end == s || *end || !(v > 0) || v > 1e9 ? -1 : v;
}

static int check_backend(const struct config *cfg, const char *value, struct err *err)
{
	char names[512];

	if (config_backend(cfg, value))
		return 0;
	config_backend_names(cfg, names, sizeof(names));
	return err_set(err, "unknown backend '%s' (configured: %s)", value, names);
}

static int check_style(const struct config *cfg, const char *value, struct err *err)
{
	return config_style_suffix(cfg, value) ? 0 : err_set(err, "unknown style '%s'", value);
}

/* ---- the table ---- */

#define AT(field) offsetof(struct config, field)

const struct cfg_section config_sections[] = {
	{ "defaults", CFG_SECTION_OPTIONS, 0, NULL },
	{ "styles", CFG_SECTION_STYLES, 0,
	  "Style presets: the text is appended to the prompt as \", <suffix>\"." },
	{ "output", CFG_SECTION_OPTIONS, 0, NULL },
	{ "preview", CFG_SECTION_OPTIONS, 0,
	  "How a preview is shown (whether: output.preview).  Inside tmux a new window runs\n"
	  "the viewer; elsewhere the image is drawn inline under the output." },
	{ "cloud", CFG_SECTION_OPTIONS, 1,
	  "Cloud sync to a private Supabase Storage bucket and the imagen.images table.\n"
	  "With cloud_sync: auto it runs once supabase_url is set and the variable named by\n"
	  "service_key_env holds the key; imagen sync retries failures, imagen url FILE signs." },
	{ "budget", CFG_SECTION_OPTIONS, 1,
	  "Caps on what imagen batch spends, from the backends' price tables (USD).\n"
	  "Before a job is sent its estimated cost is reserved; scheduling stops at the cap." },
	{ "backends", CFG_SECTION_BACKENDS, 0,
	  "Backend instances: a name you choose, the adapter `type`, and that adapter's keys." },
	{ NULL, CFG_SECTION_OPTIONS, 0, NULL },
};

const struct cfg_option config_options[] = {
	{ .key = "defaults.backend",
	  .type = CFG_STRING,
	  .def = "mock",
	  .env = "IMAGEN_BACKEND",
	  .flag = "-b",
	  .check = check_backend,
	  .flags = CFG_LATE,
	  .offset = AT(default_backend),
	  .help = "an instance under backends:" },
	{ .key = "defaults.style",
	  .type = CFG_STRING,
	  .def = "none",
	  .flag = "-s",
	  .check = check_style,
	  .flags = CFG_LATE,
	  .offset = AT(default_style),
	  .help = "a preset under styles:, or none" },
	{ .key = "output.directory",
	  .type = CFG_STRING,
	  .def = "~/Pictures/imagen",
	  .env = "IMAGEN_OUTPUT_DIR",
	  .flag = "-o",
	  .check = check_not_empty,
	  .offset = AT(output_dir),
	  .help = "where images go" },
	{ .key = "output.naming",
	  .type = CFG_STRING,
	  .def = "{date}-{slug}-{seed}.png",
	  .flag = "--name",
	  .check = check_naming,
	  .offset = AT(naming),
	  .help = "file names under the directory",
	  .note = "Placeholders: {date} (YYYY-MM-DD, local) {time} (HHMMSS) {slug} {seed}\n"
		  "{backend} {ext}.  Subdirectories are allowed (\"{date}/{slug}-{seed}.png\");\n"
		  "nothing can be written outside the directory." },
	{ .key = "output.write_metadata_json",
	  .type = CFG_BOOL,
	  .def = "true",
	  .offset = AT(write_metadata_json),
	  .help = "a sidecar NAME.json beside each image" },
	{ .key = "output.cloud_sync",
	  .type = CFG_MODE,
	  .def = "auto",
	  .env = "IMAGEN_CLOUD_SYNC",
	  .flag = "--no-cloud",
	  .offset = AT(cloud_sync),
	  .help = "auto | on | off" },
	{ .key = "output.preview",
	  .type = CFG_MODE,
	  .def = "auto",
	  .env = "IMAGEN_PREVIEW",
	  .flag = "--preview",
	  .offset = AT(preview),
	  .help = "auto | on | off" },
	{ .key = "preview.command",
	  .type = CFG_STRING,
	  .def = "",
	  .check = check_preview_command,
	  .offset = AT(preview_command),
	  .help = "viewer for the tmux window, run by /bin/sh ({path}: the image, passed as "
		  "$1, never spliced into the text); the window closes when it exits; "
		  "default: the first of tmux-img, chafa, timg found",
	  .example = "chafa {path}; read -r _",
	  .unset = "(the first of tmux-img, chafa, timg on $PATH)" },
	{ .key = "preview.focus",
	  .type = CFG_BOOL,
	  .def = "false",
	  .offset = AT(preview_focus),
	  .help = "switch to the new tmux window" },
	{ .key = "preview.inline",
	  .type = CFG_TRISTATE,
	  .def = "auto",
	  .offset = AT(preview_inline),
	  .help = "auto: inline outside tmux, a window inside; true: inline in tmux too; "
		  "false: never inline" },
	{ .key = "cloud.supabase_url",
	  .type = CFG_STRING,
	  .def = "",
	  .check = check_url,
	  .offset = AT(supabase_url),
	  .help = "https://PROJECT.supabase.co" },
	{ .key = "cloud.service_key_env",
	  .type = CFG_STRING,
	  .def = "SUPABASE_SERVICE_ROLE_KEY",
	  .check = check_env_name,
	  .offset = AT(service_key_env),
	  .help = "the NAME of the variable holding the key" },
	{ .key = "cloud.bucket",
	  .type = CFG_STRING,
	  .def = "imagen-generated",
	  .check = check_not_empty,
	  .offset = AT(bucket),
	  .help = "a private Storage bucket" },
	{ .key = "cloud.owner_user_id",
	  .type = CFG_STRING,
	  .def = "",
	  .check = check_uuid,
	  .offset = AT(owner_user_id),
	  .help = "required for sync: rows and uploads are filed under it",
	  .note = "Your user id from auth.users (select id from auth.users where email = '...').\n"
		  "ac6c9501-3757-4a6d-8b97-2cff4288382b is the project owner's own id on the\n"
		  "imagen Supabase project: never copy it.  Sync is refused while this is empty." },
	{ .key = "budget.per_batch",
	  .type = CFG_STRING,
	  .def = "",
	  .flag = "--max-cost",
	  .check = check_usd,
	  .offset = AT(budget_per_batch),
	  .help = "USD one batch may spend, resumes included; empty: no cap",
	  .example = "5.00",
	  .unset = "(no cap)" },
	{ .key = "budget.per_day",
	  .type = CFG_STRING,
	  .def = "",
	  .check = check_usd,
	  .offset = AT(budget_per_day),
	  .help = "USD every batch of a day (local time) may spend together; empty: no cap",
	  .example = "20.00",
	  .unset = "(no cap)" },
	{ .key = NULL },
};

/* Built-in style presets: the styles of the built-in default and of the sample. */
static const struct cfg_style builtin_styles[] = {
	{ "cinematic", "cinematic lighting, anamorphic lens, film grain, shallow depth of field" },
	{ "photo", "photograph, natural light, 35mm lens, sharp focus, high detail" },
	{ "illustration", "digital illustration, clean line art, flat colours" },
	{ "watercolor", "watercolor painting, soft washes, paper texture" },
	{ "anime", "anime style, cel shading, vibrant colours" },
};

#define NBUILTIN_STYLES (sizeof(builtin_styles) / sizeof(builtin_styles[0]))

/* The part of a key after "section." */
static const char *option_leaf(const struct cfg_option *o)
{
	const char *dot = strchr(o->key, '.');

	return dot ? dot + 1 : o->key;
}

static int option_in(const struct cfg_option *o, const char *section)
{
	size_t n = strlen(section);

	return !strncmp(o->key, section, n) && o->key[n] == '.';
}

const struct cfg_option *config_option(const char *key)
{
	const struct cfg_option *o;

	for (o = config_options; key && o->key; o++)
		if (!strcmp(o->key, key))
			return o;
	return NULL;
}

int mode_parse(const char *s)
{
	if (!s)
		return -1;
	if (!strcmp(s, "auto"))
		return MODE_AUTO;
	if (!strcmp(s, "on"))
		return MODE_ON;
	if (!strcmp(s, "off"))
		return MODE_OFF;
	return -1;
}

const char *mode_name(enum mode m)
{
	return m == MODE_ON ? "on" : m == MODE_OFF ? "off" : "auto";
}

const char *origin_name(enum origin o)
{
	switch (o) {
	case FROM_FLAG:
		return "flag";
	case FROM_FILE_ARG:
		return "--from";
	case FROM_ENV:
		return "environment";
	case FROM_CONFIG:
		return "config file";
	default:
		return "built-in default";
	}
}

/* ---- typed values ---- */

static int parse_bool(const char *s, int plain, int *num)
{
	if (plain && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
		*num = 1;
		return 0;
	}
	if (plain && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
		*num = 0;
		return 0;
	}
	return -1;
}

/* What text means for a type (*num; strings: 0), or -1 when the type refuses it.  plain:
 * the YAML scalar was not quoted (a quoted "true" is a string, not a boolean). */
static int parse_typed(enum cfg_type type, const char *s, int plain, int *num)
{
	int m;

	*num = 0;
	switch (type) {
	case CFG_STRING:
		return 0;
	case CFG_BOOL:
		return parse_bool(s, plain, num);
	case CFG_MODE:
		if ((m = mode_parse(s)) < 0)
			return -1;
		*num = m;
		return 0;
	case CFG_TRISTATE:
		if (!strcmp(s, "auto")) {
			*num = -1;
			return 0;
		}
		return parse_bool(s, plain, num);
	}
	return -1;
}

/* What a type accepts, for messages. */
static const char *type_expects(enum cfg_type type)
{
	switch (type) {
	case CFG_BOOL:
		return "true or false";
	case CFG_MODE:
		return "auto, on or off";
	case CFG_TRISTATE:
		return "auto, true or false";
	default:
		return "a string";
	}
}

static void store(struct config *cfg, const struct cfg_option *o, const char *text, int num)
{
	void *field = (char *)cfg + o->offset;

	switch (o->type) {
	case CFG_STRING:
		*(const char **)field = text;
		break;
	case CFG_BOOL:
	case CFG_TRISTATE:
		*(int *)field = num;
		break;
	case CFG_MODE:
		*(enum mode *)field = (enum mode)num;
		break;
	}
}

const char *config_value(const struct config *cfg, const struct cfg_option *o)
{
	const void *field = (const char *)cfg + o->offset;
	int n;

	switch (o->type) {
	case CFG_STRING:
		return *(const char *const *)field;
	case CFG_BOOL:
		return *(const int *)field ? "true" : "false";
	case CFG_MODE:
		return mode_name(*(const enum mode *)field);
	case CFG_TRISTATE:
		n = *(const int *)field;
		return n < 0 ? "auto" : n ? "true" : "false";
	}
	return "";
}

static void set_defaults(struct config *cfg)
{
	const struct cfg_option *o;
	int num;

	for (o = config_options; o->key; o++) {
		/* the table's own defaults always parse (test_config checks each) */
		parse_typed(o->type, o->def, 1, &num);
		store(cfg, o, o->def, num);
	}
}

/* ---- discovery ---- */

int config_default_path(char **path_out, const struct env *env, struct err *err)
{
	const char *xdg = env_get(env, "XDG_CONFIG_HOME"), *home = env_get(env, "HOME");
	int n;

	if (xdg && *xdg == '/')
		n = asprintf(path_out, "%s/imagen/imagen.yaml", xdg);
	else if (home && *home)
		n = asprintf(path_out, "%s/.config/imagen/imagen.yaml", home);
	else
		return err_code(err, 2, "config: neither XDG_CONFIG_HOME nor HOME is set");
	if (n < 0) {
		*path_out = NULL;
		return err_code(err, 2, "out of memory");
	}
	return 0;
}

int config_find(char **path_out, int *exists, const char *flag_path, const struct env *env,
		struct err *err)
{
	const char *named = env_get(env, "IMAGEN_CONFIG");
	struct stat st;

	*path_out = NULL;
	*exists = 0;
	if (flag_path || (named && *named)) {
		*path_out = strdup(flag_path ? flag_path : named);
		if (!*path_out)
			return err_code(err, 2, "out of memory");
		/* a config named explicitly must be there: a typo must not fall back silently */
		*exists = 1;
		return 0;
	}
	if (config_default_path(path_out, env, err) < 0)
		return -1;
	*exists = stat(*path_out, &st) == 0;
	return 0;
}

/* ---- validation ---- */

struct vctx {
	struct config *cfg;
	struct err *err;
};

__attribute__((format(printf, 3, 4))) static int fail_node(struct vctx *v, const struct ynode *n,
							   const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		return err_code(v->err, 2, "config: %s:%d:%d: %s", v->cfg->display, n->line, n->col,
				msg);
	return err_code(v->err, 2, "config: %s: %s", v->cfg->display, msg);
}

static int check_keys(struct vctx *v, const struct ynode *map, const char *const *known,
		      const char *section)
{
	const struct ynode *key;
	const char *hint;
	size_t i, k;
	int found;

	for (i = 0; i < map->n; i++) {
		key = map->items[2 * i];
		found = 0;
		for (k = 0; known[k]; k++)
			if (!strcmp(known[k], key->str))
				found = 1;
		if (found)
			continue;
		hint = suggest_closest(key->str, known);
		return fail_node(v, key, "unknown key '%s'%s%s%s%s%s", key->str,
				 section ? " in " : "", section ? section : "",
				 hint ? " (did you mean '" : "", hint ? hint : "",
				 hint ? "'?)" : "");
	}
	return 0;
}

static int want_map(struct vctx *v, const struct ynode *n, const char *path)
{
	if (n->kind == YN_MAP)
		return 0;
	if (n->kind == YN_SCALAR && n->plain && !*n->str)
		return 0; /* "section:" with nothing under it */
	return fail_node(v, n, "%s: expected a mapping", path);
}

static int want_string(struct vctx *v, const struct ynode *n, const char *path, const char **out)
{
	if (n->kind != YN_SCALAR)
		return fail_node(v, n, "%s: expected a string", path);
	*out = n->str;
	return 0;
}

static int valid_name(const char *s)
{
	if (!*s || !isalnum((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return 0;
	return 1;
}

/* Takes slice (the adapter's) and whole (as written; may be slice itself). */
static int add_backend(struct config *cfg, const char *name, const char *type,
		       const struct backend_ops *ops, json_t *slice, json_t *whole,
		       const struct ynode *node)
{
	struct cfg_backend *p = realloc(cfg->backends, (cfg->nbackends + 1) * sizeof(*p));

	if (!p)
		return -1;
	cfg->backends = p;
	if (whole == slice)
		json_incref(whole);
	p[cfg->nbackends++] = (struct cfg_backend){ name, type, ops, slice, whole, node };
	return 0;
}

static int load_backends(struct vctx *v, const struct ynode *sec)
{
	struct config *cfg = v->cfg;
	const struct ynode *key, *val, *type_node, *bad;
	const struct backend_ops *ops;
	const char *type = NULL, *hint;
	const char *const *types = (const char *const *)NULL;
	const char *type_names[16];
	struct err aerr = ERR_INIT;
	char path[256];
	json_t *slice, *whole;
	size_t i, k;

	for (k = 0; backend_types()[k] && k < 14; k++)
		type_names[k] = backend_types()[k]->type;
	type_names[k++] = CFG_POOL_TYPE;
	type_names[k] = NULL;
	types = type_names;
	for (i = 0; sec->kind == YN_MAP && i < sec->n; i++) {
		key = sec->items[2 * i];
		val = sec->items[2 * i + 1];
		if (!valid_name(key->str))
			return fail_node(
				v, key,
				"backends: invalid instance name '%s' (letters, digits, '-' and "
				"'_', starting with a letter or digit)",
				key->str);
		snprintf(path, sizeof(path), "backends.%s", key->str);
		if (val->kind != YN_MAP)
			return fail_node(v, val,
					 "%s: expected a mapping with at least a 'type' key", path);
		type_node = ynode_get(val, "type", NULL);
		if (!type_node)
			return fail_node(v, key,
					 "%s: missing 'type' (known types: %s, " CFG_POOL_TYPE ")",
					 path, backend_type_list());
		if (want_string(v, type_node, "type", &type) < 0)
			return -1;
		if (!strcmp(type, CFG_POOL_TYPE)) {
			/* members and strategy are the batch engine's to check (pool.h) */
			slice = ynode_to_json(val);
			if (!slice ||
			    add_backend(cfg, key->str, type, NULL, slice, slice, key) < 0) {
				json_decref(slice);
				return fail_node(v, NULL, "out of memory");
			}
			continue;
		}
		ops = backend_find(type);
		if (!ops) {
			hint = suggest_closest(type, types);
			return fail_node(
				v, type_node,
				"%s: unknown backend type '%s'%s%s%s (known: %s, " CFG_POOL_TYPE
				")",
				path, type, hint ? " (did you mean '" : "", hint ? hint : "",
				hint ? "'?)" : "", backend_type_list());
		}
		whole = ynode_to_json(val);
		slice = whole ? json_deep_copy(whole) : NULL;
		if (!slice) {
			json_decref(whole);
			return fail_node(v, val, "out of memory");
		}
		/* `concurrency` is the framework's (jobs in flight, checked by the batch
		 * engine): the adapter never sees it */
		json_object_del(slice, "concurrency");
		/* the adapter's own key list first, then its own check of the values */
		if ((ops->keys && cfg_check_keys(key->str, slice, ops->keys, &aerr) < 0) ||
		    ops->validate(key->str, slice, &aerr) < 0) {
			bad = NULL;
			if (aerr.key[0]) {
				/* the adapter names a key: point at it (the key itself when it is
				 * unknown, its value otherwise) */
				const struct ynode *kn = NULL;

				bad = ynode_get(val, aerr.key, &kn);
				if (bad && strstr(aerr.msg, "unknown key"))
					bad = kn;
			}
			json_decref(slice);
			json_decref(whole);
			return fail_node(v, bad ? bad : key, "%s", aerr.msg);
		}
		if (add_backend(cfg, key->str, type, ops, slice, whole, key) < 0) {
			json_decref(slice);
			json_decref(whole);
			return fail_node(v, NULL, "out of memory");
		}
	}
	return 0;
}

static int load_styles(struct vctx *v, const struct ynode *sec)
{
	struct config *cfg = v->cfg;
	const struct ynode *key, *val;
	char path[256];
	size_t i;

	if (sec->kind != YN_MAP)
		return 0;
	cfg->styles = calloc(sec->n ? sec->n : 1, sizeof(*cfg->styles));
	if (!cfg->styles)
		return fail_node(v, NULL, "out of memory");
	for (i = 0; i < sec->n; i++) {
		key = sec->items[2 * i];
		val = sec->items[2 * i + 1];
		if (!valid_name(key->str))
			return fail_node(
				v, key,
				"styles: invalid style name '%s' (letters, digits, '-' and '_')",
				key->str);
		if (!strcmp(key->str, "none"))
			return fail_node(v, key, "styles: 'none' is reserved (it means no style)");
		snprintf(path, sizeof(path), "styles.%s", key->str);
		if (want_string(v, val, path, &cfg->styles[cfg->nstyles].suffix) < 0)
			return -1;
		cfg->styles[cfg->nstyles++].name = key->str;
	}
	return 0;
}

/* A value from the file: its type, then the row's check unless that waits for the
 * styles and backends. */
static int load_option(struct vctx *v, const struct cfg_option *o, const struct ynode *n)
{
	struct err cerr = ERR_INIT;
	int num;

	if (n->kind != YN_SCALAR) {
		if (o->type == CFG_STRING)
			return fail_node(v, n, "%s: expected a string", o->key);
		return fail_node(v, n, "%s: expected %s, got '(a collection)'", o->key,
				 type_expects(o->type));
	}
	if (parse_typed(o->type, n->str, n->plain, &num) < 0)
		return fail_node(v, n, "%s: expected %s, got '%s'", o->key, type_expects(o->type),
				 n->str);
	store(v->cfg, o, n->str, num);
	if (o->check && !(o->flags & CFG_LATE) && o->check(v->cfg, n->str, &cerr) < 0)
		return fail_node(v, n, "%s: %s", o->key, cerr.msg);
	return 0;
}

static int load_options(struct vctx *v, const struct cfg_section *sec, const struct ynode *map)
{
	const struct cfg_option *o;
	const char *known[32];
	const struct ynode *n;
	size_t k = 0;

	for (o = config_options; o->key; o++)
		if (option_in(o, sec->name) && k < 31)
			known[k++] = option_leaf(o);
	known[k] = NULL;
	if (check_keys(v, map, known, sec->name) < 0)
		return -1;
	for (o = config_options; o->key; o++)
		if (option_in(o, sec->name) && (n = ynode_get(map, option_leaf(o), NULL)) &&
		    load_option(v, o, n) < 0)
			return -1;
	return 0;
}

/* The checks that need every style and backend instance loaded first. */
static int check_late(struct vctx *v)
{
	const struct cfg_option *o;
	const struct ynode *n;
	struct err cerr = ERR_INIT;
	char section[64];

	for (o = config_options; o->key; o++) {
		if (!(o->flags & CFG_LATE) || !o->check)
			continue;
		snprintf(section, sizeof(section), "%.*s", (int)(option_leaf(o) - 1 - o->key),
			 o->key);
		n = ynode_get(ynode_get(v->cfg->root, section, NULL), option_leaf(o), NULL);
		if (n && o->check(v->cfg, n->str, &cerr) < 0)
			return fail_node(v, n, "%s: %s", o->key, cerr.msg);
	}
	return 0;
}

static int load_root(struct vctx *v)
{
	struct config *cfg = v->cfg;
	const struct cfg_section *sec;
	const struct ynode *root = cfg->root, *n, *backends;
	const char *top[16];
	size_t k = 0;

	if (root->kind != YN_MAP)
		return fail_node(v, root, "expected a mapping at the top level");
	for (sec = config_sections; sec->name && k < 15; sec++)
		top[k++] = sec->name;
	top[k] = NULL;
	if (check_keys(v, root, top, NULL) < 0)
		return -1;
	set_defaults(cfg);

	/* the built-in mock is always there unless the file defines an instance of that name */
	backends = ynode_get(root, "backends", NULL);
	if (!ynode_get(backends, "mock", NULL)) {
		json_t *slice = json_pack("{s:s}", "type", "mock");

		if (!slice || add_backend(cfg, "mock", "mock", backend_find("mock"), slice, slice,
					  NULL) < 0) {
			json_decref(slice);
			return fail_node(v, NULL, "out of memory");
		}
	}
	for (sec = config_sections; sec->name; sec++) {
		if (!(n = ynode_get(root, sec->name, NULL)))
			continue;
		if (want_map(v, n, sec->name) < 0)
			return -1;
		if (n->kind != YN_MAP)
			continue; /* "section:" with nothing under it */
		if ((sec->kind == CFG_SECTION_OPTIONS && load_options(v, sec, n) < 0) ||
		    (sec->kind == CFG_SECTION_STYLES && load_styles(v, n) < 0) ||
		    (sec->kind == CFG_SECTION_BACKENDS && load_backends(v, n) < 0))
			return -1;
	}
	cfg->has_cloud = config_has_section(cfg, "cloud");
	return check_late(v);
}

/* Validate the tree just parsed into cfg (parsed: the parser's return); cfg is freed on
 * failure and handed to *out on success. */
static int config_finish(struct config **out, struct config *cfg, int parsed, struct err *err)
{
	struct vctx v = { cfg, err };

	if (parsed < 0)
		err_prefix(err, "config");
	if (parsed < 0 || load_root(&v) < 0) {
		config_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

int config_parse(struct config **out, const char *text, size_t len, const char *display,
		 struct err *err)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	*out = NULL;
	if (!cfg)
		return err_code(err, 2, "out of memory");
	cfg->display = display;
	return config_finish(out, cfg, yaml_parse(&cfg->root, text, len, display, err), err);
}

int config_load_file(struct config **out, const char *path, struct err *err)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	*out = NULL;
	if (!cfg || !(cfg->path = strdup(path))) {
		free(cfg);
		return err_code(err, 2, "out of memory");
	}
	cfg->display = cfg->path;
	return config_finish(out, cfg, yaml_load_file(&cfg->root, path, err), err);
}

int config_load_default(struct config **out, struct err *err)
{
	struct config *cfg;

	/* an empty file gives every default of the table and the built-in mock */
	if (config_parse(&cfg, "", 0, "(built-in default)", err) < 0) {
		*out = NULL;
		return -1;
	}
	cfg->styles = malloc(sizeof(builtin_styles));
	if (!cfg->styles) {
		config_free(cfg);
		*out = NULL;
		return err_code(err, 2, "out of memory");
	}
	memcpy(cfg->styles, builtin_styles, sizeof(builtin_styles));
	cfg->nstyles = NBUILTIN_STYLES;
	*out = cfg;
	return 0;
}

int config_load(struct config **out, const char *flag_path, struct err *err)
{
	char *path = NULL;
	int exists, rc;

	*out = NULL;
	if (config_find(&path, &exists, flag_path, env_process(), err) < 0)
		return -1;
	rc = exists ? config_load_file(out, path, err) : config_load_default(out, err);
	free(path);
	return rc;
}

void config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->nbackends; i++) {
		json_decref(cfg->backends[i].cfg);
		json_decref(cfg->backends[i].slice);
	}
	free(cfg->backends);
	free(cfg->styles);
	ynode_free(cfg->root);
	free(cfg->path);
	free(cfg);
}

const struct cfg_backend *config_backend(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; name && i < cfg->nbackends; i++)
		if (!strcmp(cfg->backends[i].name, name))
			return &cfg->backends[i];
	return NULL;
}

void config_backend_names(const struct config *cfg, char *buf, size_t size)
{
	size_t i, used = 0;
	int n;

	if (size)
		buf[0] = '\0';
	for (i = 0; i < cfg->nbackends && used < size; i++) {
		n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", cfg->backends[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

const char *config_style_suffix(const struct config *cfg, const char *name)
{
	size_t i;

	if (!name || !strcmp(name, "none"))
		return "";
	for (i = 0; i < cfg->nstyles; i++)
		if (!strcmp(cfg->styles[i].name, name))
			return cfg->styles[i].suffix;
	return NULL;
}

size_t config_backends_configured(const struct config *cfg)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->nbackends; i++)
		n += cfg->backends[i].node != NULL;
	return n;
}

int config_has_section(const struct config *cfg, const char *name)
{
	const struct ynode *n = ynode_get(cfg->root, name, NULL);

	return n && n->kind == YN_MAP;
}

size_t config_warnings(const struct config *cfg, char *buf, size_t size)
{
	size_t count = 0, used = 0;
	int n;

	if (size)
		buf[0] = '\0';
	/* only where sync would run: on, or auto with a URL (auto without one is off) */
	if (cfg->has_cloud && !*cfg->owner_user_id &&
	    (cfg->cloud_sync == MODE_ON || (cfg->cloud_sync == MODE_AUTO && *cfg->supabase_url))) {
		n = snprintf(
			buf + used, size - used,
			"cloud sync is %s but cloud.owner_user_id is empty: sync will be refused "
			"(see imagen config init)\n",
			mode_name(cfg->cloud_sync));
		if (n > 0 && (size_t)n < size - used)
			used += (size_t)n;
		count++;
	}
	return count;
}

const struct ynode *config_node(const struct config *cfg, const char *path,
				const struct ynode **key_out)
{
	const struct ynode *n = cfg->root, *kn = NULL;
	char part[256], *end;
	const char *p = path, *dot;
	unsigned long idx;
	size_t len;

	while (n && *p) {
		dot = strchr(p, '.');
		len = dot ? (size_t)(dot - p) : strlen(p);
		if (len >= sizeof(part))
			return NULL;
		memcpy(part, p, len);
		part[len] = '\0';
		if (n->kind == YN_SEQ) {
			idx = strtoul(part, &end, 10);
			n = *part && !*end && idx < n->n ? n->items[idx] : NULL;
			kn = n;
		} else {
			n = ynode_get(n, part, &kn);
		}
		p = dot ? dot + 1 : p + len;
	}
	if (!n || !kn)
		return NULL;
	if (key_out)
		*key_out = kn;
	return n;
}

int config_locate(const struct config *cfg, const char *path, int *line, int *col)
{
	const struct ynode *kn;

	if (!config_node(cfg, path, &kn))
		return -1;
	*line = kn->line;
	*col = kn->col;
	return 0;
}

/* ---- precedence: flag > environment > config file > built-in default ---- */

static int in_file(const struct config *cfg, const char *path)
{
	int l, c;

	return cfg->path && config_locate(cfg, path, &l, &c) == 0;
}

int config_resolve(const char **value, enum origin *from, const struct config *cfg,
		   const struct cfg_option *opt, const char *flag, enum origin flag_from,
		   const struct env *env, struct err *err)
{
	const char *val = opt->env ? env_get(env, opt->env) : NULL;
	int num;

	if (flag) {
		*value = flag;
		*from = flag_from;
		return 0;
	}
	if (val && *val) {
		/* a bad variable is an error only where it would decide something */
		if (parse_typed(opt->type, val, 1, &num) < 0)
			return err_code(err, 2, "%s: invalid value '%s' (expected %s)", opt->env,
					val, type_expects(opt->type));
		*value = val;
		*from = FROM_ENV;
		return 0;
	}
	*value = config_value(cfg, opt);
	*from = in_file(cfg, opt->key) ? FROM_CONFIG : FROM_DEFAULT;
	return 0;
}

/* A string knob of struct settings. */
static int resolve_string(const char **out, enum origin *from, const struct config *cfg,
			  const char *key, const char *flag, enum origin flag_from,
			  const struct env *env, struct err *err)
{
	return config_resolve(out, from, cfg, config_option(key), flag, flag_from, env, err);
}

/* An auto|on|off knob of struct settings; flag: enum mode, or -1 when not given. */
static int resolve_mode(enum mode *out, enum origin *from, const struct config *cfg,
			const char *key, int flag, const struct env *env, struct err *err)
{
	const char *text;

	if (config_resolve(&text, from, cfg, config_option(key),
			   flag >= 0 ? mode_name((enum mode)flag) : NULL, FROM_FLAG, env, err) < 0)
		return -1;
	*out = (enum mode)mode_parse(text);
	return 0;
}

int settings_resolve(struct settings *out, const struct config *cfg, const struct overrides *ov,
		     const struct env *env, struct err *err)
{
	if (resolve_string(&out->backend, &out->backend_from, cfg, "defaults.backend", ov->backend,
			   ov->backend_origin == FROM_FILE_ARG ? FROM_FILE_ARG : FROM_FLAG, env,
			   err) < 0 ||
	    resolve_string(&out->output_dir, &out->output_dir_from, cfg, "output.directory",
			   ov->output_dir, FROM_FLAG, env, err) < 0 ||
	    resolve_mode(&out->cloud_sync, &out->cloud_sync_from, cfg, "output.cloud_sync",
			 ov->cloud_sync, env, err) < 0 ||
	    resolve_mode(&out->preview, &out->preview_from, cfg, "output.preview", ov->preview, env,
			 err) < 0)
		return -1;

	/* auto follows the configuration; on insists on it */
	out->cloud_on = 0;
	if (out->cloud_sync != MODE_OFF) {
		struct err why = ERR_INIT;

		out->cloud_on = config_cloud_usable(cfg, env, &why) == 0;
		if (!out->cloud_on && out->cloud_sync == MODE_ON)
			return err_code(err, 2, "config: cloud sync is on (from %s) but %s",
					origin_name(out->cloud_sync_from), why.msg);
	}
	return 0;
}

int config_cloud_usable(const struct config *cfg, const struct env *env, struct err *err)
{
	const char *key;

	if (!*cfg->supabase_url)
		return err_code(err, 2, "cloud.supabase_url is not set %s%s",
				cfg->path ? "in " : "(no config file, see imagen config init)",
				cfg->path ? cfg->path : "");
	key = env_get(env, cfg->service_key_env);
	if (!key || !*key)
		return err_code(err, 2,
				"the environment variable %s (named by cloud.service_key_env) is "
				"not set",
				cfg->service_key_env);
	return 0;
}

/* ---- the sample `config init` writes ---- */

#define SAMPLE_COMMENT_COL 32 /* where a key's comment starts (0-based) */
#define SAMPLE_WIDTH 94       /* comments wrap before this column */

static const char sample_head[] =
	"# imagen.yaml - configuration for imagen(1).\n"
	"#\n"
	"# Found by --config FILE, then $IMAGEN_CONFIG, then\n"
	"# $XDG_CONFIG_HOME/imagen/imagen.yaml (~/.config/imagen/imagen.yaml).\n"
	"# Precedence for every knob: flag > environment > this file > built-in default.\n"
	"# Check it with: imagen config validate\n";

/* Each line of text after prefix, or after hash_prefix when it starts with '#' (a
 * comment of its own); empty lines stay empty. */
static int sample_lines(struct buf *b, const char *text, const char *prefix,
			const char *hash_prefix)
{
	const char *p = text, *nl;
	int rc = 0, len;

	while (!rc && *p) {
		nl = strchr(p, '\n');
		len = (int)(nl ? nl - p : (ptrdiff_t)strlen(p));
		if (!len)
			rc = buf_adds(b, "\n");
		else
			rc = buf_addf(b, "%s%.*s\n", *p == '#' ? hash_prefix : prefix, len, p);
		p = nl ? nl + 1 : p + len;
	}
	return rc;
}

/* A scalar as YAML: plain when that reads back as the same string, else double-quoted. */
static int sample_scalar(struct buf *b, const char *s)
{
	static const char *const words[] = { "null", "true", "false", "yes", "no",
					     "on",   "off",  "~",     NULL };
	size_t i;
	int plain = *s && *s != '-';

	for (i = 0; plain && s[i]; i++)
		plain = isalnum((unsigned char)s[i]) || strchr("_./~+-", s[i]);
	for (i = 0; plain && words[i]; i++)
		plain = strcasecmp(s, words[i]) != 0;
	if (plain)
		return buf_adds(b, s);
	if (buf_adds(b, "\""))
		return -1;
	for (; *s; s++)
		if ((*s == '"' || *s == '\\') ? buf_addf(b, "\\%c", *s) : buf_add(b, s, 1))
			return -1;
	return buf_adds(b, "\"");
}

/* The line already in b since `start` gets `comment` from SAMPLE_COMMENT_COL, wrapped
 * at word boundaries onto "  #" continuation lines; with inline 0 the line is complete
 * and the comment starts on a continuation line. */
static int sample_comment(struct buf *b, size_t start, const char *indent, const char *comment,
			  int inline_first)
{
	size_t col = b->len - start, at = SAMPLE_COMMENT_COL, room, n;
	const char *p = comment, *space;
	int rc = 0, first = inline_first;

	if (inline_first && col + 2 > at)
		at = col + 2; /* a long line pushes its comment right */
	while (!rc && *p) {
		room = SAMPLE_WIDTH > at + 2 ? SAMPLE_WIDTH - at - 2 : 20;
		n = strlen(p);
		if (n > room) {
			/* the last space that fits, else the first one after */
			for (space = p + room; space > p && *space != ' '; space--)
				;
			if (space == p)
				space = strchr(p, ' ');
			n = space ? (size_t)(space - p) : n;
		}
		if (first)
			rc = buf_addf(b, "%*s# %.*s\n", (int)(at - col), "", (int)n, p);
		else
			rc = buf_addf(b, "%s#%*s# %.*s\n", indent, (int)(at - strlen(indent) - 1),
				      "", (int)n, p);
		first = 0;
		p += n;
		while (*p == ' ')
			p++;
	}
	return rc;
}

static int sample_option(struct buf *b, const struct cfg_option *o)
{
	char comment[512];
	size_t start;
	int rc = 0;

	if (o->note)
		rc = sample_lines(b, o->note, "  # ", "  # ");
	snprintf(comment, sizeof(comment), "%s%s%s%s%s%s%s", o->help ? o->help : "",
		 o->env || o->flag ? " (" : "", o->env ? "env " : "", o->env ? o->env : "",
		 o->env && o->flag ? ", " : "", o->flag ? "flag " : "", o->flag ? o->flag : "");
	if (o->env || o->flag)
		strncat(comment, ")", sizeof(comment) - strlen(comment) - 1);
	start = b->len;
	/* an empty default is not written as such: an example shows the form, commented out,
	 * on a line of its own (uncommenting it gives a working line) */
	if (!rc && !*o->def && o->example)
		return buf_addf(b, "  # %s: ", option_leaf(o)) || sample_scalar(b, o->example) ||
		       buf_adds(b, "\n") || sample_comment(b, b->len, "  ", comment, 0);
	else if (!rc && o->type != CFG_STRING)
		rc = buf_addf(b, "  %s: %s", option_leaf(o), o->def);
	else if (!rc)
		rc = buf_addf(b, "  %s: ", option_leaf(o)) || sample_scalar(b, o->def);
	if (!rc)
		rc = *comment ? sample_comment(b, start, "  ", comment, 1) : buf_adds(b, "\n");
	return rc;
}

/* The framework's own instance keys, after the adapters' blocks: `concurrency` on any
 * instance and a pool of instances (imagen batch, generate --count). */
static const char sample_pool[] =
	"# Any instance takes concurrency: N (1..64), the jobs in flight on it at once in a\n"
	"# batch or a --count (default: comfyui and a1111 2, openai and replicate 4, mock 1).\n"
	"# A pool spreads jobs over instances (imagen batch -b farm, generate -b farm).\n"
	"# farm:\n"
	"#   type: pool\n"
	"#   members: [gpu-a, {name: gpu-b, weight: 2}]   # instances; weight 1..100\n"
	"#   strategy: least-busy             # least-busy | round-robin | ordered (the\n"
	"#                                    # first member up; the others fallbacks)\n";

int config_sample(struct buf *out)
{
	const struct backend_ops *const *types = backend_types();
	const struct cfg_option *o, *def = config_option("defaults.backend");
	const struct cfg_section *sec;
	size_t i;
	int rc = buf_adds(out, sample_head);

	for (sec = config_sections; !rc && sec->name; sec++) {
		rc = buf_adds(out, "\n") ||
		     (sec->note && sample_lines(out, sec->note, "# ", "# ")) ||
		     buf_addf(out, "%s:\n", sec->name);
		if (sec->kind == CFG_SECTION_OPTIONS)
			for (o = config_options; !rc && o->key; o++)
				if (option_in(o, sec->name))
					rc = sample_option(out, o);
		if (sec->kind == CFG_SECTION_STYLES)
			for (i = 0; !rc && i < NBUILTIN_STYLES; i++)
				rc = buf_addf(out, "  %s: ", builtin_styles[i].name) ||
				     sample_scalar(out, builtin_styles[i].suffix) ||
				     buf_adds(out, "\n");
		if (sec->kind == CFG_SECTION_BACKENDS)
			for (i = 0; !rc && types[i]; i++)
				/* the default backend's block active, the others commented out
				 * (their own comment lines as they are) */
				if (types[i]->sample)
					rc = sample_lines(out, types[i]->sample,
							  strcmp(types[i]->type, def->def) ? "  # "
											   : "  ",
							  "  ");
		if (!rc && sec->kind == CFG_SECTION_BACKENDS)
			rc = sample_lines(out, sample_pool, "  ", "  ");
	}
	return rc ? -1 : 0;
}
