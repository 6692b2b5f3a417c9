/* estimate.c - a job's cost before it is sent (see estimate.h). */
#include "batch/estimate.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "backends/openai.h"
#include "backends/replicate.h"

static json_t *openai_builtin;
static pthread_once_t openai_once = PTHREAD_ONCE_INIT;

static void openai_load(void)
{
	openai_builtin = json_loads(openai_default_prices, 0, NULL);
}

/* A request option: the job's `set` first, then the instance's config; NULL, "" and
 * "auto" mean the upstream decides. */
static const char *option(const struct cfg_backend *cb, const struct batch_job *job,
			  const char *key)
{
	const char *v = json_string_value(json_object_get(job->set, key));

	if (!v)
		v = json_string_value(json_object_get(cb->cfg, key));
	return v && *v && strcmp(v, "auto") ? v : NULL;
}

/* Whether a per_image key "QUALITY/WxH", "WxH" or "QUALITY" fits quality and size (NULL:
 * any). */
static int key_fits(const char *key, const char *quality, const char *size)
{
	const char *slash = strchr(key, '/');
	size_t ql;

	if (slash) {
		ql = (size_t)(slash - key);
		return (!quality || (strlen(quality) == ql && !strncmp(key, quality, ql))) &&
		       (!size || !strcmp(slash + 1, size));
	}
	if (strchr(key, 'x') && key[0] >= '0' && key[0] <= '9')
		return !size || !strcmp(key, size);
	return !quality || !strcmp(key, quality);
}

static int openai_estimate(const struct cfg_backend *cb, const struct batch_job *job, double *usd,
			   char *why, size_t size)
{
	const char *model = json_string_value(json_object_get(cb->cfg, "model"));
	const char *quality = option(cb, job, "quality"), *sz = option(cb, job, "size");
	const json_t *entry = NULL, *pi, *v;
	const char *key;
	char wxh[32];
	double best = -1;

	pthread_once(&openai_once, openai_load);
	if (job->width > 0 && job->height > 0) {
		snprintf(wxh, sizeof(wxh), "%dx%d", job->width, job->height);
		sz = wxh;
	}
	if (model)
		entry = json_object_get(json_object_get(cb->cfg, "prices"), model);
	if (model && !entry)
		entry = json_object_get(openai_builtin, model);
	if (!json_is_object(entry)) {
		snprintf(why, size, "no price for model %s (set backends.%s.prices)",
			 model ? model : "(none)", cb->name);
		return -1;
	}
	pi = json_object_get(entry, "per_image");
	if (json_is_number(pi)) {
		*usd = json_number_value(pi);
		return 0;
	}
	/* the dearest entry the request may end up at: never reserve too little */
	json_object_foreach ((json_t *)pi, key, v)
		if (json_is_number(v) && key_fits(key, quality, sz) && json_number_value(v) > best)
			best = json_number_value(v);
	if (best < 0) {
		snprintf(why, size,
			 "no per-image price for model %s at quality %s, size %s (set "
			 "backends.%s.prices)",
			 model, quality ? quality : "auto", sz ? sz : "auto", cb->name);
		return -1;
	}
	*usd = best;
	return 0;
}

static int replicate_estimate(const struct cfg_backend *cb, double *usd, char *why, size_t size)
{
	const char *model = json_string_value(json_object_get(cb->cfg, "model"));
	const json_t *prices = json_object_get(cb->cfg, "prices"), *p = NULL, *pi;
	const char *colon = model ? strchr(model, ':') : NULL;
	char base[256];

	if (model)
		p = json_object_get(prices, model);
	if (!p && colon && (size_t)(colon - model) < sizeof(base)) {
		/* "owner/name:version" priced as "owner/name" */
		snprintf(base, sizeof(base), "%.*s", (int)(colon - model), model);
		p = json_object_get(prices, base);
	}
	pi = json_object_get(p, "per_image");
	if (json_is_number(pi)) {
		*usd = json_number_value(pi);
		return 0;
	}
	/* else what the adapter itself would bill an official model at (rp_price) */
	if (!p && model) {
		const struct rp_known *k =
			rp_known_find(model, colon ? (size_t)(colon - model) : strlen(model));

		if (k && k->per_image > 0) {
			*usd = k->per_image;
			return 0;
		}
	}
	snprintf(why, size, "no per_image price for model %s (set backends.%s.prices)",
		 model ? model : "(none)", cb->name);
	return -1;
}

int batch_estimate(const struct cfg_backend *cb, const struct batch_job *job, double *usd,
		   char *why, size_t size)
{
	double each;
	int count = job->count > 0 ? job->count : 1, rc;

	if (!strcmp(cb->type, "mock") || !strcmp(cb->type, "comfyui") ||
	    !strcmp(cb->type, "a1111")) {
		*usd = 0;
		return 0;
	}
	if (!strcmp(cb->type, "openai"))
		rc = openai_estimate(cb, job, &each, why, size);
	else if (!strcmp(cb->type, "replicate"))
		rc = replicate_estimate(cb, &each, why, size);
	else
		rc = (snprintf(why, size, "no price table for backend type %s", cb->type), -1);
	if (rc < 0)
		return -1;
	*usd = each * count;
	return 0;
}
