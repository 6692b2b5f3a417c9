/* jsonevents.c - events as JSON lines (see jsonevents.h). */
#include "cli/jsonevents.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void jsonevents_init(struct jsonevents *j, FILE *out)
{
	size_t i;

	memset(j, 0, sizeof(*j));
	pthread_mutex_init(&j->mu, NULL);
	j->out = out;
	for (i = 0; i < JSONEV_SLOTS; i++)
		j->last[i].job = -1;
}

void jsonevents_release(struct jsonevents *j)
{
	pthread_mutex_destroy(&j->mu);
}

/* mu held. */
static void write_locked(struct jsonevents *j, json_t *obj)
{
	if (obj && cli_print_json(j->out, obj, JSON_COMPACT | JSON_REAL_PRECISION(12)) == 0)
		fflush(j->out);
	json_decref(obj);
}

void jsonevents_write(struct jsonevents *j, json_t *obj)
{
	pthread_mutex_lock(&j->mu);
	write_locked(j, obj);
	pthread_mutex_unlock(&j->mu);
}

static void json_emit(const struct ev_sink *sink, const struct ev *ev)
{
	struct jsonevents *j = sink->ctx;
	int slot = (sink->job >= 0 ? sink->job : 0) % JSONEV_SLOTS;
	json_t *o = NULL;

	pthread_mutex_lock(&j->mu);
	switch (ev->kind) {
	case EV_JOB_START:
		j->last[slot].job = sink->job;
		j->last[slot].value = -1;
		j->last[slot].status[0] = '\0';
		o = json_pack("{s:s, s:i, s:s?}", "event", "job_started", "job", sink->job,
			      "backend", ev->text);
		break;
	case EV_STATUS:
		if (!ev->text ||
		    (j->last[slot].job == sink->job &&
		     !strncmp(j->last[slot].status, ev->text, sizeof(j->last[slot].status) - 1)))
			break;
		j->last[slot].job = sink->job;
		snprintf(j->last[slot].status, sizeof(j->last[slot].status), "%s", ev->text);
		o = json_pack("{s:s, s:i, s:s}", "event", "progress", "job", sink->job, "status",
			      ev->text);
		break;
	case EV_STEPS:
		if (ev->max <= 0 ||
		    (j->last[slot].job == sink->job && j->last[slot].value == ev->value))
			break;
		j->last[slot].job = sink->job;
		j->last[slot].value = ev->value;
		o = json_pack("{s:s, s:i, s:I, s:I}", "event", "progress", "job", sink->job, "step",
			      (json_int_t)ev->value, "steps", (json_int_t)ev->max);
		break;
	case EV_IMAGE:
		o = json_pack("{s:s, s:i, s:s?, s:O?}", "event", "image", "job", sink->job, "path",
			      ev->path, "record", (json_t *)ev->record);
		break;
	case EV_LOG:
	case EV_JOB_END:
		break;
	}
	if (o)
		write_locked(j, o);
	pthread_mutex_unlock(&j->mu);
}

struct ev_sink jsonevents_sink(struct jsonevents *j)
{
	struct ev_sink s = { json_emit, j, 0, 0, 1 };

	return s;
}
