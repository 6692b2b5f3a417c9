/* base64.c - base64 decoding (RFC 4648), fast on the bulk of a large image. */
#include "util/base64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The value of an alphabet character, -1 for anything else (standard alphabet). */
#define B64V(c)                                                                                    \
	((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                                    \
	 : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                               \
	 : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                               \
	 : (c) == '+'               ? 62                                                           \
	 : (c) == '/'               ? 63                                                           \
				    : -1)
/* Four tables with each value already shifted to its place in the 24-bit group, so a
 * group is four loads and three ORs; a non-alphabet byte sets bit 24, which no valid
 * group has, so one test rejects the whole group. */
#define B64E(c, sh) (B64V(c) < 0 ? UINT32_C(1) << 24 : (uint32_t)B64V(c) << (sh))
#define B64R4(c, sh) B64E(c, sh), B64E((c) + 1, sh), B64E((c) + 2, sh), B64E((c) + 3, sh)
#define B64R16(c, sh) B64R4(c, sh), B64R4((c) + 4, sh), B64R4((c) + 8, sh), B64R4((c) + 12, sh)
#define B64R64(c, sh)                                                                              \
	B64R16(c, sh), B64R16((c) + 16, sh), B64R16((c) + 32, sh), B64R16((c) + 48, sh)
#define B64R256(sh) B64R64(0, sh), B64R64(64, sh), B64R64(128, sh), B64R64(192, sh)

static const uint32_t group_tab[4][256] = {
	{ B64R256(18) }, { B64R256(12) }, { B64R256(6) }, { B64R256(0) }
};

/* The three bytes of a 24-bit group at p, as one 4-byte store where the byte order
 * allows (the fourth byte is scratch: the next group or the slack at the end of the
 * buffer overwrites it). */
static inline void put_group(unsigned char *p, uint32_t g)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint32_t be = __builtin_bswap32(g << 8);

	memcpy(p, &be, 4);
#else
	p[0] = (unsigned char)(g >> 16);
	p[1] = (unsigned char)(g >> 8);
	p[2] = (unsigned char)g;
#endif
}

/* The 24-bit group of the four characters at p; bit 24 set when one is not in the
 * alphabet. */
static inline uint32_t group_at(const unsigned char *p)
{
	return group_tab[0][p[0]] | group_tab[1][p[1]] | group_tab[2][p[2]] | group_tab[3][p[3]];
}

static int value_of(unsigned char c, unsigned flags)
{
	int v = B64V(c);

	if (v < 0 && (flags & BASE64_LENIENT))
		v = c == '-' ? 62 : c == '_' ? 63 : -1;
	return v;
}

static int is_skipped(unsigned char c, unsigned flags)
{
	return c == '\r' || c == '\n' || ((flags & BASE64_LENIENT) && (c == ' ' || c == '\t'));
}

int base64_decode(unsigned char **out, size_t *len, const char *s, size_t n, unsigned flags,
		  struct err *err)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, o = 0, chars, pad = 0;
	unsigned char *d;
	uint32_t acc = 0;
	int k = 0;

	*out = NULL;
	*len = 0;
	d = malloc(n / 4 * 3 + 3);
	if (!d)
		return err_set(err, "out of memory decoding %zu bytes of base64", n);
	/* fast path: whole groups of four alphabet characters; the first group that holds
	 * anything else (padding, a line break, a URL-safe character, garbage) drops to the
	 * careful loop below, which starts afresh at that group */
	for (i = 0; i + 8 <= n; i += 8) {
		uint32_t g = group_at(u + i), h = group_at(u + i + 4);

		if ((g | h) >> 24)
			break;
		put_group(d + o, g);
		put_group(d + o + 3, h);
		o += 6;
	}
	for (; i + 4 <= n; i += 4) {
		uint32_t g = group_at(u + i);

		if (g >> 24)
			break;
		put_group(d + o, g);
		o += 3;
	}
	chars = i;
	for (; i < n; i++) {
		int v;

		if (is_skipped(u[i], flags))
			continue;
		chars++;
		if (u[i] == '=') {
			pad++;
			continue;
		}
		v = value_of(u[i], flags);
		if (pad || v < 0)
			goto out_invalid;
		acc = acc << 6 | (uint32_t)v;
		if (++k == 4) {
			d[o++] = (unsigned char)(acc >> 16);
			d[o++] = (unsigned char)(acc >> 8);
			d[o++] = (unsigned char)acc;
			acc = 0;
			k = 0;
		}
	}
	if (flags & BASE64_LENIENT) {
		/* 2 or 3 characters end a 1- or 2-byte group; 1 cannot; leftover bits are 0 */
		if (k == 1 || pad > 2 || (k == 2 && acc & 0xf) || (k == 3 && acc & 0x3))
			goto out_truncated;
	} else if (chars % 4 || pad > 2 || (pad && (size_t)k + pad != 4)) {
		goto out_truncated;
	}
	if (k == 2) {
		d[o++] = (unsigned char)(acc >> 4);
	} else if (k == 3) {
		d[o++] = (unsigned char)(acc >> 10);
		d[o++] = (unsigned char)(acc >> 2);
	}
	*out = d;
	*len = o;
	return 0;
out_invalid:
	free(d);
	return err_set(err, "invalid base64 at offset %zu", i);
out_truncated:
	free(d);
	return err_set(err, "truncated base64 (%zu characters)", chars);
}

int base64_decode_text(unsigned char **out, size_t *len, const char *s, size_t n, struct err *err)
{
	const char *comma;

	*out = NULL;
	if (n >= 5 && !memcmp(s, "data:", 5)) {
		/* data:[<media type>][;<parameter>...];base64,<data> (RFC 2397) */
		comma = memchr(s, ',', n);
		if (!comma || comma - s < 12 || memcmp(comma - 7, ";base64", 7))
			return err_set(err, "a data: URL without base64 data");
		n -= (size_t)(comma + 1 - s);
		s = comma + 1;
	}
	return base64_decode(out, len, s, n, BASE64_LENIENT, err);
}

char *base64_encode(const void *data, size_t n, const char *prefix)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t plen = prefix ? strlen(prefix) : 0, i, o;
	char *out;

	if (n / 3 >= (SIZE_MAX - plen - 8) / 4)
		return NULL;
	out = malloc(plen + (n + 2) / 3 * 4 + 1);
	if (!out)
		return NULL;
	memcpy(out, prefix ? prefix : "", plen);
	o = plen;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}
