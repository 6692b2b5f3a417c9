/* foreign.c - A1111, ComfyUI, InvokeAI and NovelAI metadata into sidecar-shaped records. */
#include "catalog/foreign.h"

#include <errno.h>
#include <libexif/exif-data.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/comfyui.h"
#include "core/infotext.h"
#include "util/buf.h"
#include "util/utf8.h"

#define GRAPH_MAX_BYTES (16u * 1024 * 1024)

/* ---- record helpers ---------------------------------------------------------------------- */

static void put_str(json_t *r, const char *key, const char *s)
{
	if (s && *s)
		json_object_set_new(r, key, json_string(s));
}

static void put_json_str(json_t *r, const char *key, const json_t *v)
{
	if (json_is_string(v))
		put_str(r, key, json_string_value(v));
}

static void put_json_int(json_t *r, const char *key, const json_t *v)
{
	double d = json_real_value(v);

	if (json_is_integer(v))
		json_object_set_new(r, key, json_integer(json_integer_value(v)));
	else if (json_is_real(v) && d >= -9e18 && d <= 9e18 && d == floor(d)) /* 42.0 */
		json_object_set_new(r, key, json_integer((json_int_t)d));
}

static void put_json_num(json_t *r, const char *key, const json_t *v)
{
	if (json_is_number(v))
		json_object_set_new(r, key, json_real(json_number_value(v)));
}

/* A decimal integer string into key (when it is one). */
static void put_int_text(json_t *r, const char *key, const char *s)
{
	char *end;
	long long v;

	if (!s || !*s)
		return;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (!errno && !*end)
		json_object_set_new(r, key, json_integer(v));
}

static void put_real_text(json_t *r, const char *key, const char *s)
{
	char *end;
	double v;

	if (!s || !*s)
		return;
	errno = 0;
	v = strtod(s, &end);
	if (!errno && !*end && isfinite(v))
		json_object_set_new(r, key, json_real(v));
}

/* A record that says something: at least a prompt or a seed. */
static json_t *keep_if_useful(json_t *r)
{
	if (r && (json_object_get(r, "prompt") || json_object_get(r, "seed")))
		return r;
	json_decref(r);
	return NULL;
}

static json_t *parse_object(const char *text)
{
	json_t *o;

	if (!text || strlen(text) > GRAPH_MAX_BYTES)
		return NULL;
	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- AUTOMATIC1111 / Forge ------------------------------------------------------------------ */

json_t *foreign_a1111(const char *text)
{
	char *prompt = NULL, *neg = NULL;
	json_t *params = NULL, *r;
	const char *size, *model;
	struct err err = ERR_INIT;
	int w, h;
	char tail;

	if (!text || infotext_parse(text, &prompt, &neg, &params, &err) < 0)
		return NULL;
	r = json_object();
	if (r) {
		put_str(r, "prompt", prompt);
		put_str(r, "negative_prompt", neg);
		model = json_string_value(json_object_get(params, "Model"));
		put_str(r, "model",
			model ? model : json_string_value(json_object_get(params, "Model hash")));
		put_int_text(r, "seed", json_string_value(json_object_get(params, "Seed")));
		put_int_text(r, "steps", json_string_value(json_object_get(params, "Steps")));
		put_str(r, "sampler", json_string_value(json_object_get(params, "Sampler")));
		put_real_text(r, "cfg", json_string_value(json_object_get(params, "CFG scale")));
		size = json_string_value(json_object_get(params, "Size"));
		if (size && sscanf(size, "%dx%d%c", &w, &h, &tail) == 2 && w > 0 && h > 0) {
			json_object_set_new(r, "width", json_integer(w));
			json_object_set_new(r, "height", json_integer(h));
		}
		if (json_object_size(params))
			json_object_set_new(r, "metadata",
					    json_pack("{s:O}", "parameters", params));
	}
	free(prompt);
	free(neg);
	json_decref(params);
	return keep_if_useful(r);
}

/* ---- ComfyUI: the API graph ------------------------------------------------------------------ */

/* The value at a target "ID.inputs.NAME" of graph (borrowed), or NULL. */
static const json_t *target_value(const json_t *graph, const json_t *target)
{
	const char *t =
		json_string_value(json_is_array(target) ? json_array_get(target, 0) : target);
	const char *in = t ? strstr(t, ".inputs.") : NULL;
	char id[64];

	if (!in || (size_t)(in - t) >= sizeof(id))
		return NULL;
	memcpy(id, t, (size_t)(in - t));
	id[in - t] = '\0';
	return json_object_get(json_object_get(json_object_get(graph, id), "inputs"), in + 8);
}

/* The first non-empty text among a parameter's targets (Flux has clip_l and t5xxl). */
static const char *target_text(const json_t *graph, const json_t *targets)
{
	size_t i, n = json_is_array(targets) ? json_array_size(targets) : 1;

	for (i = 0; i < n; i++) {
		const json_t *v = target_value(
			graph, json_is_array(targets) ? json_array_get(targets, i) : targets);
		const char *s = json_string_value(v);

		if (s && *s)
			return s;
	}
	return NULL;
}

static json_t *comfyui_api(const json_t *graph)
{
	struct comfyui_params *p = NULL;
	struct err err = ERR_INIT;
	json_t *where, *r;

	if (comfyui_params_detect(&p, graph, NULL, "foreign", &err) < 0)
		return NULL;
	where = comfyui_params_json(p);
	comfyui_params_free(p);
	r = json_object();
	if (r && where) {
		put_str(r, "prompt", target_text(graph, json_object_get(where, "prompt")));
		put_str(r, "negative_prompt",
			target_text(graph, json_object_get(where, "negative")));
		put_json_str(r, "model", target_value(graph, json_object_get(where, "model")));
		put_json_int(r, "seed", target_value(graph, json_object_get(where, "seed")));
		put_json_int(r, "steps", target_value(graph, json_object_get(where, "steps")));
		put_json_num(r, "cfg", target_value(graph, json_object_get(where, "cfg")));
		put_json_str(r, "sampler", target_value(graph, json_object_get(where, "sampler")));
		put_json_int(r, "width", target_value(graph, json_object_get(where, "width")));
		put_json_int(r, "height", target_value(graph, json_object_get(where, "height")));
	}
	json_decref(where);
	return keep_if_useful(r);
}

/* ---- ComfyUI: the UI graph (nodes with widgets_values, links as arrays) -------------------- */

static const json_t *ui_node(const json_t *wf, json_int_t id)
{
	const json_t *nodes = json_object_get(wf, "nodes"), *n;
	size_t i;

	json_array_foreach (nodes, i, n)
		if (json_integer_value(json_object_get(n, "id")) == id)
			return n;
	return NULL;
}

static const char *ui_type(const json_t *node)
{
	const char *t = json_string_value(json_object_get(node, "type"));

	return t ? t : "";
}

static const json_t *ui_widget(const json_t *node, size_t i)
{
	return json_array_get(json_object_get(node, "widgets_values"), i);
}

/* The node feeding input `name` of node: its links entry is [id, from, slot, to, slot, type]. */
static const json_t *ui_source(const json_t *wf, const json_t *node, const char *name)
{
	const json_t *inputs = json_object_get(node, "inputs"), *links, *in, *l;
	size_t i, k;

	json_array_foreach (inputs, i, in) {
		const char *iname = json_string_value(json_object_get(in, "name"));
		const json_t *link = json_object_get(in, "link");

		if (!iname || strcmp(iname, name) || !json_is_integer(link))
			continue;
		links = json_object_get(wf, "links");
		json_array_foreach (links, k, l)
			if (json_integer_value(json_array_get(l, 0)) == json_integer_value(link))
				return ui_node(wf, json_integer_value(json_array_get(l, 1)));
		return NULL;
	}
	return NULL;
}

static const char *ui_text_of(const json_t *wf, const json_t *node)
{
	int hops;

	for (hops = 0; node && hops < 16; hops++) {
		if (!strncmp(ui_type(node), "CLIPTextEncode", 14))
			return json_string_value(ui_widget(node, 0));
		node = ui_source(wf, node, "conditioning"); /* FluxGuidance and the like */
	}
	return NULL;
}

static json_t *comfyui_ui(const json_t *wf)
{
	const json_t *nodes = json_object_get(wf, "nodes"), *n, *s = NULL, *m;
	json_t *r;
	size_t i;
	int adv = 0, hops;

	json_array_foreach (nodes, i, n) {
		if (!strcmp(ui_type(n), "KSampler") || !strcmp(ui_type(n), "KSamplerAdvanced")) {
			s = n;
			adv = ui_type(n)[8] == 'A';
			break;
		}
	}
	if (!s || !(r = json_object()))
		return NULL;
	/* KSampler: seed, control, steps, cfg, sampler, scheduler, denoise; the advanced one
	 * has add_noise first and start/end steps after */
	put_json_int(r, "seed", ui_widget(s, adv ? 1 : 0));
	put_json_int(r, "steps", ui_widget(s, adv ? 3 : 2));
	put_json_num(r, "cfg", ui_widget(s, adv ? 4 : 3));
	put_json_str(r, "sampler", ui_widget(s, adv ? 5 : 4));
	put_str(r, "prompt", ui_text_of(wf, ui_source(wf, s, "positive")));
	put_str(r, "negative_prompt", ui_text_of(wf, ui_source(wf, s, "negative")));
	m = ui_source(wf, s, "latent_image");
	if (m && !strncmp(ui_type(m), "Empty", 5)) {
		put_json_int(r, "width", ui_widget(m, 0));
		put_json_int(r, "height", ui_widget(m, 1));
	}
	for (m = ui_source(wf, s, "model"), hops = 0; m && hops < 32; hops++) {
		if (strstr(ui_type(m), "CheckpointLoader") || !strcmp(ui_type(m), "UNETLoader")) {
			put_json_str(r, "model", ui_widget(m, 0));
			break;
		}
		m = ui_source(wf, m, "model");
	}
	return keep_if_useful(r);
}

json_t *foreign_comfyui(const char *prompt, const char *workflow)
{
	json_t *g = parse_object(prompt), *r = NULL;

	if (g)
		r = comfyui_api(g);
	json_decref(g);
	if (!r && (g = parse_object(workflow))) {
		r = comfyui_ui(g);
		json_decref(g);
	}
	return r;
}

/* ---- InvokeAI ------------------------------------------------------------------------------- */

json_t *foreign_invokeai(const char *text, int legacy)
{
	json_t *o = parse_object(text), *r = o ? json_object() : NULL;
	const json_t *model, *img, *prompt;

	if (!r) {
		json_decref(o);
		return NULL;
	}
	if (!legacy) {
		put_json_str(r, "prompt", json_object_get(o, "positive_prompt"));
		put_json_str(r, "negative_prompt", json_object_get(o, "negative_prompt"));
		model = json_object_get(o, "model");
		if (json_is_object(model))
			put_json_str(r, "model",
				     json_object_get(model, "name")
					     ? json_object_get(model, "name")
					     : json_object_get(model, "model_name"));
		else
			put_json_str(r, "model", model);
		img = o;
	} else {
		/* 2.x: {"model_weights": ..., "image": {"prompt": [{"prompt": ...}] | "...", ...}}
		 */
		put_json_str(r, "model", json_object_get(o, "model_weights"));
		img = json_object_get(o, "image");
		prompt = json_object_get(img, "prompt");
		if (json_is_array(prompt))
			prompt = json_object_get(json_array_get(prompt, 0), "prompt");
		put_json_str(r, "prompt", prompt);
	}
	put_json_int(r, "seed", json_object_get(img, "seed"));
	put_json_int(r, "steps", json_object_get(img, "steps"));
	put_json_num(r, "cfg", json_object_get(img, "cfg_scale"));
	put_json_str(r, "sampler", json_object_get(img, legacy ? "sampler" : "scheduler"));
	put_json_int(r, "width", json_object_get(img, "width"));
	put_json_int(r, "height", json_object_get(img, "height"));
	json_decref(o);
	return keep_if_useful(r);
}

/* ---- NovelAI -------------------------------------------------------------------------------- */

json_t *foreign_novelai(const char *comment, const char *source, const char *description)
{
	json_t *o = parse_object(comment), *r = json_object();
	const json_t *prompt;

	if (!r) {
		json_decref(o);
		return NULL;
	}
	prompt = json_object_get(o, "prompt");
	if (!json_is_string(prompt)) /* V4: {"v4_prompt": {"caption": {"base_caption": ...}}} */
		prompt =
			json_object_get(json_object_get(json_object_get(o, "v4_prompt"), "caption"),
					"base_caption");
	if (json_is_string(prompt))
		put_json_str(r, "prompt", prompt);
	else
		put_str(r, "prompt", description);
	put_json_str(r, "negative_prompt", json_object_get(o, "uc"));
	put_json_int(r, "seed", json_object_get(o, "seed"));
	put_json_int(r, "steps", json_object_get(o, "steps"));
	put_json_num(r, "cfg", json_object_get(o, "scale"));
	put_json_str(r, "sampler", json_object_get(o, "sampler"));
	put_json_int(r, "width", json_object_get(o, "width"));
	put_json_int(r, "height", json_object_get(o, "height"));
	put_str(r, "model", source);
	json_decref(o);
	return keep_if_useful(r);
}

/* ---- which one ------------------------------------------------------------------------------- */

json_t *foreign_from_png(const struct png_text *t, size_t n, const char **source)
{
	const char *s, *software;
	json_t *r;

	*source = NULL;
	if ((s = pngmeta_find(t, n, "parameters")) && (r = foreign_a1111(s))) {
		*source = "a1111";
		return r;
	}
	if ((pngmeta_find(t, n, "prompt") || pngmeta_find(t, n, "workflow")) &&
	    (r = foreign_comfyui(pngmeta_find(t, n, "prompt"), pngmeta_find(t, n, "workflow")))) {
		*source = "comfyui";
		return r;
	}
	if (((s = pngmeta_find(t, n, "invokeai_metadata")) && (r = foreign_invokeai(s, 0))) ||
	    ((s = pngmeta_find(t, n, "sd-metadata")) && (r = foreign_invokeai(s, 1)))) {
		*source = "invokeai";
		return r;
	}
	software = pngmeta_find(t, n, "Software");
	if ((s = pngmeta_find(t, n, "Comment")) &&
	    ((software && !strncmp(software, "NovelAI", 7)) || strstr(s, "\"uc\"")) &&
	    (r = foreign_novelai(s, pngmeta_find(t, n, "Source"),
				 pngmeta_find(t, n, "Description")))) {
		*source = "novelai";
		return r;
	}
	return NULL;
}

/* ---- EXIF -------------------------------------------------------------------------------------
 */

static void add_utf8(struct buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_add(b, u, n);
}

/* UTF-16 to UTF-8; big: the byte order when no byte-order mark says otherwise. */
static char *utf16_to_utf8(const unsigned char *d, size_t n, int big)
{
	struct buf b = BUF_INIT;
	size_t i = 0;

	if (n >= 2 && ((d[0] == 0xfe && d[1] == 0xff) || (d[0] == 0xff && d[1] == 0xfe))) {
		big = d[0] == 0xfe;
		i = 2;
	}
	for (; i + 1 < n; i += 2) {
		uint32_t u =
			big ? (uint32_t)(d[i] << 8 | d[i + 1]) : (uint32_t)(d[i] | d[i + 1] << 8);

		if (u >= 0xd800 && u <= 0xdbff && i + 3 < n) {
			uint32_t lo = big ? (uint32_t)(d[i + 2] << 8 | d[i + 3])
					  : (uint32_t)(d[i + 2] | d[i + 3] << 8);

			if (lo >= 0xdc00 && lo <= 0xdfff) {
				add_utf8(&b, 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00));
				i += 2;
				continue;
			}
		}
		if (u == 0)
			break;
		add_utf8(&b, u >= 0xd800 && u <= 0xdfff ? 0xfffd : u);
	}
	if (buf_adds(&b, "") < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* Bytes that should be UTF-8: up to the first NUL, invalid sequences as U+FFFD. */
static char *bytes_to_utf8(const unsigned char *d, size_t n)
{
	struct buf b = BUF_INIT;
	size_t i = 0, at;
	uint32_t cp;

	while (i < n && d[i]) {
		at = i;
		if (utf8_next(d, n, &i, &cp) == 0 && cp) {
			buf_add(&b, d + at, i - at);
		} else {
			buf_adds(&b, "\xef\xbf\xbd");
			i = at + 1;
		}
	}
	if (buf_adds(&b, "") < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

char *foreign_exif_user_comment(const unsigned char *exif, size_t len, int has_header)
{
	ExifData *ed;
	ExifEntry *e;
	unsigned char *whole = NULL;
	const unsigned char *d;
	char *out = NULL;
	size_t n, i, even = 0, odd = 0;

	if (!exif || len < 8 || len > UINT32_MAX - 6)
		return NULL;
	if (!has_header) { /* libexif wants the APP1 header in front of the TIFF block */
		whole = malloc(len + 6);
		if (!whole)
			return NULL;
		memcpy(whole, "Exif\0\0", 6);
		memcpy(whole + 6, exif, len);
		exif = whole;
		len += 6;
	}
	ed = exif_data_new();
	if (!ed) {
		free(whole);
		return NULL;
	}
	/* read what is there, as it is: no dropping of tags in unexpected IFDs, no fixing */
	exif_data_unset_option(ed, EXIF_DATA_OPTION_IGNORE_UNKNOWN_TAGS);
	exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
	exif_data_load_data(ed, exif, (unsigned int)len);
	e = exif_data_get_entry(ed, EXIF_TAG_USER_COMMENT);
	if (e && e->data && e->size > 8) {
		d = e->data + 8;
		n = e->size - 8;
		if (!memcmp(e->data, "UNICODE\0", 8)) {
			/* mostly-ASCII UTF-16 shows its byte order in where the zero bytes are;
			 * piexif (A1111) writes big-endian whatever the EXIF byte order */
			for (i = 0; i + 1 < n; i += 2) {
				even += d[i] == 0;
				odd += d[i + 1] == 0;
			}
			out = utf16_to_utf8(d, n,
					    even != odd ? even > odd
							: exif_data_get_byte_order(ed) ==
								  EXIF_BYTE_ORDER_MOTOROLA);
		} else if (!memcmp(e->data, "ASCII\0\0\0", 8) ||
			   !memcmp(e->data, "\0\0\0\0\0\0\0\0", 8)) {
			out = bytes_to_utf8(d, n);
		}
	}
	exif_data_unref(ed);
	free(whole);
	if (out && !*out) {
		free(out);
		out = NULL;
	}
	return out;
}

json_t *foreign_from_exif(const unsigned char *exif, size_t len, int has_header,
			  const char **source)
{
	char *text = foreign_exif_user_comment(exif, len, has_header);
	json_t *r = text ? foreign_a1111(text) : NULL;

	free(text);
	*source = r ? "a1111" : NULL;
	return r;
}
