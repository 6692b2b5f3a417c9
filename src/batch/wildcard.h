/* wildcard.h - prompt templates: {a|b|c} and __name__ lists, picked from a seed.
 *
 * Syntax
 *   {red|green|blue}   one of the alternatives; alternatives may be empty and may hold
 *                      further {…} and __name__ (nesting up to WILDCARD_MAX_DEPTH)
 *   __colors__         one line of colors.txt in the wildcards folder; nested names
 *                      such as __animals/birds__ name animals/birds.txt.  A name is
 *                      letters, digits, '_', '-', '.', '/' and bytes >= 0x80; text that
 *                      does not read as a name (a space inside, no closing "__") is
 *                      plain text.  A name may not leave the folder: no absolute path,
 *                      no "." or ".." segment, no empty segment.  Symbolic links the
 *                      user placed inside the folder are followed.
 *   \{ \} \| \\ \_     the character itself (any other backslash stays as written)
 * A list file holds one entry per line; blank lines and lines starting with '#' are
 * skipped, surrounding white space is trimmed, and entries may hold wildcards themselves.
 *
 * Determinism: choices are numbered k = 0, 1, 2, … in the order they are made (left to
 * right; a chosen alternative or line is expanded before the text after it).  Choice k
 * among n options takes option  batch_mix64(batch_mix64(seed) + k) mod n.  So the same
 * template, seed and list files always give the same prompt, and a new seed a new one.
 */
#ifndef IMAGEN_BATCH_WILDCARD_H
#define IMAGEN_BATCH_WILDCARD_H

#include <stddef.h>
#include <stdint.h>

#include "util/env.h"
#include "util/err.h"

#define WILDCARD_MAX_DEPTH 32           /* nested braces plus lists naming lists */
#define WILDCARD_FILE_MAX (1024 * 1024) /* bytes of one list file */

/** A wildcards folder and the lists read from it so far (each file is read once).
 *  Not thread-safe: resolve a batch before its jobs run. */
struct wildcards;

/** A set reading lists from dir (copied; NULL: no folder, every __name__ fails unless
 *  defined with wildcards_define). */
int wildcards_new(struct wildcards **out, const char *dir, struct err *err);
void wildcards_free(struct wildcards *w);

/** The folder: $XDG_CONFIG_HOME/imagen/wildcards when XDG_CONFIG_HOME is absolute, else
 *  $HOME/.config/imagen/wildcards.  env is env_process() in production.  *out malloc'd. */
int wildcards_default_dir(char **out, const struct env *env, struct err *err);

/** Define list `name` from text (one entry per line, as in a file), in place of the file
 *  (tests, fuzzing, lists given inline).  Refuses an invalid name or an empty list. */
int wildcards_define(struct wildcards *w, const char *name, const char *text, size_t len,
		     struct err *err);

/** 1 when text holds wildcard syntax ({, }, a backslash escape or a __name__), else 0. */
int wildcards_present(const char *text);

/**
 * Resolve text with the choices derived from seed.  *out is malloc'd.  Errors (code 2)
 * name the problem and its column in text: "'{' at column 4 is never closed",
 * "wildcard '__colors__': no list /home/u/.config/imagen/wildcards/colors.txt (No such
 * file or directory)", "wildcard '__../x__': the name leaves the wildcards folder".
 */
int wildcards_pick(char **out, struct wildcards *w, const char *text, int64_t seed,
		   struct err *err);

/**
 * Every combination of text's choices (first choice varying slowest), at most max of
 * them (more is refused, code 2).  *out is a malloc'd array of *n malloc'd strings,
 * freed with wildcards_strings_free.
 */
int wildcards_expand(char ***out, size_t *n, struct wildcards *w, const char *text, size_t max,
		     struct err *err);
void wildcards_strings_free(char **v, size_t n);

#endif
