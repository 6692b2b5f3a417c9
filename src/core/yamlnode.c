/* yamlnode.c - libyaml events folded into a tree of struct ynode with positions. */
#include "core/yamlnode.h"
#include "util/file.h"
#include "util/utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 64

struct builder {
	yaml_parser_t parser;
	const char *file;
	struct err *err;
};

static struct ynode *node_new(enum ynode_kind kind, const yaml_mark_t *mark)
{
	struct ynode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->kind = kind;
	n->line = (int)mark->line + 1;
	n->col = (int)mark->column + 1;
	return n;
}

void ynode_free(struct ynode *n)
{
	size_t i, count;

	if (!n)
		return;
	count = n->kind == YN_MAP ? 2 * n->n : n->n;
	for (i = 0; i < count; i++)
		ynode_free(n->items[i]);
	free(n->items);
	free(n->str);
	free(n);
}

static int node_push(struct ynode *parent, size_t count, struct ynode *child)
{
	struct ynode **p = realloc(parent->items, (count + 1) * sizeof(*p));

	if (!p)
		return -1;
	parent->items = p;
	p[count] = child;
	return 0;
}

__attribute__((format(printf, 4, 5))) static int fail_at(struct builder *b, int line, int col,
							 const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_code(b->err, 2, "%s:%d:%d: %s", b->file, line, col, msg);
}

static int fail_parser(struct builder *b)
{
	yaml_parser_t *p = &b->parser;
	const char *problem = p->problem ? p->problem : "malformed YAML";

	if (p->error == YAML_MEMORY_ERROR)
		return err_code(b->err, 2, "%s: out of memory", b->file);
	if (p->context)
		return err_code(b->err, 2, "%s:%zu:%zu: %s %s", b->file, p->problem_mark.line + 1,
				p->problem_mark.column + 1, problem, p->context);
	return err_code(b->err, 2, "%s:%zu:%zu: %s", b->file, p->problem_mark.line + 1,
			p->problem_mark.column + 1, problem);
}

/* Parse one node starting at event ev (already taken); fills *out. */
static int build_node(struct builder *b, yaml_event_t *ev, int depth, struct ynode **out);

/* Record how many children n owns so ynode_free() releases exactly those; a map key
 * still waiting for its value is freed here, since the pair count cannot cover it. */
static void settle(struct ynode *n, size_t count)
{
	if (n->kind == YN_MAP) {
		if (count % 2)
			ynode_free(n->items[count - 1]);
		n->n = count / 2;
	} else {
		n->n = count;
	}
}

static int build_collection(struct builder *b, struct ynode *n, yaml_event_type_t end_type,
			    int depth)
{
	yaml_event_t ev;
	struct ynode *child = NULL;
	size_t count = 0, i; /* nodes pushed; in a map keys sit at even slots */

	for (;;) {
		if (!yaml_parser_parse(&b->parser, &ev)) {
			fail_parser(b);
			goto fail;
		}
		if (ev.type == end_type) {
			yaml_event_delete(&ev);
			settle(n, count);
			return 0;
		}
		if (build_node(b, &ev, depth + 1, &child) < 0)
			goto fail;
		if (n->kind == YN_MAP && count % 2 == 0) {
			if (child->kind != YN_SCALAR) {
				fail_at(b, child->line, child->col, "a key must be a plain string");
				goto fail;
			}
			for (i = 0; i < count; i += 2) {
				if (strcmp(n->items[i]->str, child->str))
					continue;
				fail_at(b, child->line, child->col,
					"duplicate key '%s' (first at line %d)", child->str,
					n->items[i]->line);
				goto fail;
			}
		}
		if (node_push(n, count, child) < 0) {
			err_code(b->err, 2, "%s: out of memory", b->file);
			goto fail;
		}
		child = NULL;
		count++;
	}
fail:
	ynode_free(child);
	settle(n, count);
	return -1;
}

static int build_node(struct builder *b, yaml_event_t *ev, int depth, struct ynode **out)
{
	struct ynode *n = NULL;
	int rc = -1;

	*out = NULL;
	if (depth > YAML_MAX_DEPTH) {
		rc = fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			     "nesting deeper than %d levels", YAML_MAX_DEPTH);
		goto out;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		rc = fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			     "aliases (*%s) are not supported",
			     (const char *)ev->data.alias.anchor);
		goto out;
	case YAML_SCALAR_EVENT:
		n = node_new(YN_SCALAR, &ev->start_mark);
		if (!n)
			break;
		n->str = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		if (!n->str)
			break;
		if (strlen(n->str) != ev->data.scalar.length) {
			rc = fail_at(b, n->line, n->col, "NUL character in a value");
			goto out;
		}
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		rc = 0;
		break;
	case YAML_SEQUENCE_START_EVENT:
		n = node_new(YN_SEQ, &ev->start_mark);
		if (!n)
			break;
		yaml_event_delete(ev);
		rc = build_collection(b, n, YAML_SEQUENCE_END_EVENT, depth);
		goto done;
	case YAML_MAPPING_START_EVENT:
		n = node_new(YN_MAP, &ev->start_mark);
		if (!n)
			break;
		yaml_event_delete(ev);
		rc = build_collection(b, n, YAML_MAPPING_END_EVENT, depth);
		goto done;
	default:
		rc = fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			     "unexpected YAML event");
		goto out;
	}
	if (rc < 0)
		err_code(b->err, 2, "%s: out of memory", b->file);
out:
	yaml_event_delete(ev);
done:
	if (rc < 0) {
		ynode_free(n);
		return -1;
	}
	*out = n;
	return 0;
}

/* Checks libyaml would report obscurely (or not at all) get a plain message first. */
static int prescan(const char *text, size_t len, const char *file, struct err *err)
{
	size_t i, line = 1, col = 1;
	int at_indent = 1;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)text[i];
		if (c == '\0')
			return err_code(err, 2, "%s: not a text file (NUL byte at line %zu)", file,
					line);
		if (c == '\n') {
			line++;
			col = 1;
			at_indent = 1;
			continue;
		}
		if (c == '\t' && at_indent)
			return err_code(err, 2,
					"%s:%zu:%zu: tab character in indentation (YAML allows "
					"spaces only)",
					file, line, col);
		if (c != ' ' && c != '\t')
			at_indent = 0;
		/* control characters: libyaml refuses them too, but without a position */
		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
			return err_code(err, 2,
					"%s:%zu:%zu: not a text file (control character 0x%02x)",
					file, line, col, c);
		if (c >= 0x80) {
			uint32_t cp;

			if (utf8_next((const unsigned char *)text, len, &i, &cp) < 0)
				return err_code(err, 2,
						"%s:%zu:%zu: not a text file (invalid UTF-8)", file,
						line, col);
			if (cp >= 0x80 && cp <= 0x9f)
				return err_code(
					err, 2,
					"%s:%zu:%zu: not a text file (control character U+%04X)",
					file, line, col, (unsigned)cp);
			i--; /* the loop steps past the sequence's last byte */
		}
		col++;
	}
	return 0;
}

int yaml_parse(struct ynode **out, const char *text, size_t len, const char *file, struct err *err)
{
	struct builder b = { .file = file, .err = err };
	struct ynode *root = NULL;
	yaml_event_t ev;
	int rc = -1, docs = 0;
	yaml_mark_t zero = { 0, 0, 0 };

	*out = NULL;
	if (len > YAML_MAX_BYTES)
		return err_code(err, 2, "%s: file is too large (%zu bytes; the limit is %d)", file,
				len, YAML_MAX_BYTES);
	if (prescan(text, len, file, err) < 0)
		return -1;
	if (!yaml_parser_initialize(&b.parser))
		return err_code(err, 2, "%s: out of memory", file);
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
	for (;;) {
		if (!yaml_parser_parse(&b.parser, &ev)) {
			fail_parser(&b);
			goto out;
		}
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_END_EVENT) {
			yaml_event_delete(&ev);
			continue;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT) {
			if (++docs > 1) {
				fail_at(&b, (int)ev.start_mark.line + 1,
					(int)ev.start_mark.column + 1,
					"only one YAML document is allowed");
				yaml_event_delete(&ev);
				goto out;
			}
			yaml_event_delete(&ev);
			continue;
		}
		if (build_node(&b, &ev, 1, &root) < 0)
			goto out;
	}
	/* "---" alone or "~" is an empty document too: libyaml gives a null scalar */
	if (root && root->kind == YN_SCALAR && root->plain &&
	    (!*root->str || !strcmp(root->str, "~") || !strcmp(root->str, "null"))) {
		ynode_free(root);
		root = NULL;
	}
	if (!root) {
		root = node_new(YN_MAP, &zero);
		if (!root) {
			err_code(err, 2, "%s: out of memory", file);
			goto out;
		}
	}
	*out = root;
	root = NULL;
	rc = 0;
out:
	ynode_free(root);
	yaml_parser_delete(&b.parser);
	return rc;
}

int yaml_load_file(struct ynode **out, const char *path, struct err *err)
{
	unsigned char *text;
	size_t len;
	int rc;

	*out = NULL;
	if (file_read(&text, &len, path, YAML_MAX_BYTES, err) < 0) {
		if (err)
			err->code = 2;
		return -1;
	}
	rc = yaml_parse(out, (const char *)text, len, path, err);
	free(text);
	return rc;
}

const struct ynode *ynode_get(const struct ynode *map, const char *key,
			      const struct ynode **key_out)
{
	size_t i;

	if (!map || map->kind != YN_MAP)
		return NULL;
	for (i = 0; i < map->n; i++) {
		if (!strcmp(map->items[2 * i]->str, key)) {
			if (key_out)
				*key_out = map->items[2 * i];
			return map->items[2 * i + 1];
		}
	}
	return NULL;
}

static json_t *scalar_to_json(const struct ynode *n)
{
	const char *s = n->str;
	char *end;
	long long v;
	double d;

	if (!n->plain)
		return json_string(s);
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if ((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9')) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (!*end && !errno)
			return json_integer(v);
		errno = 0;
		d = strtod(s, &end);
		if (!*end && !errno && strpbrk(s, "xXnN") == NULL)
			return json_real(d);
	}
	return json_string(s);
}

json_t *ynode_to_json(const struct ynode *n)
{
	json_t *j, *child;
	size_t i;

	if (n->kind == YN_SCALAR)
		return scalar_to_json(n);
	j = n->kind == YN_MAP ? json_object() : json_array();
	if (!j)
		return NULL;
	for (i = 0; i < n->n; i++) {
		child = ynode_to_json(n->kind == YN_MAP ? n->items[2 * i + 1] : n->items[i]);
		if (!child ||
		    (n->kind == YN_MAP ? json_object_set_new(j, n->items[2 * i]->str, child)
				       : json_array_append_new(j, child)) < 0) {
			json_decref(j);
			return NULL;
		}
	}
	return j;
}
