/* comfyui.c - the `comfyui` adapter: an API-format graph (built in, or the user's) with the
 * request's knobs written into it, queued with POST /prompt, followed on the /ws socket
 * (or by polling /history when the socket is not there), images fetched with /view.
 * Wire facts: ../shared/protocols/comfyui.md. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "core/backend.h"
#include "backends/comfyui.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "util/file.h"
#include "net/http.h"
#include "core/pngmeta.h"
#include "core/events.h"
#include "util/suggest.h"
#include "net/ws.h"

#define CF_DEFAULT_TIMEOUT_S 600
#define CF_MAX_TIMEOUT_S 86400
#define CF_MAX_WORKFLOW ((size_t)4 << 20)
#define CF_MAX_SIDE 16384 /* MAX_RESOLUTION in ComfyUI's nodes.py */
#define CF_MIN_SIDE 16
#define CF_MAX_STEPS 10000
#define CF_POLL_S 0.5
#define CF_WS_SLICE_MS 250
#define CF_SUCCESS_GRACE_S 2.0
#define CF_CANCEL_TIMEOUT_MS 5000L
#define CF_PROMPT_TIMEOUT_MS 60000L
#define CF_HISTORY_TIMEOUT_MS 30000L
#define CF_MAX_HISTORY ((size_t)32 << 20)
#define CF_DEFAULT_FLUX_MODEL "flux1-schnell-fp8.safetensors"

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

#define BUILTIN_TXT2IMG "builtin:txt2img"
#define BUILTIN_FLUX "builtin:flux-schnell"

/* ---- parameters: where each knob goes ---------------------------------------------------- */

enum cf_param {
	P_PROMPT,
	P_NEGATIVE,
	P_SEED,
	P_STEPS,
	P_WIDTH,
	P_HEIGHT,
	P_CFG,
	P_SAMPLER,
	P_SCHEDULER,
	P_MODEL,
	P_BATCH,
	P_N
};

static const char *const param_names[P_N + 1] = {
	"prompt", "negative", "seed",      "steps", "width",      "height",
	"cfg",    "sampler",  "scheduler", "model", "batch_size", NULL,
};

struct cf_target {
	char *node;
	char *input;
};

struct comfyui_params {
	struct cf_target *t[P_N];
	size_t n[P_N];
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

static const char *class_of(const json_t *node)
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
		cls = class_of(node);
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
		if (strcmp(class_of(node), "FluxGuidance") != 0)
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
		const char *cls = class_of(json_object_get(graph, ids[i]));

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
			{ P_STEPS, "steps" },
			{ P_CFG, "cfg" },
			{ P_SAMPLER, "sampler_name" },
			{ P_SCHEDULER, "scheduler" },
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
			if (!strcmp(class_of(node), lone_nodes[k].cls) &&
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
			name, key, input, node, class_of(n));
	json_object_foreach ((json_t *)inputs, k, v)
		if (!is_link(v))
			buf_addf(&known, "%s%s", known.len ? ", " : "", k);
	err_key(err, "params", "backends.%s.params.%s: node \"%s\" (%s) has no input '%s' (%s%s)",
		name, key, node, class_of(n), input, known.len ? "inputs: " : "no value inputs",
		known.len ? (char *)known.data : "");
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
				"scheduler, model, batch_size)",
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

/* Append s (at most max bytes of it) without control characters. */
static void add_clean(struct buf *b, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s && s[i] && i < max; i++)
		buf_addf(b, "%c", (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i]);
	if (s && strlen(s) > max)
		buf_adds(b, "...");
}

void comfyui_describe_prompt_error(char *out, size_t size, const json_t *body)
{
	const json_t *e = json_object_get(body, "error"),
		     *ne = json_object_get(body, "node_errors");
	const char *msg, *details, **ids = NULL;
	struct buf b = BUF_INIT;
	size_t n = 0, i, j;

	if (json_is_string(e)) {
		add_clean(&b, json_string_value(e), 200);
	} else {
		msg = json_string_value(json_object_get(e, "message"));
		details = json_string_value(json_object_get(e, "details"));
		add_clean(&b, msg ? msg : "prompt refused", 200);
		/* details only help when no node error says more */
		if (details && *details && json_object_size(ne) == 0) {
			buf_adds(&b, ": ");
			add_clean(&b, details, 300);
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
			add_clean(&b, ids[i], 40);
			if (cls) {
				buf_adds(&b, " (");
				add_clean(&b, cls, 60);
				buf_adds(&b, ")");
			}
			if (input) {
				buf_adds(&b, " input ");
				add_clean(&b, input, 60);
			}
			msg = json_string_value(json_object_get(er, "message"));
			details = json_string_value(json_object_get(er, "details"));
			if (msg) {
				buf_adds(&b, ": ");
				add_clean(&b, msg, 120);
			}
			if (details && *details) {
				buf_adds(&b, ": ");
				add_clean(&b, details, 200);
			}
		}
	}
	free(ids);
	snprintf(out, size, "%s", b.len ? (char *)b.data : "prompt refused");
	buf_release(&b);
}

/* "execution failed in node 3 (KSampler): RuntimeError: CUDA out of memory" from the data
 * of an execution_error message. */
static void describe_execution_error(struct err *err, const json_t *d)
{
	const char *node = json_string_value(json_object_get(d, "node_id"));
	const char *type = json_string_value(json_object_get(d, "node_type"));
	const char *ex = json_string_value(json_object_get(d, "exception_type"));
	const char *msg = json_string_value(json_object_get(d, "exception_message"));
	struct buf b = BUF_INIT;

	buf_adds(&b, "execution failed");
	if (node) {
		buf_adds(&b, " in node ");
		add_clean(&b, node, 40);
		if (type) {
			buf_adds(&b, " (");
			add_clean(&b, type, 60);
			buf_adds(&b, ")");
		}
	}
	if (ex || msg)
		buf_adds(&b, ": ");
	if (ex) {
		add_clean(&b, ex, 80);
		if (msg)
			buf_adds(&b, ": ");
	}
	if (msg) {
		/* the message often ends in a newline; no trailing blanks in ours */
		size_t start = b.len;

		add_clean(&b, msg, 400);
		while (b.len > start && b.data[b.len - 1] == ' ')
			b.data[--b.len] = '\0';
	}
	err_code(err, 1, "%s", b.data ? (char *)b.data : "execution failed");
	buf_release(&b);
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
				describe_execution_error(err, json_array_get(m, 1));
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
				json_array_append_new(list,
						      json_pack("{s:s, s:s, s:s, s:s}", "node",
								ids[i], "filename", fn, "subfolder",
								sub ? sub : "", "type", type));
			}
		}
	}
	free(ids);
	*images = list;
	return 1;
}

/* ---- config ------------------------------------------------------------------------------ */

struct comfy {
	struct backend base; /* first: the framework holds a struct backend * */
	char *base_url;      /* no trailing slash */
	char *workflow;      /* "builtin:txt2img", "builtin:flux-schnell" or the path */
	json_t *graph;       /* the template */
	struct comfyui_params *params;
	char *model, *sampler, *scheduler; /* NULL: the graph's own */
	double cfg;
	int has_cfg;
	int default_steps; /* 0: the graph's own */
	long timeout_s;
};

extern const struct backend_ops comfyui_backend_ops;

static const char *const cfg_keys[] = {
	"type", "base_url", "workflow", "model", "default_steps", "sampler", "scheduler",
	"cfg",  "params",   "timeout",  NULL,
};

static const char *const opt_keys[] = { "cfg", "sampler", "scheduler", "model", NULL };

static int get_number(const json_t *v, double *out)
{
	char *end;

	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		errno = 0;
		*out = strtod(json_string_value(v), &end);
		if (!errno && end != json_string_value(v) && !*end)
			return 0;
	}
	return -1;
}

static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay && *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return 1;
	return 0;
}

/* Load the workflow: built in, or an API-format JSON file. */
static int load_graph(json_t **out, const char *name, const char *workflow, struct err *err)
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

static void comfy_free(struct comfy *c)
{
	if (!c)
		return;
	free(c->base_url);
	free(c->workflow);
	json_decref(c->graph);
	comfyui_params_free(c->params);
	free(c->model);
	free(c->sampler);
	free(c->scheduler);
	free(c->base.name);
	free(c);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Everything open() needs, from the slice; validate() runs the same and throws it away. */
static int comfy_load(struct comfy **out, const char *name, const json_t *cfg, struct err *err)
{
	const char *base = NULL, *workflow = NULL, *model = NULL, *sampler = NULL,
		   *scheduler = NULL;
	long long steps = 0, timeout = CF_DEFAULT_TIMEOUT_S;
	const json_t *v;
	struct comfy *c;
	size_t bl;

	*out = NULL;
	if (!json_is_object(cfg))
		return err_code(err, 2, "backends.%s: expected a mapping", name);
	if (cfg_check_keys(name, cfg, cfg_keys, err) ||
	    cfg_get_string(cfg, name, "base_url", &base, err) ||
	    cfg_get_string(cfg, name, "workflow", &workflow, err) ||
	    cfg_get_string(cfg, name, "model", &model, err) ||
	    cfg_get_string(cfg, name, "sampler", &sampler, err) ||
	    cfg_get_string(cfg, name, "scheduler", &scheduler, err) ||
	    cfg_get_int(cfg, name, "default_steps", 1, CF_MAX_STEPS, &steps, err) ||
	    cfg_get_int(cfg, name, "timeout", 1, CF_MAX_TIMEOUT_S, &timeout, err))
		goto bad;
	if (!base || !*base) {
		err_key(err, base ? "base_url" : "",
			"backends.%s.base_url is required (e.g. "
			"http://127.0.0.1:8188)",
			name);
		goto bad;
	}
	if (strncasecmp(base, "http://", 7) && strncasecmp(base, "https://", 8)) {
		err_key(err, "base_url",
			"backends.%s.base_url: expected an http:// or https:// URL, got '%s'", name,
			base);
		goto bad;
	}
	if (model && !*model)
		model = NULL;
	if (sampler && !*sampler)
		sampler = NULL;
	if (scheduler && !*scheduler)
		scheduler = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_code(err, 1, "out of memory");
	c->base.ops = &comfyui_backend_ops;
	v = json_object_get(cfg, "cfg");
	if (v) {
		if (get_number(v, &c->cfg) < 0 || c->cfg < 0 || c->cfg > 100) {
			err_key(err, "cfg", "backends.%s.cfg: expected a number, 0..100", name);
			goto bad_c;
		}
		c->has_cfg = 1;
	}
	if (!workflow || !*workflow)
		workflow = contains_ci(model, "flux") ? BUILTIN_FLUX : BUILTIN_TXT2IMG;
	if (!strcmp(workflow, BUILTIN_FLUX) && !model)
		model = CF_DEFAULT_FLUX_MODEL;
	if (!strcmp(workflow, BUILTIN_TXT2IMG) && !model) {
		err_key(err, "",
			"backends.%s.model is required with the built-in txt2img graph (a "
			"checkpoint in ComfyUI's models/checkpoints, e.g. "
			"v1-5-pruned-emaonly.safetensors)",
			name);
		goto bad_c;
	}
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	c->base_url = strndup(base, bl);
	c->workflow = strdup(workflow);
	c->model = dup_or_null(model);
	c->sampler = dup_or_null(sampler);
	c->scheduler = dup_or_null(scheduler);
	c->default_steps = (int)steps;
	c->timeout_s = (long)timeout;
	if (!c->base_url || !c->workflow || (model && !c->model) || (sampler && !c->sampler) ||
	    (scheduler && !c->scheduler)) {
		err_code(err, 1, "out of memory");
		goto bad_c;
	}
	if (load_graph(&c->graph, name, workflow, err) < 0 ||
	    comfyui_params_detect(&c->params, c->graph, json_object_get(cfg, "params"), name, err) <
		    0)
		goto bad_c;
	if (!c->params->n[P_PROMPT]) {
		err_key(err, "params",
			"backends.%s: cannot tell where the prompt goes in %s; set "
			"backends.%s.params.prompt (e.g. \"6.inputs.text\")",
			name, workflow, name);
		goto bad_c;
	}
	if (c->model && !c->params->n[P_MODEL]) {
		err_key(err, "model",
			"backends.%s.model: %s has no checkpoint or UNET loader to put it in (set "
			"backends.%s.params.model)",
			name, workflow, name);
		goto bad_c;
	}
	if (c->sampler && !c->params->n[P_SAMPLER]) {
		err_key(err, "sampler",
			"backends.%s.sampler: %s has no sampler input (set "
			"backends.%s.params.sampler)",
			name, workflow, name);
		goto bad_c;
	}
	if (c->scheduler && !c->params->n[P_SCHEDULER]) {
		err_key(err, "scheduler",
			"backends.%s.scheduler: %s has no scheduler input (set "
			"backends.%s.params.scheduler)",
			name, workflow, name);
		goto bad_c;
	}
	if (c->has_cfg && !c->params->n[P_CFG]) {
		err_key(err, "cfg",
			"backends.%s.cfg: %s has no cfg input (set "
			"backends.%s.params.cfg)",
			name, workflow, name);
		goto bad_c;
	}
	*out = c;
	return 0;
bad_c:
	comfy_free(c);
bad:
	if (err && err->code != 1)
		err->code = 2;
	return -1;
}

static int comfyui_validate(const char *name, const json_t *cfg, struct err *err)
{
	struct comfy *c;

	if (comfy_load(&c, name, cfg, err) < 0)
		return -1;
	comfy_free(c);
	return 0;
}

static int comfyui_open(struct backend **out, const char *name, const json_t *cfg, struct err *err)
{
	struct comfy *c;

	*out = NULL;
	if (comfy_load(&c, name ? name : "comfyui", cfg, err) < 0)
		return -1;
	c->base.name = strdup(name ? name : "comfyui");
	if (!c->base.name) {
		comfy_free(c);
		return err_code(err, 1, "out of memory");
	}
	*out = &c->base;
	return 0;
}

static void comfyui_close(struct backend *b)
{
	comfy_free((struct comfy *)b);
}

/* ---- one generation ---------------------------------------------------------------------- */

/* What a single generate() call knows. */
struct run {
	struct comfy *c;
	const struct imagen_request *req;
	json_t *graph; /* the template with the request written in */
	char client_id[37], prompt_id[37];
	long long number;   /* queue number from POST /prompt, -1 when unknown */
	struct ws *ws;      /* NULL: polling /history */
	char ws_error[256]; /* why the socket is not used, "" when it is */
	int started, done;  /* execution_start / finished seen on the socket */
	int queued;         /* POST /prompt may have queued it: cancel on the way out */
	double success_at;  /* when execution_success came, 0 before */
	double t0;
};

static int uuid4(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

static void verbose(const struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void verbose(const struct run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ev_logv(r->req->events, EV_VERBOSE, r->c->base.name, fmt, ap);
	va_end(ap);
}

/* Write value into every target of param. */
static int set_param(json_t *graph, const struct comfyui_params *p, int which, json_t *value)
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
static const json_t *get_param(const json_t *graph, const struct comfyui_params *p, int which)
{
	if (!p->n[which])
		return NULL;
	return input_of(json_object_get(graph, p->t[which][0].node), p->t[which][0].input);
}

/* The --set options this adapter knows, over the config's values. */
struct run_opts {
	const char *model, *sampler, *scheduler;
	double cfg;
	int has_cfg;
};

static int read_opts(const struct comfy *c, const json_t *opts, struct run_opts *o, struct err *err)
{
	const char *key, *hint;
	const json_t *v;
	void *it;

	o->model = c->model;
	o->sampler = c->sampler;
	o->scheduler = c->scheduler;
	o->cfg = c->cfg;
	o->has_cfg = c->has_cfg;
	for (it = json_object_iter((json_t *)opts); it;
	     it = json_object_iter_next((json_t *)opts, it)) {
		key = json_object_iter_key(it);
		v = json_object_iter_value(it);
		if (!strcmp(key, "cfg")) {
			if (get_number(v, &o->cfg) < 0 || o->cfg < 0 || o->cfg > 100)
				return err_code(err, 2, "option cfg: expected a number, 0..100");
			o->has_cfg = 1;
			continue;
		}
		if (!strcmp(key, "model") || !strcmp(key, "sampler") || !strcmp(key, "scheduler")) {
			if (!json_is_string(v) || !*json_string_value(v))
				return err_code(err, 2, "option %s: expected a name", key);
			*(key[0] == 'm'   ? &o->model
			  : key[1] == 'a' ? &o->sampler
					  : &o->scheduler) = json_string_value(v);
			continue;
		}
		hint = suggest_closest(key, opt_keys);
		return err_code(err, 2,
				"unknown option '%s' for the comfyui backend (known: cfg, sampler, "
				"scheduler, model%s%s%s)",
				key, hint ? "; did you mean '" : "", hint ? hint : "",
				hint ? "'?" : "");
	}
	if ((o->model && !c->params->n[P_MODEL]) || (o->sampler && !c->params->n[P_SAMPLER]) ||
	    (o->scheduler && !c->params->n[P_SCHEDULER]) || (o->has_cfg && !c->params->n[P_CFG]))
		return err_code(err, 2, "option %s: the workflow %s has no input for it",
				o->model && !c->params->n[P_MODEL]           ? "model"
				: o->sampler && !c->params->n[P_SAMPLER]     ? "sampler"
				: o->scheduler && !c->params->n[P_SCHEDULER] ? "scheduler"
									     : "cfg",
				c->workflow);
	return 0;
}

static int check_side(const char *what, int v, struct err *err)
{
	if (v && (v < CF_MIN_SIDE || v > CF_MAX_SIDE))
		return err_code(err, 2, "%s %d is out of range for ComfyUI (%d..%d)", what, v,
				CF_MIN_SIDE, CF_MAX_SIDE);
	return 0;
}

/* The graph to queue: the template with the request's values in place. */
static int build_graph(struct run *r, const struct run_opts *o, struct err *err)
{
	const struct comfyui_params *p = r->c->params;
	const struct imagen_request *req = r->req;
	int steps = req->steps ? req->steps : r->c->default_steps;
	json_t *g;
	int bad = 0;

	if (check_side("width", req->width, err) || check_side("height", req->height, err))
		return -1;
	if (steps < 0 || steps > CF_MAX_STEPS)
		return err_code(err, 2, "steps %d is out of range for ComfyUI (1..%d)", steps,
				CF_MAX_STEPS);
	g = json_deep_copy(r->c->graph);
	if (!g)
		return err_code(err, 1, "out of memory");
	bad |= set_param(g, p, P_PROMPT, json_string(req->prompt ? req->prompt : ""));
	if (p->n[P_NEGATIVE])
		bad |= set_param(g, p, P_NEGATIVE,
				 json_string(req->negative_prompt ? req->negative_prompt : ""));
	if (p->n[P_SEED])
		bad |= set_param(g, p, P_SEED, json_integer((json_int_t)req->seed));
	if (p->n[P_STEPS] && steps)
		bad |= set_param(g, p, P_STEPS, json_integer(steps));
	if (p->n[P_WIDTH] && req->width)
		bad |= set_param(g, p, P_WIDTH, json_integer(req->width));
	if (p->n[P_HEIGHT] && req->height)
		bad |= set_param(g, p, P_HEIGHT, json_integer(req->height));
	if (p->n[P_BATCH])
		bad |= set_param(g, p, P_BATCH, json_integer(1));
	if (o->has_cfg)
		bad |= set_param(g, p, P_CFG, json_real(o->cfg));
	if (o->sampler)
		bad |= set_param(g, p, P_SAMPLER, json_string(o->sampler));
	if (o->scheduler)
		bad |= set_param(g, p, P_SCHEDULER, json_string(o->scheduler));
	if (o->model)
		bad |= set_param(g, p, P_MODEL, json_string(o->model));
	if (bad) {
		json_decref(g);
		/* json_string refuses text that is not UTF-8 */
		return err_code(err, 2, "the prompt is not valid UTF-8 (or memory is short)");
	}
	r->graph = g;
	return 0;
}

static char *url_of(const struct comfy *c, const char *path)
{
	char *u;

	if (asprintf(&u, "%s%s", c->base_url, path) < 0)
		return NULL;
	return u;
}

/* One request to the server.  retry: the http retry policy; cancel: the no_cancel request
 * sent after Ctrl-C (one attempt, short). */
static int request(const struct run *r, const char *method, const char *path, const char *body,
		   long timeout_ms, size_t max_body, int retry, int cancel,
		   struct http_response *resp, struct err *err)
{
	static const char *const json_hdr[] = { "Content-Type: application/json", NULL };
	struct http_request hr;
	char *url = url_of(r->c, path);
	int rc;

	if (!url)
		return err_code(err, 1, "out of memory");
	memset(&hr, 0, sizeof(hr));
	hr.method = method;
	hr.url = url;
	hr.headers = body ? json_hdr : NULL;
	hr.body = body;
	hr.body_len = body ? strlen(body) : 0;
	hr.timeout_ms = timeout_ms;
	hr.max_body = max_body;
	hr.no_cancel = cancel;
	hr.label = r->c->base.name;
	hr.events = r->req->events;
	if (cancel)
		hr.connect_timeout_ms = timeout_ms;
	rc = retry ? http_request_retry(&hr, NULL, resp, err) : http_request(&hr, resp, err);
	free(url);
	return rc;
}

/* "HTTP 503: ... (after 4 attempts)" for a failed answer to METHOD PATH. */
static int fail_status(const char *method, const char *path, const struct http_response *resp,
		       struct err *err)
{
	char desc[512];

	http_describe_status(desc, sizeof(desc), resp);
	if (resp->attempts > 1)
		return err_code(err, 1, "%s %s: %s (after %d attempts)", method, path, desc,
				resp->attempts);
	return err_code(err, 1, "%s %s: %s", method, path, desc);
}

/* A transport failure (or Ctrl-C) from request(): name the request, keep the code. */
static int fail_transport(const char *method, const char *path, struct err *err)
{
	if (err && err->code == HTTP_EXIT_CANCELED)
		return -1;
	err_prefix(err, "%s %s", method, path);
	if (err)
		err->code = 1;
	return -1;
}

/* Where our prompt is in GET /queue: 2 running, 1 pending, 0 in neither, -1 unknown. */
static int queue_place(const struct run *r)
{
	struct http_response resp;
	struct err e = ERR_INIT;
	const char *lists[2] = { "queue_running", "queue_pending" };
	json_t *q;
	size_t i, k;
	int place = -1;

	memset(&resp, 0, sizeof(resp));
	if (request(r, "GET", "/queue", NULL, CF_CANCEL_TIMEOUT_MS, 0, 0, 1, &resp, &e) < 0 ||
	    resp.status != 200) {
		http_response_release(&resp);
		return -1;
	}
	q = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	http_response_release(&resp);
	if (!json_is_object(q)) {
		json_decref(q);
		return -1;
	}
	place = 0;
	for (k = 0; k < 2 && !place; k++) {
		const json_t *l = json_object_get(q, lists[k]);

		for (i = 0; i < json_array_size(l); i++) {
			const char *id = json_string_value(json_array_get(json_array_get(l, i), 1));

			if (id && !strcmp(id, r->prompt_id)) {
				place = k == 0 ? 2 : 1;
				break;
			}
		}
	}
	json_decref(q);
	return place;
}

/*
 * Ask the server to drop our prompt: delete it from the queue while it waits, interrupt
 * it only when it is the one running - POST /interrupt without a prompt_id (older
 * servers ignore the id) would stop whatever runs, someone else's work included.
 */
static void cancel_upstream(const struct run *r)
{
	struct http_response resp;
	struct err e = ERR_INIT;
	char body[128];
	int place, i;

	memset(&resp, 0, sizeof(resp));
	place = queue_place(r);
	verbose(r, "stopping prompt %s (%s)", r->prompt_id,
		place == 2   ? "running: interrupt"
		: place == 1 ? "queued: delete"
		: place == 0 ? "no longer queued"
			     : "queue unknown: delete");
	for (i = 0; i < 2 && place != 0 && place != 2; i++) {
		snprintf(body, sizeof(body), "{\"delete\": [\"%s\"]}", r->prompt_id);
		request(r, "POST", "/queue", body, CF_CANCEL_TIMEOUT_MS, 0, 0, 1, &resp, &e);
		http_response_release(&resp);
		if (place < 0)
			return; /* we cannot tell whether it runs: never interrupt blindly */
		/* it may have started between the two requests */
		place = queue_place(r);
	}
	if (place == 2) {
		snprintf(body, sizeof(body), "{\"prompt_id\": \"%s\"}", r->prompt_id);
		request(r, "POST", "/interrupt", body, CF_CANCEL_TIMEOUT_MS, 0, 0, 1, &resp, &e);
		http_response_release(&resp);
	}
}

/* Open the socket before queueing, so no message about our prompt can be missed. */
static void open_socket(struct run *r)
{
	struct ws_options o;
	struct err e = ERR_INIT;
	char *path = NULL, *url;

	memset(&o, 0, sizeof(o));
	o.events = r->req->events;
	o.label = r->c->base.name;
	if (asprintf(&path, "/ws?clientId=%s", r->client_id) < 0 || !(url = url_of(r->c, path))) {
		free(path);
		snprintf(r->ws_error, sizeof(r->ws_error), "out of memory");
		return;
	}
	if (ws_connect(&r->ws, url, &o, &e) < 0) {
		r->ws = NULL;
		snprintf(r->ws_error, sizeof(r->ws_error), "%.200s", e.msg);
	}
	free(url);
	free(path);
}

static void drop_socket(struct run *r, const char *why)
{
	snprintf(r->ws_error, sizeof(r->ws_error), "%.200s", why);
	verbose(r, "%s; polling /history instead", why);
	ws_close(r->ws);
	r->ws = NULL;
}

/* POST /prompt.  Returns 0, or -1 (a 400 names the nodes and inputs at fault). */
static int queue_prompt(struct run *r, struct err *err)
{
	struct http_response resp;
	const json_t *pid, *num;
	json_t *body, *ans;
	char *text;
	int rc;

	body = json_pack("{s:O, s:s, s:s}", "prompt", r->graph, "client_id", r->client_id,
			 "prompt_id", r->prompt_id);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return err_code(err, 1, "out of memory");
	memset(&resp, 0, sizeof(resp));
	r->queued = 1;
	rc = request(r, "POST", "/prompt", text, CF_PROMPT_TIMEOUT_MS, 0, 1, 0, &resp, err);
	free(text);
	if (rc < 0) {
		http_response_release(&resp);
		return fail_transport("POST", "/prompt", err);
	}
	ans = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	if (resp.status == 400 && json_is_object(ans)) {
		char desc[900];

		r->queued = 0;
		comfyui_describe_prompt_error(desc, sizeof(desc), ans);
		json_decref(ans);
		http_response_release(&resp);
		return err_code(err, 1, "POST /prompt: HTTP 400: %s", desc);
	}
	if (resp.status < 200 || resp.status > 299) {
		/* only a 5xx after all retries leaves a doubt whether it was queued */
		r->queued = resp.status >= 500;
		json_decref(ans);
		rc = fail_status("POST", "/prompt", &resp, err);
		http_response_release(&resp);
		return rc;
	}
	http_response_release(&resp);
	if (!json_is_object(ans)) {
		json_decref(ans);
		return err_code(err, 1, "upstream returned malformed JSON (POST /prompt)");
	}
	pid = json_object_get(ans, "prompt_id");
	num = json_object_get(ans, "number");
	/* an older server ignores our prompt_id and makes its own */
	if (json_is_string(pid) && strlen(json_string_value(pid)) < sizeof(r->prompt_id))
		snprintf(r->prompt_id, sizeof(r->prompt_id), "%s", json_string_value(pid));
	else if (pid) {
		json_decref(ans);
		return err_code(err, 1, "unexpected answer from POST /prompt (prompt_id)");
	}
	r->number = json_is_number(num) ? (long long)json_number_value(num) : -1;
	json_decref(ans);
	verbose(r, "queued prompt %s (number %lld, %s)", r->prompt_id, r->number,
		r->ws ? "following the websocket" : "polling /history");
	return 0;
}

/* One text message from the socket.  Returns 1 when our prompt finished, 0 to go on, -1
 * on its failure (err), -2 when the message is not what ComfyUI sends (stop trusting the
 * socket). */
static int on_message(struct run *r, const unsigned char *data, size_t len, struct err *err)
{
	json_t *m = json_loadb((const char *)data, len, 0, NULL);
	const json_t *d = json_object_get(m, "data");
	const char *type = json_string_value(json_object_get(m, "type"));
	const char *pid = json_string_value(json_object_get(d, "prompt_id"));
	int rc = 0;

	if (!type) {
		json_decref(m);
		return -2;
	}
	if (!json_is_object(d))
		goto out; /* custom nodes send their own kinds of message */
	if (pid && strcmp(pid, r->prompt_id) != 0)
		goto out; /* someone else's prompt */
	if (!strcmp(type, "status")) {
		if (!r->started)
			ev_status(r->req->events, "queued");
	} else if (!strcmp(type, "execution_start")) {
		r->started = 1;
		ev_status(r->req->events, "running");
	} else if (!strcmp(type, "executing")) {
		const json_t *node = json_object_get(d, "node");

		if (json_is_null(node) && (pid || r->started))
			rc = 1;
		else if (json_is_string(node))
			ev_status(r->req->events,
				  class_of(json_object_get(r->graph, json_string_value(node))));
	} else if (!strcmp(type, "progress")) {
		const json_t *node = json_object_get(d, "node");
		const char *cls =
			json_is_string(node)
				? class_of(json_object_get(r->graph, json_string_value(node)))
				: "";

		ev_steps(r->req->events, (long)json_number_value(json_object_get(d, "value")),
			 (long)json_number_value(json_object_get(d, "max")), *cls ? cls : NULL);
	} else if (!strcmp(type, "execution_success")) {
		/* ComfyUI writes the history entry after this message and then sends
		 * executing {node: null}: that one says the entry is there */
		r->success_at = http_now_s();
	} else if (!strcmp(type, "execution_error")) {
		describe_execution_error(err, d);
		r->queued = 0; /* it is over on the server */
		rc = -1;
	} else if (!strcmp(type, "execution_interrupted")) {
		r->queued = 0;
		rc = err_code(err, 1, "execution was interrupted on the server");
	}
out:
	json_decref(m);
	return rc;
}

/* Follow the socket until our prompt is done; on socket trouble, leave r->ws NULL and
 * return 0 so the caller polls. */
static int follow_socket(struct run *r, double deadline, struct err *err)
{
	const unsigned char *data;
	struct err e = ERR_INIT;
	size_t len;
	int op, rc;

	while (r->ws) {
		if (http_now_s() > deadline)
			return 0; /* the caller reports the timeout */
		if (r->success_at && http_now_s() - r->success_at > CF_SUCCESS_GRACE_S)
			return 0; /* no executing null after the success: the history will tell */
		rc = ws_recv(r->ws, &op, &data, &len, CF_WS_SLICE_MS, &e);
		if (rc < 0) {
			if (e.code == HTTP_EXIT_CANCELED)
				return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
			drop_socket(r, e.msg);
			return 0;
		}
		if (rc == 0 || op != WS_TEXT)
			continue; /* binary frames are previews: not ours to keep */
		rc = on_message(r, data, len, err);
		if (rc == -2) {
			drop_socket(r, "websocket message that is not ComfyUI's");
			return 0;
		}
		if (rc < 0)
			return -1;
		if (rc == 1) {
			r->done = 1;
			return 0;
		}
	}
	return 0;
}

/* GET /history/{id} until it holds the prompt.  *images as comfyui_history_images. */
static int wait_history(struct run *r, double deadline, json_t **images, struct err *err)
{
	struct http_response resp;
	char path[128];
	json_t *h;
	int rc;

	snprintf(path, sizeof(path), "/history/%s", r->prompt_id);
	if (!r->ws && !r->done)
		ev_status(r->req->events, "waiting");
	for (;;) {
		memset(&resp, 0, sizeof(resp));
		if (request(r, "GET", path, NULL, CF_HISTORY_TIMEOUT_MS, CF_MAX_HISTORY, 1, 0,
			    &resp, err) < 0) {
			http_response_release(&resp);
			return fail_transport("GET", path, err);
		}
		if (resp.status != 200) {
			rc = fail_status("GET", path, &resp, err);
			http_response_release(&resp);
			return rc;
		}
		h = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
		http_response_release(&resp);
		if (!h)
			return err_code(err, 1, "upstream returned malformed JSON (GET %s)", path);
		rc = comfyui_history_images(h, r->prompt_id, images, err);
		if (json_is_object(json_object_get(h, r->prompt_id)))
			r->queued = 0; /* finished on the server, one way or the other */
		json_decref(h);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		if (http_now_s() > deadline)
			return err_code(err, 1,
					"no result for prompt %s after %ld s (backends.%s.timeout)",
					r->prompt_id, r->c->timeout_s, r->c->base.name);
		if (cancel_sleep(CF_POLL_S))
			return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
	}
}

/* What the bytes are, by their first bytes: "image/png", ... or NULL. */
static const char *sniff_image(const unsigned char *d, size_t n)
{
	if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8))
		return "image/png";
	if (n >= 4 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
		return "image/jpeg";
	if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4))
		return "image/webp";
	return NULL;
}

/* GET /view for one image into res. */
static int download(struct run *r, const json_t *im, struct imagen_result *res, struct err *err)
{
	const char *fn = json_string_value(json_object_get(im, "filename"));
	const char *sub = json_string_value(json_object_get(im, "subfolder"));
	const char *type = json_string_value(json_object_get(im, "type"));
	char *efn = http_escape(fn), *esub = http_escape(sub), *etype = http_escape(type);
	char *path = NULL, shown[300];
	struct http_response resp;
	const char *mime;
	unsigned w = 0, h = 0;
	int rc = -1;

	memset(&resp, 0, sizeof(resp));
	snprintf(shown, sizeof(shown), "/view (%s)", fn);
	if (!efn || !esub || !etype ||
	    asprintf(&path, "/view?filename=%s&subfolder=%s&type=%s", efn, esub, etype) < 0) {
		path = NULL;
		err_code(err, 1, "out of memory");
		goto out;
	}
	if (request(r, "GET", path, NULL, 0, 0, 1, 0, &resp, err) < 0) {
		fail_transport("GET", shown, err);
		goto out;
	}
	if (resp.status != 200) {
		fail_status("GET", shown, &resp, err);
		goto out;
	}
	mime = sniff_image(resp.body.data, resp.body.len);
	if (!mime) {
		err_code(err, 1, "GET %s: the answer is not an image (%zu bytes)", shown,
			 resp.body.len);
		goto out;
	}
	if (!strcmp(mime, "image/png") &&
	    pngmeta_check(resp.body.data, resp.body.len, &w, &h, err) < 0) {
		err_prefix(err, "GET %s", shown);
		if (err)
			err->code = 1;
		goto out;
	}
	if (!strcmp(mime, "image/jpeg") &&
	    (resp.body.len < 4 || resp.body.data[resp.body.len - 2] != 0xff ||
	     resp.body.data[resp.body.len - 1] != 0xd9)) {
		err_code(err, 1, "GET %s: truncated JPEG (%zu bytes)", shown, resp.body.len);
		goto out;
	}
	snprintf(res->mime, sizeof(res->mime), "%s", mime);
	res->width = (int)w;
	res->height = (int)h;
	res->data = buf_detach(&resp.body, &res->len);
	rc = 0;
out:
	http_response_release(&resp);
	free(path);
	free(efn);
	free(esub);
	free(etype);
	return rc;
}

static json_t *int_or_null(const json_t *v)
{
	return json_is_integer(v) ? json_incref((json_t *)v) : json_null();
}

static int fill_result(struct run *r, const json_t *images, size_t index, struct imagen_result *res,
		       struct err *err)
{
	const struct comfyui_params *p = r->c->params;
	const json_t *v, *im = json_array_get(images, index);
	json_t *md;

	v = get_param(r->graph, p, P_STEPS);
	res->steps = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	/* sizes from the image itself; the graph's numbers for formats we do not parse */
	if (!res->width) {
		v = get_param(r->graph, p, P_WIDTH);
		res->width = json_is_integer(v) ? (int)json_integer_value(v) : 0;
		v = get_param(r->graph, p, P_HEIGHT);
		res->height = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	}
	res->seed = r->req->seed;
	/* one seed for the whole run: only the first image is what that seed alone gives
	 * with this graph (the others need their batch index or output node too) */
	res->seed_honoured = p->n[P_SEED] > 0 && index == 0;
	v = get_param(r->graph, p, P_MODEL);
	res->model =
		json_is_string(v) && *json_string_value(v) ? strdup(json_string_value(v)) : NULL;
	md = json_pack("{s:s, s:s, s:o, s:s, s:s, s:O, s:I, s:o, s:o}", "prompt_id", r->prompt_id,
		       "client_id", r->client_id, "number",
		       r->number >= 0 ? json_integer(r->number) : json_null(), "workflow",
		       r->c->workflow, "events", r->ws_error[0] ? "polling" : "websocket", "image",
		       (json_t *)im, "images", (json_int_t)json_array_size(images), "params",
		       comfyui_params_json(p), "elapsed_ms",
		       json_integer((json_int_t)((http_now_s() - r->t0) * 1e3)));
	if (md && json_array_size(images) > 1)
		json_object_set_new(md, "image_index", json_integer((json_int_t)index));
	if (md && r->ws_error[0])
		json_object_set_new(md, "websocket_error", json_string(r->ws_error));
	if (md && (v = get_param(r->graph, p, P_SAMPLER)) && json_is_string(v))
		json_object_set(md, "sampler", (json_t *)v);
	if (md && (v = get_param(r->graph, p, P_SCHEDULER)) && json_is_string(v))
		json_object_set(md, "scheduler", (json_t *)v);
	if (md && (v = get_param(r->graph, p, P_CFG)) && json_is_number(v))
		json_object_set(md, "cfg", (json_t *)v);
	if (md && (v = get_param(r->graph, p, P_BATCH)))
		json_object_set_new(md, "batch_size", int_or_null(v));
	res->metadata = md;
	res->cost = NULL; /* a local server: nothing is billed */
	if (!md || (!res->model && json_is_string(get_param(r->graph, p, P_MODEL)) &&
		    *json_string_value(get_param(r->graph, p, P_MODEL))))
		return err_code(err, 1, "out of memory");
	return 0;
}

static int comfyui_generate(struct backend *b, const struct imagen_request *req,
			    struct imagen_result *res, size_t *nres, struct err *err)
{
	struct comfy *c = (struct comfy *)b;
	struct run_opts o;
	json_t *images = NULL;
	struct run r;
	double deadline;
	size_t i, want;
	int rc = -1;

	*nres = 0;
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.req = req;
	r.number = -1;
	r.t0 = http_now_s();
	if (read_opts(c, req->opts, &o, err) < 0 || build_graph(&r, &o, err) < 0)
		return -1;
	if (uuid4(r.client_id) < 0 || uuid4(r.prompt_id) < 0) {
		json_decref(r.graph);
		return err_code(err, 1, "getrandom: %s", strerror(errno));
	}
	ev_status(req->events, "connecting");
	open_socket(&r);
	if (!r.ws && cancel_requested()) {
		err_code(err, HTTP_EXIT_CANCELED, "interrupted");
		goto out;
	}
	if (!r.ws)
		verbose(&r, "%s; polling /history instead", r.ws_error);
	if (queue_prompt(&r, err) < 0)
		goto out;
	deadline = http_now_s() + (double)c->timeout_s;
	if (follow_socket(&r, deadline, err) < 0)
		goto out;
	if (wait_history(&r, deadline, &images, err) < 0)
		goto out;
	if (!json_array_size(images)) {
		err_code(err, 1, "prompt %s finished without an image (no SaveImage output in %s)",
			 r.prompt_id, c->workflow);
		goto out;
	}
	ev_status(req->events, "downloading");
	/* every image the run saved (a batch, several SaveImage nodes), as far as the
	 * caller has room: they are ours, generated and paid for in GPU time */
	want = req->count > 0 ? (size_t)req->count : 1;
	if (req->room > req->count)
		want = (size_t)req->room;
	for (i = 0; i < want && i < json_array_size(images); i++) {
		if (download(&r, json_array_get(images, i), &res[i], err) < 0 ||
		    fill_result(&r, images, i, &res[i], err) < 0) {
			imagen_result_release(&res[i]);
			goto out;
		}
		*nres = i + 1;
	}
	rc = 0;
out:
	/* interrupted, or given up for whatever reason before it finished: do not leave our
	 * prompt queued or running for nobody */
	if (rc < 0 && r.queued)
		cancel_upstream(&r);
	ws_close(r.ws);
	json_decref(images);
	json_decref(r.graph);
	return rc;
}

/* This adapter's instance in the sample imagen.yaml (`imagen config init`): one
 * NAME: with its keys, as a user would write it; it must pass validate(). */
static const char comfyui_sample[] =
	"# A ComfyUI server (local: no cost recorded).\n"
	"comfy:\n"
	"  type: comfyui\n"
	"  base_url: http://127.0.0.1:8188\n"
	"  workflow: builtin:txt2img           # builtin:flux-schnell, or a graph saved with\n"
	"                                      # \"Export (API)\"; default: flux-schnell when\n"
	"                                      # model contains \"flux\", else txt2img\n"
	"  model: v1-5-pruned-emaonly.safetensors   # checkpoint; required with txt2img\n"
	"  default_steps: 20                   # unset: the graph's own\n"
	"  sampler: euler                      # KSampler sampler_name\n"
	"  scheduler: normal\n"
	"  cfg: 7.0                            # 0..100\n"
	"  params:                             # where each knob goes; found from the\n"
	"    prompt: \"6.inputs.text\"           # standard nodes when absent (negative,\n"
	"    seed: \"3.inputs.seed\"             # seed, steps, width, height, cfg, sampler,\n"
	"                                      # scheduler, model, batch_size; null: none)\n"
	"  timeout: 600                        # seconds to wait once queued\n";

/* imagen backends --check: GET /system_stats. */
static int comfyui_check(struct backend *b, struct err *err)
{
	char *url = url_of((const struct comfy *)b, "/system_stats");
	int rc = url ? backend_check_get(b, url, NULL, NULL, err)
		     : err_code(err, 1, "out of memory");

	free(url);
	return rc;
}

const struct backend_ops comfyui_backend_ops = {
	.type = "comfyui",
	.summary = "a ComfyUI server: built-in txt2img / Flux schnell graphs or your workflow",
	.max_batch = 1,
	.validate = comfyui_validate,
	.open = comfyui_open,
	.generate = comfyui_generate,
	.close = comfyui_close,
	.check = comfyui_check,
	.keys = cfg_keys,
	.sample = comfyui_sample,
};
