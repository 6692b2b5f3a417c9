/* testlib.h - helpers the unit tests share: a fake environment, temporary trees, files,
 * JSON and config text.  Header-only (static inline), so each test stays one file. */
#ifndef IMAGEN_TESTLIB_H
#define IMAGEN_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "util/env.h"

/* ---- a fake environment -------------------------------------------------------------------- */

#define TESTLIB_ENV_MAX 16

struct testlib_var {
	const char *name, *value;
};

static inline struct testlib_var *testlib_vars(void)
{
	static struct testlib_var vars[TESTLIB_ENV_MAX];

	return vars;
}

/** Forget every variable of the fake environment. */
static inline void env_reset(void)
{
	memset(testlib_vars(), 0, TESTLIB_ENV_MAX * sizeof(struct testlib_var));
}

/** Set (or replace) a variable of the fake environment; both strings are borrowed. */
static inline void env_set(const char *name, const char *value)
{
	struct testlib_var *v = testlib_vars();
	int i;

	for (i = 0; i < TESTLIB_ENV_MAX; i++) {
		if (!v[i].name || !strcmp(v[i].name, name)) {
			v[i].name = name;
			v[i].value = value;
			return;
		}
	}
	fail_msg("fake environment is full");
}

static inline const char *testlib_env_get(void *ctx, const char *name)
{
	struct testlib_var *v = testlib_vars();
	int i;

	(void)ctx;
	for (i = 0; i < TESTLIB_ENV_MAX && v[i].name; i++)
		if (!strcmp(v[i].name, name))
			return v[i].value;
	return NULL;
}

/** The fake environment as the library takes it. */
static inline const struct env *fake_env(void)
{
	static const struct env e = { testlib_env_get, NULL };

	return &e;
}

/* ---- strings, files, directories ----------------------------------------------------------- */

static inline char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

/** A new empty directory under /tmp (malloc'd path). */
static inline char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/imagen-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

/** rm -r (symbolic links are removed, never followed). */
static inline void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char *p;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(p);
		else
			unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(dir);
}

/** Create or truncate path with data[0..len). */
static inline void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/** The whole file (NUL-terminated, malloc'd) and its length (len may be NULL). */
static inline char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long sz;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	assert_true(sz >= 0);
	rewind(f);
	data = malloc((size_t)sz + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)sz, f), (size_t)sz);
	data[sz] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)sz;
	return data;
}

/* ---- JSON and config ----------------------------------------------------------------------- */

/** JSON text to a value (new reference); bad JSON fails the test. */
static inline json_t *json(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);

	if (!v)
		fail_msg("bad JSON in test: %s: %s", text, jerr.text);
	return v;
}

/** Config text parsed as "t.yaml" (no file: values count as defaults for origins);
 *  a refusal fails the test. */
static inline struct config *parse_text(const char *text)
{
	struct config *cfg = NULL;
	struct err err = ERR_INIT;

	if (config_parse(&cfg, text, strlen(text), "t.yaml", &err) != 0)
		fail_msg("config refused: %s", err.msg);
	return cfg;
}

/** Config text loaded from a real temporary file, so cfg->path is set and origins say
 *  "config file"; a refusal fails the test. */
static inline struct config *load_text_file(const char *text)
{
	char path[] = "/tmp/imagen-test-config-XXXXXX";
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	if (config_load_file(&cfg, path, &err) != 0)
		fail_msg("config refused: %s", err.msg);
	unlink(path);
	assert_non_null(cfg->path);
	return cfg;
}

#endif
