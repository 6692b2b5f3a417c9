/* test_query.c - the search language: every term parsed, every error with its column,
 * and the SQL each compiles to (values bound, never spliced). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/query.h"

static int setup_utc(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static void parse_ok(struct query *q, const char *text)
{
	struct err err = ERR_INIT;
	size_t col = 99;

	if (query_parse(q, text, &col, &err) != 0)
		fail_msg("query_parse(\"%s\") failed: %s", text, err.msg);
	assert_int_equal(col, 0);
}

/* The error message (static buffer) and column of a query that must fail. */
static const char *parse_err(const char *text, size_t *col)
{
	static struct err err;
	struct query q;

	memset(&err, 0, sizeof(err));
	if (query_parse(&q, text, col, &err) == 0) {
		query_free(&q);
		fail_msg("query_parse(\"%s\") succeeded", text);
	}
	assert_int_equal(err.code, 2);
	assert_null(q.terms);
	assert_int_equal(q.n, 0);
	return err.msg;
}

static void expect_err(const char *text, size_t want_col, const char *want_part)
{
	size_t col = 0;
	const char *msg = parse_err(text, &col);
	char prefix[32];

	if (col != want_col)
		fail_msg("\"%s\": column %zu, expected %zu (%s)", text, col, want_col, msg);
	snprintf(prefix, sizeof(prefix), "column %zu: ", want_col);
	if (strncmp(msg, prefix, strlen(prefix)) || !strstr(msg, want_part))
		fail_msg("\"%s\": message '%s' lacks '%s%s'", text, msg, prefix, want_part);
}

static void test_free_words_phrases_prefixes(void **state)
{
	struct query q;

	(void)state;
	parse_ok(&q, "  red  \"a fox\" fox* -blurry -\"low res\" \"big ca\"* ");
	assert_int_equal(q.n, 6);
	assert_int_equal(q.terms[0].field, QF_TEXT);
	assert_string_equal(q.terms[0].text, "red");
	assert_int_equal(q.terms[0].col, 3);
	assert_false(q.terms[0].negate);
	assert_string_equal(q.terms[1].text, "a fox");
	assert_false(q.terms[1].prefix);
	assert_string_equal(q.terms[2].text, "fox");
	assert_true(q.terms[2].prefix);
	assert_string_equal(q.terms[3].text, "blurry");
	assert_true(q.terms[3].negate);
	assert_string_equal(q.terms[4].text, "low res");
	assert_true(q.terms[4].negate);
	assert_string_equal(q.terms[5].text, "big ca");
	assert_true(q.terms[5].prefix);
	assert_true(query_has_text(&q));
	query_free(&q);

	parse_ok(&q, "");
	assert_int_equal(q.n, 0);
	assert_false(query_has_text(&q));
	query_free(&q);
	parse_ok(&q, "-red seed:1");
	assert_false(query_has_text(&q)); /* excluded words alone rank nothing */
	query_free(&q);
	/* a word that only looks like a filter: digits first, or quoted */
	parse_ok(&q, "16:9 \"http://x\"");
	assert_int_equal(q.n, 2);
	assert_string_equal(q.terms[0].text, "16:9");
	assert_string_equal(q.terms[1].text, "http://x");
	query_free(&q);
}

static void test_numeric_filters(void **state)
{
	struct query q;

	(void)state;
	parse_ok(&q, "seed:42 seed:100..200 seed:100.. seed:..200 width>=1024 height<768 "
		     "steps>4 rating<=3 cfg=7.5 cost>0.02 cost:0.01..0.5 SEED:7");
	assert_int_equal(q.n, 12);
	assert_int_equal(q.terms[0].field, QF_SEED);
	assert_int_equal(q.terms[0].op, QO_EQ);
	assert_int_equal(q.terms[0].lo, 42);
	assert_int_equal(q.terms[1].op, QO_RANGE);
	assert_int_equal(q.terms[1].lo, 100);
	assert_int_equal(q.terms[1].hi, 200);
	assert_true(q.terms[1].has_lo && q.terms[1].has_hi);
	assert_true(q.terms[2].has_lo && !q.terms[2].has_hi);
	assert_true(!q.terms[3].has_lo && q.terms[3].has_hi);
	assert_int_equal(q.terms[3].hi, 200);
	assert_int_equal(q.terms[4].field, QF_WIDTH);
	assert_int_equal(q.terms[4].op, QO_GE);
	assert_int_equal(q.terms[5].field, QF_HEIGHT);
	assert_int_equal(q.terms[5].op, QO_LT);
	assert_int_equal(q.terms[6].op, QO_GT);
	assert_int_equal(q.terms[7].field, QF_RATING);
	assert_int_equal(q.terms[7].op, QO_LE);
	assert_int_equal(q.terms[8].field, QF_CFG);
	assert_true(q.terms[8].dlo == 7.5);
	assert_int_equal(q.terms[9].field, QF_COST);
	assert_true(q.terms[9].dlo == 0.02);
	assert_int_equal(q.terms[10].op, QO_RANGE);
	assert_true(q.terms[10].dlo == 0.01 && q.terms[10].dhi == 0.5);
	assert_int_equal(q.terms[11].field, QF_SEED); /* filter names ignore case */
	query_free(&q);
	parse_ok(&q, "seed:9223372036854775807");
	assert_int_equal(q.terms[0].lo, INT64_MAX);
	query_free(&q);
}

static void test_text_bool_size_filters(void **state)
{
	struct query q;
	static const struct {
		const char *text;
		enum q_field field;
		const char *value;
	} pats[] = {
		{ "model:flux*", QF_MODEL, "flux*" },
		{ "backend:comfy", QF_BACKEND, "comfy" },
		{ "type:comfyui", QF_TYPE, "comfyui" },
		{ "style:cinematic", QF_STYLE, "cinematic" },
		{ "sampler:euler?", QF_SAMPLER, "euler?" },
		{ "tag:\"my tag\"", QF_TAG, "my tag" },
		{ "source:a1111", QF_SOURCE, "a1111" },
		{ "format:jpg", QF_FORMAT, "jpeg" },
		{ "format:PNG", QF_FORMAT, "PNG" },
		{ "path:*2026*", QF_PATH, "*2026*" },
		{ "sha256:ab12*", QF_SHA256, "ab12*" },
		{ "batch:b-1", QF_BATCH, "b-1" },
		{ "parent:out/fox.png", QF_PARENT, "out/fox.png" },
		{ "neg:blurry", QF_NEGATIVE, "blurry" },
		{ "negative:\"low res\"", QF_NEGATIVE, "low res" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		parse_ok(&q, pats[i].text);
		assert_int_equal(q.n, 1);
		assert_int_equal(q.terms[0].field, pats[i].field);
		assert_string_equal(q.terms[0].text, pats[i].value);
		query_free(&q);
	}
	parse_ok(&q, "neg:blur* synced:no missing:YES synced:true -synced:false size:1024x768 "
		     "-tag:draft");
	assert_int_equal(q.n, 7);
	assert_true(q.terms[0].prefix);
	assert_string_equal(q.terms[0].text, "blur");
	assert_int_equal(q.terms[1].field, QF_SYNCED);
	assert_int_equal(q.terms[1].lo, 0);
	assert_int_equal(q.terms[2].field, QF_MISSING);
	assert_int_equal(q.terms[2].lo, 1);
	assert_int_equal(q.terms[3].lo, 1);
	assert_true(q.terms[4].negate);
	assert_int_equal(q.terms[4].lo, 0);
	assert_int_equal(q.terms[5].field, QF_SIZE);
	assert_int_equal(q.terms[5].lo, 1024);
	assert_int_equal(q.terms[5].hi, 768);
	assert_true(q.terms[6].negate);
	assert_int_equal(q.terms[6].field, QF_TAG);
	query_free(&q);
}

static void test_date_filters(void **state)
{
	struct query q;

	(void)state;
	parse_ok(&q, "since:2026-11-01 before:2026-11 date:2026 date:2026-11-24T13:30 "
		     "since:2026-11-24T13:30:05 since:7d since:36h before:2w today -today "
		     "since:yesterday date:today");
	assert_int_equal(q.n, 12);
	assert_int_equal(q.terms[0].field, QF_SINCE);
	assert_int_equal(q.terms[0].date.parts, 3);
	assert_int_equal(q.terms[0].date.y, 2026);
	assert_int_equal(q.terms[0].date.mo, 11);
	assert_int_equal(q.terms[0].date.d, 1);
	assert_int_equal(q.terms[1].field, QF_BEFORE);
	assert_int_equal(q.terms[1].date.parts, 2);
	assert_int_equal(q.terms[2].field, QF_DATE);
	assert_int_equal(q.terms[2].date.parts, 1);
	assert_int_equal(q.terms[3].date.parts, 5);
	assert_int_equal(q.terms[3].date.h, 13);
	assert_int_equal(q.terms[3].date.mi, 30);
	assert_int_equal(q.terms[4].date.parts, 6);
	assert_int_equal(q.terms[4].date.s, 5);
	assert_int_equal(q.terms[5].date.parts, 0);
	assert_int_equal(q.terms[5].date.ago_s, 7 * 86400);
	assert_int_equal(q.terms[6].date.ago_s, 36 * 3600);
	assert_int_equal(q.terms[7].date.ago_s, 14 * 86400);
	assert_int_equal(q.terms[8].field, QF_TODAY);
	assert_int_equal(q.terms[9].field, QF_TODAY);
	assert_true(q.terms[9].negate);
	assert_int_equal(q.terms[10].date.ago_s, -2);
	assert_int_equal(q.terms[11].date.ago_s, -1);
	query_free(&q);
}

static void test_errors_name_their_column(void **state)
{
	(void)state;
	expect_err("sed:42", 1, "unknown filter 'sed' (did you mean 'seed'?)");
	expect_err("red fox modle:flux", 9, "did you mean 'model'?");
	expect_err("zzzz:1", 1, "unknown filter 'zzzz'");
	expect_err("seed:abc", 6, "seed: 'abc' is not an integer");
	expect_err("seed:1.5", 6, "not an integer");
	expect_err("seed:99999999999999999999", 6, "not an integer");
	expect_err("seed:10..x", 10, "seed: 'x' is not an integer");
	expect_err("seed:200..100", 6, "the range 200..100 is empty");
	expect_err("seed:..", 6, "needs at least one end");
	expect_err("seed:", 6, "seed: needs a value");
	expect_err("cost>abc", 6, "cost: 'abc' is not a number");
	expect_err("cost>inf", 6, "not a number");
	expect_err("cost:0.5..0.1", 6, "is empty");
	expect_err("seed:\"42\"", 6, "a number is not quoted");
	expect_err("model>=flux", 6, "model: takes ':' only, not '>='");
	expect_err("tag:\"open", 5, "unterminated quote");
	expect_err("red \"open", 5, "unterminated quote");
	expect_err("\"\"", 1, "an empty phrase");
	expect_err("\"a b\"c", 6, "a space must follow the closing quote");
	expect_err("tag:\"a\"b", 8, "a space must follow the closing quote");
	expect_err("fo\"x", 3, "a quote inside a word");
	expect_err("red -", 5, "'-' needs a word or filter after it");
	expect_err("- red", 1, "'-' needs a word");
	expect_err("red **", 5, "'*' needs a word before it");
	expect_err("f*x", 2, "'*' goes at the end of a word");
	expect_err("neg:b*r", 5, "'*' goes at the end of a word");
	expect_err("neg:*", 5, "'*' goes at the end");
	expect_err("size:1024", 6, "size: expected WIDTHxHEIGHT");
	expect_err("size:0x10", 6, "expected WIDTHxHEIGHT");
	expect_err("synced:maybe", 8, "synced: expected yes or no, not 'maybe'");
	expect_err("since:2026-13-01", 7, "since: '2026-13-01' is not a date");
	expect_err("since:2026-02-30", 7, "is not a date");
	expect_err("since:2026-1-01", 7, "is not a date");
	expect_err("before:2026-11-01T13", 8, "is not a date");
	expect_err("since:7y", 7, "is not a date");
	expect_err("date:7d", 6, "date: takes a calendar date, not '7d'");
	/* columns count characters, not bytes */
	expect_err("caf\xc3\xa9 sed:1", 6, "unknown filter 'sed'");
	expect_err("ok \xff", 4, "not valid UTF-8");
}

/* Compile text at 2026-11-24 13:30 UTC; returns the SQL (caller frees with q_sql_free). */
static void compile_ok(struct q_sql *s, const char *text)
{
	struct query q;
	struct err err = ERR_INIT;

	parse_ok(&q, text);
	if (query_compile(s, &q, (time_t)1795527000, &err) != 0)
		fail_msg("query_compile(\"%s\"): %s", text, err.msg);
	query_free(&q);
}

static void test_compile_text(void **state)
{
	struct q_sql s;

	(void)state;
	compile_ok(&s, "red fox* \"a b\" neg:blurry -cat seed:1..10");
	assert_string_equal(s.fts, "({prompt model tags} : (\"red\" AND \"fox\" * AND \"a b\"))"
				   " AND (negative_prompt : (\"blurry\"))");
	assert_string_equal(s.where, "(images.id NOT IN (SELECT rowid FROM images_fts WHERE "
				     "images_fts MATCH ?)) AND (images.seed BETWEEN ? AND ?)");
	assert_int_equal(s.nparams, 3);
	assert_int_equal(s.params[0].type, 's');
	assert_string_equal(s.params[0].s, "{prompt model tags} : \"cat\"");
	assert_int_equal(s.params[1].i, 1);
	assert_int_equal(s.params[2].i, 10);
	q_sql_free(&s);
}

/* Whatever text reaches the compiler stays an FTS5 string: quotes doubled, never syntax. */
static void test_compile_quotes_text(void **state)
{
	struct q_term t = { .field = QF_TEXT, .text = (char *)"say \"hi\" OR x", .col = 1 };
	struct query q = { &t, 1 };
	struct q_sql s;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(query_compile(&s, &q, 0, &err), 0);
	assert_string_equal(s.fts, "({prompt model tags} : (\"say \"\"hi\"\" OR x\"))");
	q_sql_free(&s);
	t.negate = 1;
	assert_int_equal(query_compile(&s, &q, 0, &err), 0);
	assert_null(s.fts);
	assert_string_equal(s.params[0].s, "{prompt model tags} : \"say \"\"hi\"\" OR x\"");
	q_sql_free(&s);
}

static void test_compile_filters(void **state)
{
	struct q_sql s;

	(void)state;
	compile_ok(&s, "");
	assert_null(s.fts);
	assert_string_equal(s.where, "1");
	assert_int_equal(s.nparams, 0);
	q_sql_free(&s);

	compile_ok(&s, "model:flux* tag:50%_off -backend:mock cost>0.02 size:512x256 synced:no "
		       "width>=1024");
	assert_null(s.fts);
	assert_string_equal(
		s.where,
		"((images.model LIKE ? ESCAPE '\\' OR images.model LIKE ? ESCAPE '\\')) AND "
		"(EXISTS (SELECT 1 FROM image_tags WHERE image_tags.image_id = images.id AND "
		"image_tags.tag LIKE ? ESCAPE '\\')) AND "
		"NOT IFNULL(images.backend LIKE ? ESCAPE '\\', 0) AND "
		"(IFNULL(images.cost_usd, 0) > ?) AND "
		"((images.width = ? AND images.height = ?)) AND (images.synced = ?) AND "
		"(images.width >= ?)");
	assert_int_equal(s.nparams, 9);
	assert_string_equal(s.params[0].s, "flux%");
	assert_string_equal(s.params[1].s, "%/flux%");
	assert_string_equal(s.params[2].s, "50\\%\\_off");
	assert_string_equal(s.params[3].s, "mock");
	assert_int_equal(s.params[4].type, 'd');
	assert_true(s.params[4].d == 0.02);
	assert_int_equal(s.params[5].i, 512);
	assert_int_equal(s.params[6].i, 256);
	assert_int_equal(s.params[7].i, 0);
	assert_int_equal(s.params[8].i, 1024);
	q_sql_free(&s);
}

static void test_compile_dates(void **state)
{
	struct q_sql s;

	(void)state;
	/* now = 2026-11-24 13:30 UTC */
	compile_ok(&s, "since:2026-11-01 before:2027 date:2026-02 today since:7d since:yesterday "
		       "date:2026-11-24T13:30");
	assert_string_equal(s.where, "(images.created_ts >= ?) AND (images.created_ts < ?) AND "
				     "(images.created_ts >= ? AND images.created_ts < ?) AND "
				     "(images.created_ts >= ?) AND (images.created_ts >= ?) AND "
				     "(images.created_ts >= ?) AND "
				     "(images.created_ts >= ? AND images.created_ts < ?)");
	assert_int_equal(s.nparams, 9);
	assert_int_equal(s.params[0].i, 1793491200);             /* 2026-11-01 */
	assert_int_equal(s.params[1].i, 1798761600);             /* 2027-01-01 */
	assert_int_equal(s.params[2].i, 1769904000);             /* 2026-02-01 */
	assert_int_equal(s.params[3].i, 1772323200);             /* 2026-03-01 */
	assert_int_equal(s.params[4].i, 1795478400);             /* today 00:00 */
	assert_int_equal(s.params[5].i, 1795527000 - 7 * 86400); /* 7 days ago */
	assert_int_equal(s.params[6].i, 1795478400 - 86400);     /* yesterday 00:00 */
	assert_int_equal(s.params[7].i, 1795527000);             /* 13:30 */
	assert_int_equal(s.params[8].i, 1795527060);             /* 13:31 */
	q_sql_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_words_phrases_prefixes),
		cmocka_unit_test(test_numeric_filters),
		cmocka_unit_test(test_text_bool_size_filters),
		cmocka_unit_test(test_date_filters),
		cmocka_unit_test(test_errors_name_their_column),
		cmocka_unit_test(test_compile_text),
		cmocka_unit_test(test_compile_quotes_text),
		cmocka_unit_test(test_compile_filters),
		cmocka_unit_test(test_compile_dates),
	};

	return cmocka_run_group_tests(tests, setup_utc, NULL);
}
