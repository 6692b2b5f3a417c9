/* termsafe.c - escape control characters in text shown on a terminal. */
#include "util/termsafe.h"

#include <stdint.h>
#include <stdio.h>

#include "util/utf8.h"

/* The escape for one character or stray byte, or NULL when it is shown as it is. */
static const char *escape_of(char tmp[8], const unsigned char *s, size_t n, size_t *i,
			     unsigned flags)
{
	size_t at = *i;
	uint32_t cp;

	if (utf8_next(s, n, i, &cp) < 0) {
		*i = at + 1;
		snprintf(tmp, 8, "\\x%02x", s[at]);
		return tmp;
	}
	if (cp == '\n')
		return flags & TERMSAFE_NEWLINE ? NULL : "\\n";
	if (cp == '\t')
		return "\\t";
	if (cp == '\r')
		return "\\r";
	if (cp < 0x20 || cp == 0x7f) {
		snprintf(tmp, 8, "\\x%02x", (unsigned)cp);
		return tmp;
	}
	if (cp >= 0x80 && cp <= 0x9f) {
		snprintf(tmp, 8, "\\u%04x", (unsigned)cp);
		return tmp;
	}
	return NULL;
}

int termsafe_append(struct buf *out, const char *s, size_t n, unsigned flags)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, start = 0, at;
	const char *esc;
	char tmp[8];

	while (i < n) {
		at = i;
		esc = escape_of(tmp, u, n, &i, flags);
		if (!esc)
			continue;
		if (buf_add(out, u + start, at - start) < 0 || buf_adds(out, esc) < 0)
			return -1;
		start = i;
	}
	/* an empty append still leaves out NUL-terminated, as every buf append does */
	return buf_add(out, u + start, n - start);
}
