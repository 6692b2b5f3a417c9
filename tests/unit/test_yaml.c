/* test_yaml.c - the YAML node tree (types, positions, refusals) and "did you mean". */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/suggest.h"
#include "core/yamlnode.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static struct ynode *parse_ok_len(const char *text, size_t len)
{
	struct ynode *root = NULL;
	struct err err = ERR_INIT;

	if (yaml_parse(&root, text, len, "t.yaml", &err) != 0)
		fail_msg("yaml_parse refused: %s\n--- text ---\n%s", err.msg, text);
	assert_non_null(root);
	return root;
}

static struct ynode *parse_ok(const char *text)
{
	return parse_ok_len(text, strlen(text));
}

/* Expect -1, *out NULL, exit code 2 and exactly `want`.  The sanitizer build checks that
 * nothing built before the failure leaks. */
static void assert_refused_len(const char *text, size_t len, const char *want)
{
	struct ynode *root = (struct ynode *)&root; /* any non-NULL value */
	struct err err = ERR_INIT;

	assert_int_equal(yaml_parse(&root, text, len, "t.yaml", &err), -1);
	assert_null(root);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, want);
}

static void assert_refused(const char *text, const char *want)
{
	assert_refused_len(text, strlen(text), want);
}

/* The tree as JSON must equal the JSON text `want`. */
static void assert_json(const struct ynode *n, const char *want)
{
	json_error_t jerr;
	json_t *expected = json_loads(want, JSON_DECODE_ANY, &jerr), *got;
	char *dump;

	if (!expected)
		fail_msg("bad JSON in test: %s: %s", want, jerr.text);
	got = ynode_to_json(n);
	assert_non_null(got);
	if (!json_equal(got, expected)) {
		dump = json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		fail_msg("got %s, want %s", dump, want);
	}
	json_decref(got);
	json_decref(expected);
}

static void assert_pos(const struct ynode *n, int line, int col)
{
	assert_non_null(n);
	assert_int_equal(n->line, line);
	assert_int_equal(n->col, col);
}

/* ---- scalars ----------------------------------------------------------------------------- */

static void test_scalar_types(void **state)
{
	struct ynode *root;
	json_t *j;

	(void)state;
	root = parse_ok("int: 4\n"
			"quoted: \"4\"\n"
			"single: '4'\n"
			"neg: -3\n"
			"pos: +7\n"
			"t: true\n"
			"f: false\n"
			"T: True\n"
			"qt: \"true\"\n"
			"tilde: ~\n"
			"empty:\n"
			"null: null\n"
			"qnull: \"~\"\n"
			"real: 1.5\n"
			"exp: 1e3\n"
			"hex: 0x10\n"
			"word: yes\n"
			"dotted: 1.2.3\n"
			"lead: .5\n");
	j = ynode_to_json(root);
	assert_non_null(j);
	assert_true(json_is_integer(json_object_get(j, "int")));
	assert_int_equal(json_integer_value(json_object_get(j, "int")), 4);
	assert_string_equal(json_string_value(json_object_get(j, "quoted")), "4");
	assert_string_equal(json_string_value(json_object_get(j, "single")), "4");
	assert_int_equal(json_integer_value(json_object_get(j, "neg")), -3);
	assert_true(json_is_integer(json_object_get(j, "pos")));
	assert_int_equal(json_integer_value(json_object_get(j, "pos")), 7);
	assert_true(json_is_true(json_object_get(j, "t")));
	assert_true(json_is_false(json_object_get(j, "f")));
	assert_true(json_is_true(json_object_get(j, "T")));
	assert_string_equal(json_string_value(json_object_get(j, "qt")), "true");
	assert_true(json_is_null(json_object_get(j, "tilde")));
	assert_true(json_is_null(json_object_get(j, "empty")));
	assert_true(json_is_null(json_object_get(j, "null")));
	assert_string_equal(json_string_value(json_object_get(j, "qnull")), "~");
	assert_true(json_is_real(json_object_get(j, "real")));
	assert_true(json_real_value(json_object_get(j, "real")) == 1.5);
	assert_true(json_is_real(json_object_get(j, "exp")));
	assert_true(json_real_value(json_object_get(j, "exp")) == 1000.0);
	assert_string_equal(json_string_value(json_object_get(j, "hex")), "0x10");
	assert_string_equal(json_string_value(json_object_get(j, "word")), "yes");
	assert_string_equal(json_string_value(json_object_get(j, "dotted")), "1.2.3");
	assert_string_equal(json_string_value(json_object_get(j, "lead")), ".5");
	assert_int_equal(json_object_size(j), 19);
	json_decref(j);

	/* the plain flag is what tells 4 from "4" */
	assert_int_equal(ynode_get(root, "int", NULL)->plain, 1);
	assert_int_equal(ynode_get(root, "quoted", NULL)->plain, 0);
	assert_int_equal(ynode_get(root, "single", NULL)->plain, 0);
	assert_string_equal(ynode_get(root, "quoted", NULL)->str, "4");
	assert_string_equal(ynode_get(root, "empty", NULL)->str, "");
	ynode_free(root);
}

static void test_utf8_text_is_kept(void **state)
{
	struct ynode *root;

	(void)state;
	/* two-, three- and four-byte sequences pass through untouched */
	root = parse_ok("caf\xc3\xa9: \"\xe2\x82\xac \xf0\x9f\x98\x80\"\n");
	assert_string_equal(ynode_get(root, "caf\xc3\xa9", NULL)->str,
			    "\xe2\x82\xac \xf0\x9f\x98\x80");
	ynode_free(root);
}

static void test_top_level_scalar_and_sequence(void **state)
{
	struct ynode *root;

	(void)state;
	root = parse_ok("plain\n");
	assert_int_equal(root->kind, YN_SCALAR);
	assert_string_equal(root->str, "plain");
	assert_json(root, "\"plain\"");
	ynode_free(root);

	root = parse_ok("- a\n- 2\n");
	assert_int_equal(root->kind, YN_SEQ);
	assert_int_equal(root->n, 2);
	assert_json(root, "[\"a\", 2]");
	ynode_free(root);
}

/* ---- structure and positions ------------------------------------------------------------- */

static void test_nested_structure(void **state)
{
	struct ynode *root;
	const struct ynode *a, *b, *c;

	(void)state;
	root = parse_ok("a:\n"
			"  b:\n"
			"    - 1\n"
			"    - x: y\n"
			"      z: [true, \"s\"]\n"
			"  c: [1, {d: e}, []]\n"
			"  e: {}\n");
	assert_json(root, "{\"a\": {\"b\": [1, {\"x\": \"y\", \"z\": [true, \"s\"]}],"
			  " \"c\": [1, {\"d\": \"e\"}, []], \"e\": {}}}");
	assert_int_equal(root->kind, YN_MAP);
	assert_int_equal(root->n, 1);
	a = ynode_get(root, "a", NULL);
	assert_non_null(a);
	assert_int_equal(a->kind, YN_MAP);
	assert_int_equal(a->n, 3);
	b = ynode_get(a, "b", NULL);
	assert_int_equal(b->kind, YN_SEQ);
	assert_int_equal(b->n, 2);
	assert_int_equal(b->items[1]->kind, YN_MAP);
	assert_int_equal(b->items[1]->n, 2);
	c = ynode_get(a, "c", NULL);
	assert_int_equal(c->kind, YN_SEQ);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->items[2]->kind, YN_SEQ);
	assert_int_equal(c->items[2]->n, 0);
	assert_int_equal(ynode_get(a, "e", NULL)->kind, YN_MAP);
	assert_int_equal(ynode_get(a, "e", NULL)->n, 0);
	ynode_free(root);
}

static void test_positions(void **state)
{
	struct ynode *root;
	const struct ynode *key = NULL, *v, *inner;

	(void)state;
	root = parse_ok("name: value\n"       /* 1 */
			"list:\n"             /* 2 */
			"  - one\n"           /* 3 */
			"  - two\n"           /* 4 */
			"map: {k: v}\n"       /* 5 */
			"nested:\n"           /* 6 */
			"  inner:\n"          /* 7 */
			"    deep: \"q\"\n"); /* 8 */
	assert_pos(root, 1, 1);

	v = ynode_get(root, "name", &key);
	assert_pos(key, 1, 1);
	assert_pos(v, 1, 7);

	v = ynode_get(root, "list", &key);
	assert_pos(key, 2, 1);
	assert_pos(v, 3, 3);           /* the sequence starts at the first "-" */
	assert_pos(v->items[0], 3, 5); /* "one" */
	assert_pos(v->items[1], 4, 5); /* "two" */

	v = ynode_get(root, "map", &key);
	assert_pos(key, 5, 1);
	assert_pos(v, 5, 6);            /* "{" */
	assert_pos(v->items[0], 5, 7);  /* k */
	assert_pos(v->items[1], 5, 10); /* v */

	inner = ynode_get(ynode_get(root, "nested", NULL), "inner", &key);
	assert_pos(key, 7, 3);
	v = ynode_get(inner, "deep", &key);
	assert_pos(key, 8, 5);
	assert_pos(v, 8, 11); /* the opening quote */
	assert_string_equal(v->str, "q");
	ynode_free(root);
}

static void test_ynode_get(void **state)
{
	struct ynode *root;
	const struct ynode *key = NULL, *v;

	(void)state;
	root = parse_ok("a: 1\nb: [x]\nc: {d: 2}\n");
	v = ynode_get(root, "b", &key);
	assert_non_null(v);
	assert_int_equal(v->kind, YN_SEQ);
	assert_string_equal(key->str, "b");
	assert_ptr_equal(key, root->items[2]);
	assert_ptr_equal(v, root->items[3]);
	assert_string_equal(ynode_get(root, "a", NULL)->str, "1");

	key = NULL;
	assert_null(ynode_get(root, "missing", &key));
	assert_null(key);                        /* untouched when not found */
	assert_null(ynode_get(root, "d", NULL)); /* not searched recursively */
	assert_null(ynode_get(ynode_get(root, "a", NULL), "a", NULL)); /* a scalar */
	assert_null(ynode_get(ynode_get(root, "b", NULL), "x", NULL)); /* a sequence */
	assert_null(ynode_get(NULL, "a", NULL));
	assert_string_equal(ynode_get(ynode_get(root, "c", NULL), "d", NULL)->str, "2");
	ynode_free(root);
}

static void test_empty_document_is_empty_mapping(void **state)
{
	struct ynode *root;

	(void)state;
	root = parse_ok_len("", 0);
	assert_int_equal(root->kind, YN_MAP);
	assert_int_equal(root->n, 0);
	assert_null(ynode_get(root, "a", NULL));
	assert_json(root, "{}");
	ynode_free(root);

	root = parse_ok("# only a comment\n\n   \n");
	assert_int_equal(root->kind, YN_MAP);
	assert_int_equal(root->n, 0);
	assert_json(root, "{}");
	ynode_free(root);

	/* an explicit document marker with nothing under it is empty too */
	root = parse_ok("---\n");
	assert_int_equal(root->kind, YN_MAP);
	assert_int_equal(root->n, 0);
	ynode_free(root);
	root = parse_ok("--- # imagen config\n# nothing yet\n");
	assert_int_equal(root->kind, YN_MAP);
	ynode_free(root);
}

static void test_depth_limit_boundary(void **state)
{
	char text[256];
	size_t n, i;
	struct ynode *root;

	(void)state;
	/* root mapping + 63 sequences = 64 levels: accepted */
	n = (size_t)snprintf(text, sizeof(text), "x: ");
	for (i = 0; i < 63; i++)
		text[n++] = '[';
	for (i = 0; i < 63; i++)
		text[n++] = ']';
	text[n++] = '\n';
	root = parse_ok_len(text, n);
	ynode_free(root);

	/* one more: the 64th '[' (column 3 + 64) opens level 65 */
	n = (size_t)snprintf(text, sizeof(text), "x: ");
	for (i = 0; i < 64; i++)
		text[n++] = '[';
	for (i = 0; i < 64; i++)
		text[n++] = ']';
	text[n++] = '\n';
	assert_refused_len(text, n, "t.yaml:1:67: nesting deeper than 64 levels");
}

/* ---- refusals ---------------------------------------------------------------------------- */

static void test_refuses_large_and_binary(void **state)
{
	static const char nul[] = "a: 1\nb: x\0y\n";
	size_t big = YAML_MAX_BYTES + 1;
	char *text = malloc(big);

	(void)state;
	assert_non_null(text);
	memset(text, '#', big);
	assert_refused_len(text, big,
			   "t.yaml: file is too large (1048577 bytes; the limit is 1048576)");
	free(text);
	assert_refused_len(nul, sizeof(nul) - 1, "t.yaml: not a text file (NUL byte at line 2)");
	assert_refused("a: 1\nb: \xff\n", "t.yaml:2:4: not a text file (invalid UTF-8)");
	assert_refused("a: \xc3\n", "t.yaml:1:4: not a text file (invalid UTF-8)");
	/* strict: overlong forms, surrogates and code points past U+10FFFF are invalid too */
	assert_refused("a: 1\nb: \xe0\x80\x80\n", "t.yaml:2:4: not a text file (invalid UTF-8)");
	assert_refused("a: 1\nb: \xc0\xaf\n", "t.yaml:2:4: not a text file (invalid UTF-8)");
	assert_refused("a: 1\nb: \xed\xa0\x80\n", "t.yaml:2:4: not a text file (invalid UTF-8)");
	assert_refused("a: 1\nb: \xf4\x90\x80\x80\n",
		       "t.yaml:2:4: not a text file (invalid UTF-8)");
	/* columns count characters, not bytes: "\xc3\xa9" is one column */
	assert_refused("\xc3\xa9: \xff\n", "t.yaml:1:4: not a text file (invalid UTF-8)");
	/* an escaped NUL inside a quoted scalar is caught after libyaml decodes it */
	assert_refused("a: 1\nb: \"x\\0y\"\n", "t.yaml:2:4: NUL character in a value");
	/* control characters get their real position, not libyaml's 1:1 */
	assert_refused("a: 1\nb: \x01\n", "t.yaml:2:4: not a text file (control character 0x01)");
	assert_refused("a: \x7f\n", "t.yaml:1:4: not a text file (control character 0x7f)");
	assert_refused("a: 1\nbb: \xc2\x85\n",
		       "t.yaml:2:5: not a text file (control character U+0085)");
}

static void test_refuses_tab_indentation(void **state)
{
	(void)state;
	assert_refused("a:\n\tb: 1\n",
		       "t.yaml:2:1: tab character in indentation (YAML allows spaces "
		       "only)");
	assert_refused("a:\n  b:\n   \tc: 1\n", "t.yaml:3:4: tab character in indentation (YAML "
						"allows spaces only)");
}

static void test_refuses_syntax_errors(void **state)
{
	(void)state;
	/* inside a mapping that already holds pairs, and inside a sequence that already
	 * holds items: whatever was built must be freed */
	assert_refused(
		"a: 1\nb: [1, 2\n",
		"t.yaml:3:1: did not find expected ',' or ']' while parsing a flow sequence");
	assert_refused("a: b: c\n", "t.yaml:1:5: mapping values are not allowed in this context");
	assert_refused(
		"[1, 2\n",
		"t.yaml:2:1: did not find expected ',' or ']' while parsing a flow sequence");
}

static void test_refuses_duplicates_and_bad_keys(void **state)
{
	(void)state;
	assert_refused("a: 1\nb: {c: d}\nb: 2\n",
		       "t.yaml:3:1: duplicate key 'b' (first at line 2)");
	assert_refused("top:\n  x: 1\n  y: [1]\n  x: 2\n",
		       "t.yaml:4:3: duplicate key 'x' (first at line 2)");
	assert_refused("a: 1\n? {b: c}\n: 2\n", "t.yaml:2:3: a key must be a plain string");
	assert_refused("? [a]\n: 1\n", "t.yaml:1:3: a key must be a plain string");
}

static void test_refuses_aliases(void **state)
{
	(void)state;
	assert_refused("x: &a 1\ny: *a\n", "t.yaml:2:4: aliases (*a) are not supported");
	assert_refused("a: &x 1\nb: [1, 2, *x]\n", "t.yaml:2:11: aliases (*x) are not supported");
}

static void test_refuses_more_documents(void **state)
{
	(void)state;
	assert_refused("---\na: 1\n---\nb: 2\n", "t.yaml:3:1: only one YAML document is allowed");
	assert_refused("a: 1\n---\nb: 2\n", "t.yaml:2:1: only one YAML document is allowed");
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/imagen-test-yaml-XXXXXX", want[256];
	struct ynode *root = NULL;
	struct err err = ERR_INIT;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_true(fputs("a: 1\nb: \"two\"\n", f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(yaml_load_file(&root, path, &err), 0);
	assert_json(root, "{\"a\": 1, \"b\": \"two\"}");
	ynode_free(root);

	/* errors name the path */
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs("a: 1\na: 2\n", f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(yaml_load_file(&root, path, &err), -1);
	assert_null(root);
	snprintf(want, sizeof(want), "%s:2:1: duplicate key 'a' (first at line 1)", path);
	assert_string_equal(err.msg, want);
	unlink(path);

	assert_int_equal(yaml_load_file(&root, path, &err), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err.msg, want);
	assert_int_equal(yaml_load_file(&root, "/tmp", &err), -1);
	assert_string_equal(err.msg, "/tmp: not a regular file");
}

/* ---- suggest ----------------------------------------------------------------------------- */

static void test_suggest_distance(void **state)
{
	(void)state;
	assert_int_equal(suggest_distance("steps", "steps"), 0);
	assert_int_equal(suggest_distance("stpes", "steps"), 1); /* transposition */
	assert_int_equal(suggest_distance("mokc", "mock"), 1);   /* transposition */
	assert_int_equal(suggest_distance("outptu", "output"), 1);
	assert_int_equal(suggest_distance("step", "steps"), 1);   /* insertion */
	assert_int_equal(suggest_distance("stepss", "steps"), 1); /* deletion */
	assert_int_equal(suggest_distance("stels", "steps"), 1);  /* substitution */
	assert_int_equal(suggest_distance("kitten", "sitting"), 3);
	assert_int_equal(suggest_distance("", "abc"), 3);
	assert_int_equal(suggest_distance("abc", ""), 3);
	assert_int_equal(suggest_distance("Steps", "steps"), 1); /* case-sensitive */
	/* optimal string alignment, not full Damerau: "ca" -> "abc" costs 3, not 2 */
	assert_int_equal(suggest_distance("ca", "abc"), 3);
	assert_int_equal(suggest_distance("abc", "ca"), 3);
}

static void test_suggest_closest(void **state)
{
	static const char *const keys[] = { "type",     "width", "height", "steps",
					    "delay_ms", "fail",  NULL };
	static const char *const types[] = { "mock", NULL };
	static const char *const two[] = { "steps", "width", NULL };
	static const char *const abd[] = { "abd", NULL };
	static const char *const b[] = { "b", NULL };
	static const char *const abc[] = { "abc", NULL };
	static const char *const far[] = { "abcxyz", NULL };
	static const char *const none[] = { NULL };

	(void)state;
	assert_string_equal(suggest_closest("stpes", keys), "steps");
	assert_ptr_equal(suggest_closest("stpes", keys), keys[3]); /* borrowed from the list */
	assert_string_equal(suggest_closest("widht", keys), "width");
	assert_string_equal(suggest_closest("mokc", types), "mock");
	assert_string_equal(suggest_closest("steps", keys), "steps");
	assert_null(suggest_closest("x", two));
	assert_null(suggest_closest("stpes", NULL));
	assert_null(suggest_closest("stpes", none));
	/* too far for the word's length: one edit in a two-letter word, or in one letter */
	assert_null(suggest_closest("a", b));
	assert_null(suggest_closest("ab", abc));
	assert_string_equal(suggest_closest("abc", abd), "abd");
	/* more than two edits is never a typo */
	assert_null(suggest_closest("abcdef", far));
	/* ... but an abbreviation of one candidate is ("imagen gen") */
	{
		static const char *const cmds[] = { "generate", "config",     "backends", "styles",
						    "show",     "sync",       "help",     "inspect",
						    "version",  "completion", NULL };

		assert_string_equal(suggest_closest("gen", cmds), "generate");
		assert_string_equal(suggest_closest("insp", cmds), "inspect");
		assert_string_equal(suggest_closest("comp", cmds), "completion");
		/* too short, or naming two */
		assert_null(suggest_closest("ge", cmds));
		assert_null(suggest_closest("sy", cmds));
		assert_string_equal(suggest_closest("abcx", far), "abcxyz");
		assert_null(suggest_closest("abcd",
					    (const char *const[]){ "abcdxyz", "abcdwvu", NULL }));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalar_types),
		cmocka_unit_test(test_utf8_text_is_kept),
		cmocka_unit_test(test_top_level_scalar_and_sequence),
		cmocka_unit_test(test_nested_structure),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_ynode_get),
		cmocka_unit_test(test_empty_document_is_empty_mapping),
		cmocka_unit_test(test_depth_limit_boundary),
		cmocka_unit_test(test_refuses_large_and_binary),
		cmocka_unit_test(test_refuses_tab_indentation),
		cmocka_unit_test(test_refuses_syntax_errors),
		cmocka_unit_test(test_refuses_duplicates_and_bad_keys),
		cmocka_unit_test(test_refuses_aliases),
		cmocka_unit_test(test_refuses_more_documents),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_suggest_distance),
		cmocka_unit_test(test_suggest_closest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
