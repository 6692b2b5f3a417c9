/* job.c - batch jobs: ownership, defaults, seeds, count splitting, wildcards, JSON. */
#include "batch/job.h"
#include "batch/wildcard.h"

#include <stdlib.h>
#include <string.h>

uint64_t batch_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

const char *batch_job_prompt(const struct batch_job *job)
{
	return job->resolved ? job->resolved : job->prompt;
}

void batch_job_release(struct batch_job *job)
{
	free(job->name);
	free(job->prompt);
	free(job->resolved);
	free(job->negative);
	free(job->style);
	free(job->backend);
	json_decref(job->set);
	json_decref(job->inputs);
	memset(job, 0, sizeof(*job));
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

int batch_job_copy(struct batch_job *dst, const struct batch_job *src)
{
	*dst = *src;
	dst->name = dst->prompt = dst->resolved = dst->negative = dst->style = dst->backend = NULL;
	dst->set = dst->inputs = NULL;
	if (dup_str(&dst->name, src->name) < 0 || dup_str(&dst->prompt, src->prompt) < 0 ||
	    dup_str(&dst->resolved, src->resolved) < 0 ||
	    dup_str(&dst->negative, src->negative) < 0 || dup_str(&dst->style, src->style) < 0 ||
	    dup_str(&dst->backend, src->backend) < 0 ||
	    (src->set && !(dst->set = json_deep_copy(src->set))) ||
	    (src->inputs && !(dst->inputs = json_deep_copy(src->inputs)))) {
		batch_job_release(dst);
		return -1;
	}
	return 0;
}

int batch_list_push(struct batch_list *list, struct batch_job *job, struct err *err)
{
	if (list->n >= BATCH_MAX_JOBS)
		return err_code(err, 2, "%s: more than %d jobs", list->file ? list->file : "batch",
				BATCH_MAX_JOBS);
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		struct batch_job *jobs = realloc(list->jobs, cap * sizeof(*jobs));

		if (!jobs)
			return err_set(err, "out of memory");
		list->jobs = jobs;
		list->cap = cap;
	}
	job->index = list->n;
	list->jobs[list->n++] = *job;
	memset(job, 0, sizeof(*job));
	return 0;
}

void batch_list_release(struct batch_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		batch_job_release(&list->jobs[i]);
	free(list->jobs);
	free(list->file);
	memset(list, 0, sizeof(*list));
}

void batch_list_renumber(struct batch_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		list->jobs[i].index = i;
}

/* ---- completion steps --------------------------------------------------------------------- */

static int fill_str(char **field, const char *dflt)
{
	return *field ? 0 : dup_str(field, dflt);
}

/* The keys of d that *j lacks, added to *j (made when NULL and d has any). */
static int merge_missing(json_t **j, const json_t *d)
{
	if (!d || !json_object_size(d))
		return 0;
	if (!*j && !(*j = json_object()))
		return -1;
	return json_object_update_missing(*j, (json_t *)d);
}

int batch_job_fill(struct batch_job *j, const struct batch_job *d)
{
	if (fill_str(&j->name, d->name) < 0 || fill_str(&j->negative, d->negative) < 0 ||
	    fill_str(&j->style, d->style) < 0 || fill_str(&j->backend, d->backend) < 0)
		return -1;
	if (!j->has_seed && d->has_seed) {
		j->seed = d->seed;
		j->has_seed = 1;
	}
	if (!j->width)
		j->width = d->width;
	if (!j->height)
		j->height = d->height;
	if (!j->steps)
		j->steps = d->steps;
	if (!j->count)
		j->count = d->count;
	return merge_missing(&j->set, d->set) < 0 || merge_missing(&j->inputs, d->inputs) < 0 ? -1
											      : 0;
}

int batch_apply_defaults(struct batch_list *list, const struct batch_job *d, struct err *err)
{
	size_t i;

	for (i = 0; d && i < list->n; i++)
		if (batch_job_fill(&list->jobs[i], d) < 0)
			return err_set(err, "out of memory");
	return 0;
}

void batch_assign_seeds(struct batch_list *list, uint64_t base)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		struct batch_job *j = &list->jobs[i];

		if (!j->has_seed) {
			j->seed = (int64_t)(batch_mix64(base + j->index) >> 32);
			j->has_seed = 1;
		}
	}
}

/* Replace list's jobs by out's (list->file kept). */
static void list_swap_jobs(struct batch_list *list, struct batch_list *out)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		batch_job_release(&list->jobs[i]);
	free(list->jobs);
	list->jobs = out->jobs;
	list->n = out->n;
	list->cap = out->cap;
	out->jobs = NULL;
	out->n = out->cap = 0;
	batch_list_renumber(list);
}

int batch_split_counts(struct batch_list *list, batch_max_batch_fn max_batch, void *ctx,
		       struct err *err)
{
	struct batch_list out = BATCH_LIST_INIT;
	size_t i;
	int k;

	out.file = list->file;
	for (i = 0; i < list->n; i++) {
		struct batch_job *j = &list->jobs[i];
		int split = j->count > 1 && j->has_seed &&
			    (!max_batch || max_batch(ctx, j->backend) <= 1);

		for (k = 0; k < (split ? j->count : 1); k++) {
			struct batch_job c;

			if (batch_job_copy(&c, j) < 0) {
				err_set(err, "out of memory");
				goto fail;
			}
			if (split) {
				c.count = 1;
				/* seed, seed+1, …: wraps within 0..INT64_MAX like generate */
				c.seed = (int64_t)(((uint64_t)j->seed + (uint64_t)k) &
						   (uint64_t)INT64_MAX);
			}
			if (batch_list_push(&out, &c, err) < 0) {
				batch_job_release(&c);
				goto fail;
			}
		}
	}
	list_swap_jobs(list, &out);
	return 0;
fail:
	out.file = NULL;
	batch_list_release(&out);
	return -1;
}

static void prefix_job(struct err *err, const struct batch_list *list, const struct batch_job *j)
{
	err_prefix(err, "%s:%d:%d", list->file ? list->file : "batch", j->line, j->col);
	if (err)
		err->code = 2;
}

int batch_resolve_wildcards(struct batch_list *list, struct wildcards *w, int combinatorial,
			    size_t max_jobs, struct err *err)
{
	struct batch_list out = BATCH_LIST_INIT;
	struct wildcards *own = NULL;
	size_t i, k, n;
	char **v;

	if (!max_jobs || max_jobs > BATCH_MAX_JOBS)
		max_jobs = BATCH_MAX_JOBS;
	if (!w) {
		if (wildcards_new(&own, NULL, err) < 0)
			return -1;
		w = own;
	}
	out.file = list->file;
	for (i = 0; i < list->n; i++) {
		struct batch_job *j = &list->jobs[i];

		free(j->resolved);
		j->resolved = NULL;
		if (!wildcards_present(j->prompt)) {
			struct batch_job c;

			if (batch_job_copy(&c, j) < 0) {
				err_set(err, "out of memory");
				goto fail;
			}
			if (batch_list_push(&out, &c, err) < 0) {
				batch_job_release(&c);
				goto fail;
			}
			continue;
		}
		if (!combinatorial) {
			struct batch_job c;

			if (!j->has_seed) {
				err_code(err, 2,
					 "%s:%d:%d: the job has no seed to pick wildcards with",
					 list->file ? list->file : "batch", j->line, j->col);
				goto fail;
			}
			if (batch_job_copy(&c, j) < 0) {
				err_set(err, "out of memory");
				goto fail;
			}
			if (wildcards_pick(&c.resolved, w, c.prompt, c.seed, err) < 0) {
				batch_job_release(&c);
				prefix_job(err, list, j);
				goto fail;
			}
			if (batch_list_push(&out, &c, err) < 0) {
				batch_job_release(&c);
				goto fail;
			}
			continue;
		}
		if (out.n >= max_jobs) {
			err_code(err, 2, "%s: more than %zu jobs",
				 list->file ? list->file : "batch", max_jobs);
			goto fail;
		}
		if (wildcards_expand(&v, &n, w, j->prompt, max_jobs - out.n, err) < 0) {
			prefix_job(err, list, j);
			goto fail;
		}
		for (k = 0; k < n; k++) {
			struct batch_job c;

			if (batch_job_copy(&c, j) < 0) {
				err_set(err, "out of memory");
				break;
			}
			c.resolved = v[k];
			v[k] = NULL;
			if (batch_list_push(&out, &c, err) < 0) {
				batch_job_release(&c);
				break;
			}
		}
		wildcards_strings_free(v, n);
		if (k < n)
			goto fail;
	}
	wildcards_free(own);
	list_swap_jobs(list, &out);
	return 0;
fail:
	wildcards_free(own);
	out.file = NULL;
	batch_list_release(&out);
	return -1;
}

int batch_prepare(struct batch_list *list, const struct batch_job *defaults, uint64_t seed_base,
		  batch_max_batch_fn max_batch, void *ctx, struct wildcards *w, int combinatorial,
		  struct err *err)
{
	if (batch_apply_defaults(list, defaults, err) < 0)
		return -1;
	batch_assign_seeds(list, seed_base);
	if (batch_split_counts(list, max_batch, ctx, err) < 0)
		return -1;
	return batch_resolve_wildcards(list, w, combinatorial, 0, err);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static int set_str(json_t *o, const char *key, const char *v)
{
	return v ? json_object_set_new(o, key, json_string(v)) : 0;
}

static int set_int(json_t *o, const char *key, json_int_t v)
{
	return v ? json_object_set_new(o, key, json_integer(v)) : 0;
}

json_t *batch_job_to_json(const struct batch_job *j)
{
	json_t *o = json_object();

	if (!o || json_object_set_new(o, "index", json_integer((json_int_t)j->index)) < 0 ||
	    json_object_set_new(o, "line", json_integer(j->line)) < 0 ||
	    json_object_set_new(o, "col", json_integer(j->col)) < 0 ||
	    set_str(o, "prompt", j->prompt) < 0 || set_str(o, "resolved", j->resolved) < 0 ||
	    set_str(o, "name", j->name) < 0 || set_str(o, "negative", j->negative) < 0 ||
	    set_str(o, "style", j->style) < 0 || set_str(o, "backend", j->backend) < 0 ||
	    (j->has_seed && json_object_set_new(o, "seed", json_integer(j->seed)) < 0) ||
	    set_int(o, "width", j->width) < 0 || set_int(o, "height", j->height) < 0 ||
	    set_int(o, "steps", j->steps) < 0 || set_int(o, "count", j->count) < 0 ||
	    (j->set && json_object_set(o, "set", j->set) < 0) ||
	    (j->inputs && json_object_set(o, "inputs", j->inputs) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int get_str(char **out, const json_t *obj, const char *key, int required, struct err *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v) {
		if (required)
			return err_set(err, "job without '%s'", key);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(err, "job field '%s' is not a string", key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : err_set(err, "out of memory");
}

static int get_int(long long *out, const json_t *obj, const char *key, long long min, long long max,
		   struct err *err)
{
	const json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return err_set(err, "job field '%s' is not an integer from %lld to %lld", key, min,
			       max);
	*out = json_integer_value(v);
	return 0;
}

int batch_job_from_json(struct batch_job *out, const json_t *obj, struct err *err)
{
	long long index = 0, line = 0, col = 0, seed = -1, w = 0, h = 0, steps = 0, count = 0;
	const json_t *set;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return err_set(err, "job is not an object");
	if (get_int(&index, obj, "index", 0, BATCH_MAX_JOBS, err) < 0 ||
	    get_int(&line, obj, "line", 0, 1LL << 30, err) < 0 ||
	    get_int(&col, obj, "col", 0, 1LL << 30, err) < 0 ||
	    get_int(&seed, obj, "seed", 0, BATCH_SEED_MAX, err) < 0 ||
	    get_int(&w, obj, "width", 1, BATCH_DIM_MAX, err) < 0 ||
	    get_int(&h, obj, "height", 1, BATCH_DIM_MAX, err) < 0 ||
	    get_int(&steps, obj, "steps", 1, BATCH_STEPS_MAX, err) < 0 ||
	    get_int(&count, obj, "count", 1, BATCH_COUNT_MAX, err) < 0)
		return -1;
	out->index = (size_t)index;
	out->line = (int)line;
	out->col = (int)col;
	out->has_seed = seed >= 0;
	out->seed = seed >= 0 ? seed : 0;
	out->width = (int)w;
	out->height = (int)h;
	out->steps = (int)steps;
	out->count = (int)count;
	set = json_object_get(obj, "set");
	if (set && !json_is_object(set))
		return err_set(err, "job field 'set' is not an object");
	if (get_str(&out->prompt, obj, "prompt", 1, err) < 0 ||
	    get_str(&out->resolved, obj, "resolved", 0, err) < 0 ||
	    get_str(&out->name, obj, "name", 0, err) < 0 ||
	    get_str(&out->negative, obj, "negative", 0, err) < 0 ||
	    get_str(&out->style, obj, "style", 0, err) < 0 ||
	    get_str(&out->backend, obj, "backend", 0, err) < 0)
		goto fail;
	if (set && !(out->set = json_deep_copy(set))) {
		err_set(err, "out of memory");
		goto fail;
	}
	set = json_object_get(obj, "inputs");
	if (set && !json_is_object(set)) {
		err_set(err, "job field 'inputs' is not an object");
		goto fail;
	}
	if (set && !(out->inputs = json_deep_copy(set))) {
		err_set(err, "out of memory");
		goto fail;
	}
	return 0;
fail:
	batch_job_release(out);
	return -1;
}
