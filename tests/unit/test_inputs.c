/* test_inputs.c - image inputs: the checks of an input, mask conversion (white or
 * transparent = repaint, --mask-invert, the PNG each upstream wants), size rounding and
 * base64 encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/image.h"
#include "core/inputs.h"
#include "core/pngmeta.h"
#include "util/base64.h"

/* A w x h PNG of `channels` channels whose pixel i has every channel set to f(i). */
static void make_png(unsigned char **png, size_t *len, int w, int h, int channels,
		     const unsigned char *px)
{
	assert_int_equal(png_encode(png, len, px, (unsigned)w, (unsigned)h, channels, NULL), 0);
}

static void test_load_checks_format_size_and_mask_rules(void **state)
{
	unsigned char px[4 * 3] = { 0 }, *png;
	size_t len;
	struct gen_input in;
	struct err err = ERR_INIT;
	static const unsigned char jpeg_head[] = { 0xff, 0xd8, 0xff, 0xe0, 0, 0x10 };

	(void)state;
	make_png(&png, &len, 2, 2, 3, px);
	assert_int_equal(gen_input_from_bytes(&in, "image", "a.png", png, len, &err), 0);
	assert_int_equal(in.format, IMAGE_PNG);
	assert_int_equal(in.width, 2);
	assert_int_equal(in.height, 2);
	assert_int_equal(strlen(in.sha256), 64);
	assert_string_equal(in.role, "image");
	gen_input_release(&in);

	/* a truncated file names the file and the flag */
	assert_int_equal(gen_input_from_bytes(&in, "image", "cut.png", png, len - 20, &err), -1);
	assert_int_equal(err.code, 2);
	assert_non_null(strstr(err.msg, "--image cut.png: truncated PNG"));
	assert_int_equal(gen_input_from_bytes(&in, "image", "x.gif", "GIF89a", 6, &err), -1);
	assert_non_null(strstr(err.msg, "--image x.gif: not a PNG, JPEG or WebP"));
	/* a mask must be a PNG: a JPEG mask is refused before its pixels are looked at */
	assert_int_equal(
		gen_input_from_bytes(&in, "mask", "m.jpg", jpeg_head, sizeof(jpeg_head), &err), -1);
	assert_non_null(strstr(err.msg, "--mask m.jpg: "));
	free(png);
	assert_int_equal(gen_input_load(&in, "image", "/nonexistent/in.png", &err), -1);
	assert_int_equal(err.code, 2);
	assert_non_null(strstr(err.msg, "--image /nonexistent/in.png"));
}

static void test_grey_mask_white_is_repaint_and_invert_flips(void **state)
{
	unsigned char grey[4] = { 255, 0, 200, 10 }, *png, *map;
	size_t len;
	int w, h;

	(void)state;
	make_png(&png, &len, 2, 2, 1, grey);
	assert_int_equal(mask_repaint_map(png, len, 0, &map, &w, &h, NULL), 0);
	assert_int_equal(w, 2);
	assert_int_equal(h, 2);
	assert_int_equal(map[0], 255);
	assert_int_equal(map[1], 0);
	assert_int_equal(map[2], 200);
	free(map);
	assert_int_equal(mask_repaint_map(png, len, 1, &map, &w, &h, NULL), 0);
	assert_int_equal(map[0], 0);
	assert_int_equal(map[1], 255);
	assert_int_equal(map[3], 245);
	free(map);
	free(png);
}

static void test_alpha_mask_transparent_is_repaint(void **state)
{
	/* pixel 0 transparent (repaint), pixel 1 opaque white (kept: alpha rules) */
	unsigned char rgba[8] = { 0, 0, 0, 0, 255, 255, 255, 255 }, *png, *map;
	size_t len;
	int w, h;

	(void)state;
	make_png(&png, &len, 2, 1, 4, rgba);
	assert_int_equal(mask_repaint_map(png, len, 0, &map, &w, &h, NULL), 0);
	assert_int_equal(map[0], 255);
	assert_int_equal(map[1], 0);
	free(map);
	free(png);
}

static void test_mask_encode_round_trips_both_styles(void **state)
{
	unsigned char map[3] = { 255, 0, 128 }, *png, *px, *back;
	size_t len;
	int w, h;

	(void)state;
	/* white = repaint: a grey PNG holding the map itself */
	assert_int_equal(mask_encode(map, 3, 1, MASK_WHITE_REPAINT, &png, &len, NULL), 0);
	assert_int_equal(png_decode_rgba(png, len, &px, &w, &h, NULL), 0);
	assert_int_equal(px[0], 255);
	assert_int_equal(px[4], 0);
	assert_int_equal(px[8], 128);
	assert_int_equal(px[3], 255); /* opaque */
	free(px);
	free(png);
	/* alpha = OpenAI's: transparent where repaint, opaque where kept */
	assert_int_equal(mask_encode(map, 3, 1, MASK_ALPHA_REPAINT, &png, &len, NULL), 0);
	assert_int_equal(png_decode_rgba(png, len, &px, &w, &h, NULL), 0);
	assert_int_equal(px[3], 0);
	assert_int_equal(px[7], 255);
	assert_int_equal(px[11], 127);
	free(px);
	/* and read back as a mask it is the same map */
	assert_int_equal(mask_repaint_map(png, len, 0, &back, &w, &h, NULL), 0);
	assert_memory_equal(back, map, 3);
	free(back);
	free(png);
}

static void test_decode_refuses_garbage(void **state)
{
	unsigned char *px = NULL;
	int w, h;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(png_decode_rgba("\x89PNG\r\n\x1a\nxx", 10, &px, &w, &h, &err), -1);
	assert_null(px);
}

static void test_size_round(void **state)
{
	int w, h;

	(void)state;
	size_round(61, 45, 8, 0, &w, &h);
	assert_int_equal(w, 64);
	assert_int_equal(h, 48);
	size_round(3, 2, 8, 0, &w, &h); /* never below one block */
	assert_int_equal(w, 8);
	assert_int_equal(h, 8);
	size_round(4000, 2000, 8, 2048, &w, &h); /* scaled down, aspect kept */
	assert_int_equal(w, 2048);
	assert_int_equal(h, 1024);
	size_round(100, 10000, 16, 3840, &w, &h);
	assert_true(h <= 3840 && h % 16 == 0 && w % 16 == 0);
	size_round(40, 30, 1, 8192, &w, &h);
	assert_int_equal(w, 40);
	assert_int_equal(h, 30);
}

static void test_base64_encode(void **state)
{
	char *s;
	unsigned char *back;
	size_t n;

	(void)state;
	s = base64_encode("foobar", 6, NULL);
	assert_string_equal(s, "Zm9vYmFy");
	free(s);
	s = base64_encode("fooba", 5, NULL);
	assert_string_equal(s, "Zm9vYmE=");
	free(s);
	s = base64_encode("f", 1, "data:image/png;base64,");
	assert_string_equal(s, "data:image/png;base64,Zg==");
	assert_int_equal(base64_decode_text(&back, &n, s, strlen(s), NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(back[0], 'f');
	free(back);
	free(s);
	s = base64_encode("", 0, NULL);
	assert_string_equal(s, "");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_checks_format_size_and_mask_rules),
		cmocka_unit_test(test_grey_mask_white_is_repaint_and_invert_flips),
		cmocka_unit_test(test_alpha_mask_transparent_is_repaint),
		cmocka_unit_test(test_mask_encode_round_trips_both_styles),
		cmocka_unit_test(test_decode_refuses_garbage),
		cmocka_unit_test(test_size_round),
		cmocka_unit_test(test_base64_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
