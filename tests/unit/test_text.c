/* test_text.c - upstream text made fit for one message line (util/text.c) and the
 * adapter kit's checks (core/adapter.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/adapter.h"
#include "util/buf.h"
#include "util/text.h"

static void cleans(const char *in, const char *want, size_t size)
{
	char out[256];

	assert_true(size <= sizeof(out));
	text_clean(out, size, in);
	assert_string_equal(out, want);
}

static void test_one_clean_line(void **state)
{
	cleans("CUDA out of memory.\n", "CUDA out of memory.", 256);
	cleans("  two\r\nlines\tand  spaces  ", "two lines and spaces", 256);
	/* a terminal escape loses its ESC (and a C1 CSI disappears): nothing to obey */
	cleans("\x1b]0;PWNED\x07\x1b[2Jtext", "]0;PWNED[2Jtext", 256);
	cleans("a\xc2\x9b"
	       "31mb",
	       "a31mb", 256);
	cleans("caf\xc3\xa9 \x7f!", "caf\xc3\xa9 !", 256); /* UTF-8 stays, DEL goes */
	cleans(NULL, "", 256);
	cleans("\x01\x02", "", 256);
	/* cut to fit, never inside a UTF-8 sequence */
	cleans("abcdef", "abc", 4);
	cleans("ab\xc3\xa9", "ab", 4);
}

static void test_append_with_a_limit(void **state)
{
	struct buf b = BUF_INIT;

	assert_int_equal(text_clean_adds(&b, "node ", 0), 0);
	assert_int_equal(text_clean_adds(&b, " 4\n(Loader)", 0), 0); /* runs across calls */
	assert_int_equal(text_clean_adds(&b, NULL, 0), 0);
	assert_string_equal((const char *)b.data, "node 4 (Loader)");
	assert_int_equal(text_clean_adds(&b, ": 0123456789", 6), 0);
	assert_string_equal((const char *)b.data, "node 4 (Loader): 0123...");
	assert_int_equal(text_clean_add(&b, "xyz", 2, 0), 0);
	assert_string_equal((const char *)b.data, "node 4 (Loader): 0123...xy");
	buf_release(&b);
}

static void test_env_names(void **state)
{
	assert_true(adapter_env_name_ok("OPENAI_API_KEY"));
	assert_true(adapter_env_name_ok("_x9"));
	assert_false(adapter_env_name_ok("9LIVES"));
	assert_false(adapter_env_name_ok("MY-KEY"));
	assert_false(adapter_env_name_ok("sk-abc123")); /* a value, not a name */
	assert_false(adapter_env_name_ok(""));
	assert_false(adapter_env_name_ok(NULL));
}

static void test_numbers(void **state)
{
	json_t *v;
	double d = -1;

	v = json_real(6.5);
	assert_int_equal(adapter_number(v, 0, 100, &d), 0);
	assert_true(d == 6.5);
	json_decref(v);
	v = json_integer(7);
	assert_int_equal(adapter_number(v, 0, 100, &d), 0);
	assert_true(d == 7);
	json_decref(v);
	v = json_string("3.25"); /* --set cfg=3.25 */
	assert_int_equal(adapter_number(v, 0, 100, &d), 0);
	assert_true(d == 3.25);
	json_decref(v);
	d = -1;
	v = json_string("3.25x");
	assert_int_equal(adapter_number(v, 0, 100, &d), -1);
	json_decref(v);
	v = json_string("nan");
	assert_int_equal(adapter_number(v, 0, 100, &d), -1);
	json_decref(v);
	v = json_real(100.5);
	assert_int_equal(adapter_number(v, 0, 100, &d), -1);
	json_decref(v);
	v = json_true();
	assert_int_equal(adapter_number(v, 0, 100, &d), -1);
	json_decref(v);
	assert_int_equal(adapter_number(NULL, 0, 100, &d), -1);
	assert_true(d == -1); /* untouched */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_clean_line),
		cmocka_unit_test(test_append_with_a_limit),
		cmocka_unit_test(test_env_names),
		cmocka_unit_test(test_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
