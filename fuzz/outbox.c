/* outbox.c - the cloud sync outbox file (imagen sync), which any earlier run, another
 * version of imagen or a hand edit may have left in any state. */
#include "fuzz.h"

#include "cloud/outbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = ERR_INIT;
	json_t *items = NULL;
	char path[128];

	/* a real directory: the outbox takes a lock file beside itself */
	if (!fuzz_dir_file(path, data, size))
		return 0;
	if (outbox_load(&items, path, &err) == 0) {
		(void)outbox_find(items, "/x.png");
		json_decref(items);
	}
	return 0;
}
