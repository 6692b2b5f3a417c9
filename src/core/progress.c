/* progress.c - one redrawn line on stderr while a generation runs. */
#include "core/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BAR_WIDTH 24

static double elapsed_s(const struct progress *p)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - p->t0.tv_sec) + (double)(now.tv_nsec - p->t0.tv_nsec) / 1e9;
}

void progress_init(struct progress *p, const char *label, int quiet)
{
	const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");

	memset(p, 0, sizeof(*p));
	p->enabled = !quiet && isatty(STDERR_FILENO);
	p->color = p->enabled && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	snprintf(p->label, sizeof(p->label), "%s", label ? label : "imagen");
}

static void draw(struct progress *p, const char *text)
{
	/* \r + erase-line keeps the display on one line; nothing but the line itself */
	fprintf(stderr, "\r\033[2K%s", text);
	fflush(stderr);
	p->drawn = 1;
}

void progress_steps(struct progress *p, long value, long max, const char *what)
{
	char bar[BAR_WIDTH + 1], line[256];
	long fill;
	int i;

	if (!p || !p->enabled || max <= 0)
		return;
	if (value < 0)
		value = 0;
	if (value > max)
		value = max;
	fill = value * BAR_WIDTH / max;
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[BAR_WIDTH] = '\0';
	if (p->color)
		snprintf(line, sizeof(line), "\033[1m%s\033[0m  [\033[32m%.*s\033[0m%s] %ld/%ld%s%s  %.1fs",
			 p->label, (int)fill, bar, bar + fill, value, max, what ? "  " : "",
			 what ? what : "", elapsed_s(p));
	else
		snprintf(line, sizeof(line), "%s  [%s] %ld/%ld%s%s  %.1fs", p->label, bar, value, max,
			 what ? "  " : "", what ? what : "", elapsed_s(p));
	draw(p, line);
}

void progress_status(struct progress *p, const char *status)
{
	char line[256];

	if (!p || !p->enabled)
		return;
	if (p->color)
		snprintf(line, sizeof(line), "\033[1m%s\033[0m  %s  %.1fs", p->label,
			 status ? status : "", elapsed_s(p));
	else
		snprintf(line, sizeof(line), "%s  %s  %.1fs", p->label, status ? status : "",
			 elapsed_s(p));
	draw(p, line);
}

void progress_clear(struct progress *p)
{
	if (!p || !p->drawn)
		return;
	fprintf(stderr, "\r\033[2K");
	fflush(stderr);
	p->drawn = 0;
}
