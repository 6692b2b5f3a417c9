/* openai.c - the openai adapter's reading of an images answer (b64_json decoded in place
 * before the JSON parser runs) and its check of the image bytes it got. */
#include "fuzz.h"

#include "backends/openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct openai_reply reply;
	struct err err = ERR_INIT;
	char *body = fuzz_strndup(data, size), mime[32];
	int w, h;
	size_t i;

	if (!body)
		return 0;
	if (openai_parse_reply(body, size, &reply, &err) == 0) {
		for (i = 0; i < reply.n; i++)
			if (reply.items[i].data)
				(void)openai_check_image(reply.items[i].data, reply.items[i].len,
							 mime, sizeof(mime), &w, &h, &err);
		openai_reply_release(&reply);
	}
	free(body);
	/* the raw bytes as an image, as a URL download would hand them over */
	(void)openai_check_image(data, size, mime, sizeof(mime), &w, &h, &err);
	return 0;
}
