/* cmd-generate.c - imagen generate: prompt in, PNG + sidecar out. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/bytes.h"
#include "util/cancel.h"
#include "catalog/catalog.h"
#include "cloud/cloud.h"
#include "cli/cli.h"
#include "cli/cmds.h"
#include "core/config.h"
#include "net/http.h"
#include "core/meta.h"
#include "core/output.h"
#include "core/pngmeta.h"
#include "cli/preview.h"
#include "core/progress.h"

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
};

#define SEED_MAX INT64_MAX
#define DIM_MAX 16384
#define STEPS_MAX 10000
#define COUNT_MAX 100
#define RESULTS_ROOM 16 /* images one backend call may hand back beyond --count */

static const struct opt_spec generate_opts[] = {
	{ OPT_BACKEND, "backend", 'b', ARG_REQUIRED, "NAME",
	  "backend instance (env IMAGEN_BACKEND)", HINT_BACKEND },
	{ OPT_STYLE, "style", 's', ARG_REQUIRED, "NAME", "style preset appended to the prompt",
	  HINT_STYLE },
	{ OPT_NEGATIVE, "negative", 'n', ARG_REQUIRED, "TEXT", "negative prompt", HINT_NONE },
	{ OPT_WIDTH, "width", 'W', ARG_REQUIRED, "N", "image width in pixels", HINT_NONE },
	{ OPT_HEIGHT, "height", 'H', ARG_REQUIRED, "N", "image height in pixels", HINT_NONE },
	{ OPT_STEPS, "steps", 0, ARG_REQUIRED, "N", "sampling steps", HINT_NONE },
	{ OPT_SEED, "seed", 0, ARG_REQUIRED, "N", "seed, 0 to 2^63-1 (default: random 32-bit)",
	  HINT_NONE },
	{ OPT_OUTPUT, "output", 'o', ARG_REQUIRED, "DIR",
	  "output directory (env IMAGEN_OUTPUT_DIR)", HINT_DIR },
	{ OPT_NAME, "name", 0, ARG_REQUIRED, "TEMPLATE",
	  "file name template, e.g. {date}-{slug}-{seed}.png", HINT_NONE },
	{ OPT_COUNT, "count", 0, ARG_REQUIRED, "N",
	  "generate N images (1-100; seeds seed, seed+1, ... unless batched upstream)", HINT_NONE },
	{ OPT_SET, "set", 0, ARG_REQUIRED, "KEY=VALUE", "backend request option (repeatable)",
	  HINT_NONE },
	{ OPT_FROM, "from", 0, ARG_REQUIRED, "FILE",
	  "repeat the generation recorded in FILE (PNG or sidecar)", HINT_FILE },
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print a JSON record of what was written",
	  HINT_NONE },
	{ OPT_PREVIEW, "preview", 0, ARG_OPTIONAL, "auto|on|off",
	  "preview the image (env IMAGEN_PREVIEW)", HINT_MODE },
	{ OPT_NO_PREVIEW, "no-preview", 0, ARG_NONE, NULL, "same as --preview=off", HINT_NONE },
	{ OPT_NO_CLOUD, "no-cloud", 0, ARG_NONE, NULL,
	  "skip cloud sync for this run (env IMAGEN_CLOUD_SYNC)", HINT_NONE },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

struct gen_opts {
	const char *backend, *style, *negative, *output, *name, *from;
	long long width, height, steps, seed, count;
	int has_seed, json;
	int preview, cloud; /* enum mode or -1 */
	json_t *set;        /* --set pairs */
	struct buf prompt;
};

/* --set values are typed the way YAML would type them, so `--set delay_ms=50`
 * reaches the adapter as the number 50 and `--set fast=true` as a boolean. */
static json_t *typed_value(const char *s)
{
	char *end;
	long long n;

	if (!strcmp(s, "true"))
		return json_true();
	if (!strcmp(s, "false"))
		return json_false();
	if (*s) {
		errno = 0;
		n = strtoll(s, &end, 10);
		if (!*end && !errno && (*s == '-' || (*s >= '0' && *s <= '9')))
			return json_integer(n);
	}
	return json_string(s);
}

static int parse_set(json_t *set, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char key[128];
	size_t i, len;

	if (!eq || eq == arg) {
		cli_error("--set: expected KEY=VALUE, got '%s'", arg);
		return -1;
	}
	len = (size_t)(eq - arg);
	if (len >= sizeof(key)) {
		cli_error("--set: key too long in '%s'", arg);
		return -1;
	}
	memcpy(key, arg, len);
	key[len] = '\0';
	for (i = 0; i < len; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.')) {
			cli_error("--set: invalid key '%s' (letters, digits, '_', '-', '.')", key);
			return -1;
		}
	}
	json_object_set_new(set, key, typed_value(eq + 1));
	return 0;
}

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
	const char *arg;
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
			o->backend = arg;
			break;
		case OPT_STYLE:
			o->style = arg;
			break;
		case OPT_NEGATIVE:
			o->negative = arg;
			break;
		case OPT_WIDTH:
			rc = cli_parse_int("--width", arg, 1, DIM_MAX, &o->width) < 0 ? 2 : 0;
			break;
		case OPT_HEIGHT:
			rc = cli_parse_int("--height", arg, 1, DIM_MAX, &o->height) < 0 ? 2 : 0;
			break;
		case OPT_STEPS:
			rc = cli_parse_int("--steps", arg, 1, STEPS_MAX, &o->steps) < 0 ? 2 : 0;
			break;
		case OPT_SEED:
			rc = cli_parse_int("--seed", arg, 0, SEED_MAX, &o->seed) < 0 ? 2 : 0;
			o->has_seed = 1;
			break;
		case OPT_OUTPUT:
			o->output = arg;
			break;
		case OPT_NAME:
			o->name = arg;
			break;
		case OPT_COUNT:
			rc = cli_parse_int("--count", arg, 1, COUNT_MAX, &o->count) < 0 ? 2 : 0;
			break;
		case OPT_SET:
			rc = parse_set(o->set, arg) < 0 ? 2 : 0;
			break;
		case OPT_FROM:
			o->from = arg;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_PREVIEW:
			m = arg ? mode_parse(arg) : MODE_ON;
			if (m < 0) {
				cli_error(
					"--preview: invalid value '%s' (expected auto, on or off)",
					arg);
				rc = 2;
			}
			o->preview = m;
			break;
		case OPT_NO_PREVIEW:
			o->preview = MODE_OFF;
			break;
		case OPT_NO_CLOUD:
			o->cloud = MODE_OFF;
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

static int random_seed(int64_t *out)
{
	uint32_t v;

	/* 32 bits: every backend (ComfyUI, A1111, Replicate) accepts that range */
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		return -1;
	*out = v;
	return 0;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Where an image goes when the output directory refuses it: nothing generated is lost. */
static int rescue_write(struct gen_record *rec, const struct iovec *iov, int iovcnt,
			const char *sidecar, struct err *err)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *dir = NULL;
	int rc = -1;

	if (state && *state == '/') {
		if (asprintf(&dir, "%s/imagen/rescue", state) < 0)
			dir = NULL;
	} else if (home && *home) {
		if (asprintf(&dir, "%s/.local/state/imagen/rescue", home) < 0)
			dir = NULL;
	}
	gen_record_release(rec);
	if (dir && output_mkdirs(dir, err) == 0)
		rc = output_write(rec, dir, "{date}-{slug}-{seed}.{ext}", iov, iovcnt, sidecar,
				  err);
	if (!rec->image_path) {
		gen_record_release(rec);
		rc = output_write(rec, "/tmp", "imagen-{date}-{slug}-{seed}.{ext}", iov, iovcnt,
				  sidecar, err);
	}
	free(dir);
	return rec->image_path ? 0 : rc;
}

/* The --json record; error is set when the image was kept but something after it failed. */
static void print_record(const struct gen_info *info, const struct settings *st,
			 const json_t *sidecar, int index, const json_t *cloud, const char *error)
{
	const struct gen_record *rec = info->rec;
	const struct imagen_result *res = info->res;
	json_t *o;
	char *s;

	o = json_pack(
		"{s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:i, s:i, s:s, s:s, "
		"s:s, s:s, s:s, s:s, s:i, s:O?, s:O?, s:O?, s:s?}",
		"image", rec->image_path, "sidecar", rec->sidecar_path, "file_name", rec->file_name,
		"rel_path", rec->rel_path, "dir", rec->dir, "date", rec->date, "time", rec->time,
		"slug", rec->slug, "seed", (json_int_t)res->seed, "bytes", (json_int_t)rec->bytes,
		"width", res->width, "height", res->height, "steps", res->steps, "backend",
		info->backend, "backend_type", info->backend_type, "created_at", rec->iso,
		"cloud_sync", mode_name(st->cloud_sync), "preview", mode_name(st->preview), "mime",
		res->mime, "index", index, "cost", res->cost, "metadata", sidecar, "cloud", cloud,
		"error", error);
	if (!o)
		return;
	s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

/* What every image of one run shares. */
struct write_ctx {
	struct global_opts *g;
	struct gen_opts *o;
	const struct config *cfg;
	const struct settings *st;
	const struct cfg_backend *cb;
	const char *dir, *tmpl;
	const char *prompt, *final, *style;
	const json_t *opts;
	int written;  /* images on disk so far */
	int failed;   /* some image could not be written where asked (kept elsewhere or lost) */
	char **paths; /* images written where asked, for the preview (malloc'd) */
	size_t npaths;
	struct catalog *cat; /* opened at the first image; NULL after a failed open */
	int cat_failed;
};

/* The catalog after-step: a row for the image.  It never fails the image: one warning
 * line, and `imagen index` repairs what is missing. */
static void catalog_step(struct write_ctx *c, const char *path, const json_t *side,
			 const json_t *cloud)
{
	struct err err = ERR_INIT;
	char *db = NULL;

	if (c->cat_failed)
		return;
	if (!c->cat &&
	    (catalog_default_path(&db, (const char *(*)(const char *))getenv, &err) < 0 ||
	     catalog_open(&c->cat, db, 1, &err) < 0))
		c->cat_failed = 1; /* said once, not for every image of the run */
	free(db);
	if (c->cat && catalog_add_image(c->cat, path, side, cloud, &err) == 0)
		return;
	if (!c->g->quiet)
		cli_error("warning: catalog: %s (the image is kept; imagen index repairs the "
			  "catalog)",
			  err.msg);
}

/* The file extension for an upstream MIME type, after checking the bytes really are
 * that format; NULL (err set) when they are not an image we keep. */
static const char *image_ext(const struct imagen_result *res, struct err *err)
{
	const unsigned char *d = res->data;
	size_t n = res->len;

	if (!d || !n)
		return err_set(err, "it is empty"), NULL;
	if (!strcmp(res->mime, "image/png") || !res->mime[0])
		return pngmeta_check(d, n, NULL, NULL, err) < 0 ? NULL : "png";
	if (!strcmp(res->mime, "image/jpeg")) {
		if (n < 4 || d[0] != 0xff || d[1] != 0xd8 || d[2] != 0xff || d[n - 2] != 0xff ||
		    d[n - 1] != 0xd9)
			return err_set(err, "not a complete JPEG image"), NULL;
		return "jpg";
	}
	if (!strcmp(res->mime, "image/webp")) {
		/* RIFF's little-endian size counts what follows its 8-byte header */
		if (n < 12 || memcmp(d, "RIFF", 4) || memcmp(d + 8, "WEBP", 4) ||
		    (size_t)bytes_le32(d + 4) + 8 != n)
			return err_set(err, "not a complete WebP image"), NULL;
		return "webp";
	}
	return err_set(err, "unsupported image type '%s'", res->mime), NULL;
}

/* The naming template for a non-PNG image: a literal ".png" ending becomes ".{ext}". */
static char *template_for(const char *tmpl, const char *ext)
{
	size_t n = strlen(tmpl);
	char *t = NULL;

	if (strcmp(ext, "png") && n >= 4 && !strcasecmp(tmpl + n - 4, ".png")) {
		if (asprintf(&t, "%.*s.{ext}", (int)(n - 4), tmpl) < 0)
			t = NULL;
		return t;
	}
	return strdup(tmpl);
}

/* Write one generated image with its sidecar and metadata.  Returns 0 when it is where
 * the user asked, 1 when it was kept elsewhere (rescue) or could not be kept. */
static int write_image(struct write_ctx *c, struct imagen_result *res, int index,
		       const char *negative)
{
	struct gen_record rec;
	struct gen_info info;
	struct err err = ERR_INIT;
	struct timespec now;
	const char *ext;
	char *side_text = NULL, *infotext = NULL, *tmpl = NULL;
	struct pngmeta_splice sp = { 0 };
	struct iovec whole = { res->data, res->len };
	const struct iovec *iov = &whole;
	int iovcnt = 1;
	json_t *side = NULL, *cloud = NULL;
	int rc = 1;

	memset(&rec, 0, sizeof(rec));
	ext = image_ext(res, &err);
	if (!ext) {
		cli_error("backend \"%s\": the image it returned is unusable: %s", c->cb->name,
			  err.msg);
		return 1;
	}
	tmpl = template_for(c->tmpl, ext);
	if (!tmpl) {
		cli_error("out of memory");
		return 1;
	}

	/* one clock reading names the file, dates the sidecar and the storage path */
	clock_gettime(CLOCK_REALTIME, &now);
	output_clock(&rec, &now);
	output_slug(rec.slug, c->prompt);
	rec.seed = res->seed;
	snprintf(rec.backend, sizeof(rec.backend), "%s", c->cb->name);
	snprintf(rec.ext, sizeof(rec.ext), "%s", ext);

	info = (struct gen_info){ c->prompt,   c->final, negative, c->style, c->cb->name,
				  c->cb->type, c->opts,  res,      &rec };
	side = meta_sidecar(&info);
	/* a text file ends in a newline; the PNG chunk carries the very same text */
	side_text = side ? json_dumps(side, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) : NULL;
	if (side_text) {
		char *nl = NULL;

		if (asprintf(&nl, "%s\n", side_text) < 0)
			nl = NULL;
		free(side_text);
		side_text = nl;
	}
	infotext = meta_infotext(&info);
	if (!strcmp(ext, "png") && side_text && infotext) {
		struct png_text texts[2] = { { "parameters", infotext }, { "imagen", side_text } };
		struct err perr = ERR_INIT;

		/* the pieces point into res->data: the image bytes are written, never copied */
		if (pngmeta_splice(&sp, res->data, res->len, texts, 2, &perr) == 0) {
			iov = sp.iov;
			iovcnt = sp.iovcnt;
		} else if (!c->g->quiet) {
			/* never lose pixels over metadata: the image goes out as it came */
			cli_error("warning: metadata not embedded: %s", perr.msg);
		}
	}

	if (output_write(&rec, c->dir, tmpl, iov, iovcnt,
			 c->cfg->write_metadata_json && side_text ? side_text : NULL, &err) < 0) {
		if (rec.image_path) {
			cli_error("output: %s (the image is kept at %s)", err.msg, rec.image_path);
		} else {
			struct err rerr = ERR_INIT;

			if (rescue_write(&rec, iov, iovcnt,
					 c->cfg->write_metadata_json ? side_text : NULL,
					 &rerr) == 0 ||
			    rec.image_path)
				cli_error("output: %s; the image was saved to %s instead", err.msg,
					  rec.image_path);
			else
				cli_error("output: %s; saving it elsewhere failed too: %s", err.msg,
					  rerr.msg);
		}
		if (rec.image_path && c->o->json)
			print_record(&info, c->st, side, index, NULL, err.msg);
		else if (rec.image_path)
			printf("%s\n", rec.image_path);
		goto out;
	}
	if (c->g->verbose)
		fprintf(stderr, "imagen: wrote %s (%zu bytes)%s%s\n", rec.image_path, rec.bytes,
			rec.sidecar_path ? ", sidecar " : "",
			rec.sidecar_path ? rec.sidecar_path : "");
	/* the image and sidecar are safe on disk: the cloud step reads them back from there
	 * and never changes the outcome (a failure is queued for `imagen sync`) */
	cloud = cloud_after_generate(c->cfg, c->st, rec.image_path, c->g->verbose, c->g->quiet);
	catalog_step(c, rec.image_path, side, cloud);
	if (c->o->json)
		print_record(&info, c->st, side, index, cloud, NULL);
	else
		printf("%s\n", rec.image_path);
	fflush(stdout);
	{
		char **grown = realloc(c->paths, (c->npaths + 1) * sizeof(*c->paths));

		if (grown) {
			c->paths = grown;
			c->paths[c->npaths] = strdup(rec.image_path);
			if (c->paths[c->npaths])
				c->npaths++;
		}
	}
	rc = 0;
out:
	if (rec.image_path)
		c->written++;
	gen_record_release(&rec);
	json_decref(side);
	json_decref(cloud);
	free(side_text);
	free(infotext);
	pngmeta_splice_release(&sp);
	free(tmpl);
	return rc;
}

/* --count N: batches of at most max_batch per call; unbatched adapters get seed, seed+1,
 * ...  Every image that arrives is written before the next call, so a failure or a
 * Ctrl-C later in the run loses nothing that was generated. */
static int generate_all(struct write_ctx *c, struct backend *be, struct imagen_request *req,
			int count)
{
	struct imagen_result *res;
	struct progress prog;
	struct err err = ERR_INIT;
	struct timespec t0;
	int max_batch = be->ops->max_batch > 0 ? be->ops->max_batch : 1, done = 0, rc = 0;
	/* room for more than asked: a ComfyUI graph may save several images per run, and
	 * every image generated is kept (the last run may give more than --count) */
	int room = count < max_batch ? count : max_batch;
	int64_t base_seed = req->seed;
	int calls = 0;
	char label[160];
	size_t i, nres;

	if (room < RESULTS_ROOM)
		room = RESULTS_ROOM;
	res = calloc((size_t)room, sizeof(*res));
	if (!res) {
		cli_error("out of memory");
		return 1;
	}
	while (done < count) {
		int batch = count - done < max_batch ? count - done : max_batch, grc;

		req->count = batch;
		req->room = room;
		/* seeds stay in 0..2^63-1; an unbatched upstream gets seed, seed+1, ... per
		 * call even when one call gave several images */
		req->seed = (int64_t)(((uint64_t)base_seed +
				       (uint64_t)(max_batch == 1 ? calls : done)) &
				      (uint64_t)INT64_MAX);
		calls++;
		if (count > 1)
			snprintf(label, sizeof(label), "%s %d/%d", c->cb->name, done + 1, count);
		else
			snprintf(label, sizeof(label), "%s", c->cb->name);
		progress_init(&prog, label, c->g->quiet);
		req->progress = &prog;
		req->verbose = c->g->verbose;
		nres = 0;
		err_clear(&err);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		grc = be->ops->generate(be, req, res, &nres, &err);
		progress_clear(&prog);
		req->progress = NULL;
		if (nres > (size_t)room)
			nres = (size_t)room;
		if (c->g->verbose && nres)
			fprintf(stderr, "imagen: generated %zu image%s in %.1f ms\n", nres,
				nres == 1 ? "" : "s", ms_since(&t0));
		for (i = 0; i < nres; i++) {
			if (write_image(c, &res[i], done + (int)i, req->negative_prompt))
				rc = 1;
			imagen_result_release(&res[i]);
		}
		done += (int)nres;
		if (grc < 0 || cancel_requested()) {
			if (err.code == HTTP_EXIT_CANCELED || cancel_requested()) {
				cli_error("interrupted%s",
					  c->written ? " (the images written so far are kept)"
						     : "");
				rc = HTTP_EXIT_CANCELED;
			} else {
				cli_error("backend \"%s\": %s", c->cb->name,
					  err.msg[0] ? err.msg : "generation failed");
				rc = err.code ? err.code : 1;
			}
			break;
		}
		if (nres == 0) {
			cli_error("backend \"%s\": returned no image", c->cb->name);
			rc = 1;
			break;
		}
	}
	for (i = 0; i < (size_t)room; i++)
		imagen_result_release(&res[i]);
	free(res);
	return rc;
}

static int run(struct gen_opts *o, struct global_opts *g)
{
	struct config *cfg = NULL;
	struct repro rp;
	struct overrides ov = { NULL, FROM_FLAG, NULL, -1, -1 };
	struct settings st;
	const struct cfg_backend *cb;
	struct backend *be = NULL;
	struct imagen_request req;
	struct write_ctx ctx;
	struct err err = ERR_INIT;
	const char *style, *suffix, *prompt, *tmpl;
	char *final = NULL, *dir = NULL, names[512];
	json_t *opts = NULL;
	int rc = 2, from_style_kept;

	memset(&rp, 0, sizeof(rp));

	if (config_load(&cfg, g->config_path, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	if (o->from && repro_load(&rp, o->from, &err) < 0) {
		cli_error("--from: %s", err.msg);
		goto out;
	}

	ov.backend = o->backend ? o->backend : rp.backend;
	ov.backend_origin = o->backend ? FROM_FLAG : FROM_FILE_ARG;
	ov.output_dir = o->output;
	ov.cloud_sync = o->cloud;
	ov.preview = o->preview;
	if (settings_resolve(&st, cfg, &ov, (const char *(*)(const char *))getenv, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	cb = config_backend(cfg, st.backend);
	if (!cb) {
		config_backend_names(cfg, names, sizeof(names));
		cli_error("backend \"%s\": unknown backend (configured: %s)", st.backend, names);
		goto out;
	}

	/* a recorded prompt is already whole: a --from source that names no style (a plain
	 * A1111 PNG) must not pick up the default style's suffix */
	style = o->style ? o->style : rp.style ? rp.style : o->from ? "none" : cfg->default_style;
	suffix = config_style_suffix(cfg, style);
	prompt = o->prompt.len ? (const char *)o->prompt.data : rp.prompt;
	if (!prompt || !*prompt) {
		cli_error("generate: a prompt is required (e.g. imagen generate \"a lighthouse at "
			  "dusk\")");
		goto out;
	}
	/* --from with neither prompt nor style changed replays the exact recorded text, even if
	 * the style preset has been edited since */
	from_style_kept = rp.final_prompt && !o->prompt.len && !o->style;
	if (from_style_kept) {
		final = strdup(rp.final_prompt);
	} else if (!suffix) {
		size_t i;
		struct buf sn = BUF_INIT;

		buf_adds(&sn, "none");
		for (i = 0; i < cfg->nstyles; i++)
			buf_addf(&sn, ", %s", cfg->styles[i].name);
		cli_error("style \"%s\": unknown style (configured: %s)", style, sn.data);
		buf_release(&sn);
		goto out;
	} else if (*suffix) {
		if (asprintf(&final, "%s, %s", prompt, suffix) < 0)
			final = NULL;
	} else {
		final = strdup(prompt);
	}
	if (!final) {
		cli_error("out of memory");
		goto out;
	}

	opts = rp.options ? json_deep_copy(rp.options) : json_object();
	if (!opts || json_object_update(opts, o->set) < 0) {
		cli_error("out of memory");
		goto out;
	}

	memset(&req, 0, sizeof(req));
	req.prompt = final;
	req.negative_prompt = o->negative ? o->negative : rp.negative;
	if (req.negative_prompt && !*req.negative_prompt)
		req.negative_prompt = NULL;
	req.width = o->width ? (int)o->width : rp.width;
	req.height = o->height ? (int)o->height : rp.height;
	req.steps = o->steps ? (int)o->steps : rp.steps;
	req.style = style;
	req.opts = opts;
	if (o->has_seed)
		req.seed = o->seed;
	else if (rp.has_seed)
		req.seed = rp.seed;
	else if (random_seed(&req.seed) < 0) {
		cli_error("getrandom: %s", strerror(errno));
		goto out;
	}

	tmpl = o->name ? o->name : cfg->naming;
	if (o->name && output_check_template(o->name, &err) < 0) {
		cli_error("--name: %s", err.msg);
		goto out;
	}
	/* find out now, before spending a generation, whether the output directory works */
	if (output_expand_dir(&dir, st.output_dir, &err) < 0 || output_mkdirs(dir, &err) < 0 ||
	    access(dir, W_OK) < 0) {
		if (!err.msg[0])
			err_set(&err, "%s: %s", dir, strerror(errno));
		cli_error("output: %s", err.msg);
		goto out;
	}

	if (g->verbose) {
		fprintf(stderr, "imagen: config: %s\n", cfg->display);
		fprintf(stderr, "imagen: backend %s (type %s, from %s)\n", cb->name, cb->type,
			origin_name(st.backend_from));
		fprintf(stderr, "imagen: seed %lld (%s)\n", (long long)req.seed,
			o->has_seed   ? "flag"
			: rp.has_seed ? "--from"
				      : "random");
		fprintf(stderr,
			"imagen: output %s (from %s), cloud sync %s%s (from %s), preview %s (from "
			"%s)\n",
			dir, origin_name(st.output_dir_from), mode_name(st.cloud_sync),
			st.cloud_sync != MODE_AUTO ? ""
			: st.cloud_on              ? " -> on"
						   : " -> off",
			origin_name(st.cloud_sync_from), mode_name(st.preview),
			origin_name(st.preview_from));
		if (o->from)
			fprintf(stderr, "imagen: --from %s (%s)\n", o->from, rp.source);
	}

	if (cb->ops->open(&be, cb->name, cb->cfg, &err) < 0) {
		cli_error("backend \"%s\": %s", cb->name, err.msg);
		rc = err.code ? err.code : 2;
		goto out;
	}

	ctx = (struct write_ctx){ g,     o,    cfg, &st, cb,   dir, tmpl, prompt, final,
				  style, opts, 0,   0,   NULL, 0,   NULL, 0 };
	rc = generate_all(&ctx, be, &req, o->count ? (int)o->count : 1);
	catalog_close(ctx.cat);
	if (ctx.npaths && rc != HTTP_EXIT_CANCELED)
		preview_after_generate(cfg, &st, (const char *const *)ctx.paths, ctx.npaths,
				       o->json, g->quiet);
	while (ctx.npaths)
		free(ctx.paths[--ctx.npaths]);
	free(ctx.paths);
out:
	if (fflush(stdout) != 0 && rc == 0)
		rc = 1;
	if (be)
		be->ops->close(be);
	repro_release(&rp);
	json_decref(opts);
	free(final);
	free(dir);
	config_free(cfg);
	return rc;
}

static int cmd_generate(struct global_opts *g, int argc, char **argv)
{
	struct gen_opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.preview = -1;
	o.cloud = -1;
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
	"steps, seed and backend), each overridable by the flags given with it.",
	generate_opts,
	cmd_generate,
};
