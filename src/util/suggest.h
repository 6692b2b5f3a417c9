/* suggest.h - "did you mean …?" for misspelt keys, names and commands. */
#ifndef IMAGEN_SUGGEST_H
#define IMAGEN_SUGGEST_H

#include <stddef.h>

/** Edit distance between a and b (optimal string alignment: insertions, deletions,
 *  substitutions and adjacent transpositions each cost 1; byte-wise, case-sensitive). */
size_t suggest_distance(const char *a, const char *b);

/* An abbreviation is suggested from this many characters on ("gen", not "ge"). */
#define SUGGEST_PREFIX_MIN 3

/**
 * The candidate closest to word when it is close enough to be a plausible typo
 * (distance <= 2, and less than half the word's length), else the one candidate word
 * abbreviates (a prefix of at least SUGGEST_PREFIX_MIN characters that starts no other
 * candidate), else NULL.  candidates is NULL-terminated; the result is borrowed from it.
 */
const char *suggest_closest(const char *word, const char *const *candidates);

#endif
