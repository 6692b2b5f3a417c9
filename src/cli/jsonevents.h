/* jsonevents.h - events as JSON lines on stdout (`imagen batch --json`).
 *
 * One object per line, each with "event" and, for a job's events, "job" (its index):
 *   job_started  {"job", "backend": the label ("mock", "comfy 2/3")}
 *   progress     {"job", "status"} or {"job", "step", "steps"}: only when it changes
 *   image        {"job", "path", "record": the image's record (as generate --json)}
 * and what the command writes itself through jsonevents_write (job_failed, summary). */
#ifndef IMAGEN_JSONEVENTS_H
#define IMAGEN_JSONEVENTS_H

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>

#include "core/events.h"

#define JSONEV_SLOTS 64

struct jsonevents {
	pthread_mutex_t mu;
	FILE *out;
	struct {
		int job;
		long value;
		char status[96];
	} last[JSONEV_SLOTS]; /* by job % JSONEV_SLOTS: repeats are not written */
};

void jsonevents_init(struct jsonevents *j, FILE *out);
void jsonevents_release(struct jsonevents *j);
/** The sink writing a job's events (sink->job). */
struct ev_sink jsonevents_sink(struct jsonevents *j);
/** Write obj (stolen) as one line, flushed. */
void jsonevents_write(struct jsonevents *j, json_t *obj);

#endif
