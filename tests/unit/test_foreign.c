/* test_foreign.c - images made by other tools: format and size probing (PNG, JPEG, WebP),
 * A1111 parameters (PNG text, EXIF UserComment in both byte orders and encodings), the
 * ComfyUI API and UI graphs, InvokeAI (3.x and 2.x), NovelAI, and which record the
 * catalog takes when a file has several. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libexif/exif-data.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/foreign.h"
#include "catalog/probe.h"
#include "core/pngmeta.h"
#include "testlib.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/imagen-test-foreign.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char a1111_text[] =
	"a red fox in the snow, (masterpiece:1.2)\n"
	"Negative prompt: blurry, lowres\n"
	"Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, "
	"Size: 512x768, Model hash: 6ce0161689, Model: sd15, Version: v1.10.1";

static const char comfy_prompt[] =
	"{\"3\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 156680208700286, "
	"\"steps\": 20, \"cfg\": 8, \"sampler_name\": \"euler\", \"scheduler\": \"normal\", "
	"\"denoise\": 1, \"model\": [\"10\", 0], \"positive\": [\"6\", 0], \"negative\": [\"7\", "
	"0], \"latent_image\": [\"5\", 0]}},"
	"\"4\": {\"class_type\": \"CheckpointLoaderSimple\", \"inputs\": {\"ckpt_name\": "
	"\"v1-5-pruned-emaonly.safetensors\"}},"
	"\"10\": {\"class_type\": \"LoraLoader\", \"inputs\": {\"lora_name\": \"x.safetensors\", "
	"\"strength_model\": 1, \"model\": [\"4\", 0], \"clip\": [\"4\", 1]}},"
	"\"5\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 512, \"height\": "
	"640, \"batch_size\": 1}},"
	"\"6\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"beautiful scenery "
	"nature glass bottle\", \"clip\": [\"10\", 1]}},"
	"\"7\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"text, watermark\", "
	"\"clip\": [\"10\", 1]}},"
	"\"8\": {\"class_type\": \"VAEDecode\", \"inputs\": {\"samples\": [\"3\", 0], \"vae\": "
	"[\"4\", 2]}},"
	"\"9\": {\"class_type\": \"SaveImage\", \"inputs\": {\"filename_prefix\": \"ComfyUI\", "
	"\"images\": [\"8\", 0]}}}";

static const char comfy_workflow[] =
	"{\"nodes\": ["
	"{\"id\": 3, \"type\": \"KSampler\", \"inputs\": [{\"name\": \"model\", \"link\": 1}, "
	"{\"name\": \"positive\", \"link\": 4}, {\"name\": \"negative\", \"link\": 6}, "
	"{\"name\": \"latent_image\", \"link\": 2}], \"widgets_values\": [99, \"randomize\", 25, "
	"6.5, \"dpmpp_2m\", \"karras\", 1]},"
	"{\"id\": 4, \"type\": \"CheckpointLoaderSimple\", \"widgets_values\": "
	"[\"sdxl.safetensors\"]},"
	"{\"id\": 5, \"type\": \"EmptyLatentImage\", \"widgets_values\": [1024, 768, 1]},"
	"{\"id\": 6, \"type\": \"CLIPTextEncode\", \"widgets_values\": [\"a lighthouse at dusk\"]},"
	"{\"id\": 7, \"type\": \"CLIPTextEncode\", \"widgets_values\": [\"ugly\"]}],"
	"\"links\": [[1, 4, 0, 3, 0, \"MODEL\"], [2, 5, 0, 3, 3, \"LATENT\"], "
	"[4, 6, 0, 3, 1, \"CONDITIONING\"], [6, 7, 0, 3, 2, \"CONDITIONING\"]]}";

static const char invoke_meta[] =
	"{\"generation_mode\": \"txt2img\", \"positive_prompt\": \"a cat on a sofa\", "
	"\"negative_prompt\": \"dog\", \"width\": 1024, \"height\": 1024, \"seed\": 12345, "
	"\"steps\": 30, \"cfg_scale\": 7.5, \"scheduler\": \"dpmpp_2m\", "
	"\"model\": {\"name\": \"Juggernaut XL\", \"base\": \"sdxl\"}}";

static const char invoke_legacy[] =
	"{\"model_weights\": \"stable-diffusion-1.5\", \"image\": {\"prompt\": [{\"prompt\": "
	"\"a dog in a hat\", \"weight\": 1}], \"seed\": 99, \"steps\": 50, \"cfg_scale\": 7.5, "
	"\"sampler\": \"k_lms\", \"width\": 512, \"height\": 512}}";

static const char novelai_comment[] =
	"{\"prompt\": \"1girl, masterpiece, garden\", \"steps\": 28, \"height\": 1216, "
	"\"width\": 832, \"scale\": 5.0, \"seed\": 3344, \"sampler\": \"k_euler_ancestral\", "
	"\"uc\": \"lowres, bad anatomy\"}";

static const char *str(const json_t *r, const char *key)
{
	const char *s = json_string_value(json_object_get(r, key));

	if (!s)
		fail_msg("record has no string '%s'", key);
	return s;
}

static long long num(const json_t *r, const char *key)
{
	const json_t *v = json_object_get(r, key);

	if (!json_is_integer(v))
		fail_msg("record has no integer '%s'", key);
	return json_integer_value(v);
}

static double real(const json_t *r, const char *key)
{
	const json_t *v = json_object_get(r, key);

	if (!json_is_number(v))
		fail_msg("record has no number '%s'", key);
	return json_number_value(v);
}

static void test_a1111(void **state)
{
	json_t *r = foreign_a1111(a1111_text);

	(void)state;
	assert_non_null(r);
	assert_string_equal(str(r, "prompt"), "a red fox in the snow, (masterpiece:1.2)");
	assert_string_equal(str(r, "negative_prompt"), "blurry, lowres");
	assert_int_equal(num(r, "seed"), 1234);
	assert_int_equal(num(r, "steps"), 20);
	assert_string_equal(str(r, "sampler"), "DPM++ 2M");
	assert_true(real(r, "cfg") == 7.0);
	assert_int_equal(num(r, "width"), 512);
	assert_int_equal(num(r, "height"), 768);
	assert_string_equal(str(r, "model"), "sd15");
	json_decref(r);
	/* just a prompt still counts; nothing at all does not */
	r = foreign_a1111("a lone prompt");
	assert_string_equal(str(r, "prompt"), "a lone prompt");
	json_decref(r);
	assert_null(foreign_a1111(""));
	assert_null(foreign_a1111("\xff\xfe"));
}

static void test_comfyui_api_graph(void **state)
{
	json_t *r = foreign_comfyui(comfy_prompt, comfy_workflow);

	(void)state;
	assert_non_null(r);
	/* the texts feeding the sampler's positive and negative inputs */
	assert_string_equal(str(r, "prompt"), "beautiful scenery nature glass bottle");
	assert_string_equal(str(r, "negative_prompt"), "text, watermark");
	assert_int_equal(num(r, "seed"), 156680208700286LL);
	assert_int_equal(num(r, "steps"), 20);
	assert_true(real(r, "cfg") == 8.0);
	assert_string_equal(str(r, "sampler"), "euler");
	/* the checkpoint behind the LoRA loader */
	assert_string_equal(str(r, "model"), "v1-5-pruned-emaonly.safetensors");
	assert_int_equal(num(r, "width"), 512);
	assert_int_equal(num(r, "height"), 640);
	json_decref(r);
}

static void test_comfyui_ui_graph(void **state)
{
	/* no API graph (or a broken one): the UI graph's widgets and links */
	json_t *r = foreign_comfyui("{broken", comfy_workflow);

	(void)state;
	assert_non_null(r);
	assert_string_equal(str(r, "prompt"), "a lighthouse at dusk");
	assert_string_equal(str(r, "negative_prompt"), "ugly");
	assert_int_equal(num(r, "seed"), 99);
	assert_int_equal(num(r, "steps"), 25);
	assert_true(real(r, "cfg") == 6.5);
	assert_string_equal(str(r, "sampler"), "dpmpp_2m");
	assert_string_equal(str(r, "model"), "sdxl.safetensors");
	assert_int_equal(num(r, "width"), 1024);
	assert_int_equal(num(r, "height"), 768);
	json_decref(r);
	assert_null(foreign_comfyui(NULL, NULL));
	assert_null(foreign_comfyui("[]", "{\"nodes\": 5}"));
	assert_null(foreign_comfyui("{\"1\": {\"class_type\": \"SaveImage\"}}", NULL));
}

static void test_invokeai_and_novelai(void **state)
{
	json_t *r = foreign_invokeai(invoke_meta, 0);

	(void)state;
	assert_string_equal(str(r, "prompt"), "a cat on a sofa");
	assert_string_equal(str(r, "negative_prompt"), "dog");
	assert_string_equal(str(r, "model"), "Juggernaut XL");
	assert_int_equal(num(r, "seed"), 12345);
	assert_int_equal(num(r, "steps"), 30);
	assert_true(real(r, "cfg") == 7.5);
	assert_string_equal(str(r, "sampler"), "dpmpp_2m");
	assert_int_equal(num(r, "width"), 1024);
	json_decref(r);
	r = foreign_invokeai(invoke_legacy, 1);
	assert_string_equal(str(r, "prompt"), "a dog in a hat");
	assert_string_equal(str(r, "model"), "stable-diffusion-1.5");
	assert_int_equal(num(r, "seed"), 99);
	assert_string_equal(str(r, "sampler"), "k_lms");
	json_decref(r);
	assert_null(foreign_invokeai("[1, 2]", 0));
	assert_null(foreign_invokeai("{\"seed\": \"x\"}", 1));

	r = foreign_novelai(novelai_comment, "NovelAI Diffusion V3 4BDE2A90", "ignored");
	assert_string_equal(str(r, "prompt"), "1girl, masterpiece, garden");
	assert_string_equal(str(r, "negative_prompt"), "lowres, bad anatomy");
	assert_string_equal(str(r, "model"), "NovelAI Diffusion V3 4BDE2A90");
	assert_int_equal(num(r, "seed"), 3344);
	assert_int_equal(num(r, "steps"), 28);
	assert_true(real(r, "cfg") == 5.0);
	assert_int_equal(num(r, "width"), 832);
	assert_int_equal(num(r, "height"), 1216);
	json_decref(r);
	/* V4 keeps the prompt in v4_prompt; without one the Description is the prompt */
	r = foreign_novelai("{\"v4_prompt\": {\"caption\": {\"base_caption\": \"a castle\"}}}",
			    NULL, NULL);
	assert_string_equal(str(r, "prompt"), "a castle");
	json_decref(r);
	r = foreign_novelai("not json", NULL, "from the description");
	assert_string_equal(str(r, "prompt"), "from the description");
	json_decref(r);
}

static void test_png_precedence(void **state)
{
	struct png_text t[6] = {
		{ (char *)"Software", (char *)"NovelAI" },
		{ (char *)"Comment", (char *)novelai_comment },
		{ (char *)"invokeai_metadata", (char *)invoke_meta },
		{ (char *)"prompt", (char *)comfy_prompt },
		{ (char *)"parameters", (char *)a1111_text },
		{ (char *)"Title", (char *)"x" },
	};
	const char *source = "unset";
	json_t *r;

	(void)state;
	r = foreign_from_png(t, 6, &source);
	assert_string_equal(source, "a1111");
	json_decref(r);
	r = foreign_from_png(t, 4, &source);
	assert_string_equal(source, "comfyui");
	json_decref(r);
	r = foreign_from_png(t, 3, &source);
	assert_string_equal(source, "invokeai");
	json_decref(r);
	r = foreign_from_png(t, 2, &source);
	assert_string_equal(source, "novelai");
	assert_string_equal(str(r, "prompt"), "1girl, masterpiece, garden");
	json_decref(r);
	r = foreign_from_png(t + 5, 1, &source);
	assert_null(r);
	assert_null(source);
	/* a Comment that is not NovelAI's (no Software, no "uc") is not taken */
	t[0].text = (char *)"GIMP";
	t[1].text = (char *)"{\"prompt\": \"x\"}";
	assert_null(foreign_from_png(t, 2, &source));
}

/* An EXIF block made by libexif (the writer the reader is not): UserComment with the
 * 8-byte character code, in the given byte order.  Starts with "Exif\0\0". */
static unsigned char *make_exif(size_t *len, ExifByteOrder order, const char *code,
				const unsigned char *payload, size_t n)
{
	ExifData *ed = exif_data_new();
	ExifEntry *e = exif_entry_new();
	unsigned char *out = NULL;
	unsigned int olen = 0;

	assert_non_null(ed);
	assert_non_null(e);
	exif_data_set_byte_order(ed, order);
	e->tag = EXIF_TAG_USER_COMMENT;
	e->format = EXIF_FORMAT_UNDEFINED;
	e->components = e->size = (unsigned int)(8 + n);
	e->data = malloc(e->size);
	memcpy(e->data, code, 8);
	memcpy(e->data + 8, payload, n);
	exif_content_add_entry(ed->ifd[EXIF_IFD_EXIF], e);
	exif_data_save_data(ed, &out, &olen);
	exif_entry_unref(e);
	exif_data_unref(ed);
	assert_non_null(out);
	assert_memory_equal(out, "Exif\0\0", 6);
	*len = olen;
	return out;
}

/* UTF-16 of an ASCII-and-two-byte-UTF-8 string plus one emoji (a surrogate pair). */
static size_t utf16(unsigned char *out, const char *s, int big)
{
	size_t n = 0;
	unsigned u;

	while (*s) {
		const unsigned char *c = (const unsigned char *)s;

		if (c[0] < 0x80) {
			u = c[0];
			s++;
		} else {
			u = (unsigned)(c[0] & 0x1f) << 6 | (c[1] & 0x3f);
			s += 2;
		}
		out[n++] = (unsigned char)(big ? u >> 8 : u);
		out[n++] = (unsigned char)(big ? u : u >> 8);
	}
	/* U+1F98A FOX FACE: D83E DD8A */
	memcpy(out + n, big ? "\xd8\x3e\xdd\x8a" : "\x3e\xd8\x8a\xdd", 4);
	return n + 4;
}

static void test_exif_user_comment(void **state)
{
	unsigned char payload[1024], *exif;
	size_t n, len;
	char *text;
	const char *source;
	json_t *r;
	static const char caf[] = "caf\xc3\xa9 fox\nSteps: 9, Seed: 77, Size: 64x32, Model: m";

	(void)state;
	/* UNICODE, big-endian as piexif writes it, inside little-endian EXIF */
	n = utf16(payload, caf, 1);
	exif = make_exif(&len, EXIF_BYTE_ORDER_INTEL, "UNICODE\0", payload, n);
	text = foreign_exif_user_comment(exif, len, 1);
	assert_non_null(text);
	assert_memory_equal(text, caf, strlen(caf));
	assert_string_equal(text + strlen(caf), "\xf0\x9f\xa6\x8a");
	free(text);
	/* the same without the APP1 header, as a WebP EXIF chunk carries it */
	text = foreign_exif_user_comment(exif + 6, len - 6, 0);
	assert_non_null(text);
	free(text);
	r = foreign_from_exif(exif, len, 1, &source);
	assert_string_equal(source, "a1111");
	assert_int_equal(num(r, "seed"), 77);
	assert_int_equal(num(r, "width"), 64);
	assert_string_equal(str(r, "model"), "m\xf0\x9f\xa6\x8a"); /* the fox face ends it */
	json_decref(r);
	free(exif);
	/* UNICODE little-endian */
	n = utf16(payload, caf, 0);
	exif = make_exif(&len, EXIF_BYTE_ORDER_MOTOROLA, "UNICODE\0", payload, n);
	text = foreign_exif_user_comment(exif, len, 1);
	assert_non_null(text);
	assert_memory_equal(text, caf, strlen(caf));
	free(text);
	free(exif);
	/* a byte-order mark decides */
	payload[0] = 0xff;
	payload[1] = 0xfe;
	n = utf16(payload + 2, "ok", 0) + 2;
	exif = make_exif(&len, EXIF_BYTE_ORDER_MOTOROLA, "UNICODE\0", payload, n);
	text = foreign_exif_user_comment(exif, len, 1);
	assert_memory_equal(text, "ok", 2);
	free(text);
	free(exif);
	/* ASCII (UTF-8 taken as it is), with a bad byte shown as U+FFFD */
	exif = make_exif(&len, EXIF_BYTE_ORDER_INTEL, "ASCII\0\0\0",
			 (const unsigned char *)"fox \xff den", 9);
	text = foreign_exif_user_comment(exif, len, 1);
	assert_string_equal(text, "fox \xef\xbf\xbd den");
	free(text);
	free(exif);
	/* JIS is not read; garbage is nothing */
	exif = make_exif(&len, EXIF_BYTE_ORDER_INTEL, "JIS\0\0\0\0\0", (const unsigned char *)"x",
			 1);
	assert_null(foreign_exif_user_comment(exif, len, 1));
	free(exif);
	assert_null(foreign_exif_user_comment((const unsigned char *)"Exif\0\0garbage!!", 15, 1));
	assert_null(foreign_exif_user_comment(NULL, 0, 0));
}

/* A JPEG skeleton: SOI, APP1 EXIF (when given), SOF0 of w x h, EOI. */
static size_t make_jpeg(unsigned char *out, const unsigned char *exif, size_t elen, int w, int h)
{
	size_t n = 0;
	static const unsigned char sof_tail[] = { 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1 };

	out[n++] = 0xff, out[n++] = 0xd8;
	out[n++] = 0xff, out[n++] = 0xe0; /* APP0 JFIF, to be walked past */
	out[n++] = 0, out[n++] = 16;
	memcpy(out + n, "JFIF\0\1\1\0\0\1\0\1\0\0", 14);
	n += 14;
	if (exif) {
		out[n++] = 0xff, out[n++] = 0xe1;
		out[n++] = (unsigned char)((elen + 2) >> 8), out[n++] = (unsigned char)(elen + 2);
		memcpy(out + n, exif, elen);
		n += elen;
	}
	out[n++] = 0xff, out[n++] = 0xc0, out[n++] = 0, out[n++] = 17, out[n++] = 8;
	out[n++] = (unsigned char)(h >> 8), out[n++] = (unsigned char)h;
	out[n++] = (unsigned char)(w >> 8), out[n++] = (unsigned char)w;
	memcpy(out + n, sof_tail, sizeof(sof_tail));
	n += sizeof(sof_tail);
	out[n++] = 0xff, out[n++] = 0xd9;
	return n;
}

static void put_le32(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
	p[3] = (unsigned char)(v >> 24);
}

/* A WebP skeleton: RIFF, the given chunks. */
static size_t make_webp(unsigned char *out, const char *const *ids,
			const unsigned char *const *data, const size_t *lens, size_t nchunks)
{
	size_t n = 12, i;

	memcpy(out, "RIFF\0\0\0\0WEBP", 12);
	for (i = 0; i < nchunks; i++) {
		memcpy(out + n, ids[i], 4);
		put_le32(out + n + 4, lens[i]);
		memcpy(out + n + 8, data[i], lens[i]);
		n += 8 + lens[i];
		if (lens[i] & 1)
			out[n++] = 0;
	}
	put_le32(out + 4, n - 8);
	return n;
}

static void test_probe(void **state)
{
	unsigned char buf[4096], *png = NULL, rgb[3 * 6 * 5] = { 0 }, *exif;
	size_t n, plen = 0, elen;
	struct image_probe p;
	struct err err = ERR_INIT;
	static const unsigned char vp8[10] = { 0, 0, 0, 0x9d, 1, 0x2a, 0x40, 1, 0xf0, 0 };
	static const unsigned char vp8l[5] = { 0x2f, 0x3f, 0xc0, 0x0f, 0 }; /* 64 x 64 */
	static const unsigned char vp8x[10] = { 8, 0, 0, 0, 0xff, 3, 0, 0xff, 1, 0 };
	const char *ids[3];
	const unsigned char *data[3];
	size_t lens[3];

	(void)state;
	assert_int_equal(png_encode_rgb(&png, &plen, rgb, 6, 5, &err), 0);
	assert_int_equal(image_probe(&p, png, plen), 0);
	assert_string_equal(p.format, "png");
	assert_int_equal(p.width, 6);
	assert_int_equal(p.height, 5);
	free(png);

	exif = make_exif(&elen, EXIF_BYTE_ORDER_INTEL, "ASCII\0\0\0", (const unsigned char *)"x",
			 1);
	n = make_jpeg(buf, exif, elen, 640, 480);
	assert_int_equal(image_probe(&p, buf, n), 0);
	assert_string_equal(p.format, "jpeg");
	assert_int_equal(p.width, 640);
	assert_int_equal(p.height, 480);
	assert_true(p.exif == buf + 24 && p.exif_len == elen && p.exif_has_header);
	/* cut short: what was read is kept, nothing beyond the end is */
	assert_int_equal(image_probe(&p, buf, 30), 0);
	assert_null(p.exif);
	assert_int_equal(p.width, 0);

	ids[0] = "VP8 ", data[0] = vp8, lens[0] = sizeof(vp8);
	n = make_webp(buf, ids, data, lens, 1);
	assert_int_equal(image_probe(&p, buf, n), 0);
	assert_string_equal(p.format, "webp");
	assert_int_equal(p.width, 320);
	assert_int_equal(p.height, 240);
	ids[0] = "VP8L", data[0] = vp8l, lens[0] = sizeof(vp8l);
	n = make_webp(buf, ids, data, lens, 1);
	assert_int_equal(image_probe(&p, buf, n), 0);
	assert_int_equal(p.width, 64);
	assert_int_equal(p.height, 64);
	/* VP8X's canvas wins, an odd-sized chunk is padded, the EXIF chunk is found */
	ids[0] = "VP8X", data[0] = vp8x, lens[0] = sizeof(vp8x);
	ids[1] = "VP8L", data[1] = vp8l, lens[1] = sizeof(vp8l);
	ids[2] = "EXIF", data[2] = exif + 6, lens[2] = elen - 6;
	n = make_webp(buf, ids, data, lens, 3);
	assert_int_equal(image_probe(&p, buf, n), 0);
	assert_int_equal(p.width, 1024);
	assert_int_equal(p.height, 512);
	assert_int_equal(p.exif_len, elen - 6);
	assert_memory_equal(p.exif, exif + 6, elen - 6);
	assert_false(p.exif_has_header);
	free(exif);

	assert_int_equal(image_probe(&p, (const unsigned char *)"GIF89a", 6), -1);
	assert_null(p.format);
	assert_int_equal(image_probe(&p, NULL, 0), -1);
}

static char *file_in(const char *name)
{
	static char p[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static void write_png(const char *path, const struct png_text *t, size_t nt)
{
	unsigned char rgb[3 * 4 * 4] = { 1, 2, 3 }, *png = NULL, *full = NULL;
	size_t len = 0, flen = 0;
	struct err err = ERR_INIT;

	assert_int_equal(png_encode_rgb(&png, &len, rgb, 4, 4, &err), 0);
	if (nt) {
		assert_int_equal(pngmeta_insert(&full, &flen, png, len, t, nt, &err), 0);
		write_file(path, full, flen);
	} else {
		write_file(path, png, len);
	}
	free(png);
	free(full);
}

static void read_ok(struct catalog_file *f, const char *path, const char *want_source)
{
	struct err err = ERR_INIT;

	if (catalog_read_file(f, path, NULL, &err) != 0)
		fail_msg("catalog_read_file(%s): %s", path, err.msg);
	assert_string_equal(f->source, want_source);
}

/* What the catalog takes from a file: imagen's chunk, else its sidecar, else another
 * tool's metadata, else nothing (still catalogued). */
static void test_reader_sources(void **state)
{
	struct png_text t[2] = { { (char *)"imagen", (char *)"{\"prompt\": \"from the chunk\"}" },
				 { (char *)"parameters", (char *)a1111_text } };
	struct catalog_file f;
	struct err err = ERR_INIT;
	unsigned char buf[4096], payload[512], *exif;
	size_t n, elen;

	(void)state;
	write_png(file_in("both.png"), t, 2);
	write_file(file_in("both.json"), "{\"prompt\": \"from the sidecar\"}", 30);
	read_ok(&f, file_in("both.png"), "imagen");
	assert_string_equal(str(f.record, "prompt"), "from the chunk");
	assert_string_equal(f.format, "png");
	assert_int_equal(f.width, 4);
	assert_true(f.bytes > 0);
	assert_int_equal(strlen(f.sha256), 64);
	catalog_file_release(&f);

	t[0].text = (char *)"{not json";
	write_png(file_in("a1111.png"), t, 2);
	read_ok(&f, file_in("a1111.png"), "a1111");
	assert_int_equal(num(f.record, "seed"), 1234);
	catalog_file_release(&f);

	write_png(file_in("side.png"), NULL, 0);
	write_file(file_in("side.json"), "{\"prompt\": \"from the sidecar\"}", 30);
	read_ok(&f, file_in("side.png"), "imagen");
	assert_string_equal(str(f.record, "prompt"), "from the sidecar");
	catalog_file_release(&f);

	t[0].keyword = (char *)"prompt";
	t[0].text = (char *)comfy_prompt;
	write_png(file_in("comfy.png"), t, 1);
	read_ok(&f, file_in("comfy.png"), "comfyui");
	catalog_file_release(&f);

	write_png(file_in("plain.png"), NULL, 0);
	read_ok(&f, file_in("plain.png"), "none");
	assert_int_equal(json_object_size(f.record), 0);
	catalog_file_release(&f);

	/* a JPEG with A1111's UserComment; with a sidecar beside it, the sidecar wins */
	n = utf16(payload, "jpeg fox\nSteps: 5, Seed: 5, Size: 8x8", 1);
	exif = make_exif(&elen, EXIF_BYTE_ORDER_INTEL, "UNICODE\0", payload, n);
	n = make_jpeg(buf, exif, elen, 300, 200);
	free(exif);
	write_file(file_in("a.jpg"), buf, n);
	read_ok(&f, file_in("a.jpg"), "a1111");
	assert_string_equal(f.format, "jpeg");
	assert_int_equal(f.width, 300);
	assert_memory_equal(str(f.record, "prompt"), "jpeg fox", 8);
	catalog_file_release(&f);
	write_file(file_in("a.json"), "{\"prompt\": \"imagen's\"}", 22);
	read_ok(&f, file_in("a.jpg"), "imagen");
	catalog_file_release(&f);

	/* the record given by the caller (generate's sidecar) wins over everything */
	{
		json_t *side = json_pack("{s:s}", "prompt", "given");

		assert_int_equal(catalog_read_file(&f, file_in("comfy.png"), side, &err), 0);
		assert_string_equal(f.source, "imagen");
		assert_string_equal(str(f.record, "prompt"), "given");
		catalog_file_release(&f);
		json_decref(side);
	}
	write_file(file_in("text.png"), "just text", 9);
	assert_int_equal(catalog_read_file(&f, file_in("text.png"), NULL, &err), -1);
	assert_non_null(strstr(err.msg, "text.png: not a PNG, JPEG or WebP image"));
	assert_int_equal(catalog_read_file(&f, file_in("nope.png"), NULL, &err), -1);
	assert_non_null(strstr(err.msg, "nope.png"));
	assert_null(f.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a1111),
		cmocka_unit_test(test_comfyui_api_graph),
		cmocka_unit_test(test_comfyui_ui_graph),
		cmocka_unit_test(test_invokeai_and_novelai),
		cmocka_unit_test(test_png_precedence),
		cmocka_unit_test(test_exif_user_comment),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_reader_sources),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
