/* adapter.c - the adapter kit (see adapter.h). */
#include "core/adapter.h"

#include <errno.h>
#include <stdlib.h>

static int is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

int adapter_env_name_ok(const char *s)
{
	if (!s || !is_alpha(*s))
		return 0;
	for (s++; *s; s++)
		if (!is_alpha(*s) && !(*s >= '0' && *s <= '9'))
			return 0;
	return 1;
}

int adapter_number(const json_t *v, double min, double max, double *out)
{
	const char *s;
	char *end;
	double d;

	if (json_is_number(v)) {
		d = json_number_value(v);
	} else if (json_is_string(v)) {
		s = json_string_value(v);
		errno = 0;
		d = strtod(s, &end);
		if (errno || end == s || *end)
			return -1;
	} else {
		return -1;
	}
	if (!(d >= min && d <= max)) /* NaN fails too */
		return -1;
	*out = d;
	return 0;
}
