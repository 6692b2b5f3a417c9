/* test_ws.c - the WebSocket framing and handshake checks, as pure functions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/ws.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	out[2 * n] = '\0';
}

static void test_sha1_vectors(void **state)
{
	unsigned char d[20];
	char h[41], *million;

	ws_sha1("", 0, d);
	hex(d, 20, h);
	assert_string_equal(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	ws_sha1("abc", 3, d);
	hex(d, 20, h);
	assert_string_equal(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
	/* 56 bytes: the padding needs a second block */
	ws_sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
	hex(d, 20, h);
	assert_string_equal(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	million = malloc(1000000);
	assert_non_null(million);
	memset(million, 'a', 1000000);
	ws_sha1(million, 1000000, d);
	free(million);
	hex(d, 20, h);
	assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_base64(void **state)
{
	char out[16];

	ws_base64((const unsigned char *)"", 0, out);
	assert_string_equal(out, "");
	ws_base64((const unsigned char *)"f", 1, out);
	assert_string_equal(out, "Zg==");
	ws_base64((const unsigned char *)"fo", 2, out);
	assert_string_equal(out, "Zm8=");
	ws_base64((const unsigned char *)"foo", 3, out);
	assert_string_equal(out, "Zm9v");
	ws_base64((const unsigned char *)"foobar", 6, out);
	assert_string_equal(out, "Zm9vYmFy");
	ws_base64((const unsigned char *)"\xff\xfe\x00", 3, out);
	assert_string_equal(out, "//4A");
}

/* RFC 6455 section 1.3 */
static void test_accept_key_rfc_example(void **state)
{
	char out[29];

	ws_accept_key(out, "dGhlIHNhbXBsZSBub25jZQ==");
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* RFC 6455 section 5.7 */
static void test_encode_rfc_examples(void **state)
{
	static const unsigned char hello_unmasked[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	static const unsigned char hello_masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
						      0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const unsigned char frag[] = {
		0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f
	};
	static const unsigned char mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char *payload = calloc(1, 65536);
	struct buf b = BUF_INIT;

	assert_int_equal(ws_frame_encode(&b, WS_TEXT, 1, "Hello", 5, NULL), 0);
	assert_int_equal(b.len, sizeof(hello_unmasked));
	assert_memory_equal(b.data, hello_unmasked, b.len);
	b.len = 0;
	assert_int_equal(ws_frame_encode(&b, WS_TEXT, 1, "Hello", 5, mask), 0);
	assert_int_equal(b.len, sizeof(hello_masked));
	assert_memory_equal(b.data, hello_masked, b.len);
	b.len = 0;
	assert_int_equal(ws_frame_encode(&b, WS_TEXT, 0, "Hel", 3, NULL), 0);
	assert_int_equal(ws_frame_encode(&b, WS_CONT, 1, "lo", 2, NULL), 0);
	assert_int_equal(b.len, sizeof(frag));
	assert_memory_equal(b.data, frag, b.len);
	/* 256 bytes: 16-bit length; 64 KiB: 64-bit length */
	b.len = 0;
	assert_int_equal(ws_frame_encode(&b, WS_BINARY, 1, payload, 256, NULL), 0);
	assert_int_equal(b.len, 4 + 256);
	assert_memory_equal(b.data, "\x82\x7e\x01\x00", 4);
	b.len = 0;
	assert_int_equal(ws_frame_encode(&b, WS_BINARY, 1, payload, 65536, NULL), 0);
	assert_int_equal(b.len, 10 + 65536);
	assert_memory_equal(b.data, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	buf_release(&b);
	free(payload);
}

static void test_decode_rfc_examples(void **state)
{
	unsigned char hello[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	unsigned char ping[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	unsigned char frag[] = { 0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f };
	struct err err = ERR_INIT;
	struct ws_frame f;

	assert_int_equal(ws_frame_decode(hello, sizeof(hello), 0, 1024, &f, &err), 7);
	assert_int_equal(f.fin, 1);
	assert_int_equal(f.opcode, WS_TEXT);
	assert_int_equal(f.len, 5);
	assert_memory_equal(f.payload, "Hello", 5);
	assert_int_equal(ws_frame_decode(ping, sizeof(ping), 0, 1024, &f, &err), 7);
	assert_int_equal(f.opcode, WS_PING);
	assert_int_equal(ws_frame_decode(frag, sizeof(frag), 0, 1024, &f, &err), 5);
	assert_int_equal(f.fin, 0);
	assert_int_equal(f.opcode, WS_TEXT);
	assert_memory_equal(f.payload, "Hel", 3);
	assert_int_equal(ws_frame_decode(frag + 5, 4, 0, 1024, &f, &err), 4);
	assert_int_equal(f.fin, 1);
	assert_int_equal(f.opcode, WS_CONT);
	assert_memory_equal(f.payload, "lo", 2);
}

/* Every prefix of a frame asks for more bytes, never misreads. */
static void test_decode_partial_input(void **state)
{
	static const size_t lens[] = { 0, 1, 125, 126, 300, 65535, 65536, 70000 };
	struct buf b = BUF_INIT;
	struct err err = ERR_INIT;
	struct ws_frame f;
	unsigned char *payload = malloc(70000), *copy;
	size_t i, k, cut;

	for (i = 0; i < 70000; i++)
		payload[i] = (unsigned char)(i * 7);
	for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		b.len = 0;
		assert_int_equal(ws_frame_encode(&b, WS_BINARY, 1, payload, lens[k], NULL), 0);
		copy = malloc(b.len);
		for (cut = 0; cut < b.len; cut += cut < 20 ? 1 : 997) {
			memcpy(copy, b.data, b.len);
			assert_int_equal(ws_frame_decode(copy, cut, 0, 1 << 20, &f, &err), 0);
		}
		memcpy(copy, b.data, b.len);
		assert_int_equal(ws_frame_decode(copy, b.len, 0, 1 << 20, &f, &err), (long)b.len);
		assert_int_equal(f.len, lens[k]);
		if (lens[k])
			assert_memory_equal(f.payload, payload, lens[k]);
		free(copy);
	}
	buf_release(&b);
	free(payload);
}

/* What a client encodes, a server-side decoder unmasks back. */
static void test_masked_round_trip(void **state)
{
	static const size_t lens[] = { 0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 100001 };
	static const unsigned char mask[4] = { 0xde, 0xad, 0xbe, 0xef };
	unsigned char *payload = malloc(100001);
	struct buf b = BUF_INIT;
	struct err err = ERR_INIT;
	struct ws_frame f;
	size_t i, k;

	for (i = 0; i < 100001; i++)
		payload[i] = (unsigned char)(i ^ (i >> 8));
	for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		b.len = 0;
		assert_int_equal(ws_frame_encode(&b, WS_TEXT, 1, payload, lens[k], mask), 0);
		/* the payload on the wire is not the clear text */
		if (lens[k] > 8)
			assert_memory_not_equal(b.data + b.len - lens[k], payload, 8);
		/* a client refuses a masked frame, a server an unmasked one */
		assert_int_equal(ws_frame_decode(b.data, b.len, 0, 1 << 20, &f, &err), -1);
		assert_string_equal(err.msg, "masked websocket frame from the server");
		assert_int_equal(ws_frame_decode(b.data, b.len, 1, 1 << 20, &f, &err), (long)b.len);
		assert_int_equal(f.len, lens[k]);
		if (lens[k])
			assert_memory_equal(f.payload, payload, lens[k]);
	}
	b.len = 0;
	ws_frame_encode(&b, WS_TEXT, 1, "x", 1, NULL);
	assert_int_equal(ws_frame_decode(b.data, b.len, 1, 1024, &f, &err), -1);
	assert_string_equal(err.msg, "unmasked websocket frame from a client");
	buf_release(&b);
	free(payload);
}

static long decode_bytes(const char *bytes, size_t n, size_t max, struct err *err)
{
	unsigned char tmp[64];
	struct ws_frame f;

	memcpy(tmp, bytes, n);
	return ws_frame_decode(tmp, n, 0, max, &f, err);
}

static void test_decode_refuses_bad_frames(void **state)
{
	struct err err = ERR_INIT;

	assert_int_equal(decode_bytes("\xc1\x00", 2, 1024, &err), -1);
	assert_string_equal(err.msg, "websocket frame with reserved bits set (0xc1)");
	assert_int_equal(decode_bytes("\x83\x00", 2, 1024, &err), -1);
	assert_string_equal(err.msg, "websocket frame with unknown opcode 3");
	assert_int_equal(decode_bytes("\x8b\x00", 2, 1024, &err), -1);
	assert_string_equal(err.msg, "websocket frame with unknown opcode 11");
	assert_int_equal(decode_bytes("\x09\x00", 2, 1024, &err), -1);
	assert_string_equal(err.msg, "fragmented websocket control frame");
	assert_int_equal(decode_bytes("\x89\x7e\x00\x7e", 4, 1024, &err), -1);
	assert_string_equal(err.msg, "websocket control frame longer than 125 bytes");
	assert_int_equal(decode_bytes("\x82\x7e\x00\x05", 4, 1024, &err), -1);
	assert_string_equal(err.msg, "websocket frame length not minimally encoded");
	assert_int_equal(
		decode_bytes("\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", 10, 1 << 20, &err), -1);
	assert_string_equal(err.msg, "websocket frame length not minimally encoded");
	assert_int_equal(
		decode_bytes("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, 1 << 20, &err), -1);
	assert_string_equal(err.msg, "websocket frame length with the top bit set");
	/* over the cap: refused as soon as the length is known, before the payload came */
	assert_int_equal(
		decode_bytes("\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00", 10, 1 << 20, &err), -1);
	assert_string_equal(err.msg,
			    "websocket frame of 4294967296 bytes is over the 1048576-byte limit");
	assert_int_equal(decode_bytes("\x81\x05hel", 5, 4, &err), -1);
	assert_string_equal(err.msg, "websocket frame of 5 bytes is over the 4-byte limit");
	/* a close frame is a control frame like any other */
	assert_int_equal(decode_bytes("\x88\x02\x03\xe8", 4, 1024, &err), 4);
}

static struct ws_frame frame(int fin, int opcode, const char *s)
{
	struct ws_frame f = { fin, opcode, (const unsigned char *)s, strlen(s) };

	return f;
}

static void test_assemble_fragments(void **state)
{
	struct ws_assembler a = { BUF_INIT, 0, 0, 0 };
	struct err err = ERR_INIT;
	struct ws_frame f;

	f = frame(1, WS_TEXT, "{\"type\":\"status\"}");
	assert_int_equal(ws_assemble(&a, &f, &err), 1);
	assert_int_equal(a.opcode, WS_TEXT);
	assert_string_equal((char *)a.msg.data, "{\"type\":\"status\"}");
	/* the next message starts afresh */
	f = frame(0, WS_TEXT, "{\"a\":");
	assert_int_equal(ws_assemble(&a, &f, &err), 0);
	f = frame(0, WS_CONT, "1,");
	assert_int_equal(ws_assemble(&a, &f, &err), 0);
	f = frame(1, WS_CONT, "\"b\":2}");
	assert_int_equal(ws_assemble(&a, &f, &err), 1);
	assert_string_equal((char *)a.msg.data, "{\"a\":1,\"b\":2}");
	assert_int_equal(a.msg.len, 13);
	/* binary needs not be UTF-8; an empty message is a message */
	f = (struct ws_frame){ 1, WS_BINARY, (const unsigned char *)"\xff\x00\xfe", 3 };
	assert_int_equal(ws_assemble(&a, &f, &err), 1);
	assert_int_equal(a.opcode, WS_BINARY);
	assert_int_equal(a.msg.len, 3);
	f = frame(1, WS_TEXT, "");
	assert_int_equal(ws_assemble(&a, &f, &err), 1);
	assert_int_equal(a.msg.len, 0);
	assert_string_equal((char *)a.msg.data, "");
	ws_assembler_release(&a);
}

static void test_assemble_refuses_bad_sequences(void **state)
{
	struct ws_assembler a = { BUF_INIT, 0, 0, 10 };
	struct err err = ERR_INIT;
	struct ws_frame f;

	f = frame(1, WS_CONT, "x");
	assert_int_equal(ws_assemble(&a, &f, &err), -1);
	assert_string_equal(err.msg, "websocket continuation frame with no message open");

	ws_assembler_release(&a);
	f = frame(0, WS_TEXT, "ab");
	assert_int_equal(ws_assemble(&a, &f, &err), 0);
	f = frame(1, WS_BINARY, "cd");
	assert_int_equal(ws_assemble(&a, &f, &err), -1);
	assert_string_equal(err.msg, "new websocket message inside a fragmented one");

	/* the cap holds across fragments */
	ws_assembler_release(&a);
	f = frame(0, WS_TEXT, "123456");
	assert_int_equal(ws_assemble(&a, &f, &err), 0);
	f = frame(1, WS_CONT, "78901");
	assert_int_equal(ws_assemble(&a, &f, &err), -1);
	assert_string_equal(err.msg, "websocket message over the 10-byte limit");

	ws_assembler_release(&a);
	f = (struct ws_frame){ 1, WS_TEXT, (const unsigned char *)"\xc3\x28", 2 };
	assert_int_equal(ws_assemble(&a, &f, &err), -1);
	assert_string_equal(err.msg, "websocket text message is not valid UTF-8");

	/* a UTF-8 sequence split across fragments is fine */
	ws_assembler_release(&a);
	f = (struct ws_frame){ 0, WS_TEXT, (const unsigned char *)"\xc3", 1 };
	assert_int_equal(ws_assemble(&a, &f, &err), 0);
	f = (struct ws_frame){ 1, WS_CONT, (const unsigned char *)"\xa9", 1 };
	assert_int_equal(ws_assemble(&a, &f, &err), 1);

	f = frame(1, WS_PING, "");
	assert_int_equal(ws_assemble(&a, &f, &err), -1);
	ws_assembler_release(&a);
}

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int check(const char *head, long *status, struct err *err)
{
	return ws_check_response(head, strlen(head), KEY, status, err);
}

static void test_handshake_answers(void **state)
{
	struct err err = ERR_INIT;
	long st;

	assert_int_equal(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			       "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
			       &st, &err),
			 0);
	assert_int_equal(st, 101);
	/* header names and the Upgrade value are case-insensitive; Connection is a list */
	assert_int_equal(check("HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\n"
			       "connection: keep-alive, upgrade\r\nsec-websocket-accept:  " ACCEPT
			       "  \r\nServer: x\r\n\r\n",
			       &st, &err),
			 0);
	assert_int_equal(check("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", &st, &err),
			 -1);
	assert_int_equal(st, 404);
	assert_string_equal(err.msg, "websocket upgrade refused: HTTP 404");
	assert_int_equal(
		check("HTTP/1.1 101 x\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT
		      "\r\n\r\n",
		      &st, &err),
		-1);
	assert_string_equal(err.msg, "websocket handshake: no 'Upgrade: websocket' in the answer");
	assert_int_equal(check("HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: close\r\n"
			       "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n",
			       &st, &err),
			 -1);
	assert_string_equal(err.msg, "websocket handshake: no 'Connection: upgrade' in the answer");
	assert_int_equal(check("HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			       "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
			       &st, &err),
			 -1);
	assert_string_equal(err.msg, "websocket handshake: wrong Sec-WebSocket-Accept");
	assert_int_equal(check("HTTP/1.1 101 x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			       "Sec-WebSocket-Accept: " ACCEPT
			       "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
			       &st, &err),
			 -1);
	assert_string_equal(
		err.msg, "websocket handshake: extension 'permessage-deflate' was not asked for");
	assert_int_equal(check("SSH-2.0-OpenSSH\r\n\r\n", &st, &err), -1);
	assert_int_equal(st, 0);
	assert_string_equal(err.msg, "websocket handshake: not an HTTP answer");
	assert_int_equal(check("HTTP/1.1\r\n\r\n", &st, &err), -1);
	assert_int_equal(check("HTTP/1.1\r\nX: 101\r\n\r\n", &st, &err), -1);
	assert_string_equal(err.msg, "websocket handshake: not an HTTP answer");
	assert_int_equal(check("", &st, &err), -1);
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Garbage and mutated streams through the decoder and assembler as ws_recv drives them:
 * every answer is "need more", a frame inside the input, or an error - never a read
 * outside the buffer (ASan watches) or a frame longer than the cap.
 */
static void test_garbage_streams(void **state)
{
	struct buf valid = BUF_INIT;
	struct err err = ERR_INIT;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	unsigned char *data;
	int iter, frames = 0, errors = 0;

	ws_frame_encode(&valid, WS_TEXT, 0, "{\"type\":", 8, NULL);
	ws_frame_encode(&valid, WS_PING, 1, "p", 1, NULL);
	ws_frame_encode(&valid, WS_CONT, 1, "\"progress\"}", 11, NULL);
	ws_frame_encode(&valid, WS_BINARY, 1, "\x00\x00\x00\x01\x00\x00\x00\x02", 8, NULL);
	for (iter = 0; iter < 20000; iter++) {
		struct ws_assembler a = { BUF_INIT, 0, 0, 256 };
		size_t len, off = 0, i;
		struct ws_frame f;
		long n;

		if (iter % 2) {
			len = valid.len;
			data = malloc(len);
			memcpy(data, valid.data, len);
			for (i = 0; i < 1 + rng(&seed) % 4; i++)
				data[rng(&seed) % len] ^= (unsigned char)(1u << (rng(&seed) % 8));
		} else {
			len = rng(&seed) % 64;
			data = malloc(len ? len : 1);
			for (i = 0; i < len; i++)
				data[i] = (unsigned char)rng(&seed);
		}
		while (off < len) {
			n = ws_frame_decode(data + off, len - off, 0, 256, &f, &err);
			if (n <= 0) {
				errors += n < 0;
				break;
			}
			assert_true((size_t)n <= len - off);
			assert_true(f.len <= 256);
			assert_true(f.payload >= data + off && f.payload + f.len <= data + off + n);
			off += (size_t)n;
			frames++;
			if (f.opcode < WS_CLOSE && ws_assemble(&a, &f, &err) < 0) {
				errors++;
				break;
			}
		}
		ws_assembler_release(&a);
		free(data);
	}
	/* the mutations really reached both outcomes */
	assert_true(frames > 1000);
	assert_true(errors > 1000);
	buf_release(&valid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha1_vectors),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_accept_key_rfc_example),
		cmocka_unit_test(test_encode_rfc_examples),
		cmocka_unit_test(test_decode_rfc_examples),
		cmocka_unit_test(test_decode_partial_input),
		cmocka_unit_test(test_masked_round_trip),
		cmocka_unit_test(test_decode_refuses_bad_frames),
		cmocka_unit_test(test_assemble_fragments),
		cmocka_unit_test(test_assemble_refuses_bad_sequences),
		cmocka_unit_test(test_handshake_answers),
		cmocka_unit_test(test_garbage_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
