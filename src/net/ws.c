/* ws.c - a small RFC 6455 WebSocket client on libcurl's CONNECT_ONLY socket.
 *
 * Why not a library: Debian bookworm's libcurl (7.88) is built without its (then
 * experimental) WebSocket API, and libwebsockets would bring a second networking stack
 * with its own event loop, TLS setup, proxy handling and timeouts next to libcurl's.  What
 * ComfyUI needs from a socket is small - one connection, client-to-server messages only
 * for the closing handshake and pongs, text messages to read - so imagen lets libcurl do
 * everything that is hard (DNS, TCP, TLS and its certificates, proxy tunnelling, connect
 * timeouts: CURLOPT_CONNECT_ONLY, then curl_easy_send / curl_easy_recv) and keeps the
 * framing here: masking, fragmentation, control frames, a message size cap.  The framing
 * is a set of pure functions with unit tests (tests/unit/test_ws.c), fed garbage too.
 */
#include "net/ws.h"

#include <curl/curl.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "core/events.h"
#include "util/cancel.h"
#include "net/http.h"
#include "util/utf8.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_HEAD 16384
#define WS_SLICE_MS 100
#define WS_SEND_TIMEOUT_MS 10000L
#define WS_READ_CHUNK 16384
/* a frame's size must fit the long that ws_frame_decode returns */
#define WS_MAX_FRAME_PAYLOAD ((size_t)0x7fffffff - 16)

/* ---- SHA-1 and base64, for the handshake only (GLib does both, as for sha256.c) ----- */

void ws_sha1(const void *data, size_t len, unsigned char out[20])
{
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA1);
	gsize n = 20;

	g_checksum_update(c, data, (gssize)len);
	g_checksum_get_digest(c, out, &n);
	g_checksum_free(c);
}

void ws_base64(const unsigned char *data, size_t len, char *out)
{
	gchar *e = g_base64_encode(data, len);

	strcpy(out, e); /* the caller's buffer holds 4 * ceil(len / 3) + 1 bytes */
	g_free(e);
}

void ws_accept_key(char out[29], const char *key)
{
	unsigned char digest[20];
	char joined[128];
	int n;

	n = snprintf(joined, sizeof(joined), "%s%s", key, WS_GUID);
	if (n < 0 || (size_t)n >= sizeof(joined))
		n = 0; /* a key that long is nobody's: it will not match */
	ws_sha1(joined, (size_t)n, digest);
	ws_base64(digest, sizeof(digest), out);
}

/* ---- framing ----------------------------------------------------------------------------- */

int ws_frame_encode(struct buf *out, int opcode, int fin, const void *payload, size_t len,
		    const unsigned char *mask)
{
	unsigned char hdr[14];
	const unsigned char *p = payload;
	size_t n = 0, i, start;

	hdr[n++] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		hdr[n++] = (unsigned char)((mask ? 0x80 : 0) | len);
	} else if (len <= 0xffff) {
		hdr[n++] = (unsigned char)((mask ? 0x80 : 0) | 126);
		hdr[n++] = (unsigned char)(len >> 8);
		hdr[n++] = (unsigned char)len;
	} else {
		hdr[n++] = (unsigned char)((mask ? 0x80 : 0) | 127);
		for (i = 0; i < 8; i++)
			hdr[n++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	if (mask) {
		memcpy(hdr + n, mask, 4);
		n += 4;
	}
	if (buf_add(out, hdr, n) < 0)
		return -1;
	start = out->len;
	if (buf_add(out, p, len) < 0)
		return -1;
	if (mask)
		for (i = 0; i < len; i++)
			out->data[start + i] ^= mask[i & 3];
	return 0;
}

long ws_frame_decode(unsigned char *data, size_t len, int masked, size_t max_payload,
		     struct ws_frame *f, struct err *err)
{
	uint64_t n;
	size_t hdr = 2, i;
	int op, m, fin;

	if (max_payload > WS_MAX_FRAME_PAYLOAD)
		max_payload = WS_MAX_FRAME_PAYLOAD;
	if (len < 2)
		return 0;
	if (data[0] & 0x70)
		return err_set(err, "websocket frame with reserved bits set (0x%02x)", data[0]);
	fin = !!(data[0] & 0x80);
	op = data[0] & 0x0f;
	if (op != WS_CONT && op != WS_TEXT && op != WS_BINARY && op != WS_CLOSE && op != WS_PING &&
	    op != WS_PONG)
		return err_set(err, "websocket frame with unknown opcode %d", op);
	m = !!(data[1] & 0x80);
	if (m != !!masked)
		return err_set(err, masked ? "unmasked websocket frame from a client"
					   : "masked websocket frame from the server");
	n = data[1] & 0x7f;
	if (n == 126) {
		if (len < 4)
			return 0;
		n = (uint64_t)data[2] << 8 | data[3];
		hdr = 4;
		if (n < 126)
			return err_set(err, "websocket frame length not minimally encoded");
	} else if (n == 127) {
		if (len < 10)
			return 0;
		n = 0;
		for (i = 0; i < 8; i++)
			n = n << 8 | data[2 + i];
		hdr = 10;
		if (n >> 63)
			return err_set(err, "websocket frame length with the top bit set");
		if (n <= 0xffff)
			return err_set(err, "websocket frame length not minimally encoded");
	}
	if (op >= WS_CLOSE) {
		if (!fin)
			return err_set(err, "fragmented websocket control frame");
		if (n > 125)
			return err_set(err, "websocket control frame longer than 125 bytes");
	}
	if (n > max_payload)
		return err_set(err, "websocket frame of %llu bytes is over the %zu-byte limit",
			       (unsigned long long)n, max_payload);
	if (m)
		hdr += 4;
	if (len < hdr || len - hdr < n)
		return 0;
	if (m)
		for (i = 0; i < n; i++)
			data[hdr + i] ^= data[hdr - 4 + (i & 3)];
	f->fin = fin;
	f->opcode = op;
	f->payload = data + hdr;
	f->len = (size_t)n;
	return (long)(hdr + n);
}

int ws_assemble(struct ws_assembler *a, const struct ws_frame *f, struct err *err)
{
	size_t max = a->max ? a->max : WS_MAX_MESSAGE_DEFAULT;

	if (a->done) {
		a->msg.len = 0;
		a->opcode = 0;
		a->done = 0;
	}
	if (f->opcode == WS_CONT) {
		if (!a->opcode)
			return err_set(err, "websocket continuation frame with no message open");
	} else if (f->opcode == WS_TEXT || f->opcode == WS_BINARY) {
		if (a->opcode)
			return err_set(err, "new websocket message inside a fragmented one");
		a->opcode = f->opcode;
		a->msg.len = 0;
	} else {
		return err_set(err, "websocket control frame handed to the assembler");
	}
	if (f->len > max - a->msg.len) {
		a->opcode = 0;
		return err_set(err, "websocket message over the %zu-byte limit", max);
	}
	if (buf_add(&a->msg, f->payload, f->len) < 0) {
		a->opcode = 0;
		return err_set(err, "out of memory for a websocket message");
	}
	if (!f->fin)
		return 0;
	if (a->opcode == WS_TEXT && !utf8_valid(a->msg.data, a->msg.len, NULL)) {
		a->opcode = 0;
		return err_set(err, "websocket text message is not valid UTF-8");
	}
	a->done = 1;
	return 1;
}

void ws_assembler_release(struct ws_assembler *a)
{
	buf_release(&a->msg);
	a->opcode = 0;
	a->done = 0;
}

/* ---- handshake answer -------------------------------------------------------------------- */

/* Header value (trimmed) of the first header named name, copied into out; 0 or -1. */
static int head_header(const char *head, size_t len, const char *name, char *out, size_t size)
{
	const char *p = head, *end = head + len, *eol, *colon, *v, *ve;
	size_t nl = strlen(name), n;

	/* skip the status line */
	eol = memchr(p, '\n', len);
	if (!eol)
		return -1;
	for (p = eol + 1; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || (size_t)(colon - p) != nl || strncasecmp(p, name, nl) != 0)
			continue;
		v = colon + 1;
		ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		n = (size_t)(ve - v);
		if (n >= size)
			n = size - 1;
		memcpy(out, v, n);
		out[n] = '\0';
		return 0;
	}
	return -1;
}

/* Whether a comma-separated header value holds token (case-insensitive). */
static int has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);
	const char *p = value;

	while (*p) {
		const char *e;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		e = p;
		while (*e && *e != ',')
			e++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - p) == tl && !strncasecmp(p, token, tl))
			return 1;
		p = e;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

int ws_check_response(const char *head, size_t len, const char *key, long *status, struct err *err)
{
	char value[256], want[29], line[16];
	const char *sp;
	size_t n;
	long st = 0;

	*status = 0;
	n = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	memcpy(line, head, n);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0'; /* the status line only */
	if (strncmp(line, "HTTP/", 5) != 0 || !(sp = strchr(line, ' ')))
		return err_set(err, "websocket handshake: not an HTTP answer");
	st = strtol(sp + 1, NULL, 10);
	if (st < 100 || st > 999)
		return err_set(err, "websocket handshake: not an HTTP answer");
	*status = st;
	if (st != 101)
		return err_set(err, "websocket upgrade refused: HTTP %ld", st);
	if (head_header(head, len, "Upgrade", value, sizeof(value)) < 0 ||
	    strcasecmp(value, "websocket") != 0)
		return err_set(err, "websocket handshake: no 'Upgrade: websocket' in the answer");
	if (head_header(head, len, "Connection", value, sizeof(value)) < 0 ||
	    !has_token(value, "upgrade"))
		return err_set(err, "websocket handshake: no 'Connection: upgrade' in the answer");
	ws_accept_key(want, key);
	if (head_header(head, len, "Sec-WebSocket-Accept", value, sizeof(value)) < 0 ||
	    strcmp(value, want) != 0)
		return err_set(err, "websocket handshake: wrong Sec-WebSocket-Accept");
	if (head_header(head, len, "Sec-WebSocket-Extensions", value, sizeof(value)) == 0 && *value)
		return err_set(err, "websocket handshake: extension '%.64s' was not asked for",
			       value);
	if (head_header(head, len, "Sec-WebSocket-Protocol", value, sizeof(value)) == 0 && *value)
		return err_set(err, "websocket handshake: subprotocol '%.64s' was not asked for",
			       value);
	return 0;
}

/* ---- the connection ---------------------------------------------------------------------- */

struct ws {
	CURL *curl;
	curl_socket_t sock;
	struct buf in; /* received bytes not yet parsed start at in_off */
	size_t in_off;
	struct ws_assembler as;
	size_t max_message;
	int connected; /* sock is valid */
	int broken;    /* after an error or a close: only ws_close remains */
};

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int wait_socket(struct ws *ws, short events, long ms)
{
	struct pollfd pfd = { .fd = ws->sock, .events = events };

	if (ms < 0)
		ms = 0;
	if (ms > WS_SLICE_MS)
		ms = WS_SLICE_MS;
	return poll(&pfd, 1, (int)ms);
}

/* Read what the socket has: 1 when bytes arrived, 0 when none are there yet, -1 on EOF or
 * error. */
static int recv_some(struct ws *ws, struct err *err)
{
	unsigned char tmp[WS_READ_CHUNK];
	size_t got = 0;
	CURLcode rc;

	rc = curl_easy_recv(ws->curl, tmp, sizeof(tmp), &got);
	if (rc == CURLE_AGAIN)
		return 0;
	if (rc != CURLE_OK)
		return err_set(err, "websocket: %s", curl_easy_strerror(rc));
	if (got == 0)
		return err_set(err, "websocket closed by the server without a close frame");
	/* keep the unparsed tail at the front so the buffer never grows past one frame */
	if (ws->in_off) {
		memmove(ws->in.data, ws->in.data + ws->in_off, ws->in.len - ws->in_off);
		ws->in.len -= ws->in_off;
		ws->in_off = 0;
	}
	if (buf_add(&ws->in, tmp, got) < 0)
		return err_set(err, "out of memory reading the websocket");
	return 1;
}

static int send_all(struct ws *ws, const unsigned char *p, size_t n, int cancelable,
		    struct err *err)
{
	double deadline = now_ms() + WS_SEND_TIMEOUT_MS;
	size_t sent;
	CURLcode rc;

	while (n) {
		sent = 0;
		rc = curl_easy_send(ws->curl, p, n, &sent);
		if (rc == CURLE_OK) {
			p += sent;
			n -= sent;
			continue;
		}
		if (rc != CURLE_AGAIN)
			return err_set(err, "websocket send: %s", curl_easy_strerror(rc));
		if (cancelable && cancel_requested())
			return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		if (now_ms() > deadline)
			return err_set(err, "websocket send timed out");
		wait_socket(ws, POLLOUT, WS_SLICE_MS);
	}
	return 0;
}

static int send_frame(struct ws *ws, int opcode, const void *data, size_t len, int cancelable,
		      struct err *err)
{
	struct buf frame = BUF_INIT;
	unsigned char mask[4];
	int rc;

	if (getrandom(mask, sizeof(mask), 0) != (ssize_t)sizeof(mask))
		return err_set(err, "getrandom: %s", strerror(errno));
	if (ws_frame_encode(&frame, opcode, 1, data, len, mask) < 0) {
		buf_release(&frame);
		return err_set(err, "out of memory for a websocket frame");
	}
	rc = send_all(ws, frame.data, frame.len, cancelable, err);
	buf_release(&frame);
	return rc;
}

int ws_send(struct ws *ws, int opcode, const void *data, size_t len, struct err *err)
{
	if (ws->broken)
		return err_set(err, "websocket is closed");
	if (opcode >= WS_CLOSE && len > 125)
		return err_set(err, "websocket control frame longer than 125 bytes");
	if (send_frame(ws, opcode, data, len, 1, err) < 0) {
		ws->broken = 1;
		return -1;
	}
	return 0;
}

/* A close frame from the server: answer it and describe it. */
static int on_close(struct ws *ws, const struct ws_frame *f, struct err *err)
{
	unsigned code = 1005;
	char reason[124];
	size_t n = 0;

	if (f->len >= 2) {
		code = (unsigned)f->payload[0] << 8 | f->payload[1];
		n = f->len - 2 < sizeof(reason) - 1 ? f->len - 2 : sizeof(reason) - 1;
		memcpy(reason, f->payload + 2, n);
	}
	reason[n] = '\0';
	/* echo the code, as RFC 6455 5.5.1 asks; nothing more will be read */
	send_frame(ws, WS_CLOSE, f->payload, f->len >= 2 ? 2 : 0, 0, NULL);
	ws->broken = 1;
	if (n && utf8_valid((const unsigned char *)reason, n, NULL))
		return err_set(err, "websocket closed by the server (%u: %s)", code, reason);
	return err_set(err, "websocket closed by the server (%u)", code);
}

int ws_recv(struct ws *ws, int *opcode, const unsigned char **data, size_t *len, long timeout_ms,
	    struct err *err)
{
	double deadline = now_ms() + (double)timeout_ms;
	struct ws_frame f;
	long n;
	int rc;

	if (ws->broken)
		return err_set(err, "websocket is closed");
	for (;;) {
		while ((n = ws_frame_decode(ws->in.data + ws->in_off, ws->in.len - ws->in_off, 0,
					    ws->max_message, &f, err)) > 0) {
			ws->in_off += (size_t)n;
			if (f.opcode == WS_PING) {
				if (send_frame(ws, WS_PONG, f.payload, f.len, 1, err) < 0)
					goto broken;
				continue;
			}
			if (f.opcode == WS_PONG)
				continue;
			if (f.opcode == WS_CLOSE)
				return on_close(ws, &f, err);
			rc = ws_assemble(&ws->as, &f, err);
			if (rc < 0)
				goto broken;
			if (rc == 1) {
				*opcode = ws->as.opcode;
				*data = ws->as.msg.data;
				*len = ws->as.msg.len;
				return 1;
			}
		}
		if (n < 0)
			goto broken;
		rc = recv_some(ws, err);
		if (rc > 0)
			continue;
		if (rc < 0)
			goto broken;
		if (cancel_requested()) {
			ws->broken = 1;
			return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		}
		if (now_ms() >= deadline)
			return 0;
		wait_socket(ws, POLLIN, (long)(deadline - now_ms()) + 1);
	}
broken:
	ws->broken = 1;
	return -1;
}

static int progress_cb(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	return cancel_requested() ? 1 : 0;
}

/* The URL as libcurl takes it: ws:// becomes http://, wss:// https:// (malloc'd). */
static char *http_url(const char *url)
{
	char *out = NULL;

	if (!strncasecmp(url, "ws://", 5)) {
		if (asprintf(&out, "http://%s", url + 5) < 0)
			out = NULL;
	} else if (!strncasecmp(url, "wss://", 6)) {
		if (asprintf(&out, "https://%s", url + 6) < 0)
			out = NULL;
	} else {
		out = strdup(url);
	}
	return out;
}

/* The opening handshake request for u (key: the Sec-WebSocket-Key). */
static int build_request(struct buf *req, CURLU *u, const char *key, struct err *err)
{
	char *host = NULL, *port = NULL, *path = NULL, *query = NULL, *user = NULL, *pass = NULL;
	int rc = -1;

	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		err_set(err, "websocket: no host in the URL");
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE);
	buf_addf(req, "GET %s%s%s HTTP/1.1\r\n", path && *path ? path : "/", query ? "?" : "",
		 query ? query : "");
	buf_addf(req, "Host: %s%s%s\r\n", host, port ? ":" : "", port ? port : "");
	buf_addf(req,
		 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
		 "User-Agent: imagen/" IMAGEN_VERSION "\r\n",
		 key);
	if (user) {
		/* the same basic auth libcurl derives from user:password@ in an http:// URL */
		size_t n = strlen(user) + 1 + (pass ? strlen(pass) : 0);
		char *cred = malloc(n + 1), *b64 = malloc((n + 2) / 3 * 4 + 1);

		if (cred && b64) {
			snprintf(cred, n + 1, "%s:%s", user, pass ? pass : "");
			ws_base64((const unsigned char *)cred, n, b64);
			buf_addf(req, "Authorization: Basic %s\r\n", b64);
			explicit_bzero(cred, n);
		}
		free(cred);
		free(b64);
	}
	if (buf_adds(req, "\r\n") < 0) {
		err_set(err, "out of memory");
		goto out;
	}
	rc = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(user);
	if (pass)
		explicit_bzero(pass, strlen(pass));
	curl_free(pass);
	return rc;
}

/* Read the handshake answer head into ws->in; *head_len = its length. */
static int read_head(struct ws *ws, long timeout_ms, size_t *head_len, struct err *err)
{
	double deadline = now_ms() + (double)timeout_ms;
	unsigned char *end;
	int rc;

	for (;;) {
		if (ws->in.len >= 4 &&
		    (end = memmem(ws->in.data, ws->in.len, "\r\n\r\n", 4)) != NULL) {
			*head_len = (size_t)(end - ws->in.data) + 4;
			return 0;
		}
		if (ws->in.len > WS_MAX_HEAD)
			return err_set(err, "websocket handshake: answer head over %d bytes",
				       WS_MAX_HEAD);
		rc = recv_some(ws, err);
		if (rc > 0)
			continue;
		if (rc < 0)
			return -1;
		if (cancel_requested())
			return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		if (now_ms() >= deadline)
			return err_set(err, "websocket handshake: no answer after %ld ms",
				       timeout_ms);
		wait_socket(ws, POLLIN, (long)(deadline - now_ms()) + 1);
	}
}

int ws_connect(struct ws **out, const char *url, const struct ws_options *opt, struct err *err)
{
	struct ws_options o = { 0 };
	struct ws *ws = NULL;
	struct buf req = BUF_INIT;
	unsigned char nonce[16];
	char key[25], shown[1024];
	char *hurl = NULL;
	CURLU *u = NULL;
	curl_socket_t sock = CURL_SOCKET_BAD;
	size_t head_len = 0;
	double t0 = now_ms();
	long status = 0;
	CURLcode cc;
	int rc = -1;

	*out = NULL;
	if (opt)
		o = *opt;
	if (!o.connect_timeout_ms)
		o.connect_timeout_ms = HTTP_DEFAULT_CONNECT_MS;
	if (!o.handshake_timeout_ms)
		o.handshake_timeout_ms = 10000L;
	if (!o.max_message)
		o.max_message = WS_MAX_MESSAGE_DEFAULT;

	hurl = http_url(url);
	u = curl_url();
	ws = calloc(1, sizeof(*ws));
	if (!hurl || !u || !ws) {
		err_set(err, "out of memory");
		goto out;
	}
	ws->max_message = o.max_message;
	ws->as.max = o.max_message;
	if (curl_url_set(u, CURLUPART_URL, hurl, 0) != CURLUE_OK) {
		err_set(err, "websocket: bad URL");
		goto out;
	}
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
		err_set(err, "getrandom: %s", strerror(errno));
		goto out;
	}
	ws_base64(nonce, sizeof(nonce), key);
	if (build_request(&req, u, key, err) < 0)
		goto out;

	ws->curl = curl_easy_init();
	if (!ws->curl) {
		err_set(err, "cannot initialise libcurl");
		goto out;
	}
	curl_easy_setopt(ws->curl, CURLOPT_URL, hurl);
	curl_easy_setopt(ws->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(ws->curl, CURLOPT_CONNECTTIMEOUT_MS, o.connect_timeout_ms);
	/* through an HTTP proxy the upgrade must travel in a CONNECT tunnel */
	curl_easy_setopt(ws->curl, CURLOPT_HTTPPROXYTUNNEL, 1L);
	curl_easy_setopt(ws->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ws->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(ws->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(ws->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
	cc = curl_easy_perform(ws->curl);
	if (cc == CURLE_ABORTED_BY_CALLBACK || (cc != CURLE_OK && cancel_requested())) {
		err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		goto out;
	}
	if (cc != CURLE_OK) {
		err_set(err, "websocket: %s", curl_easy_strerror(cc));
		goto out;
	}
	if (curl_easy_getinfo(ws->curl, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK ||
	    sock == CURL_SOCKET_BAD) {
		err_set(err, "websocket: no socket from libcurl");
		goto out;
	}
	ws->sock = sock;
	ws->connected = 1;
	if (send_all(ws, req.data, req.len, 1, err) < 0 ||
	    read_head(ws, o.handshake_timeout_ms, &head_len, err) < 0)
		goto out;
	if (ws_check_response((const char *)ws->in.data, head_len, key, &status, err) < 0)
		goto out;
	/* what follows the head already belongs to the first frames */
	ws->in_off = head_len;
	rc = 0;
out:
	if (ev_wants(o.events, EV_VERBOSE) && err && !(rc < 0 && err->code == HTTP_EXIT_CANCELED)) {
		http_redact_url(shown, sizeof(shown), url);
		if (status)
			ev_log(o.events, EV_VERBOSE, o.label ? o.label : "ws",
			       "GET %s -> %ld (%.0f ms)", shown, status, now_ms() - t0);
		else
			ev_log(o.events, EV_VERBOSE, o.label ? o.label : "ws",
			       "GET %s -> failed: %s (%.0f ms)", shown, err->msg, now_ms() - t0);
	}
	if (req.data) /* it may hold an Authorization header */
		explicit_bzero(req.data, req.len);
	buf_release(&req);
	curl_url_cleanup(u);
	free(hurl);
	if (rc < 0) {
		ws_close(ws);
		return -1;
	}
	*out = ws;
	return 0;
}

void ws_close(struct ws *ws)
{
	static const unsigned char normal[2] = { 0x03, 0xe8 }; /* 1000 */

	if (!ws)
		return;
	if (ws->connected && !ws->broken)
		send_frame(ws, WS_CLOSE, normal, sizeof(normal), 0, NULL);
	if (ws->curl)
		curl_easy_cleanup(ws->curl);
	buf_release(&ws->in);
	ws_assembler_release(&ws->as);
	free(ws);
}
