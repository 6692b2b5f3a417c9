/* test_batch_journal.c - the batch journal: durable lines, torn tails, resume, listing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch/journal.h"
#include "batch/parse.h"

static char root[96];

static int setup(void **state)
{
	char base[] = "/tmp/imagen-journal-XXXXXX";

	(void)state;
	if (!mkdtemp(base))
		return -1;
	/* ROOT itself does not exist yet: create makes it */
	snprintf(root, sizeof(root), "%s/state/batches", base);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strlen(root) - strlen("/state/batches")),
		 root);
	return system(cmd);
}

static void jobs_of(struct batch_list *l, size_t n)
{
	struct err err = ERR_INIT;
	char text[4096] = "";
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "prompt %zu\n", i);
	assert_int_equal(batch_parse(l, text, strlen(text), "p.txt", BATCH_FMT_TEXT, &err), 0);
	batch_assign_seeds(l, 7);
}

static struct batch_journal *create(size_t njobs)
{
	struct batch_journal *j;
	struct batch_list l;
	struct err err = ERR_INIT;
	json_t *settings = json_pack("{si}", "concurrency", 3);

	jobs_of(&l, njobs);
	if (batch_journal_create(&j, root, "p.txt", settings, &l, &err) != 0)
		fail_msg("create: %s", err.msg);
	json_decref(settings);
	batch_list_release(&l);
	return j;
}

static void append(struct batch_journal *j, size_t index, enum batch_job_state st, double cost)
{
	struct err err = ERR_INIT;
	json_t *f = json_pack("{sf ss}", "cost", cost, "backend", "mock");

	if (batch_journal_append(j, index, st, f, &err) != 0)
		fail_msg("append: %s", err.msg);
	json_decref(f);
}

static void load(struct batch_state *st, const char *id)
{
	struct err err = ERR_INIT;

	if (batch_state_load(st, root, id, &err) != 0)
		fail_msg("load %s: %s", id, err.msg);
}

static char *journal_path(const struct batch_journal *j)
{
	char *p;

	assert_true(asprintf(&p, "%s/journal.jsonl", batch_journal_dir(j)) > 0);
	return p;
}

static void test_create_and_load(void **state)
{
	struct batch_journal *j = create(5);
	struct batch_state st;
	struct stat sb;
	size_t *rem, n;
	struct err err = ERR_INIT;

	(void)state;
	assert_true(batch_id_valid(batch_journal_id(j)));
	assert_int_equal(strlen(batch_journal_id(j)), strlen("20250601-120000-12345"));
	assert_int_equal(stat(batch_journal_dir(j), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);

	load(&st, batch_journal_id(j));
	assert_int_equal(st.jobs.n, 5);
	assert_int_equal(st.pending, 5);
	assert_string_equal(st.source, "p.txt");
	assert_int_equal(json_integer_value(json_object_get(st.settings, "concurrency")), 3);
	assert_string_equal(st.jobs.jobs[3].prompt, "prompt 3");
	assert_true(st.jobs.jobs[3].has_seed);
	assert_int_equal(st.jobs.jobs[3].line, 4);
	batch_state_release(&st);

	append(j, 1, BATCH_JOB_DONE, 0.04);
	append(j, 3, BATCH_JOB_FAILED, 0);
	append(j, 4, BATCH_JOB_FAILED, 0);
	append(j, 4, BATCH_JOB_DONE, 0.04); /* retried on resume: the last line wins */
	append(j, 0, BATCH_JOB_CANCELLED, 0);
	load(&st, batch_journal_id(j));
	assert_int_equal(st.done, 2);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.cancelled, 1);
	assert_int_equal(st.pending, 1);
	assert_true(st.spent > 0.0799 && st.spent < 0.0801);
	assert_int_equal(st.torn, 0);
	assert_int_equal(batch_state_remaining(&st, &rem, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(rem[0], 0);
	assert_int_equal(rem[1], 2);
	assert_int_equal(rem[2], 3);
	free(rem);
	batch_state_release(&st);
	batch_journal_close(j);
}

struct writer {
	struct batch_journal *j;
	size_t from;
};

static void *write_many(void *arg)
{
	struct writer *w = arg;
	size_t i;

	for (i = w->from; i < w->from + 50; i++)
		append(w->j, i, BATCH_JOB_DONE, 0.01);
	return NULL;
}

static void test_appends_from_threads(void **state)
{
	struct batch_journal *j = create(100);
	struct writer a = { j, 0 }, b = { j, 50 };
	struct batch_state st;
	pthread_t ta, tb;
	char *path = journal_path(j), line[512];
	FILE *f;
	int lines = 0;

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, write_many, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, write_many, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	load(&st, batch_journal_id(j));
	assert_int_equal(st.done, 100);
	assert_int_equal(st.pending, 0);
	batch_state_release(&st);
	/* every line whole: one JSON object each */
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);

		assert_true(json_is_object(o));
		assert_string_equal(json_string_value(json_object_get(o, "backend")), "mock");
		json_decref(o);
		lines++;
	}
	fclose(f);
	assert_int_equal(lines, 100);
	free(path);
	batch_journal_close(j);
}

static void test_torn_last_line(void **state)
{
	struct batch_journal *j = create(4), *again;
	struct batch_state st;
	struct err err = ERR_INIT;
	char *path = journal_path(j), id[BATCH_ID_MAX + 1], text[4096];
	const char torn[] = "{\"job\":2,\"status\":\"do";
	int fd;
	ssize_t n;

	(void)state;
	snprintf(id, sizeof(id), "%s", batch_journal_id(j));
	append(j, 0, BATCH_JOB_DONE, 0);
	append(j, 1, BATCH_JOB_DONE, 0);
	batch_journal_close(j);
	/* the process was killed in the middle of the third line */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, torn, sizeof(torn) - 1), (ssize_t)(sizeof(torn) - 1));
	close(fd);

	load(&st, id);
	assert_int_equal(st.torn, 1);
	assert_int_equal(st.done, 2);
	assert_int_equal(st.pending, 2);
	assert_int_equal(st.status[2], BATCH_JOB_PENDING);
	batch_state_release(&st);

	/* resume: the fragment is cut before anything is appended */
	assert_int_equal(batch_journal_reopen(&again, root, id, &err), 0);
	append(again, 2, BATCH_JOB_DONE, 0);
	batch_journal_close(again);
	fd = open(path, O_RDONLY);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	assert_true(n > 0);
	text[n] = '\0';
	assert_null(strstr(text, "\"do{"));
	assert_int_equal(text[n - 1], '\n');
	load(&st, id);
	assert_int_equal(st.torn, 0);
	assert_int_equal(st.done, 3);
	assert_int_equal(st.status[2], BATCH_JOB_DONE);
	batch_state_release(&st);

	/* a whole file that is one torn line is an empty journal */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, torn, 5), 5);
	close(fd);
	assert_int_equal(batch_journal_reopen(&again, root, id, &err), 0);
	batch_journal_close(again);
	load(&st, id);
	assert_int_equal(st.pending, 4);
	assert_int_equal(st.torn, 0);
	batch_state_release(&st);
	free(path);
}

static void test_damage_refused(void **state)
{
	struct batch_journal *j = create(2), *r;
	struct batch_state st;
	struct err err = ERR_INIT;
	char *path = journal_path(j), want[512];
	FILE *f;

	(void)state;
	append(j, 0, BATCH_JOB_DONE, 0);
	f = fopen(path, "a");
	fputs("garbage\n{\"job\":1,\"status\":\"done\"}\n", f);
	fclose(f);
	assert_int_equal(batch_state_load(&st, root, batch_journal_id(j), &err), -1);
	assert_int_equal(err.code, 2);
	snprintf(want, sizeof(want), "%s:2: not a journal line", path);
	assert_string_equal(err.msg, want);
	f = fopen(path, "w");
	fputs("{\"job\":7,\"status\":\"done\"}\n", f);
	fclose(f);
	assert_int_equal(batch_state_load(&st, root, batch_journal_id(j), &err), -1);
	snprintf(want, sizeof(want), "%s:1: not a journal line of this batch", path);
	assert_string_equal(err.msg, want);

	assert_int_equal(batch_state_load(&st, root, "../../etc", &err), -1);
	assert_string_equal(err.msg, "batch: invalid batch id '../../etc'");
	assert_int_equal(batch_journal_reopen(&r, root, "20000101-000000-00000", &err), -1);
	assert_int_equal(err.code, 2);
	snprintf(want, sizeof(want), "batch: no batch '20000101-000000-00000' in %s", root);
	assert_string_equal(err.msg, want);
	assert_false(batch_id_valid(".hidden"));
	assert_false(batch_id_valid("a/b"));
	assert_false(batch_id_valid(""));
	free(path);
	batch_journal_close(j);
}

static void test_list_and_latest(void **state)
{
	struct batch_info *v;
	struct batch_journal *a, *b;
	struct err err = ERR_INIT;
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	char *latest, *oldroot = strdup(root);
	size_t n;
	double usd;

	(void)state;
	/* a fresh root of its own */
	snprintf(root, sizeof(root), "%s-list", oldroot);
	assert_int_equal(batch_journal_list(&v, &n, root, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(batch_journal_latest(&latest, root, &err), -1);
	assert_int_equal(err.code, 2);

	a = create(3);
	nanosleep(&pause, NULL);
	b = create(2);
	append(a, 0, BATCH_JOB_DONE, 0.25);
	append(a, 1, BATCH_JOB_FAILED, 0);
	append(b, 1, BATCH_JOB_DONE, 0.5);
	assert_int_equal(batch_journal_list(&v, &n, root, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, batch_journal_id(a));
	assert_string_equal(v[1].id, batch_journal_id(b));
	assert_int_equal(v[0].total, 3);
	assert_int_equal(v[0].done, 1);
	assert_int_equal(v[0].failed, 1);
	assert_int_equal(v[0].pending, 1);
	assert_true(v[0].spent == 0.25);
	assert_string_equal(v[1].source, "p.txt");
	assert_int_equal(strlen(v[1].created), strlen("2025-06-01T12:00:00.123Z"));
	batch_infos_free(v, n);

	assert_int_equal(batch_journal_latest(&latest, root, &err), 0);
	assert_string_equal(latest, batch_journal_id(b));
	free(latest);

	assert_int_equal(batch_journal_spent_since(&usd, root, "2000-01-01T00:00:00.000Z", &err),
			 0);
	assert_true(usd == 0.75);
	assert_int_equal(batch_journal_spent_since(&usd, root, "2999-01-01T00:00:00.000Z", &err),
			 0);
	assert_true(usd == 0);
	batch_journal_close(a);
	batch_journal_close(b);
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		assert_int_equal(system(cmd), 0);
	}
	snprintf(root, sizeof(root), "%s", oldroot);
	free(oldroot);
}

static const char *env_state, *env_home;

static const char *fake_get(void *ctx, const char *name)
{
	(void)ctx;
	if (!strcmp(name, "XDG_STATE_HOME"))
		return env_state;
	if (!strcmp(name, "HOME"))
		return env_home;
	return NULL;
}

static const struct env fake_env = { fake_get, NULL };

static void test_state_root(void **state)
{
	struct err err = ERR_INIT;
	char *r;

	(void)state;
	env_state = "/s";
	env_home = "/home/u";
	assert_int_equal(batch_state_root(&r, &fake_env, &err), 0);
	assert_string_equal(r, "/s/imagen/batches");
	free(r);
	env_state = "";
	assert_int_equal(batch_state_root(&r, &fake_env, &err), 0);
	assert_string_equal(r, "/home/u/.local/state/imagen/batches");
	free(r);
	env_home = NULL;
	assert_int_equal(batch_state_root(&r, &fake_env, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "batch: neither XDG_STATE_HOME nor HOME is set");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_load), cmocka_unit_test(test_appends_from_threads),
		cmocka_unit_test(test_torn_last_line),  cmocka_unit_test(test_damage_refused),
		cmocka_unit_test(test_list_and_latest), cmocka_unit_test(test_state_root),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
