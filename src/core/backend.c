/* backend.c - the static registry of adapter types and helpers for their config slices. */
#include "core/backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/suggest.h"

extern const struct backend_ops mock_backend_ops;
extern const struct backend_ops comfyui_backend_ops;
extern const struct backend_ops replicate_backend_ops;
extern const struct backend_ops openai_backend_ops;
extern const struct backend_ops a1111_backend_ops;

/* The table is the list of what exists: no constructors, no link-order magic. */
static const struct backend_ops *const backend_table[] = {
	&mock_backend_ops,   &comfyui_backend_ops, &replicate_backend_ops,
	&openai_backend_ops, &a1111_backend_ops,   NULL,
};

const struct backend_ops *backend_find(const char *type)
{
	size_t i;

	for (i = 0; type && backend_table[i]; i++)
		if (!strcmp(backend_table[i]->type, type))
			return backend_table[i];
	return NULL;
}

const struct backend_ops *const *backend_types(void)
{
	return backend_table;
}

const char *backend_type_list(void)
{
	static const char list[] = "mock, comfyui, replicate, openai, a1111";

	return list;
}

void imagen_result_release(struct imagen_result *res)
{
	if (!res)
		return;
	free(res->data);
	free(res->model);
	json_decref(res->metadata);
	json_decref(res->cost);
	memset(res, 0, sizeof(*res));
}

int cfg_check_keys(const char *name, const json_t *cfg, const char *const *known, struct err *err)
{
	const char *key, *hint;
	json_t *val;
	size_t i;
	int found;

	json_object_foreach ((json_t *)cfg, key, val) {
		found = 0;
		for (i = 0; known[i]; i++)
			if (!strcmp(known[i], key))
				found = 1;
		if (found)
			continue;
		hint = suggest_closest(key, known);
		if (hint)
			return err_key(err, key,
				       "unknown key '%s' in backends.%s (did you mean '%s'?)", key,
				       name, hint);
		return err_key(err, key, "unknown key '%s' in backends.%s", key, name);
	}
	return 0;
}

int cfg_get_int(const json_t *cfg, const char *name, const char *key, long long min, long long max,
		long long *out, struct err *err)
{
	const json_t *v = json_object_get(cfg, key);
	long long n;
	char *end;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		errno = 0;
		n = strtoll(json_string_value(v), &end, 10);
		if (errno || end == json_string_value(v) || *end)
			return err_key(err, key, "backends.%s.%s: expected an integer, got '%s'",
				       name, key, json_string_value(v));
	} else {
		return err_key(err, key, "backends.%s.%s: expected an integer", name, key);
	}
	if (n < min || n > max)
		return err_key(err, key, "backends.%s.%s: %lld is out of range (%lld..%lld)", name,
			       key, n, min, max);
	*out = n;
	return 0;
}

int cfg_get_string(const json_t *cfg, const char *name, const char *key, const char **out,
		   struct err *err)
{
	const json_t *v = json_object_get(cfg, key);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_key(err, key, "backends.%s.%s: expected a string", name, key);
	*out = json_string_value(v);
	return 0;
}

int backend_generate(struct backend *b, const struct imagen_request *req, struct imagen_result *res,
		     size_t *nres, struct err *err)
{
	int rc;

	b->events = req->events;
	rc = b->ops->generate(b, req, res, nres, err);
	b->events = NULL;
	return rc;
}
