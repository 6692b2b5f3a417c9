/* batch_jsonl.c - libFuzzer harness: JSON Lines batch files (one job object per line),
 * the key positions found for messages included. */
#include <stddef.h>
#include <stdint.h>

#include "batch/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch_list l;
	struct err err = ERR_INIT;

	if (batch_parse(&l, (const char *)data, size, "fuzz.jsonl", BATCH_FMT_JSONL, &err) == 0)
		batch_list_release(&l);
	return 0;
}
