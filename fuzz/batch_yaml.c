/* batch_yaml.c - libFuzzer harness: YAML batch files (jobs, defaults, matrix expansion),
 * then format detection and the job steps over what parsed. */
#include <stddef.h>
#include <stdint.h>

#include "batch/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch_list l;
	struct err err = ERR_INIT;

	(void)batch_format_detect(NULL, (const char *)data, size);
	if (batch_parse(&l, (const char *)data, size, "fuzz.yaml", BATCH_FMT_YAML, &err) == 0) {
		/* a matrix can be large: the steps after parsing stay bounded too */
		if (l.n <= 1000) {
			batch_assign_seeds(&l, size);
			batch_split_counts(&l, NULL, NULL, &err);
		}
		batch_list_release(&l);
	}
	return 0;
}
