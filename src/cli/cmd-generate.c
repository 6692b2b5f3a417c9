/* cmd-generate.c - imagen generate: parse the options, build the request, run the core
 * (gen/gen.c) with the terminal's sink, print what it made. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/step.h"
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/genmany.h"
#include "cli/preview.h"
#include "cli/term.h"
#include "core/config.h"
#include "gen/gen.h"
#include "core/meta.h"
#include "net/http.h"
#include "util/buf.h"

enum {
	OPT_BACKEND = 'b',
	OPT_STYLE = 's',
	OPT_NEGATIVE = 'n',
	OPT_WIDTH = 'W',
	OPT_HEIGHT = 'H',
	OPT_OUTPUT = 'o',
	OPT_STEPS = 1000,
	OPT_SEED,
	OPT_NAME,
	OPT_SET,
	OPT_FROM,
	OPT_JSON,
	OPT_PREVIEW,
	OPT_NO_PREVIEW,
	OPT_NO_CLOUD,
	OPT_COUNT,
	OPT_IMAGE,
	OPT_MASK,
	OPT_MASK_INVERT,
	OPT_STRENGTH,
	OPT_COMBINATORIAL,
};

#define DIM_MAX 16384
#define STEPS_MAX 10000

static const struct opt_spec generate_opts[] = {
	{ OPT_BACKEND, "backend", 'b', ARG_REQUIRED, "NAME",
	  "backend instance (env IMAGEN_BACKEND)", HINT_BACKEND, NULL, "defaults.backend" },
	{ OPT_STYLE, "style", 's', ARG_REQUIRED, "NAME", "style preset appended to the prompt",
	  HINT_STYLE, NULL, "defaults.style" },
	{ OPT_NEGATIVE, "negative", 'n', ARG_REQUIRED, "TEXT", "negative prompt", HINT_NONE },
	{ OPT_WIDTH, "width", 'W', ARG_REQUIRED, "N", "image width in pixels", HINT_NONE,
	  "the input image's, else the backend's" },
	{ OPT_HEIGHT, "height", 'H', ARG_REQUIRED, "N", "image height in pixels", HINT_NONE,
	  "the input image's, else the backend's" },
	{ OPT_STEPS, "steps", 0, ARG_REQUIRED, "N", "sampling steps", HINT_NONE, "the backend's" },
	{ OPT_SEED, "seed", 0, ARG_REQUIRED, "N", "seed, 0 to 2^63-1", HINT_NONE, "random 32-bit" },
	{ OPT_OUTPUT, "output", 'o', ARG_REQUIRED, "DIR",
	  "output directory (env IMAGEN_OUTPUT_DIR)", HINT_DIR, NULL, "output.directory" },
	{ OPT_NAME, "name", 0, ARG_REQUIRED, "TEMPLATE",
	  "file name template", HINT_NONE, NULL, "output.naming" },
	{ OPT_COUNT, "count", 0, ARG_REQUIRED, "N",
	  "generate N images (1-100; seeds seed, seed+1, ... unless batched upstream)", HINT_NONE,
	  "1" },
	{ OPT_IMAGE, "image", 0, ARG_REQUIRED, "FILE",
	  "input image to edit or transform (PNG, JPEG, WebP; repeatable)", HINT_FILE },
	{ OPT_MASK, "mask", 0, ARG_REQUIRED, "FILE",
	  "inpainting mask, a PNG the size of the first image (white or transparent = repaint)",
	  HINT_FILE },
	{ OPT_MASK_INVERT, "mask-invert", 0, ARG_NONE, NULL,
	  "repaint what the mask keeps and keep what it marks", HINT_NONE },
	{ OPT_STRENGTH, "strength", 0, ARG_REQUIRED, "0..1",
	  "how far the result may move from the input image", HINT_NONE, "0.6" },
	{ OPT_COMBINATORIAL, "combinatorial", 0, ARG_NONE, NULL,
	  "an image for every combination of the prompt's {a|b} and __name__ wildcards",
	  HINT_NONE },
	{ OPT_SET, "set", 0, ARG_REQUIRED, "KEY=VALUE", "backend request option (repeatable)",
	  HINT_NONE },
	{ OPT_FROM, "from", 0, ARG_REQUIRED, "FILE",
	  "repeat the generation recorded in FILE (PNG or sidecar)", HINT_FILE },
	{ OPT_JSON, "json", 0, ARG_NONE, NULL,
	  "print a JSON record per image written (and per failure)", HINT_NONE },
	{ OPT_PREVIEW, "preview", 0, ARG_OPTIONAL, "auto|on|off",
	  "preview the image (env IMAGEN_PREVIEW)", HINT_MODE, NULL, "output.preview" },
	{ OPT_NO_PREVIEW, "no-preview", 0, ARG_NONE, NULL, "same as --preview=off", HINT_NONE },
	{ OPT_NO_CLOUD, "no-cloud", 0, ARG_NONE, NULL,
	  "skip cloud sync for this run (env IMAGEN_CLOUD_SYNC)", HINT_NONE },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

struct gen_opts {
	struct gen_args a; /* the flags: the first source of the request */
	const char *from;
	int json, combinatorial;
	json_t *set; /* --set pairs */
	struct buf prompt;
	struct gen_input_ref images[GEN_INPUTS_MAX + 1], mask;
};

#define PROMPT_STDIN_MAX (64 * 1024)

/* "imagen generate -": the prompt comes from stdin (scripts, long prompts). */
static int read_prompt_stdin(struct buf *prompt)
{
	char chunk[4096];
	size_t n;

	buf_release(prompt);
	prompt->max = PROMPT_STDIN_MAX;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (buf_add(prompt, chunk, n) < 0) {
			cli_error("generate: the prompt on stdin is longer than %d bytes",
				  PROMPT_STDIN_MAX);
			return 2;
		}
	}
	if (ferror(stdin)) {
		cli_error("generate: cannot read the prompt from stdin");
		return 2;
	}
	while (prompt->len &&
	       (prompt->data[prompt->len - 1] == '\n' || prompt->data[prompt->len - 1] == '\r'))
		prompt->data[--prompt->len] = '\0';
	if (prompt->len && memchr(prompt->data, '\0', prompt->len)) {
		cli_error("generate: the prompt on stdin contains a NUL byte");
		return 2;
	}
	return 0;
}

static int parse_args(struct gen_opts *o, struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	struct err err = ERR_INIT;
	const char *arg;
	long long n = 0;
	int c, i, rc = 0, m;

	if (cli_begin(&p, &commands_generate, g, argc, argv) < 0)
		return 2;
	while (!rc && (c = cli_next(&p, &arg)) != 0) {
		switch (c) {
		case -1:
			rc = 2;
			break;
		case -2:
			rc = -1; /* help printed */
			break;
		case OPT_BACKEND:
			o->a.backend = arg;
			break;
		case OPT_STYLE:
			o->a.style = arg;
			break;
		case OPT_NEGATIVE:
			o->a.negative = arg;
			break;
		case OPT_WIDTH:
			rc = cli_parse_int("--width", arg, 1, DIM_MAX, &n) < 0 ? 2 : 0;
			o->a.width = (int)n;
			break;
		case OPT_HEIGHT:
			rc = cli_parse_int("--height", arg, 1, DIM_MAX, &n) < 0 ? 2 : 0;
			o->a.height = (int)n;
			break;
		case OPT_STEPS:
			rc = cli_parse_int("--steps", arg, 1, STEPS_MAX, &n) < 0 ? 2 : 0;
			o->a.steps = (int)n;
			break;
		case OPT_SEED:
			rc = cli_parse_int("--seed", arg, 0, GEN_SEED_MAX, &n) < 0 ? 2 : 0;
			o->a.seed = n;
			o->a.has_seed = 1;
			break;
		case OPT_OUTPUT:
			o->a.output_dir = arg;
			break;
		case OPT_NAME:
			o->a.name = arg;
			break;
		case OPT_COUNT:
			rc = cli_parse_int("--count", arg, 1, GEN_COUNT_MAX, &n) < 0 ? 2 : 0;
			o->a.count = (int)n;
			break;
		case OPT_SET:
			if (gen_option_set(o->set, arg, &err) < 0) {
				cli_error("%s", err.msg);
				rc = 2;
			}
			break;
		case OPT_FROM:
			o->from = arg;
			break;
		case OPT_IMAGE:
			if (o->a.nimages >= GEN_INPUTS_MAX) {
				cli_error("--image: at most %d input images", GEN_INPUTS_MAX);
				rc = 2;
				break;
			}
			o->images[o->a.nimages++].path = arg;
			o->a.images = o->images;
			break;
		case OPT_MASK:
			o->mask.path = arg;
			o->a.mask = &o->mask;
			break;
		case OPT_MASK_INVERT:
			o->a.mask_invert = 1;
			break;
		case OPT_STRENGTH: {
			char *end;
			double d = strtod(arg, &end);

			if (end == arg || *end || !(d >= 0.0 && d <= 1.0)) {
				cli_error("--strength: expected a number from 0 to 1, got '%s'",
					  arg);
				rc = 2;
				break;
			}
			o->a.strength = d;
			o->a.has_strength = 1;
			break;
		}
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_COMBINATORIAL:
			o->combinatorial = 1;
			break;
		case OPT_PREVIEW:
			m = arg ? mode_parse(arg) : MODE_ON;
			if (m < 0) {
				cli_error(
					"--preview: invalid value '%s' (expected auto, on or off)",
					arg);
				rc = 2;
			}
			o->a.preview = m;
			break;
		case OPT_NO_PREVIEW:
			o->a.preview = MODE_OFF;
			break;
		case OPT_NO_CLOUD:
			o->a.cloud = MODE_OFF;
			break;
		}
	}
	for (i = cli_optind(&p); !rc && i < argc; i++) {
		if ((o->prompt.len && buf_adds(&o->prompt, " ") < 0) ||
		    buf_adds(&o->prompt, argv[i]) < 0)
			rc = 2;
	}
	cli_end(&p);
	if (!rc && o->prompt.len == 1 && o->prompt.data[0] == '-')
		rc = read_prompt_stdin(&o->prompt);
	return rc;
}

/* The run's front end: the terminal draws progress and messages; images are printed on
 * stdout as they land (a path, or the --json record) and remembered for the preview. */
struct front {
	pthread_mutex_t mu; /* images arrive from several threads (genmany.c) */
	struct term term;
	struct ev_sink term_sink;
	int json;
	char **paths; /* images written where asked (malloc'd) */
	size_t npaths;
};

static void front_emit(const struct ev_sink *sink, const struct ev *ev)
{
	struct front *f = sink->ctx;
	struct ev_sink t = f->term_sink;
	char **grown;

	if (ev->kind != EV_IMAGE) {
		t.job = sink->job;
		ev_emit(&t, ev);
		return;
	}
	pthread_mutex_lock(&f->mu);
	if (f->json)
		cli_print_json(stdout, ev->record, JSON_COMPACT | JSON_REAL_PRECISION(12));
	else
		printf("%s\n", ev->path);
	fflush(stdout);
	/* an image kept elsewhere (error set) is not what the user asked to see */
	if (json_is_null(json_object_get(ev->record, "error")) &&
	    (grown = realloc(f->paths, (f->npaths + 1) * sizeof(*f->paths)))) {
		f->paths = grown;
		f->paths[f->npaths] = strdup(ev->path);
		if (f->paths[f->npaths])
			f->npaths++;
	}
	pthread_mutex_unlock(&f->mu);
}

/* A failure: one line on stderr and, with --json, its record on stdout (with a key for
 * each after-step, as every record of a run has). */
static int report(const struct gen_opts *o, const struct gen_request *req, int code,
		  const char *msg)
{
	struct gen_step steps[CATALOG_STEPS_ROOM];
	json_t *rec;

	cli_error("%s", msg);
	catalog_steps(steps, CATALOG_STEPS_ROOM, NULL);
	if (o->json && (rec = gen_record_failure(req, steps, -1, -1, msg, code))) {
		cli_print_json(stdout, rec, JSON_COMPACT | JSON_REAL_PRECISION(12));
		json_decref(rec);
	}
	return code;
}

static int run(struct gen_opts *o, struct global_opts *g)
{
	struct catalog_step cs;
	struct gen_step steps[CATALOG_STEPS_ROOM];
	struct config *cfg = NULL;
	struct repro rp;
	struct gen_args from;
	struct gen_request req;
	struct gen_env env = { env_process(), NULL, NULL };
	struct gen_outcome oc = { 0 };
	struct backend *be = NULL;
	struct front f;
	struct ev_sink sink;
	struct err err = ERR_INIT;
	const json_t *rec;
	size_t i;
	int rc, have_req = 0;

	memset(&rp, 0, sizeof(rp));
	memset(&f, 0, sizeof(f));
	/* the catalog: each image's row, and where a --from input may have gone */
	catalog_step_init(&cs, env_process());
	env.find_input = catalog_step_find_input;
	env.find_input_ctx = &cs;
	pthread_mutex_init(&f.mu, NULL);
	o->a.prompt = o->prompt.len ? (const char *)o->prompt.data : NULL;
	o->a.options = o->set;
	if (config_load(&cfg, g->config_path, &err) < 0) {
		rc = report(o, NULL, 2, err.msg);
		goto out;
	}
	if (o->from && repro_load(&rp, o->from, &err) < 0) {
		err_prefix(&err, "--from");
		rc = report(o, NULL, 2, err.msg);
		goto out;
	}
	gen_args_from_repro(&from, &rp);
	if (gen_request_build(&req, cfg, &o->a, NULL, o->from ? &from : NULL, &env, &err) < 0) {
		rc = report(o, NULL, err.code ? err.code : 2, err.msg);
		goto out;
	}
	have_req = 1;
	/* a plain A1111 PNG: its sampler, scheduler and CFG scale become request options of
	 * an a1111 backend, below anything --set says */
	if (o->from && repro_backend_options(&rp, req.cb->type, req.options, &err) < 0) {
		rc = report(o, &req, 1, err.msg);
		goto out;
	}

	term_init(&f.term, g->quiet, g->verbose);
	f.term_sink = term_sink(&f.term);
	f.json = o->json;
	sink = f.term_sink;
	sink.emit = front_emit;
	sink.ctx = &f;
	gen_request_log(&req, &sink);
	if (o->from)
		ev_log(&sink, EV_VERBOSE, NULL, "--from %s (%s)", o->from, rp.source);
	catalog_steps(steps, CATALOG_STEPS_ROOM, &cs);
	if (genmany_needed(&req, &o->a, o->combinatorial)) {
		struct genmany gm = { cfg,
				      &req,
				      &o->a,
				      o->from ? &from : NULL,
				      o->combinatorial,
				      o->json,
				      g->quiet,
				      g->verbose,
				      &sink,
				      steps };

		term_release(&f.term);
		rc = genmany_run(&gm);
		goto previews;
	}
	if (req.cb->ops->open(&be, req.cb->name, req.cb->cfg, &err) < 0) {
		term_release(&f.term);
		err_prefix(&err, "backend \"%s\"", req.cb->name);
		rc = report(o, &req, err.code ? err.code : 2, err.msg);
		goto out;
	}
	gen_run(&oc, &req, be, steps, &sink);
	term_release(&f.term);
	rc = oc.code;
	/* the images are printed as they land; what failed without an image comes last */
	json_array_foreach (oc.records, i, rec) {
		if (!json_is_null(json_object_get(rec, "image")))
			continue;
		cli_error("%s", json_string_value(json_object_get(rec, "error")));
		if (o->json)
			cli_print_json(stdout, rec, JSON_COMPACT | JSON_REAL_PRECISION(12));
	}
previews:
	if (f.npaths && rc != HTTP_EXIT_CANCELED)
		preview_after_generate(cfg, &req.st, (const char *const *)f.paths, f.npaths,
				       o->json, g->quiet);
out:
	if (fflush(stdout) != 0 && rc == 0)
		rc = 1;
	while (f.npaths)
		free(f.paths[--f.npaths]);
	free(f.paths);
	pthread_mutex_destroy(&f.mu);
	gen_outcome_release(&oc);
	if (be)
		be->ops->close(be);
	if (have_req)
		gen_request_release(&req);
	repro_release(&rp);
	config_free(cfg);
	catalog_step_release(&cs);
	return rc;
}

static int cmd_generate(struct global_opts *g, int argc, char **argv)
{
	struct gen_opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	gen_args_init(&o.a);
	o.set = json_object();
	if (!o.set)
		return 2;
	rc = parse_args(&o, g, argc, argv);
	if (rc == 0)
		rc = run(&o, g);
	else if (rc < 0)
		rc = 0;
	json_decref(o.set);
	buf_release(&o.prompt);
	return rc;
}

const struct cmd_entry commands_generate = {
	"generate",
	"[options] PROMPT...",
	"generate an image from a prompt",
	"The words of PROMPT are joined with spaces; a lone - reads the prompt from stdin.\n"
	"The image is written to the output directory under the naming template, with a\n"
	"JSON sidecar beside it, and the path is printed on stdout (a JSON record with\n"
	"--json).  --from FILE repeats a recorded generation (same prompt, style, size,\n"
	"steps, seed and backend), each overridable by the flags given with it.\n"
	"--image FILE turns the prompt into an edit of FILE (img2img; several for the\n"
	"backends that take them), --mask FILE limits it to the masked area (inpainting),\n"
	"--strength says how far it may move (default 0.6).  The output takes the first\n"
	"image's size unless -W/-H say otherwise; --from finds recorded inputs by path,\n"
	"else by their sha256 in the output directory.",
	generate_opts,
	cmd_generate,
};
