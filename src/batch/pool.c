/* pool.c - instances with in-flight limits, pools over them, member choice and health. */
#include "batch/pool.h"
#include "core/backend.h"
#include "util/suggest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct inst {
	char *name;
	int limit, cur;
	int in_flight, max_in_flight;
	int fails;            /* retryable failures in a row */
	double failing_since; /* when the current run of failures began */
	double rest_until;
	unsigned long done, retried, rate_limited;
	char last_err[256];
};

struct member {
	char *name; /* until batch_targets_finish */
	int inst;
	int weight;
	long current; /* smooth weighted round robin */
};

struct target {
	char *name;
	int inst; /* an instance's own index; -1 for a pool */
	enum pool_strategy strategy;
	struct member *members;
	size_t nmembers;
};

struct batch_targets {
	double backoff_base, backoff_max;
	struct inst *insts;
	size_t ninsts;
	struct target *targets;
	size_t ntargets;
};

int batch_default_concurrency(const char *type)
{
	static const struct {
		const char *type;
		int n;
	} table[] = {
		{ "comfyui", 2 }, { "a1111", 2 }, { "openai", 4 }, { "replicate", 4 }, { "mock", 1 }
	};
	size_t i;

	for (i = 0; type && i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(type, table[i].type))
			return table[i].n;
	return 2;
}

int batch_targets_new(struct batch_targets **out, struct err *err)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return err_set(err, "out of memory");
	batch_targets_backoff(*out, 0, 0);
	return 0;
}

void batch_targets_backoff(struct batch_targets *t, double base, double max)
{
	t->backoff_base = base > 0 ? base : 1;
	t->backoff_max = max > 0 ? max : 60;
	if (t->backoff_max < t->backoff_base)
		t->backoff_max = t->backoff_base;
}

void batch_targets_free(struct batch_targets *t)
{
	size_t i, j;

	if (!t)
		return;
	for (i = 0; i < t->ninsts; i++)
		free(t->insts[i].name);
	for (i = 0; i < t->ntargets; i++) {
		for (j = 0; j < t->targets[i].nmembers; j++)
			free(t->targets[i].members[j].name);
		free(t->targets[i].members);
		free(t->targets[i].name);
	}
	free(t->insts);
	free(t->targets);
	free(t);
}

int batch_targets_find(const struct batch_targets *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ntargets; i++)
		if (!strcmp(t->targets[i].name, name))
			return (int)i;
	return -1;
}

size_t batch_targets_count(const struct batch_targets *t)
{
	return t->ntargets;
}

const char *batch_targets_name(const struct batch_targets *t, int target)
{
	return t->targets[target].name;
}

const char *batch_targets_inst_name(const struct batch_targets *t, int inst)
{
	return t->insts[inst].name;
}

size_t batch_targets_members(const struct batch_targets *t, int target, int *out, size_t max)
{
	const struct target *tg = &t->targets[target];
	size_t i, n = 0;

	if (tg->inst >= 0) {
		if (max)
			out[0] = tg->inst;
		return 1;
	}
	for (i = 0; i < tg->nmembers; i++)
		if (n < max)
			out[n++] = tg->members[i].inst;
	return tg->nmembers;
}

static struct target *target_add(struct batch_targets *t, const char *name, struct err *err)
{
	struct target *v;

	if (batch_targets_find(t, name) >= 0)
		return err_code(err, 2, "backends.%s: defined twice", name), NULL;
	v = realloc(t->targets, (t->ntargets + 1) * sizeof(*v));
	if (!v)
		return err_set(err, "out of memory"), NULL;
	t->targets = v;
	memset(&v[t->ntargets], 0, sizeof(v[0]));
	v[t->ntargets].inst = -1;
	if (!(v[t->ntargets].name = strdup(name)))
		return err_set(err, "out of memory"), NULL;
	return &v[t->ntargets++];
}

/* Undo target_add after a refusal: the set stays as it was. */
static void target_drop_last(struct batch_targets *t)
{
	struct target *tg = &t->targets[--t->ntargets];
	size_t i;

	for (i = 0; i < tg->nmembers; i++)
		free(tg->members[i].name);
	free(tg->members);
	free(tg->name);
}

static int parse_strategy(const json_t *v, const char *name, enum pool_strategy *out,
			  struct err *err)
{
	static const char *const names[] = { "least-busy", "round-robin", "ordered", NULL };
	const char *s, *hint;
	int i;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_key(err, "strategy", "backends.%s.strategy: expected a string", name);
	s = json_string_value(v);
	for (i = 0; names[i]; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum pool_strategy)i;
			return 0;
		}
	hint = suggest_closest(s, names);
	if (hint)
		return err_key(err, "strategy",
			       "backends.%s.strategy: unknown strategy '%s' (did you mean '%s'?)",
			       name, s, hint);
	return err_key(err, "strategy",
		       "backends.%s.strategy: unknown strategy '%s' (least-busy, round-robin or "
		       "ordered)",
		       name, s);
}

static int parse_members(struct target *tg, const json_t *v, const char *name, struct err *err)
{
	char key[64];
	const json_t *m;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return err_key(err, "members",
			       "backends.%s.members: expected a list of backend names", name);
	tg->members = calloc(json_array_size(v), sizeof(*tg->members));
	if (!tg->members)
		return err_set(err, "out of memory");
	json_array_foreach (v, i, m) {
		struct member *mb = &tg->members[i];
		const json_t *mname = m, *w = NULL;

		snprintf(key, sizeof(key), "members.%zu", i);
		if (json_is_object(m)) {
			static const char *const known[] = { "name", "weight", NULL };
			const char *k;
			const json_t *x;

			json_object_foreach ((json_t *)m, k, x) {
				const char *hint = suggest_closest(k, known);

				if (strcmp(k, "name") && strcmp(k, "weight")) {
					snprintf(key, sizeof(key), "members.%zu.%s", i, k);
					if (hint)
						return err_key(err, key,
							       "backends.%s.%s: unknown key (did "
							       "you mean '%s'?)",
							       name, key, hint);
					return err_key(err, key,
						       "backends.%s.%s: unknown key (a member has "
						       "name and weight)",
						       name, key);
				}
			}
			mname = json_object_get(m, "name");
			w = json_object_get(m, "weight");
			snprintf(key, sizeof(key), "members.%zu.name", i);
		}
		if (!json_is_string(mname) || !json_string_value(mname)[0])
			return err_key(err, key, "backends.%s.%s: expected a backend name", name,
				       key);
		mb->weight = 1;
		if (w) {
			snprintf(key, sizeof(key), "members.%zu.weight", i);
			if (!json_is_integer(w) || json_integer_value(w) < 1 ||
			    json_integer_value(w) > BATCH_WEIGHT_MAX)
				return err_key(err, key,
					       "backends.%s.%s: expected an integer from 1 to %d",
					       name, key, BATCH_WEIGHT_MAX);
			mb->weight = (int)json_integer_value(w);
		}
		if (!(mb->name = strdup(json_string_value(mname))))
			return err_set(err, "out of memory");
		mb->inst = -1;
		tg->nmembers++;
	}
	return 0;
}

int batch_targets_add(struct batch_targets *t, const char *name, const json_t *slice,
		      struct err *err)
{
	static const char *const pool_keys[] = { "type", "members", "strategy", NULL };
	const char *type = json_string_value(json_object_get(slice, "type"));
	long long conc;
	struct target *tg;
	struct inst *iv;
	int rc;

	if (!type) {
		err_key(err, "type", "backends.%s: no type", name);
		goto fail;
	}
	if (!strcmp(type, "pool")) {
		if (cfg_check_keys(name, slice, pool_keys, err) < 0 ||
		    !(tg = target_add(t, name, err)))
			goto fail;
		rc = parse_strategy(json_object_get(slice, "strategy"), name, &tg->strategy, err);
		if (rc == 0)
			rc = parse_members(tg, json_object_get(slice, "members"), name, err);
		if (rc < 0) {
			target_drop_last(t);
			goto fail;
		}
		return 0;
	}
	conc = batch_default_concurrency(type);
	if (cfg_get_int(slice, name, "concurrency", 1, BATCH_CONCURRENCY_MAX, &conc, err) < 0)
		goto fail;
	iv = realloc(t->insts, (t->ninsts + 1) * sizeof(*iv));
	if (!iv)
		return err_set(err, "out of memory");
	t->insts = iv;
	memset(&iv[t->ninsts], 0, sizeof(iv[0]));
	if (!(iv[t->ninsts].name = strdup(name)))
		return err_set(err, "out of memory");
	iv[t->ninsts].limit = iv[t->ninsts].cur = (int)conc;
	if (!(tg = target_add(t, name, err))) {
		free(iv[t->ninsts].name);
		goto fail;
	}
	tg->inst = (int)t->ninsts++;
	return 0;
fail:
	if (err)
		err->code = 2;
	return -1;
}

int batch_targets_finish(struct batch_targets *t, struct err *err)
{
	size_t i, j, k;
	char key[sizeof(err->key)];

	for (i = 0; i < t->ntargets; i++) {
		struct target *tg = &t->targets[i];

		for (j = 0; j < tg->nmembers; j++) {
			struct member *m = &tg->members[j];
			int found = batch_targets_find(t, m->name);
			const char *why = NULL;

			if (found >= 0 && t->targets[found].inst < 0)
				why = "is a pool (members are backend instances)";
			for (k = 0; !why && found >= 0 && k < j; k++)
				if (tg->members[k].inst == t->targets[found].inst)
					why = "is listed twice";
			if (why || found < 0) {
				snprintf(key, sizeof(key), "%s.members.%zu", tg->name, j);
				if (why)
					err_key(err, key, "backends.%s.members: '%s' %s", tg->name,
						m->name, why);
				else
					err_key(err, key, "backends.%s.members: no backend '%s'",
						tg->name, m->name);
				if (err)
					err->code = 2;
				return -1;
			}
			m->inst = t->targets[found].inst;
		}
	}
	return 0;
}

/* ---- runtime ------------------------------------------------------------------------------ */

static int has_room(const struct inst *in, double now)
{
	return in->rest_until <= now && in->in_flight < in->cur;
}

int batch_targets_pick(struct batch_targets *t, int target, double now, double *wake)
{
	struct target *tg = &t->targets[target];
	long total = 0;
	int best = -1;
	size_t i;

	*wake = 0;
	if (tg->inst >= 0) {
		const struct inst *in = &t->insts[tg->inst];

		if (has_room(in, now))
			return tg->inst;
		if (in->rest_until > now)
			*wake = in->rest_until;
		return -1;
	}
	for (i = 0; i < tg->nmembers; i++) {
		struct member *m = &tg->members[i];
		const struct inst *in = &t->insts[m->inst];

		if (in->rest_until > now) {
			if (*wake == 0 || in->rest_until < *wake)
				*wake = in->rest_until;
			continue;
		}
		if (tg->strategy == POOL_ORDERED) {
			/* the first healthy member, busy or not: the rest are fallbacks */
			if (has_room(in, now))
				return m->inst;
			*wake = 0;
			return -1;
		}
		if (!has_room(in, now))
			continue;
		if (tg->strategy == POOL_ROUND_ROBIN) {
			m->current += m->weight;
			total += m->weight;
			if (best < 0 || m->current > tg->members[best].current)
				best = (int)i;
		} else {
			/* least busy per weight: in_flight/weight, compared without division */
			const struct member *b = best >= 0 ? &tg->members[best] : NULL;

			if (!b || (long)in->in_flight * b->weight <
					  (long)t->insts[b->inst].in_flight * m->weight)
				best = (int)i;
		}
	}
	if (best < 0)
		return -1;
	if (tg->strategy == POOL_ROUND_ROBIN)
		tg->members[best].current -= total;
	return tg->members[best].inst;
}

void batch_targets_begin(struct batch_targets *t, int inst)
{
	struct inst *in = &t->insts[inst];

	if (++in->in_flight > in->max_in_flight)
		in->max_in_flight = in->in_flight;
}

double batch_targets_end(struct batch_targets *t, int inst, enum batch_result result,
			 double retry_after, const char *why, double now)
{
	struct inst *in = &t->insts[inst];
	double rest;
	int k;

	in->in_flight--;
	switch (result) {
	case BATCH_DONE:
		in->done++;
		in->fails = 0;
		in->failing_since = 0;
		in->rest_until = 0;
		if (in->cur < in->limit)
			in->cur++;
		return 0;
	case BATCH_RATE_LIMITED:
		in->rate_limited++;
		in->cur = in->cur / 2 > 1 ? in->cur / 2 : 1;
		break;
	case BATCH_RETRY:
		in->retried++;
		break;
	default:
		return 0;
	}
	if (in->fails++ == 0)
		in->failing_since = now;
	snprintf(in->last_err, sizeof(in->last_err), "%s", why ? why : "");
	rest = t->backoff_base;
	for (k = 1; k < in->fails && rest < t->backoff_max; k++)
		rest *= 2;
	if (retry_after > rest)
		rest = retry_after;
	if (rest > t->backoff_max)
		rest = t->backoff_max;
	if (now + rest > in->rest_until)
		in->rest_until = now + rest;
	return rest;
}

int batch_targets_down(const struct batch_targets *t, int target, int min_fails, double min_secs,
		       double now, char *why, size_t size)
{
	const struct target *tg = &t->targets[target];
	const struct inst *last = NULL;
	size_t i, n = tg->inst >= 0 ? 1 : tg->nmembers;

	for (i = 0; i < n; i++) {
		const struct inst *in = &t->insts[tg->inst >= 0 ? tg->inst : tg->members[i].inst];

		if (in->fails < min_fails || now - in->failing_since < min_secs || in->in_flight)
			return 0;
		if (!last || in->rest_until > last->rest_until)
			last = in;
	}
	if (!last)
		return 0;
	snprintf(why, size, "%s", last->last_err);
	return 1;
}

int batch_targets_stats(const struct batch_targets *t, const char *name,
			struct batch_inst_stats *out)
{
	size_t i;

	for (i = 0; i < t->ninsts; i++) {
		const struct inst *in = &t->insts[i];

		if (strcmp(in->name, name))
			continue;
		out->limit = in->limit;
		out->cur_limit = in->cur;
		out->in_flight = in->in_flight;
		out->max_in_flight = in->max_in_flight;
		out->done = in->done;
		out->retried = in->retried;
		out->rate_limited = in->rate_limited;
		out->fails = in->fails;
		out->rest_until = in->rest_until;
		return 0;
	}
	return -1;
}
