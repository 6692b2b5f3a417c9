/* repro.c - --from on any file: a PNG's imagen or parameters chunk, or a sidecar. */
#include "fuzz.h"

#include "core/meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct repro r;
	struct err err = ERR_INIT;
	char path[64];
	int fd = -1;
	json_t *opts;

	if (!fuzz_file(&fd, path, data, size))
		return 0;
	if (repro_load(&r, path, &err) == 0) {
		opts = json_object();
		(void)repro_backend_options(&r, "a1111", opts, &err);
		json_decref(opts);
		repro_release(&r);
	}
	close(fd);
	return 0;
}
