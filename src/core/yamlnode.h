/* yamlnode.h - YAML text to a small node tree that remembers where each node stood. */
#ifndef IMAGEN_YAML_H
#define IMAGEN_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

enum ynode_kind { YN_SCALAR, YN_MAP, YN_SEQ };

struct ynode {
	enum ynode_kind kind;
	int line, col; /* 1-based position of the node's first character */
	char *str;     /* YN_SCALAR: the text */
	int plain;     /* YN_SCALAR: 1 when unquoted (so "4" stays a string, 4 is a number) */
	size_t n;      /* YN_SEQ: item count; YN_MAP: pair count */
	struct ynode **items; /* YN_SEQ: n items; YN_MAP: 2n nodes, key then value */
};

/** Largest config file accepted, in bytes. */
#define YAML_MAX_BYTES (1024 * 1024)

/**
 * Parse text[0..len) (one document).  An empty document gives an empty mapping.
 * Refused, each with "FILE:LINE:COL: reason" (or "FILE: reason") in err: files over
 * YAML_MAX_BYTES, NUL bytes or invalid UTF-8 ("binary"), a tab in indentation,
 * syntax errors, duplicate keys, aliases, non-scalar keys, nesting deeper than 64,
 * more than one document.  *out is freed with ynode_free().
 */
int yaml_parse(struct ynode **out, const char *text, size_t len, const char *file, struct err *err);

/** Read a whole file (bounded by YAML_MAX_BYTES) and parse it. */
int yaml_load_file(struct ynode **out, const char *path, struct err *err);

void ynode_free(struct ynode *n);

/** In a mapping, the value for key (and its key node via *key_out if non-NULL), or NULL. */
const struct ynode *ynode_get(const struct ynode *map, const char *key,
			      const struct ynode **key_out);

/**
 * Convert to JSON (new reference): plain scalars null/~/empty become null, true/false
 * booleans, decimal integers integers, decimals reals; everything else (and every
 * quoted scalar) a string.
 */
json_t *ynode_to_json(const struct ynode *n);

#endif
