/* cmd-tag.c - imagen tag FILE... +TAG -TAG: tags on catalogued images. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/listing.h"

enum { OPT_JSON = 1000 };

static const struct opt_spec tag_opts[] = {
	{ OPT_JSON, "json", 0, ARG_NONE, NULL, "print JSON for machines", HINT_NONE },
	{ 0, NULL, 0, ARG_NONE, NULL, NULL, HINT_NONE },
};

/* -NAME is a tag to remove, not an option, unless it is one of the options tag takes. */
static int is_removal(const char *a)
{
	static const char *const opts[] = { "-h", "-v", "-q", "-c", "-vv", "-vvv", NULL };
	size_t i;

	if (a[0] != '-' || !a[1] || a[1] == '-')
		return 0;
	for (i = 0; opts[i]; i++)
		if (!strcmp(a, opts[i]))
			return 0;
	return 1;
}

static void print_tags(const json_t *row, int json)
{
	const json_t *tags = json_object_get(row, "tags"), *t;
	size_t i;

	if (json) {
		json_t *o =
			json_pack("{s:O, s:O}", "path", json_object_get(row, "path"), "tags", tags);

		cli_print_json(stdout, o, JSON_COMPACT);
		json_decref(o);
		return;
	}
	listing_put(stdout, json_string_value(json_object_get(row, "path")), 0);
	fputc(':', stdout);
	json_array_foreach (tags, i, t) {
		fputc(' ', stdout);
		listing_put(stdout, json_string_value(t), 0);
	}
	fputc('\n', stdout);
}

static int list_all(int json)
{
	struct catalog *c = NULL;
	struct err err = ERR_INIT;
	json_t *tags = NULL, *t;
	size_t i;

	if (listing_open(&c, "tag", 0) < 0)
		return 1;
	if (catalog_tags(&tags, c, &err) < 0) {
		cli_error("tag: %s", err.msg);
		catalog_close(c);
		return 1;
	}
	if (json) {
		cli_print_json(stdout, tags, JSON_COMPACT);
	} else {
		json_array_foreach (tags, i, t) {
			printf("%6lld  ",
			       (long long)json_integer_value(json_object_get(t, "images")));
			listing_put(stdout, json_string_value(json_object_get(t, "tag")), 0);
			fputc('\n', stdout);
		}
	}
	json_decref(tags);
	catalog_close(c);
	return 0;
}

static int cmd_tag(struct global_opts *g, int argc, char **argv)
{
	struct cli_parser p;
	struct catalog *c = NULL;
	struct err err = ERR_INIT;
	const char *arg, **add = NULL, **del = NULL;
	char **rest = NULL, *abs;
	size_t nadd = 0, ndel = 0;
	int i, n = 0, opt, first, rc = 0, json = 0;

	/* take the +TAG and -TAG words out before getopt sees "-draft" as options */
	add = calloc((size_t)argc, sizeof(*add));
	del = calloc((size_t)argc, sizeof(*del));
	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!add || !del || !rest) {
		cli_error("out of memory");
		rc = 1;
		goto out;
	}
	for (i = 0; i < argc; i++) {
		if (i > 0 && argv[i][0] == '+')
			add[nadd++] = argv[i] + 1;
		else if (i > 0 && is_removal(argv[i]))
			del[ndel++] = argv[i] + 1;
		else
			rest[n++] = argv[i];
		if (i > 0 && !strcmp(argv[i], "--")) { /* the rest are files */
			while (++i < argc)
				rest[n++] = argv[i];
		}
	}
	for (i = 0; (size_t)i < nadd; i++)
		if (catalog_tag_check(add[i], &err) < 0) {
			cli_error("tag: %s", err.msg);
			rc = 2;
			goto out;
		}
	if (cli_begin(&p, &commands_tag, g, n, rest) < 0) {
		rc = 2;
		goto out;
	}
	while (!rc && (opt = cli_next(&p, &arg)) != 0) {
		if (opt == -1 || opt == -2)
			rc = opt;
		else if (opt == OPT_JSON)
			json = 1;
	}
	first = cli_optind(&p);
	cli_end(&p);
	if (rc) {
		rc = rc == -2 ? 0 : 2;
		goto out;
	}
	if (first >= n) {
		if (nadd || ndel) {
			cli_error("tag: which image? (imagen tag FILE... +TAG -TAG)");
			rc = 2;
		} else {
			rc = list_all(json);
		}
		goto out;
	}
	if (listing_open(&c, "tag", 1) < 0) {
		rc = 1;
		goto out;
	}
	for (i = first; i < n; i++) {
		json_t *row = NULL;

		if (catalog_ensure(c, rest[i], &abs, &err) < 0 ||
		    ((nadd || ndel) && catalog_tag(c, abs, add, nadd, del, ndel, &err) < 0) ||
		    catalog_get(&row, c, abs, &err) < 0) {
			cli_error("tag: %s", err.msg);
			rc = 1;
		} else if (row && (!g->quiet || json)) {
			print_tags(row, json);
		}
		json_decref(row);
		free(abs);
		abs = NULL;
	}
out:
	catalog_close(c);
	free(add);
	free(del);
	free(rest);
	if (fflush(stdout) != 0 && rc == 0)
		rc = 1;
	return rc;
}

const struct cmd_entry commands_tag = {
	"tag",
	"[--json] [FILE... [+TAG] [-TAG]...]",
	"add and remove tags of images",
	"+TAG adds a tag to every FILE, -TAG removes one; FILE alone prints its tags, and\n"
	"no FILE lists every tag with its count.  Images not catalogued yet are added.  A\n"
	"tag is 1-64 characters without spaces, quotes or commas; tags compare without\n"
	"case.  A file whose name starts with '-' is written ./-NAME.",
	tag_opts,
	cmd_tag,
};
