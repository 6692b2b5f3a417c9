/* test_http.c - the retry policy as a pure function, URL redaction, error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cancel.h"
#include "cost.h"
#include "http.h"

static const struct retry_policy pol = { 4, 0.5, 30.0, 120.0 };

static void test_retryable_statuses(void **state)
{
	assert_true(http_status_retryable(0)); /* transport error */
	assert_true(http_status_retryable(429));
	assert_true(http_status_retryable(500));
	assert_true(http_status_retryable(502));
	assert_true(http_status_retryable(503));
	assert_true(http_status_retryable(599));
	assert_false(http_status_retryable(200));
	assert_false(http_status_retryable(400));
	assert_false(http_status_retryable(401));
	assert_false(http_status_retryable(404));
	assert_false(http_status_retryable(409));
	assert_false(http_status_retryable(422));
	assert_false(http_status_retryable(600));
}

static void test_other_4xx_never_retried(void **state)
{
	double d = -7;

	assert_int_equal(retry_decide(&pol, 1, 400, -1, 0, 0.5, &d), 0);
	assert_int_equal(retry_decide(&pol, 1, 422, 5, 0, 0.5, &d), 0); /* even with Retry-After */
	assert_int_equal(retry_decide(&pol, 1, 401, -1, 0, 0.5, &d), 0);
	assert_true(d == -7); /* untouched */
}

static void test_exponential_backoff_with_jitter_bounds(void **state)
{
	double lo, hi;
	int a;

	/* equal jitter: delay in [step/2, step) where step = base * 2^(attempt-1) */
	for (a = 1; a <= 3; a++) {
		double step = 0.5 * (double)(1 << (a - 1));

		assert_int_equal(retry_decide(&pol, a, 503, -1, 0, 0.0, &lo), 1);
		assert_int_equal(retry_decide(&pol, a, 503, -1, 0, 0.999, &hi), 1);
		assert_true(lo >= step / 2 - 1e-9 && lo <= step / 2 + 1e-9);
		assert_true(hi < step && hi > step * 0.99);
	}
}

static void test_attempts_are_bounded(void **state)
{
	double d;

	assert_int_equal(retry_decide(&pol, 3, 0, -1, 0, 0.3, &d), 1);
	assert_int_equal(retry_decide(&pol, 4, 0, -1, 0, 0.3, &d), 0); /* 4 of 4 done */
	assert_int_equal(retry_decide(&pol, 10, 500, -1, 0, 0.3, &d), 0);
}

static void test_retry_after_honoured_and_capped(void **state)
{
	double d;

	assert_int_equal(retry_decide(&pol, 1, 429, 7, 0, 0.9, &d), 1);
	assert_true(d == 7.0); /* exactly what the server asked, no jitter */
	assert_int_equal(retry_decide(&pol, 1, 503, 0, 0, 0.9, &d), 1);
	assert_true(d == 0.0);
	assert_int_equal(retry_decide(&pol, 1, 429, 3600, 0, 0.9, &d), 1);
	assert_true(d == 30.0); /* capped at max_delay */
}

static void test_total_time_bounded(void **state)
{
	double d;

	/* the next attempt would start after max_total: give up */
	assert_int_equal(retry_decide(&pol, 1, 503, 10, 115, 0.5, &d), 0);
	assert_int_equal(retry_decide(&pol, 1, 503, 4, 115, 0.5, &d), 1);
	assert_true(d == 4.0);
}

static void test_default_policy_env(void **state)
{
	struct retry_policy p;

	unsetenv("IMAGEN_HTTP_RETRIES");
	unsetenv("IMAGEN_HTTP_RETRY_BASE_MS");
	p = http_retry_default();
	assert_int_equal(p.max_attempts, 4);
	assert_true(p.base_s == 0.5);
	setenv("IMAGEN_HTTP_RETRIES", "2", 1);
	setenv("IMAGEN_HTTP_RETRY_BASE_MS", "20", 1);
	p = http_retry_default();
	assert_int_equal(p.max_attempts, 2);
	assert_true(p.base_s > 0.0199 && p.base_s < 0.0201);
	setenv("IMAGEN_HTTP_RETRIES", "zero", 1); /* garbage: the default stands */
	p = http_retry_default();
	assert_int_equal(p.max_attempts, 4);
	unsetenv("IMAGEN_HTTP_RETRIES");
	unsetenv("IMAGEN_HTTP_RETRY_BASE_MS");
}

static void redacts(const char *in, const char *want)
{
	char out[512];

	http_redact_url(out, sizeof(out), in);
	assert_string_equal(out, want);
}

static void test_redact_url(void **state)
{
	redacts("https://api.replicate.com/v1/predictions", "https://api.replicate.com/v1/predictions");
	redacts("http://user:hunter2@gpu:7860/sdapi/v1/txt2img", "http://gpu:7860/sdapi/v1/txt2img");
	redacts("https://x.supabase.co/storage/v1/object/sign/b/2026/a.png?token=eyJhbGc.x.y",
		"https://x.supabase.co/storage/v1/object/sign/b/2026/a.png?token=REDACTED");
	redacts("https://s3/x.png?X-Amz-Signature=abc&X-Amz-Date=1&size=2",
		"https://s3/x.png?X-Amz-Signature=REDACTED&X-Amz-Date=REDACTED&size=2");
	redacts("http://h/view?filename=a.png&type=output&api_key=sk-1#frag",
		"http://h/view?filename=a.png&type=output&api_key=REDACTED");
	redacts("http://h/ws?clientId=abc", "http://h/ws?clientId=abc");
}

static void describes(long status, const char *body, const char *want)
{
	struct http_response r;
	char out[512];

	memset(&r, 0, sizeof(r));
	r.status = status;
	if (body)
		buf_adds(&r.body, body);
	http_describe_status(out, sizeof(out), &r);
	assert_string_equal(out, want);
	http_response_release(&r);
}

static void test_describe_status(void **state)
{
	describes(400, "{\"error\":{\"message\":\"Invalid size\",\"type\":\"invalid_request_error\"}}",
		  "HTTP 400: Invalid size");
	describes(422, "{\"detail\":\"Invalid version or not permitted\"}",
		  "HTTP 422: Invalid version or not permitted");
	describes(422, "{\"detail\":[{\"loc\":[\"body\",\"steps\"],\"msg\":\"value is not a valid integer\"}]}",
		  "HTTP 422: value is not a valid integer");
	describes(400, "{\"code\":\"23502\",\"message\":\"null value in column\"}",
		  "HTTP 400: null value in column");
	describes(503, "Service Unavailable\nmore", "HTTP 503: Service Unavailable");
	describes(502, "<html><body>Bad gateway</body></html>", "HTTP 502");
	describes(500, NULL, "HTTP 500");
	describes(400, "line\x01with\tcontrol", "HTTP 400: linewith control");
}

static void test_escape(void **state)
{
	char *s = http_escape("2026-11-24/a fox & hound?.png");

	assert_string_equal(s, "2026-11-24/a%20fox%20%26%20hound%3F.png");
	free(s);
}

static void test_request_refused_when_canceled(void **state)
{
	struct http_request rq = { .url = "http://127.0.0.1:9/" };
	struct http_response rs;
	struct err err = ERR_INIT;

	memset(&rs, 0, sizeof(rs));
	cancel_set_for_test(1);
	assert_int_equal(http_request(&rq, &rs, &err), -1);
	assert_int_equal(err.code, HTTP_EXIT_CANCELED);
	cancel_set_for_test(0);
	http_response_release(&rs);
}

static void test_connection_refused_is_a_transport_error(void **state)
{
	/* port 1 on loopback: nothing listens there in a test sandbox */
	struct http_request rq = { .url = "http://127.0.0.1:1/x", .connect_timeout_ms = 2000 };
	struct retry_policy p = { 2, 0.01, 0.05, 5 };
	struct http_response rs;
	struct err err = ERR_INIT;

	memset(&rs, 0, sizeof(rs));
	assert_int_equal(http_request_retry(&rq, &p, &rs, &err), -1);
	assert_int_equal(rs.status, 0);
	assert_int_equal(rs.attempts, 2);
	assert_non_null(strstr(err.msg, "after 2 attempts"));
	assert_non_null(strstr(err.msg, "127.0.0.1:1"));
	http_response_release(&rs);
}

static void test_cost_records(void **state)
{
	json_t *c = cost_known(0.006, "per-image price", "default", json_pack("{s:i}", "images", 2));

	assert_true(cost_usd(c) > 0.00599 && cost_usd(c) < 0.00601);
	assert_string_equal(json_string_value(json_object_get(c, "method")), "per-image price");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "detail"), "images")), 2);
	json_decref(c);
	c = cost_unknown("no price for model x");
	assert_true(json_is_null(json_object_get(c, "usd")));
	assert_true(cost_usd(c) < 0);
	assert_string_equal(json_string_value(json_object_get(c, "reason")), "no price for model x");
	json_decref(c);
	assert_true(cost_usd(NULL) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retryable_statuses),
		cmocka_unit_test(test_other_4xx_never_retried),
		cmocka_unit_test(test_exponential_backoff_with_jitter_bounds),
		cmocka_unit_test(test_attempts_are_bounded),
		cmocka_unit_test(test_retry_after_honoured_and_capped),
		cmocka_unit_test(test_total_time_bounded),
		cmocka_unit_test(test_default_policy_env),
		cmocka_unit_test(test_redact_url),
		cmocka_unit_test(test_describe_status),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_request_refused_when_canceled),
		cmocka_unit_test(test_connection_refused_is_a_transport_error),
		cmocka_unit_test(test_cost_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
