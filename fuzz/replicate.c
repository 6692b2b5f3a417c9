/* replicate.c - the replicate adapter's reading of a prediction answer: the status check
 * with the error body of a failure, the prediction fields (timestamps, error text, logs),
 * and every output URL (data: URLs decoded by util/base64.c as the adapter does, hosts judged).  The readers are static: the
 * adapter's source is included. */
#include "fuzz.h"

#include "backends/replicate.c"

static void one_output(const char *u)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	char red[2048];

	if (!strncmp(u, "data:", 5)) {
		struct err err = ERR_INIT;

		if (base64_decode_text(&bytes, &len, u, strlen(u), &err) == 0)
			free(bytes);
		return;
	}
	(void)same_origin(u, "https://api.replicate.com/v1");
	(void)delivery_host(u);
	url_path(red, sizeof(red), u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 200, 201, 422, 500 };
	struct http_response resp;
	struct err err = ERR_INIT;
	const json_t *out, *v;
	char why[400];
	json_t *pred, *logs;
	size_t i;

	if (!size)
		return 0;
	memset(&resp, 0, sizeof(resp));
	resp.status = statuses[data[0] % 4];
	resp.attempts = 1;
	if (buf_add(&resp.body, data + 1, size - 1) < 0)
		return 0;
	pred = rp_parse(&resp, "POST", "https://api.replicate.com/v1/predictions", &err);
	http_response_release(&resp);
	if (!pred)
		return 0;
	err_clear(&err);
	if (rp_check_prediction(pred, "GET", "https://api.replicate.com/v1/predictions/x", &err) ==
	    0)
		(void)terminal_status(jstr(pred, "status"));
	(void)parse_utc(jstr(pred, "created_at"));
	text_clean(why, sizeof(why), jstr(pred, "error"));
	logs = logs_tail(pred);
	json_decref(logs);
	out = json_object_get(pred, "output");
	if (json_is_string(out))
		one_output(json_string_value(out));
	json_array_foreach (out, i, v)
		if (json_is_string(v))
			one_output(json_string_value(v));
	json_decref(pred);
	return 0;
}
