/* test_batch_wildcard.c - {a|b} and __name__ wildcards: syntax, determinism, lists, limits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/job.h"
#include "batch/wildcard.h"

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char sub[128];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/imagen-wc-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sub, sizeof(sub), "%s/animals", dir);
	mkdir(sub, 0700);
	put("colors.txt", "# colours\nred\n\n  green  \r\nblue\n");
	put("animals/birds.txt", "owl\n{tiny|big} wren\n");
	put("mood.txt", "__colors__ mood\n");
	put("loop.txt", "again __loop__\n");
	put("empty.txt", "# nothing\n\n");
	put("bad.txt", "fine\n{open\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static char *pick(const char *text, int64_t seed)
{
	struct wildcards *w;
	struct err err = ERR_INIT;
	char *out = NULL;

	assert_int_equal(wildcards_new(&w, dir, &err), 0);
	if (wildcards_pick(&out, w, text, seed, &err) != 0)
		fail_msg("wildcards_pick(%s) refused: %s", text, err.msg);
	wildcards_free(w);
	return out;
}

static void assert_pick(const char *text, int64_t seed, const char *want)
{
	char *got = pick(text, seed);

	assert_string_equal(got, want);
	free(got);
}

static void assert_pick_refused(const char *text, const char *want)
{
	struct wildcards *w;
	struct err err = ERR_INIT;
	char *out = (char *)"untouched";

	assert_int_equal(wildcards_new(&w, dir, &err), 0);
	assert_int_equal(wildcards_pick(&out, w, text, 1, &err), -1);
	assert_null(out);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, want);
	wildcards_free(w);
}

/* Option chosen by choice k for seed among n, per the documented rule. */
static size_t rule(int64_t seed, uint64_t k, size_t n)
{
	return (size_t)(batch_mix64(batch_mix64((uint64_t)seed) + k) % n);
}

static void test_choice_follows_the_documented_rule(void **state)
{
	static const char *const opts[] = { "red", "green", "blue" };
	static const char *const sizes[] = { "small", "large" };
	int seen[3] = { 0, 0, 0 };
	int64_t seed;

	(void)state;
	for (seed = 0; seed < 64; seed++) {
		char want[64], *got = pick("a {red|green|blue} {small|large} car", seed);

		snprintf(want, sizeof(want), "a %s %s car", opts[rule(seed, 0, 3)],
			 sizes[rule(seed, 1, 2)]);
		assert_string_equal(got, want);
		seen[rule(seed, 0, 3)]++;
		/* the same seed gives the same prompt */
		assert_pick("a {red|green|blue} {small|large} car", seed, got);
		free(got);
	}
	/* every alternative is reachable */
	assert_true(seen[0] && seen[1] && seen[2]);
}

static void test_syntax(void **state)
{
	int64_t seed;

	(void)state;
	assert_pick("no wildcards at all", 3, "no wildcards at all");
	assert_pick("a|b outside braces", 3, "a|b outside braces");
	assert_pick("{only}", 3, "only");
	assert_pick("\\{literal\\} \\| \\\\ \\_\\_x__ C:\\path", 3,
		    "{literal} | \\ __x__ C:\\path");
	assert_pick("snake_case and __ spaced __ text", 3, "snake_case and __ spaced __ text");
	/* nested: the chosen alternative is expanded (choice 1 happens only inside) */
	for (seed = 0; seed < 32; seed++) {
		char *got = pick("{a {x|y}|b}", seed);

		if (rule(seed, 0, 2) == 0)
			assert_string_equal(got, rule(seed, 1, 2) ? "a y" : "a x");
		else
			assert_string_equal(got, "b");
		free(got);
	}
	/* an empty alternative is allowed */
	for (seed = 0; seed < 8; seed++) {
		char *got = pick("x{|!}", seed);

		assert_string_equal(got, rule(seed, 0, 2) ? "x!" : "x");
		free(got);
	}
	assert_true(wildcards_present("{a|b}"));
	assert_true(wildcards_present("a __colors__"));
	assert_true(wildcards_present("\\_"));
	assert_false(wildcards_present("snake_case __not a name__ x"));
	assert_false(wildcards_present("plain | pipe"));
}

static void test_lists(void **state)
{
	static const char *const colors[] = { "red", "green", "blue" };
	int64_t seed;

	(void)state;
	for (seed = 0; seed < 16; seed++) {
		char want[64], *got = pick("a __colors__ door", seed);

		snprintf(want, sizeof(want), "a %s door", colors[rule(seed, 0, 3)]);
		assert_string_equal(got, want);
		free(got);

		/* nested folder; an entry holding a choice takes the next choice number */
		got = pick("__animals/birds__", seed);
		if (rule(seed, 0, 2) == 0)
			assert_string_equal(got, "owl");
		else
			assert_string_equal(got, rule(seed, 1, 2) ? "big wren" : "tiny wren");
		free(got);

		/* a list naming a list */
		got = pick("__mood__", seed);
		snprintf(want, sizeof(want), "%s mood", colors[rule(seed, 1, 3)]);
		assert_string_equal(got, want);
		free(got);
	}
}

static void test_refusals(void **state)
{
	char want[512];

	(void)state;
	snprintf(want, sizeof(want), "wildcard '__nope__': %s/nope.txt: No such file or directory",
		 dir);
	assert_pick_refused("a __nope__ b", want);
	snprintf(want, sizeof(want),
		 "wildcard '__animals/cats__': %s/animals/cats.txt: No such "
		 "file or directory",
		 dir);
	assert_pick_refused("__animals/cats__", want);
	assert_pick_refused("x __../etc/passwd__",
			    "wildcard '__../etc/passwd__' at column 3: the name leaves the "
			    "wildcards folder");
	assert_pick_refused("__/etc/passwd__", "wildcard '__/etc/passwd__' at column 1: the name "
					       "leaves the wildcards folder");
	assert_pick_refused("__a//b__", "wildcard '__a//b__' at column 1: the name leaves the "
					"wildcards folder");
	assert_pick_refused("__./x__", "wildcard '__./x__' at column 1: the name leaves the "
				       "wildcards folder");
	assert_pick_refused("caf\xc3\xa9 {a|b", "'{' at column 6 is never closed");
	assert_pick_refused("a} b", "'}' at column 2 has no matching '{'");
	assert_pick_refused("__loop__", "wildcard '__loop__' at column 7 nests deeper than 32 "
					"levels (does a list name itself?)");
	snprintf(want, sizeof(want), "wildcard '__empty__': %s/empty.txt has no entries", dir);
	assert_pick_refused("__empty__", want);
	/* a broken entry names its file and line (only when that entry is picked) */
	{
		struct wildcards *w;
		struct err err = ERR_INIT;
		char **v;
		size_t n;

		assert_int_equal(wildcards_new(&w, dir, &err), 0);
		assert_int_equal(wildcards_expand(&v, &n, w, "__bad__", 10, &err), -1);
		snprintf(want, sizeof(want),
			 "wildcard '__bad__': %s/bad.txt:2: '{' at column 1 is never closed", dir);
		assert_string_equal(err.msg, want);
		wildcards_free(w);
	}
	{
		char deep[80];

		memset(deep, '{', 40);
		deep[40] = '\0';
		assert_pick_refused(deep, "'{' at column 33 nests deeper than 32 levels");
	}
	/* no folder at all */
	{
		struct wildcards *w;
		struct err err = ERR_INIT;
		char *out;

		assert_int_equal(wildcards_new(&w, NULL, &err), 0);
		assert_int_equal(wildcards_pick(&out, w, "__colors__", 1, &err), -1);
		assert_string_equal(err.msg, "wildcard '__colors__': no wildcards folder");
		assert_int_equal(wildcards_define(w, "../up", "x", 1, &err), -1);
		assert_string_equal(err.msg, "wildcard '__../up__': the name leaves the wildcards "
					     "folder");
		assert_int_equal(wildcards_define(w, "a b", "x", 1, &err), -1);
		assert_int_equal(wildcards_define(w, "colors", "one\ntwo", 7, &err), 0);
		assert_int_equal(wildcards_define(w, "colors", "x", 1, &err), -1);
		assert_string_equal(err.msg, "wildcard '__colors__' is defined twice");
		assert_int_equal(wildcards_pick(&out, w, "__colors__", 1, &err), 0);
		assert_true(!strcmp(out, "one") || !strcmp(out, "two"));
		free(out);
		wildcards_free(w);
	}
}

static void test_expand_all(void **state)
{
	struct wildcards *w;
	struct err err = ERR_INIT;
	char **v;
	size_t n;

	(void)state;
	assert_int_equal(wildcards_new(&w, dir, &err), 0);
	assert_int_equal(wildcards_expand(&v, &n, w, "{a|b} __colors__ {x|}", 100, &err), 0);
	assert_int_equal(n, 12);
	assert_string_equal(v[0], "a red x");
	assert_string_equal(v[1], "a red ");
	assert_string_equal(v[2], "a green x");
	assert_string_equal(v[11], "b blue ");
	wildcards_strings_free(v, n);

	assert_int_equal(wildcards_expand(&v, &n, w, "__animals/birds__!", 100, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "owl!");
	assert_string_equal(v[1], "tiny wren!");
	assert_string_equal(v[2], "big wren!");
	wildcards_strings_free(v, n);

	assert_int_equal(wildcards_expand(&v, &n, w, "plain", 1, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "plain");
	wildcards_strings_free(v, n);

	assert_int_equal(wildcards_expand(&v, &n, w, "{a|b} __colors__", 5, &err), -1);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "the prompt has more than 5 combinations");
	assert_null(v);
	/* 2^20 combinations stop at the cap without building them all */
	assert_int_equal(wildcards_expand(&v, &n, w,
					  "{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}"
					  "{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}{a|b}",
					  1000, &err),
			 -1);
	assert_string_equal(err.msg, "the prompt has more than 1000 combinations");
	wildcards_free(w);
}

static const char *env_xdg, *env_home;

static const char *fake_get(void *ctx, const char *name)
{
	(void)ctx;
	if (!strcmp(name, "XDG_CONFIG_HOME"))
		return env_xdg;
	if (!strcmp(name, "HOME"))
		return env_home;
	return NULL;
}

static const struct env fake_env = { fake_get, NULL };

static void test_default_dir(void **state)
{
	struct err err = ERR_INIT;
	char *d;

	(void)state;
	env_xdg = "/x/config";
	env_home = "/home/u";
	assert_int_equal(wildcards_default_dir(&d, &fake_env, &err), 0);
	assert_string_equal(d, "/x/config/imagen/wildcards");
	free(d);
	env_xdg = "relative/ignored";
	assert_int_equal(wildcards_default_dir(&d, &fake_env, &err), 0);
	assert_string_equal(d, "/home/u/.config/imagen/wildcards");
	free(d);
	env_xdg = env_home = NULL;
	assert_int_equal(wildcards_default_dir(&d, &fake_env, &err), -1);
	assert_null(d);
	assert_int_equal(err.code, 2);
	assert_string_equal(err.msg, "wildcards: neither XDG_CONFIG_HOME nor HOME is set");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choice_follows_the_documented_rule),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_expand_all),
		cmocka_unit_test(test_default_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
