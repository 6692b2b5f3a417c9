/* text.c - upstream text as one printable line (see text.h). */
#include "util/text.h"

#include <string.h>

int text_clean_add(struct buf *b, const char *s, size_t len, size_t max)
{
	size_t i, n = max && len > max ? max : len;
	int space = b->len > 0 && b->data[b->len - 1] == ' ';

	for (i = 0; s && i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f) {
			i++; /* a C1 control: CSI (U+009B) starts terminal escapes too */
			continue;
		}
		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if ((c < 0x20 && c != ' ') || c == 0x7f)
			continue;
		if (c == ' ' && space)
			continue;
		space = c == ' ';
		if (buf_add(b, &c, 1) < 0)
			return -1;
	}
	if (s && n < len && buf_adds(b, "...") < 0)
		return -1;
	return 0;
}

int text_clean_adds(struct buf *b, const char *s, size_t max)
{
	return s ? text_clean_add(b, s, strlen(s), max) : 0;
}

void text_clean(char *out, size_t size, const char *s)
{
	struct buf b = BUF_INIT;
	const char *p;
	size_t n;

	if (!size)
		return;
	out[0] = '\0';
	if (!s)
		return;
	if (text_clean_add(&b, s, strlen(s), 0) < 0 || !b.len) {
		buf_release(&b);
		return;
	}
	p = (const char *)b.data;
	n = b.len;
	if (*p == ' ') {
		p++;
		n--;
	}
	while (n && p[n - 1] == ' ')
		n--;
	if (n >= size) {
		n = size - 1;
		/* not in the middle of a UTF-8 sequence */
		while (n && ((unsigned char)p[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	buf_release(&b);
}
