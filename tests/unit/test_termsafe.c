/* test_termsafe.c - control characters from outside text never reach a terminal raw:
 * what is escaped (C0, DEL, C1, broken UTF-8), how, and what is left alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/termsafe.h"

static void assert_safe_n(const char *in, size_t n, unsigned flags, const char *want)
{
	struct buf b = BUF_INIT;

	assert_int_equal(termsafe_append(&b, in, n, flags), 0);
	assert_non_null(b.data);
	assert_string_equal((char *)b.data, want);
	buf_release(&b);
}

static void assert_safe(const char *in, unsigned flags, const char *want)
{
	assert_safe_n(in, strlen(in), flags, want);
}

static void test_terminal_attacks_are_escaped(void **state)
{
	(void)state;
	/* retitle, then clear the screen: the example from the issue */
	assert_safe("a\x1b]0;PWNED\x07\x1b[2Jb", 0, "a\\x1b]0;PWNED\\x07\\x1b[2Jb");
	/* C1 CSI as a character (U+009B) and as a lone byte */
	assert_safe("x\xc2\x9b"
		    "31my",
		    0, "x\\u009b31my");
	assert_safe("x\x9b"
		    "31my",
		    0, "x\\x9b31my");
	assert_safe("\x7f\x01\x1f", 0, "\\x7f\\x01\\x1f");
	assert_safe("a\rb\tc", 0, "a\\rb\\tc");
}

static void test_newline_kept_only_when_asked(void **state)
{
	(void)state;
	assert_safe("one\ntwo", 0, "one\\ntwo");
	assert_safe("one\ntwo", TERMSAFE_NEWLINE, "one\ntwo");
	assert_safe("one\r\ntwo", TERMSAFE_NEWLINE, "one\\r\ntwo");
}

static void test_text_is_left_alone(void **state)
{
	(void)state;
	assert_safe("", 0, "");
	assert_safe("a lighthouse at dusk, 4K", 0, "a lighthouse at dusk, 4K");
	assert_safe("Café crème brûlée 東京の夜景 \xf0\x9f\x8c\x83", 0,
		    "Café crème brûlée 東京の夜景 \xf0\x9f\x8c\x83");
	/* U+00A0 follows the C1 range and is printable; a backslash stays one backslash */
	assert_safe("\xc2\xa0\\x1b", 0, "\xc2\xa0\\x1b");
}

static void test_broken_utf8_bytes_are_escaped_one_by_one(void **state)
{
	(void)state;
	assert_safe("caf\xe9!", 0, "caf\\xe9!");
	/* a truncated sequence at the end, an overlong NUL, a surrogate */
	assert_safe("ok\xe6\x9d", 0, "ok\\xe6\\x9d");
	assert_safe("\xc0\x80", 0, "\\xc0\\x80");
	assert_safe("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");
	/* an embedded NUL is shown, and what follows it is kept */
	assert_safe_n("a\0b", 3, 0, "a\\x00b");
}

static void test_appends_to_what_is_there(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(buf_adds(&b, "imagen: "), 0);
	assert_int_equal(termsafe_append(&b, "\x1b[2J", 4, 0), 0);
	assert_string_equal((char *)b.data, "imagen: \\x1b[2J");
	buf_release(&b);
	/* a cap reached is an error, not a silent cut */
	b.max = 4;
	assert_int_equal(termsafe_append(&b, "\x1b\x1b", 2, 0), -1);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_terminal_attacks_are_escaped),
		cmocka_unit_test(test_newline_kept_only_when_asked),
		cmocka_unit_test(test_text_is_left_alone),
		cmocka_unit_test(test_broken_utf8_bytes_are_escaped_one_by_one),
		cmocka_unit_test(test_appends_to_what_is_there),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
