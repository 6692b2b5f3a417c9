/* listing.c - catalog records on stdout: a table for people, JSON lines and paths for
 * programs. */
#include "cli/listing.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/utf8.h"

#define DEFAULT_WIDTH 100

int listing_open(struct catalog **out, const char *cmd, int create)
{
	struct err err = ERR_INIT;
	char *path = NULL;

	*out = NULL;
	if (catalog_default_path(&path, env_process(), &err) < 0 ||
	    catalog_open(out, path, create, &err) < 0) {
		cli_error("%s: %s", cmd, err.msg);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

json_t *listing_catalog_row(const char *path)
{
	struct catalog *c = NULL;
	struct err err = ERR_INIT;
	char *db = NULL;
	json_t *row = NULL;

	if (catalog_default_path(&db, env_process(), &err) == 0 &&
	    access(db, F_OK) == 0 && catalog_open(&c, db, 0, &err) == 0 &&
	    catalog_get(&row, c, path, &err) < 0)
		row = NULL;
	catalog_close(c);
	free(db);
	return row;
}

void listing_print_catalog(const json_t *row)
{
	const json_t *tags = json_object_get(row, "tags"), *t;
	int rating = (int)json_integer_value(json_object_get(row, "rating"));
	size_t i;

	if (!row)
		return;
	printf("%-16s %s\n", "catalog",
	       json_is_true(json_object_get(row, "missing")) ? "yes (file marked missing)" : "yes");
	printf("%-16s", "tags");
	json_array_foreach (tags, i, t) {
		fputc(' ', stdout);
		listing_put(stdout, json_string_value(t), 0);
	}
	if (!json_array_size(tags))
		fputs(" (none)", stdout);
	printf("\n%-16s %d%s\n", "rating", rating, rating ? "" : " (none)");
	printf("%-16s ", "synced");
	if (json_is_true(json_object_get(row, "synced"))) {
		fputs("yes, ", stdout);
		listing_put(stdout, json_string_value(json_object_get(row, "storage_path")), 0);
		fputc('\n', stdout);
	} else {
		fputs("no\n", stdout);
	}
	printf("%-16s %s\n", "sha256", json_string_value(json_object_get(row, "sha256")));
}

void listing_synced(const char *image, const char *storage_path, int quiet)
{
	struct catalog *c = NULL;
	struct err err = ERR_INIT;
	char *db = NULL, *abs = NULL;

	if (catalog_default_path(&db, env_process(), &err) < 0 ||
	    catalog_open(&c, db, 1, &err) < 0 || catalog_ensure(c, image, &abs, &err) < 0 ||
	    catalog_set_synced(c, abs, storage_path, &err) < 0) {
		if (!quiet)
			cli_error("warning: catalog: %s (imagen index repairs the catalog)",
				  err.msg);
	}
	catalog_close(c);
	free(abs);
	free(db);
}

int listing_put(FILE *out, const char *s, int max)
{
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)u), i = 0, at;
	uint32_t cp;
	int cols = 0, w;

	while (i < n) {
		at = i;
		if (utf8_next(u, n, &i, &cp) < 0) {
			cp = '?';
			i = at + 1;
		}
		if (cp == '\n' || cp == '\t' || cp == '\r')
			cp = ' ';
		else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			cp = '?'; /* never a control character to the terminal */
		w = g_unichar_iszerowidth(cp) ? 0 : g_unichar_iswide(cp) ? 2 : 1;
		if (max > 0 && cols + w > max - (i < n ? 1 : 0)) {
			fputs("\xe2\x80\xa6", out); /* … */
			return cols + 1;
		}
		cols += w;
		if (cp == '?' || cp == ' ')
			fputc((int)cp, out);
		else
			fwrite(u + at, 1, i - at, out);
	}
	return cols;
}

/* A table cell: s cut to width columns, padded to it. */
static void cell(const char *s, int width)
{
	int n = listing_put(stdout, s, width);

	printf("%*s", width > n ? width - n : 0, "");
}

static int term_width(void)
{
	struct winsize ws;
	const char *c = getenv("COLUMNS");

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	if (c && atoi(c) > 0)
		return atoi(c);
	return DEFAULT_WIDTH;
}

void listing_begin(struct listing *l, enum listing_mode mode, long long cap)
{
	memset(l, 0, sizeof(*l));
	l->mode = mode;
	l->tty = isatty(STDOUT_FILENO);
	l->width = l->tty ? term_width() : 0;
	l->cap = mode == LIST_TABLE ? cap : 0;
}

static const char *str(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s ? s : "";
}

static void print_table_row(struct listing *l, const json_t *rec)
{
	const json_t *seed = json_object_get(rec, "seed");
	time_t t = (time_t)json_integer_value(json_object_get(rec, "created_ts"));
	const char *path = str(rec, "path");
	char date[32] = "", seedtxt[24] = "-";
	struct tm tm;
	int pw = 0;

	if (localtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
	if (json_is_integer(seed))
		snprintf(seedtxt, sizeof(seedtxt), "%lld", (long long)json_integer_value(seed));
	if (l->width) {
		/* date 16, backend 12, seed 11, gaps: the prompt takes what the path leaves */
		pw = l->width - 16 - 2 - 12 - 2 - 11 - 2 - 2 - (int)strlen(path);
		if (pw < 24)
			pw = 24;
	}
	printf("%-16s  ", date);
	/* another tool's image has no backend: say which tool */
	cell(*str(rec, "backend") ? str(rec, "backend") : str(rec, "source"), 12);
	printf("  %11s  ", seedtxt);
	if (pw)
		cell(str(rec, "prompt"), pw);
	else
		listing_put(stdout, str(rec, "prompt"), 0);
	fputs("  ", stdout);
	listing_put(stdout, path, 0);
	if (json_is_true(json_object_get(rec, "missing")))
		fputs("  (missing)", stdout);
	fputc('\n', stdout);
}

int listing_row(const json_t *rec, void *arg)
{
	struct listing *l = arg;
	const char *path = str(rec, "path");
	json_t *out;

	if (l->cap && l->rows >= l->cap) {
		l->more = 1;
		return 1; /* stop: the table is full */
	}
	switch (l->mode) {
	case LIST_JSON:
		/* the sidecar's names; created_ts is the catalog's own sorting key */
		out = json_deep_copy(rec);
		json_object_del(out, "created_ts");
		cli_print_json(stdout, out, JSON_COMPACT | JSON_REAL_PRECISION(12));
		json_decref(out);
		break;
	case LIST_PATHS:
		if (l->tty)
			listing_put(stdout, path, 0);
		else
			fputs(path, stdout);
		fputc('\n', stdout);
		break;
	case LIST_NUL:
		fputs(path, stdout);
		fputc('\0', stdout);
		break;
	default:
		if (!l->rows && l->tty)
			printf("%-16s  %-12s  %11s  %s\n", "date", "backend", "seed",
			       "prompt  path");
		print_table_row(l, rec);
		break;
	}
	l->rows++;
	return 0;
}

void listing_end(struct listing *l)
{
	if (l->more)
		printf("(the first %lld shown; --limit N or --limit 0 for more)\n", l->cap);
}

#define NEGATION_MARK '\x01' /* stands for the '-' of a query word during getopt */

void listing_mark_negations(int argc, char **argv, const char *flags, const char *valued)
{
	int i;

	for (i = 1; i < argc; i++) {
		char *a = argv[i];
		size_t k;

		if (a[0] != '-' || !a[1] || a[1] == '-')
			continue;
		if (!strcmp(a, "--"))
			break;
		if (strspn(a + 1, flags) == strlen(a + 1))
			continue; /* -v, -vv, -0 */
		if (strchr(valued, a[1]) && !a[2]) {
			i++; /* -n 5, -c FILE: the value is the option's */
			continue;
		}
		if (a[1] == 'n') {
			for (k = 2; a[k] >= '0' && a[k] <= '9'; k++)
				;
			if (k > 2 && !a[k])
				continue; /* -n20 */
		}
		a[0] = NEGATION_MARK;
	}
}

char *listing_join(int argc, char **argv, int first)
{
	size_t n = 1;
	char *s;
	int i;

	for (i = first; i < argc; i++)
		n += strlen(argv[i]) + 1;
	s = malloc(n);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (i = first; i < argc; i++) {
		if (i > first)
			strcat(s, " ");
		if (argv[i][0] == NEGATION_MARK)
			argv[i][0] = '-';
		strcat(s, argv[i]);
	}
	return s;
}

int listing_option(struct listing_args *a, const char *cmd, int id, const char *arg)
{
	size_t i;

	switch (id) {
	case LOPT_JSON:
		a->mode = LIST_JSON;
		return 1;
	case LOPT_PATHS:
		a->mode = LIST_PATHS;
		return 1;
	case LOPT_NUL:
		a->mode = LIST_NUL;
		return 1;
	case LOPT_LIMIT:
		a->has_limit = 1;
		return cli_parse_int("--limit", arg, 0, 1000000000, &a->limit) < 0 ? -1 : 1;
	case LOPT_SORT:
		for (i = 0; catalog_sorts[i] && strcmp(catalog_sorts[i], arg); i++)
			;
		if (!catalog_sorts[i]) {
			cli_error(
				"%s: --sort: unknown order '%s' (date, oldest, seed, rating, cost, "
				"path or relevance)",
				cmd, arg);
			return -1;
		}
		a->sort = arg;
		return 1;
	default:
		return 0;
	}
}

int listing_search(const char *cmd, const char *text, const struct listing_args *a,
		   long long table_cap, long long *rows)
{
	struct catalog *c = NULL;
	struct query q;
	struct listing l;
	struct err err = ERR_INIT;
	struct catalog_search s;
	long long cap = a->has_limit ? a->limit : table_cap;
	int rc;

	*rows = 0;
	if (query_parse(&q, text, NULL, &err) < 0) {
		cli_error("%s: %s", cmd, err.msg);
		return 2;
	}
	if (catalog_query_resolve(&q, &err) < 0) {
		cli_error("%s: %s", cmd, err.msg);
		query_free(&q);
		return err.code == 2 ? 2 : 1;
	}
	if (listing_open(&c, cmd, 0) < 0) {
		query_free(&q);
		return 1;
	}
	listing_begin(&l, a->mode, cap);
	s = (struct catalog_search){ &q, a->sort, 0, time(NULL) };
	if (a->mode == LIST_TABLE)
		s.limit = cap ? cap + 1 : 0; /* one more tells whether there are more */
	else
		s.limit = a->has_limit ? a->limit : 0;
	rc = catalog_search(c, &s, listing_row, &l, &err);
	if (rc < 0) {
		cli_error("%s: %s", cmd, err.msg);
		rc = err.code == 2 ? 2 : 1;
	} else {
		listing_end(&l);
		*rows = l.rows;
		rc = 0;
	}
	query_free(&q);
	catalog_close(c);
	return rc;
}
