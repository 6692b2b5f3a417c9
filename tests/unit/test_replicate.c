/* test_replicate.c - the replicate adapter through its ops table, where no server is needed:
 * config validation messages, open() failing fast, --set checks before any request, and
 * the behaviour against a dead upstream and after Ctrl-C.  The wire protocol itself is
 * covered by tests/e2e/82-replicate.sh against tests/fake/replicate.py. */
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "util/cancel.h"
#include "net/http.h"

#define TOKEN_VAR "IMAGEN_TEST_REPLICATE_TOKEN"

static const struct backend_ops *ops(void)
{
	const struct backend_ops *o = backend_find("replicate");

	assert_non_null(o);
	return o;
}

/* validate() on a slice; returns its status, the message and key in *err. */
static int validate(const char *cfg_text, struct err *err)
{
	json_t *cfg = json(cfg_text);
	int rc;

	err_clear(err);
	rc = ops()->validate("rep", cfg, err);
	json_decref(cfg);
	return rc;
}

static void expect_invalid(const char *cfg_text, const char *key, const char *msg)
{
	struct err err = ERR_INIT;

	if (validate(cfg_text, &err) == 0)
		fail_msg("accepted: %s", cfg_text);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.key, key);
	if (!strstr(err.msg, msg))
		fail_msg("message '%s' lacks '%s'", err.msg, msg);
}

static struct backend *open_rep(const char *cfg_text, struct err *err)
{
	json_t *cfg = json(cfg_text);
	struct backend *b = NULL;

	err_clear(err);
	if (ops()->open(&b, "rep", cfg, err) < 0)
		b = NULL;
	json_decref(cfg);
	return b;
}

static int generate(struct backend *b, const char *opts_text, struct err *err)
{
	json_t *opts = json(opts_text);
	struct imagen_result res[4];
	struct imagen_request req = {
		.prompt = "a lighthouse",
		.seed = 42,
		.style = "none",
		.opts = opts,
		.count = 1,
	};
	size_t n = 99, i;
	int rc;

	memset(res, 0, sizeof(res));
	err_clear(err);
	rc = b->ops->generate(b, &req, res, &n, err);
	for (i = 0; i < n && i < 4; i++)
		imagen_result_release(&res[i]);
	json_decref(opts);
	if (rc < 0)
		assert_int_equal(n, 0);
	return rc;
}

static void test_registered_with_a_batch_of_four(void **state)
{
	assert_string_equal(ops()->type, "replicate");
	assert_int_equal(ops()->max_batch, 4);
}

static void test_validate_accepts_every_key(void **state)
{
	struct err err = ERR_INIT;

	assert_int_equal(validate("{\"type\": \"replicate\", \"model\": "
				  "\"black-forest-labs/flux-schnell\"}",
				  &err),
			 0);
	if (validate("{\"type\": \"replicate\", \"model\": \"acme/sdxl:5599ed30\", "
		     "\"token_env\": \"MY_TOKEN\", \"base_url\": \"http://127.0.0.1:9/v1/\", "
		     "\"input\": {\"guidance\": 3.5, \"width\": null}, \"prices\": {\"acme/sdxl\": "
		     "{\"per_second\": 0.0014}}, \"wait\": 0, \"poll_ms\": 10, \"timeout\": 30, "
		     "\"max_outputs\": 1, \"size_input\": \"none\", \"negative_prompt_key\": \"\", "
		     "\"input_map\": {\"image\": \"input_image\", \"mask\": null, "
		     "\"strength\": \"strength\"}}",
		     &err))
		fail_msg("refused: %s", err.msg);
}

static void test_validate_messages_name_the_key(void **state)
{
	expect_invalid("{\"type\": \"replicate\"}", "", "backends.rep: model is required");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"flux\"}", "model",
		       "backends.rep.model: 'flux' is not owner/name or owner/name:version");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b:\"}", "model", "is not owner");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b/c\"}", "model", "is not owner");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"modle\": 1}", "modle",
		       "unknown key 'modle' in backends.rep (did you mean 'model'?)");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"token_env\": \"1X\"}",
		       "token_env", "'1X' is not an environment variable name");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"base_url\": \"ftp://x\"}",
		       "base_url", "expected an http:// or https:// URL");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"wait\": 61}", "wait",
		       "backends.rep.wait: 61 is out of range (0..60)");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"max_outputs\": 5}",
		       "max_outputs", "5 is out of range (1..4)");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"input\": [1]}", "input",
		       "expected a mapping of model inputs");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"input\": {\"num_outputs\": "
		       "2}}",
		       "input", "backends.rep.input.num_outputs: imagen sets num_outputs itself");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"prices\": {\"a/b\": "
		       "{\"per_image\": -1}}}",
		       "prices", "backends.rep.prices.a/b.per_image: expected a price in USD");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"prices\": {\"a/b\": "
		       "{\"per_img\": 1}}}",
		       "prices", "unknown key 'per_img' (known: per_image, per_second)");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"prices\": {\"a/b\": {}}}",
		       "prices", "give exactly one of per_image, per_second");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"size_input\": \"wh\"}",
		       "size_input", "'wh' is not one of width_height, aspect_ratio, none");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"negative_prompt_key\": "
		       "\"seed\"}",
		       "negative_prompt_key", "'seed' is not a usable input name");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"input_map\": [1]}",
		       "input_map", "backends.rep.input_map: expected a mapping");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"input_map\": "
		       "{\"mask\": \"seed\"}}",
		       "input_map", "backends.rep.input_map.mask: expected a model input name");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"input_map\": "
		       "{\"image\": \"a b\"}}",
		       "input_map", "backends.rep.input_map.image: expected a model input name");
	expect_invalid("{\"type\": \"replicate\", \"model\": \"a/b\", \"input_map\": "
		       "{\"strenght\": null}}",
		       "input_map",
		       "unknown key 'strenght' (did you mean 'strength'?) (known: image, "
		       "mask, strength)");
}

static void test_open_needs_the_token(void **state)
{
	struct err err = ERR_INIT;
	struct backend *b;

	unsetenv(TOKEN_VAR);
	b = open_rep("{\"type\": \"replicate\", \"model\": \"a/b\", \"token_env\": \"" TOKEN_VAR
		     "\"}",
		     &err);
	assert_null(b);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, TOKEN_VAR " is not set");
	setenv(TOKEN_VAR, "", 1);
	assert_null(open_rep("{\"type\": \"replicate\", \"model\": \"a/b\", \"token_env\": "
			     "\"" TOKEN_VAR "\"}",
			     &err));
	assert_string_equal(err.msg, TOKEN_VAR " is not set");
	setenv(TOKEN_VAR, "r8_abc\r\nX-Evil: 1", 1);
	assert_null(open_rep("{\"type\": \"replicate\", \"model\": \"a/b\", \"token_env\": "
			     "\"" TOKEN_VAR "\"}",
			     &err));
	assert_string_equal(err.msg, TOKEN_VAR " holds a line break");
	unsetenv(TOKEN_VAR);
}

static struct backend *open_dead(void)
{
	struct err err = ERR_INIT;
	struct backend *b;

	setenv(TOKEN_VAR, "r8_unit_test_token", 1);
	/* port 1 on loopback: nothing listens, so every request is refused at once */
	b = open_rep("{\"type\": \"replicate\", \"model\": \"black-forest-labs/flux-schnell\", "
		     "\"token_env\": \"" TOKEN_VAR "\", \"base_url\": \"http://127.0.0.1:1/v1\"}",
		     &err);
	if (!b)
		fail_msg("open failed: %s", err.msg);
	assert_string_equal(b->name, "rep");
	return b;
}

static void test_reserved_options_refused_before_any_request(void **state)
{
	struct backend *b = open_dead();
	struct err err = ERR_INIT;

	assert_int_equal(generate(b, "{\"seed\": 1}", &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "option 'seed' is set by imagen (use the prompt argument, "
				     "--seed or --count)");
	assert_int_equal(generate(b, "{\"num_outputs\": 2}", &err), -1);
	assert_int_equal(err.code, 2);
	assert_int_equal(generate(b, "{\"prompt\": \"x\"}", &err), -1);
	assert_int_equal(err.code, 2);
	b->ops->close(b);
}

static void test_dead_upstream_is_a_clear_failure(void **state)
{
	struct backend *b = open_dead();
	struct err err = ERR_INIT;

	setenv("IMAGEN_HTTP_RETRIES", "2", 1);
	setenv("IMAGEN_HTTP_RETRY_BASE_MS", "1", 1);
	assert_int_equal(generate(b, "{}", &err), -1);
	assert_int_equal(err.code, 1);
	assert_string_equal(err.msg, "POST /v1/models/black-forest-labs/flux-schnell/predictions: "
				     "after 2 attempts: cannot connect to 127.0.0.1:1 "
				     "(connection refused)");
	unsetenv("IMAGEN_HTTP_RETRIES");
	unsetenv("IMAGEN_HTTP_RETRY_BASE_MS");
	b->ops->close(b);
}

static void test_interrupted_before_the_request(void **state)
{
	struct backend *b = open_dead();
	struct err err = ERR_INIT;

	cancel_set_for_test(1);
	assert_int_equal(generate(b, "{}", &err), -1);
	cancel_set_for_test(0);
	assert_int_equal(err.code, HTTP_EXIT_CANCELED);
	assert_string_equal(err.msg, "interrupted");
	b->ops->close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registered_with_a_batch_of_four),
		cmocka_unit_test(test_validate_accepts_every_key),
		cmocka_unit_test(test_validate_messages_name_the_key),
		cmocka_unit_test(test_open_needs_the_token),
		cmocka_unit_test(test_reserved_options_refused_before_any_request),
		cmocka_unit_test(test_dead_upstream_is_a_clear_failure),
		cmocka_unit_test(test_interrupted_before_the_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
