/* test_batch_runner.c - the batch engine's seam to the core: targets from the config
 * (with FILE:LINE:COL), the outcome classes, cost estimates, and jobs run through the
 * real generation core on the mock by the real scheduler. */
#include "testlib.h"

#include "batch/estimate.h"
#include "batch/runner.h"
#include "util/cancel.h"

static void test_config_keeps_concurrency_from_the_adapter(void **state)
{
	struct config *cfg = parse_text("backends:\n  m:\n    type: mock\n    concurrency: 3\n"
					"  p:\n    type: pool\n    members: [m, mock]\n");
	const struct cfg_backend *m = config_backend(cfg, "m"), *p = config_backend(cfg, "p");

	(void)state;
	assert_null(json_object_get(m->cfg, "concurrency")); /* the adapter never sees it */
	assert_int_equal(json_integer_value(json_object_get(m->slice, "concurrency")), 3);
	assert_null(p->ops);
	assert_string_equal(p->type, "pool");
	assert_int_equal(json_array_size(json_object_get(p->slice, "members")), 2);
	config_free(cfg);
}

static void test_targets_from_config(void **state)
{
	struct config *cfg = parse_text("backends:\n  m:\n    type: mock\n    concurrency: 3\n"
					"  p:\n    type: pool\n    members: [m, mock]\n");
	struct batch_targets *t = NULL;
	struct batch_inst_stats st;
	struct err err = ERR_INIT;
	int members[4];

	(void)state;
	assert_int_equal(batch_targets_from_config(&t, cfg, &err), 0);
	assert_int_equal(batch_targets_stats(t, "m", &st), 0);
	assert_int_equal(st.limit, 3);
	assert_int_equal(batch_targets_stats(t, "mock", &st), 0);
	assert_int_equal(st.limit, 1); /* the mock's default */
	assert_int_equal(batch_targets_members(t, batch_targets_find(t, "p"), members, 4), 2);
	assert_string_equal(batch_first_instance(t, "p"), "m");
	assert_int_equal(batch_max_batch(cfg, "p"), 1);
	batch_targets_free(t);
	config_free(cfg);
}

static void assert_targets_refused(const char *text, const char *want)
{
	struct config *cfg = parse_text(text);
	struct batch_targets *t = (struct batch_targets *)&t;
	struct err err = ERR_INIT;

	assert_int_equal(batch_targets_from_config(&t, cfg, &err), -1);
	assert_null(t);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.code, 2);
	config_free(cfg);
}

static void test_targets_refusals_point_at_the_value(void **state)
{
	(void)state;
	assert_targets_refused("backends:\n  m:\n    type: mock\n    concurrency: 0\n",
			       "config: t.yaml:4:18: backends.m.concurrency: 0 is out of range "
			       "(1..64)");
	assert_targets_refused(
		"backends:\n  p:\n    type: pool\n    members:\n      - mock\n      - ghost\n",
		"config: t.yaml:6:9: backends.p.members: no backend 'ghost'");
	assert_targets_refused("backends:\n  p:\n    type: pool\n    members: [mock]\n"
			       "    weight: 2\n",
			       "config: t.yaml:5:5: unknown key 'weight' in backends.p");
	assert_targets_refused("backends:\n  p:\n    type: pool\n"
			       "    members: [{name: mock, weight: 101}]\n",
			       "config: t.yaml:4:36: backends.p.members.0.weight: expected an "
			       "integer from 1 to 100");
}

static void test_classify(void **state)
{
	(void)state;
	/* turned away at the door: another member may try */
	struct err e = ERR_INIT;

	/* by kind, whatever the message says */
	err_kind(&e, ERR_KIND_UNSENT, 1, "POST /prompt: cannot connect (connection refused)");
	assert_int_equal(batch_classify(&e), BATCH_RETRY);
	err_kind(&e, ERR_KIND_UNAVAILABLE, 1, "HTTP 503 from POST /v1/predictions: busy");
	assert_int_equal(batch_classify(&e), BATCH_RETRY);
	err_kind(&e, ERR_KIND_RATE_LIMITED, 1, "HTTP 429 from POST /v1/images/generations");
	assert_int_equal(batch_classify(&e), BATCH_RATE_LIMITED);
	/* a message alone no longer classifies: no kind is final */
	err_kind(&e, ERR_KIND_NONE, 1, "HTTP 429 from POST /v1/images/generations: slow down");
	assert_int_equal(batch_classify(&e), BATCH_FAILED);
	err_kind(&e, ERR_KIND_NONE, 1, "POST /prompt: cannot connect (connection refused)");
	assert_int_equal(batch_classify(&e), BATCH_FAILED);
	err_kind(&e, ERR_KIND_INPUT, 2, "bad input");
	assert_int_equal(batch_classify(&e), BATCH_FAILED);
	/* the adapters' rewording keeps the kind */
	err_kind(&e, ERR_KIND_UNSENT, 1, "cannot connect");
	err_prefix(&e, "POST /prompt");
	err_code(&e, 1, "%s (after 2 attempts)", "x");
	assert_int_equal(batch_classify(&e), BATCH_RETRY);
	assert_int_equal(batch_classify(NULL), BATCH_FAILED);
}

static void test_estimates(void **state)
{
	struct config *cfg =
		parse_text("backends:\n"
			   "  oa:\n    type: openai\n    model: gpt-image-1\n"
			   "  cheap:\n    type: openai\n    model: mine\n"
			   "    prices: {mine: {per_image: 0.01}}\n"
			   "  odd:\n    type: openai\n    model: unpriced\n"
			   "  rp:\n    type: replicate\n    model: black-forest-labs/flux-schnell\n"
			   "  rp2:\n    type: replicate\n    model: owner/m:abc\n"
			   "    prices: {owner/m: {per_image: 0.5}}\n"
			   "  rp3:\n    type: replicate\n    model: owner/unknown\n");
	struct batch_job job;
	char why[256];
	double usd = -1;

	(void)state;
	memset(&job, 0, sizeof(job));
	job.count = 2;
	assert_int_equal(batch_estimate(config_backend(cfg, "mock"), &job, &usd, why, sizeof(why)),
			 0);
	assert_true(usd == 0);
	assert_int_equal(batch_estimate(config_backend(cfg, "cheap"), &job, &usd, why, sizeof(why)),
			 0);
	assert_float_equal(usd, 0.02, 1e-12);
	/* quality auto and no size: the dearest per-image entry of the built-in table */
	job.count = 1;
	assert_int_equal(batch_estimate(config_backend(cfg, "oa"), &job, &usd, why, sizeof(why)),
			 0);
	assert_float_equal(usd, 0.25, 1e-12);
	job.width = 1024;
	job.height = 1024;
	job.set = json_pack("{s:s}", "quality", "low");
	assert_int_equal(batch_estimate(config_backend(cfg, "oa"), &job, &usd, why, sizeof(why)),
			 0);
	assert_float_equal(usd, 0.011, 1e-12);
	json_decref(job.set);
	job.set = NULL;
	assert_int_equal(batch_estimate(config_backend(cfg, "odd"), &job, &usd, why, sizeof(why)),
			 -1);
	assert_string_equal(why, "no price for model unpriced (set backends.odd.prices)");
	/* replicate: the config's per_image (a version priced by its model), else the price
	 * the adapter knows for an official model (flux-schnell: 0.003), else unknown */
	assert_int_equal(batch_estimate(config_backend(cfg, "rp"), &job, &usd, why, sizeof(why)),
			 0);
	assert_float_equal(usd, 0.003, 1e-12);
	assert_int_equal(batch_estimate(config_backend(cfg, "rp3"), &job, &usd, why, sizeof(why)),
			 -1);
	assert_string_equal(why, "no per_image price for model owner/unknown (set "
				 "backends.rp3.prices)");
	assert_int_equal(batch_estimate(config_backend(cfg, "rp2"), &job, &usd, why, sizeof(why)),
			 0);
	assert_float_equal(usd, 0.5, 1e-12);
	config_free(cfg);
}

static int count_pngs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strlen(e->d_name) > 4 && !strcmp(e->d_name + strlen(e->d_name) - 4, ".png");
	if (d)
		closedir(d);
	return n;
}

/* The real scheduler, runner and core on the mock: images land, records name them, a
 * failing job is final (never retried), and every handle is closed. */
static void test_jobs_run_through_the_core(void **state)
{
	struct config *cfg;
	struct batch_targets *t = NULL;
	struct batch_runner *r = NULL;
	struct batch_runner_opts ro;
	struct batch_sched_opts so;
	struct batch_summary sum;
	struct batch_list list = BATCH_LIST_INIT;
	struct gen_args fixed;
	struct gen_env env;
	struct err err = ERR_INIT;
	char *dir = make_tmpdir(), text[512];
	int i;

	(void)state;
	env_reset();
	env_set("HOME", dir);
	env.vars = fake_env();
	env.random = NULL;
	env.random_ctx = NULL;
	cfg = parse_text("backends:\n  m:\n    type: mock\n    concurrency: 3\n");
	for (i = 0; i < 6; i++) {
		struct batch_job job;

		memset(&job, 0, sizeof(job));
		snprintf(text, sizeof(text), "job %d", i);
		job.prompt = strdup(text);
		job.backend = strdup("m");
		job.seed = 100 + i;
		job.has_seed = 1;
		if (i == 4)
			job.set = json_pack("{s:s}", "fail", "boom");
		assert_int_equal(batch_list_push(&list, &job, &err), 0);
	}
	snprintf(text, sizeof(text), "%s/out", dir);
	gen_args_init(&fixed);
	fixed.output_dir = text;
	fixed.preview = MODE_OFF;
	memset(&ro, 0, sizeof(ro));
	ro.cfg = cfg;
	ro.flags = &fixed;
	ro.env = &env;
	ro.prompt_from_job = 1;
	assert_int_equal(batch_runner_new(&r, &ro, &err), 0);
	assert_int_equal(batch_targets_from_config(&t, cfg, &err), 0);
	memset(&so, 0, sizeof(so));
	so.concurrency = 4;
	so.targets = t;
	so.run = batch_runner_run;
	so.estimate = batch_runner_estimate;
	so.ctx = r;
	assert_int_equal(batch_run(&sum, &list, NULL, list.n, &so, &err), 0);
	assert_int_equal(sum.done, 5);
	assert_int_equal(sum.failed, 1);
	assert_int_equal(sum.retries, 0);
	assert_true(sum.max_in_flight <= 3);
	assert_int_equal(count_pngs(text), 5);
	batch_runner_free(r);
	batch_targets_free(t);
	batch_list_release(&list);
	config_free(cfg);
	remove_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_keeps_concurrency_from_the_adapter),
		cmocka_unit_test(test_targets_from_config),
		cmocka_unit_test(test_targets_refusals_point_at_the_value),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_estimates),
		cmocka_unit_test(test_jobs_run_through_the_core),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
