/* search_query.c - libFuzzer harness for the search language (catalog/query.c): any bytes
 * are parsed; what parses is compiled.  Neither may crash, leak or read out of bounds, a
 * failure must name a column inside the query, and a success must give SQL whose
 * parameter count matches its placeholders. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count_placeholders(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++)
		n += *s == '?';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct query q;
	struct q_sql s;
	struct err err = ERR_INIT;
	size_t col = 0;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0'; /* the query is a C string: it ends at the first NUL */
	if (query_parse(&q, text, &col, &err) < 0) {
		if (err.code == 2 && (col < 1 || col > strlen(text) + 1))
			abort();
	} else {
		if (query_compile(&s, &q, (time_t)1795527000, &err) == 0) {
			/* a patterned value never carries a '?' into the SQL: it is bound */
			if (count_placeholders(s.where) != s.nparams)
				abort();
			q_sql_free(&s);
		}
		query_free(&q);
	}
	free(text);
	return 0;
}
