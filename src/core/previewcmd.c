/* previewcmd.c - checking and expanding a preview.command template.  The template is
 * shell text: both follow its quoting the way sh reads it. */
#include "core/previewcmd.h"

#include <string.h>

#include "util/buf.h"

/* Where the shell would be in a template: outside quotes, inside '…' or inside "…". */
enum quote { Q_NONE, Q_SINGLE, Q_DOUBLE };

/* Advance over tmpl[*i] (one character, or a backslash pair), tracking *q as sh does. */
static void quote_step(const char *tmpl, size_t *i, enum quote *q)
{
	char c = tmpl[*i];

	if (*q == Q_SINGLE) {
		if (c == '\'')
			*q = Q_NONE;
	} else if (c == '\\' && tmpl[*i + 1]) {
		(*i)++; /* the escaped character is literal in both other states */
	} else if (c == '"') {
		*q = *q == Q_DOUBLE ? Q_NONE : Q_DOUBLE;
	} else if (c == '\'' && *q == Q_NONE) {
		*q = Q_SINGLE;
	}
	(*i)++;
}

int preview_check_command(const char *tmpl, struct err *err)
{
	const char *p, *close;
	enum quote q = Q_NONE;
	int has_path = 0;
	size_t i = 0;

	if (!*tmpl)
		return err_set(err, "must not be empty (leave it out to use tmux-img, chafa or "
				    "timg)");
	for (p = tmpl; (p = strchr(p, '{')); p = close + 1) {
		close = strchr(p, '}');
		if (!close)
			break;
		if ((size_t)(close - p) == 5 && !strncmp(p, "{path}", 6))
			has_path = 1;
		else if (close - p > 1 &&
			 strspn(p + 1, "abcdefghijklmnopqrstuvwxyz_") == (size_t)(close - p - 1))
			return err_set(err, "unknown placeholder '%.*s' (only {path})",
				       (int)(close - p + 1), p);
	}
	if (!has_path)
		return err_set(err, "'%s' has no {path} (where the image file goes)", tmpl);
	while (tmpl[i])
		quote_step(tmpl, &i, &q);
	if (q != Q_NONE)
		return err_set(err, "'%s' has an unterminated %s quote", tmpl,
			       q == Q_SINGLE ? "'" : "\"");
	return 0;
}

int preview_expand_command(char **out, const char *tmpl, struct err *err)
{
	struct buf b = BUF_INIT;
	enum quote q = Q_NONE;
	size_t i = 0, from;
	int rc = buf_adds(&b, "IMAGEN_IMAGE=$1; export IMAGEN_IMAGE; ");

	*out = NULL;
	while (!rc && tmpl[i]) {
		if (strncmp(tmpl + i, "{path}", 6)) {
			from = i;
			quote_step(tmpl, &i, &q);
			rc = buf_add(&b, tmpl + from, i - from);
			continue;
		}
		if (q == Q_DOUBLE) {
			/* "…{path}…": the quotes are already there */
			rc = buf_adds(&b, "${IMAGEN_IMAGE}");
		} else if (q == Q_SINGLE && b.len && b.data[b.len - 1] == '\'' &&
			   tmpl[i + 6] == '\'') {
			/* a lone '{path}': the user quoted the word; make it a quoted reference */
			b.len--;
			rc = buf_adds(&b, "\"${IMAGEN_IMAGE}\"");
			i++;
			q = Q_NONE;
		} else {
			/* plain text, or '…' text that another shell will run (sh -c '… {path}'):
			 * that shell expands the exported variable itself */
			rc = buf_adds(&b, "\"${IMAGEN_IMAGE}\"");
		}
		i += 6;
	}
	if (rc) {
		buf_release(&b);
		return err_set(err, "out of memory");
	}
	*out = buf_detach(&b, NULL);
	return 0;
}
