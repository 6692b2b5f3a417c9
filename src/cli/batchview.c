/* batchview.c - the batch display on stderr (see batchview.h). */
#include "cli/batchview.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/text.h"

#define BAR_WIDTH 20
#define MAX_JOB_LINES 12 /* running jobs shown; the rest are counted on one line */

static double since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void redraw(void *ctx);

void batchview_init(struct batchview *v, const char *title, size_t total, double max_cost,
		    int quiet, int verbose)
{
	const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");

	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->mu, NULL);
	ticker_init(&v->ticker, &v->mu, redraw, v);
	v->title = title;
	v->total = total;
	v->max_cost = max_cost;
	v->quiet = quiet;
	v->verbose = verbose;
	v->tty = !quiet && isatty(STDERR_FILENO);
	v->plain = 1;
	v->color = v->tty && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
	clock_gettime(CLOCK_MONOTONIC, &v->t0);
}

static int columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* Erase the display (mu held): back to the start of its first line, clear below. */
static void erase_locked(struct batchview *v)
{
	if (!v->drawn)
		return;
	if (v->drawn > 1)
		fprintf(stderr, "\r\033[%dA\033[J", v->drawn - 1);
	else
		fputs("\r\033[J", stderr);
	v->drawn = 0;
}

/* One line of the display, cut to the terminal's width so it never wraps (a wrapped
 * line would throw the redraw off).  Byte counts stand for columns: the text is ASCII
 * but for labels, which are cut on a character boundary. */
static void put_line(struct batchview *v, const char *text, const char *bold_prefix, int cols)
{
	size_t n = strlen(text), max = (size_t)cols - 1;

	if (n > max) {
		n = max;
		while (n && ((unsigned char)text[n] & 0xc0) == 0x80)
			n--;
	}
	if (v->drawn)
		fputc('\n', stderr);
	if (bold_prefix && v->color && strlen(bold_prefix) <= n)
		fprintf(stderr, "\033[1m%s\033[0m%.*s", bold_prefix, (int)(n - strlen(bold_prefix)),
			text + strlen(bold_prefix));
	else
		fprintf(stderr, "%.*s", (int)n, text);
	v->drawn++;
}

static void fmt_eta(char *out, size_t size, double s)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(out, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, size, "%ld:%02ld", t / 60, t % 60);
}

static void draw_locked(struct batchview *v)
{
	char line[512], bar[BAR_WIDTH + 1], eta[32] = "", cost[64] = "", rate[32] = "";
	size_t ended = v->done + v->failed, i, fill;
	double el = since(&v->t0);
	int cols = columns();

	erase_locked(v);
	fill = v->total ? ended * BAR_WIDTH / v->total : 0;
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[BAR_WIDTH] = '\0';
	if (el > 0.5)
		snprintf(rate, sizeof(rate), "  %.1f img/min", (double)v->images * 60.0 / el);
	if (ended && ended < v->total) {
		char t[24];

		fmt_eta(t, sizeof(t), el / (double)ended * (double)(v->total - ended));
		snprintf(eta, sizeof(eta), "  ETA %s", t);
	}
	if (v->max_cost > 0)
		snprintf(cost, sizeof(cost), "  $%.4g of $%.4g", v->spent, v->max_cost);
	else if (v->spent > 0)
		snprintf(cost, sizeof(cost), "  $%.4g", v->spent);
	if (v->failed) {
		snprintf(line, sizeof(line), "%s  [%s] %zu/%zu  %zu failed%s%s%s  %.0fs", v->title,
			 bar, ended, v->total, v->failed, rate, eta, cost, el);
	} else {
		snprintf(line, sizeof(line), "%s  [%s] %zu/%zu%s%s%s  %.0fs", v->title, bar, ended,
			 v->total, rate, eta, cost, el);
	}
	put_line(v, line, v->title, cols);
	for (i = 0; i < v->nslots && i < MAX_JOB_LINES; i++) {
		const struct bv_slot *s = &v->slots[i];
		char what[128];

		if (s->max > 0)
			snprintf(what, sizeof(what), "step %ld/%ld%s%s", s->value, s->max,
				 s->status[0] ? "  " : "", s->status);
		else
			snprintf(what, sizeof(what), "%s", s->status[0] ? s->status : "starting");
		snprintf(line, sizeof(line), "  #%-4d %-16s %s  %.1fs", s->job + 1, s->label, what,
			 since(&s->t0));
		put_line(v, line, NULL, cols);
	}
	if (v->nslots > MAX_JOB_LINES) {
		snprintf(line, sizeof(line), "  ... and %zu more running",
			 v->nslots - MAX_JOB_LINES);
		put_line(v, line, NULL, cols);
	}
	fflush(stderr);
}

/* The ticker's draw (mu held): the display again, elapsed time and ETA moved on. */
static void redraw(void *ctx)
{
	draw_locked(ctx);
}

void batchview_release(struct batchview *v)
{
	ticker_stop(&v->ticker);
	pthread_mutex_lock(&v->mu);
	erase_locked(v);
	fflush(stderr);
	pthread_mutex_unlock(&v->mu);
	free(v->slots);
	ticker_release(&v->ticker);
	pthread_mutex_destroy(&v->mu);
}

static struct bv_slot *slot_find(struct batchview *v, int job)
{
	size_t i;

	for (i = 0; i < v->nslots; i++)
		if (v->slots[i].job == job)
			return &v->slots[i];
	return NULL;
}

static struct bv_slot *slot_add(struct batchview *v, int job)
{
	struct bv_slot *s = slot_find(v, job);

	if (s)
		return s;
	if (v->nslots == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;

		s = realloc(v->slots, cap * sizeof(*s));
		if (!s)
			return NULL;
		v->slots = s;
		v->cap = cap;
	}
	s = &v->slots[v->nslots++];
	memset(s, 0, sizeof(*s));
	s->job = job;
	clock_gettime(CLOCK_MONOTONIC, &s->t0);
	return s;
}

static void slot_drop(struct batchview *v, int job)
{
	struct bv_slot *s = slot_find(v, job);

	if (s) {
		/* keep the order: the display's lines do not jump around */
		memmove(s, s + 1, (size_t)(v->slots + v->nslots - s - 1) * sizeof(*s));
		v->nslots--;
	}
}

/* A message line (mu held): the display steps aside and comes back at the next tick. */
static void say_locked(struct batchview *v, const char *source, const char *text)
{
	erase_locked(v);
	if (source)
		fprintf(stderr, "imagen: %s: %s\n", source, text);
	else
		fprintf(stderr, "imagen: %s\n", text);
	fflush(stderr);
}

static void view_emit(const struct ev_sink *sink, const struct ev *ev)
{
	struct batchview *v = sink->ctx;
	struct bv_slot *s;

	pthread_mutex_lock(&v->mu);
	switch (ev->kind) {
	case EV_JOB_START:
		if ((s = slot_add(v, sink->job)) != NULL) {
			text_clean(s->label, sizeof(s->label), ev->text ? ev->text : "");
			s->status[0] = '\0';
			s->max = 0;
		}
		if (v->tty)
			ticker_start_locked(&v->ticker);
		break;
	case EV_STATUS:
		if ((s = slot_find(v, sink->job)) != NULL)
			text_clean(s->status, sizeof(s->status), ev->text);
		break;
	case EV_STEPS:
		if ((s = slot_find(v, sink->job)) != NULL) {
			s->value = ev->value;
			s->max = ev->max;
		}
		break;
	case EV_LOG:
		if (ev->level < EV_WARN    ? 0
		    : ev->level == EV_WARN ? v->quiet
					   : ev->level > v->verbose)
			break;
		say_locked(v, ev->source, ev->text ? ev->text : "");
		break;
	case EV_IMAGE:
		v->images++;
		break;
	case EV_JOB_END:
		slot_drop(v, sink->job);
		break;
	}
	pthread_mutex_unlock(&v->mu);
}

struct ev_sink batchview_sink(struct batchview *v)
{
	struct ev_sink s = { view_emit, v, 0, v->verbose, v->tty };

	return s;
}

void batchview_job_end(struct batchview *v, size_t job, const char *instance, int images,
		       double cost, const char *error)
{
	char msg[1200];

	pthread_mutex_lock(&v->mu);
	if (error)
		v->failed++;
	else
		v->done++;
	if (cost > 0)
		v->spent += cost;
	slot_drop(v, (int)job);
	if (error) {
		snprintf(msg, sizeof(msg), "job %zu failed on %s: %s", job + 1, instance, error);
		say_locked(v, NULL, msg);
	} else if (!v->tty && !v->quiet && v->plain) {
		snprintf(msg, sizeof(msg), "[%zu/%zu] job %zu done on %s (%d image%s)",
			 v->done + v->failed, v->total, job + 1, instance, images,
			 images == 1 ? "" : "s");
		say_locked(v, NULL, msg);
	}
	pthread_mutex_unlock(&v->mu);
}

void batchview_say(struct batchview *v, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&v->mu);
	say_locked(v, NULL, msg);
	pthread_mutex_unlock(&v->mu);
}
