/* test_gen.c - the generation core: the request builder's whole precedence chain (flag >
 * job > --from > environment > config > default), and gen_run on the mock backend,
 * including two generations on two threads at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "gen/gen.h"
#include "core/meta.h"
#include "core/pngmeta.h"
#include "util/file.h"
#include "testlib.h"

/* ---- the outside world, fixed ------------------------------------------------------------- */

static int fixed_random(void *ctx, uint32_t *out)
{
	*out = *(const uint32_t *)ctx;
	return 0;
}

static const uint32_t the_random_seed = 4242;
static struct gen_env test_env = { NULL, fixed_random, (void *)&the_random_seed };

/* testlib's remove_tree, and the path freed */
static void drop_tree(char *dir)
{
	remove_tree(dir);
	free(dir);
}

/* ---- the request builder ------------------------------------------------------------------- */

static const char chain_config[] = "defaults:\n"
				   "  backend: small\n"
				   "  style: noir\n"
				   "styles:\n"
				   "  noir: black and white\n"
				   "  warm: golden light\n"
				   "output:\n"
				   "  directory: /tmp/from-config\n"
				   "  naming: \"{slug}-{seed}.png\"\n"
				   "backends:\n"
				   "  small: {type: mock, width: 32, height: 32}\n"
				   "  big: {type: mock}\n"
				   "  other: {type: mock}\n";

/* Three full sources that disagree on everything, so each level shows through. */
struct chain {
	struct gen_args flags, job, from;
	json_t *fo, *jo, *ro;
};

static void chain_init(struct chain *c)
{
	gen_args_init(&c->flags);
	c->flags.prompt = "flag prompt";
	c->flags.negative = "flag negative";
	c->flags.style = "warm";
	c->flags.backend = "big";
	c->flags.output_dir = "/tmp/from-flag";
	c->flags.name = "flag-{seed}.png";
	c->flags.width = 101;
	c->flags.height = 102;
	c->flags.steps = 103;
	c->flags.count = 3;
	c->flags.seed = 1;
	c->flags.has_seed = 1;
	c->flags.preview = MODE_OFF;
	c->fo = json("{\"a\": \"flag\"}");
	c->flags.options = c->fo;

	gen_args_init(&c->job);
	c->job.what = "job 2";
	c->job.prompt = "job prompt";
	c->job.negative = "job negative";
	c->job.style = "none";
	c->job.backend = "other";
	c->job.output_dir = "/tmp/from-job";
	c->job.name = "job-{seed}.png";
	c->job.width = 201;
	c->job.height = 202;
	c->job.steps = 203;
	c->job.count = 2;
	c->job.seed = 2;
	c->job.has_seed = 1;
	c->job.preview = MODE_ON;
	c->jo = json("{\"a\": \"job\", \"b\": \"job\"}");
	c->job.options = c->jo;

	{
		static const struct repro rp = {
			.prompt = "recorded prompt",
			.final_prompt = "recorded prompt, as it was sent",
			.negative = "recorded negative",
			.style = "noir",
			.backend = "small",
			.width = 301,
			.height = 302,
			.steps = 303,
			.seed = 3,
			.has_seed = 1,
		};
		struct repro r = rp;

		c->ro = json("{\"a\": \"from\", \"b\": \"from\", \"c\": \"from\"}");
		r.options = c->ro;
		gen_args_from_repro(&c->from, &r);
	}
}

static void chain_release(struct chain *c)
{
	json_decref(c->fo);
	json_decref(c->jo);
	json_decref(c->ro);
}

static void build_ok(struct gen_request *r, const struct config *cfg, const struct gen_args *f,
		     const struct gen_args *j, const struct gen_args *fr)
{
	struct err err = ERR_INIT;

	if (gen_request_build(r, cfg, f, j, fr, &test_env, &err) < 0)
		fail_msg("build: %s", err.msg);
}

static void assert_options(const struct gen_request *r, const char *expected)
{
	json_t *want = json(expected);

	if (!json_equal(r->options, want)) {
		char *s = json_dumps(r->options, JSON_SORT_KEYS);

		fail_msg("options: got %s, expected %s", s, expected);
	}
	json_decref(want);
}

/* Every field from the flags; take them away and the job shows; then --from; then the
 * environment and the configuration; then the defaults. */
static void test_build_precedence_chain(void **state)
{
	struct config *cfg = load_text_file(chain_config);
	struct chain c;
	struct gen_request r;

	(void)state;
	env_reset();
	env_set("IMAGEN_OUTPUT_DIR", "/tmp/from-env");
	env_set("IMAGEN_BACKEND", "other");
	chain_init(&c);

	/* level 1: flags beat everything */
	build_ok(&r, cfg, &c.flags, &c.job, &c.from);
	assert_string_equal(r.prompt, "flag prompt");
	assert_string_equal(r.final_prompt, "flag prompt, golden light");
	assert_string_equal(r.negative, "flag negative");
	assert_string_equal(r.style, "warm");
	assert_string_equal(r.cb->name, "big");
	assert_int_equal(r.st.backend_from, FROM_FLAG);
	assert_string_equal(r.output_dir, "/tmp/from-flag");
	assert_string_equal(r.name, "flag-{seed}.png");
	assert_int_equal(r.width, 101);
	assert_int_equal(r.height, 102);
	assert_int_equal(r.steps, 103);
	assert_int_equal(r.count, 3);
	assert_int_equal(r.seed, 1);
	assert_string_equal(r.seed_from, "flag");
	assert_int_equal(r.st.preview, MODE_OFF);
	assert_options(&r, "{\"a\": \"flag\", \"b\": \"job\", \"c\": \"from\"}");
	gen_request_release(&r);

	/* level 2: no flags, the job's own values */
	build_ok(&r, cfg, NULL, &c.job, &c.from);
	assert_string_equal(r.prompt, "job prompt");
	assert_string_equal(r.final_prompt, "job prompt"); /* style none: no suffix */
	assert_string_equal(r.negative, "job negative");
	assert_string_equal(r.cb->name, "other");
	assert_string_equal(r.output_dir, "/tmp/from-job");
	assert_string_equal(r.name, "job-{seed}.png");
	assert_int_equal(r.width, 201);
	assert_int_equal(r.steps, 203);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.seed, 2);
	assert_string_equal(r.seed_from, "job 2");
	assert_int_equal(r.st.preview, MODE_ON);
	assert_options(&r, "{\"a\": \"job\", \"b\": \"job\", \"c\": \"from\"}");
	gen_request_release(&r);

	/* level 3: the --from record; it beats the environment's backend */
	build_ok(&r, cfg, NULL, NULL, &c.from);
	assert_string_equal(r.prompt, "recorded prompt");
	assert_string_equal(r.final_prompt, "recorded prompt, as it was sent"); /* replayed */
	assert_string_equal(r.negative, "recorded negative");
	assert_string_equal(r.style, "noir");
	assert_string_equal(r.cb->name, "small");
	assert_int_equal(r.st.backend_from, FROM_FILE_ARG);
	assert_int_equal(r.width, 301);
	assert_int_equal(r.height, 302);
	assert_int_equal(r.steps, 303);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.seed, 3);
	assert_string_equal(r.seed_from, "--from");
	assert_options(&r, "{\"a\": \"from\", \"b\": \"from\", \"c\": \"from\"}");
	/* what --from does not carry: environment over configuration */
	assert_string_equal(r.output_dir, "/tmp/from-env");
	assert_int_equal(r.st.output_dir_from, FROM_ENV);
	assert_string_equal(r.name, "{slug}-{seed}.png");
	gen_request_release(&r);

	/* level 4: only a prompt; environment, then configuration, then defaults */
	{
		struct gen_args only;

		gen_args_init(&only);
		only.prompt = "bare";
		build_ok(&r, cfg, &only, NULL, NULL);
		assert_string_equal(r.cb->name, "other"); /* IMAGEN_BACKEND */
		assert_int_equal(r.st.backend_from, FROM_ENV);
		assert_string_equal(r.style, "noir"); /* defaults.style */
		assert_string_equal(r.final_prompt, "bare, black and white");
		assert_null(r.negative);
		assert_int_equal(r.width, 0); /* the adapter's default */
		assert_int_equal(r.steps, 0);
		assert_int_equal(r.count, 1);
		assert_int_equal(r.seed, 4242); /* the random source */
		assert_string_equal(r.seed_from, "random");
		assert_options(&r, "{}");
		gen_request_release(&r);

		env_reset();
		build_ok(&r, cfg, &only, NULL, NULL);
		assert_string_equal(r.cb->name, "small"); /* defaults.backend */
		assert_int_equal(r.st.backend_from, FROM_CONFIG);
		assert_string_equal(r.output_dir, "/tmp/from-config");
		assert_int_equal(r.st.output_dir_from, FROM_CONFIG);
		assert_int_equal(r.st.cloud_on, 0);
		gen_request_release(&r);
	}
	chain_release(&c);
	config_free(cfg);
}

/* The pieces of the chain that are more than "first one wins". */
static void test_build_style_and_negative_rules(void **state)
{
	struct config *cfg = parse_text(chain_config);
	struct chain c;
	struct gen_request r;
	struct gen_args f;

	(void)state;
	env_reset();
	chain_init(&c);
	gen_args_init(&f);

	/* a new style on a recorded prompt re-applies the suffix instead of replaying */
	f.style = "warm";
	build_ok(&r, cfg, &f, NULL, &c.from);
	assert_string_equal(r.final_prompt, "recorded prompt, golden light");
	gen_request_release(&r);

	/* a new prompt with the recorded style: the style's suffix, not the old text */
	f.style = NULL;
	f.prompt = "new words";
	build_ok(&r, cfg, &f, NULL, &c.from);
	assert_string_equal(r.final_prompt, "new words, black and white");
	gen_request_release(&r);

	/* a record that names no style (a plain A1111 PNG) gets none, not the default */
	c.from.style = NULL;
	{
		struct repro bare = { .prompt = "castle" };

		gen_args_from_repro(&c.from, &bare);
		build_ok(&r, cfg, NULL, NULL, &c.from);
		assert_string_equal(r.style, "none");
		assert_string_equal(r.final_prompt, "castle");
		gen_request_release(&r);
	}

	/* an empty negative clears a recorded one */
	chain_release(&c);
	chain_init(&c);
	gen_args_init(&f);
	f.negative = "";
	build_ok(&r, cfg, &f, NULL, &c.from);
	assert_null(r.negative);
	gen_request_release(&r);
	chain_release(&c);
	config_free(cfg);
}

static void build_fails(const struct config *cfg, const struct gen_args *f,
			const struct gen_args *fr, const char *msg)
{
	struct gen_request r;
	struct err err = ERR_INIT;

	assert_int_equal(gen_request_build(&r, cfg, f, NULL, fr, &test_env, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, msg);
	assert_null(r.prompt);
	assert_null(r.options);
}

static void test_build_refusals(void **state)
{
	struct config *cfg = parse_text(chain_config);
	struct gen_args f, fr;
	struct repro bad = { .prompt = "ok", .negative = "caf\xc3" };

	(void)state;
	env_reset();
	gen_args_init(&f);
	build_fails(
		cfg, &f, NULL,
		"generate: a prompt is required (e.g. imagen generate \"a lighthouse at dusk\")");
	f.prompt = " \t\n ";
	build_fails(
		cfg, &f, NULL,
		"generate: a prompt is required (e.g. imagen generate \"a lighthouse at dusk\")");
	f.prompt = "caf\xe9 \xff\xfe";
	build_fails(cfg, &f, NULL, "generate: the prompt is not valid UTF-8 (byte 4)");
	f.prompt = "fine";
	f.style = "nior";
	build_fails(cfg, &f, NULL,
		    "style \"nior\": unknown style (configured: none, noir, warm; did you mean "
		    "'noir'?)");
	f.style = NULL;
	f.backend = "bgi";
	build_fails(cfg, &f, NULL,
		    "backend \"bgi\": unknown backend (configured: mock, small, big, other; did "
		    "you mean 'big'?)");
	f.backend = NULL;
	f.name = "{slug}.json";
	build_fails(cfg, &f, NULL,
		    "--name: '{slug}.json' ends in '.json', not an image extension (.png, .jpg, "
		    ".jpeg, .webp, or .{ext} for the format the backend returns)");
	f.name = "../x.png";
	build_fails(cfg, &f, NULL, "--name: '../x.png' may not contain '.' or '..' segments");
	f.name = NULL;
	f.count = GEN_COUNT_MAX + 1;
	build_fails(cfg, &f, NULL,
		    "generate: width 0, height 0, steps 0, count 101: out of range (sizes and "
		    "steps >= 0, count 1..100)");
	f.count = 0;
	f.seed = -5;
	f.has_seed = 1;
	build_fails(cfg, &f, NULL, "generate: seed -5 is out of range (0..9223372036854775807)");
	f.has_seed = 0;
	gen_args_from_repro(&fr, &bad);
	build_fails(cfg, &f, &fr,
		    "generate: the negative prompt of --from is not valid UTF-8 (byte 4)");
	config_free(cfg);
}

static void test_option_set_types_and_refusals(void **state)
{
	json_t *o = json_object();
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(gen_option_set(o, "n=50", &err), 0);
	assert_int_equal(gen_option_set(o, "neg=-3", &err), 0);
	assert_int_equal(gen_option_set(o, "b=true", &err), 0);
	assert_int_equal(gen_option_set(o, "s=12abc", &err), 0);
	assert_int_equal(gen_option_set(o, "e=", &err), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "n")), 50);
	assert_int_equal(json_integer_value(json_object_get(o, "neg")), -3);
	assert_true(json_is_true(json_object_get(o, "b")));
	assert_string_equal(json_string_value(json_object_get(o, "s")), "12abc");
	assert_string_equal(json_string_value(json_object_get(o, "e")), "");
	assert_int_equal(gen_option_set(o, "novalue", &err), -1);
	assert_string_equal(err.msg, "--set: expected KEY=VALUE, got 'novalue'");
	assert_int_equal(gen_option_set(o, "a b=1", &err), -1);
	assert_int_equal(err.code, 2);
	assert_int_equal(gen_option_set(o, "label=ok\xc3", &err), -1);
	assert_string_equal(err.msg, "--set: the value of 'label' is not valid UTF-8 (byte 3)");
	assert_null(json_object_get(o, "label"));
	json_decref(o);
}

/* ---- gen_run --------------------------------------------------------------------------------- */

/* A sink that keeps what it saw (one per thread: no locking needed). */
struct seen {
	int starts, ends, images, errors;
	int bad; /* an EV_IMAGE whose record does not name its path (no asserts off the
		  * test's thread) */
	char last_error[512];
	char path[4][1024];
};

static void seen_emit(const struct ev_sink *sink, const struct ev *ev)
{
	struct seen *s = sink->ctx;

	switch (ev->kind) {
	case EV_JOB_START:
		s->starts++;
		break;
	case EV_JOB_END:
		s->ends++;
		break;
	case EV_IMAGE:
		if (!ev->record || !ev->path ||
		    strcmp(json_string_value(json_object_get(ev->record, "image")), ev->path))
			s->bad++;
		if (s->images < 4)
			snprintf(s->path[s->images], sizeof(s->path[0]), "%s", ev->path);
		s->images++;
		break;
	case EV_LOG:
		if (ev->level == EV_ERROR) {
			s->errors++;
			snprintf(s->last_error, sizeof(s->last_error), "%s: %s",
				 ev->source ? ev->source : "", ev->text);
		}
		break;
	default:
		break;
	}
}

/* An after-step that counts its calls and answers with the image's seed. */
static json_t *counting_step(const struct gen_step *step, const struct gen_request *req,
			     const json_t *record, const struct ev_sink *sink)
{
	int *calls = step->ctx;

	(void)req;
	(void)sink;
	(*calls)++;
	return json_pack("{s:O}", "seen_seed", json_object_get(record, "seed"));
}

struct job {
	const struct config *cfg;
	const char *prompt;
	int64_t seed;
	int count;
	struct gen_outcome out;
	struct seen seen;
	int step_calls;
	int rc;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	struct gen_args f;
	struct gen_request r;
	struct backend *be = NULL;
	struct err err = ERR_INIT;
	struct ev_sink sink = { seen_emit, &j->seen, 0, 0, 0 };
	struct gen_step steps[] = { { "counted", counting_step, &j->step_calls },
				    { NULL, NULL, NULL } };

	gen_args_init(&f);
	f.prompt = j->prompt;
	f.seed = j->seed;
	f.has_seed = 1;
	f.count = j->count;
	f.width = 48;
	f.height = 40;
	if (gen_request_build(&r, j->cfg, &f, NULL, NULL, &test_env, &err) < 0) {
		j->rc = -2;
		return NULL;
	}
	if (r.cb->ops->open(&be, r.cb->name, r.cb->cfg, &err) < 0) {
		gen_request_release(&r);
		j->rc = -3;
		return NULL;
	}
	j->rc = gen_run(&j->out, &r, be, steps, &sink);
	be->ops->close(be);
	gen_request_release(&r);
	return NULL;
}

static char *config_with_dir(const char *dir, const char *naming)
{
	char *text = NULL;

	assert_true(asprintf(&text,
			     "output:\n  directory: %s\n  naming: \"%s\"\n"
			     "backends:\n  mock: {type: mock, delay_ms: 30}\n",
			     dir, naming) > 0);
	return text;
}

/* The record of image i of a job, checked against the files on disk. */
static void check_image(const struct job *j, size_t i, int64_t seed)
{
	const json_t *rec = json_array_get(j->out.records, i);
	const char *img = json_string_value(json_object_get(rec, "image"));
	const char *side = json_string_value(json_object_get(rec, "sidecar"));
	unsigned char *data = NULL;
	size_t len = 0, nt = 0;
	struct png_text *texts = NULL;
	struct err err = ERR_INIT;
	json_t *sc, *chunk;

	assert_non_null(img);
	assert_non_null(side);
	assert_true(json_is_null(json_object_get(rec, "error")));
	assert_int_equal(json_integer_value(json_object_get(rec, "exit_code")), 0);
	assert_int_equal(json_integer_value(json_object_get(rec, "seed")), seed);
	assert_int_equal(json_integer_value(json_object_get(rec, "index")), (json_int_t)i);
	assert_int_equal(json_integer_value(json_object_get(rec, "width")), 48);
	assert_string_equal(json_string_value(json_object_get(rec, "cloud_sync")), "off");
	/* the after-step ran on this very image */
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(rec, "counted"), "seen_seed")),
		seed);
	/* the sidecar on disk is the record's metadata and names the seed and the prompt */
	sc = json_load_file(side, 0, NULL);
	assert_non_null(sc);
	assert_true(json_equal(sc, json_object_get(rec, "metadata")));
	assert_int_equal(json_integer_value(json_object_get(sc, "seed")), seed);
	assert_string_equal(json_string_value(json_object_get(sc, "prompt")), j->prompt);
	/* and the PNG carries the same object in its imagen chunk */
	assert_int_equal(file_read(&data, &len, img, 1u << 26, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(rec, "bytes")), (json_int_t)len);
	assert_int_equal(pngmeta_read_text(&texts, &nt, data, len, &err), 0);
	assert_non_null(pngmeta_find(texts, nt, "parameters"));
	chunk = json_loads(pngmeta_find(texts, nt, "imagen"), 0, NULL);
	assert_non_null(chunk);
	assert_true(json_equal(chunk, sc));
	json_decref(chunk);
	json_decref(sc);
	pngmeta_text_free(texts, nt);
	free(data);
}

/* Two generations at once, each on its own thread and backend handle, into one directory
 * and under one file name: both complete, each record matches its own files. */
static void test_two_generations_on_two_threads(void **state)
{
	char *dir = make_tmpdir(), *text = config_with_dir(dir, "same.png");
	struct config *cfg = parse_text(text);
	struct job a = { cfg, "a red kite", 100, 2, { 0 }, { 0 }, 0, 0 };
	struct job b = { cfg, "a blue boat", 900, 1, { 0 }, { 0 }, 0, 0 };
	pthread_t ta, tb;
	const char *pa0, *pa1, *pb;

	(void)state;
	env_reset();
	assert_int_equal(pthread_create(&ta, NULL, run_job, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, run_job, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);

	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(a.out.code, 0);
	assert_int_equal(b.out.code, 0);
	assert_int_equal(a.out.written, 2);
	assert_int_equal(b.out.written, 1);
	assert_int_equal(json_array_size(a.out.records), 2);
	assert_int_equal(json_array_size(b.out.records), 1);
	/* unbatched mock: one call per image, seeds seed, seed+1 */
	assert_int_equal(a.seen.starts, 2);
	assert_int_equal(a.seen.ends, 2);
	assert_int_equal(a.seen.images, 2);
	assert_int_equal(b.seen.images, 1);
	assert_int_equal(a.seen.bad + b.seen.bad, 0);
	assert_int_equal(a.step_calls, 2);
	assert_int_equal(b.step_calls, 1);
	check_image(&a, 0, 100);
	check_image(&a, 1, 101);
	check_image(&b, 0, 900);
	assert_string_equal(a.seen.path[0], json_string_value(json_object_get(
						    json_array_get(a.out.records, 0), "image")));

	pa0 = json_string_value(json_object_get(json_array_get(a.out.records, 0), "image"));
	pa1 = json_string_value(json_object_get(json_array_get(a.out.records, 1), "image"));
	pb = json_string_value(json_object_get(json_array_get(b.out.records, 0), "image"));
	assert_string_not_equal(pa0, pa1);
	assert_string_not_equal(pa0, pb);
	assert_string_not_equal(pa1, pb);
	gen_outcome_release(&a.out);
	gen_outcome_release(&b.out);
	config_free(cfg);
	free(text);
	drop_tree(dir);
}

/* A backend failure, an output directory that refuses the image after generation (rescue),
 * and an output directory that is unusable from the start: one record shape for each. */
static void test_failures_are_records(void **state)
{
	char *dir = make_tmpdir(), *text, *path = NULL, *state_dir = NULL;
	struct config *cfg;
	struct gen_args f;
	struct gen_request r;
	struct gen_outcome out;
	struct backend *be = NULL;
	struct err err = ERR_INIT;
	struct seen seen = { 0 };
	struct ev_sink sink = { seen_emit, &seen, 0, 0, 0 };
	json_t *opts = json("{\"fail\": \"the GPU is on fire\"}");
	const json_t *rec;
	FILE *fp;

	(void)state;
	text = config_with_dir(dir, "sub/{slug}-{seed}.png");
	cfg = parse_text(text);
	env_reset();
	assert_true(asprintf(&state_dir, "%s/state", dir) > 0);
	env_set("XDG_STATE_HOME", state_dir);

	/* the backend fails */
	gen_args_init(&f);
	f.prompt = "doomed";
	f.seed = 7;
	f.has_seed = 1;
	f.options = opts;
	build_ok(&r, cfg, &f, NULL, NULL);
	assert_string_equal(r.rescue_dir + strlen(state_dir), "/imagen/rescue");
	assert_int_equal(r.cb->ops->open(&be, r.cb->name, r.cb->cfg, &err), 0);
	assert_int_equal(gen_run(&out, &r, be, NULL, &sink), -1);
	assert_int_equal(out.code, 1);
	assert_int_equal(out.written, 0);
	assert_int_equal(json_array_size(out.records), 1);
	rec = json_array_get(out.records, 0);
	assert_true(json_is_null(json_object_get(rec, "image")));
	assert_string_equal(json_string_value(json_object_get(rec, "error")),
			    "backend \"mock\": the GPU is on fire");
	assert_int_equal(json_integer_value(json_object_get(rec, "exit_code")), 1);
	assert_int_equal(json_integer_value(json_object_get(rec, "seed")), 7);
	assert_int_equal(json_object_size(rec), 25);
	gen_outcome_release(&out);
	gen_request_release(&r);

	/* the template's subdirectory is a file: the image is rescued, and said so */
	assert_true(asprintf(&path, "%s/sub", dir) > 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	f.options = NULL;
	build_ok(&r, cfg, &f, NULL, NULL);
	assert_int_equal(gen_run(&out, &r, be, NULL, &sink), -1);
	assert_int_equal(out.code, 1);
	assert_int_equal(out.written, 1);
	rec = json_array_get(out.records, 0);
	assert_non_null(
		strstr(json_string_value(json_object_get(rec, "image")), "/state/imagen/rescue/"));
	assert_int_equal(access(json_string_value(json_object_get(rec, "image")), F_OK), 0);
	assert_non_null(strstr(json_string_value(json_object_get(rec, "error")),
			       "is not a directory; the image was saved to"));
	assert_int_equal(json_integer_value(json_object_get(rec, "exit_code")), 1);
	assert_int_equal(json_object_size(rec), 25);
	assert_int_equal(seen.images, 1);
	assert_int_equal(seen.errors, 1);
	assert_non_null(strstr(seen.last_error, "output: "));
	gen_outcome_release(&out);
	gen_request_release(&r);

	/* an output directory that cannot exist: refused before generating */
	free(path);
	assert_true(asprintf(&path, "%s/sub/deeper", dir) > 0);
	f.output_dir = path;
	build_ok(&r, cfg, &f, NULL, NULL);
	seen.starts = 0;
	assert_int_equal(gen_run(&out, &r, be, NULL, &sink), -1);
	assert_int_equal(out.code, 2);
	assert_int_equal(seen.starts, 0);
	rec = json_array_get(out.records, 0);
	assert_int_equal(json_integer_value(json_object_get(rec, "exit_code")), 2);
	assert_non_null(strstr(json_string_value(json_object_get(rec, "error")), "output: "));
	gen_outcome_release(&out);
	gen_request_release(&r);

	be->ops->close(be);
	json_decref(opts);
	config_free(cfg);
	free(text);
	free(path);
	free(state_dir);
	drop_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_precedence_chain),
		cmocka_unit_test(test_build_style_and_negative_rules),
		cmocka_unit_test(test_build_refusals),
		cmocka_unit_test(test_option_set_types_and_refusals),
		cmocka_unit_test(test_two_generations_on_two_threads),
		cmocka_unit_test(test_failures_are_records),
	};

	test_env.vars = fake_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
