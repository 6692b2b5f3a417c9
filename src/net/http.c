/* http.c - the one HTTP layer over libcurl (see http.h). */
#include "net/http.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/cancel.h"
#include "core/events.h"
#include "util/text.h"

#ifndef IMAGEN_VERSION
#define IMAGEN_VERSION "0"
#endif

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_response_release(struct http_response *resp)
{
	if (!resp)
		return;
	buf_release(&resp->body);
	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
}

/* --- pure helpers ------------------------------------------------------------------- */

int http_status_retryable(long status)
{
	return status == 0 || status == 429 || (status >= 500 && status <= 599);
}

int retry_decide(const struct retry_policy *p, int attempt, long status, double retry_after_s,
		 double elapsed_s, double jitter, double *delay_s)
{
	double d;
	int i;

	if (!http_status_retryable(status) || attempt >= p->max_attempts)
		return 0;
	if (retry_after_s >= 0) {
		/* the server said when to come back: earlier is only another refusal, so a wait
		 * longer than we are willing to make ends the retries instead of being cut short */
		if (retry_after_s > p->max_delay_s)
			return 0;
		d = retry_after_s;
	} else {
		d = p->base_s;
		for (i = 1; i < attempt && d < p->max_delay_s; i++)
			d *= 2;
		if (jitter < 0)
			jitter = 0;
		if (jitter >= 1)
			jitter = 0.999999;
		/* "equal jitter": never less than half the step, so backoff still grows */
		d *= 0.5 + jitter / 2;
	}
	if (d > p->max_delay_s)
		d = p->max_delay_s;
	if (d < 0)
		d = 0;
	if (elapsed_s + d > p->max_total_s)
		return 0;
	*delay_s = d;
	return 1;
}

static long env_long(const char *name, long min, long max, long dflt)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return dflt;
	return v;
}

struct retry_policy http_retry_default(void)
{
	struct retry_policy p = { 4, 0.5, 30.0, 120.0 };

	p.max_attempts = (int)env_long("IMAGEN_HTTP_RETRIES", 1, 20, p.max_attempts);
	p.base_s = (double)env_long("IMAGEN_HTTP_RETRY_BASE_MS", 0, 60000, 500) / 1e3;
	return p;
}

static int secret_param(const char *name, size_t len)
{
	static const char *const words[] = { "token",      "sig",    "key",      "auth",
					     "credential", "secret", "password", NULL };
	char low[64];
	size_t i;

	if (len >= sizeof(low))
		len = sizeof(low) - 1;
	for (i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[len] = '\0';
	if (!strncmp(low, "x-amz-", 6))
		return 1;
	for (i = 0; words[i]; i++)
		if (strstr(low, words[i]))
			return 1;
	return 0;
}

void http_redact_url(char *out, size_t size, const char *url)
{
	struct buf b = BUF_INIT;
	const char *p = url ? url : "", *scheme_end, *host, *at, *path, *q;

	scheme_end = strstr(p, "://");
	host = scheme_end ? scheme_end + 3 : p;
	path = host + strcspn(host, "/?#");
	buf_add(&b, p, (size_t)(host - p));
	at = memchr(host, '@', (size_t)(path - host));
	if (at)
		host = at + 1; /* user:password@ never leaves */
	buf_add(&b, host, (size_t)(path - host));
	q = strchr(path, '?');
	if (!q) {
		buf_adds(&b, path);
	} else {
		const char *s = q + 1, *end = s + strcspn(s, "#");

		buf_add(&b, path, (size_t)(s - path));
		while (s < end) {
			size_t n = strcspn(s, "&#");
			const char *eq = memchr(s, '=', n);

			if (s + n > end)
				n = (size_t)(end - s);
			if (eq && secret_param(s, (size_t)(eq - s))) {
				buf_add(&b, s, (size_t)(eq - s) + 1);
				buf_adds(&b, "REDACTED");
			} else {
				buf_add(&b, s, n);
			}
			s += n;
			if (s < end && *s == '&') {
				buf_adds(&b, "&");
				s++;
			}
		}
		/* fragments carry nothing a log needs */
	}
	snprintf(out, size, "%s", b.data ? (const char *)b.data : "");
	buf_release(&b);
}

/* The most telling message in a JSON error body, across the upstreams' shapes. */
static const char *json_error_text(const json_t *j)
{
	const json_t *v;
	static const char *const keys[] = { "error", "detail", "message", "msg", "title", NULL };
	size_t i;

	if (!j)
		return NULL;
	for (i = 0; keys[i]; i++) {
		v = json_object_get(j, keys[i]);
		if (json_is_string(v) && *json_string_value(v))
			return json_string_value(v);
		if (json_is_object(v)) {
			const char *s = json_error_text(v);

			if (s)
				return s;
		}
		if (json_is_array(v) && json_array_size(v)) {
			const json_t *e = json_array_get(v, 0);

			if (json_is_string(e))
				return json_string_value(e);
			if (json_is_object(e)) {
				const char *s = json_error_text(e);

				if (s)
					return s;
			}
		}
	}
	return NULL;
}

void http_describe_status(char *out, size_t size, const struct http_response *resp)
{
	char text[201] = "";
	const char *body = resp->body.data ? (const char *)resp->body.data : "";
	size_t blen = resp->body.len;

	if (blen) {
		json_t *j = json_loadb(body, blen, 0, NULL);
		const char *m = json_error_text(j);

		if (m) {
			text_clean(text, sizeof(text), m);
		} else if (!j && body[0] != '<') {
			struct buf line = BUF_INIT;

			/* the first line only: a plain-text page may go on for a while */
			if (text_clean_add(&line, body, strcspn(body, "\n"), sizeof(text)) == 0 &&
			    line.len)
				text_clean(text, sizeof(text), (const char *)line.data);
			buf_release(&line);
		}
		json_decref(j);
	}
	if (text[0])
		snprintf(out, size, "HTTP %ld: %s", resp->status, text);
	else
		snprintf(out, size, "HTTP %ld", resp->status);
}

char *http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), i, o = 0;
	char *out = malloc(n * 3 + 1);

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* --- one attempt -------------------------------------------------------------------- */

struct xfer {
	const struct http_request *req;
	struct http_response *resp;
	CURL *h;
	size_t max;
	int over_cap;
	int fd_failed;
	int canceled;
	double next_draw_ms; /* when the progress line is due for a redraw */
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb, off = 0;
	long status = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (x->resp->bytes + n > x->max) {
		x->over_cap = 1;
		return 0;
	}
	if (x->req->fd_out > 0 && status >= 200 && status < 300) {
		while (off < n) {
			ssize_t w = write(x->req->fd_out, ptr + off, n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				x->fd_failed = errno ? errno : EIO;
				return 0;
			}
			off += (size_t)w;
		}
	} else if (buf_add(&x->resp->body, ptr, n) < 0) {
		x->over_cap = 1;
		return 0;
	}
	x->resp->bytes += n;
	return n;
}

static void header_value(char *out, size_t size, const char *v, size_t len)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(out, v, len);
	out[len] = '\0';
}

static double parse_retry_after(const char *v)
{
	char *end;
	double d;
	time_t t;

	if (!*v)
		return -1;
	errno = 0;
	d = strtod(v, &end);
	if (!errno && end != v && !*end && d >= 0)
		return d;
	t = curl_getdate(v, NULL);
	if (t > 0) {
		d = difftime(t, time(NULL));
		return d > 0 ? d : 0;
	}
	return -1;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t n = size * nmemb;
	char val[1024];

	if (n >= 5 && !strncmp(ptr, "HTTP/", 5)) {
		/* a new response (after a redirect or 100-continue): forget the last one's */
		x->resp->content_type[0] = '\0';
		x->resp->location[0] = '\0';
		x->resp->retry_after = -1;
		return n;
	}
	if (n > 13 && !strncasecmp(ptr, "content-type:", 13)) {
		header_value(x->resp->content_type, sizeof(x->resp->content_type), ptr + 13,
			     n - 13);
	} else if (n > 9 && !strncasecmp(ptr, "location:", 9)) {
		header_value(x->resp->location, sizeof(x->resp->location), ptr + 9, n - 9);
	} else if (n > 12 && !strncasecmp(ptr, "retry-after:", 12)) {
		header_value(val, sizeof(val), ptr + 12, n - 12);
		x->resp->retry_after = parse_retry_after(val);
	}
	return n;
}

static double now_ms(void);
static CURLcode perform(struct xfer *x);

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = userdata;

	if (!x->req->no_cancel && cancel_requested()) {
		x->canceled = 1;
		return 1;
	}
	if (x->req->progress_status && ev_wants_progress(x->req->events)) {
		double t = now_ms();

		if (t >= x->next_draw_ms) {
			ev_status(x->req->events, x->req->progress_status);
			x->next_draw_ms = t + 250;
		}
	}
	return 0;
}

/* Replicate (and some others) say how long to wait in the JSON body of a 429. */
static void body_retry_after(struct http_response *resp)
{
	json_t *j, *v;

	if (resp->retry_after >= 0 || resp->status != 429 || !resp->body.len ||
	    resp->body.len > 65536)
		return;
	j = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
	v = json_object_get(j, "retry_after");
	if (json_is_number(v) && json_number_value(v) >= 0)
		resp->retry_after = json_number_value(v);
	json_decref(j);
}

double http_now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void log_line(const struct http_request *req, const struct http_response *resp,
		     const char *failure)
{
	char url[2048];

	if (!ev_wants(req->events, EV_VERBOSE))
		return;
	http_redact_url(url, sizeof(url), req->url);
	if (failure)
		ev_log(req->events, EV_VERBOSE, req->label ? req->label : "http",
		       "%s %s -> %s (%.0f ms)", req->method ? req->method : "GET", url, failure,
		       resp->elapsed_ms);
	else
		ev_log(req->events, EV_VERBOSE, req->label ? req->label : "http",
		       "%s %s -> %ld (%.0f ms, %zu bytes)", req->method ? req->method : "GET", url,
		       resp->status, resp->elapsed_ms, resp->bytes);
}

/* Whether any of the request may have reached the server.  Failures before the request
 * is written (name resolution, the TCP connect, the TLS handshake) cannot have reached
 * it; otherwise libcurl counts what it wrote: CURLINFO_REQUEST_SIZE the head (and body
 * bytes sent with it), CURLINFO_SIZE_UPLOAD_T the rest of the body.  Nothing counted
 * means nothing written.  Anything else may have arrived, and a server that got the
 * whole request may act on it even though its answer never came back. */
static int request_left(CURL *h, CURLcode rc)
{
	long head = 0;
	curl_off_t body = 0;

	if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
	    rc == CURLE_COULDNT_CONNECT || rc == CURLE_SSL_CONNECT_ERROR ||
	    rc == CURLE_PEER_FAILED_VERIFICATION)
		return 0;
	if (curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &head) != CURLE_OK ||
	    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &body) != CURLE_OK)
		return 1; /* cannot tell: assume the worst */
	return head > 0 || body > 0;
}

/* What a request that submits work (a body, or any method but GET and HEAD: a GET never starts
 * work upstream, so its failure says nothing about whether the work was taken) tells
 * a caller deciding whether to send it again: err->kind and err->retry_after. */
static void submit_kind(const struct http_request *req, const struct http_response *resp, int rc_ok,
			struct err *err)
{
	const char *m = req->method ? req->method : "GET";

	if (!err || (!req->body && !req->nparts && (!strcmp(m, "GET") || !strcmp(m, "HEAD"))))
		return;
	if (!rc_ok && !resp->sent) {
		err->kind = ERR_KIND_UNSENT;
	} else if (rc_ok && (resp->status == 429 || resp->status == 502 || resp->status == 503)) {
		err->kind = resp->status == 429 ? ERR_KIND_RATE_LIMITED : ERR_KIND_UNAVAILABLE;
		err->retry_after = resp->retry_after > 0 ? resp->retry_after : 0;
	}
}

static void where(char *out, size_t size, const char *url)
{
	const char *h = strstr(url, "://");
	size_t n;

	h = h ? h + 3 : url;
	if (strchr(h, '@') && strchr(h, '@') < h + strcspn(h, "/?#"))
		h = strchr(h, '@') + 1;
	n = strcspn(h, "/?#");
	snprintf(out, size, "%.*s", (int)n, h);
}

/* The multipart body of req->parts (NULL when memory is short). */
static curl_mime *build_mime(CURL *h, const struct http_request *req)
{
	curl_mime *mime = curl_mime_init(h);
	size_t i;

	for (i = 0; mime && i < req->nparts; i++) {
		const struct http_part *p = &req->parts[i];
		curl_mimepart *mp = curl_mime_addpart(mime);

		if (!mp || curl_mime_name(mp, p->name) != CURLE_OK ||
		    curl_mime_data(mp, p->data ? p->data : "", p->len) != CURLE_OK ||
		    (p->filename && curl_mime_filename(mp, p->filename) != CURLE_OK) ||
		    (p->type && curl_mime_type(mp, p->type) != CURLE_OK)) {
			curl_mime_free(mime);
			return NULL;
		}
	}
	return mime;
}

int http_request(const struct http_request *req, struct http_response *resp, struct err *err)
{
	struct curl_slist *hdrs = NULL;
	curl_mime *mime = NULL;
	struct xfer x;
	char errbuf[CURL_ERROR_SIZE] = "", host[256], msg[1024];
	const char *method = req->method ? req->method : "GET";
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	CURLcode rc;
	double t0;
	size_t i;
	int ret = -1;

	http_response_release(resp);
	if (err) {
		err->kind = ERR_KIND_NONE; /* submit_kind says what this request tells */
		err->retry_after = 0;
	}
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return err_code(err, 1, "cannot initialise libcurl");
	if (cancel_requested() && !req->no_cancel)
		return err_code(err, HTTP_EXIT_CANCELED, "interrupted");

	memset(&x, 0, sizeof(x));
	x.req = req;
	x.resp = resp;
	x.max = req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY;
	resp->body.max = x.max + 1;
	x.h = curl_easy_init();
	if (!x.h)
		return err_code(err, 1, "cannot initialise libcurl");
	if (req->fd_out > 0 &&
	    (ftruncate(req->fd_out, 0) < 0 || lseek(req->fd_out, 0, SEEK_SET) < 0)) {
		err_code(err, 1, "cannot reset the download file: %s", strerror(errno));
		resp->final = 1;
		goto out;
	}

	for (i = 0; req->headers && req->headers[i]; i++)
		hdrs = curl_slist_append(hdrs, req->headers[i]);
	hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */

	curl_easy_setopt(x.h, CURLOPT_URL, req->url);
	curl_easy_setopt(x.h, CURLOPT_USERAGENT, "imagen/" IMAGEN_VERSION);
	curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(x.h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x.h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(x.h, CURLOPT_CONNECTTIMEOUT_MS,
			 req->connect_timeout_ms > 0 ? req->connect_timeout_ms
						     : HTTP_DEFAULT_CONNECT_MS);
	curl_easy_setopt(x.h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(x.h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x.h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(x.h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(x.h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(x.h, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(x.h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x.h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x.h, CURLOPT_ACCEPT_ENCODING, "");
	/* images are megabytes: fewer, larger reads */
	curl_easy_setopt(x.h, CURLOPT_BUFFERSIZE, 256L * 1024);
	if (!strcmp(method, "GET")) {
		/* output files (Replicate, OpenAI url) may sit behind a redirect */
		curl_easy_setopt(x.h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(x.h, CURLOPT_MAXREDIRS, 5L);
	} else if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(x.h, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(x.h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (req->nparts) {
		mime = build_mime(x.h, req);
		if (!mime) {
			err_code(err, 1, "out of memory");
			resp->final = 1;
			goto out;
		}
		curl_easy_setopt(x.h, CURLOPT_MIMEPOST, mime);
	} else if (req->body || strcmp(method, "GET")) {
		if (req->body || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
		    !strcmp(method, "PATCH")) {
			curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(req->body ? req->body_len : 0));
			curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		}
	}
	if (req->userpwd) {
		curl_easy_setopt(x.h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(x.h, CURLOPT_USERPWD, req->userpwd);
	}

	t0 = now_ms();
	rc = perform(&x);
	resp->elapsed_ms = now_ms() - t0;
	curl_easy_getinfo(x.h, CURLINFO_RESPONSE_CODE, &resp->status);
	where(host, sizeof(host), req->url);

	resp->sent = request_left(x.h, rc);
	if (x.canceled || (rc == CURLE_ABORTED_BY_CALLBACK && cancel_requested())) {
		resp->status = 0;
		log_line(req, resp, "interrupted");
		err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		goto out;
	}
	if (rc == CURLE_OK) {
		body_retry_after(resp);
		submit_kind(req, resp, 1, err);
		log_line(req, resp, NULL);
		ret = 0;
		goto out;
	}
	/* a transport failure: no usable response, whatever status line arrived */
	resp->final = x.over_cap || x.fd_failed;
	if (x.over_cap)
		snprintf(msg, sizeof(msg), "response from %s larger than %zu bytes", host, x.max);
	else if (x.fd_failed)
		snprintf(msg, sizeof(msg), "cannot write the download: %s", strerror(x.fd_failed));
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(msg, sizeof(msg), "no answer from %s within %.0f s", host,
			 (double)timeout / 1e3);
	else if (rc == CURLE_COULDNT_CONNECT)
		snprintf(msg, sizeof(msg), "cannot connect to %s (connection refused)", host);
	else if (rc == CURLE_COULDNT_RESOLVE_HOST)
		snprintf(msg, sizeof(msg), "cannot resolve host %s", host);
	else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
		snprintf(msg, sizeof(msg),
			 "connection to %s closed before the whole response arrived", host);
	else
		snprintf(msg, sizeof(msg), "%s: %s", host,
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
	resp->status = 0;
	log_line(req, resp, msg);
	err_code(err, 1, "%s", msg);
	submit_kind(req, resp, 0, err);
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(x.h);
	curl_mime_free(mime);
	return ret;
}

/* curl_easy_perform, but through a multi handle so that we wake up every 100 ms even
 * while the server is silent: Ctrl-C is noticed at once and the status line keeps its
 * elapsed time moving during a long generation. */
static CURLcode perform(struct xfer *x)
{
	CURLM *m = curl_multi_init();
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	CURLMsg *msg;
	int running = 1, left;

	if (!m)
		return rc;
	if (curl_multi_add_handle(m, x->h) != CURLM_OK) {
		curl_multi_cleanup(m);
		return rc;
	}
	rc = CURLE_RECV_ERROR;
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (!running)
			break;
		/* the same checks as the progress callback, also while nothing arrives */
		if (on_progress(x, 0, 0, 0, 0)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			running = -1;
			break;
		}
		if (curl_multi_wait(m, NULL, 0, 100, NULL) != CURLM_OK && !cancel_requested())
			break;
	}
	if (running == 0) {
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == x->h)
				rc = msg->data.result;
	}
	curl_multi_remove_handle(m, x->h);
	curl_multi_cleanup(m);
	return rc;
}

double http_jitter(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint32_t)time(NULL) * 2654435761u;
	return (double)v / 4294967296.0;
}

int http_request_idempotent(const struct http_request *req)
{
	const char *m = req->method ? req->method : "GET";

	if (req->idempotent)
		return 1;
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") ||
	       !strcmp(m, "DELETE") || !strcmp(m, "OPTIONS");
}

int http_request_retry(const struct http_request *req, const struct retry_policy *p,
		       struct http_response *resp, struct err *err)
{
	struct retry_policy dflt;
	double start = now_ms(), delay;
	enum http_verdict v;
	int attempt, rc, held = 0;
	long status;

	if (!p) {
		dflt = http_retry_default();
		p = &dflt;
	}
	for (attempt = 1;; attempt++) {
		err_clear(err);
		rc = http_request(req, resp, err);
		resp->attempts = attempt;
		if (rc < 0 && err && err->code == HTTP_EXIT_CANCELED)
			return -1;
		v = req->judge ? req->judge(req->judge_arg, rc, resp, err) : HTTP_VERDICT_POLICY;
		if (v == HTTP_VERDICT_FINAL || (rc < 0 && resp->final))
			break;
		if (v == HTTP_VERDICT_RETRY) {
			status = 0; /* as retryable as a transport failure */
		} else if (rc < 0 && resp->sent && !http_request_idempotent(req)) {
			/* it may have arrived: sending it again may run (and bill) it twice */
			held = 1;
			break;
		} else {
			status = rc < 0 ? 0 : resp->status;
		}
		if (!retry_decide(p, attempt, status, rc < 0 ? -1 : resp->retry_after,
				  (now_ms() - start) / 1e3, http_jitter(), &delay))
			break;
		if (ev_wants(req->events, EV_VERBOSE)) {
			char what[40] = "";

			if (rc == 0 && resp->status >= 200 && resp->status <= 299)
				snprintf(what, sizeof(what), "unusable answer (HTTP %ld)",
					 resp->status);
			else if (rc == 0)
				snprintf(what, sizeof(what), "HTTP %ld", resp->status);
			ev_log(req->events, EV_VERBOSE, req->label ? req->label : "http",
			       "%s, retrying in %.1f s (attempt %d of %d)",
			       rc < 0 ? (err ? err->msg : "transport error") : what, delay,
			       attempt + 1, p->max_attempts);
		}
		if (cancel_sleep(delay)) {
			http_response_release(resp);
			return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		}
	}
	if (rc < 0 && held && err) {
		size_t n = strlen(err->msg);

		snprintf(err->msg + n, sizeof(err->msg) - n,
			 "; not sent again, as the server may have received it");
	}
	if (rc < 0 && attempt > 1 && err)
		err_prefix(err, "after %d attempts", attempt);
	return rc;
}

#define CHECK_TIMEOUT_MS 5000L

int http_check_get(const char *label, const char *url, const char *const *headers,
		   const char *userpwd, struct err *err)
{
	struct http_request hr;
	struct http_response resp;
	char safe[1024], desc[512];
	int rc = -1;

	memset(&hr, 0, sizeof(hr));
	memset(&resp, 0, sizeof(resp));
	hr.url = url;
	hr.headers = headers;
	hr.userpwd = userpwd;
	hr.timeout_ms = CHECK_TIMEOUT_MS;
	hr.connect_timeout_ms = CHECK_TIMEOUT_MS;
	hr.max_body = (size_t)1 << 20;
	hr.label = label;
	http_redact_url(safe, sizeof(safe), url);
	if (http_request(&hr, &resp, err) < 0) {
		err_prefix(err, "GET %s", safe);
	} else if (resp.status < 200 || resp.status > 299) {
		http_describe_status(desc, sizeof(desc), &resp);
		err_code(err, 1, "GET %s: %s", safe, desc);
	} else {
		rc = 0;
	}
	http_response_release(&resp);
	return rc;
}
