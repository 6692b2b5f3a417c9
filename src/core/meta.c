/* meta.c - sidecar JSON, A1111 infotext and reading them back for --from. */
#include "core/meta.h"

#include <errno.h>
#include <math.h>
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
	    (in->batch_id && (json_object_set_new(o, "batch_id", json_string(in->batch_id)) < 0 ||
			      json_object_set_new(o, "job", json_integer(in->job)) < 0)) ||
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

/* The first of keys that obj holds as a string or a number (borrowed), else NULL. */
static const json_t *first_of(const json_t *obj, const char *const *keys)
{
	const json_t *v;

	for (; obj && *keys; keys++) {
		v = json_object_get(obj, *keys);
		if (json_is_number(v) || (json_is_string(v) && *json_string_value(v)))
			return v;
	}
	return NULL;
}

/* What the upstream reported (metadata) wins over what was asked for (--set options). */
static const json_t *known(const struct gen_info *in, const char *const *keys)
{
	const json_t *v = first_of(in->res->metadata, keys);

	return v ? v : first_of(in->options, keys);
}

/* params[key] = v (a copy) when v is known; 0, or -1 when memory is short. */
static int put_known(json_t *params, const char *key, const json_t *v)
{
	return v ? json_object_set_new(params, key, json_deep_copy(v)) : 0;
}

/*
 * The parameter line, in A1111's order and spelling (create_infotext in its
 * modules/processing.py; protocols/a1111.md §6), from what the result and the request
 * know.  Adapters name these facts differently: a1111 reports sampler, scheduler,
 * cfg_scale, sd_model_hash and sd_model_name; comfyui sampler, scheduler and cfg; the
 * rest can only come from --set options.  Values are written as the upstream spells
 * them (ComfyUI's "euler" stays "euler").
 */
static json_t *own_params(const struct gen_info *in)
{
	static const char *const sampler[] = { "sampler", "sampler_name", NULL };
	static const char *const scheduler[] = { "scheduler", "schedule_type", NULL };
	static const char *const cfg[] = { "cfg_scale", "cfg", "guidance_scale", NULL };
	static const char *const model_hash[] = { "sd_model_hash", "model_hash", NULL };
	static const char *const model_name[] = { "sd_model_name", NULL };
	static const char *const denoise[] = { "denoising_strength", "denoise", NULL };
	static const char *const clip_skip[] = { "clip_skip", NULL };
	const struct imagen_result *res = in->res;
	const json_t *name = first_of(res->metadata, model_name);
	json_t *params = json_object();
	const json_t *mb;
	char size[32], ds[32];

	if (!params)
		return NULL;
	snprintf(size, sizeof(size), "%dx%d", res->width, res->height);
	snprintf(ds, sizeof(ds), "%g", in->strength); /* A1111 writes 0.6, not 0.600000 */
	if ((res->steps && json_object_set_new(params, "Steps", json_integer(res->steps)) < 0) ||
	    put_known(params, "Sampler", known(in, sampler)) < 0 ||
	    put_known(params, "Schedule type", known(in, scheduler)) < 0 ||
	    put_known(params, "CFG scale", known(in, cfg)) < 0 ||
	    (res->seed_honoured &&
	     json_object_set_new(params, "Seed", json_integer(res->seed)) < 0) ||
	    json_object_set_new(params, "Size", json_string(size)) < 0 ||
	    put_known(params, "Model hash", first_of(res->metadata, model_hash)) < 0 ||
	    (name ? put_known(params, "Model", name) < 0
		  : res->model &&
			     json_object_set_new(params, "Model", json_string(res->model)) < 0) ||
	    (in->ninputs && !res->no_strength
		     ? json_object_set_new(params, "Denoising strength", json_string(ds)) < 0
		     : put_known(params, "Denoising strength", known(in, denoise)) < 0) ||
	    put_known(params, "Clip skip", known(in, clip_skip)) < 0 ||
	    /* img2img's extra parameter, as A1111 writes it after the others */
	    (in->mask && json_is_integer(mb = json_object_get(res->metadata, "mask_blur")) &&
	     json_object_set_new(params, "Mask blur", json_integer(json_integer_value(mb))) < 0)) {
		json_decref(params);
		return NULL;
	}
	return params;
}

/* The upstream's own parameters (a1111 hands back the infotext it wrote), NULL when there
 * is none or it does not parse: then ours stand alone. */
static json_t *upstream_params(const struct gen_info *in)
{
	const json_t *v = json_object_get(in->res->metadata, "infotext");
	char *prompt = NULL, *neg = NULL;
	json_t *params = NULL;
	struct err err = ERR_INIT;

	if (!json_is_string(v) ||
	    infotext_parse(json_string_value(v), &prompt, &neg, &params, &err) < 0)
		return NULL;
	free(prompt);
	free(neg);
	if (!json_object_size(params)) {
		json_decref(params);
		return NULL;
	}
	return params;
}

char *meta_infotext(const struct gen_info *in)
{
	json_t *own = own_params(in), *up = upstream_params(in);
	char *text = NULL;

	/* the upstream's line is the truth about its run: its fields, in its order, win;
	 * what only we know follows them */
	if (own && (!up || json_object_update_missing(up, own) == 0))
		text = infotext_format(in->final_prompt, in->negative, up ? up : own);
	json_decref(own);
	json_decref(up);
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

/* *dst = a copy of params[key] (a string, as infotext_parse leaves every value). */
static int string_param(char **dst, const json_t *params, const char *key)
{
	const json_t *v = json_object_get(params, key);

	if (!json_is_string(v))
		return 0;
	*dst = strdup(json_string_value(v));
	return *dst ? 0 : -1;
}

/* A decimal number written by A1111 ("7", "6.5", "0.75"); the message names the key. */
static int number_param(double *dst, int *has, const json_t *params, const char *key,
			const char *path, struct err *err)
{
	const json_t *v = json_object_get(params, key);
	char *end;
	double d;

	if (!json_is_string(v))
		return 0;
	errno = 0;
	d = strtod(json_string_value(v), &end);
	if (end == json_string_value(v) || *end || errno || !isfinite(d) || d < 0)
		return err_set(err, "%s: parameters: %s '%s' is not a number", path, key,
			       json_string_value(v));
	*dst = d;
	*has = 1;
	return 0;
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
	if (number_param(&r->cfg_scale, &r->has_cfg, params, "CFG scale", path, err) < 0 ||
	    number_param(&r->denoise, &r->has_denoise, params, "Denoising strength", path, err) <
		    0 ||
	    string_param(&r->sampler, params, "Sampler") < 0 ||
	    string_param(&r->scheduler, params, "Schedule type") < 0 ||
	    string_param(&r->model, params, "Model") < 0 ||
	    string_param(&r->model_hash, params, "Model hash") < 0) {
		if (!err->msg[0])
			err_set(err, "out of memory");
		goto out;
	}
	if (r->has_denoise) {
		if (!(r->denoise >= 0 && r->denoise <= 1)) {
			err_set(err, "%s: parameters: Denoising strength %g is not from 0 to 1",
				path, r->denoise);
			goto out;
		}
		/* an img2img's strength: --from uses it when the inputs are found again */
		r->strength = r->denoise;
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
	r->params = params;
	params = NULL;
	rc = 0;
out:
	json_decref(params);
	return rc;
}

int meta_is_sidecar(const unsigned char *data, size_t len)
{
	size_t i = 0;

	while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r'))
		i++;
	return i < len && data[i] == '{';
}

int repro_load(struct repro *r, const char *path, struct err *err)
{
	unsigned char *data = NULL;
	struct png_text *texts = NULL;
	size_t len = 0, ntexts = 0;
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
	if (meta_is_sidecar(data, len)) {
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

int repro_backend_options(const struct repro *r, const char *backend_type, json_t *opts,
			  struct err *err)
{
	if (!r->params || !backend_type || strcmp(backend_type, "a1111"))
		return 0;
	if ((r->sampler && !json_object_get(opts, "sampler") &&
	     json_object_set_new(opts, "sampler", json_string(r->sampler)) < 0) ||
	    (r->scheduler && !json_object_get(opts, "scheduler") &&
	     json_object_set_new(opts, "scheduler", json_string(r->scheduler)) < 0) ||
	    (r->has_cfg && !json_object_get(opts, "cfg_scale") &&
	     json_object_set_new(opts, "cfg_scale", json_real(r->cfg_scale)) < 0))
		return err_set(err, "out of memory");
	return 0;
}

void repro_release(struct repro *r)
{
	free(r->prompt);
	free(r->final_prompt);
	free(r->negative);
	free(r->style);
	free(r->backend);
	free(r->sampler);
	free(r->scheduler);
	free(r->model);
	free(r->model_hash);
	json_decref(r->params);
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
