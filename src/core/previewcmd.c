/* previewcmd.c - checking a preview.command template. */
#include "core/previewcmd.h"

#include <string.h>

int preview_check_command(const char *tmpl, struct err *err)
{
	const char *p, *close;
	int has_path = 0;

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
	return 0;
}
