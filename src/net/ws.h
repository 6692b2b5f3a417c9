/* ws.h - a small RFC 6455 WebSocket client on libcurl's CONNECT_ONLY socket (see ws.c for
 * why this exists instead of a library).  The framing is pure functions, unit-tested. */
#ifndef IMAGEN_WS_H
#define IMAGEN_WS_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct ev_sink;

#define WS_MAX_MESSAGE_DEFAULT ((size_t)32 << 20)

enum ws_opcode {
	WS_CONT = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xA,
};

/* ---- framing (pure) ---------------------------------------------------------------------- */

/** One decoded frame; payload points into the buffer handed to ws_frame_decode(). */
struct ws_frame {
	int fin;
	int opcode;
	const unsigned char *payload;
	size_t len;
};

/**
 * Append one frame to out: FIN when fin, the opcode, the payload masked with mask (a
 * client's frames are always masked; mask NULL = unmasked, as a server sends).  Returns
 * 0, or -1 when memory is short or out's cap is reached.
 */
int ws_frame_encode(struct buf *out, int opcode, int fin, const void *payload, size_t len,
		    const unsigned char *mask);

/**
 * Parse the frame at data[0..len).  masked says what the peer must send: 0 for a client
 * reading a server (a masked frame is an error), 1 for a server reading a client (an
 * unmasked frame is an error; the payload is unmasked in place, hence the non-const
 * data).  Refuses reserved bits (no extension is ever negotiated), unknown opcodes,
 * fragmented or oversized (> 125) control frames, a non-minimal or 2^63+ length, and a
 * payload over max_payload.  Returns the frame's whole size (> 0) with *f filled, 0 when
 * data holds only part of a frame, -1 on a protocol error (err says which).
 */
long ws_frame_decode(unsigned char *data, size_t len, int masked, size_t max_payload,
		     struct ws_frame *f, struct err *err);

/** Joins the data frames of fragmented messages (control frames are not its business). */
struct ws_assembler {
	struct buf msg; /* the message so far */
	int opcode;     /* WS_TEXT / WS_BINARY while a message is open (or complete), else 0 */
	int done;       /* msg holds a whole message */
	size_t max;     /* cap on a whole message, 0 = WS_MAX_MESSAGE_DEFAULT */
};

/**
 * Feed a data frame (text, binary or continuation).  Returns 1 when a whole message is
 * in a->msg (a->opcode says which kind; text is checked to be UTF-8), 0 when more
 * fragments are needed, -1 on a protocol error: a continuation with nothing open, a new
 * message while one is open, a message over the cap, text that is not UTF-8.  The next
 * call after a 1 starts a new message.
 */
int ws_assemble(struct ws_assembler *a, const struct ws_frame *f, struct err *err);
void ws_assembler_release(struct ws_assembler *a);

/* ---- handshake (pure) -------------------------------------------------------------------- */

/** out = base64(SHA-1(key + the RFC 6455 GUID)), the Sec-WebSocket-Accept value. */
void ws_accept_key(char out[29], const char *key);

/**
 * Check a handshake answer head (status line and headers, up to and including the blank
 * line) for the request sent with key: status 101, "Upgrade: websocket", a Connection
 * header holding "upgrade", the right Sec-WebSocket-Accept, no extension or subprotocol
 * we did not ask for.  *status gets the HTTP status (0 when unreadable).  Returns 0 or -1
 * with err ("websocket upgrade refused: HTTP 404", "bad Sec-WebSocket-Accept", ...).
 */
int ws_check_response(const char *head, size_t len, const char *key, long *status, struct err *err);

/** SHA-1 of data[0..len) into out (exposed for its test vectors). */
void ws_sha1(const void *data, size_t len, unsigned char out[20]);
/** Standard base64 of data[0..len) into out (4*ceil(len/3)+1 bytes, NUL-terminated). */
void ws_base64(const unsigned char *data, size_t len, char *out);

/* ---- the connection ---------------------------------------------------------------------- */

struct ws;

struct ws_options {
	long connect_timeout_ms;      /* TCP (+TLS) connect; 0 = 10 s */
	long handshake_timeout_ms;    /* the upgrade answer; 0 = 10 s */
	size_t max_message;           /* 0 = WS_MAX_MESSAGE_DEFAULT */
	const struct ev_sink *events; /* one -v line for the upgrade (like http.c); NULL-safe */
	const char *label;            /* who is asking, for that line */
};

/**
 * Connect to url (ws://, wss://, http:// or https://; libcurl does DNS, TCP, TLS, proxy
 * tunnelling and the connect timeout) and perform the opening handshake.  Returns 0 with
 * *out, or -1: err->msg says why ("websocket upgrade refused: HTTP 404", "connection
 * refused", ...), err->code is HTTP_EXIT_CANCELED when Ctrl-C interrupted it.
 */
int ws_connect(struct ws **out, const char *url, const struct ws_options *opt, struct err *err);

/**
 * Wait up to timeout_ms for the next whole text or binary message.  Pings are answered,
 * pongs ignored, a close is answered and reported.  Returns 1 with *opcode, *data and
 * *len (borrowed: valid until the next call; text is NUL-terminated), 0 when the time ran
 * out, -1 on an error ("closed by the server (1000)", a protocol error, a transport error;
 * err->code HTTP_EXIT_CANCELED when Ctrl-C came).  Wakes up within 100 ms of a Ctrl-C.
 * After -1 the connection is unusable (only ws_close remains).
 */
int ws_recv(struct ws *ws, int *opcode, const unsigned char **data, size_t *len, long timeout_ms,
	    struct err *err);

/** Send one unfragmented message (WS_TEXT or WS_BINARY) or control frame.  0 or -1. */
int ws_send(struct ws *ws, int opcode, const void *data, size_t len, struct err *err);

/** Send a close frame (best effort, no wait for the answer) and free.  NULL-safe. */
void ws_close(struct ws *ws);

#endif
