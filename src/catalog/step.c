/* step.c - the catalog's after-step: a row for every image the core writes. */
#include "catalog/step.h"

#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/events.h"

void catalog_step_init(struct catalog_step *s, const struct env *env)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->env = env;
}

void catalog_step_release(struct catalog_step *s)
{
	catalog_close(s->cat);
	s->cat = NULL;
	pthread_mutex_destroy(&s->mu);
}

size_t catalog_steps(struct gen_step *out, size_t room, struct catalog_step *s)
{
	const struct gen_step *d;
	size_t n = 0;

	for (d = gen_steps_default; d->name && n + 2 < room; d++)
		out[n++] = *d;
	out[n++] = (struct gen_step){ "catalog", catalog_step_run, s };
	out[n] = (struct gen_step){ NULL, NULL, NULL };
	return n;
}

json_t *catalog_step_run(const struct gen_step *step, const struct gen_request *req,
			 const json_t *record, const struct ev_sink *sink)
{
	struct catalog_step *s = step->ctx;
	struct err err = ERR_INIT;
	struct catalog *cat;
	const char *path = json_string_value(json_object_get(record, "image"));
	char *db = NULL;
	int said = 0;

	(void)req;
	if (!path)
		return json_false();
	/* opened once for the whole run; the handle serialises its own writes */
	pthread_mutex_lock(&s->mu);
	if (!s->cat && !s->open_failed &&
	    (catalog_default_path(&db, s->env, &err) < 0 ||
	     catalog_open(&s->cat, db, 1, &err) < 0)) {
		s->open_failed = 1;
		said = 1;
	} else if (s->open_failed) {
		said = -1; /* already said */
	}
	cat = s->cat;
	pthread_mutex_unlock(&s->mu);
	free(db);
	if (cat && catalog_add_image(cat, path, json_object_get(record, "metadata"),
				     json_object_get(record, "cloud"), &err) == 0)
		return json_true();
	if (said >= 0)
		ev_log(sink, EV_WARN, NULL,
		       "warning: catalog: %s (the image is kept; imagen index repairs the "
		       "catalog)",
		       err.msg);
	return json_false();
}

json_t *catalog_step_find_input(void *ctx, const char *sha256)
{
	struct catalog_step *s = ctx;
	struct err err = ERR_INIT;
	struct catalog *cat;
	json_t *paths = NULL;
	char *db = NULL;

	/* an existing catalog only: looking something up makes none */
	pthread_mutex_lock(&s->mu);
	if (!s->cat && catalog_default_path(&db, s->env, &err) == 0)
		catalog_open(&s->cat, db, 0, &err);
	cat = s->cat;
	pthread_mutex_unlock(&s->mu);
	free(db);
	if (cat && catalog_paths_by_sha256(&paths, cat, sha256, &err) < 0)
		paths = NULL;
	return paths;
}
