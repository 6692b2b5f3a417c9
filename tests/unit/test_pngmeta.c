/* test_pngmeta.c - PNG chunk walking, text chunks in and out, the RGB encoder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "util/buf.h"
#include "core/pngmeta.h"

#define PNGCHECK "/usr/bin/pngcheck"

/* A small encoded picture; the tests below take it apart and put it back together. */
struct png {
	unsigned char *data;
	size_t len;
};

static void encode_test_png(struct png *p, unsigned w, unsigned h)
{
	struct err err = ERR_INIT;
	unsigned char *rgb = malloc((size_t)w * h * 3);
	size_t i;

	assert_non_null(rgb);
	for (i = 0; i < (size_t)w * h * 3; i++)
		rgb[i] = (unsigned char)(i * 7 + i / (w * 3) * 13);
	assert_int_equal(png_encode_rgb(&p->data, &p->len, rgb, w, h, &err), 0);
	free(rgb);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Offset of the nth (0-based) chunk of this type in a well-formed PNG, or 0. */
static size_t find_chunk(const unsigned char *png, size_t len, const char *type, int nth)
{
	size_t off = 8;

	while (off + 12 <= len) {
		if (memcmp(png + off + 4, type, 4) == 0 && nth-- == 0)
			return off;
		off += 12 + be32(png + off);
	}
	return 0;
}

static int count_chunks(const unsigned char *png, size_t len, const char *type)
{
	int n = 0;

	while (find_chunk(png, len, type, n))
		n++;
	return n;
}

/* All IDAT chunks, whole (length, type, data, CRC), back to back. */
static void collect_idat(struct buf *out, const unsigned char *png, size_t len)
{
	size_t off;
	int i;

	for (i = 0; (off = find_chunk(png, len, "IDAT", i)); i++)
		assert_int_equal(buf_add(out, png + off, 12 + be32(png + off)), 0);
}

static void add_chunk(struct buf *b, const char *type, const void *data, size_t n)
{
	unsigned char be[4];
	uLong crc;

	put_be32(be, (uint32_t)n);
	assert_int_equal(buf_add(b, be, 4), 0);
	assert_int_equal(buf_add(b, type, 4), 0);
	assert_int_equal(buf_add(b, data, n), 0);
	crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)type, 4);
	crc = crc32(crc, data, (uInt)n);
	put_be32(be, (uint32_t)crc);
	assert_int_equal(buf_add(b, be, 4), 0);
}

/* src with extra chunks spliced in right after IHDR (offset 33). */
static void splice_after_ihdr(struct png *out, const struct png *src, const struct buf *extra)
{
	struct buf b = BUF_INIT;

	assert_int_equal(buf_add(&b, src->data, 33), 0);
	assert_int_equal(buf_add(&b, extra->data, extra->len), 0);
	assert_int_equal(buf_add(&b, src->data + 33, src->len - 33), 0);
	out->data = buf_detach(&b, &out->len);
}

/* A compressed payload as zTXt/iTXt carry it. */
static void add_deflated(struct buf *b, const char *text, size_t n)
{
	uLongf zlen = compressBound(n);
	unsigned char *z = malloc(zlen);

	assert_non_null(z);
	assert_int_equal(compress2(z, &zlen, (const Bytef *)text, n, 9), Z_OK);
	assert_int_equal(buf_add(b, z, zlen), 0);
	free(z);
}

static void test_encode_then_check(void **state)
{
	struct err err = ERR_INIT;
	unsigned w = 0, h = 0;
	struct png p;

	encode_test_png(&p, 37, 23);
	assert_memory_equal(p.data, "\x89PNG\r\n\x1a\n", 8);
	assert_int_equal(pngmeta_check(p.data, p.len, &w, &h, &err), 0);
	assert_int_equal(w, 37);
	assert_int_equal(h, 23);
	/* IHDR says 8-bit truecolor, not interlaced */
	assert_memory_equal(p.data + 12, "IHDR", 4);
	assert_int_equal(p.data[24], 8);
	assert_int_equal(p.data[25], 2);
	assert_int_equal(p.data[28], 0);
	free(p.data);
}

static void test_encode_rejects_empty_size(void **state)
{
	struct err err = ERR_INIT;
	unsigned char px[3] = { 0 }, *out = (unsigned char *)"x";
	size_t len = 1;

	assert_int_equal(png_encode_rgb(&out, &len, px, 0, 1, &err), -1);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_string_equal(err.msg, "cannot encode a 0x1 image");
}

static void test_splice_points_into_the_original(void **state)
{
	/* the pieces of a spliced PNG: signature + IHDR and the image chunks are the
	 * caller's own bytes (nothing copied), the text chunks come between, and a text
	 * chunk being replaced is skipped by splitting the run around it */
	static const struct png_text texts[] = { { "imagen", "{}" } };
	struct err err = ERR_INIT;
	struct pngmeta_splice sp;
	struct png p, tagged;
	unsigned char *cat;
	size_t i, o = 0, ins_len;
	unsigned char *ins;

	encode_test_png(&p, 8, 8);
	assert_int_equal(pngmeta_splice(&sp, p.data, p.len, texts, 1, &err), 0);
	assert_int_equal(sp.iovcnt, 3);
	assert_ptr_equal(sp.iov[0].iov_base, p.data);
	assert_int_equal(sp.iov[0].iov_len, 33);
	assert_ptr_equal(sp.iov[2].iov_base, p.data + 33);
	assert_int_equal(sp.iov[2].iov_len, p.len - 33);
	assert_memory_equal((unsigned char *)sp.iov[1].iov_base + 4, "tEXtimagen", 10);
	assert_int_equal(sp.len, p.len + sp.iov[1].iov_len);
	/* the concatenation is exactly what pngmeta_insert returns, and a valid PNG */
	cat = malloc(sp.len);
	for (i = 0; i < (size_t)sp.iovcnt; i++) {
		memcpy(cat + o, sp.iov[i].iov_base, sp.iov[i].iov_len);
		o += sp.iov[i].iov_len;
	}
	assert_int_equal(pngmeta_check(cat, sp.len, NULL, NULL, &err), 0);
	assert_int_equal(pngmeta_insert(&ins, &ins_len, p.data, p.len, texts, 1, &err), 0);
	assert_int_equal(ins_len, sp.len);
	assert_memory_equal(ins, cat, sp.len);
	pngmeta_splice_release(&sp);

	/* splicing the tagged file again: its old imagen chunk (right after IHDR) is cut
	 * out, so the image data is one run starting behind it */
	tagged.data = ins;
	tagged.len = ins_len;
	assert_int_equal(pngmeta_splice(&sp, tagged.data, tagged.len, texts, 1, &err), 0);
	assert_int_equal(sp.iovcnt, 3);
	assert_ptr_equal(sp.iov[2].iov_base, tagged.data + 33 + (ins_len - p.len));
	assert_int_equal(sp.len, ins_len);
	pngmeta_splice_release(&sp);
	assert_null(sp.iov);
	free(ins);
	free(cat);
	free(p.data);
}

static void test_insert_and_read_back(void **state)
{
	static const struct png_text texts[] = {
		{ "parameters", "a lighthouse at dusk\nSteps: 4, Seed: 42, Size: 8x8" },
		{ "imagen", "caf\xc3\xa9 \xe2\x98\x95" },
	};
	struct err err = ERR_INIT;
	struct png p, q;
	struct png_text *got;
	size_t n, off;

	encode_test_png(&p, 8, 8);
	assert_int_equal(pngmeta_insert(&q.data, &q.len, p.data, p.len, texts, 2, &err), 0);
	assert_int_equal(pngmeta_check(q.data, q.len, NULL, NULL, &err), 0);

	/* right after IHDR, in order: ASCII as tEXt, UTF-8 as iTXt with empty fields */
	assert_memory_equal(q.data + 33 + 4, "tEXt", 4);
	assert_memory_equal(q.data + 33 + 8, "parameters\0a lighthouse", 23);
	off = 33 + 12 + be32(q.data + 33);
	assert_memory_equal(q.data + off + 4, "iTXt", 4);
	assert_int_equal(be32(q.data + off), 6 + 5 + strlen(texts[1].text));
	assert_memory_equal(q.data + off + 8, "imagen\0\0\0\0\0caf\xc3\xa9", 16);

	assert_int_equal(pngmeta_read_text(&got, &n, q.data, q.len, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].keyword, "parameters");
	assert_string_equal(got[0].text, texts[0].text);
	assert_string_equal(got[1].keyword, "imagen");
	assert_string_equal(got[1].text, texts[1].text);
	assert_string_equal(pngmeta_find(got, n, "imagen"), texts[1].text);
	assert_null(pngmeta_find(got, n, "Comment"));
	pngmeta_text_free(got, n);
	free(q.data);
	free(p.data);
}

static void test_insert_replaces_same_keyword_keeps_others(void **state)
{
	static const struct png_text first[] = { { "parameters", "old" }, { "Comment", "keep" } };
	static const struct png_text second[] = { { "parameters", "new" } };
	struct err err = ERR_INIT;
	struct buf extra = BUF_INIT;
	struct png p, with_foreign, q1, q2;
	struct png_text *got;
	size_t n;

	encode_test_png(&p, 8, 8);
	/* a zTXt "parameters" from another writer and a private chunk we know nothing about */
	assert_int_equal(buf_add(&extra, "parameters\0\0", 12), 0);
	add_deflated(&extra, "foreign", 7);
	{
		struct buf z = BUF_INIT;

		add_chunk(&z, "zTXt", extra.data, extra.len);
		add_chunk(&z, "prVt", "opaque\0bytes", 12);
		splice_after_ihdr(&with_foreign, &p, &z);
		buf_release(&z);
	}
	buf_release(&extra);

	assert_int_equal(pngmeta_insert(&q1.data, &q1.len, with_foreign.data, with_foreign.len,
					first, 2, &err),
			 0);
	assert_int_equal(count_chunks(q1.data, q1.len, "zTXt"), 0);
	assert_int_equal(pngmeta_insert(&q2.data, &q2.len, q1.data, q1.len, second, 1, &err), 0);
	assert_int_equal(pngmeta_check(q2.data, q2.len, NULL, NULL, &err), 0);

	assert_int_equal(pngmeta_read_text(&got, &n, q2.data, q2.len, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].keyword, "parameters");
	assert_string_equal(got[0].text, "new");
	assert_string_equal(got[1].keyword, "Comment");
	assert_string_equal(got[1].text, "keep");
	pngmeta_text_free(got, n);

	assert_int_equal(count_chunks(q2.data, q2.len, "prVt"), 1);
	assert_memory_equal(
		q2.data + find_chunk(q2.data, q2.len, "prVt", 0),
		with_foreign.data + find_chunk(with_foreign.data, with_foreign.len, "prVt", 0), 24);
	free(q2.data);
	free(q1.data);
	free(with_foreign.data);
	free(p.data);
}

static void test_insert_keeps_idat_bytes(void **state)
{
	static const struct png_text texts[] = { { "parameters", "x" } };
	struct err err = ERR_INIT;
	struct buf before = BUF_INIT, after = BUF_INIT;
	struct png p, q;

	encode_test_png(&p, 300, 200);
	assert_int_equal(pngmeta_insert(&q.data, &q.len, p.data, p.len, texts, 1, &err), 0);
	collect_idat(&before, p.data, p.len);
	collect_idat(&after, q.data, q.len);
	assert_true(before.len > 0);
	assert_int_equal(after.len, before.len);
	assert_memory_equal(after.data, before.data, before.len);
	/* and the file still ends with the very same IEND */
	assert_memory_equal(q.data + q.len - 12, p.data + p.len - 12, 12);
	buf_release(&before);
	buf_release(&after);
	free(q.data);
	free(p.data);
}

static void test_insert_refuses_bad_keywords(void **state)
{
	static const char *const bad[] = {
		"",
		" lead",
		"trail ",
		"dou  ble",
		"ctl\x01",
		"del\x7f",
		"nbsp\xc2\xa0",      /* U+00A0 is not printable in PNG keywords */
		"kanji\xe6\xbc\xa2", /* outside Latin-1 */
		"raw\xe9",           /* not UTF-8 */
		"0123456789012345678901234567890123456789012345678901234567890123456789012345678"
		"9", /* 80 */
	};
	struct err err = ERR_INIT;
	struct png_text t = { NULL, "text" };
	unsigned char *out = NULL;
	struct png p;
	size_t i, len;

	encode_test_png(&p, 4, 4);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t.keyword = (char *)bad[i];
		err_clear(&err);
		assert_int_equal(pngmeta_insert(&out, &len, p.data, p.len, &t, 1, &err), -1);
		assert_null(out);
		assert_true(strstr(err.msg, "keyword") != NULL);
	}
	/* text that is not UTF-8 cannot go into iTXt */
	t.keyword = "Comment";
	t.text = "caf\xe9";
	assert_int_equal(pngmeta_insert(&out, &len, p.data, p.len, &t, 1, &err), -1);
	assert_string_equal(err.msg, "text for PNG keyword \"Comment\" is not valid UTF-8");
	free(p.data);
}

static void test_insert_latin1_keyword(void **state)
{
	static const char kw79[] =
		"0123456789012345678901234567890123456789012345678901234567890123456789012345678";
	const struct png_text texts[] = { { "Caf\xc3\xa9 note", "ok" }, { (char *)kw79, "long" } };
	struct err err = ERR_INIT;
	struct png_text *got;
	struct png p, q;
	size_t n;

	encode_test_png(&p, 4, 4);
	assert_int_equal(pngmeta_insert(&q.data, &q.len, p.data, p.len, texts, 2, &err), 0);
	/* stored as Latin-1, read back as UTF-8 */
	assert_memory_equal(q.data + 33 + 8, "Caf\xe9 note\0ok", 12);
	assert_int_equal(pngmeta_read_text(&got, &n, q.data, q.len, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].keyword, "Caf\xc3\xa9 note");
	assert_string_equal(got[1].keyword, kw79);
	pngmeta_text_free(got, n);
	free(q.data);
	free(p.data);
}

static void test_rejects_empty_and_wrong_signature(void **state)
{
	struct err err = ERR_INIT;
	struct png p;

	assert_int_equal(pngmeta_check(NULL, 0, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "not a PNG file");
	assert_int_equal(pngmeta_check((const unsigned char *)"", 0, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "not a PNG file");
	assert_int_equal(
		pngmeta_check((const unsigned char *)"GIF89a\0\0\0\0\0\0", 12, NULL, NULL, &err),
		-1);
	assert_string_equal(err.msg, "not a PNG file");

	encode_test_png(&p, 4, 4);
	p.data[1] = 'Q';
	assert_int_equal(pngmeta_check(p.data, p.len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "not a PNG file");
	free(p.data);
}

static void test_rejects_every_truncation(void **state)
{
	static const struct png_text texts[] = { { "parameters", "x" } };
	struct err err = ERR_INIT;
	struct png_text *got;
	unsigned char *out, *cut;
	struct png p;
	size_t len, n, out_len;

	encode_test_png(&p, 5, 3);
	for (len = 0; len < p.len; len++) {
		/* an exact-size copy, so ASan sees any read past the truncated end */
		cut = malloc(len ? len : 1);
		assert_non_null(cut);
		memcpy(cut, p.data, len);
		err_clear(&err);
		assert_int_equal(pngmeta_check(cut, len, NULL, NULL, &err), -1);
		assert_true(err.msg[0] != '\0');
		assert_int_equal(pngmeta_read_text(&got, &n, cut, len, &err), -1);
		assert_int_equal(pngmeta_insert(&out, &out_len, cut, len, texts, 1, &err), -1);
		free(cut);
	}
	/* the messages say where: inside IDAT, and at a chunk boundary before IEND */
	len = find_chunk(p.data, p.len, "IDAT", 0) + 10;
	assert_int_equal(pngmeta_check(p.data, len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "truncated PNG (chunk IDAT at offset 33)");
	len = find_chunk(p.data, p.len, "IEND", 0);
	assert_int_equal(pngmeta_check(p.data, len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "PNG does not end with IEND");
	free(p.data);
}

static void test_rejects_bad_crc(void **state)
{
	struct err err = ERR_INIT;
	struct png p;
	size_t off, i;

	encode_test_png(&p, 4, 4);
	off = find_chunk(p.data, p.len, "IDAT", 0);
	i = off + 8 + be32(p.data + off) + 2; /* a byte of the CRC */
	p.data[i] ^= 0x40;
	assert_int_equal(pngmeta_check(p.data, p.len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "bad CRC in chunk IDAT at offset 33");
	p.data[i] ^= 0x40;
	p.data[off + 9] ^= 0x01; /* a data byte: same verdict */
	assert_int_equal(pngmeta_check(p.data, p.len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "bad CRC in chunk IDAT at offset 33");
	free(p.data);
}

static void test_rejects_bad_lengths_and_structure(void **state)
{
	struct err err = ERR_INIT;
	struct buf b = BUF_INIT;
	struct png p, q;
	size_t off;

	encode_test_png(&p, 4, 4);
	off = find_chunk(p.data, p.len, "IDAT", 0);

	put_be32(p.data + off, (uint32_t)p.len); /* bigger than the whole file */
	assert_int_equal(pngmeta_check(p.data, p.len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "truncated PNG (chunk IDAT at offset 33)");
	put_be32(p.data + off, 0xfffffff0u); /* past 2^31-1 */
	assert_int_equal(pngmeta_check(p.data, p.len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "bad length 4294967280 in chunk IDAT at offset 33");
	free(p.data);

	/* no IDAT at all */
	encode_test_png(&p, 4, 4);
	assert_int_equal(buf_add(&b, p.data, 33), 0);
	add_chunk(&b, "IEND", "", 0);
	assert_int_equal(pngmeta_check(b.data, b.len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "PNG has no IDAT chunk");
	buf_release(&b);

	/* bytes after IEND */
	assert_int_equal(buf_add(&b, p.data, p.len), 0);
	assert_int_equal(buf_add(&b, "junk", 4), 0);
	assert_int_equal(pngmeta_check(b.data, b.len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "PNG does not end with IEND (4 bytes follow it)");
	buf_release(&b);

	/* IHDR must come first */
	assert_int_equal(buf_add(&b, p.data, 8), 0);
	add_chunk(&b, "tEXt", "a\0b", 3);
	assert_int_equal(buf_add(&b, p.data + 8, p.len - 8), 0);
	assert_int_equal(pngmeta_check(b.data, b.len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "PNG does not start with IHDR");
	buf_release(&b);

	/* a chunk type that is not four letters */
	q.len = p.len;
	q.data = malloc(q.len);
	assert_non_null(q.data);
	memcpy(q.data, p.data, q.len);
	q.data[off + 5] = '1';
	assert_int_equal(pngmeta_check(q.data, q.len, NULL, NULL, &err), -1);
	assert_string_equal(err.msg, "bad chunk type at offset 33");
	free(q.data);
	free(p.data);
}

static void test_reads_ztxt_and_compressed_itxt(void **state)
{
	static const char utf8[] = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e text, repeated text";
	struct err err = ERR_INIT;
	struct buf data = BUF_INIT, chunks = BUF_INIT;
	struct png_text *got;
	struct png p, q;
	size_t n;

	encode_test_png(&p, 4, 4);
	assert_int_equal(buf_add(&data, "Comment\0\0", 9), 0); /* keyword, method 0 */
	add_deflated(&data, "Latin-1 \xe9t\xe9 text", 16);
	add_chunk(&chunks, "zTXt", data.data, data.len);
	buf_release(&data);
	/* keyword, flag 1, method 0, language "ja", translated keyword, text */
	assert_int_equal(buf_add(&data, "Title\0\1\0ja\0Titel\0", 17), 0);
	add_deflated(&data, utf8, strlen(utf8));
	add_chunk(&chunks, "iTXt", data.data, data.len);
	buf_release(&data);
	splice_after_ihdr(&q, &p, &chunks);
	buf_release(&chunks);

	assert_int_equal(pngmeta_check(q.data, q.len, NULL, NULL, &err), 0);
	assert_int_equal(pngmeta_read_text(&got, &n, q.data, q.len, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].keyword, "Comment");
	assert_string_equal(got[0].text, "Latin-1 \xc3\xa9t\xc3\xa9 text");
	assert_string_equal(got[1].keyword, "Title");
	assert_string_equal(got[1].text, utf8);
	pngmeta_text_free(got, n);
	free(q.data);
	free(p.data);
}

static void test_reads_latin1_text(void **state)
{
	struct err err = ERR_INIT;
	struct buf chunks = BUF_INIT;
	struct png_text *got;
	struct png p, q;
	size_t n;

	encode_test_png(&p, 4, 4);
	add_chunk(&chunks, "tEXt", "parameters\0caf\xe9", 15);
	splice_after_ihdr(&q, &p, &chunks);
	buf_release(&chunks);
	assert_int_equal(pngmeta_read_text(&got, &n, q.data, q.len, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(got[0].text, "caf\xc3\xa9");
	assert_string_equal(pngmeta_find(got, n, "parameters"), "caf\xc3\xa9");
	pngmeta_text_free(got, n);
	free(q.data);
	free(p.data);
}

static void test_reads_no_text(void **state)
{
	struct err err = ERR_INIT;
	struct png_text *got = (struct png_text *)&err;
	struct png p;
	size_t n = 99;

	encode_test_png(&p, 4, 4);
	assert_int_equal(pngmeta_read_text(&got, &n, p.data, p.len, &err), 0);
	assert_int_equal(n, 0);
	assert_null(got);
	assert_null(pngmeta_find(got, n, "parameters"));
	pngmeta_text_free(got, n);
	free(p.data);
}

/* One malformed chunk spliced into a good PNG; read_text must fail naming it. */
static void expect_bad_text(const char *type, const void *data, size_t n, const char *msg)
{
	struct err err = ERR_INIT;
	struct buf chunks = BUF_INIT;
	struct png_text *got;
	struct png p, q;
	size_t count;

	encode_test_png(&p, 4, 4);
	add_chunk(&chunks, type, data, n);
	splice_after_ihdr(&q, &p, &chunks);
	buf_release(&chunks);
	assert_int_equal(pngmeta_check(q.data, q.len, NULL, NULL, &err), 0);
	assert_int_equal(pngmeta_read_text(&got, &count, q.data, q.len, &err), -1);
	assert_string_equal(err.msg, msg);
	free(q.data);
	free(p.data);
}

static void test_rejects_malformed_text_chunks(void **state)
{
	struct buf data = BUF_INIT;

	expect_bad_text("tEXt", "no terminator", 13,
			"malformed tEXt chunk at offset 33 (no keyword)");
	expect_bad_text("tEXt", "\0empty keyword", 14,
			"malformed tEXt chunk at offset 33 (no keyword)");
	expect_bad_text("tEXt", "k\0nul\0inside", 12, "NUL in the text of chunk tEXt at offset 33");
	expect_bad_text("zTXt", "k\0\0not zlib", 11,
			"bad compressed text in chunk zTXt at offset 33");
	expect_bad_text("zTXt", "k\0\1", 3, "malformed zTXt chunk at offset 33");
	expect_bad_text("iTXt", "k\0\2\0\0\0x", 7, "malformed iTXt chunk at offset 33");
	expect_bad_text("iTXt", "k\0\0\0en", 6, "malformed iTXt chunk at offset 33");

	/* a stream cut short */
	assert_int_equal(buf_add(&data, "k\0\0", 3), 0);
	add_deflated(&data, "some text that compresses", 25);
	expect_bad_text("zTXt", data.data, data.len - 4,
			"truncated compressed text in chunk zTXt at offset 33");
	buf_release(&data);
}

static void test_rejects_inflation_past_cap(void **state)
{
	size_t big = ((size_t)16 << 20) + 1;
	struct buf data = BUF_INIT;
	char *text = malloc(big);

	assert_non_null(text);
	memset(text, 'a', big);
	assert_int_equal(buf_add(&data, "bomb\0\1\0\0\0", 9), 0); /* compressed iTXt */
	add_deflated(&data, text, big);
	free(text);
	expect_bad_text("iTXt", data.data, data.len,
			"text in chunk iTXt at offset 33 inflates past 16 MiB");
	buf_release(&data);
}

static void test_pngcheck_accepts_output(void **state)
{
	static const struct png_text texts[] = {
		{ "parameters", "a lighthouse\nSteps: 4, Seed: 42, Size: 64x48" },
		{ "imagen", "{\"prompt\": \"caf\xc3\xa9\"}" },
	};
	struct err err = ERR_INIT;
	char path[] = "/tmp/imagen-test-pngmeta-XXXXXX";
	char cmd[128];
	struct png p, q;
	FILE *f;
	int fd;

	if (access(PNGCHECK, X_OK) != 0)
		skip();
	encode_test_png(&p, 64, 48);
	assert_int_equal(pngmeta_insert(&q.data, &q.len, p.data, p.len, texts, 2, &err), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(q.data, 1, q.len, f), q.len);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), PNGCHECK " -q %s >/dev/null 2>&1", path);
	assert_int_equal(system(cmd), 0);
	unlink(path);
	free(q.data);
	free(p.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_then_check),
		cmocka_unit_test(test_encode_rejects_empty_size),
		cmocka_unit_test(test_splice_points_into_the_original),
		cmocka_unit_test(test_insert_and_read_back),
		cmocka_unit_test(test_insert_replaces_same_keyword_keeps_others),
		cmocka_unit_test(test_insert_keeps_idat_bytes),
		cmocka_unit_test(test_insert_refuses_bad_keywords),
		cmocka_unit_test(test_insert_latin1_keyword),
		cmocka_unit_test(test_rejects_empty_and_wrong_signature),
		cmocka_unit_test(test_rejects_every_truncation),
		cmocka_unit_test(test_rejects_bad_crc),
		cmocka_unit_test(test_rejects_bad_lengths_and_structure),
		cmocka_unit_test(test_reads_ztxt_and_compressed_itxt),
		cmocka_unit_test(test_reads_latin1_text),
		cmocka_unit_test(test_reads_no_text),
		cmocka_unit_test(test_rejects_malformed_text_chunks),
		cmocka_unit_test(test_rejects_inflation_past_cap),
		cmocka_unit_test(test_pngcheck_accepts_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
