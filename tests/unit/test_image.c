/* test_image.c - the image module: sniffing, whole-file checks and sizes for PNG, JPEG
 * and WebP, with real files from libspng, libjpeg-turbo and libwebp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/image.h"
#include "core/pngmeta.h"
#include "util/base64.h"

/* A 16x16 JPEG (libjpeg-turbo) and a 16x16 lossy WebP (libwebp): the same bytes the fake
 * OpenAI server answers with. */
static const char jpeg16_b64[] =
	"/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsj"
	"HBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo"
	"KCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAAQABADASIAAhEBAxEB/"
	"8QAHwAAAQUBAQEBAQEAAAAAAAAAAAEC"
	"AwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2Jy"
	"ggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWW"
	"l5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEA"
	"AwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMi"
	"MoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0"
	"dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn"
	"6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDAooor70+JP//Z";
static const char webp16_b64[] = "UklGRjwAAABXRUJQVlA4IDAAAADwAQCdASoQABAAAUAmJaACdLoB+AAETAAA/"
				 "uxw3/0mzxNnibPkkf/OwbEu14AAAAA=";

struct blob {
	unsigned char *d;
	size_t n;
};

static struct blob decode(const char *b64)
{
	struct blob b = { NULL, 0 };

	assert_int_equal(base64_decode(&b.d, &b.n, b64, strlen(b64), BASE64_STRICT, NULL), 0);
	return b;
}

static struct blob png(unsigned w, unsigned h)
{
	struct blob b = { NULL, 0 };
	unsigned char *rgb = calloc((size_t)w * h, 3);

	assert_non_null(rgb);
	assert_int_equal(png_encode_rgb(&b.d, &b.n, rgb, w, h, NULL), 0);
	free(rgb);
	return b;
}

/* b with extra bytes appended (malloc'd copy). */
static struct blob with_tail(struct blob b, const char *tail)
{
	struct blob c = { malloc(b.n + strlen(tail)), b.n + strlen(tail) };

	assert_non_null(c.d);
	memcpy(c.d, b.d, b.n);
	memcpy(c.d + b.n, tail, strlen(tail));
	return c;
}

static void test_sniff_and_names(void **state)
{
	struct blob p = png(4, 3), j = decode(jpeg16_b64), w = decode(webp16_b64);

	assert_int_equal(image_sniff(p.d, p.n), IMAGE_PNG);
	assert_int_equal(image_sniff(j.d, j.n), IMAGE_JPEG);
	assert_int_equal(image_sniff(w.d, w.n), IMAGE_WEBP);
	assert_int_equal(image_sniff("GIF89a", 6), IMAGE_NONE);
	assert_int_equal(image_sniff(p.d, 7), IMAGE_NONE); /* signature cut short */
	assert_int_equal(image_sniff(NULL, 0), IMAGE_NONE);
	assert_string_equal(image_mime(IMAGE_JPEG), "image/jpeg");
	assert_string_equal(image_extension(IMAGE_JPEG), "jpg");
	assert_string_equal(image_extension(IMAGE_WEBP), "webp");
	assert_null(image_mime(IMAGE_NONE));
	assert_int_equal(image_format_of_mime("image/png"), IMAGE_PNG);
	assert_int_equal(image_format_of_mime("image/jpg"), IMAGE_JPEG);
	assert_int_equal(image_format_of_mime("image/gif"), IMAGE_NONE);
	assert_int_equal(image_format_of_mime(NULL), IMAGE_NONE);
	free(p.d);
	free(j.d);
	free(w.d);
}

static void test_whole_images_and_their_sizes(void **state)
{
	struct blob p = png(40, 24), j = decode(jpeg16_b64), w = decode(webp16_b64);
	struct image_info in;
	struct err err = ERR_INIT;

	assert_int_equal(image_check(p.d, p.n, &in, &err), 0);
	assert_int_equal(in.format, IMAGE_PNG);
	assert_int_equal(in.width, 40);
	assert_int_equal(in.height, 24);
	assert_int_equal(in.len, p.n);
	assert_int_equal(image_check(j.d, j.n, &in, &err), 0);
	assert_int_equal(in.format, IMAGE_JPEG);
	assert_int_equal(in.width, 16);
	assert_int_equal(in.height, 16);
	assert_int_equal(in.len, j.n);
	assert_int_equal(image_check(w.d, w.n, &in, &err), 0);
	assert_int_equal(in.format, IMAGE_WEBP);
	assert_int_equal(in.width, 16);
	assert_int_equal(in.height, 16);
	assert_int_equal(in.len, w.n);
	assert_int_equal(image_check(w.d, w.n, NULL, &err), 0); /* out is optional */
	free(p.d);
	free(j.d);
	free(w.d);
}

/* Every prefix of a good file is refused, and names the format; none crashes. */
static void test_every_truncation_is_refused(void **state)
{
	struct blob b[3] = { png(8, 8), decode(jpeg16_b64), decode(webp16_b64) };
	const char *word[3] = { "PNG", "JPEG", "WebP" };
	struct err err = ERR_INIT;
	size_t k, cut;

	for (k = 0; k < 3; k++) {
		for (cut = 0; cut < b[k].n; cut++) {
			err_clear(&err);
			if (image_check(b[k].d, cut, NULL, &err) == 0)
				fail_msg("%s cut at %zu of %zu bytes passed", word[k], cut, b[k].n);
			if (cut >= 12 && !strstr(err.msg, word[k]))
				fail_msg("%s cut at %zu: '%s'", word[k], cut, err.msg);
		}
		free(b[k].d);
	}
}

/* Bytes after the end are reported, not refused: the caller keeps data[0..len). */
static void test_trailing_bytes_give_the_image_length(void **state)
{
	struct blob b[3] = { png(8, 8), decode(jpeg16_b64), decode(webp16_b64) }, t;
	struct image_info in;
	struct err err = ERR_INIT;
	size_t k;

	for (k = 0; k < 3; k++) {
		t = with_tail(b[k], "\0\0trailing junk");
		assert_int_equal(image_check(t.d, t.n, &in, &err), 0);
		assert_int_equal(in.len, b[k].n);
		free(t.d);
		free(b[k].d);
	}
}

static void test_corrupt_files_are_named(void **state)
{
	struct blob p = png(8, 8), j = decode(jpeg16_b64), w = decode(webp16_b64);
	struct err err = ERR_INIT;
	static const unsigned char no_frame[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00,
						  0x04, 0x00, 0x00, 0xff, 0xd9 };
	static const unsigned char zero_len[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00,
						  0x00, 0x00, 0x00, 0xff, 0xd9 };
	unsigned char *c;

	assert_int_equal(image_check("GIF89a this is not", 18, NULL, &err), -1);
	assert_string_equal(err.msg, "not a PNG, JPEG or WebP image (18 bytes)");
	assert_int_equal(image_check(p.d, 5, NULL, &err), -1);
	assert_string_equal(err.msg, "truncated PNG (in the signature)");
	/* a flipped bit inside IDAT: pngmeta's CRC check */
	c = malloc(p.n);
	memcpy(c, p.d, p.n);
	c[p.n - 20] ^= 1;
	assert_int_equal(image_check(c, p.n, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "bad CRC"));
	free(c);
	/* a JPEG with no frame header, and one with a segment length below 2 (the fake
	 * A1111 once sent such bytes) */
	assert_int_equal(image_check(no_frame, sizeof(no_frame), NULL, &err), -1);
	assert_string_equal(err.msg, "corrupt JPEG (no frame header)");
	assert_int_equal(image_check(zero_len, sizeof(zero_len), NULL, &err), -1);
	assert_non_null(strstr(err.msg, "segment length 0"));
	/* a WebP whose RIFF size promises more than there is */
	c = malloc(w.n);
	memcpy(c, w.d, w.n);
	c[4] = (unsigned char)(c[4] + 8);
	assert_int_equal(image_check(c, w.n, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "truncated WebP"));
	/* ... and one whose first chunk is not an image */
	memcpy(c, w.d, w.n);
	memcpy(c + 12, "ICCP", 4);
	assert_int_equal(image_check(c, w.n, NULL, &err), -1);
	assert_string_equal(err.msg, "corrupt WebP (unknown first chunk)");
	free(c);
	free(p.d);
	free(j.d);
	free(w.d);
}

/* The two other WebP headers: lossless VP8L and the extended VP8X. */
static void test_webp_lossless_and_extended_headers(void **state)
{
	unsigned char vp8l[] = { 'R', 'I', 'F', 'F', 18, 0, 0, 0,    'W', 'E', 'B', 'P', 'V',
				 'P', '8', 'L', 6,   0,  0, 0, 0x2f, 0,   0,   0,   0,   0 };
	unsigned char vp8x[] = { 'R', 'I', 'F', 'F', 22,   0,    0,  0,    'W',  'E',
				 'B', 'P', 'V', 'P', '8',  'X',  10, 0,    0,    0,
				 0,   0,   0,   0,   0xff, 0x03, 0,  0x7f, 0x02, 0 };
	struct image_info in;
	struct err err = ERR_INIT;
	uint32_t bits = (300 - 1) | (uint32_t)(200 - 1) << 14;

	vp8l[21] = (unsigned char)bits;
	vp8l[22] = (unsigned char)(bits >> 8);
	vp8l[23] = (unsigned char)(bits >> 16);
	vp8l[24] = (unsigned char)(bits >> 24);
	assert_int_equal(image_check(vp8l, sizeof(vp8l), &in, &err), 0);
	assert_int_equal(in.width, 300);
	assert_int_equal(in.height, 200);
	assert_int_equal(image_check(vp8x, sizeof(vp8x), &in, &err), 0);
	assert_int_equal(in.width, 1024);
	assert_int_equal(in.height, 640);
}

/* A minimal JPEG: SOI, SOF0 16x8, SOS with two bytes of entropy data (one stuffed
 * 0xff00), EOI. */
static const unsigned char tiny_jpg[] = { 0xff, 0xd8, 0xff, 0xc0, 0, 11,   8,    0, 8,    0,
					  16,   1,    1,    0x11, 0, 0xff, 0xda, 0, 8,    1,
					  1,    0,    0,    0x3f, 0, 0x12, 0xff, 0, 0xff, 0xd9 };

static void test_minimal_jpeg(void **state)
{
	struct image_info in;
	struct err err = ERR_INIT;

	assert_int_equal(image_check(tiny_jpg, sizeof(tiny_jpg), &in, &err), 0);
	assert_int_equal(in.width, 16);
	assert_int_equal(in.height, 8);
	assert_int_equal(image_check(tiny_jpg, sizeof(tiny_jpg) - 2, &in, &err), -1);
	assert_non_null(strstr(err.msg, "truncated JPEG"));
}

/* Mutated and truncated images never crash the checks (ASan watches the reads); the
 * fuzz harness fuzz/image.c does the same at length. */
static void test_mutations_never_crash(void **state)
{
	struct blob b[3] = { png(8, 8), decode(jpeg16_b64), decode(webp16_b64) };
	struct image_info in;
	unsigned char *buf;
	unsigned seed = 12345;
	size_t n;
	int i, k;

	for (i = 0; i < 6000; i++) {
		k = i % 3;
		seed = seed * 1103515245u + 12345u;
		n = b[k].n - (seed >> 8) % (b[k].n / 2 + 1);
		buf = malloc(n ? n : 1);
		memcpy(buf, b[k].d, n);
		if (n > 4) {
			seed = seed * 1103515245u + 12345u;
			buf[4 + (seed >> 8) % (n - 4)] ^= (unsigned char)(seed >> 3);
		}
		if (image_check(buf, n, &in, NULL) == 0) {
			assert_true(in.len <= n);
			assert_true(in.width > 0);
		}
		free(buf);
	}
	for (k = 0; k < 3; k++)
		free(b[k].d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sniff_and_names),
		cmocka_unit_test(test_whole_images_and_their_sizes),
		cmocka_unit_test(test_every_truncation_is_refused),
		cmocka_unit_test(test_trailing_bytes_give_the_image_length),
		cmocka_unit_test(test_corrupt_files_are_named),
		cmocka_unit_test(test_webp_lossless_and_extended_headers),
		cmocka_unit_test(test_minimal_jpeg),
		cmocka_unit_test(test_mutations_never_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
