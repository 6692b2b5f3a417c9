/* a1111.c - the a1111 adapter's reading of a txt2img answer: JSON, the double-encoded
 * `info`, base64 images checked as PNG/JPEG/WebP, seeds and metadata.  The parser is
 * static: the adapter's source is included, as tests/unit/test_a1111.c does. */
#include "fuzz.h"

#include "backends/a1111.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct a1111_params p = { "DPM++ 2M", "Karras", NULL, 7, 64, 64, 20 };
	struct imagen_result res[4];
	struct imagen_request req;
	struct err err = ERR_INIT;
	json_t *opts = json_object();
	size_t n = 0, i;

	memset(&req, 0, sizeof(req));
	memset(res, 0, sizeof(res));
	req.prompt = "fuzz";
	req.seed = 1;
	if (!size) {
		json_decref(opts);
		return 0;
	}
	/* the first byte asks for one to three images (a grid comes first with more) */
	req.count = 1 + data[0] % 3;
	req.room = 4;
	req.opts = opts;
	(void)a1111_parse_response((const char *)data + 1, size - 1, &p, &req, res, &n, &err);
	if (n > (size_t)req.count)
		abort();
	for (i = 0; i < n; i++)
		imagen_result_release(&res[i]);
	json_decref(opts);
	return 0;
}
