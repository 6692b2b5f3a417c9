/* print.c - what the front end prints for a person: every message and every human-readable
 * listing that may carry outside text goes through here, so control characters are shown
 * escaped (util/termsafe.h) instead of reaching the terminal.  Kept apart from cli.c so that
 * the preview code (and its tests) can print without pulling in the command table. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/buf.h"
#include "util/termsafe.h"

/* Format, make the text safe for a terminal (termsafe.h), write it out in one piece. */
static void print_safe(FILE *out, unsigned flags, const char *prefix, const char *suffix,
		       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void print_safe(FILE *out, unsigned flags, const char *prefix, const char *suffix,
		       const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;
	char *text = NULL;
	int n = vasprintf(&text, fmt, ap);

	if (n < 0) {
		fprintf(out, "%s(out of memory)%s", prefix, suffix);
		return;
	}
	if (buf_adds(&b, prefix) < 0 || termsafe_append(&b, text, (size_t)n, flags) < 0 ||
	    buf_adds(&b, suffix) < 0)
		fprintf(out, "%s(out of memory)%s", prefix, suffix);
	else
		fwrite(b.data, 1, b.len, out);
	buf_release(&b);
	free(text);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_safe(stderr, 0, "imagen: ", "\n", fmt, ap);
	va_end(ap);
}

void cli_print(FILE *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_safe(out, TERMSAFE_NEWLINE, "", "", fmt, ap);
	va_end(ap);
}

int cli_print_json(FILE *out, const json_t *v, size_t flags)
{
	char *s = v ? json_dumps(v, flags) : NULL;

	if (!s)
		return v ? -1 : 0;
	fprintf(out, "%s\n", s);
	free(s);
	return 0;
}
