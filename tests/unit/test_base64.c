/* test_base64.c - the shared base64 decoder: round trips against an independent encoder
 * at every length and alignment, both modes' rules, and the error messages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/base64.h"

/* A plain reference encoder (standard alphabet, padded), written apart from the decoder. */
static char *encode(const unsigned char *p, size_t n, int pad)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *s = malloc(n / 3 * 4 + 5), *w = s;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		*w++ = a[p[i] >> 2];
		*w++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*w++ = a[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		*w++ = a[p[i + 2] & 63];
	}
	if (n - i == 1) {
		*w++ = a[p[i] >> 2];
		*w++ = a[(p[i] & 3) << 4];
		if (pad) {
			*w++ = '=';
			*w++ = '=';
		}
	} else if (n - i == 2) {
		*w++ = a[p[i] >> 2];
		*w++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*w++ = a[(p[i + 1] & 15) << 2];
		if (pad)
			*w++ = '=';
	}
	*w = '\0';
	return s;
}

static unsigned char *random_bytes(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
	return p;
}

static void expect_decodes(const char *s, unsigned flags, const void *want, size_t want_len)
{
	struct err err = ERR_INIT;
	unsigned char *d = NULL;
	size_t n = 99;

	if (base64_decode(&d, &n, s, strlen(s), flags, &err))
		fail_msg("'%.60s' (flags %u): %s", s, flags, err.msg);
	assert_int_equal(n, want_len);
	if (want_len)
		assert_memory_equal(d, want, want_len);
	free(d);
}

static void expect_refused(const char *s, unsigned flags, const char *msg)
{
	struct err err = ERR_INIT;
	unsigned char *d = (unsigned char *)1;
	size_t n = 99;

	assert_int_equal(base64_decode(&d, &n, s, strlen(s), flags, &err), -1);
	assert_null(d);
	assert_int_equal(n, 0);
	assert_string_equal(err.msg, msg);
}

static void test_round_trip_every_length_both_modes(void **state)
{
	size_t n;

	for (n = 0; n <= 300; n++) {
		unsigned char *p = random_bytes(n, (unsigned)n + 7);
		char *s = encode(p, n, 1), *bare = encode(p, n, 0);

		expect_decodes(s, BASE64_STRICT, p, n);
		expect_decodes(s, BASE64_LENIENT, p, n);
		expect_decodes(bare, BASE64_LENIENT, p, n);
		free(s);
		free(bare);
		free(p);
	}
}

static void test_every_byte_value_survives(void **state)
{
	unsigned char all[256 * 3];
	char *s;
	size_t i;

	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(i * 7 + i / 256);
	s = encode(all, sizeof(all), 1);
	expect_decodes(s, BASE64_STRICT, all, sizeof(all));
	free(s);
}

static void test_large_value_with_line_breaks_leaves_the_fast_path_and_comes_back(void **state)
{
	/* 64 KiB wrapped at 76 columns with CRLF (MIME style): every line break sends the
	 * decoder through the careful loop; every byte must still come out */
	size_t n = 65536, i, col = 0;
	unsigned char *p = random_bytes(n, 42);
	char *s = encode(p, n, 1), *wrapped = malloc(strlen(s) * 2 + 1), *w = wrapped;

	for (i = 0; s[i]; i++) {
		*w++ = s[i];
		if (++col == 76) {
			*w++ = '\r';
			*w++ = '\n';
			col = 0;
		}
	}
	*w = '\0';
	expect_decodes(wrapped, BASE64_STRICT, p, n);
	free(wrapped);
	free(s);
	free(p);
}

static void test_known_vectors(void **state)
{
	/* RFC 4648 section 10 */
	expect_decodes("", BASE64_STRICT, "", 0);
	expect_decodes("Zg==", BASE64_STRICT, "f", 1);
	expect_decodes("Zm8=", BASE64_STRICT, "fo", 2);
	expect_decodes("Zm9v", BASE64_STRICT, "foo", 3);
	expect_decodes("Zm9vYg==", BASE64_STRICT, "foob", 4);
	expect_decodes("Zm9vYmE=", BASE64_STRICT, "fooba", 5);
	expect_decodes("Zm9vYmFy", BASE64_STRICT, "foobar", 6);
}

static void test_strict_rules(void **state)
{
	expect_decodes("aGVs\r\nbG8h", BASE64_STRICT, "hello!", 6);
	expect_refused("aGVsbG8", BASE64_STRICT, "truncated base64 (7 characters)");
	expect_refused("aGVsbG8===", BASE64_STRICT, "truncated base64 (10 characters)");
	expect_refused("aGV$bG8=", BASE64_STRICT, "invalid base64 at offset 3");
	expect_refused("aG=sbG8=", BASE64_STRICT, "invalid base64 at offset 3");
	expect_refused("aGVs bG8h", BASE64_STRICT, "invalid base64 at offset 4");
	expect_refused("aGVs-G8h", BASE64_STRICT, "invalid base64 at offset 4");
	/* the offset is the input's, also deep behind the fast path */
	expect_refused("QUJDREVGR0hJSktM*E5P", BASE64_STRICT, "invalid base64 at offset 16");
}

static void test_lenient_rules(void **state)
{
	expect_decodes("aGVsbG8", BASE64_LENIENT, "hello", 5);
	expect_decodes(" aGVs\tbG8h \n", BASE64_LENIENT, "hello!", 6);
	expect_decodes("-_-_", BASE64_LENIENT, "\xfb\xff\xbf", 3);
	expect_decodes("+/+/", BASE64_LENIENT, "\xfb\xff\xbf", 3);
	expect_refused("a", BASE64_LENIENT, "truncated base64 (1 characters)");
	expect_refused("aGk=x", BASE64_LENIENT, "invalid base64 at offset 4");
	expect_refused("aGVs*G8=", BASE64_LENIENT, "invalid base64 at offset 4");
	/* a final partial group whose unused bits are set is not something an encoder makes */
	expect_refused("aGl=", BASE64_LENIENT, "truncated base64 (4 characters)");
	expect_refused("aR==", BASE64_LENIENT, "truncated base64 (4 characters)");
	expect_refused("aGk====", BASE64_LENIENT, "truncated base64 (7 characters)");
}

/* Image bytes as text: plain base64 (padding optional) or a data: URL carrying it, as
 * A1111 forks and Replicate send them. */
static void test_text_forms(void **state)
{
	unsigned char *out;
	size_t n;
	struct err err = ERR_INIT;

	assert_int_equal(base64_decode_text(&out, &n, "aGVsbG8=", 8, &err), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(base64_decode_text(&out, &n, "aGVsbG8", 7, &err), 0);
	assert_int_equal(n, 5);
	free(out);
	assert_int_equal(base64_decode_text(&out, &n, "data:image/png;base64,aGk=", 26, &err), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "hi", 2);
	free(out);
	assert_int_equal(base64_decode_text(&out, &n, "data:;base64,aGk", 16, &err), 0);
	assert_int_equal(n, 2);
	free(out);
	assert_int_equal(base64_decode_text(&out, &n, "", 0, &err), 0);
	assert_int_equal(n, 0);
	free(out);
	assert_int_equal(base64_decode_text(&out, &n, "a", 1, &err), -1); /* 6 bits dangle */
	assert_int_equal(base64_decode_text(&out, &n, "aGk=x", 5, &err), -1);
	assert_int_equal(base64_decode_text(&out, &n, "aGVs*G8=", 8, &err), -1);
	assert_null(out);
	/* a data: URL that is not base64 (percent-encoded text) carries no image */
	assert_int_equal(base64_decode_text(&out, &n, "data:text/plain,hello", 21, &err), -1);
	assert_string_equal(err.msg, "a data: URL without base64 data");
	assert_int_equal(base64_decode_text(&out, &n, "data:", 5, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_length_both_modes),
		cmocka_unit_test(test_every_byte_value_survives),
		cmocka_unit_test(
			test_large_value_with_line_breaks_leaves_the_fast_path_and_comes_back),
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_strict_rules),
		cmocka_unit_test(test_lenient_rules),
		cmocka_unit_test(test_text_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
