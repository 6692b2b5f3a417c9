/* test_a1111.c - the pure parts of the a1111 adapter: the txt2img body, the answer with its
 * double-encoded info, the error texts, base64 and PNG trimming, the config slice.  The
 * adapter's static functions are reached by including its source. */
#include "testlib.h"

#include "../../src/backends/a1111.c"

static const struct a1111_params params = {
	.sampler = "DPM++ 2M",
	.scheduler = "Karras",
	.model = "sd15.safetensors",
	.cfg_scale = 6.5,
	.width = 64,
	.height = 48,
	.steps = 12,
};

static struct imagen_request request(int count, int64_t seed)
{
	static json_t *empty;
	struct imagen_request req;

	if (!empty)
		empty = json_object();
	memset(&req, 0, sizeof(req));
	req.prompt = "a lighthouse";
	req.negative_prompt = NULL;
	req.seed = seed;
	req.count = count;
	req.opts = empty;
	return req;
}

/* A tiny real PNG (1x1 RGB) and its base64. */
static const unsigned char tiny_png[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
	0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00,
	0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78,
	0x9c, 0x63, 0x38, 0x11, 0xa0, 0x01, 0x00, 0x03, 0x24, 0x01, 0x41, 0x1d, 0x19, 0x9f,
	0xc4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

static char *b64(const unsigned char *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(n / 3 * 4 + 5), *o = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = tab[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		*o++ = tab[p[i + 2] & 63];
	}
	if (n - i == 1) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = tab[(p[i + 1] & 15) << 2];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* A txt2img answer with n images (the first a "grid" when grid is set) and info text. */
static char *answer(int n, int grid, const char *info_json)
{
	json_t *o = json_object(), *images = json_array();
	char *png64 = b64(tiny_png, sizeof(tiny_png)), *text;
	int i;

	for (i = 0; i < n + (grid ? 1 : 0); i++)
		json_array_append_new(images, json_string(png64));
	json_object_set_new(o, "images", images);
	json_object_set_new(o, "parameters", json_object());
	if (info_json)
		json_object_set_new(o, "info", json_string(info_json));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(png64);
	return text;
}

static void release_all(struct imagen_result *res, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		imagen_result_release(&res[i]);
}

/* ---- request ----------------------------------------------------------------------------- */

static void test_body_has_every_field(void **state)
{
	struct imagen_request req = request(1, 1234);
	json_t *body, *want;

	req.negative_prompt = "blurry";
	body = a1111_build_body(&params, &req);
	want = json(
		"{\"prompt\": \"a lighthouse\", \"negative_prompt\": \"blurry\", \"seed\": 1234,"
		" \"steps\": 12, \"width\": 64, \"height\": 48, \"sampler_name\": \"DPM++ 2M\","
		" \"scheduler\": \"Karras\", \"cfg_scale\": 6.5, \"batch_size\": 1, \"n_iter\": 1,"
		" \"send_images\": true, \"save_images\": false, \"override_settings\":"
		" {\"sd_model_checkpoint\": \"sd15.safetensors\"}}");
	assert_true(json_equal(body, want));
	json_decref(body);
	json_decref(want);
}

static void test_body_batch_and_no_model(void **state)
{
	struct a1111_params p = params;
	struct imagen_request req = request(3, (int64_t)1 << 40);
	json_t *body;

	p.model = NULL;
	body = a1111_build_body(&p, &req);
	assert_int_equal(json_integer_value(json_object_get(body, "batch_size")), 3);
	assert_true(json_integer_value(json_object_get(body, "seed")) == (json_int_t)1 << 40);
	assert_null(json_object_get(body, "override_settings"));
	assert_string_equal(json_string_value(json_object_get(body, "negative_prompt")), "");
	json_decref(body);
}

static void test_opts_override_and_reject(void **state)
{
	struct a1111_params p = params;
	struct err err = ERR_INIT;
	json_t *o = json("{\"sampler\": \"Heun\", \"cfg_scale\": \"4.5\", \"model\": \"xl\"}");

	assert_int_equal(a1111_read_opts(o, &p, &err), 0);
	assert_string_equal(p.sampler, "Heun");
	assert_true(p.cfg_scale == 4.5);
	assert_string_equal(p.model, "xl");
	json_decref(o);

	o = json("{\"schedular\": \"Karras\"}");
	assert_int_equal(a1111_read_opts(o, &p, &err), -1);
	assert_int_equal(err.code, 2);
	assert_non_null(strstr(err.msg, "did you mean 'scheduler'"));
	json_decref(o);

	o = json("{\"cfg_scale\": 1000}");
	assert_int_equal(a1111_read_opts(o, &p, &err), -1);
	json_decref(o);
}

/* ---- response ---------------------------------------------------------------------------- */

static void test_seeds_come_from_the_double_encoded_info(void **state)
{
	struct imagen_request req = request(2, 10);
	struct imagen_result res[2];
	struct err err = ERR_INIT;
	size_t n = 0;
	char *body = answer(
		2, 1,
		"{\"seed\": 700, \"all_seeds\": [700, 705], \"steps\": 9,"
		" \"index_of_first_image\": 1, \"sd_model_name\": \"sd15\","
		" \"infotexts\": [\"grid\", \"first\", \"second\"], \"all_subseeds\": [1, 2]}");

	memset(res, 0, sizeof(res));
	assert_int_equal(a1111_parse_response(body, strlen(body), &params, &req, res, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(res[0].seed, 700);
	assert_int_equal(res[1].seed, 705);
	assert_int_equal(res[0].steps, 9);
	assert_int_equal(res[0].width, 1);
	assert_string_equal(res[0].mime, "image/png");
	assert_string_equal(res[0].model, "sd15.safetensors"); /* the checkpoint asked for */
	assert_null(res[0].cost);
	assert_string_equal(json_string_value(json_object_get(res[0].metadata, "infotext")),
			    "first");
	assert_string_equal(json_string_value(json_object_get(res[1].metadata, "infotext")),
			    "second");
	assert_int_equal(json_integer_value(json_object_get(res[1].metadata, "seed_requested")),
			 11);
	assert_int_equal(json_integer_value(json_object_get(res[1].metadata, "subseed")), 2);
	release_all(res, n);
	free(body);
}

static void test_malformed_info_keeps_the_image(void **state)
{
	struct imagen_request req = request(1, 77);
	struct imagen_result res[1];
	struct err err = ERR_INIT;
	size_t n = 0;
	char *body = answer(1, 0, "{\"seed\": 5");

	memset(res, 0, sizeof(res));
	assert_int_equal(a1111_parse_response(body, strlen(body), &params, &req, res, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(res[0].seed, 77);
	assert_string_equal(json_string_value(json_object_get(res[0].metadata, "info_error")),
			    "info is not valid JSON");
	release_all(res, n);
	free(body);
}

static void test_no_info_in_a_batch_skips_the_grid_by_count(void **state)
{
	struct imagen_request req = request(2, 40);
	struct imagen_result res[2];
	struct err err = ERR_INIT;
	size_t n = 0;
	char *body = answer(2, 1, NULL);

	memset(res, 0, sizeof(res));
	assert_int_equal(a1111_parse_response(body, strlen(body), &params, &req, res, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(res[0].seed, 40);
	assert_int_equal(res[1].seed, 41);
	release_all(res, n);
	free(body);
}

static void test_bad_answers(void **state)
{
	struct imagen_request req = request(1, 1);
	struct imagen_result res[2];
	struct err err = ERR_INIT;
	size_t n = 7;
	const char *garbage = "<html>nope</html>", *noimg = "{\"images\": [], \"info\": \"{}\"}",
		   *notpng = "{\"images\": [\"R0lGODlhAQABAAAAACw=\"]}",
		   *badb64 = "{\"images\": [\"****\"]}";

	memset(res, 0, sizeof(res));
	assert_int_equal(
		a1111_parse_response(garbage, strlen(garbage), &params, &req, res, &n, &err), -1);
	assert_int_equal(n, 0);
	assert_string_equal(err.msg, "upstream returned malformed JSON (POST /sdapi/v1/txt2img)");
	assert_int_equal(a1111_parse_response(noimg, strlen(noimg), &params, &req, res, &n, &err),
			 -1);
	assert_string_equal(err.msg, "upstream returned no images (POST /sdapi/v1/txt2img)");
	assert_int_equal(a1111_parse_response(notpng, strlen(notpng), &params, &req, res, &n, &err),
			 -1);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err.msg, "image 1 of the response is not a usable image"));
	assert_int_equal(a1111_parse_response(badb64, strlen(badb64), &params, &req, res, &n, &err),
			 -1);
	assert_string_equal(err.msg, "image 1 of the response is not valid base64");

	/* two asked, one came: the one is kept */
	req = request(2, 1);
	{
		char *body = answer(1, 0, "{\"all_seeds\": [3]}");

		assert_int_equal(
			a1111_parse_response(body, strlen(body), &params, &req, res, &n, &err), -1);
		assert_int_equal(n, 1);
		assert_int_equal(res[0].seed, 3);
		assert_string_equal(err.msg, "upstream returned 1 image, 2 were asked for");
		release_all(res, n);
		free(body);
	}
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void test_error_texts(void **state)
{
	struct http_response r;
	char out[512];

	memset(&r, 0, sizeof(r));
	r.status = 422;
	buf_adds(&r.body, "{\"detail\": [{\"loc\": [\"body\", \"override_settings\", 0], \"msg\": "
			  "\"bad\", \"type\": \"x\"}]}");
	a1111_error_text(out, sizeof(out), &r);
	assert_string_equal(out, "HTTP 422: override_settings.0: bad");
	buf_release(&r.body);

	r.status = 401;
	buf_adds(&r.body, "{\"error\": \"HTTPException\", \"detail\": \"Incorrect username or "
			  "password\", \"body\": \"\", \"errors\": \"401: Incorrect\"}");
	a1111_error_text(out, sizeof(out), &r);
	assert_string_equal(out, "HTTP 401: Incorrect username or password");
	buf_release(&r.body);

	r.status = 500;
	buf_adds(&r.body, "{\"error\": \"RuntimeError\", \"detail\": \"\", \"body\": \"\", "
			  "\"errors\": \"line one\\nline two\"}");
	a1111_error_text(out, sizeof(out), &r);
	assert_string_equal(out, "HTTP 500: RuntimeError: line one line two");
	buf_release(&r.body);

	r.status = 502;
	a1111_error_text(out, sizeof(out), &r);
	assert_string_equal(out, "HTTP 502");
}

static void test_config_slice(void **state)
{
	struct a1111_cfg c;
	struct err err = ERR_INIT;
	json_t *cfg;

	assert_int_equal(a1111_read_cfg("sd", NULL, &c, &err), 0);
	assert_string_equal(c.base_url, "http://127.0.0.1:7860");
	assert_true(c.cfg_scale == 7.0);

	cfg = json("{\"type\": \"a1111\", \"cfg_scale\": 5, \"model\": null}");
	assert_int_equal(a1111_read_cfg("sd", cfg, &c, &err), 0);
	assert_true(c.cfg_scale == 5.0);
	assert_null(c.model);
	json_decref(cfg);

	cfg = json("{\"type\": \"a1111\", \"height\": 100}");
	assert_int_equal(a1111_read_cfg("sd", cfg, &c, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.key, "height");
	json_decref(cfg);

	cfg = json("{\"type\": \"a1111\", \"base_url\": \"http://u:p@h\"}");
	assert_int_equal(a1111_read_cfg("sd", cfg, &c, &err), -1);
	assert_null(strstr(err.msg, "u:p")); /* the URL is not echoed */
	json_decref(cfg);
}

static void test_open_reads_credentials(void **state)
{
	struct backend *b = NULL;
	struct err err = ERR_INIT;
	json_t *cfg = json("{\"type\": \"a1111\", \"auth_env\": \"TEST_A1111_AUTH\","
			   " \"base_url\": \"http://h:1//\"}");

	unsetenv("TEST_A1111_AUTH");
	assert_int_equal(a1111_open(&b, "sd", cfg, &err), -1);
	assert_string_equal(err.msg,
			    "TEST_A1111_AUTH is not set (auth_env: it should hold user:password)");
	setenv("TEST_A1111_AUTH", "u:secret", 1);
	assert_int_equal(a1111_open(&b, "sd", cfg, &err), 0);
	assert_string_equal(((struct a1111_backend *)b)->userpwd, "u:secret");
	assert_string_equal(((struct a1111_backend *)b)->base_url, "http://h:1");
	a1111_close(b);
	json_decref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_has_every_field),
		cmocka_unit_test(test_body_batch_and_no_model),
		cmocka_unit_test(test_opts_override_and_reject),
		cmocka_unit_test(test_seeds_come_from_the_double_encoded_info),
		cmocka_unit_test(test_malformed_info_keeps_the_image),
		cmocka_unit_test(test_no_info_in_a_batch_skips_the_grid_by_count),
		cmocka_unit_test(test_bad_answers),
		cmocka_unit_test(test_error_texts),
		cmocka_unit_test(test_config_slice),
		cmocka_unit_test(test_open_reads_credentials),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
