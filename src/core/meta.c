/* meta.c - sidecar JSON, A1111 infotext and reading them back for --from. */
#include "core/meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"
#include "core/infotext.h"
#include "core/pngmeta.h"

#define REPRO_MAX_BYTES (256u * 1024 * 1024)

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *input_record(const struct gen_input *g)
{
	return json_pack("{s:s, s:s?, s:s, s:I, s:i, s:i}", "role", g->role, "path", g->path,
			 "sha256", g->sha256, "bytes", (json_int_t)g->len, "width", g->width,
			 "height", g->height);
}

/* "inputs", "strength" and "mask_invert" of a generation from image inputs. */
static int add_inputs(json_t *o, const struct gen_info *in)
{
	json_t *a;
	size_t i;

	if (!in->ninputs)
		return 0;
	a = json_array();
	if (!a || json_object_set_new(o, "inputs", a) < 0)
		return -1;
	for (i = 0; i < in->ninputs; i++)
		if (json_array_append_new(a, input_record(&in->inputs[i])) < 0)
			return -1;
	if (in->mask && json_array_append_new(a, input_record(in->mask)) < 0)
		return -1;
	if (json_object_set_new(o, "strength",
				in->res->no_strength ? json_null() : json_real(in->strength)) < 0)
		return -1;
	if (in->mask && json_object_set_new(o, "mask_invert", json_boolean(in->mask_invert)) < 0)
		return -1;
	return 0;
}

json_t *meta_sidecar(const struct gen_info *in)
{
	const struct imagen_result *res = in->res;
	json_t *o = json_object();

	if (!o)
		return NULL;
	/* insertion order is the order on disk: people read these */
	if (json_object_set_new(o, "prompt", json_string(in->prompt)) < 0 ||
	    json_object_set_new(o, "final_prompt", json_string(in->final_prompt)) < 0 ||
	    json_object_set_new(o, "negative_prompt",
				str_or_null(in->negative && *in->negative ? in->negative : NULL)) <
		    0 ||
	    json_object_set_new(o, "style", json_string(in->style)) < 0 ||
	    json_object_set_new(o, "backend", json_string(in->backend)) < 0 ||
	    json_object_set_new(o, "backend_type", json_string(in->backend_type)) < 0 ||
	    json_object_set_new(o, "model", str_or_null(res->model)) < 0 ||
	    json_object_set_new(o, "seed", json_integer(res->seed)) < 0 ||
	    json_object_set_new(o, "seed_honoured", json_boolean(res->seed_honoured)) < 0 ||
	    json_object_set_new(o, "width", json_integer(res->width)) < 0 ||
	    json_object_set_new(o, "height", json_integer(res->height)) < 0 ||
	    json_object_set_new(o, "steps", json_integer(res->steps)) < 0 ||
	    json_object_set_new(o, "created_at", json_string(in->rec->iso)) < 0 ||
	    json_object_set_new(o, "options", json_deep_copy(in->options)) < 0 ||
	    add_inputs(o, in) < 0 ||
	    json_object_set_new(o, "metadata",
				res->metadata ? json_deep_copy(res->metadata) : json_object()) <
		    0 ||
	    (res->cost && json_object_set_new(o, "cost", json_deep_copy(res->cost)) < 0) ||
	    json_object_set_new(o, "imagen_version", json_string(IMAGEN_VERSION)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *meta_infotext(const struct gen_info *in)
{
	const struct imagen_result *res = in->res;
	json_t *params = json_object();
	const json_t *mb;
	char size[32], *text = NULL;

	if (!params)
		return NULL;
	snprintf(size, sizeof(size), "%dx%d", res->width, res->height);
	if ((res->steps && json_object_set_new(params, "Steps", json_integer(res->steps)) < 0) ||
	    (res->seed_honoured &&
	     json_object_set_new(params, "Seed", json_integer(res->seed)) < 0) ||
	    json_object_set_new(params, "Size", json_string(size)) < 0 ||
	    (res->model && json_object_set_new(params, "Model", json_string(res->model)) < 0))
		goto out;
	/* what A1111 writes for img2img: "Denoising strength: 0.6", then "Mask blur: 4" */
	if (in->ninputs && !res->no_strength) {
		char ds[32];

		snprintf(ds, sizeof(ds), "%g", in->strength);
		if (json_object_set_new(params, "Denoising strength", json_string(ds)) < 0)
			goto out;
	}
	mb = json_object_get(res->metadata, "mask_blur");
	if (in->mask && json_is_integer(mb) &&
	    json_object_set_new(params, "Mask blur", json_integer(json_integer_value(mb))) < 0)
		goto out;
	text = infotext_format(in->final_prompt, in->negative, params);
out:
	json_decref(params);
	return text;
}

static int dup_field(char **dst, const json_t *o, const char *key, int required, const char *path,
		     struct err *err)
{
	const json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		if (required)
			return err_set(err, "%s: field '%s' is missing", path, key);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(err, "%s: field '%s' must be a string", path, key);
	*dst = strdup(json_string_value(v));
	return *dst ? 0 : err_set(err, "out of memory");
}

static int int_field(int *dst, const json_t *o, const char *key, const char *path, struct err *err)
{
	const json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000)
		return err_set(err, "%s: field '%s' must be a non-negative integer", path, key);
	*dst = (int)json_integer_value(v);
	return 0;
}

static int ref_field(struct gen_input_ref *ref, const json_t *e, size_t i, const char *path,
		     struct err *err)
{
	const json_t *p = json_object_get(e, "path"), *h = json_object_get(e, "sha256"),
		     *b = json_object_get(e, "bytes");

	if (!json_is_string(p) || !*json_string_value(p) || !json_is_string(h) ||
	    strlen(json_string_value(h)) != 64 || (b && !json_is_integer(b)))
		return err_set(err,
			       "%s: field 'inputs' entry %zu needs a 'path' and a 64-digit "
			       "'sha256'",
			       path, i + 1);
	ref->path = strdup(json_string_value(p));
	ref->sha256 = strdup(json_string_value(h));
	ref->bytes = b ? json_integer_value(b) : 0;
	if (ref->path && ref->sha256)
		return 0;
	free((char *)ref->path);
	free((char *)ref->sha256);
	ref->path = ref->sha256 = NULL;
	return err_set(err, "out of memory");
}

/* "inputs" (images and mask), "strength" and "mask_invert" of an edited image. */
static int inputs_field(struct repro *r, const json_t *o, const char *path, struct err *err)
{
	const json_t *a = json_object_get(o, "inputs"), *v, *e;
	size_t i, n;

	v = json_object_get(o, "strength");
	if (v && json_is_number(v)) {
		r->strength = json_number_value(v);
		if (!(r->strength >= 0 && r->strength <= 1))
			return err_set(err, "%s: field 'strength' must be from 0 to 1", path);
		r->has_strength = 1;
	}
	r->mask_invert = json_is_true(json_object_get(o, "mask_invert"));
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > GEN_INPUTS_MAX + 1)
		return err_set(err, "%s: field 'inputs' must be an array of at most %d", path,
			       GEN_INPUTS_MAX + 1);
	n = json_array_size(a);
	r->images = calloc(n ? n : 1, sizeof(*r->images));
	if (!r->images)
		return err_set(err, "out of memory");
	json_array_foreach (a, i, e) {
		const char *role = json_string_value(json_object_get(e, "role"));
		int mask = role && !strcmp(role, "mask");

		if (!role || (!mask && strcmp(role, "image")))
			return err_set(err,
				       "%s: field 'inputs' entry %zu: role must be image or "
				       "mask",
				       path, i + 1);
		if (mask && r->mask.path)
			return err_set(err, "%s: field 'inputs' has two masks", path);
		if (ref_field(mask ? &r->mask : &r->images[r->nimages], e, i, path, err) < 0)
			return -1;
		if (!mask)
			r->nimages++;
	}
	return 0;
}

static int from_sidecar(struct repro *r, const json_t *o, const char *path, struct err *err)
{
	const json_t *v;

	if (!json_is_object(o))
		return err_set(err, "%s: imagen metadata is not a JSON object", path);
	if (dup_field(&r->prompt, o, "prompt", 1, path, err) < 0 ||
	    dup_field(&r->final_prompt, o, "final_prompt", 0, path, err) < 0 ||
	    dup_field(&r->negative, o, "negative_prompt", 0, path, err) < 0 ||
	    dup_field(&r->style, o, "style", 0, path, err) < 0 ||
	    dup_field(&r->backend, o, "backend", 0, path, err) < 0 ||
	    int_field(&r->width, o, "width", path, err) < 0 ||
	    int_field(&r->height, o, "height", path, err) < 0 ||
	    int_field(&r->steps, o, "steps", path, err) < 0)
		return -1;
	v = json_object_get(o, "seed");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return err_set(err, "%s: field 'seed' must be an integer from 0 to %lld",
				       path, (long long)INT64_MAX);
		r->seed = json_integer_value(v);
		r->has_seed = 1;
	}
	v = json_object_get(o, "options");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v))
			return err_set(err, "%s: field 'options' must be an object", path);
		r->options = json_deep_copy(v);
	}
	return inputs_field(r, o, path, err);
}

static int from_infotext(struct repro *r, const char *text, const char *path, struct err *err)
{
	json_t *params = NULL;
	const json_t *v;
	char *neg = NULL, *end;
	long long n;
	int w, h, rc = -1;

	if (infotext_parse(text, &r->prompt, &neg, &params, err) < 0) {
		err_prefix(err, "%s: parameters", path);
		return -1;
	}
	if (neg && *neg)
		r->negative = neg;
	else
		free(neg);
	if ((v = json_object_get(params, "Seed")) && json_is_string(v)) {
		n = strtoll(json_string_value(v), &end, 10);
		if (*end || n < 0) {
			err_set(err, "%s: parameters: Seed '%s' is not an integer", path,
				json_string_value(v));
			goto out;
		}
		r->seed = n;
		r->has_seed = 1;
	}
	if ((v = json_object_get(params, "Steps")) && json_is_string(v)) {
		n = strtoll(json_string_value(v), &end, 10);
		if (*end || n <= 0 || n > 100000) {
			err_set(err, "%s: parameters: Steps '%s' is not a positive integer", path,
				json_string_value(v));
			goto out;
		}
		r->steps = (int)n;
	}
	if ((v = json_object_get(params, "Denoising strength")) && json_is_string(v)) {
		double d = strtod(json_string_value(v), &end);

		if (*end || end == json_string_value(v) || !(d >= 0 && d <= 1)) {
			err_set(err, "%s: parameters: Denoising strength '%s' is not from 0 to 1",
				path, json_string_value(v));
			goto out;
		}
		r->strength = d;
		r->has_strength = 1;
	}
	if ((v = json_object_get(params, "Size")) && json_is_string(v)) {
		char tail;

		if (sscanf(json_string_value(v), "%dx%d%c", &w, &h, &tail) != 2 || w <= 0 ||
		    h <= 0) {
			err_set(err, "%s: parameters: Size '%s' is not WIDTHxHEIGHT", path,
				json_string_value(v));
			goto out;
		}
		r->width = w;
		r->height = h;
	}
	rc = 0;
out:
	json_decref(params);
	return rc;
}

int repro_load(struct repro *r, const char *path, struct err *err)
{
	unsigned char *data = NULL;
	struct png_text *texts = NULL;
	size_t len = 0, ntexts = 0, i;
	const char *txt;
	json_t *o = NULL;
	json_error_t jerr;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (file_read(&data, &len, path, REPRO_MAX_BYTES, err) < 0)
		return -1;
	if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) {
		if (pngmeta_read_text(&texts, &ntexts, data, len, err) < 0) {
			err_prefix(err, "%s", path);
			goto out;
		}
		if ((txt = pngmeta_find(texts, ntexts, "imagen"))) {
			o = json_loads(txt, 0, &jerr);
			if (!o) {
				err_set(err, "%s: imagen chunk: invalid JSON at line %d: %s", path,
					jerr.line, jerr.text);
				goto out;
			}
			r->source = "imagen chunk";
			rc = from_sidecar(r, o, path, err);
		} else if ((txt = pngmeta_find(texts, ntexts, "parameters"))) {
			r->source = "parameters chunk";
			rc = from_infotext(r, txt, path, err);
		} else {
			err_set(err, "%s: no imagen metadata or A1111 parameters in this PNG",
				path);
		}
		goto out;
	}
	for (i = 0;
	     i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r');
	     i++)
		;
	if (i < len && data[i] == '{') {
		o = json_loadb((const char *)data, len, 0, &jerr);
		if (!o) {
			err_set(err, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column,
				jerr.text);
			goto out;
		}
		r->source = "sidecar";
		rc = from_sidecar(r, o, path, err);
		goto out;
	}
	err_set(err, "%s: not a PNG or an imagen sidecar", path);
out:
	if (rc < 0)
		repro_release(r);
	json_decref(o);
	pngmeta_text_free(texts, ntexts);
	free(data);
	return rc;
}

void repro_release(struct repro *r)
{
	free(r->prompt);
	free(r->final_prompt);
	free(r->negative);
	free(r->style);
	free(r->backend);
	json_decref(r->options);
	while (r->images && r->nimages--) {
		free((char *)r->images[r->nimages].path);
		free((char *)r->images[r->nimages].sha256);
	}
	free(r->images);
	free((char *)r->mask.path);
	free((char *)r->mask.sha256);
	memset(r, 0, sizeof(*r));
}
