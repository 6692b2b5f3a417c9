/* image.c - image formats by their bytes (see image.h).  Every reader here bounds each
 * field against the buffer before it touches it: the input comes from servers. */
#include "core/image.h"

#include <spng.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/pngmeta.h"
#include "util/bytes.h"

static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

enum image_format image_sniff(const void *data, size_t n)
{
	const unsigned char *d = data;

	if (!d)
		return IMAGE_NONE;
	if (n >= 8 && !memcmp(d, png_sig, 8))
		return IMAGE_PNG;
	if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
		return IMAGE_JPEG;
	if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4))
		return IMAGE_WEBP;
	return IMAGE_NONE;
}

const char *image_mime(enum image_format f)
{
	switch (f) {
	case IMAGE_PNG:
		return "image/png";
	case IMAGE_JPEG:
		return "image/jpeg";
	case IMAGE_WEBP:
		return "image/webp";
	default:
		return NULL;
	}
}

const char *image_extension(enum image_format f)
{
	switch (f) {
	case IMAGE_PNG:
		return "png";
	case IMAGE_JPEG:
		return "jpg";
	case IMAGE_WEBP:
		return "webp";
	default:
		return NULL;
	}
}

enum image_format image_format_of_mime(const char *mime)
{
	if (!mime)
		return IMAGE_NONE;
	if (!strcasecmp(mime, "image/png"))
		return IMAGE_PNG;
	if (!strcasecmp(mime, "image/jpeg") || !strcasecmp(mime, "image/jpg"))
		return IMAGE_JPEG;
	if (!strcasecmp(mime, "image/webp"))
		return IMAGE_WEBP;
	return IMAGE_NONE;
}

/* Where the PNG ends: just after the IEND chunk, found by chunk lengths alone (n when
 * there is none: pngmeta_check then says what is wrong). */
static size_t png_end(const unsigned char *d, size_t n)
{
	size_t off = 8;
	uint32_t len;

	while (n - off >= 12) {
		len = bytes_be32(d + off);
		if (len > n - off - 12)
			return n;
		if (!memcmp(d + off + 4, "IEND", 4))
			return off + 12 + len;
		off += 12 + (size_t)len;
	}
	return n;
}

static int check_png(const unsigned char *d, size_t n, struct image_info *out, struct err *err)
{
	unsigned w = 0, h = 0;

	out->len = png_end(d, n);
	if (pngmeta_check(d, out->len, &w, &h, err) < 0)
		return -1;
	out->width = (int)w;
	out->height = (int)h;
	return 0;
}

/* The SOFn markers that carry a frame header: C0..CF but DHT (C4), JPG (C8), DAC (CC). */
static int jpeg_is_sof(unsigned char m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/* Walk the marker segments from SOI to EOI; the size comes from the frame header. */
static int check_jpeg(const unsigned char *d, size_t n, struct image_info *out, struct err *err)
{
	size_t i = 2, seg;
	unsigned char m;
	int frame = 0;

	while (i < n) {
		if (d[i] != 0xff)
			return err_set(err, "corrupt JPEG (no marker at offset %zu)", i);
		while (i < n && d[i] == 0xff) /* fill bytes may precede a marker */
			i++;
		if (i >= n)
			break;
		m = d[i++];
		if (m == 0xd9) {
			if (!frame)
				return err_set(err, "corrupt JPEG (no frame header)");
			out->len = i;
			return 0;
		}
		if ((m >= 0xd0 && m <= 0xd7) || m == 0x01)
			continue; /* RSTn and TEM stand alone */
		if (m == 0x00 || m == 0xd8)
			return err_set(err, "corrupt JPEG (marker 0x%02x at offset %zu)", m, i - 1);
		if (n - i < 2)
			break;
		seg = bytes_be16(d + i);
		if (seg < 2)
			return err_set(err, "corrupt JPEG (segment length %zu at offset %zu)", seg,
				       i);
		if (seg > n - i)
			break;
		if (jpeg_is_sof(m)) {
			if (seg < 8)
				return err_set(err, "corrupt JPEG (short frame header)");
			out->height = (int)bytes_be16(d + i + 3);
			out->width = (int)bytes_be16(d + i + 5);
			if (!out->width)
				return err_set(err, "corrupt JPEG (width 0)");
			frame = 1;
		} else if (m == 0xda && !frame) {
			return err_set(err, "corrupt JPEG (scan before the frame header)");
		}
		i += seg;
		if (m == 0xda) {
			/* entropy-coded data runs to the next marker that is neither a stuffed
			 * 0xff00 nor a restart marker */
			while (i + 1 < n && !(d[i] == 0xff && d[i + 1] != 0 &&
					      !(d[i + 1] >= 0xd0 && d[i + 1] <= 0xd7)))
				i++;
			if (i + 1 >= n)
				break;
		}
	}
	return err_set(err, "truncated JPEG (%zu bytes)", n);
}

/* The canvas size from the first chunk: lossy VP8 (key frame start code), lossless VP8L
 * (signature byte 0x2f), or the extended header VP8X. */
static int webp_size(const unsigned char *c, size_t clen, const unsigned char *p,
		     struct image_info *out, struct err *err)
{
	if (!memcmp(c, "VP8 ", 4)) {
		if (clen < 10 || p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a)
			return err_set(err, "corrupt WebP (bad VP8 frame header)");
		out->width = (int)((p[6] | p[7] << 8) & 0x3fff);
		out->height = (int)((p[8] | p[9] << 8) & 0x3fff);
	} else if (!memcmp(c, "VP8L", 4)) {
		uint32_t bits;

		if (clen < 5 || p[0] != 0x2f)
			return err_set(err, "corrupt WebP (bad VP8L header)");
		bits = bytes_le32(p + 1);
		out->width = (int)(bits & 0x3fff) + 1;
		out->height = (int)((bits >> 14) & 0x3fff) + 1;
	} else if (!memcmp(c, "VP8X", 4)) {
		if (clen < 10)
			return err_set(err, "corrupt WebP (short VP8X header)");
		out->width = (int)(p[4] | p[5] << 8 | (uint32_t)p[6] << 16) + 1;
		out->height = (int)(p[7] | p[8] << 8 | (uint32_t)p[9] << 16) + 1;
	} else {
		return err_set(err, "corrupt WebP (unknown first chunk)");
	}
	if (!out->width || !out->height)
		return err_set(err, "corrupt WebP (size 0)");
	return 0;
}

static int check_webp(const unsigned char *d, size_t n, struct image_info *out, struct err *err)
{
	size_t total = (size_t)bytes_le32(d + 4) + 8, off = 12, clen, next;
	int first = 1;

	if (total < 20)
		return err_set(err, "corrupt WebP (RIFF size %zu)", total - 8);
	if (total > n)
		return err_set(err, "truncated WebP (%zu of %zu bytes)", n, total);
	/* the chunks fill the RIFF payload exactly; an odd-sized chunk has a pad byte, which
	 * some writers leave out at the very end */
	while (off < total) {
		if (total - off < 8)
			return err_set(err, "corrupt WebP (chunk header at offset %zu)", off);
		clen = bytes_le32(d + off + 4);
		if (clen > total - off - 8)
			return err_set(err, "truncated WebP (chunk at offset %zu)", off);
		if (first && webp_size(d + off, clen, d + off + 8, out, err) < 0)
			return -1;
		first = 0;
		next = off + 8 + clen + (clen & 1);
		if (next > total)
			next = total;
		off = next;
	}
	out->len = total;
	return 0;
}

int image_check(const void *data, size_t n, struct image_info *out, struct err *err)
{
	const unsigned char *d = data;
	struct image_info info;
	int rc = -1;

	memset(&info, 0, sizeof(info));
	info.format = image_sniff(d, n);
	switch (info.format) {
	case IMAGE_PNG:
		rc = check_png(d, n, &info, err);
		break;
	case IMAGE_JPEG:
		rc = check_jpeg(d, n, &info, err);
		break;
	case IMAGE_WEBP:
		rc = check_webp(d, n, &info, err);
		break;
	default:
		if (n > 0 && n < 8 && d && !memcmp(d, png_sig, n))
			return err_set(err, "truncated PNG (in the signature)");
		return err_set(err, "not a PNG, JPEG or WebP image (%zu bytes)", n);
	}
	if (rc == 0 && out)
		*out = info;
	return rc;
}

int png_decode_rgba(const void *png, size_t len, unsigned char **rgba, int *w, int *h,
		    struct err *err)
{
	struct spng_ihdr ihdr;
	spng_ctx *ctx;
	unsigned char *px = NULL;
	size_t size = 0;
	int ret, rc = -1;

	*rgba = NULL;
	ctx = spng_ctx_new(0);
	if (!ctx)
		return err_set(err, "out of memory");
	spng_set_image_limits(ctx, IMAGE_DECODE_MAX_SIDE, IMAGE_DECODE_MAX_SIDE);
	/* the limits bound the memory text chunks may take, not the file size: a flat-colour
	 * image compresses far below what its metadata inflates to */
	spng_set_chunk_limits(ctx, 64u << 20, 128u << 20);
	if ((ret = spng_set_png_buffer(ctx, png, len)) || (ret = spng_get_ihdr(ctx, &ihdr))) {
		err_set(err, "not a PNG image this can decode (%s)", spng_strerror(ret));
		goto out;
	}
	if ((unsigned long long)ihdr.width * ihdr.height > IMAGE_DECODE_MAX_PIXELS) {
		err_set(err, "%ux%u is too large to decode", ihdr.width, ihdr.height);
		goto out;
	}
	if ((ret = spng_decoded_image_size(ctx, SPNG_FMT_RGBA8, &size)) || !(px = malloc(size)) ||
	    (ret = spng_decode_image(ctx, px, size, SPNG_FMT_RGBA8, SPNG_DECODE_TRNS))) {
		err_set(err, "cannot decode the PNG: %s",
			ret ? spng_strerror(ret) : "out of memory");
		goto out;
	}
	*rgba = px;
	px = NULL;
	*w = (int)ihdr.width;
	*h = (int)ihdr.height;
	rc = 0;
out:
	free(px);
	spng_ctx_free(ctx);
	return rc;
}
