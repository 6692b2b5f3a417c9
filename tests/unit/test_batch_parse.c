/* test_batch_parse.c - batch files (text, JSON Lines, YAML matrix) and the job steps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/job.h"
#include "batch/parse.h"
#include "batch/wildcard.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static void parse_ok(struct batch_list *l, const char *text, const char *file,
		     enum batch_format fmt)
{
	struct err err = ERR_INIT;

	if (batch_parse(l, text, strlen(text), file, fmt, &err) != 0)
		fail_msg("batch_parse refused: %s\n--- text ---\n%s", err.msg, text);
}

static void assert_refused(const char *text, const char *file, enum batch_format fmt,
			   const char *want)
{
	struct batch_list l;
	struct err err = ERR_INIT;

	assert_int_equal(batch_parse(&l, text, strlen(text), file, fmt, &err), -1);
	assert_int_equal(l.n, 0);
	assert_null(l.jobs);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, want);
}

static void assert_job(const struct batch_job *j, const char *prompt, int line, int col)
{
	assert_string_equal(j->prompt, prompt);
	assert_int_equal(j->line, line);
	assert_int_equal(j->col, col);
}

/* ---- plain text -------------------------------------------------------------------------- */

static void test_text_lines(void **state)
{
	struct batch_list l;

	(void)state;
	parse_ok(&l,
		 "# my prompts\n\n  a lighthouse at dusk  \r\n\t# indented comment\n"
		 "a red fox\n   \nlast line without newline",
		 "p.txt", BATCH_FMT_TEXT);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.file, "p.txt");
	assert_job(&l.jobs[0], "a lighthouse at dusk", 3, 3);
	assert_job(&l.jobs[1], "a red fox", 5, 1);
	assert_job(&l.jobs[2], "last line without newline", 7, 1);
	assert_int_equal(l.jobs[2].index, 2);
	assert_false(l.jobs[0].has_seed);
	assert_null(l.jobs[0].backend);
	batch_list_release(&l);
}

static void test_text_refusals(void **state)
{
	(void)state;
	assert_refused("ok\nbad \x01 byte\n", "p.txt", BATCH_FMT_TEXT,
		       "p.txt:2:5: not a text file (control character 0x01)");
	assert_refused("caf\xc3\xa9 \xff\n", "p.txt", BATCH_FMT_TEXT,
		       "p.txt:1:6: not a text file (invalid UTF-8)");
	assert_refused("# only comments\n\n", "p.txt", BATCH_FMT_TEXT,
		       "p.txt: no jobs in the file");
	{
		const char nul[] = "a\0b";
		struct batch_list l;
		struct err err = ERR_INIT;

		assert_int_equal(batch_parse(&l, nul, 3, "p.txt", BATCH_FMT_TEXT, &err), -1);
		assert_string_equal(err.msg, "p.txt:1:2: not a text file (NUL byte)");
	}
}

/* ---- JSON Lines -------------------------------------------------------------------------- */

static void test_jsonl_every_key(void **state)
{
	struct batch_list l;
	const struct batch_job *j;

	(void)state;
	parse_ok(&l,
		 "{\"prompt\": \"a cat\", \"negative\": \"blurry\", \"style\": \"photo\", "
		 "\"backend\": \"comfy\", \"seed\": 9007199254740993, \"width\": 512, "
		 "\"height\": 768, \"steps\": 20, \"count\": 3, \"name\": \"cat\", "
		 "\"set\": {\"cfg\": 7.5, \"sampler\": \"euler\", \"hires\": true, \"n\": 2}}\n"
		 "\n"
		 "   {\"prompt\": \"line two\\nsecond line\"}\r\n",
		 "b.jsonl", BATCH_FMT_JSONL);
	assert_int_equal(l.n, 2);
	j = &l.jobs[0];
	assert_job(j, "a cat", 1, 1);
	assert_string_equal(j->negative, "blurry");
	assert_string_equal(j->style, "photo");
	assert_string_equal(j->backend, "comfy");
	assert_string_equal(j->name, "cat");
	assert_true(j->has_seed);
	assert_true(j->seed == 9007199254740993LL);
	assert_int_equal(j->width, 512);
	assert_int_equal(j->height, 768);
	assert_int_equal(j->steps, 20);
	assert_int_equal(j->count, 3);
	assert_true(json_real_value(json_object_get(j->set, "cfg")) == 7.5);
	assert_string_equal(json_string_value(json_object_get(j->set, "sampler")), "euler");
	assert_true(json_is_true(json_object_get(j->set, "hires")));
	assert_int_equal(json_integer_value(json_object_get(j->set, "n")), 2);
	assert_job(&l.jobs[1], "line two\nsecond line", 3, 4);
	batch_list_release(&l);
}

static void test_image_inputs(void **state)
{
	struct batch_list l;
	struct batch_job copy;
	const json_t *in;
	char cwd[4096], want[4200];
	json_t *o;
	struct err err = ERR_INIT;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	parse_ok(&l,
		 "{\"prompt\": \"a\", \"image\": [\"in/a.png\", \"/abs/b.png\"], \"mask\": "
		 "\"m.png\", \"strength\": 0.4, \"mask_invert\": true}\n{\"prompt\": \"b\", "
		 "\"image\": "
		 "\"c.png\"}\n",
		 "/batches/x/b.jsonl", BATCH_FMT_JSONL);
	in = l.jobs[0].inputs;
	assert_string_equal(json_string_value(json_array_get(json_object_get(in, "image"), 0)),
			    "/batches/x/in/a.png");
	assert_string_equal(json_string_value(json_array_get(json_object_get(in, "image"), 1)),
			    "/abs/b.png");
	assert_string_equal(json_string_value(json_object_get(in, "mask")), "/batches/x/m.png");
	assert_true(json_number_value(json_object_get(in, "strength")) == 0.4);
	assert_true(json_is_true(json_object_get(in, "mask_invert")));
	assert_int_equal(json_array_size(json_object_get(l.jobs[1].inputs, "image")), 1);
	/* through the journal and back */
	o = batch_job_to_json(&l.jobs[0]);
	assert_int_equal(batch_job_from_json(&copy, o, &err), 0);
	assert_true(json_equal(copy.inputs, in));
	batch_job_release(&copy);
	json_decref(o);
	batch_list_release(&l);
	/* a relative batch file: relative to the current directory */
	parse_ok(&l, "jobs:\n  - prompt: a\n    image: i.png\n", "sub/b.yaml", BATCH_FMT_YAML);
	snprintf(want, sizeof(want), "%s/sub/i.png", cwd);
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(l.jobs[0].inputs, "image"), 0)),
		want);
	batch_list_release(&l);
	assert_refused("{\"prompt\": \"a\", \"strength\": 1.5}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:29: strength: expected a number from 0 to 1");
	assert_refused("{\"prompt\": \"a\", \"image\": []}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:26: image: expected 1 to 16 paths");
	assert_refused("{\"prompt\": \"a\", \"mask\": \"\"}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:25: mask: is empty");
	assert_refused("{\"prompt\": \"a\", \"mask_invrt\": true}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:17: unknown key 'mask_invrt' (did you mean 'mask_invert'?)");
	assert_refused("jobs:\n  - prompt: a\n    strength: [1]\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:3:15: strength: expected a number from 0 to 1");
}

static void test_jsonl_refusals(void **state)
{
	(void)state;
	/* unknown key: the key's column, with a suggestion */
	assert_refused("{\"prompt\": \"a\"}\n{\"prompt\": \"b\", \"sed\": 3}\n", "b.jsonl",
		       BATCH_FMT_JSONL, "b.jsonl:2:17: unknown key 'sed' (did you mean 'seed'?)");
	assert_refused("{\"prompt\": \"a\", \"zzzzzz\": 3}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:17: unknown key 'zzzzzz' (a job has prompt, negative, style, "
		       "backend, seed, width, height, steps, count, set, name, image, mask, "
		       "strength, mask_invert)");
	/* a bad value: the value's column (characters, not bytes) */
	assert_refused("{\"prompt\": \"caf\xc3\xa9\", \"width\": \"big\"}", "b.jsonl",
		       BATCH_FMT_JSONL, "b.jsonl:1:29: width: expected an integer from 1 to 16384");
	assert_refused("{\"prompt\": \"a\", \"steps\": 0}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:26: steps: expected an integer from 1 to 10000");
	assert_refused("{\"prompt\": \"a\", \"seed\": -1}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:25: seed: expected an integer from 0 to 9223372036854775807");
	assert_refused("{\"prompt\": \"a\", \"set\": {\"ok\": 1, \"x\": [1]}}", "b.jsonl",
		       BATCH_FMT_JSONL,
		       "b.jsonl:1:39: set.x: expected a string, number or boolean");
	assert_refused("{\"prompt\": \"a\", \"set\": {\"bad key\": 1}}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:25: set: invalid key 'bad key' (letters, digits, '_', '-', '.')");
	assert_refused("{\"prompt\": \"a\\u001b[2J\"}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:12: prompt: control character 0x1b");
	assert_refused("{\"prompt\": \"   \"}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:12: prompt: is empty");
	assert_refused("{\"style\": \"\"}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:11: style: is empty");
	assert_refused("{\"negative\": \"x\"}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:1: job without a prompt");
	/* syntax errors keep jansson's position and words */
	assert_refused("{\"prompt\": \"a\"}\n\n{\"prompt\": \"b\",}\n", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:3:16: string or '}' expected near '}'");
	assert_refused("{\"prompt\": \"a\", \"prompt\": \"b\"}", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:24: duplicate object key near '\"prompt\"'");
	assert_refused("  [\"a cat\"]", "b.jsonl", BATCH_FMT_JSONL,
		       "b.jsonl:1:3: expected a job object ({\"prompt\": ...})");
}

/* ---- YAML -------------------------------------------------------------------------------- */

static void test_yaml_jobs_and_defaults(void **state)
{
	struct batch_list l;

	(void)state;
	parse_ok(&l,
		 "defaults:\n"
		 "  style: photo\n"
		 "  seed: 7\n"
		 "  set: {cfg: 5, sampler: euler}\n"
		 "jobs:\n"
		 "  - a plain prompt\n"
		 "  - prompt: 1984\n"
		 "    style: none\n"
		 "    set: {cfg: 9}\n"
		 "  - {prompt: \"quoted\", seed: 3, count: 2}\n",
		 "b.yaml", BATCH_FMT_YAML);
	assert_int_equal(l.n, 3);
	assert_job(&l.jobs[0], "a plain prompt", 6, 5);
	assert_string_equal(l.jobs[0].style, "photo");
	assert_int_equal(l.jobs[0].seed, 7);
	assert_int_equal(json_integer_value(json_object_get(l.jobs[0].set, "cfg")), 5);
	/* a number where text is expected is the text */
	assert_job(&l.jobs[1], "1984", 7, 5);
	assert_string_equal(l.jobs[1].style, "none");
	assert_int_equal(json_integer_value(json_object_get(l.jobs[1].set, "cfg")), 9);
	assert_string_equal(json_string_value(json_object_get(l.jobs[1].set, "sampler")), "euler");
	assert_int_equal(l.jobs[2].seed, 3);
	assert_int_equal(l.jobs[2].count, 2);
	batch_list_release(&l);

	/* a bare list is a jobs list */
	parse_ok(&l, "- one\n- two\n", "b.yaml", BATCH_FMT_YAML);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.jobs[1].prompt, "two");
	batch_list_release(&l);
}

static void test_yaml_matrix(void **state)
{
	struct batch_list l;
	size_t i;

	(void)state;
	parse_ok(&l,
		 "defaults:\n"
		 "  negative: blurry\n"
		 "matrix:\n"
		 "  prompts: [a cat, a dog]\n"
		 "  seeds: [1, 2, 3]\n"
		 "  sizes: 512x768\n"
		 "  set:\n"
		 "    cfg: [5, 7]\n",
		 "m.yaml", BATCH_FMT_YAML);
	assert_int_equal(l.n, 2 * 3 * 1 * 2);
	for (i = 0; i < l.n; i++) {
		const struct batch_job *j = &l.jobs[i];

		/* the first key turns slowest, the last fastest */
		assert_string_equal(j->prompt, i < 6 ? "a cat" : "a dog");
		assert_int_equal(j->seed, 1 + (i / 2) % 3);
		assert_int_equal(json_integer_value(json_object_get(j->set, "cfg")), i % 2 ? 7 : 5);
		assert_int_equal(j->width, 512);
		assert_int_equal(j->height, 768);
		assert_string_equal(j->negative, "blurry");
		assert_int_equal(j->index, i);
		assert_int_equal(j->line, 4);
		assert_int_equal(j->col, 3);
	}
	batch_list_release(&l);

	/* a list of matrices, jobs first; prompt from defaults */
	parse_ok(&l,
		 "defaults: {prompt: a tree}\n"
		 "jobs: [first]\n"
		 "matrix:\n"
		 "  - styles: [none, photo]\n"
		 "    backends: [mock]\n"
		 "  - steps: [10, 20, 30]\n",
		 "m.yaml", BATCH_FMT_AUTO);
	assert_int_equal(l.n, 1 + 2 + 3);
	assert_string_equal(l.jobs[0].prompt, "first");
	assert_string_equal(l.jobs[1].prompt, "a tree");
	assert_string_equal(l.jobs[2].style, "photo");
	assert_string_equal(l.jobs[2].backend, "mock");
	assert_int_equal(l.jobs[5].steps, 30);
	batch_list_release(&l);
}

static void test_yaml_refusals(void **state)
{
	(void)state;
	assert_refused("jobs:\n  - prompt: a\n    stpes: 3\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:3:5: unknown key 'stpes' (did you mean 'steps'?)");
	assert_refused("jobs:\n  - prompt: a\n    width: wide\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:3:12: width: expected an integer from 1 to 16384");
	assert_refused("jobs:\n  - prompt: a\n    set: {cfg: {x: 1}}\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:3:16: set.cfg: expected a string, number or boolean");
	assert_refused("jobs:\n  - style: photo\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:2:5: job without a prompt");
	assert_refused("jbos: []\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:1:1: unknown key 'jbos' (did you mean 'jobs'?)");
	assert_refused("jobs: a cat\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:1:7: jobs: expected a list of jobs");
	assert_refused("jobs:\n  - [a, b]\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:2:5: expected a job (a mapping or a prompt)");
	assert_refused("matrix:\n  prompts: [a]\n  seed: [1, 2]\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:3:3: matrix: unknown key 'seed' (did you mean 'seeds'?)");
	assert_refused("matrix:\n  prompts: [a]\n  sampler: [x]\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:3:3: matrix: unknown key 'sampler' (request options go under set:)");
	assert_refused("matrix:\n  prompts: [a]\n  sizes: [512x512, 512by512]\n", "b.yaml",
		       BATCH_FMT_YAML,
		       "b.yaml:3:20: matrix sizes: expected WIDTHxHEIGHT (1..16384), got "
		       "'512by512'");
	assert_refused("matrix:\n  prompts: [a]\n  seeds: [1, many]\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:3:14: seed: expected an integer from 0 to 9223372036854775807");
	assert_refused("matrix:\n  prompts: []\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:2:12: matrix prompts: no values");
	assert_refused("matrix:\n  seeds: [1, 2]\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:2:3: matrix without prompts (and no prompt in defaults:)");
	assert_refused("matrix:\n  prompts: [a]\n  set: [cfg]\n", "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:3:8: matrix set: expected a mapping KEY: [values]");
	/* 10 x 10 x 10 x 10 x 11 = 110000 combinations */
	assert_refused("matrix:\n  prompts: [a,b,c,d,e,f,g,h,i,j]\n  seeds: [0,1,2,3,4,5,6,7,8,9]\n"
		       "  steps: [1,2,3,4,5,6,7,8,9,10]\n  styles: [a,b,c,d,e,f,g,h,i,j]\n"
		       "  set: {x: [0,1,2,3,4,5,6,7,8,9,10]}\n",
		       "b.yaml", BATCH_FMT_YAML,
		       "b.yaml:2:3: matrix: more than 100000 combinations");
	/* the YAML layer's own refusals keep their positions */
	assert_refused(
		"jobs:\n  - prompt: [unclosed\n", "b.yaml", BATCH_FMT_YAML,
		"b.yaml:3:1: did not find expected ',' or ']' while parsing a flow sequence");
	assert_refused("jobs: []\n", "b.yaml", BATCH_FMT_YAML, "b.yaml: no jobs in the file");
}

/* ---- format detection and reading -------------------------------------------------------- */

static enum batch_format detect(const char *path, const char *text)
{
	return batch_format_detect(path, text, strlen(text));
}

static void test_detect(void **state)
{
	(void)state;
	assert_int_equal(detect("x.txt", "jobs:\n"), BATCH_FMT_TEXT);
	assert_int_equal(detect("x.JSONL", "a"), BATCH_FMT_JSONL);
	assert_int_equal(detect("x.ndjson", "a"), BATCH_FMT_JSONL);
	assert_int_equal(detect("x.yml", "a"), BATCH_FMT_YAML);
	assert_int_equal(detect("x.yaml", "a"), BATCH_FMT_YAML);
	assert_int_equal(detect("-", "\n# c\n{\"prompt\": \"a\"}\n"), BATCH_FMT_JSONL);
	assert_int_equal(detect(NULL, "---\n# c\nmatrix:\n  prompts: [a]\n"), BATCH_FMT_YAML);
	assert_int_equal(detect("prompts", "jobs :\n - a\n"), BATCH_FMT_YAML);
	/* a wildcard prompt starts with a brace but is no JSON */
	assert_int_equal(detect(NULL, "{red|blue} car\n"), BATCH_FMT_TEXT);
	assert_int_equal(detect(NULL, "jobs of the future, cinematic\n"), BATCH_FMT_TEXT);
	assert_int_equal(detect(NULL, ""), BATCH_FMT_TEXT);
	assert_int_equal(batch_format_parse("jsonl"), BATCH_FMT_JSONL);
	assert_int_equal(batch_format_parse("json"), -1);
	assert_string_equal(batch_format_name(BATCH_FMT_YAML), "yaml");
}

static void test_read_file_and_stdin(void **state)
{
	char path[] = "/tmp/imagen-batch-XXXXXX";
	struct batch_list l;
	struct err err = ERR_INIT;
	int fd = mkstemp(path), saved;
	const char text[] = "{\"prompt\": \"from a file\"}\n";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	/* no extension: the content says JSON Lines */
	assert_int_equal(batch_read(&l, path, BATCH_FMT_AUTO, &err), 0);
	assert_string_equal(l.jobs[0].prompt, "from a file");
	batch_list_release(&l);
	/* forced text: the line is a prompt */
	assert_int_equal(batch_read(&l, path, BATCH_FMT_TEXT, &err), 0);
	assert_string_equal(l.jobs[0].prompt, "{\"prompt\": \"from a file\"}");
	batch_list_release(&l);

	saved = dup(STDIN_FILENO);
	fd = open(path, O_RDONLY);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDIN_FILENO);
	close(fd);
	assert_int_equal(batch_read(&l, "-", BATCH_FMT_AUTO, &err), 0);
	dup2(saved, STDIN_FILENO);
	close(saved);
	assert_string_equal(l.file, "<stdin>");
	assert_string_equal(l.jobs[0].prompt, "from a file");
	batch_list_release(&l);
	unlink(path);

	assert_int_equal(batch_read(&l, "/nonexistent/b.txt", BATCH_FMT_AUTO, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "/nonexistent/b.txt: No such file or directory");
}

static void test_check_names(void **state)
{
	static const char *const backends[] = { "mock", "comfyui", NULL };
	static const char *const styles[] = { "none", "photo", NULL };
	struct batch_list l;
	struct err err = ERR_INIT;

	(void)state;
	parse_ok(&l,
		 "{\"prompt\": \"a\", \"backend\": \"mock\"}\n\n{\"prompt\": \"b\", "
		 "\"backend\": \"comfyiu\"}\n",
		 "b.jsonl", BATCH_FMT_JSONL);
	assert_int_equal(batch_check_names(&l, backends, styles, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "b.jsonl:3:1: unknown backend 'comfyiu' (did you mean "
				     "'comfyui'?)");
	free(l.jobs[1].backend);
	l.jobs[1].backend = NULL;
	l.jobs[1].style = strdup("watercolour");
	assert_int_equal(batch_check_names(&l, backends, styles, &err), -1);
	assert_string_equal(err.msg, "b.jsonl:3:1: unknown style 'watercolour'");
	assert_int_equal(batch_check_names(&l, backends, NULL, &err), 0);
	batch_list_release(&l);
}

/* ---- the completion steps ---------------------------------------------------------------- */

static void test_defaults_and_seeds(void **state)
{
	struct batch_list l, again;
	struct batch_job d;
	struct err err = ERR_INIT;

	(void)state;
	parse_ok(&l,
		 "{\"prompt\": \"a\", \"style\": \"own\", \"set\": {\"k\": 1}}\n"
		 "{\"prompt\": \"b\", \"seed\": 5}\n{\"prompt\": \"c\"}\n",
		 "b.jsonl", BATCH_FMT_JSONL);
	memset(&d, 0, sizeof(d));
	d.style = "cli";
	d.backend = "mock";
	d.width = 640;
	d.set = json_pack("{si si}", "k", 2, "extra", 3);
	assert_int_equal(batch_apply_defaults(&l, &d, &err), 0);
	json_decref(d.set);
	assert_string_equal(l.jobs[0].style, "own");
	assert_string_equal(l.jobs[1].style, "cli");
	assert_string_equal(l.jobs[2].backend, "mock");
	assert_int_equal(l.jobs[2].width, 640);
	assert_int_equal(json_integer_value(json_object_get(l.jobs[0].set, "k")), 1);
	assert_int_equal(json_integer_value(json_object_get(l.jobs[0].set, "extra")), 3);
	assert_int_equal(json_integer_value(json_object_get(l.jobs[2].set, "k")), 2);

	batch_assign_seeds(&l, 42);
	assert_int_equal(l.jobs[1].seed, 5);
	assert_true(l.jobs[0].has_seed && l.jobs[2].has_seed);
	/* the documented derivation: splitmix64(base + index) >> 32 */
	assert_true(l.jobs[0].seed == (int64_t)(batch_mix64(42) >> 32));
	assert_true(l.jobs[2].seed == (int64_t)(batch_mix64(44) >> 32));
	assert_true(l.jobs[0].seed != l.jobs[2].seed);
	/* same base, same seeds */
	parse_ok(&again, "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n{\"prompt\": \"c\"}\n", "b",
		 BATCH_FMT_JSONL);
	batch_assign_seeds(&again, 42);
	assert_true(again.jobs[2].seed == l.jobs[2].seed);
	batch_list_release(&again);
	batch_list_release(&l);
}

static int batched_comfy(void *ctx, const char *backend)
{
	(void)ctx;
	return backend && !strcmp(backend, "comfy") ? 8 : 1;
}

static void test_split_counts(void **state)
{
	struct batch_list l;
	struct err err = ERR_INIT;

	(void)state;
	parse_ok(&l,
		 "{\"prompt\": \"a\", \"count\": 3, \"seed\": 9223372036854775806}\n"
		 "{\"prompt\": \"b\", \"count\": 2, \"seed\": 1, \"backend\": \"comfy\"}\n"
		 "{\"prompt\": \"c\", \"seed\": 4}\n",
		 "b.jsonl", BATCH_FMT_JSONL);
	assert_int_equal(batch_split_counts(&l, batched_comfy, NULL, &err), 0);
	assert_int_equal(l.n, 5);
	assert_true(l.jobs[0].seed == INT64_MAX - 1);
	assert_true(l.jobs[1].seed == INT64_MAX);
	assert_true(l.jobs[2].seed == 0); /* wraps like generate --count */
	assert_int_equal(l.jobs[2].count, 1);
	assert_int_equal(l.jobs[2].line, 1);
	assert_int_equal(l.jobs[2].index, 2);
	/* a batching upstream keeps its count in one job */
	assert_string_equal(l.jobs[3].prompt, "b");
	assert_int_equal(l.jobs[3].count, 2);
	assert_string_equal(l.jobs[4].prompt, "c");
	assert_int_equal(l.jobs[4].index, 4);
	batch_list_release(&l);
}

static void test_resolve_wildcards(void **state)
{
	struct batch_list l;
	struct wildcards *w;
	struct err err = ERR_INIT;
	char *want;

	(void)state;
	assert_int_equal(wildcards_new(&w, NULL, &err), 0);
	assert_int_equal(wildcards_define(w, "colors", "red\ngreen\nblue\n", 15, &err), 0);
	parse_ok(&l, "plain\n__colors__ {cat|dog}\n", "p.txt", BATCH_FMT_TEXT);
	batch_assign_seeds(&l, 1);
	assert_int_equal(batch_resolve_wildcards(&l, w, 0, 0, &err), 0);
	assert_int_equal(l.n, 2);
	assert_null(l.jobs[0].resolved);
	assert_string_equal(batch_job_prompt(&l.jobs[0]), "plain");
	assert_int_equal(wildcards_pick(&want, w, "__colors__ {cat|dog}", l.jobs[1].seed, &err), 0);
	assert_string_equal(l.jobs[1].resolved, want);
	assert_string_equal(l.jobs[1].prompt, "__colors__ {cat|dog}");
	free(want);
	batch_list_release(&l);

	/* combinatorial: one job per combination, the seed kept, indexes renumbered */
	parse_ok(&l, "__colors__ {cat|dog}\nlast\n", "p.txt", BATCH_FMT_TEXT);
	l.jobs[0].seed = 77;
	l.jobs[0].has_seed = 1;
	assert_int_equal(batch_resolve_wildcards(&l, w, 1, 0, &err), 0);
	assert_int_equal(l.n, 7);
	assert_string_equal(l.jobs[0].resolved, "red cat");
	assert_string_equal(l.jobs[1].resolved, "red dog");
	assert_string_equal(l.jobs[5].resolved, "blue dog");
	assert_int_equal(l.jobs[5].seed, 77);
	assert_int_equal(l.jobs[6].index, 6);
	assert_string_equal(batch_job_prompt(&l.jobs[6]), "last");
	batch_list_release(&l);

	/* errors name the job's position */
	parse_ok(&l, "ok\n  a {broken\n", "p.txt", BATCH_FMT_TEXT);
	batch_assign_seeds(&l, 1);
	assert_int_equal(batch_resolve_wildcards(&l, w, 0, 0, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "p.txt:2:3: '{' at column 3 is never closed");
	assert_int_equal(l.n, 2); /* the list is left as it was */
	batch_list_release(&l);

	parse_ok(&l, "{a|b|c} {d|e}\n", "p.txt", BATCH_FMT_TEXT);
	assert_int_equal(batch_resolve_wildcards(&l, w, 1, 5, &err), -1);
	assert_string_equal(err.msg, "p.txt:1:1: the prompt has more than 5 combinations");
	batch_list_release(&l);
	wildcards_free(w);
}

static void test_prepare_and_json(void **state)
{
	struct batch_list l;
	struct batch_job d, back;
	struct err err = ERR_INIT;
	json_t *o;
	size_t i;

	(void)state;
	parse_ok(&l, "{\"prompt\": \"{a|b} x\", \"count\": 2, \"set\": {\"q\": \"hi\"}}\n", "b",
		 BATCH_FMT_JSONL);
	memset(&d, 0, sizeof(d));
	d.backend = "mock";
	d.seed = 100;
	d.has_seed = 1;
	assert_int_equal(batch_prepare(&l, &d, 0, NULL, NULL, NULL, 0, &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.jobs[1].seed, 101);
	for (i = 0; i < l.n; i++) {
		o = batch_job_to_json(&l.jobs[i]);
		assert_non_null(o);
		assert_int_equal(batch_job_from_json(&back, o, &err), 0);
		json_decref(o);
		assert_int_equal(back.index, i);
		assert_string_equal(back.prompt, "{a|b} x");
		assert_string_equal(back.resolved, l.jobs[i].resolved);
		assert_string_equal(back.backend, "mock");
		assert_true(back.has_seed && back.seed == l.jobs[i].seed);
		assert_int_equal(back.count, 1);
		assert_int_equal(back.line, 1);
		assert_string_equal(json_string_value(json_object_get(back.set, "q")), "hi");
		assert_null(back.style);
		batch_job_release(&back);
	}
	batch_list_release(&l);

	o = json_pack("{ss si}", "prompt", "x", "width", 0);
	assert_int_equal(batch_job_from_json(&back, o, &err), -1);
	assert_string_equal(err.msg, "job field 'width' is not an integer from 1 to 16384");
	json_decref(o);
	o = json_pack("{si}", "seed", 1);
	assert_int_equal(batch_job_from_json(&back, o, &err), -1);
	assert_string_equal(err.msg, "job without 'prompt'");
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_lines),
		cmocka_unit_test(test_text_refusals),
		cmocka_unit_test(test_jsonl_every_key),
		cmocka_unit_test(test_jsonl_refusals),
		cmocka_unit_test(test_image_inputs),
		cmocka_unit_test(test_yaml_jobs_and_defaults),
		cmocka_unit_test(test_yaml_matrix),
		cmocka_unit_test(test_yaml_refusals),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_read_file_and_stdin),
		cmocka_unit_test(test_check_names),
		cmocka_unit_test(test_defaults_and_seeds),
		cmocka_unit_test(test_split_counts),
		cmocka_unit_test(test_resolve_wildcards),
		cmocka_unit_test(test_prepare_and_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
