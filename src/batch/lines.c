/* lines.c - entries of line-oriented text, with positions. */
#include "batch/lines.h"
#include "util/utf8.h"

#include <stdint.h>
#include <string.h>

int lines_col(const char *line_start, size_t off)
{
	size_t i;
	int col = 1;

	for (i = 0; i < off; i++)
		if (((unsigned char)line_start[i] & 0xc0) != 0x80)
			col++;
	return col;
}

int lines_check(const char *text, size_t len, const char *file, struct err *err)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, line_start = 0;
	int line = 1;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t at = i;

		if (c == '\n') {
			line++;
			line_start = ++i;
			continue;
		}
		if (c == '\0')
			return err_code(err, 2, "%s:%d:%d: not a text file (NUL byte)", file, line,
					lines_col(text + line_start, at - line_start));
		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
			return err_code(
				err, 2, "%s:%d:%d: not a text file (control character 0x%02x)",
				file, line, lines_col(text + line_start, at - line_start), c);
		if (utf8_next(s, len, &i, &cp) < 0)
			return err_code(err, 2, "%s:%d:%d: not a text file (invalid UTF-8)", file,
					line, lines_col(text + line_start, at - line_start));
		if (cp >= 0x80 && cp <= 0x9f)
			return err_code(err, 2,
					"%s:%d:%d: not a text file (control character U+%04X)",
					file, line, lines_col(text + line_start, at - line_start),
					(unsigned)cp);
	}
	return 0;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int lines_next(const char *text, size_t len, size_t *pos, int *lineno, struct text_line *out)
{
	while (*pos < len) {
		const char *start = text + *pos, *nl = memchr(start, '\n', len - *pos);
		size_t n = nl ? (size_t)(nl - start) : len - *pos, a = 0, b = n;

		*pos += nl ? n + 1 : n;
		++*lineno;
		while (a < b && is_space(start[a]))
			a++;
		while (b > a && is_space(start[b - 1]))
			b--;
		if (a == b || start[a] == '#')
			continue;
		out->s = start + a;
		out->len = b - a;
		out->line = *lineno;
		out->col = lines_col(start, a);
		return 1;
	}
	return 0;
}
