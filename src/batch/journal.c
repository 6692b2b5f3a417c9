/* journal.c - batch.json and journal.jsonl: written durably, read back for resume. */
#include "batch/journal.h"
#include "core/output.h"
#include "util/file.h"
#include "util/xdg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH_JSON_MAX (256u * 1024 * 1024)
#define JOURNAL_MAX (256u * 1024 * 1024)

struct batch_journal {
	pthread_mutex_t lock;
	int fd;
	char id[BATCH_ID_MAX + 1];
	char *dir;
	char *path; /* journal.jsonl */
};

const char *batch_job_state_name(enum batch_job_state st)
{
	switch (st) {
	case BATCH_JOB_DONE:
		return "done";
	case BATCH_JOB_FAILED:
		return "failed";
	case BATCH_JOB_CANCELLED:
		return "cancelled";
	default:
		return "pending";
	}
}

static int state_parse(const char *s)
{
	if (!strcmp(s, "done"))
		return BATCH_JOB_DONE;
	if (!strcmp(s, "failed"))
		return BATCH_JOB_FAILED;
	if (!strcmp(s, "cancelled"))
		return BATCH_JOB_CANCELLED;
	return -1;
}

int batch_state_root(char **out, const struct env *env, struct err *err)
{
	if (xdg_path(out, XDG_STATE, "imagen/batches", env, err) < 0) {
		err_prefix(err, "batch");
		return -1;
	}
	return 0;
}

int batch_id_valid(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > BATCH_ID_MAX || id[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* UTC now with milliseconds: "2025-06-01T12:00:00.123Z". */
static void now_iso(char out[48])
{
	struct timespec ts;
	struct tm tm;
	char head[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 48, "%s.%03ldZ", head, ts.tv_nsec / 1000000);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* text into dir/name through a temporary file, fsync'd and renamed. */
static int write_atomic(const char *dir, const char *name, const char *text, struct err *err)
{
	char *tmp = NULL, *path = NULL;
	int fd = -1, rc = -1;

	if (asprintf(&tmp, "%s/.%s.tmp", dir, name) < 0 ||
	    asprintf(&path, "%s/%s", dir, name) < 0) {
		err_set(err, "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		err_set(err, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		err_set(err, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	fsync_dir(dir);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(path);
	return rc;
}

static struct batch_journal *journal_new(const char *root, const char *id, struct err *err)
{
	struct batch_journal *j = calloc(1, sizeof(*j));

	if (!j)
		return err_set(err, "out of memory"), NULL;
	j->fd = -1;
	snprintf(j->id, sizeof(j->id), "%s", id);
	if (asprintf(&j->dir, "%s/%s", root, id) < 0) {
		j->dir = NULL;
		goto oom;
	}
	if (asprintf(&j->path, "%s/journal.jsonl", j->dir) < 0) {
		j->path = NULL;
		goto oom;
	}
	pthread_mutex_init(&j->lock, NULL);
	return j;
oom:
	free(j->dir);
	free(j);
	return err_set(err, "out of memory"), NULL;
}

void batch_journal_close(struct batch_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	pthread_mutex_destroy(&j->lock);
	free(j->dir);
	free(j->path);
	free(j);
}

const char *batch_journal_id(const struct batch_journal *j)
{
	return j->id;
}

const char *batch_journal_dir(const struct batch_journal *j)
{
	return j->dir;
}

/* Make ROOT/ID with a fresh id. */
static int make_batch_dir(char id[BATCH_ID_MAX + 1], const char *root, struct err *err)
{
	char head[24], *dir;
	struct timespec ts;
	struct tm tm;
	int tries;

	if (output_mkdirs(root, err) < 0)
		return -1;
	for (tries = 0; tries < 32; tries++) {
		unsigned char r = 0;
		int rc;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(head, sizeof(head), "%Y%m%d-%H%M%S", &tm);
		if (getrandom(&r, 1, 0) != 1)
			r = (unsigned char)(ts.tv_nsec ^ tries);
		snprintf(id, BATCH_ID_MAX + 1, "%s-%03ld%02x", head, ts.tv_nsec / 1000000, r);
		if (asprintf(&dir, "%s/%s", root, id) < 0)
			return err_set(err, "out of memory");
		rc = mkdir(dir, 0700);
		free(dir);
		if (rc == 0)
			return 0;
		if (errno != EEXIST)
			return err_set(err, "cannot create %s/%s: %s", root, id, strerror(errno));
	}
	return err_set(err, "cannot find a free batch id in %s", root);
}

int batch_journal_create(struct batch_journal **out, const char *root, const char *source,
			 const json_t *settings, const struct batch_list *jobs, struct err *err)
{
	char id[BATCH_ID_MAX + 1], created[48];
	struct batch_journal *j = NULL;
	json_t *doc = NULL, *arr;
	char *text = NULL;
	size_t i;
	int rc = -1;

	*out = NULL;
	if (make_batch_dir(id, root, err) < 0)
		return -1;
	if (!(j = journal_new(root, id, err)))
		return -1;
	now_iso(created);
	doc = json_pack("{si ss ss ss* so so}", "version", 1, "id", id, "created", created,
			"source", source, "settings",
			settings ? json_deep_copy(settings) : json_object(), "jobs", json_array());
	arr = doc ? json_object_get(doc, "jobs") : NULL;
	for (i = 0; arr && i < jobs->n; i++)
		if (json_array_append_new(arr, batch_job_to_json(&jobs->jobs[i])) < 0)
			arr = NULL;
	if (!arr || !(text = json_dumps(doc, JSON_COMPACT))) {
		err_set(err, "out of memory");
		goto out;
	}
	if (write_atomic(j->dir, "batch.json", text, err) < 0)
		goto out;
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		err_set(err, "cannot create %s: %s", j->path, strerror(errno));
		goto out;
	}
	fsync_dir(j->dir);
	*out = j;
	j = NULL;
	rc = 0;
out:
	free(text);
	json_decref(doc);
	batch_journal_close(j);
	return rc;
}

/* Cut a final line without its newline (a write the last run did not finish). */
static int cut_torn_tail(int fd, const char *path, struct err *err)
{
	char chunk[4096];
	off_t end = lseek(fd, 0, SEEK_END), pos = end, keep = 0;

	if (end < 0)
		return err_set(err, "%s: %s", path, strerror(errno));
	while (pos > 0) {
		size_t n = pos > (off_t)sizeof(chunk) ? sizeof(chunk) : (size_t)pos;
		ssize_t r;

		pos -= (off_t)n;
		r = pread(fd, chunk, n, pos);
		if (r != (ssize_t)n)
			return err_set(err, "%s: cannot read", path);
		while (n > 0 && chunk[n - 1] != '\n')
			n--;
		if (n > 0) {
			keep = pos + (off_t)n;
			break;
		}
	}
	if (keep < end && (ftruncate(fd, keep) < 0 || fsync(fd) < 0))
		return err_set(err, "%s: cannot cut the unfinished last line: %s", path,
			       strerror(errno));
	return 0;
}

int batch_journal_reopen(struct batch_journal **out, const char *root, const char *id,
			 struct err *err)
{
	struct batch_journal *j;
	struct stat st;
	char *meta;

	*out = NULL;
	if (!batch_id_valid(id))
		return err_code(err, 2, "batch: invalid batch id '%s'", id);
	if (!(j = journal_new(root, id, err)))
		return -1;
	if (asprintf(&meta, "%s/batch.json", j->dir) < 0) {
		batch_journal_close(j);
		return err_set(err, "out of memory");
	}
	if (stat(meta, &st) < 0) {
		err_code(err, 2, "batch: no batch '%s' in %s", id, root);
		free(meta);
		batch_journal_close(j);
		return -1;
	}
	free(meta);
	j->fd = open(j->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		err_set(err, "cannot open %s: %s", j->path, strerror(errno));
		batch_journal_close(j);
		return -1;
	}
	if (cut_torn_tail(j->fd, j->path, err) < 0) {
		batch_journal_close(j);
		return -1;
	}
	*out = j;
	return 0;
}

int batch_journal_append(struct batch_journal *j, size_t index, enum batch_job_state st,
			 const json_t *fields, struct err *err)
{
	char when[48], *text = NULL;
	json_t *line = json_object();
	size_t len;
	int rc = -1;

	now_iso(when);
	if (!line || (fields && json_object_update(line, (json_t *)fields) < 0) ||
	    json_object_set_new(line, "job", json_integer((json_int_t)index)) < 0 ||
	    json_object_set_new(line, "status", json_string(batch_job_state_name(st))) < 0 ||
	    json_object_set_new(line, "time", json_string(when)) < 0 ||
	    !(text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII))) {
		err_set(err, "out of memory");
		goto out;
	}
	len = strlen(text);
	text[len] = '\n'; /* json_dumps's NUL becomes the line's end: one write() */
	pthread_mutex_lock(&j->lock);
	if (write_all(j->fd, text, len + 1) < 0 || fsync(j->fd) < 0)
		err_set(err, "cannot write %s: %s", j->path, strerror(errno));
	else
		rc = 0;
	pthread_mutex_unlock(&j->lock);
out:
	free(text);
	json_decref(line);
	return rc;
}

/* ---- reading back ------------------------------------------------------------------------- */

void batch_state_release(struct batch_state *st)
{
	free(st->id);
	free(st->dir);
	free(st->source);
	free(st->created);
	json_decref(st->settings);
	batch_list_release(&st->jobs);
	free(st->status);
	memset(st, 0, sizeof(*st));
}

static int load_meta(struct batch_state *st, const char *path, struct err *err)
{
	unsigned char *text;
	size_t len, i;
	json_error_t jerr;
	json_t *doc, *jobs, *v;
	const char *s;
	int rc = -1;

	if (file_read(&text, &len, path, BATCH_JSON_MAX, err) < 0)
		return -1;
	doc = json_loadb((const char *)text, len, 0, &jerr);
	free(text);
	if (!doc)
		return err_code(err, 2, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
	jobs = json_object_get(doc, "jobs");
	if (json_integer_value(json_object_get(doc, "version")) != 1 || !json_is_array(jobs)) {
		err_code(err, 2, "%s: not a batch (version 1 with jobs) file", path);
		goto out;
	}
	if ((s = json_string_value(json_object_get(doc, "source"))) && !(st->source = strdup(s)))
		goto oom;
	if ((s = json_string_value(json_object_get(doc, "created"))) && !(st->created = strdup(s)))
		goto oom;
	v = json_object_get(doc, "settings");
	st->settings = json_is_object(v) ? json_incref(v) : json_object();
	if (!st->settings || !(st->jobs.file = strdup(st->source ? st->source : "batch")))
		goto oom;
	json_array_foreach (jobs, i, v) {
		struct batch_job job;

		if (batch_job_from_json(&job, v, err) < 0) {
			err_prefix(err, "%s: job %zu", path, i);
			if (err)
				err->code = 2;
			goto out;
		}
		if (job.index != i) {
			batch_job_release(&job);
			err_code(err, 2, "%s: job %zu carries index %zu", path, i, job.index);
			goto out;
		}
		if (batch_list_push(&st->jobs, &job, err) < 0) {
			batch_job_release(&job);
			goto out;
		}
	}
	rc = 0;
	goto out;
oom:
	err_set(err, "out of memory");
out:
	json_decref(doc);
	return rc;
}

/* Call fn on each finished line of a journal; a final unfinished one sets *torn. */
typedef int (*line_fn)(void *ctx, const json_t *line, const char *path, int lineno,
		       struct err *err);

static int each_line(const char *path, int *torn, line_fn fn, void *ctx, struct err *err)
{
	unsigned char *text;
	size_t len, pos = 0;
	int lineno = 0, rc = 0;

	*torn = 0;
	if (file_read(&text, &len, path, JOURNAL_MAX, err) < 0) {
		if (access(path, F_OK) < 0 && errno == ENOENT) {
			err_clear(err);
			return 0; /* no job ended yet */
		}
		return -1;
	}
	while (pos < len && rc == 0) {
		const char *start = (const char *)text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		json_error_t jerr;
		json_t *line;

		lineno++;
		if (!nl) {
			*torn = 1;
			break;
		}
		pos += (size_t)(nl - start) + 1;
		line = json_loadb(start, (size_t)(nl - start), 0, &jerr);
		if (!json_is_object(line)) {
			json_decref(line);
			rc = err_code(err, 2, "%s:%d: not a journal line", path, lineno);
			break;
		}
		rc = fn(ctx, line, path, lineno, err);
		json_decref(line);
	}
	free(text);
	return rc;
}

static int state_line(void *ctx, const json_t *line, const char *path, int lineno, struct err *err)
{
	struct batch_state *st = ctx;
	const json_t *job = json_object_get(line, "job");
	const char *status = json_string_value(json_object_get(line, "status"));
	int s = status ? state_parse(status) : -1;
	double cost = json_number_value(json_object_get(line, "cost"));

	if (!json_is_integer(job) || json_integer_value(job) < 0 ||
	    (size_t)json_integer_value(job) >= st->jobs.n || s < 0)
		return err_code(err, 2, "%s:%d: not a journal line of this batch", path, lineno);
	st->status[json_integer_value(job)] = (unsigned char)s;
	if (cost > 0)
		st->spent += cost;
	return 0;
}

int batch_state_load(struct batch_state *out, const char *root, const char *id, struct err *err)
{
	char *meta = NULL, *journal = NULL;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!batch_id_valid(id))
		return err_code(err, 2, "batch: invalid batch id '%s'", id);
	if (!(out->id = strdup(id)) || asprintf(&out->dir, "%s/%s", root, id) < 0 ||
	    asprintf(&meta, "%s/batch.json", out->dir) < 0 ||
	    asprintf(&journal, "%s/journal.jsonl", out->dir) < 0) {
		err_set(err, "out of memory");
		goto out;
	}
	if (access(meta, F_OK) < 0) {
		err_code(err, 2, "batch: no batch '%s' in %s", id, root);
		goto out;
	}
	if (load_meta(out, meta, err) < 0)
		goto out;
	if (out->jobs.n && !(out->status = calloc(out->jobs.n, 1))) {
		err_set(err, "out of memory");
		goto out;
	}
	if (each_line(journal, &out->torn, state_line, out, err) < 0)
		goto out;
	for (i = 0; i < out->jobs.n; i++) {
		switch (out->status[i]) {
		case BATCH_JOB_DONE:
			out->done++;
			break;
		case BATCH_JOB_FAILED:
			out->failed++;
			break;
		case BATCH_JOB_CANCELLED:
			out->cancelled++;
			break;
		default:
			out->pending++;
		}
	}
	rc = 0;
out:
	free(meta);
	free(journal);
	if (rc < 0)
		batch_state_release(out);
	return rc;
}

int batch_state_remaining(const struct batch_state *st, size_t **out, size_t *n, struct err *err)
{
	size_t i, k = 0;

	*out = NULL;
	*n = 0;
	if (st->jobs.n == st->done)
		return 0;
	*out = malloc((st->jobs.n - st->done) * sizeof(**out));
	if (!*out)
		return err_set(err, "out of memory");
	for (i = 0; i < st->jobs.n; i++)
		if (st->status[i] != BATCH_JOB_DONE)
			(*out)[k++] = i;
	*n = k;
	return 0;
}

/* ---- listing ------------------------------------------------------------------------------ */

void batch_infos_free(struct batch_info *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].source);
		free(v[i].created);
	}
	free(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The batch ids under root (folders holding a batch.json), sorted. */
static int batch_ids(char ***out, size_t *n, const char *root, struct err *err)
{
	DIR *d = opendir(root);
	struct dirent *e;
	char **v = NULL, *meta;

	*out = NULL;
	*n = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, "cannot read %s: %s", root, strerror(errno));
	}
	while ((e = readdir(d)) != NULL) {
		char **nv;
		int ok;

		if (!batch_id_valid(e->d_name))
			continue;
		if (asprintf(&meta, "%s/%s/batch.json", root, e->d_name) < 0)
			goto oom;
		ok = access(meta, F_OK) == 0;
		free(meta);
		if (!ok)
			continue;
		nv = realloc(v, (*n + 1) * sizeof(*v));
		if (!nv)
			goto oom;
		v = nv;
		if (!(v[*n] = strdup(e->d_name)))
			goto oom;
		++*n;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_str);
	*out = v;
	return 0;
oom:
	closedir(d);
	while (*n)
		free(v[--*n]);
	free(v);
	return err_set(err, "out of memory");
}

static void ids_free(char **v, size_t n)
{
	while (n)
		free(v[--n]);
	free(v);
}

int batch_journal_list(struct batch_info **out, size_t *n, const char *root, struct err *err)
{
	char **ids;
	size_t nids, i;
	struct batch_info *v;

	*out = NULL;
	*n = 0;
	if (batch_ids(&ids, &nids, root, err) < 0)
		return -1;
	if (!nids)
		return 0;
	v = calloc(nids, sizeof(*v));
	if (!v) {
		ids_free(ids, nids);
		return err_set(err, "out of memory");
	}
	for (i = 0; i < nids; i++) {
		struct batch_state st;

		if (batch_state_load(&st, root, ids[i], err) < 0) {
			batch_infos_free(v, i);
			ids_free(ids, nids);
			return -1;
		}
		snprintf(v[i].id, sizeof(v[i].id), "%s", ids[i]);
		v[i].source = st.source;
		v[i].created = st.created;
		st.source = st.created = NULL;
		v[i].total = st.jobs.n;
		v[i].done = st.done;
		v[i].failed = st.failed;
		v[i].cancelled = st.cancelled;
		v[i].pending = st.pending;
		v[i].spent = st.spent;
		batch_state_release(&st);
	}
	ids_free(ids, nids);
	*out = v;
	*n = nids;
	return 0;
}

int batch_journal_latest(char **id_out, const char *root, struct err *err)
{
	char **ids;
	size_t n;

	*id_out = NULL;
	if (batch_ids(&ids, &n, root, err) < 0)
		return -1;
	if (!n)
		return err_code(err, 2, "batch: no batch to resume in %s", root);
	*id_out = ids[n - 1];
	ids[n - 1] = NULL;
	ids_free(ids, n);
	return 0;
}

struct spent_ctx {
	const char *since;
	double usd;
};

static int spent_line(void *ctx, const json_t *line, const char *path, int lineno, struct err *err)
{
	struct spent_ctx *c = ctx;
	const char *when = json_string_value(json_object_get(line, "time"));
	double cost = json_number_value(json_object_get(line, "cost"));

	(void)path;
	(void)lineno;
	(void)err;
	if (when && strcmp(when, c->since) >= 0 && cost > 0)
		c->usd += cost;
	return 0;
}

int batch_journal_spent_since(double *usd, const char *root, const char *since, struct err *err)
{
	struct spent_ctx c = { since, 0 };
	char **ids, *path;
	size_t n, i;
	int torn, rc = 0;

	*usd = 0;
	if (batch_ids(&ids, &n, root, err) < 0)
		return -1;
	for (i = 0; i < n && rc == 0; i++) {
		if (asprintf(&path, "%s/%s/journal.jsonl", root, ids[i]) < 0) {
			rc = err_set(err, "out of memory");
			break;
		}
		rc = each_line(path, &torn, spent_line, &c, err);
		free(path);
	}
	ids_free(ids, n);
	if (rc == 0)
		*usd = c.usd;
	return rc;
}
