/* openai.c - the openai adapter's reading of an images answer (b64_json decoded in place
 * before the JSON parser runs) and the check of the image bytes it got (core/image.c, as
 * the adapter does; fuzz/image.c covers raw bytes). */
#include "fuzz.h"

#include "backends/openai.h"
#include "core/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct openai_reply reply;
	struct image_info info;
	struct err err = ERR_INIT;
	char *body = fuzz_strndup(data, size);
	size_t i;

	if (!body)
		return 0;
	if (openai_parse_reply(body, size, &reply, &err) == 0) {
		for (i = 0; i < reply.n; i++)
			if (reply.items[i].data)
				(void)image_check(reply.items[i].data, reply.items[i].len, &info,
						  &err);
		openai_reply_release(&reply);
	}
	free(body);
	return 0;
}
