/* output.h - file naming, atomic writes, the record of what was written. */
#ifndef IMAGEN_OUTPUT_H
#define IMAGEN_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "util/err.h"

#define SLUG_MAX 40

/**
 * What one generation wrote.  Filled in two steps: output_clock() takes the single
 * clock reading every name and timestamp derives from; output_write() fills the
 * paths.  The later cloud step reuses it so the storage path mirrors the local name.
 */
struct gen_record {
	struct timespec when; /* the one clock reading */
	char date[11];        /* YYYY-MM-DD, local time */
	char time[7];         /* HHMMSS, local time */
	char iso[32];         /* 2026-11-24T03:58:04+01:00 */
	char slug[SLUG_MAX + 1];
	int64_t seed;
	char backend[64]; /* instance name (for {backend}) */
	char ext[8];      /* "png" */

	char *dir;          /* output directory, ~ expanded (malloc'd) */
	char *rel_path;     /* image path relative to dir (the rendered template) */
	char *image_path;   /* dir/rel_path */
	char *file_name;    /* basename of image_path */
	char *sidecar_path; /* NULL when no sidecar was written */
	size_t bytes;       /* image size */
};

/** Take the clock reading and fill date/time/iso. */
void output_clock(struct gen_record *rec, const struct timespec *now);

/**
 * The slug of a prompt: Latin letters transliterated to ASCII (é -> e, ß -> ss, the same
 * whatever the locale), lowercased ASCII alphanumerics kept, every other run collapsed to
 * one '-', trimmed, at most SLUG_MAX characters.  When nothing is left (a script with no
 * ASCII form, or only punctuation) "image-" and the first 8 hex digits of the prompt's
 * SHA-256; "image" for an empty or NULL prompt.
 */
void output_slug(char out[SLUG_MAX + 1], const char *prompt);

/** Check a naming template: known placeholders only, relative, no "." or ".."
 *  segments, no empty segments.  The message names the problem. */
int output_check_template(const char *tmpl, struct err *err);

/** Render the template with rec's values (values are neutralised: '/' and leading
 *  dots cannot escape).  Appends ".{ext}" when the last segment has no extension.
 *  *out is malloc'd. */
int output_render_name(char **out, const char *tmpl, const struct gen_record *rec, struct err *err);

/** Expand a leading ~ or ~/ with $HOME and make a relative path absolute.  *out is malloc'd. */
int output_expand_dir(char **out, const char *dir, struct err *err);

/** mkdir -p. */
int output_mkdirs(const char *dir, struct err *err);

/**
 * Write the image (the pieces iov[0..iovcnt) in order: one for a plain buffer, several
 * from pngmeta_splice()) and, when sidecar is non-NULL, the sidecar text under dir
 * using the rendered template.  The template's directories are created under dir as
 * needed and entered with openat(O_NOFOLLOW): a symbolic link inside dir is refused, never
 * followed (dir itself may be one).  Each file goes to a temporary name in the same directory,
 * is fsync'd and renamed without replacing anything: on a clash "-1", "-2", … are
 * put before the extension (the image and its sidecar share the suffix).  Fills the
 * paths in rec.  If the image lands but the sidecar fails, rec->image_path is set,
 * rec->sidecar_path is NULL, and -1 is returned: the image stays on disk.
 */
int output_write(struct gen_record *rec, const char *dir, const char *tmpl, const struct iovec *iov,
		 int iovcnt, const char *sidecar, struct err *err);

/** Write data to path atomically, never replacing an existing file (EEXIST fails). */
int output_write_new(const char *path, const void *data, size_t len, struct err *err);

void gen_record_release(struct gen_record *rec);

#endif
