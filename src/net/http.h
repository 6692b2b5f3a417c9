/* http.h - the one HTTP layer (libcurl): timeouts, size caps, retries, cancellation,
 * redacted -v logging.  Every adapter and the cloud step go through here. */
#ifndef IMAGEN_HTTP_H
#define IMAGEN_HTTP_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct ev_sink;

/** Exit status asked for by an interrupted transfer (err->code). */
#define HTTP_EXIT_CANCELED 130

#define HTTP_DEFAULT_TIMEOUT_MS (120 * 1000L)
#define HTTP_DEFAULT_CONNECT_MS (10 * 1000L)
#define HTTP_DEFAULT_MAX_BODY ((size_t)64 << 20)

/** Process-wide setup, once from main() before any thread: curl_global_init.  Cheap:
 *  libcurl itself is initialised lazily on the first request. */
void http_init(void);

struct http_response;
struct err;

/** What http_request_retry does after one attempt, as a request's judge decides. */
enum http_verdict {
	HTTP_VERDICT_POLICY = 0, /* the usual rules (see http_request_retry) */
	HTTP_VERDICT_FINAL,      /* stop: this outcome is the answer */
	HTTP_VERDICT_RETRY,      /* try again (within the policy's attempts and time) where the
				  * usual rules would not: a 200 whose body is unusable though
				  * the upstream still has it, a create the upstream shows never
				  * arrived.  Ignored after a final failure (resp->final). */
};

/**
 * An adapter's say over one attempt, called by http_request_retry after every attempt
 * that was not interrupted.  rc is http_request's: 0 with an answer in resp (any
 * status), -1 with the transport failure in err (resp->sent: whether the request may
 * have reached the server; resp->final: whether trying again could mend it).  It reads
 * resp and err without changing them and may make requests of its own (an orphan
 * lookup); what it learns it keeps in arg.
 */
typedef enum http_verdict (*http_judge_fn)(void *arg, int rc, const struct http_response *resp,
					   const struct err *err);

/** One part of a multipart/form-data body: a text field (filename NULL) or a file. */
struct http_part {
	const char *name; /* the form field, e.g. "prompt", "image[]" */
	const void *data; /* its bytes (borrowed) */
	size_t len;
	const char *filename; /* a file part's name ("image.png"); NULL: a text field */
	const char *type;     /* a file part's Content-Type ("image/png"); NULL: libcurl's */
};

/** One request.  Everything borrowed; zero-initialise and set what you need. */
struct http_request {
	const char *method; /* "GET" (default when NULL), "POST", "PUT", "DELETE" */
	const char *url;
	const char *const *headers; /* NULL-terminated "Name: value" lines, may be NULL */
	const void *body;           /* request body, NULL for none */
	size_t body_len;
	const struct http_part *parts; /* nparts > 0: a multipart/form-data body built from
					* these with libcurl's mime API (body ignored);
					* the method must be POST */
	size_t nparts;
	long timeout_ms;              /* whole attempt; 0 = HTTP_DEFAULT_TIMEOUT_MS */
	long connect_timeout_ms;      /* 0 = HTTP_DEFAULT_CONNECT_MS */
	size_t max_body;              /* response cap; 0 = HTTP_DEFAULT_MAX_BODY */
	int fd_out;                   /* > 0: stream a 2xx body into this fd (truncated first on
				       * every attempt) instead of memory; error bodies still go
				       * to resp->body.  0 = keep the body in memory. */
	int no_cancel;                /* 1: ignore Ctrl-C (the cancel request sent after it) */
	const char *userpwd;          /* "user:password" for HTTP basic auth, or NULL */
	const char *label;            /* who is asking, for -v lines ("replicate"); may be NULL */
	const struct ev_sink *events; /* -v lines (request, status, timing; retries) go here
				       * at EV_VERBOSE; NULL = none (core/events.h) */
	const char *progress_status;  /* e.g. "generating": re-sent to events as a status about
				       * 4 times a second while the transfer runs, so the
				       * display's elapsed time keeps moving; NULL = none */
	int idempotent;               /* 1: sending it twice does no harm (an upsert, a cancel),
				       * so a transport failure is retried even after the request
				       * may have arrived.  0: by method - GET, HEAD, PUT, DELETE
				       * and OPTIONS are; POST and PATCH are not, and are sent
				       * again only when they never left (resp->sent == 0) */
	http_judge_fn judge;          /* NULL = the usual rules only */
	void *judge_arg;
};

struct http_response {
	long status;            /* HTTP status; 0 when no response came */
	struct buf body;        /* response body (NUL-terminated), unless streamed to fd_out */
	size_t bytes;           /* body bytes received (memory or fd) */
	char content_type[128]; /* "" when absent */
	char location[1024];    /* Location header, "" when absent */
	double retry_after;     /* seconds from Retry-After (or JSON body `retry_after`), -1 */
	double elapsed_ms;      /* of the last attempt */
	int attempts;           /* how many attempts http_request_retry made */
	int sent;  /* some of the request left for the server, so it may have arrived: 0 only
		    * when it provably did not (DNS, connection refused, TLS handshake, nothing
		    * written: libcurl's error code and CURLINFO_REQUEST_SIZE/SIZE_UPLOAD) */
	int final; /* a transport failure that trying again cannot mend: an answer larger
		    * than max_body, the download file not writable */
};

/** Release the body; the struct may be reused. */
void http_response_release(struct http_response *resp);

/** One attempt.  Returns 0 when an HTTP response arrived (any status, the caller judges
 *  it), -1 on transport failure (err->msg says what: "connection refused", "timed out
 *  after 30 s", "response larger than N bytes", ...) or cancellation (err->code =
 *  HTTP_EXIT_CANCELED, msg "interrupted").  *resp is released first. */
int http_request(const struct http_request *req, struct http_response *resp, struct err *err);

/** The retry policy.  Defaults from http_retry_default(); IMAGEN_HTTP_RETRIES (attempts)
 *  and IMAGEN_HTTP_RETRY_BASE_MS (first delay) override them for tests and slow links. */
struct retry_policy {
	int max_attempts;   /* total attempts, >= 1 */
	double base_s;      /* first backoff delay */
	double max_delay_s; /* cap on one backoff delay; a longer Retry-After ends the retries */
	double max_total_s; /* give up when the next attempt would start later than this */
};

/** The default policy: 4 attempts, 0.5 s base, 30 s cap per delay, 120 s in all,
 *  adjusted by the environment variables above. */
struct retry_policy http_retry_default(void);

/** Pure decision, unit-tested: attempt `attempt` (1-based) just ended with `status`
 *  (0 = transport error).  Retry 0 (transport), 429 and 5xx; never other statuses.
 *  retry_after_s < 0 when absent; elapsed_s since the first attempt started; jitter in
 *  [0,1).  Returns 1 and *delay_s when another attempt should be made, else 0.
 *  Delay: retry_after when given (no retry when it exceeds max_delay: retrying sooner than
 *  the server asked is pointless), else base * 2^(attempt-1) * (0.5 + jitter/2) capped at
 *  max_delay; no retry when elapsed + delay > max_total. */
int retry_decide(const struct retry_policy *p, int attempt, long status, double retry_after_s,
		 double elapsed_s, double jitter, double *delay_s);

/** Whether a status is worth retrying (0, 429, 5xx). */
int http_status_retryable(long status);

/** Whether the request may be sent twice: req->idempotent, else by its method. */
int http_request_idempotent(const struct http_request *req);

/**
 * http_request under the policy (p NULL = http_retry_default()): the one retry loop.
 * After each attempt (unless interrupted) req->judge may decide; by the usual rules an
 * answer is retried when its status is 429 or 5xx (retry_decide), a transport failure
 * when it is not final and either the request never left or it is idempotent - a POST
 * that may have reached the server is never sent again (its error says so).  A -v line
 * "..., retrying in N s (attempt i of n)" goes to req->events before each new attempt.
 * Returns 0 with the final response (possibly a 4xx/5xx: the caller reports it), or -1
 * on transport failure after the last attempt / cancellation (err->code 130).  Sleeps
 * between attempts wake up at once on Ctrl-C.
 */
int http_request_retry(const struct http_request *req, const struct retry_policy *p,
		       struct http_response *resp, struct err *err);

/** A URL fit for logs and messages: userinfo removed, values of query parameters that
 *  look secret (token, sig, signature, key, auth, credential, secret, X-Amz-*) replaced
 *  by "REDACTED".  Writes into out (always NUL-terminated). */
void http_redact_url(char *out, size_t size, const char *url);

/** A short description of a non-2xx response for error messages:
 *  "HTTP 503: <message from a JSON body's error/detail/message field, or first line of
 *  the body, at most 200 bytes, control characters removed>". */
void http_describe_status(char *out, size_t size, const struct http_response *resp);

/** Seconds on the monotonic clock (for deadlines and elapsed times). */
double http_now_s(void);
/** A uniform random number in [0,1) from getrandom, for backoff jitter. */
double http_jitter(void);

/** The adapters' check op (`imagen backends --check`) in one GET: url with headers
 *  (NULL-terminated, may be NULL) and basic auth userpwd (may be NULL), a short timeout,
 *  no retries; a 2xx answer is up.  Otherwise -1: "GET URL: HTTP 401: ..." or the
 *  transport error (the URL redacted).  label names the instance for -v lines. */
int http_check_get(const char *label, const char *url, const char *const *headers,
		   const char *userpwd, struct err *err);

/** Percent-encode s for a URL path segment or query value (malloc'd, NULL on ENOMEM). */
char *http_escape(const char *s);

#endif
