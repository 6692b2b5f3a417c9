/* config.c - imagen.yaml: discovery, validation (FILE:LINE:COL), default, precedence. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/output.h"
#include "core/previewcmd.h"
#include "util/suggest.h"

const char config_builtin[] =
	"defaults:\n"
	"  backend: mock\n"
	"  style: none\n"
	"styles:\n"
	"  cinematic: \"cinematic lighting, anamorphic lens, film grain, shallow depth of field\"\n"
	"  photo: \"photograph, natural light, 35mm lens, sharp focus, high detail\"\n"
	"  illustration: \"digital illustration, clean line art, flat colours\"\n"
	"  watercolor: \"watercolor painting, soft washes, paper texture\"\n"
	"  anime: \"anime style, cel shading, vibrant colours\"\n"
	"output:\n"
	"  directory: ~/Pictures/imagen\n"
	"  naming: \"{date}-{slug}-{seed}.png\"\n"
	"  write_metadata_json: true\n"
	"  cloud_sync: auto\n"
	"  preview: auto\n"
	"backends:\n"
	"  mock:\n"
	"    type: mock\n";

const char config_sample[] =
	"# imagen.yaml - configuration for imagen(1).\n"
	"#\n"
	"# Found by --config FILE, then $IMAGEN_CONFIG, then\n"
	"# $XDG_CONFIG_HOME/imagen/imagen.yaml (~/.config/imagen/imagen.yaml).\n"
	"# Precedence for every knob: flag > environment > this file > built-in default.\n"
	"# Check it with: imagen config validate\n"
	"\n"
	"defaults:\n"
	"  backend: mock          # an instance name from backends: below (env IMAGEN_BACKEND, "
	"flag -b)\n"
	"  style: none            # a preset from styles: below, or none (flag -s)\n"
	"\n"
	"# Style presets: the text is appended to the prompt as \", <suffix>\".\n"
	"styles:\n"
	"  cinematic: \"cinematic lighting, anamorphic lens, film grain, shallow depth of field\"\n"
	"  photo: \"photograph, natural light, 35mm lens, sharp focus, high detail\"\n"
	"  illustration: \"digital illustration, clean line art, flat colours\"\n"
	"  watercolor: \"watercolor painting, soft washes, paper texture\"\n"
	"  anime: \"anime style, cel shading, vibrant colours\"\n"
	"\n"
	"output:\n"
	"  directory: ~/Pictures/imagen   # env IMAGEN_OUTPUT_DIR, flag -o\n"
	"  # Placeholders: {date} (YYYY-MM-DD, local) {time} (HHMMSS) {slug} {seed}\n"
	"  # {backend} {ext}.  Subdirectories are allowed (\"{date}/{slug}-{seed}.png\");\n"
	"  # nothing can be written outside the directory.\n"
	"  naming: \"{date}-{slug}-{seed}.png\"\n"
	"  write_metadata_json: true      # a sidecar NAME.json beside each image\n"
	"  cloud_sync: auto               # auto | on | off  (env IMAGEN_CLOUD_SYNC, flag "
	"--no-cloud)\n"
	"  preview: auto                  # auto | on | off  (env IMAGEN_PREVIEW, flag --preview)\n"
	"\n"
	"# How a preview is shown (whether: output.preview).  Inside tmux a new window runs\n"
	"# the viewer; elsewhere the image is drawn inline under the output.\n"
	"preview:\n"
	"  # command: \"chafa {path}; read -r _\"\n"
	"  #                             # viewer for the tmux window ({path}: the image,\n"
	"  #                             # quoted); the window closes when it exits;\n"
	"  #                             # default: the first of tmux-img, chafa, timg found\n"
	"  focus: false                  # switch to the new tmux window\n"
	"  inline: auto                  # auto: inline outside tmux, a window inside;\n"
	"  #                             # true: inline in tmux too; false: never inline\n"
	"\n"
	"# Cloud sync to a private Supabase Storage bucket and the imagen.images table.\n"
	"# With cloud_sync: auto it runs once supabase_url is set and the variable named by\n"
	"# service_key_env holds the key; imagen sync retries failures, imagen url FILE signs.\n"
	"cloud:\n"
	"  supabase_url: \"\"               # https://PROJECT.supabase.co\n"
	"  service_key_env: SUPABASE_SERVICE_ROLE_KEY   # the NAME of the variable holding the "
	"key\n"
	"  bucket: imagen-generated\n"
	"  # Your user id from auth.users (select id from auth.users where email = '...').\n"
	"  owner_user_id: \"ac6c9501-3757-4a6d-8b97-2cff4288382b\"\n"
	"\n"
	"# Backend instances: a name you choose, the adapter `type`, and that adapter's keys.\n"
	"backends:\n"
	"  mock:\n"
	"    type: mock            # built-in, no network: deterministic pictures\n"
	"    width: 512\n"
	"    height: 512\n"
	"    steps: 20\n"
	"    delay_ms: 0           # simulated latency\n"
	"    # fail: \"out of memory\" # make every generation fail with this message\n"
	"  # A ComfyUI server (local: no cost recorded).\n"
	"  # comfy:\n"
	"  #   type: comfyui\n"
	"  #   base_url: http://127.0.0.1:8188\n"
	"  #   workflow: builtin:txt2img           # builtin:flux-schnell, or a graph saved with\n"
	"  #                                       # \"Export (API)\"; default: flux-schnell when\n"
	"  #                                       # model contains \"flux\", else txt2img\n"
	"  #   model: v1-5-pruned-emaonly.safetensors   # checkpoint; required with txt2img\n"
	"  #   default_steps: 20                   # unset: the graph's own\n"
	"  #   sampler: euler                      # KSampler sampler_name\n"
	"  #   scheduler: normal\n"
	"  #   cfg: 7.0                            # 0..100\n"
	"  #   params:                             # where each knob goes; found from the\n"
	"  #     prompt: \"6.inputs.text\"           # standard nodes when absent (negative,\n"
	"  #     seed: \"3.inputs.seed\"             # seed, steps, width, height, cfg, sampler,\n"
	"  #                                       # scheduler, model, batch_size; null: none)\n"
	"  #   timeout: 600                        # seconds to wait once queued\n"
	"  # AUTOMATIC1111 / Forge WebUI started with --api (local: no cost recorded).\n"
	"  # sd-local:\n"
	"  #   type: a1111\n"
	"  #   base_url: http://127.0.0.1:7860\n"
	"  #   model: \"sd_xl_base_1.0.safetensors\"  # override_settings.sd_model_checkpoint;\n"
	"  #                                       # unset: the model the server has loaded\n"
	"  #   sampler: Euler a                  # sampler_name\n"
	"  #   scheduler: Automatic              # Karras, Exponential, ... (A1111 >= 1.9)\n"
	"  #   cfg_scale: 7\n"
	"  #   width: 512                        # multiples of 8\n"
	"  #   height: 512\n"
	"  #   steps: 20\n"
	"  #   auth_env: A1111_AUTH              # NAME of a variable holding user:password\n"
	"  #                                     # (--api-auth); unset: no authentication\n"
	"  #   timeout: 600                      # seconds per attempt\n"
	"  # OpenAI Images API, or any server speaking it (set base_url).  No seed upstream.\n"
	"  # openai:\n"
	"  #   type: openai\n"
	"  #   model: gpt-image-1              # required; sent as is\n"
	"  #   api_key_env: OPENAI_API_KEY     # the NAME of the variable holding the key\n"
	"  #   base_url: https://api.openai.com/v1\n"
	"  #   quality: medium                 # low|medium|high|auto (dall-e-3: standard|hd)\n"
	"  #   size: 1024x1024                 # or auto; -W/-H must match an accepted size\n"
	"  #   sizes: [1024x1024, 1536x1024, 1024x1536]   # or any | flexible; default by "
	"model\n"
	"  #   output_format: png              # png|jpeg|webp (GPT image models)\n"
	"  #   output_compression: 90          # 0..100, jpeg/webp\n"
	"  #   background: auto                # transparent|opaque|auto\n"
	"  #   moderation: auto                # auto|low\n"
	"  #   style: vivid                    # dall-e-3 only\n"
	"  #   response_format: b64_json       # url|b64_json, DALL-E only\n"
	"  #   max_n: 10                       # images per request (dall-e-3 default: 1)\n"
	"  #   timeout: 600                    # seconds per attempt\n"
	"  #   prices:                         # USD; replaces the built-in entry of a model\n"
	"  #     gpt-image-1:\n"
	"  #       text_input_per_mtok: 5.0\n"
	"  #       image_input_per_mtok: 10.0\n"
	"  #       image_output_per_mtok: 40.0\n"
	"  #       per_image: {medium/1024x1024: 0.042}   # or one number\n"
	"  # Replicate: an official model (owner/name) or any owner/name:VERSION.\n"
	"  # flux:\n"
	"  #   type: replicate\n"
	"  #   model: black-forest-labs/flux-schnell\n"
	"  #   token_env: REPLICATE_API_TOKEN  # the NAME of the variable holding the token\n"
	"  #   base_url: https://api.replicate.com/v1\n"
	"  #   input: {go_fast: true}          # extra model inputs; --set wins, null removes\n"
	"  #   wait: 60                        # Prefer: wait=N (1..60); 0: poll from the "
	"start\n"
	"  #   poll_ms: 1000                   # polling interval once the wait ran out\n"
	"  #   timeout: 600                    # seconds before the prediction is canceled\n"
	"  #   max_outputs: 4                  # num_outputs per prediction; 1: not sent\n"
	"  #   size_input: aspect_ratio        # width_height|aspect_ratio|none (default by "
	"model)\n"
	"  #   negative_prompt_key: \"\"         # input for -n; \"\": not sent (default by "
	"model)\n"
	"  #   prices:                         # USD; replaces the built-in entry of a model\n"
	"  #     black-forest-labs/flux-schnell: {per_image: 0.003}\n"
	"  #     acme/sdxl-lite: {per_second: 0.0014}   # x metrics.predict_time\n";

static const char *const top_keys[] = { "defaults", "styles",   "output", "preview",
					"cloud",    "backends", NULL };
static const char *const preview_keys[] = { "command", "focus", "inline", NULL };
static const char *const defaults_keys[] = { "backend", "style", NULL };
static const char *const output_keys[] = { "directory",  "naming",  "write_metadata_json",
					   "cloud_sync", "preview", NULL };
static const char *const cloud_keys[] = { "supabase_url", "service_key_env", "bucket",
					  "owner_user_id", NULL };

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

/* A string that must not be empty; `empty` says what it must be instead. */
static int want_nonempty(struct vctx *v, const struct ynode *n, const char *path, const char **out,
			 const char *empty)
{
	if (want_string(v, n, path, out) < 0)
		return -1;
	if (!**out)
		return fail_node(v, n, "%s: %s", path, empty);
	return 0;
}

static int want_bool(struct vctx *v, const struct ynode *n, const char *path, int *out)
{
	if (n->kind == YN_SCALAR && n->plain) {
		if (!strcmp(n->str, "true") || !strcmp(n->str, "True") || !strcmp(n->str, "TRUE")) {
			*out = 1;
			return 0;
		}
		if (!strcmp(n->str, "false") || !strcmp(n->str, "False") ||
		    !strcmp(n->str, "FALSE")) {
			*out = 0;
			return 0;
		}
	}
	return fail_node(v, n, "%s: expected true or false, got '%s'", path,
			 n->kind == YN_SCALAR ? n->str : "(a collection)");
}

static int want_mode(struct vctx *v, const struct ynode *n, const char *path, enum mode *out)
{
	int m = n->kind == YN_SCALAR ? mode_parse(n->str) : -1;

	if (m < 0)
		return fail_node(v, n, "%s: expected auto, on or off, got '%s'", path,
				 n->kind == YN_SCALAR ? n->str : "(a collection)");
	*out = (enum mode)m;
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

static int add_backend(struct config *cfg, const char *name, const char *type,
		       const struct backend_ops *ops, json_t *slice, const struct ynode *node)
{
	struct cfg_backend *p = realloc(cfg->backends, (cfg->nbackends + 1) * sizeof(*p));

	if (!p)
		return -1;
	cfg->backends = p;
	p[cfg->nbackends++] = (struct cfg_backend){ name, type, ops, slice, node };
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
	json_t *slice;
	size_t i, k;

	for (k = 0; backend_types()[k] && k < 15; k++)
		type_names[k] = backend_types()[k]->type;
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
			return fail_node(v, key, "%s: missing 'type' (known types: %s)", path,
					 backend_type_list());
		if (want_string(v, type_node, "type", &type) < 0)
			return -1;
		ops = backend_find(type);
		if (!ops) {
			hint = suggest_closest(type, types);
			return fail_node(v, type_node,
					 "%s: unknown backend type '%s'%s%s%s (known: %s)", path,
					 type, hint ? " (did you mean '" : "", hint ? hint : "",
					 hint ? "'?)" : "", backend_type_list());
		}
		slice = ynode_to_json(val);
		if (!slice)
			return fail_node(v, val, "out of memory");
		if (ops->validate(key->str, slice, &aerr) < 0) {
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
			return fail_node(v, bad ? bad : key, "%s", aerr.msg);
		}
		if (add_backend(cfg, key->str, type, ops, slice, key) < 0) {
			json_decref(slice);
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

static int load_root(struct vctx *v)
{
	struct config *cfg = v->cfg;
	const struct ynode *root = cfg->root, *sec, *n, *kn;
	char names[512];

	if (root->kind != YN_MAP)
		return fail_node(v, root, "expected a mapping at the top level");
	if (check_keys(v, root, top_keys, NULL) < 0)
		return -1;

	cfg->default_backend = "mock";
	cfg->default_style = "none";
	cfg->output_dir = "~/Pictures/imagen";
	cfg->naming = "{date}-{slug}-{seed}.png";
	cfg->write_metadata_json = 1;
	cfg->cloud_sync = MODE_AUTO;
	cfg->preview = MODE_AUTO;
	cfg->preview_command = "";
	cfg->preview_inline = -1;
	cfg->service_key_env = "SUPABASE_SERVICE_ROLE_KEY";
	cfg->bucket = "imagen-generated";
	cfg->supabase_url = "";
	cfg->owner_user_id = "";

	if ((sec = ynode_get(root, "styles", NULL))) {
		if (want_map(v, sec, "styles") < 0 || load_styles(v, sec) < 0)
			return -1;
	}
	if ((sec = ynode_get(root, "output", NULL))) {
		if (want_map(v, sec, "output") < 0 ||
		    (sec->kind == YN_MAP && check_keys(v, sec, output_keys, "output") < 0))
			return -1;
		if ((n = ynode_get(sec, "directory", NULL)) &&
		    want_nonempty(v, n, "output.directory", &cfg->output_dir, "must not be empty") <
			    0)
			return -1;
		if ((n = ynode_get(sec, "naming", NULL))) {
			struct err terr = ERR_INIT;

			if (want_string(v, n, "output.naming", &cfg->naming) < 0)
				return -1;
			if (output_check_template(cfg->naming, &terr) < 0)
				return fail_node(v, n, "output.naming: %s", terr.msg);
		}
		if ((n = ynode_get(sec, "write_metadata_json", NULL)) &&
		    want_bool(v, n, "output.write_metadata_json", &cfg->write_metadata_json) < 0)
			return -1;
		if ((n = ynode_get(sec, "cloud_sync", NULL)) &&
		    want_mode(v, n, "output.cloud_sync", &cfg->cloud_sync) < 0)
			return -1;
		if ((n = ynode_get(sec, "preview", NULL)) &&
		    want_mode(v, n, "output.preview", &cfg->preview) < 0)
			return -1;
	}
	if ((sec = ynode_get(root, "preview", NULL))) {
		if (want_map(v, sec, "preview") < 0 ||
		    (sec->kind == YN_MAP && check_keys(v, sec, preview_keys, "preview") < 0))
			return -1;
		if ((n = ynode_get(sec, "command", NULL))) {
			struct err perr = ERR_INIT;

			if (want_string(v, n, "preview.command", &cfg->preview_command) < 0)
				return -1;
			if (preview_check_command(cfg->preview_command, &perr) < 0)
				return fail_node(v, n, "preview.command: %s", perr.msg);
		}
		if ((n = ynode_get(sec, "focus", NULL)) &&
		    want_bool(v, n, "preview.focus", &cfg->preview_focus) < 0)
			return -1;
		if ((n = ynode_get(sec, "inline", NULL)) &&
		    !(n->kind == YN_SCALAR && !strcmp(n->str, "auto")) &&
		    want_bool(v, n, "preview.inline", &cfg->preview_inline) < 0)
			return fail_node(v, n,
					 "preview.inline: expected auto, true or false, got '%s'",
					 n->kind == YN_SCALAR ? n->str : "(a collection)");
	}
	if ((sec = ynode_get(root, "cloud", NULL))) {
		if (want_map(v, sec, "cloud") < 0 ||
		    (sec->kind == YN_MAP && check_keys(v, sec, cloud_keys, "cloud") < 0))
			return -1;
		cfg->has_cloud = sec->kind == YN_MAP;
		if ((n = ynode_get(sec, "supabase_url", NULL))) {
			if (want_string(v, n, "cloud.supabase_url", &cfg->supabase_url) < 0)
				return -1;
			if (*cfg->supabase_url && strncmp(cfg->supabase_url, "https://", 8) &&
			    strncmp(cfg->supabase_url, "http://", 7))
				return fail_node(
					v, n,
					"cloud.supabase_url: expected an http(s) URL, got '%s'",
					cfg->supabase_url);
		}
		if ((n = ynode_get(sec, "service_key_env", NULL)) &&
		    want_nonempty(v, n, "cloud.service_key_env", &cfg->service_key_env,
				  "must name an environment variable") < 0)
			return -1;
		if ((n = ynode_get(sec, "bucket", NULL)) &&
		    want_nonempty(v, n, "cloud.bucket", &cfg->bucket, "must not be empty") < 0)
			return -1;
		if ((n = ynode_get(sec, "owner_user_id", NULL))) {
			if (want_string(v, n, "cloud.owner_user_id", &cfg->owner_user_id) < 0)
				return -1;
			if (*cfg->owner_user_id && !valid_uuid(cfg->owner_user_id))
				return fail_node(v, n,
						 "cloud.owner_user_id: '%s' is not a UUID "
						 "(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
						 cfg->owner_user_id);
		}
	}

	/* the built-in mock is always there unless the file defines an instance of that name */
	sec = ynode_get(root, "backends", NULL);
	if (!sec || !ynode_get(sec, "mock", NULL)) {
		json_t *slice = json_pack("{s:s}", "type", "mock");

		if (!slice ||
		    add_backend(cfg, "mock", "mock", backend_find("mock"), slice, NULL) < 0) {
			json_decref(slice);
			return fail_node(v, NULL, "out of memory");
		}
	}
	if (sec && (want_map(v, sec, "backends") < 0 || load_backends(v, sec) < 0))
		return -1;

	if ((sec = ynode_get(root, "defaults", NULL))) {
		if (want_map(v, sec, "defaults") < 0 ||
		    (sec->kind == YN_MAP && check_keys(v, sec, defaults_keys, "defaults") < 0))
			return -1;
		if ((n = ynode_get(sec, "backend", &kn))) {
			if (want_string(v, n, "defaults.backend", &cfg->default_backend) < 0)
				return -1;
			if (!config_backend(cfg, cfg->default_backend)) {
				config_backend_names(cfg, names, sizeof(names));
				return fail_node(
					v, n,
					"defaults.backend: unknown backend '%s' (configured: %s)",
					cfg->default_backend, names);
			}
		}
		if ((n = ynode_get(sec, "style", NULL))) {
			if (want_string(v, n, "defaults.style", &cfg->default_style) < 0)
				return -1;
			if (!config_style_suffix(cfg, cfg->default_style))
				return fail_node(v, n, "defaults.style: unknown style '%s'",
						 cfg->default_style);
		}
	}
	return 0;
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
	return config_parse(out, config_builtin, sizeof(config_builtin) - 1, "(built-in default)",
			    err);
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
	for (i = 0; i < cfg->nbackends; i++)
		json_decref(cfg->backends[i].cfg);
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

size_t config_warnings(const struct config *cfg, char *buf, size_t size)
{
	size_t count = 0, used = 0;
	int n;

	if (size)
		buf[0] = '\0';
	if (cfg->has_cloud && cfg->cloud_sync != MODE_OFF && !*cfg->owner_user_id) {
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

int config_locate(const struct config *cfg, const char *path, int *line, int *col)
{
	const struct ynode *n = cfg->root, *kn = NULL;
	char part[256];
	const char *p = path, *dot;
	size_t len;

	while (n && *p) {
		dot = strchr(p, '.');
		len = dot ? (size_t)(dot - p) : strlen(p);
		if (len >= sizeof(part))
			return -1;
		memcpy(part, p, len);
		part[len] = '\0';
		n = ynode_get(n, part, &kn);
		p = dot ? dot + 1 : p + len;
	}
	if (!n || !kn)
		return -1;
	*line = kn->line;
	*col = kn->col;
	return 0;
}

/* ---- precedence ---- */

static int env_mode(const struct env *env, const char *var, enum mode *out, int *set,
		    struct err *err)
{
	const char *val = env_get(env, var);
	int m;

	*set = 0;
	if (!val || !*val)
		return 0;
	m = mode_parse(val);
	if (m < 0)
		return err_code(err, 2, "%s: invalid value '%s' (expected auto, on or off)", var,
				val);
	*out = (enum mode)m;
	*set = 1;
	return 0;
}

static int in_file(const struct config *cfg, const char *path)
{
	int l, c;

	return cfg->path && config_locate(cfg, path, &l, &c) == 0;
}

/* One auto|on|off knob: flag, else variable, else the file's value, else the default.
 * A bad variable is an error only where it would decide something. */
static int resolve_mode(enum mode *out, enum origin *from, int flag, const struct env *env,
			const char *var, const struct config *cfg, enum mode cfg_value,
			const char *cfg_path, struct err *err)
{
	enum mode m = MODE_AUTO;
	int set = 0;

	if (flag >= 0) {
		*out = (enum mode)flag;
		*from = FROM_FLAG;
		return 0;
	}
	if (env_mode(env, var, &m, &set, err) < 0)
		return -1;
	if (set) {
		*out = m;
		*from = FROM_ENV;
	} else {
		*out = cfg_value;
		*from = in_file(cfg, cfg_path) ? FROM_CONFIG : FROM_DEFAULT;
	}
	return 0;
}

int settings_resolve(struct settings *out, const struct config *cfg, const struct overrides *ov,
		     const struct env *env, struct err *err)
{
	const char *val;

	if (ov->backend) {
		out->backend = ov->backend;
		out->backend_from = ov->backend_origin == FROM_FILE_ARG ? FROM_FILE_ARG : FROM_FLAG;
	} else if ((val = env_get(env, "IMAGEN_BACKEND")) && *val) {
		out->backend = val;
		out->backend_from = FROM_ENV;
	} else {
		out->backend = cfg->default_backend;
		out->backend_from = in_file(cfg, "defaults.backend") ? FROM_CONFIG : FROM_DEFAULT;
	}

	if (ov->output_dir) {
		out->output_dir = ov->output_dir;
		out->output_dir_from = FROM_FLAG;
	} else if ((val = env_get(env, "IMAGEN_OUTPUT_DIR")) && *val) {
		out->output_dir = val;
		out->output_dir_from = FROM_ENV;
	} else {
		out->output_dir = cfg->output_dir;
		out->output_dir_from =
			in_file(cfg, "output.directory") ? FROM_CONFIG : FROM_DEFAULT;
	}

	if (resolve_mode(&out->cloud_sync, &out->cloud_sync_from, ov->cloud_sync, env,
			 "IMAGEN_CLOUD_SYNC", cfg, cfg->cloud_sync, "output.cloud_sync", err) < 0 ||
	    resolve_mode(&out->preview, &out->preview_from, ov->preview, env, "IMAGEN_PREVIEW", cfg,
			 cfg->preview, "output.preview", err) < 0)
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
