/* wildcard.c - libFuzzer harness: prompt templates ({a|b}, __name__, escapes), sampled and
 * enumerated, against lists defined in memory (no files read). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch/wildcard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char colors[] = "red\ngreen\n# no\n{light|dark} blue\n";
	static const char nested[] = "__colors__ bird\n__animals/birds__\nowl\n";
	struct wildcards *w;
	struct err err = ERR_INIT;
	char *text, *out, **all;
	int64_t seed = 0;
	size_t n;

	if (size < 8)
		return 0;
	memcpy(&seed, data, 8);
	text = malloc(size - 8 + 1);
	if (!text)
		return 0;
	memcpy(text, data + 8, size - 8);
	text[size - 8] = '\0'; /* prompts are C strings: a NUL ends one */
	if (wildcards_new(&w, NULL, &err) == 0) {
		wildcards_define(w, "colors", colors, sizeof(colors) - 1, &err);
		wildcards_define(w, "animals/birds", nested, sizeof(nested) - 1, &err);
		if (wildcards_pick(&out, w, text, seed, &err) == 0)
			free(out);
		if (wildcards_expand(&all, &n, w, text, 256, &err) == 0)
			wildcards_strings_free(all, n);
		(void)wildcards_present(text);
		wildcards_free(w);
	}
	free(text);
	return 0;
}
