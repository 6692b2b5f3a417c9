/* test_robust.c - every parser of outside input survives mangled input: the sample
 * config, a real imagen PNG and A1111 text, mutated thousands of times with a fixed
 * PRNG.  Run under ASan/UBSan by `make test`; a crash or a leak is the failure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/config.h"
#include "core/infotext.h"
#include "core/pngmeta.h"

#define ROUNDS 20000

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A few edits of the kinds that break parsers: flips, deletions, insertions of
 * structural characters, truncation, duplicated spans. */
static size_t mutate(unsigned char *buf, size_t len, size_t cap)
{
	static const char specials[] = "{}[]:,-#&*!|>'\"\t\n \\%@`?\xff\x80";
	int edits = 1 + (int)(rnd() % 4), e;
	size_t pos, n;

	for (e = 0; e < edits && len > 0; e++) {
		pos = rnd() % len;
		switch (rnd() % 6) {
		case 0:
			buf[pos] ^= (unsigned char)(1u << (rnd() % 8));
			break;
		case 1:
			n = 1 + rnd() % 8;
			if (pos + n > len)
				n = len - pos;
			memmove(buf + pos, buf + pos + n, len - pos - n);
			len -= n;
			break;
		case 2:
			if (len < cap) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = (unsigned char)specials[rnd() % (sizeof(specials) - 1)];
				len++;
			}
			break;
		case 3:
			len = pos;
			break;
		case 4:
			n = 1 + rnd() % 32;
			if (pos + n <= len && len + n <= cap) {
				memmove(buf + pos + n, buf + pos, len - pos);
				len += n;
			}
			break;
		default:
			buf[pos] = (unsigned char)rnd();
			break;
		}
	}
	return len;
}

static void assert_one_line_error(int rc, const struct err *err)
{
	if (rc == 0)
		return;
	assert_int_equal(rc, -1);
	assert_true(err->msg[0] != '\0');
	assert_null(strchr(err->msg, '\n'));
}

static void config_survives_mutation(void **state)
{
	struct buf sample = BUF_INIT;
	size_t base, cap, len;
	unsigned char *buf;
	struct config *cfg;
	struct err err;
	int i, rc, ok = 0;

	(void)state;
	assert_int_equal(config_sample(&sample), 0);
	base = sample.len;
	cap = base * 2 + 64;
	buf = malloc(cap + 1);
	assert_non_null(buf);
	rng_state = 42;
	for (i = 0; i < ROUNDS; i++) {
		memcpy(buf, sample.data, base);
		len = mutate(buf, base, cap);
		buf[len] = '\0';
		err_clear(&err);
		rc = config_parse(&cfg, (const char *)buf, len, "fuzz.yaml", &err);
		assert_one_line_error(rc, &err);
		if (rc == 0) {
			ok++;
			config_free(cfg);
		} else {
			/* every config error names the file */
			assert_non_null(strstr(err.msg, "fuzz.yaml"));
		}
	}
	/* both branches were exercised, or the mutations were too timid to mean anything */
	assert_true(ok > 0 && ok < ROUNDS);
	free(buf);
	buf_release(&sample);
}

static void png_parsers_survive_mutation(void **state)
{
	unsigned char rgb[16 * 16 * 3], *png = NULL, *tagged = NULL, *buf;
	size_t png_len = 0, tagged_len = 0, len, n, cap;
	struct png_text texts[2] = { { "parameters", "a cat\nSteps: 4, Seed: 1, Size: 16x16" },
				     { "imagen", "{\"prompt\": \"caf\xc3\xa9\"}" } };
	struct png_text *got;
	struct err err = ERR_INIT;
	unsigned char *out;
	size_t out_len;
	int i, rc, valid = 0;

	(void)state;
	for (i = 0; i < (int)sizeof(rgb); i++)
		rgb[i] = (unsigned char)(i * 7);
	assert_int_equal(png_encode_rgb(&png, &png_len, rgb, 16, 16, &err), 0);
	assert_int_equal(pngmeta_insert(&tagged, &tagged_len, png, png_len, texts, 2, &err), 0);
	cap = tagged_len * 2;
	buf = malloc(cap);
	assert_non_null(buf);
	rng_state = 7;
	for (i = 0; i < ROUNDS; i++) {
		memcpy(buf, tagged, tagged_len);
		len = mutate(buf, tagged_len, cap);
		err_clear(&err);
		rc = pngmeta_check(buf, len, NULL, NULL, &err);
		assert_one_line_error(rc, &err);
		valid += rc == 0;
		got = NULL;
		n = 0;
		err_clear(&err);
		rc = pngmeta_read_text(&got, &n, buf, len, &err);
		assert_one_line_error(rc, &err);
		if (rc == 0)
			pngmeta_text_free(got, n);
		out = NULL;
		err_clear(&err);
		rc = pngmeta_insert(&out, &out_len, buf, len, texts, 1, &err);
		assert_one_line_error(rc, &err);
		if (rc == 0) {
			/* whatever it accepted, it must emit a structurally valid PNG */
			assert_int_equal(pngmeta_check(out, out_len, NULL, NULL, &err), 0);
			free(out);
		}
	}
	/* CRCs catch nearly every mutation: only those outside checked bytes pass */
	assert_true(valid < ROUNDS);
	free(buf);
	free(tagged);
	free(png);
}

static void infotext_survives_garbage(void **state)
{
	static const char base[] =
		"a lighthouse, \"quoted\"\nNegative prompt: fog: thick\n"
		"Steps: 4, Sampler: \"a, b\", Seed: 42, Size: 64x64, Lora: \"x\\\"y\"";
	char buf[sizeof(base) * 2 + 64];
	char *prompt, *neg;
	json_t *params;
	struct err err;
	size_t len;
	int i, rc;

	(void)state;
	rng_state = 99;
	for (i = 0; i < ROUNDS; i++) {
		memcpy(buf, base, sizeof(base) - 1);
		len = mutate((unsigned char *)buf, sizeof(base) - 1, sizeof(buf) - 1);
		buf[len] = '\0';
		prompt = neg = NULL;
		params = NULL;
		err_clear(&err);
		rc = infotext_parse(buf, &prompt, &neg, &params, &err);
		assert_one_line_error(rc, &err);
		if (rc == 0) {
			assert_non_null(prompt);
			assert_non_null(neg);
			assert_true(json_is_object(params));
		}
		free(prompt);
		free(neg);
		json_decref(params);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_survives_mutation),
		cmocka_unit_test(png_parsers_survive_mutation),
		cmocka_unit_test(infotext_survives_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
