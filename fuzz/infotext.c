/* infotext.c - the A1111 `parameters` text of any PNG (inspect, --from): parse, then
 * write back what was read and parse that again. */
#include "fuzz.h"

#include "core/infotext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size), *prompt, *neg, *again;
	struct err err = ERR_INIT;
	json_t *params;

	if (!text)
		return 0;
	if (infotext_parse(text, &prompt, &neg, &params, &err) == 0) {
		/* what imagen writes from a parsed text must parse too */
		again = infotext_format(prompt, neg, params);
		free(prompt);
		free(neg);
		json_decref(params);
		if (again) {
			if (infotext_parse(again, &prompt, &neg, &params, &err) != 0)
				abort();
			free(prompt);
			free(neg);
			json_decref(params);
			free(again);
		}
	}
	free(text);
	return 0;
}
