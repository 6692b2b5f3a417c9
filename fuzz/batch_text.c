/* batch_text.c - libFuzzer harness: plain-text batch files (one prompt per line). */
#include <stddef.h>
#include <stdint.h>

#include "batch/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch_list l;
	struct err err = ERR_INIT;

	if (batch_parse(&l, (const char *)data, size, "fuzz.txt", BATCH_FMT_TEXT, &err) == 0)
		batch_list_release(&l);
	return 0;
}
