/* test_http.c - the retry policy as a pure function, URL redaction, error texts. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/cancel.h"
#include "core/cost.h"
#include "net/http.h"

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
	double d = -7;

	assert_int_equal(retry_decide(&pol, 1, 429, 7, 0, 0.9, &d), 1);
	assert_true(d == 7.0); /* exactly what the server asked, no jitter */
	assert_int_equal(retry_decide(&pol, 1, 503, 0, 0, 0.9, &d), 1);
	assert_true(d == 0.0);
	assert_int_equal(retry_decide(&pol, 1, 429, 30, 0, 0.9, &d), 1);
	assert_true(d == 30.0); /* up to max_delay: waited in full */
	d = -7;
	/* longer than we would wait: give up rather than come back before the server said */
	assert_int_equal(retry_decide(&pol, 1, 429, 3600, 0, 0.9, &d), 0);
	assert_int_equal(retry_decide(&pol, 1, 503, 30.5, 0, 0.9, &d), 0);
	assert_true(d == -7); /* untouched */
	/* the backoff itself is still capped at max_delay */
	assert_int_equal(retry_decide(&pol, 3, 503, -1, 0, 0.999, &d), 1);
	{
		struct retry_policy small = { 10, 8.0, 10.0, 120.0 };

		assert_int_equal(retry_decide(&small, 4, 503, -1, 0, 0.999, &d), 1);
		assert_true(d == 10.0); /* 8 * 2^3 * ~1 = 64, capped */
	}
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
	redacts("https://api.replicate.com/v1/predictions",
		"https://api.replicate.com/v1/predictions");
	redacts("http://user:hunter2@gpu:7860/sdapi/v1/txt2img",
		"http://gpu:7860/sdapi/v1/txt2img");
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
	describes(400,
		  "{\"error\":{\"message\":\"Invalid size\",\"type\":\"invalid_request_error\"}}",
		  "HTTP 400: Invalid size");
	describes(422, "{\"detail\":\"Invalid version or not permitted\"}",
		  "HTTP 422: Invalid version or not permitted");
	describes(422,
		  "{\"detail\":[{\"loc\":[\"body\",\"steps\"],\"msg\":\"value is not a valid "
		  "integer\"}]}",
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

/* Nothing listens: a transport error, retried - for a POST too, which never left, so
 * sending it again cannot run it twice. */
static void test_connection_refused_is_a_transport_error(void **state)
{
	/* port 1 on loopback: nothing listens there in a test sandbox */
	struct http_request rq = { .url = "http://127.0.0.1:1/x", .connect_timeout_ms = 2000 };
	struct retry_policy p = { 2, 0.01, 0.05, 5 };
	struct http_response rs;
	struct err err = ERR_INIT;
	int post;

	memset(&rs, 0, sizeof(rs));
	for (post = 0; post < 2; post++) {
		rq.method = post ? "POST" : "GET";
		rq.body = post ? "{}" : NULL;
		rq.body_len = post ? 2 : 0;
		assert_int_equal(http_request_retry(&rq, &p, &rs, &err), -1);
		assert_int_equal(rs.status, 0);
		assert_int_equal(rs.attempts, 2);
		assert_false(rs.sent);
		assert_non_null(strstr(err.msg, "after 2 attempts"));
		assert_non_null(strstr(err.msg, "127.0.0.1:1 (connection refused)"));
		assert_null(strstr(err.msg, "not sent again"));
		/* a submission that never left says so; a GET starts no work upstream */
		assert_int_equal(err.kind, post ? ERR_KIND_UNSENT : ERR_KIND_NONE);
	}
	http_response_release(&rs);
}

static void test_cost_records(void **state)
{
	json_t *c =
		cost_known(0.006, "per-image price", "default", json_pack("{s:i}", "images", 2));

	assert_true(cost_usd(c) > 0.00599 && cost_usd(c) < 0.00601);
	assert_string_equal(json_string_value(json_object_get(c, "method")), "per-image price");
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(c, "detail"), "images")), 2);
	json_decref(c);
	c = cost_unknown("no price for model x");
	assert_true(json_is_null(json_object_get(c, "usd")));
	assert_true(cost_usd(c) < 0);
	assert_string_equal(json_string_value(json_object_get(c, "reason")),
			    "no price for model x");
	json_decref(c);
	assert_true(cost_usd(NULL) < 0);
}

/* A one-shot loopback server: answers each connection with the canned bytes in turn
 * (after reading the request head), so the client side of http.c meets a real socket. */
struct canned {
	int fd;
	const char *answers[5]; /* NULL: hold the connection hold_ms without answering */
	size_t n;
	int hold_ms;
	int linger_ms;      /* after the n answers, count connections for this long (0: stop) */
	int accepted;       /* connections the client made (those beyond n are counted and closed
			     * unanswered: a retry that should not have happened) */
	char request[4096]; /* the last request head received */
};

static void *serve(void *arg)
{
	struct canned *c = arg;
	size_t i;

	for (i = 0;; i++) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t got, off = 0;
		int s;

		/* wait a while for connections beyond the script: the test counts them */
		if ((i >= c->n && !c->linger_ms) ||
		    poll(&pfd, 1, i < c->n ? 10000 : c->linger_ms) <= 0)
			break;
		s = accept(c->fd, NULL, NULL);
		if (s < 0)
			break;
		c->accepted++;
		if (i >= c->n) {
			close(s);
			continue;
		}
		while (off < (ssize_t)sizeof(c->request) - 1 &&
		       (got = read(s, c->request + off, sizeof(c->request) - 1 - (size_t)off)) >
			       0) {
			off += got;
			c->request[off] = '\0';
			if (strstr(c->request, "\r\n\r\n"))
				break;
		}
		{
			/* drain the request body too, or closing would reset the connection */
			const char *cl = strcasestr(c->request, "Content-Length:");
			const char *end = strstr(c->request, "\r\n\r\n");
			long want = cl ? strtol(cl + 15, NULL, 10) : 0;
			long have = end ? (long)(off - (end + 4 - c->request)) : 0;
			char sink[256];

			while (have < want && (got = read(s, sink, sizeof(sink))) > 0)
				have += got;
		}
		if (!c->answers[i]) {
			struct timespec ts = { c->hold_ms / 1000, (c->hold_ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		} else if (write(s, c->answers[i], strlen(c->answers[i])) < 0) {
			close(s);
			break;
		}
		close(s);
	}
	return NULL;
}

static int start(struct canned *c, pthread_t *t, char *url, size_t size)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(c->fd, 4), 0);
	assert_int_equal(getsockname(c->fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(url, size, "http://127.0.0.1:%d/v1/x?token=s3cret", ntohs(a.sin_port));
	return pthread_create(t, NULL, serve, c);
}

static void stop(struct canned *c, pthread_t t)
{
	pthread_join(t, NULL);
	close(c->fd);
}

static void test_socket_status_headers_and_user_agent(void **state)
{
	struct canned c = {
		.answers = { "HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\n"
			     "Content-Type: application/json\r\nContent-Length: 30\r\n\r\n"
			     "{\"detail\":\"slow down, please\"}" },
		.n = 1
	};
	struct http_request rq = { .method = "POST", .body = "{}", .body_len = 2 };
	struct http_response rs;
	struct err err = ERR_INIT;
	const char *hdrs[] = { "Authorization: Bearer abc", NULL };
	char url[128], msg[256];
	pthread_t t;

	memset(&rs, 0, sizeof(rs));
	assert_int_equal(start(&c, &t, url, sizeof(url)), 0);
	rq.url = url;
	rq.headers = hdrs;
	if (http_request(&rq, &rs, &err) != 0)
		fail_msg("%s", err.msg);
	stop(&c, t);
	assert_int_equal(rs.status, 429);
	assert_true(rs.retry_after == 3.0);
	assert_string_equal(rs.content_type, "application/json");
	assert_non_null(strstr(c.request, "POST /v1/x?token=s3cret HTTP/1.1"));
	assert_non_null(strstr(c.request, "User-Agent: imagen/"));
	assert_non_null(strstr(c.request, "Authorization: Bearer abc"));
	http_describe_status(msg, sizeof(msg), &rs);
	assert_string_equal(msg, "HTTP 429: slow down, please");
	http_response_release(&rs);
}

/* The kind a status gives a submission (POST, or any request with a body) and only a
 * submission: 429 rate limited with its Retry-After, 502/503 unavailable; a GET's
 * answer, a 500 and a success leave none, and each request starts afresh. */
static void test_socket_status_kinds(void **state)
{
	struct canned c = {
		.answers = { "HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n",
			     "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
			     "HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n",
			     "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
			     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" },
		.n = 5
	};
	struct http_request rq = { .body = "{}", .body_len = 2 }; /* no method: a POST */
	struct http_response rs;
	struct err err = ERR_INIT;
	char url[128];
	pthread_t t;

	(void)state;
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(start(&c, &t, url, sizeof(url)), 0);
	rq.url = url;
	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_int_equal(err.kind, ERR_KIND_RATE_LIMITED);
	assert_true(err.retry_after == 3.0);
	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_int_equal(err.kind, ERR_KIND_UNAVAILABLE);
	assert_true(err.retry_after == 0);
	rq.method = "GET";
	rq.body = NULL;
	rq.body_len = 0;
	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_int_equal(rs.status, 429);
	assert_int_equal(err.kind, ERR_KIND_NONE);
	rq.method = "POST";
	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_int_equal(err.kind, ERR_KIND_NONE);
	err.kind = ERR_KIND_RATE_LIMITED; /* a stale kind is not carried over */
	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_int_equal(rs.status, 200);
	assert_int_equal(err.kind, ERR_KIND_NONE);
	stop(&c, t);
	http_response_release(&rs);
}

/* Retry-After as an HTTP-date (RFC 9110 §10.2.3) becomes seconds from now (0 once past);
 * Replicate's 429 body field `retry_after` counts when the header is absent, and the
 * header wins when both are there.  A 503 body's retry_after is not Replicate's throttle
 * answer and is left alone. */
static void test_socket_retry_after_date_and_body(void **state)
{
	char future[256], datebuf[64], url[128];
	time_t t = time(NULL) + 120;
	struct tm tm;
	struct canned c = { .n = 5 };
	struct http_request rq = { 0 };
	struct http_response rs;
	struct err err = ERR_INIT;
	pthread_t th;

	gmtime_r(&t, &tm);
	strftime(datebuf, sizeof(datebuf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(future, sizeof(future),
		 "HTTP/1.1 503 Busy\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n", datebuf);
	c.answers[0] = future;
	c.answers[1] = "HTTP/1.1 503 Busy\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
		       "Content-Length: 0\r\n\r\n";
	c.answers[2] = "HTTP/1.1 429 Too Many\r\nContent-Type: application/json\r\n"
		       "Content-Length: 35\r\n\r\n{\"detail\":\"slow\",\"retry_after\":2.5}";
	c.answers[3] = "HTTP/1.1 429 Too Many\r\nRetry-After: 4\r\nContent-Length: 17\r\n\r\n"
		       "{\"retry_after\":9}";
	c.answers[4] = "HTTP/1.1 503 Busy\r\nContent-Length: 17\r\n\r\n{\"retry_after\":9}";
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(start(&c, &th, url, sizeof(url)), 0);
	rq.url = url;

	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_int_equal(rs.status, 503);
	/* 120 s ahead, give or take the second boundaries crossed while the test runs */
	assert_true(rs.retry_after > 100 && rs.retry_after <= 121);

	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_true(rs.retry_after == 0.0);

	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_int_equal(rs.status, 429);
	assert_true(rs.retry_after == 2.5);

	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_true(rs.retry_after == 4.0);

	assert_int_equal(http_request(&rq, &rs, &err), 0);
	assert_int_equal(rs.status, 503);
	assert_true(rs.retry_after < 0);
	stop(&c, th);
	http_response_release(&rs);
}

static void test_socket_body_cap_and_dropped_body(void **state)
{
	struct canned c = {
		.answers = { "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"
			     "01234567890123456789",
			     "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part" },
		.n = 2
	};
	struct http_request rq = { .max_body = 10 };
	struct http_response rs;
	struct err err = ERR_INIT;
	char url[128];
	pthread_t t;

	memset(&rs, 0, sizeof(rs));
	assert_int_equal(start(&c, &t, url, sizeof(url)), 0);
	rq.url = url;
	assert_int_equal(http_request(&rq, &rs, &err), -1);
	assert_non_null(strstr(err.msg, "larger than 10 bytes"));
	rq.max_body = 0;
	err_clear(&err);
	assert_int_equal(http_request(&rq, &rs, &err), -1);
	assert_non_null(strstr(err.msg, "closed before the whole response arrived"));
	assert_int_equal(rs.status, 0);
	stop(&c, t);
	http_response_release(&rs);
}

static void test_socket_download_streams_to_fd_and_retries_truncate_it(void **state)
{
	/* a 503 first (retried), then a 200 whose body lands in the file, not in memory */
	struct canned c = {
		.answers = { "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy",
			     "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello bytes" },
		.n = 2
	};
	struct retry_policy p = { 3, 0.01, 0.05, 10 };
	struct http_request rq = { 0 };
	struct http_response rs;
	struct err err = ERR_INIT;
	char url[128], path[] = "/tmp/imagen-test-http-XXXXXX", back[32];
	pthread_t t;
	int fd = mkstemp(path);
	ssize_t n;

	assert_true(fd > 0);
	assert_int_equal(write(fd, "stale stale stale", 17), 17);
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(start(&c, &t, url, sizeof(url)), 0);
	rq.url = url;
	rq.fd_out = fd;
	assert_int_equal(http_request_retry(&rq, &p, &rs, &err), 0);
	stop(&c, t);
	assert_int_equal(rs.status, 200);
	assert_int_equal(rs.attempts, 2);
	assert_int_equal(rs.bytes, 11);
	assert_int_equal(rs.body.len, 0);
	n = pread(fd, back, sizeof(back), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(back, "hello bytes", 11);
	close(fd);
	unlink(path);
	http_response_release(&rs);
}

/* Serve c's script and send rq under a fast retry policy (4 attempts) against it. */
static const struct retry_policy fast = { 4, 0.01, 0.05, 10 };

static int retry_against(struct canned *c, struct http_request *rq, struct http_response *rs,
			 struct err *err)
{
	char url[128];
	pthread_t t;
	int rc;

	assert_int_equal(start(c, &t, url, sizeof(url)), 0);
	rq->url = url;
	err_clear(err);
	rc = http_request_retry(rq, &fast, rs, err);
	stop(c, t);
	rq->url = NULL;
	return rc;
}

/* A POST whose answer broke off mid-body may have run upstream: it is not sent again
 * (one connection), and the message says why.  The same request marked idempotent, or
 * sent with PUT, is retried. */
static void test_socket_post_dropped_mid_answer_is_not_sent_again(void **state)
{
	struct canned c = { .answers = { "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart",
					 "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfull" },
			    .n = 1,
			    .linger_ms = 400 };
	struct http_request rq = {
		.method = "POST", .body = "{}", .body_len = 2, .timeout_ms = 3000
	};
	struct http_response rs;
	struct err err = ERR_INIT;

	memset(&rs, 0, sizeof(rs));
	assert_int_equal(retry_against(&c, &rq, &rs, &err), -1);
	assert_int_equal(c.accepted, 1);
	assert_int_equal(rs.attempts, 1);
	assert_true(rs.sent);
	assert_int_equal(err.kind, ERR_KIND_NONE); /* it may have arrived: no class */
	assert_non_null(strstr(err.msg, "closed before the whole response arrived"));
	assert_non_null(strstr(err.msg, "not sent again, as the server may have received it"));

	/* idempotent: the second attempt gets the whole answer */
	memset(&c, 0, sizeof(c));
	c.answers[0] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart";
	c.answers[1] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfull";
	c.n = 2;
	rq.idempotent = 1;
	assert_int_equal(retry_against(&c, &rq, &rs, &err), 0);
	assert_int_equal(rs.attempts, 2);
	assert_string_equal((const char *)rs.body.data, "full");

	/* PUT is idempotent by its method */
	memset(&c, 0, sizeof(c));
	c.answers[0] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart";
	c.answers[1] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfull";
	c.n = 2;
	rq.idempotent = 0;
	rq.method = "PUT";
	assert_int_equal(retry_against(&c, &rq, &rs, &err), 0);
	assert_int_equal(rs.attempts, 2);
	http_response_release(&rs);
}

/* No answer within the timeout: the request arrived, so a POST is not sent again. */
static void test_socket_post_read_timeout_is_not_sent_again(void **state)
{
	struct canned c = { .answers = { NULL }, .n = 1, .hold_ms = 700, .linger_ms = 400 };
	struct http_request rq = {
		.method = "POST", .body = "{}", .body_len = 2, .timeout_ms = 300
	};
	struct http_response rs;
	struct err err = ERR_INIT;

	memset(&rs, 0, sizeof(rs));
	assert_int_equal(retry_against(&c, &rq, &rs, &err), -1);
	assert_int_equal(c.accepted, 1);
	assert_int_equal(rs.attempts, 1);
	assert_non_null(strstr(err.msg, "within 0 s"));
	assert_non_null(strstr(err.msg, "not sent again"));
	http_response_release(&rs);
}

/* An answer over the cap is cut at the cap and not fetched again: the next one would be
 * just as large. */
static void test_socket_over_cap_is_final(void **state)
{
	struct canned c = { .answers = { "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"
					 "01234567890123456789" },
			    .n = 1,
			    .linger_ms = 400 };
	struct http_request rq = { .max_body = 10, .timeout_ms = 3000 };
	struct http_response rs;
	struct err err = ERR_INIT;

	memset(&rs, 0, sizeof(rs));
	assert_int_equal(retry_against(&c, &rq, &rs, &err), -1);
	assert_int_equal(c.accepted, 1);
	assert_int_equal(rs.attempts, 1);
	assert_true(rs.final);
	assert_non_null(strstr(err.msg, "larger than 10 bytes"));
	assert_null(strstr(err.msg, "attempts"));
	http_response_release(&rs);
}

struct judged {
	int calls;
	long last_status;
};

/* A judge that keeps a 429 final and asks again after a 200 saying "garbage". */
static enum http_verdict judge(void *arg, int rc, const struct http_response *resp,
			       const struct err *err)
{
	struct judged *j = arg;

	j->calls++;
	j->last_status = rc < 0 ? 0 : resp->status;
	if (rc == 0 && resp->status == 429)
		return HTTP_VERDICT_FINAL;
	if (rc == 0 && resp->status == 200 && resp->body.len &&
	    !strcmp((const char *)resp->body.data, "garbage"))
		return HTTP_VERDICT_RETRY;
	return HTTP_VERDICT_POLICY;
}

static void test_socket_judge_decides(void **state)
{
	struct canned c = { .answers = { "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ngarbage",
					 "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
					 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nimage" },
			    .n = 3 };
	struct canned c2 = { .answers = { "HTTP/1.1 429 Too Many\r\nContent-Length: 0\r\n\r\n",
					  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nimage" },
			     .n = 1,
			     .linger_ms = 400 };
	struct judged j = { 0, -1 };
	struct http_request rq = { .timeout_ms = 3000, .judge = judge, .judge_arg = &j };
	struct http_response rs;
	struct err err = ERR_INIT;

	memset(&rs, 0, sizeof(rs));
	/* garbage: asked again; 503: the usual rules retry it; then the image */
	assert_int_equal(retry_against(&c, &rq, &rs, &err), 0);
	assert_int_equal(rs.attempts, 3);
	assert_int_equal(j.calls, 3);
	assert_string_equal((const char *)rs.body.data, "image");
	/* a 429 the judge calls final: one attempt */
	assert_int_equal(retry_against(&c2, &rq, &rs, &err), 0);
	assert_int_equal(rs.status, 429);
	assert_int_equal(rs.attempts, 1);
	assert_int_equal(c2.accepted, 1);
	assert_int_equal(j.calls, 4);
	http_response_release(&rs);
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
		cmocka_unit_test(test_socket_status_headers_and_user_agent),
		cmocka_unit_test(test_socket_status_kinds),
		cmocka_unit_test(test_socket_retry_after_date_and_body),
		cmocka_unit_test(test_socket_body_cap_and_dropped_body),
		cmocka_unit_test(test_socket_download_streams_to_fd_and_retries_truncate_it),
		cmocka_unit_test(test_socket_post_dropped_mid_answer_is_not_sent_again),
		cmocka_unit_test(test_socket_post_read_timeout_is_not_sent_again),
		cmocka_unit_test(test_socket_over_cap_is_final),
		cmocka_unit_test(test_socket_judge_decides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
