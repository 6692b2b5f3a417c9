/* foreign.h - the metadata other tools write into their images, read into a record with
 * imagen's sidecar field names (prompt, negative_prompt, model, seed, steps, sampler,
 * cfg, width, height) so the catalog can search them like its own.
 *
 *   AUTOMATIC1111 / Forge   PNG text `parameters`; JPEG/WebP EXIF UserComment
 *   ComfyUI                 PNG text `prompt` (API graph), else `workflow` (UI graph)
 *   InvokeAI                PNG text `invokeai_metadata` (3.x+), `sd-metadata` (2.x)
 *   NovelAI                 PNG text `Comment` (JSON), `Source` (model), `Description`
 *
 * Every function here is pure and safe on any input: text that does not parse, or
 * parses to something of the wrong shape, gives NULL (nothing recognised), never an
 * error.  Records are new references.
 */
#ifndef IMAGEN_FOREIGN_H
#define IMAGEN_FOREIGN_H

#include <jansson.h>
#include <stddef.h>

#include "core/pngmeta.h"

/** The first of the tools above whose chunks are present and parse, in that order;
 *  *source gets its name ("a1111", "comfyui", "invokeai", "novelai"). */
json_t *foreign_from_png(const struct png_text *texts, size_t n, const char **source);

/** A1111's parameters text in an EXIF block (what image_probe() found); *source "a1111". */
json_t *foreign_from_exif(const unsigned char *exif, size_t len, int has_header,
			  const char **source);

/** The parsers, one per tool (exposed for tests). */
json_t *foreign_a1111(const char *parameters);
json_t *foreign_comfyui(const char *prompt, const char *workflow); /* either may be NULL */
json_t *foreign_invokeai(const char *metadata, int legacy);        /* legacy: sd-metadata */
json_t *foreign_novelai(const char *comment, const char *source, const char *description);

/**
 * The EXIF UserComment as UTF-8 (malloc'd), or NULL: parsed with libexif from an EXIF
 * block with or without the "Exif\0\0" header.  The 8-byte character code is honoured:
 * ASCII (taken as UTF-8 when valid), UNICODE (UTF-16: a byte-order mark, else the byte
 * order its zero bytes show, else the EXIF block's), undefined (UTF-8 when valid).
 * Invalid sequences become U+FFFD.
 */
char *foreign_exif_user_comment(const unsigned char *exif, size_t len, int has_header);

#endif
