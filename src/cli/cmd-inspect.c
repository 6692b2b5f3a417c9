/* cmd-inspect.c - imagen inspect FILE.png: the metadata an image carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/listing.h"
#include "util/file.h"
#include "core/infotext.h"
#include "core/meta.h"
#include "core/pngmeta.h"

enum { OPT_JSON = 1000 };

#define INSPECT_MAX_BYTES (512u * 1024 * 1024)

static const struct opt_spec inspect_opts[] = {
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print JSON for machines", HINT_NONE, NULL },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE, NULL },
};

/* One "label  value" line; the value may be outside text, so it goes through cli_print. */
static void field(const char *label, const json_t *v)
{
	if (!v || json_is_null(v))
		return;
	if (json_is_string(v))
		cli_print(stdout, "%-16s %s\n", label, json_string_value(v));
	else if (json_is_integer(v))
		cli_print(stdout, "%-16s %lld\n", label, (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		cli_print(stdout, "%-16s %s\n", label, json_is_true(v) ? "yes" : "no");
	else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		cli_print(stdout, "%-16s %s\n", label, s ? s : "?");
		free(s);
	}
}

static void print_imagen(const json_t *imagen, int verbose)
{
	field("prompt", json_object_get(imagen, "prompt"));
	field("final prompt", json_object_get(imagen, "final_prompt"));
	field("negative prompt", json_object_get(imagen, "negative_prompt"));
	field("style", json_object_get(imagen, "style"));
	field("backend", json_object_get(imagen, "backend"));
	field("backend type", json_object_get(imagen, "backend_type"));
	field("model", json_object_get(imagen, "model"));
	field("seed", json_object_get(imagen, "seed"));
	field("width", json_object_get(imagen, "width"));
	field("height", json_object_get(imagen, "height"));
	field("steps", json_object_get(imagen, "steps"));
	field("created", json_object_get(imagen, "created_at"));
	field("cost", json_object_get(imagen, "cost"));
	field("imagen version", json_object_get(imagen, "imagen_version"));
	if (verbose) {
		field("options", json_object_get(imagen, "options"));
		field("metadata", json_object_get(imagen, "metadata"));
	}
}

/* A sidecar (what --from accepts besides a PNG): the same fields, no PNG chunks. */
static int inspect_sidecar(const char *path, const unsigned char *data, size_t len, int json,
			   int verbose)
{
	json_error_t jerr;
	json_t *imagen = json_loadb((const char *)data, len, 0, &jerr), *out;

	if (!json_is_object(imagen)) {
		if (imagen)
			cli_error("inspect: %s: not a JSON object", path);
		else
			cli_error("inspect: %s:%d:%d: invalid JSON: %s", path, jerr.line,
				  jerr.column, jerr.text);
		json_decref(imagen);
		return 1;
	}
	if (json) {
		out = json_pack("{s:s, s:s, s:I, s:O?, s:O?, s:O, s:n, s:{}}", "file", path, "kind",
				"sidecar", "bytes", (json_int_t)len, "width",
				json_object_get(imagen, "width"), "height",
				json_object_get(imagen, "height"), "imagen", imagen, "parameters",
				"text");
		cli_print_json(stdout, out, JSON_INDENT(2)); /* exact, never escaped */
		json_decref(out);
	} else {
		cli_print(stdout, "%-16s %s (sidecar, %zu bytes)\n", "file", path, len);
		print_imagen(imagen, verbose);
	}
	json_decref(imagen);
	return 0;
}

static int inspect_one(const char *path, int json, int verbose)
{
	unsigned char *data = NULL;
	struct png_text *texts = NULL;
	size_t len = 0, ntexts = 0, i;
	struct err err = ERR_INIT;
	unsigned w = 0, h = 0;
	const char *imagen_txt, *params_txt;
	json_t *imagen = NULL, *params = NULL, *others = NULL, *out = NULL, *pobj = NULL;
	json_t *row = NULL; /* the catalog's row beside the metadata */
	json_error_t jerr;
	char *prompt = NULL, *neg = NULL;
	int rc = 1;

	if (file_read(&data, &len, path, INSPECT_MAX_BYTES, &err) < 0) {
		cli_error("inspect: %s", err.msg);
		goto out;
	}
	if (!(len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8))) {
		if (meta_is_sidecar(data, len))
			rc = inspect_sidecar(path, data, len, json, verbose);
		else
			cli_error("inspect: %s: not a PNG or an imagen sidecar", path);
		goto out;
	}
	if (pngmeta_check(data, len, &w, &h, &err) < 0 ||
	    pngmeta_read_text(&texts, &ntexts, data, len, &err) < 0) {
		if (strncmp(err.msg, path, strlen(path)))
			err_prefix(&err, "%s", path);
		cli_error("inspect: %s", err.msg);
		goto out;
	}
	imagen_txt = pngmeta_find(texts, ntexts, "imagen");
	params_txt = pngmeta_find(texts, ntexts, "parameters");
	if (imagen_txt && !(imagen = json_loads(imagen_txt, 0, &jerr)))
		cli_error("inspect: %s: imagen chunk is not valid JSON: %s", path, jerr.text);
	if (params_txt && infotext_parse(params_txt, &prompt, &neg, &params, &err) == 0)
		pobj = json_pack("{s:s, s:s, s:O, s:s}", "prompt", prompt, "negative_prompt", neg,
				 "params", params, "text", params_txt);
	others = json_object();
	for (i = 0; i < ntexts; i++)
		if (strcmp(texts[i].keyword, "imagen") && strcmp(texts[i].keyword, "parameters"))
			json_object_set_new(others, texts[i].keyword, json_string(texts[i].text));
	row = listing_catalog_row(path);

	if (json) {
		out = json_pack("{s:s, s:s, s:I, s:I, s:I, s:O?, s:O?, s:O, s:O?}", "file", path, "kind",
				"png", "bytes", (json_int_t)len, "width", (json_int_t)w, "height",
				(json_int_t)h, "imagen", imagen, "parameters", pobj, "text",
				others, "catalog", row);
		cli_print_json(stdout, out, JSON_INDENT(2)); /* exact, never escaped */
	} else {
		cli_print(stdout, "%-16s %s (%ux%u, %zu bytes)\n", "file", path, w, h, len);
		if (imagen) {
			print_imagen(imagen, verbose);
		} else if (pobj) {
			const char *k;
			json_t *v;

			cli_print(stdout, "%-16s %s\n", "prompt", prompt);
			if (neg && *neg)
				cli_print(stdout, "%-16s %s\n", "negative prompt", neg);
			json_object_foreach (params, k, v)
				field(k, v);
		} else {
			printf("(no imagen metadata or A1111 parameters)\n");
		}
		listing_print_catalog(row);
		if (verbose && params_txt)
			cli_print(stdout, "\nparameters:\n%s\n", params_txt);
		if (verbose) {
			const char *k;
			json_t *v;

			json_object_foreach (others, k, v)
				field(k, v);
		}
	}
	rc = 0;
out:
	json_decref(row);
	json_decref(out);
	json_decref(imagen);
	json_decref(params);
	json_decref(pobj);
	json_decref(others);
	free(prompt);
	free(neg);
	pngmeta_text_free(texts, ntexts);
	free(data);
	return rc;
}

static int cmd_inspect(struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	const char *arg;
	int c, i, json = 0, rc = 0, first;

	if (cli_begin(&p, &commands_inspect, g, argc, argv) < 0)
		return 2;
	while ((c = cli_next(&p, &arg)) != 0) {
		if (c == -1 || c == -2) {
			cli_end(&p);
			return c == -1 ? 2 : 0;
		}
		if (c == OPT_JSON)
			json = 1;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (first >= argc) {
		cli_error("inspect: which file? (imagen inspect FILE.png, or its FILE.json)");
		return 2;
	}
	for (i = first; i < argc; i++) {
		if (i > first && !json)
			putchar('\n');
		if (inspect_one(argv[i], json, g->verbose) != 0)
			rc = 1;
	}
	return rc;
}

const struct cmd_entry commands_inspect = {
	"inspect",
	"[--json] FILE...",
	"print the metadata embedded in a PNG or its sidecar",
	"Reads the imagen chunk (the sidecar JSON) and the A1111 parameters text of each\n"
	"PNG FILE, or an imagen sidecar .json (what --from accepts); -v adds the adapter\n"
	"metadata and every other text chunk.  The catalog's row (tags, rating, cloud\n"
	"state) follows when it knows the image.  Control characters in the text are shown\n"
	"escaped (\\x1b); --json prints it exactly.  Exit 1 when a file cannot be read or\n"
	"is neither a PNG nor a sidecar.",
	inspect_opts,
	cmd_inspect,
};
