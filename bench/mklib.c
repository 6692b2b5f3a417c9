/*
 * mklib.c - make a synthetic image library for the catalog benchmark.
 *
 *   mklib DIR N
 *
 * Writes N small PNGs (8x8 pixels, with the `imagen` and `parameters` chunks imagen
 * writes) and their sidecars under DIR/YYYY-MM/, with varied prompts, seeds, models,
 * backends, styles, costs and dates, the same for every run (a fixed pseudo-random
 * sequence).  Built from the project's own PNG code, so the files are what generate
 * writes, only smaller.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/infotext.h"
#include "core/pngmeta.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

#define PICK(a) (a[next() % (sizeof(a) / sizeof(a[0]))])

static const char *const colors[] = { "red",   "blue",  "golden",  "silver", "black",
				      "white", "green", "crimson", "pale",   "amber" };
static const char *const subjects[] = {
	"fox",      "lighthouse", "castle", "cat",
	"owl",      "dragon",     "robot",  "forest",
	"city",     "ship",       "barn",   "heron",
	"mountain", "garden",     "train",  "portrait of an old sailor",
	"whale",    "cathedral",  "desert", "otter",
};
static const char *const settings[] = { "in the snow",       "at dusk",    "under the stars",
					"in the rain",       "on a cliff", "in a misty valley",
					"at golden hour",    "by the sea", "in a neon city",
					"in the morning fog" };
static const char *const styles[] = { "none", "none", "cinematic", "watercolor", "photo" };
static const struct {
	const char *backend, *type, *model;
	double usd;
} engines[] = {
	{ "flux-local", "comfyui", "flux1-schnell.safetensors", 0 },
	{ "flux-dev", "comfyui", "flux1-dev.safetensors", 0 },
	{ "sdxl", "a1111", "sd_xl_base_1.0", 0 },
	{ "replicate", "replicate", "black-forest-labs/flux-schnell", 0.003 },
	{ "openai", "openai", "gpt-image-1", 0.042 },
	{ "mock", "mock", "imagen-mock-1", 0 },
};

static int mkdirs(const char *d)
{
	return mkdir(d, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

static int write_file(const char *path, const void *d, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(d, 1, n, f) != n) {
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

int main(int argc, char **argv)
{
	unsigned char rgb[8 * 8 * 3], *base = NULL, *png = NULL;
	size_t blen = 0, plen = 0;
	struct err err = ERR_INIT;
	char path[4096], prompt[256], iso[40], month[16];
	long n, i;

	if (argc != 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: mklib DIR N\n");
		return 2;
	}
	for (i = 0; i < (long)sizeof(rgb); i++)
		rgb[i] = (unsigned char)(i * 37);
	if (mkdirs(argv[1]) < 0 || png_encode_rgb(&base, &blen, rgb, 8, 8, &err) < 0) {
		fprintf(stderr, "mklib: %s: %s\n", argv[1], err.msg[0] ? err.msg : strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++) {
		int e = (int)(next() % (sizeof(engines) / sizeof(engines[0])));
		/* two years of images, 2025-01 to 2026-12 */
		int mon = (int)(next() % 24), day = 1 + (int)(next() % 28);
		int hh = (int)(next() % 24), mm = (int)(next() % 60);
		long long seed = next() % 100000;
		const char *style = PICK(styles);
		json_t *side, *params;
		char *text, *info;
		struct png_text texts[2];

		snprintf(prompt, sizeof(prompt), "a %s %s %s", PICK(colors), PICK(subjects),
			 PICK(settings));
		snprintf(month, sizeof(month), "%04d-%02d", 2025 + mon / 12, mon % 12 + 1);
		snprintf(iso, sizeof(iso), "%s-%02dT%02d:%02d:00+00:00", month, day, hh, mm);
		side = json_pack(
			"{s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:I, s:b, s:i, s:i, s:i, s:s, "
			"s:{}, s:{s:s}, s:s}",
			"prompt", prompt, "final_prompt", prompt, "negative_prompt", "style", style,
			"backend", engines[e].backend, "backend_type", engines[e].type, "model",
			engines[e].model, "seed", seed, "seed_honoured", 1, "width", 1024, "height",
			1024, "steps", 4 + (int)(next() % 28), "created_at", iso, "options",
			"metadata", "sampler", "euler", "imagen_version", "0.1.0");
		if (engines[e].usd > 0)
			json_object_set_new(
				side, "cost",
				json_pack("{s:f, s:s}", "usd", engines[e].usd, "currency", "USD"));
		params = json_pack("{s:I, s:s, s:s}", "Seed", seed, "Size", "1024x1024", "Model",
				   engines[e].model);
		text = json_dumps(side, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
		info = infotext_format(prompt, NULL, params);
		texts[0] = (struct png_text){ "parameters", info };
		texts[1] = (struct png_text){ "imagen", text };
		snprintf(path, sizeof(path), "%s/%s", argv[1], month);
		if (!text || !info || mkdirs(path) < 0 ||
		    pngmeta_insert(&png, &plen, base, blen, texts, 2, &err) < 0) {
			fprintf(stderr, "mklib: image %ld: %s\n", i, err.msg);
			return 1;
		}
		snprintf(path, sizeof(path), "%s/%s/%s-%06ld-%lld.png", argv[1], month, month, i,
			 seed);
		if (write_file(path, png, plen) < 0) {
			fprintf(stderr, "mklib: %s: %s\n", path, strerror(errno));
			return 1;
		}
		strcpy(strrchr(path, '.'), ".json");
		if (write_file(path, text, strlen(text)) < 0) {
			fprintf(stderr, "mklib: %s: %s\n", path, strerror(errno));
			return 1;
		}
		free(png);
		free(text);
		free(info);
		json_decref(side);
		json_decref(params);
	}
	free(base);
	return 0;
}
