/* term.c - events drawn on a terminal: one redrawn progress line, message lines.
 *
 * Whatever is slow (an upstream that reports nothing for a minute, a long encode), the
 * line keeps ticking: a thread started with the first job redraws the current status or
 * step line with its elapsed time about four times a second, until term_release. */
#include "cli/term.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/termsafe.h"

#define BAR_WIDTH 24

static double elapsed_s(const struct term *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->t0.tv_sec) + (double)(now.tv_nsec - t->t0.tv_nsec) / 1e9;
}

static void redraw(void *ctx);

void term_init(struct term *t, int quiet, int verbose)
{
	const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	ticker_init(&t->ticker, &t->mu, redraw, t);
	t->quiet = quiet;
	t->verbose = verbose;
	t->enabled = !quiet && isatty(STDERR_FILENO);
	t->color = t->enabled && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	snprintf(t->label, sizeof(t->label), "imagen");
}

void term_release(struct term *t)
{
	ticker_release(&t->ticker);
	term_clear(t);
	pthread_mutex_destroy(&t->mu);
}

/* Called with mu held. */
static void draw(struct term *t, const char *text)
{
	/* \r + erase-line keeps the display on one line; nothing but the line itself */
	fprintf(stderr, "\r\033[2K%s", text);
	fflush(stderr);
	t->drawn = 1;
}

static void clear_locked(struct term *t)
{
	if (!t->drawn)
		return;
	fputs("\r\033[2K", stderr);
	fflush(stderr);
	t->drawn = 0;
}

static void draw_steps(struct term *t, long value, long max, const char *what)
{
	char bar[BAR_WIDTH + 1], line[256];
	long fill;
	int i;

	if (max <= 0)
		return;
	if (value < 0)
		value = 0;
	if (value > max)
		value = max;
	fill = value * BAR_WIDTH / max;
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[BAR_WIDTH] = '\0';
	if (t->color)
		snprintf(line, sizeof(line),
			 "\033[1m%s\033[0m  [\033[32m%.*s\033[0m%s] %ld/%ld%s%s  %.1fs", t->label,
			 (int)fill, bar, bar + fill, value, max, what ? "  " : "", what ? what : "",
			 elapsed_s(t));
	else
		snprintf(line, sizeof(line), "%s  [%s] %ld/%ld%s%s  %.1fs", t->label, bar, value,
			 max, what ? "  " : "", what ? what : "", elapsed_s(t));
	draw(t, line);
}

static void draw_status(struct term *t, const char *status)
{
	char line[256];

	if (t->color)
		snprintf(line, sizeof(line), "\033[1m%s\033[0m  %s  %.1fs", t->label,
			 status ? status : "", elapsed_s(t));
	else
		snprintf(line, sizeof(line), "%s  %s  %.1fs", t->label, status ? status : "",
			 elapsed_s(t));
	draw(t, line);
}

/* The current line again, its elapsed time moved on: the ticker's draw (mu held). */
static void redraw(void *ctx)
{
	struct term *t = ctx;

	if (t->line == TERM_LINE_STATUS)
		draw_status(t, t->status);
	else if (t->line == TERM_LINE_STEPS)
		draw_steps(t, t->value, t->max, t->what[0] ? t->what : NULL);
}

/* "imagen: SOURCE: TEXT": upstream messages, file names and -v request lines carry
 * outside text, so control characters are shown escaped (util/termsafe.h). */
static void print_log(const struct ev *ev)
{
	struct buf line = BUF_INIT;

	buf_adds(&line, "imagen: ");
	if (ev->source) {
		termsafe_append(&line, ev->source, strlen(ev->source), 0);
		buf_adds(&line, ": ");
	}
	if (ev->text)
		termsafe_append(&line, ev->text, strlen(ev->text), 0);
	buf_adds(&line, "\n");
	if (line.data)
		fputs((const char *)line.data, stderr);
	fflush(stderr);
	buf_release(&line);
}

static void term_emit(const struct ev_sink *sink, const struct ev *ev)
{
	struct term *t = sink->ctx;

	pthread_mutex_lock(&t->mu);
	switch (ev->kind) {
	case EV_JOB_START:
		clock_gettime(CLOCK_MONOTONIC, &t->t0);
		snprintf(t->label, sizeof(t->label), "%s", ev->text ? ev->text : "imagen");
		t->line = TERM_LINE_NONE;
		if (t->enabled)
			ticker_start_locked(&t->ticker);
		break;
	case EV_STATUS:
		if (!t->enabled)
			break;
		t->line = TERM_LINE_STATUS;
		snprintf(t->status, sizeof(t->status), "%s", ev->text ? ev->text : "");
		draw_status(t, t->status);
		break;
	case EV_STEPS:
		if (!t->enabled || ev->max <= 0)
			break;
		t->line = TERM_LINE_STEPS;
		t->value = ev->value;
		t->max = ev->max;
		snprintf(t->what, sizeof(t->what), "%s", ev->text ? ev->text : "");
		draw_steps(t, t->value, t->max, ev->text ? t->what : NULL);
		break;
	case EV_LOG:
		/* errors always, warnings unless -q, detail lines at the -v level asked for */
		if (ev->level < EV_WARN    ? 0
		    : ev->level == EV_WARN ? t->quiet
					   : ev->level > t->verbose)
			break;
		clear_locked(t); /* the line redraws itself with the next status */
		print_log(ev);
		break;
	case EV_IMAGE:
		break; /* the command prints paths and records on stdout itself */
	case EV_JOB_END:
		t->line = TERM_LINE_NONE;
		clear_locked(t);
		break;
	}
	pthread_mutex_unlock(&t->mu);
}

struct ev_sink term_sink(struct term *t)
{
	struct ev_sink s = { term_emit, t, 0, t->verbose, t->enabled };

	return s;
}

void term_clear(struct term *t)
{
	pthread_mutex_lock(&t->mu);
	t->line = TERM_LINE_NONE;
	clear_locked(t);
	pthread_mutex_unlock(&t->mu);
}
