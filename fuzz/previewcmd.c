/* previewcmd.c - a preview.command template from a config file: the check, then the
 * expansion that follows its shell quoting. */
#include "fuzz.h"

#include "core/previewcmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tmpl = fuzz_strndup(data, size), *cmd = NULL;
	struct err err = ERR_INIT;

	if (!tmpl)
		return 0;
	if (preview_check_command(tmpl, &err) == 0 &&
	    preview_expand_command(&cmd, tmpl, &err) == 0) {
		free(cmd);
	}
	free(tmpl);
	return 0;
}
