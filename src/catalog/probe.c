/* probe.c - format, size and EXIF location of PNG, JPEG and WebP files. */
#include "catalog/probe.h"

#include <string.h>

#include "util/bytes.h"

static int probe_png(struct image_probe *p, const unsigned char *d, size_t n)
{
	/* signature, then IHDR: length 13, "IHDR", width, height */
	if (n < 24 || memcmp(d + 12, "IHDR", 4))
		return 0;
	p->width = (int)(bytes_be32(d + 16) & 0x7fffffff);
	p->height = (int)(bytes_be32(d + 20) & 0x7fffffff);
	return 0;
}

static int is_sof(unsigned char m)
{
	/* SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC) */
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

static int probe_jpeg(struct image_probe *p, const unsigned char *d, size_t n)
{
	size_t at = 2, len;
	unsigned char m;

	while (at + 4 <= n) {
		if (d[at] != 0xff)
			return 0; /* lost: what follows is not a marker */
		m = d[at + 1];
		if (m == 0xff) { /* fill byte */
			at++;
			continue;
		}
		if (m == 0xd8 || (m >= 0xd0 && m <= 0xd7) || m == 0x01) { /* no length */
			at += 2;
			continue;
		}
		if (m == 0xd9 || m == 0xda) /* EOI, SOS: the headers are over */
			return 0;
		len = bytes_be16(d + at + 2);
		if (len < 2 || len > n - at - 2)
			return 0;
		if (m == 0xe1 && !p->exif && len >= 8 && !memcmp(d + at + 4, "Exif\0\0", 6)) {
			p->exif = d + at + 4;
			p->exif_len = len - 2;
			p->exif_has_header = 1;
		}
		if (is_sof(m) && len >= 7 && !p->width) {
			p->height = bytes_be16(d + at + 5);
			p->width = bytes_be16(d + at + 7);
		}
		at += 2 + len;
	}
	return 0;
}

static int probe_webp(struct image_probe *p, const unsigned char *d, size_t n)
{
	size_t at = 12, len, end = n;
	uint32_t riff = bytes_le32(d + 4);

	if ((size_t)riff + 8 < end)
		end = (size_t)riff + 8;
	while (at + 8 <= end) {
		const unsigned char *c = d + at + 8;

		len = bytes_le32(d + at + 4);
		if (len > end - at - 8)
			return 0;
		if (!memcmp(d + at, "VP8X", 4) && len >= 10) {
			p->width = (int)((c[4] | c[5] << 8 | (uint32_t)c[6] << 16) + 1);
			p->height = (int)((c[7] | c[8] << 8 | (uint32_t)c[9] << 16) + 1);
		} else if (!memcmp(d + at, "VP8 ", 4) && len >= 10 && !p->width && c[3] == 0x9d &&
			   c[4] == 0x01 && c[5] == 0x2a) {
			p->width = bytes_le16(c + 6) & 0x3fff;
			p->height = bytes_le16(c + 8) & 0x3fff;
		} else if (!memcmp(d + at, "VP8L", 4) && len >= 5 && !p->width && c[0] == 0x2f) {
			uint32_t bits = bytes_le32(c + 1);

			p->width = (int)(bits & 0x3fff) + 1;
			p->height = (int)((bits >> 14) & 0x3fff) + 1;
		} else if (!memcmp(d + at, "EXIF", 4) && !p->exif && len) {
			p->exif = c;
			p->exif_len = len;
			p->exif_has_header = len >= 6 && !memcmp(c, "Exif\0\0", 6);
		}
		at += 8 + len + (len & 1); /* chunks are padded to even sizes */
	}
	return 0;
}

int image_probe(struct image_probe *out, const unsigned char *d, size_t n)
{
	memset(out, 0, sizeof(*out));
	if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) {
		out->format = "png";
		return probe_png(out, d, n);
	}
	if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) {
		out->format = "jpeg";
		return probe_jpeg(out, d, n);
	}
	if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) {
		out->format = "webp";
		return probe_webp(out, d, n);
	}
	return -1;
}
