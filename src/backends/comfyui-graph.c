/* comfyui-graph.c - the graph side of the `comfyui` adapter: the built-in graphs and the
 * user's workflow file, where each knob goes in a graph (the standard nodes, a lone node
 * of a known class, the config's params), writing values into it, and reading what the
 * server says about one (a 400's node errors, an execution error, a /history entry).
 * No network here: comfyui.c runs the protocol.  Wire facts:
 * ../shared/protocols/comfyui.md. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/comfyui.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/suggest.h"
#include "util/text.h"

#define CF_MAX_WORKFLOW ((size_t)4 << 20)

/*
 * The built-in graphs, with the node ids of ComfyUI's own default workflow (3 = KSampler,
 * 4 = loader, 5 = latent, 6/7 = positive/negative, 8 = decode, 9 = save) so they read
 * like what a ComfyUI user already knows.  txt2img is ComfyUI's default graph (SD 1.x/2.x/
 * XL checkpoints; its default cfg 8, 20 steps, euler/normal, 512x512).  flux-schnell is
 * the single-file fp8 checkpoint (flux1-schnell-fp8.safetensors in models/checkpoints,
 * loaded with the plain checkpoint loader as ComfyUI's examples do) with the schnell
 * settings of the official template: 4 steps, cfg 1, euler/simple, EmptySD3LatentImage
 * 1024x1024; its negative is ConditioningZeroOut (at cfg 1 a negative prompt has no
 * effect), so a negative prompt is not used with it.
 */
static const char builtin_txt2img[] =
	"{"
	"\"3\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 0, \"steps\": 20, "
	"\"cfg\": 8.0, \"sampler_name\": \"euler\", \"scheduler\": \"normal\", \"denoise\": 1.0, "
	"\"model\": [\"4\", 0], \"positive\": [\"6\", 0], \"negative\": [\"7\", 0], "
	"\"latent_image\": [\"5\", 0]}},"
	"\"4\": {\"class_type\": \"CheckpointLoaderSimple\", \"inputs\": {\"ckpt_name\": \"\"}},"
	"\"5\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 512, "
	"\"height\": 512, \"batch_size\": 1}},"
	"\"6\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\", "
	"\"clip\": [\"4\", 1]}},"
	"\"7\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\", "
	"\"clip\": [\"4\", 1]}},"
	"\"8\": {\"class_type\": \"VAEDecode\", \"inputs\": {\"samples\": [\"3\", 0], "
	"\"vae\": [\"4\", 2]}},"
	"\"9\": {\"class_type\": \"SaveImage\", \"inputs\": {\"filename_prefix\": \"imagen\", "
	"\"images\": [\"8\", 0]}}"
	"}";

static const char builtin_flux_schnell[] =
	"{"
	"\"3\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 0, \"steps\": 4, "
	"\"cfg\": 1.0, \"sampler_name\": \"euler\", \"scheduler\": \"simple\", \"denoise\": 1.0, "
	"\"model\": [\"4\", 0], \"positive\": [\"6\", 0], \"negative\": [\"7\", 0], "
	"\"latent_image\": [\"5\", 0]}},"
	"\"4\": {\"class_type\": \"CheckpointLoaderSimple\", \"inputs\": {\"ckpt_name\": "
	"\"" CF_DEFAULT_FLUX_MODEL "\"}},"
	"\"5\": {\"class_type\": \"EmptySD3LatentImage\", \"inputs\": {\"width\": 1024, "
	"\"height\": 1024, \"batch_size\": 1}},"
	"\"6\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"\", "
	"\"clip\": [\"4\", 1]}},"
	"\"7\": {\"class_type\": \"ConditioningZeroOut\", \"inputs\": {\"conditioning\": "
	"[\"6\", 0]}},"
	"\"8\": {\"class_type\": \"VAEDecode\", \"inputs\": {\"samples\": [\"3\", 0], "
	"\"vae\": [\"4\", 2]}},"
	"\"9\": {\"class_type\": \"SaveImage\", \"inputs\": {\"filename_prefix\": \"imagen\", "
	"\"images\": [\"8\", 0]}}"
	"}";

/* ---- parameters: where each knob goes ---------------------------------------------------- */

static const char *const param_names[P_N + 1] = {
	"prompt",    "negative", "seed",       "steps", "width", "height",   "cfg", "sampler",
	"scheduler", "model",    "batch_size", "image", "mask",  "strength", NULL,
};

static int add_target(struct comfyui_params *p, int which, const char *node, const char *input)
{
	struct cf_target *nt;
	size_t i;

	for (i = 0; i < p->n[which]; i++)
		if (!strcmp(p->t[which][i].node, node) && !strcmp(p->t[which][i].input, input))
			return 0;
	nt = realloc(p->t[which], (p->n[which] + 1) * sizeof(*nt));
	if (!nt)
		return -1;
	p->t[which] = nt;
	nt[p->n[which]].node = strdup(node);
	nt[p->n[which]].input = strdup(input);
	if (!nt[p->n[which]].node || !nt[p->n[which]].input) {
		free(nt[p->n[which]].node);
		free(nt[p->n[which]].input);
		return -1;
	}
	p->n[which]++;
	return 0;
}

static void clear_targets(struct comfyui_params *p, int which)
{
	size_t i;

	for (i = 0; i < p->n[which]; i++) {
		free(p->t[which][i].node);
		free(p->t[which][i].input);
	}
	free(p->t[which]);
	p->t[which] = NULL;
	p->n[which] = 0;
}

void comfyui_params_free(struct comfyui_params *p)
{
	int i;

	if (!p)
		return;
	for (i = 0; i < P_N; i++)
		clear_targets(p, i);
	free(p);
}

json_t *comfyui_params_json(const struct comfyui_params *p)
{
	json_t *o = json_object(), *a;
	size_t i;
	int k;

	for (k = 0; o && k < P_N; k++) {
		if (!p->n[k])
			continue;
		/* one target as a string, as the config's params map writes it */
		if (p->n[k] == 1) {
			json_object_set_new(
				o, param_names[k],
				json_sprintf("%s.inputs.%s", p->t[k][0].node, p->t[k][0].input));
			continue;
		}
		a = json_array();
		for (i = 0; a && i < p->n[k]; i++)
			json_array_append_new(
				a, json_sprintf("%s.inputs.%s", p->t[k][i].node, p->t[k][i].input));
		json_object_set_new(o, param_names[k], a);
	}
	return o;
}

/* A link is [node_id, output_index]; ids are strings, though some tools write numbers. */
static int is_link(const json_t *v)
{
	return json_is_array(v) && json_array_size(v) == 2 &&
	       (json_is_string(json_array_get(v, 0)) || json_is_integer(json_array_get(v, 0))) &&
	       json_is_integer(json_array_get(v, 1));
}

static const char *link_id(const json_t *v, char *tmp, size_t size)
{
	const json_t *id = json_array_get(v, 0);

	if (json_is_string(id))
		return json_string_value(id);
	snprintf(tmp, size, "%lld", (long long)json_integer_value(id));
	return tmp;
}

const char *comfyui_class_of(const json_t *node)
{
	const char *c = json_string_value(json_object_get(node, "class_type"));

	return c ? c : "";
}

static const json_t *input_of(const json_t *node, const char *name)
{
	return json_object_get(json_object_get(node, "inputs"), name);
}

/* A widget input: present and not a link. */
static int has_widget(const json_t *node, const char *name)
{
	const json_t *v = input_of(node, name);

	return v && !is_link(v);
}

/* Numeric ids in numeric order ("3" < "10"), then the others in byte order. */
static int id_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strspn(x, "0123456789"), ly = strspn(y, "0123456789");
	int nx = lx && !x[lx], ny = ly && !y[ly];

	if (nx != ny)
		return nx ? -1 : 1;
	if (nx && lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x, y);
}

/* The graph's node ids, sorted (malloc'd array of borrowed keys). */
static const char **sorted_ids(const json_t *graph, size_t *n)
{
	const char **ids, *key;
	json_t *v;
	size_t i = 0;

	*n = json_object_size(graph);
	ids = malloc((*n ? *n : 1) * sizeof(*ids));
	if (!ids)
		return NULL;
	json_object_foreach ((json_t *)graph, key, v)
		ids[i++] = key;
	qsort(ids, *n, sizeof(*ids), id_cmp);
	return ids;
}

/* Add the text inputs of the encoder `link` comes from (through FluxGuidance); *found is
 * that encoder's id (tmp-backed), NULL when there is none. */
static int text_targets(struct comfyui_params *p, int which, const json_t *graph,
			const json_t *link, const char *avoid, char *tmp, size_t tmpsz)
{
	const json_t *node;
	const char *id, *cls;
	int hops;

	for (hops = 0; hops < 16 && is_link(link); hops++) {
		id = link_id(link, tmp, tmpsz);
		node = json_object_get(graph, id);
		cls = comfyui_class_of(node);
		if (avoid && !strcmp(id, avoid))
			return 0;
		if (!strcmp(cls, "CLIPTextEncode")) {
			if (has_widget(node, "text") && add_target(p, which, id, "text") < 0)
				return -1;
			return 0;
		}
		if (!strcmp(cls, "CLIPTextEncodeFlux") || !strcmp(cls, "CLIPTextEncodeSDXL")) {
			const char *a = cls[14] == 'F' ? "clip_l" : "text_g";
			const char *b = cls[14] == 'F' ? "t5xxl" : "text_l";

			if (has_widget(node, a) && add_target(p, which, id, a) < 0)
				return -1;
			if (has_widget(node, b) && add_target(p, which, id, b) < 0)
				return -1;
			return 0;
		}
		if (strcmp(cls, "FluxGuidance") != 0)
			return 0; /* ConditioningZeroOut and the rest: no text of ours goes there */
		link = input_of(node, "conditioning");
	}
	return 0;
}

/* The id of the node a positive link ends at (for "the negative is the same node"). */
static const char *text_node(const json_t *graph, const json_t *link, char *tmp, size_t tmpsz)
{
	const json_t *node;
	const char *id;
	int hops;

	for (hops = 0; hops < 16 && is_link(link); hops++) {
		id = link_id(link, tmp, tmpsz);
		node = json_object_get(graph, id);
		if (strcmp(comfyui_class_of(node), "FluxGuidance") != 0)
			return id;
		link = input_of(node, "conditioning");
	}
	return NULL;
}

/* Fallbacks for graphs without a KSampler: a lone node of a known class. */
static const struct {
	int param;
	const char *cls, *input;
} lone_nodes[] = {
	{ P_PROMPT, "CLIPTextEncode", "text" },
	{ P_SEED, "RandomNoise", "noise_seed" },
	{ P_STEPS, "BasicScheduler", "steps" },
	{ P_SCHEDULER, "BasicScheduler", "scheduler" },
	{ P_CFG, "CFGGuider", "cfg" },
	{ P_SAMPLER, "KSamplerSelect", "sampler_name" },
	{ P_WIDTH, "EmptyLatentImage", "width" },
	{ P_HEIGHT, "EmptyLatentImage", "height" },
	{ P_BATCH, "EmptyLatentImage", "batch_size" },
	{ P_WIDTH, "EmptySD3LatentImage", "width" },
	{ P_HEIGHT, "EmptySD3LatentImage", "height" },
	{ P_BATCH, "EmptySD3LatentImage", "batch_size" },
	{ P_MODEL, "CheckpointLoaderSimple", "ckpt_name" },
	{ P_MODEL, "UNETLoader", "unet_name" },
	{ P_IMAGE, "LoadImage", "image" },
	{ P_MASK, "LoadImageMask", "image" },
};

static int detect_standard(struct comfyui_params *p, const json_t *graph)
{
	const char **ids, *sid = NULL, *pos_id;
	const json_t *s = NULL, *node, *link;
	char tmp[32], tmp2[32], posbuf[128];
	size_t n, i, k, found;
	int adv = 0, rc = -1, hops;

	ids = sorted_ids(graph, &n);
	if (!ids)
		return -1;
	for (i = 0; i < n && !sid; i++) {
		const char *cls = comfyui_class_of(json_object_get(graph, ids[i]));

		if (!strcmp(cls, "KSampler") || !strcmp(cls, "KSamplerAdvanced")) {
			sid = ids[i];
			s = json_object_get(graph, sid);
			adv = cls[8] == 'A';
		}
	}
	if (sid) {
		static const struct {
			int param;
			const char *input;
		} knobs[] = {
			{ P_STEPS, "steps" },          { P_CFG, "cfg" },
			{ P_SAMPLER, "sampler_name" }, { P_SCHEDULER, "scheduler" },
			{ P_STRENGTH, "denoise" },
		};

		if (has_widget(s, adv ? "noise_seed" : "seed") &&
		    add_target(p, P_SEED, sid, adv ? "noise_seed" : "seed") < 0)
			goto out;
		for (k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++)
			if (has_widget(s, knobs[k].input) &&
			    add_target(p, knobs[k].param, sid, knobs[k].input) < 0)
				goto out;
		if (text_targets(p, P_PROMPT, graph, input_of(s, "positive"), NULL, tmp,
				 sizeof(tmp)) < 0)
			goto out;
		pos_id = text_node(graph, input_of(s, "positive"), tmp, sizeof(tmp));
		snprintf(posbuf, sizeof(posbuf), "%s", pos_id ? pos_id : "");
		if (text_targets(p, P_NEGATIVE, graph, input_of(s, "negative"),
				 *posbuf ? posbuf : NULL, tmp, sizeof(tmp)) < 0)
			goto out;
		link = input_of(s, "latent_image");
		if (is_link(link)) {
			const char *lid = link_id(link, tmp, sizeof(tmp));

			node = json_object_get(graph, lid);
			if (has_widget(node, "width") && has_widget(node, "height")) {
				if (add_target(p, P_WIDTH, lid, "width") < 0 ||
				    add_target(p, P_HEIGHT, lid, "height") < 0 ||
				    (has_widget(node, "batch_size") &&
				     add_target(p, P_BATCH, lid, "batch_size") < 0))
					goto out;
			}
		}
		/* the model: back through LoRA loaders, ModelSampling* and the like */
		link = input_of(s, "model");
		for (hops = 0; hops < 32 && is_link(link); hops++) {
			const char *mid = link_id(link, tmp2, sizeof(tmp2));

			node = json_object_get(graph, mid);
			if (has_widget(node, "ckpt_name")) {
				if (add_target(p, P_MODEL, mid, "ckpt_name") < 0)
					goto out;
				break;
			}
			if (has_widget(node, "unet_name")) {
				if (add_target(p, P_MODEL, mid, "unet_name") < 0)
					goto out;
				break;
			}
			link = input_of(node, "model");
		}
	}
	for (k = 0; k < sizeof(lone_nodes) / sizeof(lone_nodes[0]); k++) {
		const char *only = NULL;

		if (p->n[lone_nodes[k].param])
			continue;
		/* with a KSampler, its positive input decides where the prompt goes */
		if (sid && lone_nodes[k].param == P_PROMPT)
			continue;
		found = 0;
		for (i = 0; i < n; i++) {
			node = json_object_get(graph, ids[i]);
			if (!strcmp(comfyui_class_of(node), lone_nodes[k].cls) &&
			    has_widget(node, lone_nodes[k].input)) {
				found++;
				only = ids[i];
			}
		}
		if (found == 1 && add_target(p, lone_nodes[k].param, only, lone_nodes[k].input) < 0)
			goto out;
	}
	rc = 0;
out:
	free(ids);
	return rc;
}

/* "6.inputs.text" or "6.text" into node and input (malloc'd). */
static int parse_target(const char *s, char **node, char **input)
{
	const char *p = strstr(s, ".inputs."), *in;
	size_t nl;

	if (p) {
		nl = (size_t)(p - s);
		in = p + 8;
	} else {
		p = strrchr(s, '.');
		if (!p)
			return -1;
		nl = (size_t)(p - s);
		in = p + 1;
	}
	if (!nl || !*in)
		return -1;
	*node = strndup(s, nl);
	*input = strdup(in);
	if (!*node || !*input) {
		free(*node);
		free(*input);
		return -1;
	}
	return 0;
}

static int check_target(const json_t *graph, const char *name, const char *key, const char *node,
			const char *input, struct err *err)
{
	const json_t *n = json_object_get(graph, node), *inputs, *v;
	struct buf known = BUF_INIT;
	const char *k;

	if (!n)
		return err_key(err, "params",
			       "backends.%s.params.%s: the workflow has no node \"%s\"", name, key,
			       node);
	inputs = json_object_get(n, "inputs");
	v = json_object_get(inputs, input);
	if (v && !is_link(v))
		return 0;
	if (v)
		return err_key(
			err, "params",
			"backends.%s.params.%s: input %s of node \"%s\" (%s) is a link, not a "
			"value",
			name, key, input, node, comfyui_class_of(n));
	json_object_foreach ((json_t *)inputs, k, v)
		if (!is_link(v))
			buf_addf(&known, "%s%s", known.len ? ", " : "", k);
	err_key(err, "params", "backends.%s.params.%s: node \"%s\" (%s) has no input '%s' (%s%s)",
		name, key, node, comfyui_class_of(n), input,
		known.len ? "inputs: " : "no value inputs", known.len ? (char *)known.data : "");
	buf_release(&known);
	return -1;
}

static int apply_overrides(struct comfyui_params *p, const json_t *graph, const json_t *ov,
			   const char *name, struct err *err)
{
	const char *key, *hint;
	json_t *val, *item;
	size_t i;
	int which;

	if (!json_is_object(ov))
		return err_key(err, "params",
			       "backends.%s.params: expected a mapping such as {prompt: "
			       "\"6.inputs.text\"}",
			       name);
	json_object_foreach ((json_t *)ov, key, val) {
		for (which = 0; which < P_N && strcmp(param_names[which], key); which++)
			;
		if (which == P_N) {
			hint = suggest_closest(key, param_names);
			return err_key(
				err, "params",
				"backends.%s.params: unknown parameter '%s'%s%s%s (known: "
				"prompt, negative, seed, steps, width, height, cfg, sampler, "
				"scheduler, model, batch_size, image, mask, strength)",
				name, key, hint ? " (did you mean '" : "", hint ? hint : "",
				hint ? "'?)" : "");
		}
		clear_targets(p, which);
		if (json_is_null(val) || (json_is_string(val) && !*json_string_value(val)))
			continue; /* "nowhere": the knob is not used with this graph */
		if (!json_is_string(val) && !json_is_array(val))
			goto bad;
		for (i = 0; i < (json_is_array(val) ? json_array_size(val) : 1); i++) {
			char *node = NULL, *input = NULL;
			int rc;

			item = json_is_array(val) ? json_array_get(val, i) : val;
			if (!json_is_string(item) ||
			    parse_target(json_string_value(item), &node, &input) < 0)
				goto bad;
			rc = check_target(graph, name, key, node, input, err);
			if (!rc && add_target(p, which, node, input) < 0)
				rc = err_code(err, 1, "out of memory");
			free(node);
			free(input);
			if (rc)
				return -1;
		}
	}
	return 0;
bad:
	return err_key(err, "params",
		       "backends.%s.params.%s: expected \"NODE.inputs.INPUT\" (e.g. "
		       "\"6.inputs.text\"), a list of those, or null",
		       name, key);
}

int comfyui_params_detect(struct comfyui_params **out, const json_t *graph, const json_t *overrides,
			  const char *name, struct err *err)
{
	struct comfyui_params *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p || detect_standard(p, graph) < 0) {
		comfyui_params_free(p);
		return err_code(err, 1, "out of memory");
	}
	if (overrides && apply_overrides(p, graph, overrides, name, err) < 0) {
		comfyui_params_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* ---- messages from the server ------------------------------------------------------------ */

void comfyui_describe_prompt_error(char *out, size_t size, const json_t *body)
{
	const json_t *e = json_object_get(body, "error"),
		     *ne = json_object_get(body, "node_errors");
	const char *msg, *details, **ids = NULL;
	struct buf b = BUF_INIT;
	size_t n = 0, i, j;

	if (json_is_string(e)) {
		text_clean_adds(&b, json_string_value(e), 200);
	} else {
		msg = json_string_value(json_object_get(e, "message"));
		details = json_string_value(json_object_get(e, "details"));
		text_clean_adds(&b, msg ? msg : "prompt refused", 200);
		/* details only help when no node error says more */
		if (details && *details && json_object_size(ne) == 0) {
			buf_adds(&b, ": ");
			text_clean_adds(&b, details, 300);
		}
	}
	if (json_is_object(ne))
		ids = sorted_ids(ne, &n);
	for (i = 0; ids && i < n; i++) {
		const json_t *node = json_object_get(ne, ids[i]);
		const json_t *errs = json_object_get(node, "errors");
		const char *cls = json_string_value(json_object_get(node, "class_type"));

		for (j = 0; j < json_array_size(errs) || (j == 0 && !json_array_size(errs)); j++) {
			const json_t *er = json_array_get(errs, j);
			const char *input = json_string_value(
				json_object_get(json_object_get(er, "extra_info"), "input_name"));

			buf_adds(&b, b.len ? (j || i ? "; " : ": ") : "");
			buf_adds(&b, "node ");
			text_clean_adds(&b, ids[i], 40);
			if (cls) {
				buf_adds(&b, " (");
				text_clean_adds(&b, cls, 60);
				buf_adds(&b, ")");
			}
			if (input) {
				buf_adds(&b, " input ");
				text_clean_adds(&b, input, 60);
			}
			msg = json_string_value(json_object_get(er, "message"));
			details = json_string_value(json_object_get(er, "details"));
			if (msg) {
				buf_adds(&b, ": ");
				text_clean_adds(&b, msg, 120);
			}
			if (details && *details) {
				buf_adds(&b, ": ");
				text_clean_adds(&b, details, 200);
			}
		}
	}
	free(ids);
	snprintf(out, size, "%s", b.len ? (char *)b.data : "prompt refused");
	buf_release(&b);
}

/* "execution failed in node 3 (KSampler): RuntimeError: CUDA out of memory" from the data
 * of an execution_error message. */
void comfyui_describe_execution_error(struct err *err, const json_t *d)
{
	const char *node = json_string_value(json_object_get(d, "node_id"));
	const char *type = json_string_value(json_object_get(d, "node_type"));
	const char *ex = json_string_value(json_object_get(d, "exception_type"));
	const char *msg = json_string_value(json_object_get(d, "exception_message"));
	struct buf b = BUF_INIT;

	buf_adds(&b, "execution failed");
	if (node) {
		buf_adds(&b, " in node ");
		text_clean_adds(&b, node, 40);
		if (type) {
			buf_adds(&b, " (");
			text_clean_adds(&b, type, 60);
			buf_adds(&b, ")");
		}
	}
	if (ex || msg)
		buf_adds(&b, ": ");
	if (ex) {
		text_clean_adds(&b, ex, 80);
		if (msg)
			buf_adds(&b, ": ");
	}
	if (msg) {
		/* the message often ends in a newline; no trailing blanks in ours */
		size_t start = b.len;

		text_clean_adds(&b, msg, 400);
		while (b.len > start && b.data[b.len - 1] == ' ')
			b.data[--b.len] = '\0';
	}
	err_code(err, 1, "%s", b.data ? (char *)b.data : "execution failed");
	buf_release(&b);
}

/* Whether the execution_cached message among a history entry's status messages lists
 * node: ComfyUI answered it from its cache of an earlier run with the same inputs. */
static int node_cached(const json_t *msgs, const char *node)
{
	const json_t *m, *nodes, *id;
	size_t i, k;

	json_array_foreach (msgs, i, m) {
		const char *kind = json_string_value(json_array_get(m, 0));

		if (!kind || strcmp(kind, "execution_cached"))
			continue;
		nodes = json_object_get(json_array_get(m, 1), "nodes");
		json_array_foreach (nodes, k, id)
			if (json_is_string(id) && !strcmp(json_string_value(id), node))
				return 1;
	}
	return 0;
}

int comfyui_history_images(const json_t *history, const char *prompt_id, json_t **images,
			   struct err *err)
{
	const json_t *entry, *status, *outputs, *msgs;
	const char *st, **ids;
	size_t n, i, j, pass;
	json_t *list;

	*images = NULL;
	if (!json_is_object(history))
		return err_code(err, 1, "unexpected answer from GET /history (not an object)");
	entry = json_object_get(history, prompt_id);
	if (!entry)
		return 0;
	if (!json_is_object(entry))
		return err_code(err, 1,
				"unexpected answer from GET /history (entry not an object)");
	status = json_object_get(entry, "status");
	st = json_string_value(json_object_get(status, "status_str"));
	msgs = json_object_get(status, "messages");
	if (st && !strcmp(st, "error")) {
		for (i = 0; i < json_array_size(msgs); i++) {
			const json_t *m = json_array_get(msgs, i);
			const char *kind = json_string_value(json_array_get(m, 0));

			if (kind && !strcmp(kind, "execution_error")) {
				comfyui_describe_execution_error(err, json_array_get(m, 1));
				return -1;
			}
			if (kind && !strcmp(kind, "execution_interrupted"))
				return err_code(err, 1, "execution was interrupted on the server");
		}
		return err_code(err, 1, "execution failed (the server gives no detail)");
	}
	outputs = json_object_get(entry, "outputs");
	if (!json_is_object(outputs))
		return err_code(err, 1, "unexpected answer from GET /history (no outputs)");
	list = json_array();
	ids = sorted_ids(outputs, &n);
	if (!list || !ids) {
		json_decref(list);
		free(ids);
		return err_code(err, 1, "out of memory");
	}
	/* saved images ("output") first: a graph may also preview ("temp") */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			const json_t *imgs =
				json_object_get(json_object_get(outputs, ids[i]), "images");

			for (j = 0; j < json_array_size(imgs); j++) {
				const json_t *im = json_array_get(imgs, j);
				const char *fn = json_string_value(json_object_get(im, "filename"));
				const char *sub =
					json_string_value(json_object_get(im, "subfolder"));
				const char *type = json_string_value(json_object_get(im, "type"));

				if (!fn || !*fn)
					continue;
				if (!type)
					type = "output";
				if ((pass == 0) != (strcmp(type, "output") == 0))
					continue;
				json_array_append_new(
					list, json_pack("{s:s, s:s, s:s, s:s, s:b}", "node", ids[i],
							"filename", fn, "subfolder", sub ? sub : "",
							"type", type, "cached",
							node_cached(msgs, ids[i])));
			}
		}
	}
	free(ids);
	*images = list;
	return 1;
}

/* ---- the workflow and writing into it ---------------------------------------------------- */

/* Load the workflow: built in, or an API-format JSON file. */
int comfyui_load_graph(json_t **out, const char *name, const char *workflow, struct err *err)
{
	unsigned char *text = NULL;
	const char *home = getenv("HOME"), *key;
	json_error_t jerr;
	char *path = NULL;
	json_t *g, *node;
	size_t len;

	*out = NULL;
	if (!strcmp(workflow, BUILTIN_TXT2IMG) || !strcmp(workflow, BUILTIN_FLUX)) {
		*out = json_loads(workflow[8] == 't' ? builtin_txt2img : builtin_flux_schnell, 0,
				  &jerr);
		return *out ? 0 : err_code(err, 1, "out of memory");
	}
	if (!strncmp(workflow, "builtin:", 8))
		return err_key(
			err, "workflow",
			"backends.%s.workflow: unknown built-in graph '%s' (known: " BUILTIN_TXT2IMG
			", " BUILTIN_FLUX ", or a file path)",
			name, workflow);
	if (workflow[0] == '~' && workflow[1] == '/' && home && *home) {
		if (asprintf(&path, "%s%s", home, workflow + 1) < 0)
			return err_code(err, 1, "out of memory");
	} else if (!(path = strdup(workflow))) {
		return err_code(err, 1, "out of memory");
	}
	if (file_read(&text, &len, path, CF_MAX_WORKFLOW, err) < 0) {
		free(path);
		err_prefix(err, "backends.%s.workflow", name);
		if (err)
			snprintf(err->key, sizeof(err->key), "workflow");
		return -1;
	}
	g = json_loadb((const char *)text, len, 0, &jerr);
	free(text);
	if (!g) {
		err_key(err, "workflow", "backends.%s.workflow: %s:%d:%d: not JSON: %s", name, path,
			jerr.line, jerr.column, jerr.text);
		free(path);
		return -1;
	}
	if (json_is_object(g) && json_is_array(json_object_get(g, "nodes")) &&
	    json_object_get(g, "links")) {
		err_key(err, "workflow",
			"backends.%s.workflow: %s is a UI-format workflow; save it in ComfyUI with "
			"\"Export (API)\" (Save API Format) and point imagen at that file",
			name, path);
		goto bad;
	}
	if (!json_is_object(g) || !json_object_size(g)) {
		err_key(err, "workflow",
			"backends.%s.workflow: %s: expected an API-format graph (an object of "
			"nodes "
			"keyed by id)",
			name, path);
		goto bad;
	}
	json_object_foreach (g, key, node) {
		if (!json_is_object(node) || !json_is_string(json_object_get(node, "class_type")) ||
		    !json_is_object(json_object_get(node, "inputs"))) {
			err_key(err, "workflow",
				"backends.%s.workflow: %s: node \"%s\" is not {\"class_type\": "
				"..., "
				"\"inputs\": {...}}",
				name, path, key);
			goto bad;
		}
	}
	free(path);
	*out = g;
	return 0;
bad:
	free(path);
	json_decref(g);
	return -1;
}

/* Write value into every target of param. */
int comfyui_set_param(json_t *graph, const struct comfyui_params *p, int which, json_t *value)
{
	size_t i;
	int rc = 0;

	if (!value)
		return -1;
	for (i = 0; i < p->n[which]; i++) {
		json_t *inputs =
			json_object_get(json_object_get(graph, p->t[which][i].node), "inputs");

		if (json_object_set(inputs, p->t[which][i].input, value) < 0)
			rc = -1;
	}
	json_decref(value);
	return rc;
}

/* The value now at param's first target (borrowed), NULL when it has none. */
const json_t *comfyui_get_param(const json_t *graph, const struct comfyui_params *p, int which)
{
	if (!p->n[which])
		return NULL;
	return input_of(json_object_get(graph, p->t[which][0].node), p->t[which][0].input);
}

/* ---- image inputs ------------------------------------------------------------------------ */

size_t comfyui_nodes_of_class(const json_t *graph, const char *cls, char *out, size_t size)
{
	const char **ids;
	size_t n, i, found = 0, len = 0;

	if (size)
		out[0] = '\0';
	ids = sorted_ids(graph, &n);
	for (i = 0; ids && i < n; i++) {
		if (strcmp(comfyui_class_of(json_object_get(graph, ids[i])), cls) != 0)
			continue;
		if (len < size) {
			int w = snprintf(out + len, size - len, "%s%s", found ? ", " : "", ids[i]);

			len += w > 0 ? (size_t)w : 0;
		}
		found++;
	}
	free(ids);
	return found;
}

/* New node ids of the input graphs, beside the default workflow's 3..9. */
#define IN_LOAD "10"
#define IN_SCALE "11"
#define IN_MASK "12"
#define IN_NOISE_MASK "13"

int comfyui_builtin_inputs(json_t *graph, const char *image, const char *mask, double strength)
{
	json_t *sampler = json_object_get(json_object_get(graph, "3"), "inputs");
	json_t *latent = json_object_get(json_object_get(graph, "5"), "inputs");
	const json_t *w = json_object_get(latent, "width"), *h = json_object_get(latent, "height");
	json_t *enc;
	int bad = 0, fill = mask && strength >= 1.0;

	if (!sampler || !json_is_integer(w) || !json_is_integer(h))
		return -1;
	/* the input scaled to the size asked for (the input's own, rounded, by default) */
	bad |= json_object_set_new(
		graph, IN_LOAD,
		json_pack("{s:s, s:{s:s}}", "class_type", "LoadImage", "inputs", "image", image));
	bad |= json_object_set_new(graph, IN_SCALE,
				   json_pack("{s:s, s:{s:[s,i], s:s, s:O, s:O, s:s}}", "class_type",
					     "ImageScale", "inputs", "image", IN_LOAD, 0,
					     "upscale_method", "lanczos", "width", w, "height", h,
					     "crop", "disabled"));
	if (fill)
		enc = json_pack("{s:s, s:{s:[s,i], s:[s,i], s:[s,i], s:i}}", "class_type",
				"VAEEncodeForInpaint", "inputs", "pixels", IN_SCALE, 0, "vae", "4",
				2, "mask", IN_MASK, 0, "grow_mask_by", 6);
	else
		enc = json_pack("{s:s, s:{s:[s,i], s:[s,i]}}", "class_type", "VAEEncode", "inputs",
				"pixels", IN_SCALE, 0, "vae", "4", 2);
	/* node 5 (the empty latent) becomes the encoder: the sampler's link stays */
	bad |= json_object_set_new(graph, "5", enc);
	if (mask) {
		bad |= json_object_set_new(graph, IN_MASK,
					   json_pack("{s:s, s:{s:s, s:s}}", "class_type",
						     "LoadImageMask", "inputs", "image", mask,
						     "channel", "red"));
		if (!fill) {
			bad |= json_object_set_new(graph, IN_NOISE_MASK,
						   json_pack("{s:s, s:{s:[s,i], s:[s,i]}}",
							     "class_type", "SetLatentNoiseMask",
							     "inputs", "samples", "5", 0, "mask",
							     IN_MASK, 0));
			bad |= json_object_set_new(sampler, "latent_image",
						   json_pack("[s,i]", IN_NOISE_MASK, 0));
		}
	}
	bad |= json_object_set_new(sampler, "denoise", json_real(fill ? 1.0 : strength));
	return bad ? -1 : 0;
}
