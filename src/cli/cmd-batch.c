/* cmd-batch.c - imagen batch: many prompts from a file, run at once across the configured
 * backends (src/batch/), with a journal to resume from, a budget and a live display. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/estimate.h"
#include "batch/journal.h"
#include "batch/parse.h"
#include "batch/runner.h"
#include "batch/sched.h"
#include "batch/wildcard.h"
#include "cli/batchview.h"
#include "catalog/catalog.h"
#include "catalog/step.h"
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/jsonevents.h"
#include "core/config.h"
#include "gen/gen.h"
#include "net/http.h"
#include "util/env.h"

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
	OPT_NO_CLOUD,
	OPT_JSON,
	OPT_CONCURRENCY,
	OPT_DRY_RUN,
	OPT_COMBINATORIAL,
	OPT_MAX_COST,
	OPT_ALLOW_UNKNOWN,
	OPT_RESUME,
	OPT_STATUS,
	OPT_FORMAT,
};

#define FAILED_SHOWN 10 /* failed jobs the summary names */

static const struct opt_spec batch_opts[] = {
	{ OPT_CONCURRENCY, "concurrency", 0, ARG_REQUIRED, "N",
	  "jobs in flight at once, 1-64 (default: the sum of the backends' concurrency)",
	  HINT_NONE },
	{ OPT_DRY_RUN, "dry-run", 0, ARG_NONE, NULL,
	  "print the expanded jobs, their backends and estimated cost; run nothing", HINT_NONE },
	{ OPT_COMBINATORIAL, "combinatorial", 0, ARG_NONE, NULL,
	  "every combination of each prompt's wildcards instead of one pick per seed", HINT_NONE },
	{ OPT_MAX_COST, "max-cost", 0, ARG_REQUIRED, "USD",
	  "stop scheduling before the estimated cost passes USD", HINT_NONE },
	{ OPT_ALLOW_UNKNOWN, "allow-unknown-cost", 0, ARG_NONE, NULL,
	  "with a budget, run jobs whose price is unknown (counted as 0)", HINT_NONE },
	{ OPT_RESUME, "resume", 0, ARG_NONE, NULL,
	  "run the jobs of batch ID (default: the latest) that are not done", HINT_NONE },
	{ OPT_STATUS, "status", 0, ARG_NONE, NULL, "list the batches, or the counts of batch ID",
	  HINT_NONE },
	{ OPT_JSON, "json", 0, ARG_NONE, NULL,
	  "JSON lines on stdout: job_started, progress, image, job_failed, summary", HINT_NONE },
	{ OPT_FORMAT, "format", 0, ARG_REQUIRED, "FMT",
	  "the batch file's format: auto (default), text, jsonl or yaml", HINT_NONE },
	{ OPT_BACKEND, "backend", 'b', ARG_REQUIRED, "NAME",
	  "default backend instance or pool of every job", HINT_BACKEND },
	{ OPT_STYLE, "style", 's', ARG_REQUIRED, "NAME", "default style preset", HINT_STYLE },
	{ OPT_NEGATIVE, "negative", 'n', ARG_REQUIRED, "TEXT", "default negative prompt",
	  HINT_NONE },
	{ OPT_WIDTH, "width", 'W', ARG_REQUIRED, "N", "default image width", HINT_NONE },
	{ OPT_HEIGHT, "height", 'H', ARG_REQUIRED, "N", "default image height", HINT_NONE },
	{ OPT_STEPS, "steps", 0, ARG_REQUIRED, "N", "default sampling steps", HINT_NONE },
	{ OPT_SEED, "seed", 0, ARG_REQUIRED, "N",
	  "seed of every job without one (default: one per job from a random base)", HINT_NONE },
	{ OPT_OUTPUT, "output", 'o', ARG_REQUIRED, "DIR",
	  "output directory (env IMAGEN_OUTPUT_DIR)", HINT_DIR },
	{ OPT_NAME, "name", 0, ARG_REQUIRED, "TEMPLATE", "default file name template", HINT_NONE },
	{ OPT_SET, "set", 0, ARG_REQUIRED, "KEY=VALUE",
	  "default backend request option (repeatable)", HINT_NONE },
	{ OPT_NO_CLOUD, "no-cloud", 0, ARG_NONE, NULL, "skip cloud sync for this batch",
	  HINT_NONE },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

struct bopts {
	struct batch_job defaults; /* the job-level options: strings borrowed from argv */
	int job_opts;              /* how many of them were given */
	const char *output_dir;
	int cloud; /* MODE_OFF or -1 */
	int concurrency;
	double max_cost; /* 0: none */
	int allow_unknown, combinatorial, dry_run, json, resume, status;
	enum batch_format fmt;
	const char *operand; /* FILE, or the ID of --resume / --status */
};

static int parse_args(struct bopts *o, struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	struct err err = ERR_INIT;
	const char *arg;
	long long n = 0;
	char *end;
	int c, rc = 0, first;

	if (cli_begin(&p, &commands_batch, g, argc, argv) < 0)
		return 2;
	while (!rc && (c = cli_next(&p, &arg)) != 0) {
		if (c >= 'A' && c <= 'z' && c != OPT_OUTPUT)
			o->job_opts++;
		switch (c) {
		case -1:
			rc = 2;
			break;
		case -2:
			rc = -1;
			break;
		case OPT_BACKEND:
			o->defaults.backend = (char *)arg;
			break;
		case OPT_STYLE:
			o->defaults.style = (char *)arg;
			break;
		case OPT_NEGATIVE:
			o->defaults.negative = (char *)arg;
			break;
		case OPT_WIDTH:
			rc = cli_parse_int("--width", arg, 1, BATCH_DIM_MAX, &n) < 0 ? 2 : 0;
			o->defaults.width = (int)n;
			break;
		case OPT_HEIGHT:
			rc = cli_parse_int("--height", arg, 1, BATCH_DIM_MAX, &n) < 0 ? 2 : 0;
			o->defaults.height = (int)n;
			break;
		case OPT_STEPS:
			o->job_opts++;
			rc = cli_parse_int("--steps", arg, 1, BATCH_STEPS_MAX, &n) < 0 ? 2 : 0;
			o->defaults.steps = (int)n;
			break;
		case OPT_SEED:
			o->job_opts++;
			rc = cli_parse_int("--seed", arg, 0, BATCH_SEED_MAX, &n) < 0 ? 2 : 0;
			o->defaults.seed = n;
			o->defaults.has_seed = 1;
			break;
		case OPT_NAME:
			o->job_opts++;
			o->defaults.name = (char *)arg;
			break;
		case OPT_SET:
			o->job_opts++;
			if (!o->defaults.set)
				o->defaults.set = json_object();
			if (!o->defaults.set || gen_option_set(o->defaults.set, arg, &err) < 0) {
				cli_error("%s", err.msg[0] ? err.msg : "out of memory");
				rc = 2;
			}
			break;
		case OPT_OUTPUT:
			o->output_dir = arg;
			break;
		case OPT_NO_CLOUD:
			o->cloud = MODE_OFF;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_CONCURRENCY:
			rc = cli_parse_int("--concurrency", arg, 1, BATCH_CONCURRENCY_MAX, &n) < 0
				     ? 2
				     : 0;
			o->concurrency = (int)n;
			break;
		case OPT_DRY_RUN:
			o->dry_run = 1;
			break;
		case OPT_COMBINATORIAL:
			o->combinatorial = 1;
			break;
		case OPT_MAX_COST:
			errno = 0;
			o->max_cost = strtod(arg, &end);
			if (errno || end == arg || *end || !(o->max_cost > 0) ||
			    o->max_cost > 1e9) {
				cli_error("--max-cost: expected an amount in USD above 0, got '%s'",
					  arg);
				rc = 2;
			}
			break;
		case OPT_ALLOW_UNKNOWN:
			o->allow_unknown = 1;
			break;
		case OPT_RESUME:
			o->resume = 1;
			break;
		case OPT_STATUS:
			o->status = 1;
			break;
		case OPT_FORMAT:
			if (batch_format_parse(arg) < 0) {
				cli_error(
					"--format: invalid value '%s' (expected auto, text, jsonl "
					"or yaml)",
					arg);
				rc = 2;
			}
			o->fmt = (enum batch_format)batch_format_parse(arg);
			break;
		}
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (rc)
		return rc;
	if (first < argc)
		o->operand = argv[first];
	if (first + 1 < argc) {
		cli_error("batch: unexpected argument '%s'", argv[first + 1]);
		return 2;
	}
	if (o->resume && o->status) {
		cli_error("batch: --resume and --status do not go together");
		return 2;
	}
	if ((o->resume || o->status) && (o->job_opts || o->dry_run || o->combinatorial)) {
		cli_error("batch: %s takes the batch's own jobs: job options, --dry-run and "
			  "--combinatorial do not apply",
			  o->resume ? "--resume" : "--status");
		return 2;
	}
	if (!o->resume && !o->status && !o->operand) {
		cli_error("batch: a batch file is required (FILE, or - for stdin; see imagen help "
			  "batch)");
		return 2;
	}
	if (o->operand && (o->resume || o->status) && !batch_id_valid(o->operand)) {
		cli_error("batch: '%s' is not a batch ID", o->operand);
		return 2;
	}
	return 0;
}

/* ---- the run ------------------------------------------------------------------------ */

struct failed_job {
	size_t index;
	char *text;
};

struct front {
	struct bopts *o;
	const struct batch_list *jobs;
	struct batch_runner *runner;
	struct batchview view;
	struct ev_sink view_sink;
	struct jsonevents jev;
	struct ev_sink json_sink;
	pthread_mutex_t out_mu; /* stdout lines */
	size_t images;
	struct failed_job failed[FAILED_SHOWN];
	size_t nfailed;
};

static void front_emit(const struct ev_sink *sink, const struct ev *ev)
{
	struct front *f = sink->ctx;
	struct ev_sink s = f->view_sink;

	s.job = sink->job;
	ev_emit(&s, ev);
	if (f->o->json) {
		s = f->json_sink;
		s.job = sink->job;
		ev_emit(&s, ev);
	}
	if (ev->kind == EV_IMAGE) {
		pthread_mutex_lock(&f->out_mu);
		f->images++;
		if (!f->o->json && ev->path) {
			printf("%s\n", ev->path);
			fflush(stdout);
		}
		pthread_mutex_unlock(&f->out_mu);
	}
}

static int front_run(void *ctx, const struct batch_job *job, const char *instance,
		     const struct ev_sink *sink, struct batch_outcome *out)
{
	struct front *f = ctx;

	return batch_runner_run(f->runner, job, instance, sink, out);
}

static int front_estimate(void *ctx, const struct batch_job *job, const char *instance, double *usd)
{
	struct front *f = ctx;

	return batch_runner_estimate(f->runner, job, instance, usd);
}

static void front_report(void *ctx, const struct batch_job *job, const char *instance,
			 const struct batch_outcome *out)
{
	struct front *f = ctx;
	const char *error = out->result == BATCH_DONE ? NULL : out->err.msg;

	batchview_job_end(&f->view, job->index, instance, out->images,
			  out->cost_usd > 0 ? out->cost_usd : 0, error);
	if (!error)
		return;
	if (f->o->json)
		jsonevents_write(&f->jev, json_pack("{s:s, s:I, s:s, s:s, s:s?, s:i, s:i}", "event",
						    out->result == BATCH_CANCELLED ? "job_cancelled"
										   : "job_failed",
						    "job", (json_int_t)job->index, "backend",
						    instance, "error", error, "file", f->jobs->file,
						    "line", job->line, "col", job->col));
	pthread_mutex_lock(&f->out_mu);
	if (out->result != BATCH_CANCELLED && f->nfailed < FAILED_SHOWN) {
		char *text = NULL;

		if (asprintf(&text, "job %zu (%s:%d:%d) on %s: %s", job->index + 1,
			     f->jobs->file ? f->jobs->file : "batch", job->line, job->col, instance,
			     error) < 0)
			text = NULL;
		f->failed[f->nfailed].index = job->index;
		f->failed[f->nfailed++].text = text;
	}
	pthread_mutex_unlock(&f->out_mu);
}

static const char *stop_name(enum batch_stop s)
{
	switch (s) {
	case BATCH_STOP_CANCEL:
		return "cancel";
	case BATCH_STOP_BUDGET:
		return "budget";
	case BATCH_STOP_ERROR:
		return "error";
	default:
		return "none";
	}
}

/* What runs a batch, new or resumed. */
struct run_ctx {
	const struct config *cfg;
	struct batch_targets *targets;
	struct batch_journal *journal;
	const char *id, *root;
	double spent_before; /* by this batch in earlier runs */
};

/* The caps of a run: --max-cost or budget.per_batch on what the batch spends (resumes
 * included), budget.per_day on what every batch spends since local midnight. */
struct budget {
	double per_batch, per_day; /* 0: none */
	double today;              /* spent today before this run */
	double cap;                /* the scheduler's max_cost, in this batch's spending */
	int by_day;                /* the day's cap is the tighter one */
};

/* Local midnight as the journal writes times (UTC, text-comparable). */
static void local_midnight(char *out, size_t size)
{
	time_t now = time(NULL), mid;
	struct tm lt, ut;

	localtime_r(&now, &lt);
	lt.tm_hour = lt.tm_min = lt.tm_sec = 0;
	lt.tm_isdst = -1;
	mid = mktime(&lt);
	gmtime_r(&mid, &ut);
	strftime(out, size, "%Y-%m-%dT%H:%M:%S.000Z", &ut);
}

/* Work out the caps; -1 (message printed) when today's budget is spent already. */
static int budget_setup(struct budget *b, const struct bopts *o, const struct run_ctx *rc)
{
	struct err err = ERR_INIT;
	char since[40];
	double day_cap;

	memset(b, 0, sizeof(*b));
	b->per_batch = o->max_cost > 0 ? o->max_cost : config_usd(rc->cfg->budget_per_batch);
	b->per_day = config_usd(rc->cfg->budget_per_day);
	b->cap = b->per_batch;
	if (!(b->per_day > 0))
		return 0;
	local_midnight(since, sizeof(since));
	if (batch_journal_spent_since(&b->today, rc->root, since, &err) < 0) {
		cli_error("budget: %s", err.msg);
		return -1;
	}
	if (b->today >= b->per_day) {
		cli_error("budget: today's $%.4g are spent ($%.4g); budget.per_day", b->per_day,
			  b->today);
		return -1;
	}
	day_cap = rc->spent_before + (b->per_day - b->today);
	if (!(b->cap > 0) || day_cap < b->cap) {
		b->cap = day_cap;
		b->by_day = 1;
	}
	return 0;
}

static int run_jobs(struct bopts *o, struct global_opts *g, struct run_ctx *rc,
		    const struct batch_list *jobs, const size_t *which, size_t n,
		    struct batch_runner *runner)
{
	struct front f;
	struct batch_sched_opts so;
	struct batch_summary sum;
	struct ev_sink sink;
	struct err err = ERR_INIT;
	struct timespec t0, t1;
	struct budget bud;
	char resume[160];
	double secs, spent;
	size_t i;
	int code;

	if (budget_setup(&bud, o, rc) < 0)
		return 1;
	memset(&f, 0, sizeof(f));
	f.o = o;
	f.jobs = jobs;
	f.runner = runner;
	pthread_mutex_init(&f.out_mu, NULL);
	batchview_init(&f.view, "imagen batch", n, bud.cap - rc->spent_before, g->quiet,
		       g->verbose);
	f.view_sink = batchview_sink(&f.view);
	jsonevents_init(&f.jev, stdout);
	f.json_sink = jsonevents_sink(&f.jev);
	sink = f.view_sink;
	sink.emit = front_emit;
	sink.ctx = &f;
	sink.progress = f.view.tty || o->json;

	memset(&so, 0, sizeof(so));
	so.concurrency = o->concurrency ? o->concurrency
					: batch_default_concurrency_of(rc->targets, jobs, which, n);
	so.targets = rc->targets;
	so.run = front_run;
	so.estimate = front_estimate;
	so.report = front_report;
	so.ctx = &f;
	so.max_cost = bud.cap;
	so.spent_before = rc->spent_before;
	so.allow_unknown_cost = o->allow_unknown;
	so.journal = rc->journal;
	batch_sched_retries(&so, rc->targets, env_process());
	so.sink = &sink;
	snprintf(resume, sizeof(resume), "imagen batch --resume %s", rc->id);
	if (g->verbose)
		batchview_say(&f.view, "batch %s: %zu job%s, concurrency %d", rc->id, n,
			      n == 1 ? "" : "s", so.concurrency);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (batch_run(&sum, jobs, which, n, &so, &err) < 0 && sum.stop != BATCH_STOP_ERROR) {
		batchview_release(&f.view);
		jsonevents_release(&f.jev);
		pthread_mutex_destroy(&f.out_mu);
		cli_error("%s", err.msg);
		return err.code ? err.code : 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	batchview_release(&f.view);

	code = sum.stop == BATCH_STOP_CANCEL                            ? 130
	       : sum.failed || sum.not_run || sum.cancelled || sum.stop ? 1
									: 0;
	if (sum.stop == BATCH_STOP_ERROR)
		cli_error("batch %s: the journal could not be written: %s", rc->id, err.msg);
	spent = rc->spent_before + sum.spent;
	if (sum.stop == BATCH_STOP_BUDGET && bud.by_day)
		cli_error("budget: stopped: the next job would pass today's $%.4g (spent $%.4g "
			  "today)",
			  bud.per_day, bud.today + sum.spent);
	else if (sum.stop == BATCH_STOP_BUDGET)
		cli_error("budget: stopped: the next job would pass $%.4g (spent $%.4g)",
			  bud.per_batch, spent);
	for (i = 0; i < f.nfailed; i++)
		cli_error("failed: %s", f.failed[i].text ? f.failed[i].text : "(out of memory)");
	if (sum.failed > f.nfailed)
		cli_error("failed: %zu more (imagen batch --status %s)", sum.failed - f.nfailed,
			  rc->id);
	if (!g->quiet || code) {
		char line[128] = "";

		if (bud.by_day)
			snprintf(line, sizeof(line), "; spent $%.4g, $%.4g of $%.4g today", spent,
				 bud.today + sum.spent, bud.per_day);
		else if (bud.per_batch > 0)
			snprintf(line, sizeof(line), "; spent $%.4g of $%.4g", spent,
				 bud.per_batch);
		else if (sum.spent > 0)
			snprintf(line, sizeof(line), "; spent $%.4g", sum.spent);
		fprintf(stderr,
			"imagen: batch %s: %zu done, %zu failed, %zu not run; %zu image%s in "
			"%.1f s%s\n",
			rc->id, sum.done, sum.failed, sum.not_run + sum.cancelled, f.images,
			f.images == 1 ? "" : "s", secs, line);
	}
	if (code)
		fprintf(stderr, "imagen: resume with: %s\n", resume);
	if (o->json) {
		json_t *fails = json_array(), *summary;

		for (i = 0; i < f.nfailed; i++)
			json_array_append_new(fails, json_integer((json_int_t)f.failed[i].index));
		summary = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:o?, s:s, s:f, "
				    "s:s?, s:o}",
				    "event", "summary", "batch", rc->id, "total", (json_int_t)n,
				    "done", (json_int_t)sum.done, "failed", (json_int_t)sum.failed,
				    "not_run", (json_int_t)(sum.not_run + sum.cancelled), "images",
				    (json_int_t)f.images, "spent", spent, "max_cost",
				    bud.per_batch > 0 ? json_real(bud.per_batch) : NULL, "stop",
				    stop_name(sum.stop), "seconds", secs, "resume",
				    code ? resume : NULL, "failed_jobs", fails);
		if (summary && bud.per_day > 0) {
			json_object_set_new(summary, "per_day", json_real(bud.per_day));
			json_object_set_new(summary, "spent_today",
					    json_real(bud.today + sum.spent));
		}
		jsonevents_write(&f.jev, summary);
	}
	for (i = 0; i < f.nfailed; i++)
		free(f.failed[i].text);
	jsonevents_release(&f.jev);
	pthread_mutex_destroy(&f.out_mu);
	if (fflush(stdout) != 0 && code == 0)
		code = 1;
	return code;
}

/* The flags every request takes as they are (not job-level): output dir, cloud; no
 * preview in a batch. */
static void fixed_args(struct gen_args *a, const char *output_dir, int cloud)
{
	gen_args_init(a);
	a->output_dir = output_dir;
	a->cloud = cloud;
	a->preview = MODE_OFF;
}

/* An absolute output directory for the journal: a resume may start elsewhere. */
static char *absolute_dir(const char *dir)
{
	char cwd[4096], *out = NULL;

	if (!dir || dir[0] == '/' || dir[0] == '~' || !getcwd(cwd, sizeof(cwd)))
		return dir ? strdup(dir) : NULL;
	if (asprintf(&out, "%s/%s", cwd, dir) < 0)
		out = NULL;
	return out;
}

static int load_setup(struct global_opts *g, struct config **cfg, struct batch_targets **t)
{
	struct err err = ERR_INIT;

	if (config_load(cfg, g->config_path, &err) < 0 ||
	    batch_targets_from_config(t, *cfg, &err) < 0) {
		cli_error("%s", err.msg);
		return 2;
	}
	return 0;
}

static int state_root(char **root)
{
	struct err err = ERR_INIT;

	if (batch_state_root(root, env_process(), &err) < 0) {
		cli_error("batch: %s", err.msg);
		return 2;
	}
	return 0;
}

/* One JSON line on stdout; takes o's reference. */
static void print_json_line(json_t *o)
{
	cli_print_json(stdout, o, JSON_COMPACT | JSON_REAL_PRECISION(12));
	json_decref(o);
}

/* Text from a batch file on the terminal: control characters never get there. */
static void print_clean(const char *s)
{
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/* The estimate of job: the dearest instance its target may send to (what a budget
 * reserves at worst); -1 when one of them has no price. */
static int job_estimate(const struct config *cfg, const struct batch_targets *t,
			const struct batch_job *job, double *usd)
{
	int tg = batch_targets_find(t, job->backend), members[64];
	size_t m = tg >= 0 ? batch_targets_members(t, tg, members, 64) : 0, k;
	char why[256];
	double each;

	*usd = 0;
	if (!m)
		return -1;
	for (k = 0; k < m && k < 64; k++) {
		const struct cfg_backend *cb =
			config_backend(cfg, batch_targets_inst_name(t, members[k]));

		if (!cb || batch_estimate(cb, job, &each, why, sizeof(why)) < 0)
			return -1;
		if (each > *usd)
			*usd = each;
	}
	return 0;
}

/* --dry-run: the jobs (stdout), then what they add up to. */
static int dry_run(const struct bopts *o, const struct config *cfg, const struct batch_targets *t,
		   const struct batch_list *list)
{
	json_t *by_backend = json_object(), *v;
	size_t i, unknown = 0, images = 0;
	double total = 0, usd;
	const char *name;

	if (!by_backend)
		return 1;
	if (!o->json)
		printf("JOB\tBACKEND\tSEED\tCOST\tPROMPT\n");
	for (i = 0; i < list->n; i++) {
		const struct batch_job *job = &list->jobs[i];
		int known = job_estimate(cfg, t, job, &usd) == 0;
		int count = job->count > 0 ? job->count : 1;

		images += (size_t)count;
		if (known)
			total += usd;
		else
			unknown++;
		v = json_object_get(by_backend, job->backend);
		json_object_set_new(by_backend, job->backend,
				    json_integer(json_integer_value(v) + count));
		if (o->json) {
			json_t *j = batch_job_to_json(job);

			if (j)
				json_object_set_new(j, "estimated_cost",
						    known ? json_real(usd) : json_null());
			print_json_line(j);
			continue;
		}
		printf("%zu\t%s\t%lld\t", job->index + 1, job->backend, (long long)job->seed);
		if (known)
			printf("$%.4g\t", usd);
		else
			printf("?\t");
		print_clean(batch_job_prompt(job));
		putchar('\n');
	}
	if (o->json) {
		print_json_line(json_pack("{s:s, s:I, s:I, s:O, s:f, s:I}", "event", "dry_run",
					  "jobs", (json_int_t)list->n, "images", (json_int_t)images,
					  "backends", by_backend, "estimated_cost", total,
					  "unknown_cost_jobs", (json_int_t)unknown));
	} else {
		printf("%zu job%s, %zu image%s on ", list->n, list->n == 1 ? "" : "s", images,
		       images == 1 ? "" : "s");
		i = 0;
		json_object_foreach (by_backend, name, v)
			printf("%s%s (%lld)", i++ ? ", " : "", name,
			       (long long)json_integer_value(v));
		printf("; estimated cost $%.4g", total);
		if (unknown)
			printf(" + %zu job%s of unknown price", unknown, unknown == 1 ? "" : "s");
		printf("\n");
	}
	json_decref(by_backend);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* NULL-terminated names of the configured instances and pools, and of the styles. */
static const char **backend_names(const struct config *cfg)
{
	const char **v = calloc(cfg->nbackends + 1, sizeof(*v));
	size_t i;

	for (i = 0; v && i < cfg->nbackends; i++)
		v[i] = cfg->backends[i].name;
	return v;
}

static const char **style_names(const struct config *cfg)
{
	const char **v = calloc(cfg->nstyles + 2, sizeof(*v));
	size_t i;

	if (v)
		v[0] = "none";
	for (i = 0; v && i < cfg->nstyles; i++)
		v[i + 1] = cfg->styles[i].name;
	return v;
}

static json_t *settings_json(const struct bopts *o, const char *abs_out)
{
	return json_pack("{s:s?, s:b, s:i, s:f, s:b, s:b}", "output_dir", abs_out, "no_cloud",
			 o->cloud == MODE_OFF, "concurrency", o->concurrency, "max_cost",
			 o->max_cost, "allow_unknown_cost", o->allow_unknown, "combinatorial",
			 o->combinatorial);
}

/* A new batch: read, complete, check, then run (or print with --dry-run). */
static int cmd_new(struct bopts *o, struct global_opts *g)
{
	struct config *cfg = NULL;
	struct batch_targets *t = NULL;
	struct batch_list list = BATCH_LIST_INIT;
	struct wildcards *w = NULL;
	struct batch_runner *runner = NULL;
	struct batch_runner_opts ro;
	struct catalog_step cs;
	struct gen_step steps[CATALOG_STEPS_ROOM];
	struct run_ctx rc;
	struct gen_args fixed;
	struct gen_env env = { env_process(), NULL, NULL };
	struct err err = ERR_INIT;
	const char **bnames = NULL, **snames = NULL, *def;
	char *wdir = NULL, *root = NULL, *abs_out = NULL, *source = NULL;
	enum origin from;
	uint64_t base;
	json_t *settings = NULL;
	size_t i;
	int code = 2;

	memset(&rc, 0, sizeof(rc));
	/* every image gets its catalog row as it lands, as generate's do */
	catalog_step_init(&cs, env_process());
	catalog_steps(steps, CATALOG_STEPS_ROOM, &cs);
	if (load_setup(g, &cfg, &t))
		goto out;
	if (o->defaults.backend && batch_targets_find(t, o->defaults.backend) < 0) {
		char names[512];

		config_backend_names(cfg, names, sizeof(names));
		cli_error("--backend: unknown backend '%s' (configured: %s)", o->defaults.backend,
			  names);
		goto out;
	}
	if (!o->defaults.backend) {
		/* every job names its target: the default is what generate would pick */
		if (config_resolve(&def, &from, cfg, config_option("defaults.backend"), NULL,
				   FROM_FLAG, env_process(), &err) < 0) {
			cli_error("%s", err.msg);
			goto out;
		}
		o->defaults.backend = (char *)def;
	}
	if (batch_read(&list, o->operand, o->fmt, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	bnames = backend_names(cfg);
	snames = style_names(cfg);
	if (!bnames || !snames || batch_check_names(&list, bnames, snames, &err) < 0) {
		cli_error("%s", bnames && snames ? err.msg : "out of memory");
		goto out;
	}
	if (wildcards_default_dir(&wdir, env_process(), &err) < 0)
		wdir = NULL; /* no HOME: only a __name__ would need it, and it says so */
	if (wildcards_new(&w, wdir, &err) < 0 ||
	    getrandom(&base, sizeof(base), 0) != (ssize_t)sizeof(base)) {
		cli_error("batch: %s", err.msg[0] ? err.msg : strerror(errno));
		goto out;
	}
	if (batch_prepare(&list, &o->defaults, base, batch_max_batch, cfg, w, o->combinatorial,
			  &err) < 0 ||
	    batch_check_names(&list, bnames, snames, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}

	abs_out = absolute_dir(o->output_dir);
	fixed_args(&fixed, abs_out, o->cloud);
	memset(&ro, 0, sizeof(ro));
	ro.cfg = cfg;
	ro.flags = &fixed;
	ro.env = &env;
	ro.steps = steps;
	ro.prompt_from_job = 1;
	if (batch_runner_new(&runner, &ro, &err) < 0) {
		cli_error("%s", err.msg);
		goto out;
	}
	/* every request is checked before the first is sent: nothing runs on bad input */
	for (i = 0; i < list.n; i++) {
		const char *inst = batch_first_instance(t, list.jobs[i].backend);

		if (!inst || batch_runner_check(runner, &list.jobs[i], list.file, inst, &err) < 0) {
			cli_error("%s", inst ? err.msg : "batch: a job's backend has no instance");
			goto out;
		}
	}
	if (o->dry_run) {
		code = dry_run(o, cfg, t, &list);
		goto out;
	}

	if (state_root(&root))
		goto out;
	settings = settings_json(o, abs_out);
	source = strcmp(o->operand, "-") ? absolute_dir(o->operand) : strdup("<stdin>");
	if (!settings || !source ||
	    batch_journal_create(&rc.journal, root, source, settings, &list, &err) < 0) {
		cli_error("batch: %s", err.msg[0] ? err.msg : "out of memory");
		goto out;
	}
	rc.cfg = cfg;
	rc.targets = t;
	rc.root = root;
	rc.id = batch_journal_id(rc.journal);
	batch_runner_set_batch(runner, rc.id);
	code = run_jobs(o, g, &rc, &list, NULL, list.n, runner);
out:
	if (rc.journal)
		batch_journal_close(rc.journal);
	batch_runner_free(runner);
	catalog_step_release(&cs);
	json_decref(settings);
	free(source);
	free(root);
	free(abs_out);
	free(wdir);
	free(bnames);
	free(snames);
	wildcards_free(w);
	batch_list_release(&list);
	batch_targets_free(t);
	config_free(cfg);
	return code;
}

/* The recovered journal line of job: the images found for it, their cost. */
static json_t *recovered_fields(const struct batch_job *job, const json_t *rows, size_t from,
				size_t to)
{
	json_t *images = json_array(), *f;
	double cost = 0;
	int known = 1;
	size_t i;

	for (i = from; images && i < to; i++) {
		const json_t *r = json_array_get(rows, i), *c = json_object_get(r, "cost_usd");

		json_array_append_new(images, json_copy(json_object_get(r, "path")));
		known = known && json_is_number(c);
		cost += json_number_value(c);
	}
	/* the cost when the catalog knows every image's (budgets add the journal's costs) */
	f = json_pack("{s:b, s:i, s:{s:o, s:I}}", "recovered", 1, "images", (int)(to - from),
		      "record", "images", images ? images : json_array(), "seed",
		      (json_int_t)job->seed);
	if (f && known && json_object_set_new(f, "cost", json_real(cost)) < 0) {
		json_decref(f);
		return NULL;
	}
	return f;
}

/* The jobs a killed run finished without journalling them: every remaining job whose
 * images (count of them, all still on disk) the catalog knows under this batch's id gets
 * its "done" line (marked recovered) instead of running again, so nothing is generated
 * twice.  which[0..*n) keeps the jobs still to run.  No catalog: nothing to recover. */
static int recover_unjournalled(struct batch_state *st, struct batch_journal *j, size_t *which,
				size_t *n, int quiet)
{
	struct err err = ERR_INIT;
	struct catalog *cat = NULL;
	json_t *rows = NULL;
	char *db = NULL;
	size_t i, k = 0, r = 0, nrows, end;
	struct stat sb;

	if (catalog_default_path(&db, env_process(), &err) < 0 ||
	    catalog_open(&cat, db, 0, &err) < 0 ||
	    catalog_batch_images(&rows, cat, st->id, &err) < 0) {
		catalog_close(cat);
		free(db);
		return 0;
	}
	catalog_close(cat);
	free(db);
	nrows = json_array_size(rows);
	for (i = 0; i < *n; i++) {
		const struct batch_job *job = &st->jobs.jobs[which[i]];
		json_int_t idx = (json_int_t)job->index;
		size_t want = job->count > 0 ? (size_t)job->count : 1, found = 0;
		json_t *f;

		while (r < nrows &&
		       json_integer_value(json_object_get(json_array_get(rows, r), "job")) < idx)
			r++;
		for (end = r;
		     end < nrows &&
		     json_integer_value(json_object_get(json_array_get(rows, end), "job")) == idx;
		     end++) {
			const char *p = json_string_value(
				json_object_get(json_array_get(rows, end), "path"));

			if (p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
				found++;
		}
		if (found < want || found != end - r) {
			which[k++] = which[i];
			continue;
		}
		f = recovered_fields(job, rows, r, end);
		if (!f || batch_journal_append(j, job->index, BATCH_JOB_DONE, f, &err) < 0) {
			json_decref(f);
			json_decref(rows);
			cli_error("batch %s: the journal could not be written: %s", st->id,
				  f ? err.msg : "out of memory");
			return -1;
		}
		json_decref(f);
		if (!quiet)
			fprintf(stderr,
				"imagen: batch %s: job %zu was done before the last run stopped "
				"(%zu image%s in the catalog): not run again\n",
				st->id, job->index + 1, found, found == 1 ? "" : "s");
	}
	json_decref(rows);
	*n = k;
	return 0;
}

/* --resume [ID]: the jobs not done, with the batch's own settings (options given now
 * win). */
static int cmd_resume(struct bopts *o, struct global_opts *g)
{
	struct config *cfg = NULL;
	struct batch_targets *t = NULL;
	struct batch_state st;
	struct batch_runner *runner = NULL;
	struct batch_runner_opts ro;
	struct catalog_step cs;
	struct gen_step steps[CATALOG_STEPS_ROOM];
	struct run_ctx rc;
	struct gen_args fixed;
	struct gen_env env = { env_process(), NULL, NULL };
	struct err err = ERR_INIT;
	char *root = NULL, *latest = NULL;
	const char *id = o->operand, *out_dir;
	size_t *which = NULL, n = 0;
	const json_t *s;
	int code = 2, loaded = 0;

	memset(&rc, 0, sizeof(rc));
	/* every image gets its catalog row as it lands, as generate's do */
	catalog_step_init(&cs, env_process());
	catalog_steps(steps, CATALOG_STEPS_ROOM, &cs);
	memset(&st, 0, sizeof(st));
	if (state_root(&root) || load_setup(g, &cfg, &t))
		goto out;
	if (!id) {
		if (batch_journal_latest(&latest, root, &err) < 0) {
			cli_error("batch: %s", err.msg);
			goto out;
		}
		id = latest;
	}
	if (batch_state_load(&st, root, id, &err) < 0) {
		cli_error("batch: %s", err.msg);
		goto out;
	}
	loaded = 1;
	if (batch_state_remaining(&st, &which, &n, &err) < 0 ||
	    (n && batch_journal_reopen(&rc.journal, root, st.id, &err) < 0)) {
		cli_error("batch: %s", err.msg);
		goto out;
	}
	if (n && recover_unjournalled(&st, rc.journal, which, &n, g->quiet) < 0) {
		code = 1;
		goto out;
	}
	if (n == 0) {
		if (!g->quiet)
			fprintf(stderr, "imagen: batch %s: every job is done\n", st.id);
		code = 0;
		goto out;
	}
	s = st.settings;
	if (!o->concurrency && json_integer_value(json_object_get(s, "concurrency")) > 0)
		o->concurrency = (int)json_integer_value(json_object_get(s, "concurrency"));
	if (!(o->max_cost > 0) && json_number_value(json_object_get(s, "max_cost")) > 0)
		o->max_cost = json_number_value(json_object_get(s, "max_cost"));
	if (!o->allow_unknown)
		o->allow_unknown = json_is_true(json_object_get(s, "allow_unknown_cost"));
	if (o->cloud < 0 && json_is_true(json_object_get(s, "no_cloud")))
		o->cloud = MODE_OFF;
	out_dir =
		o->output_dir ? o->output_dir : json_string_value(json_object_get(s, "output_dir"));
	fixed_args(&fixed, out_dir, o->cloud);
	memset(&ro, 0, sizeof(ro));
	ro.cfg = cfg;
	ro.flags = &fixed;
	ro.env = &env;
	ro.steps = steps;
	ro.prompt_from_job = 1;
	ro.batch_id = st.id;
	if (batch_runner_new(&runner, &ro, &err) < 0) {
		cli_error("batch: %s", err.msg);
		goto out;
	}
	if (!g->quiet)
		fprintf(stderr, "imagen: batch %s: resuming %zu of %zu jobs\n", st.id, n,
			st.jobs.n);
	rc.cfg = cfg;
	rc.targets = t;
	rc.id = st.id;
	rc.root = root;
	rc.spent_before = st.spent;
	code = run_jobs(o, g, &rc, &st.jobs, which, n, runner);
out:
	if (rc.journal)
		batch_journal_close(rc.journal);
	batch_runner_free(runner);
	catalog_step_release(&cs);
	free(which);
	if (loaded)
		batch_state_release(&st);
	free(latest);
	free(root);
	batch_targets_free(t);
	config_free(cfg);
	return code;
}

/* --status [ID]: every batch, or one. */
static int cmd_status(struct bopts *o)
{
	struct batch_info *v = NULL;
	struct err err = ERR_INIT;
	char *root = NULL;
	size_t n = 0, i, shown = 0;
	int code = 2;

	if (state_root(&root))
		return 2;
	if (batch_journal_list(&v, &n, root, &err) < 0) {
		cli_error("batch: %s", err.msg);
		goto out;
	}
	if (!o->json)
		printf("%-22s %-24s %7s %7s %7s %7s %9s  %s\n", "ID", "CREATED", "TOTAL", "DONE",
		       "FAILED", "PENDING", "SPENT", "SOURCE");
	for (i = 0; i < n; i++) {
		const struct batch_info *b = &v[i];

		if (o->operand && strcmp(o->operand, b->id))
			continue;
		shown++;
		if (o->json) {
			print_json_line(json_pack(
				"{s:s, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:f}", "id", b->id,
				"created", b->created, "source", b->source, "total",
				(json_int_t)b->total, "done", (json_int_t)b->done, "failed",
				(json_int_t)b->failed, "cancelled", (json_int_t)b->cancelled,
				"pending", (json_int_t)b->pending, "spent", b->spent));
			continue;
		}
		printf("%-22s %-24s %7zu %7zu %7zu %7zu %9.4g  ", b->id,
		       b->created ? b->created : "", b->total, b->done, b->failed,
		       b->pending + b->cancelled, b->spent);
		print_clean(b->source ? b->source : "");
		putchar('\n');
	}
	if (o->operand && !shown) {
		cli_error("batch: no batch '%s' in %s", o->operand, root);
		goto out;
	}
	code = fflush(stdout) == 0 ? 0 : 1;
out:
	batch_infos_free(v, n);
	free(root);
	return code;
}

static int cmd_batch(struct global_opts *g, int argc, char **argv)
{
	struct bopts o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.cloud = -1;
	rc = parse_args(&o, g, argc, argv);
	if (rc == 0)
		rc = o.status ? cmd_status(&o) : o.resume ? cmd_resume(&o, g) : cmd_new(&o, g);
	else if (rc < 0)
		rc = 0;
	json_decref(o.defaults.set);
	return rc;
}

const struct cmd_entry commands_batch = {
	"batch",
	"[options] FILE|-  |  --resume [ID]  |  --status [ID]",
	"generate many images from a file of prompts, several at once",
	"FILE holds the jobs: plain text (a prompt per line), JSON Lines (a job object per\n"
	"line) or YAML (jobs: and matrix:, every combination of the matrix's lists); - reads\n"
	"stdin.  Prompts may hold wildcards: {a|b|c} picks one, __name__ a line of\n"
	"$XDG_CONFIG_HOME/imagen/wildcards/name.txt, both from the job's seed.  The job\n"
	"options (-b, -s, -n, -W, -H, --steps, --seed, --name, --set) fill what a job leaves\n"
	"out.  Jobs run at once up to --concurrency and each instance's `concurrency:`; a\n"
	"pool (type: pool) spreads them over its members.  A job may take input images\n"
	"(image, mask, strength, mask_invert; paths relative to FILE's folder).  Each\n"
	"image's path is printed as it is written; its sidecar records batch_id and job.\n"
	"A journal under $XDG_STATE_HOME/imagen/batches/ lets --resume run what did not\n"
	"finish (a job whose images the catalog already holds is not run again).  Exit\n"
	"status: 0 all done, 1 some failed or not run, 2 bad input, 130 interrupted.",
	batch_opts,
	cmd_batch,
};
