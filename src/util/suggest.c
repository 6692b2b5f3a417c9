/* suggest.c - "did you mean": edit distance and abbreviations. */
#include "util/suggest.h"

#include <stdlib.h>
#include <string.h>

size_t suggest_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, w, v, best;
	size_t *d;

	if (la > 256 || lb > 256) /* keys are short; don't spend time on garbage */
		return la > lb ? la : lb;
	w = lb + 1;
	d = malloc((la + 1) * w * sizeof(*d));
	if (!d)
		return la > lb ? la : lb;
	for (i = 0; i <= la; i++)
		d[i * w] = i;
	for (j = 0; j <= lb; j++)
		d[j] = j;
	/* optimal string alignment: a swapped pair ("mokc") is one edit, as people type */
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			best = d[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1]);
			if ((v = d[(i - 1) * w + j] + 1) < best)
				best = v;
			if ((v = d[i * w + j - 1] + 1) < best)
				best = v;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    (v = d[(i - 2) * w + j - 2] + 1) < best)
				best = v;
			d[i * w + j] = best;
		}
	}
	best = d[la * w + lb];
	free(d);
	return best;
}

/* The one candidate that starts with word, NULL when none or several do. */
static const char *unique_prefix(const char *word, const char *const *candidates)
{
	const char *found = NULL;
	size_t wl = strlen(word);

	for (; candidates && *candidates; candidates++) {
		if (strncmp(*candidates, word, wl) || !(*candidates)[wl])
			continue;
		if (found)
			return NULL;
		found = *candidates;
	}
	return found;
}

const char *suggest_closest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1, d, wl = strlen(word);

	for (const char *const *c = candidates; c && *c; c++) {
		d = suggest_distance(word, *c);
		if (d < best_d) {
			best_d = d;
			best = *c;
		}
	}
	if (best && best_d <= 2 && best_d * 2 < wl + (wl == 1))
		return best;
	/* an abbreviation ("gen" for generate) is as plausible as a typo, when it names one */
	return wl >= SUGGEST_PREFIX_MIN ? unique_prefix(word, candidates) : NULL;
}
