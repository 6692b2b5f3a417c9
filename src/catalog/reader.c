/* reader.c - one image file from disk into what the catalog stores about it. */
#include "catalog/catalog_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/foreign.h"
#include "catalog/probe.h"
#include "core/pngmeta.h"
#include "util/sha256.h"

#define SIDECAR_MAX_BYTES (16u * 1024 * 1024)

/* The whole file (fd already open and fstat'ed as a regular file). */
static int read_all(unsigned char **out, int fd, size_t size, const char *path, struct err *err)
{
	unsigned char *d = malloc(size ? size : 1);
	size_t got = 0;
	ssize_t r;

	if (!d)
		return err_code(err, 1, "%s: out of memory", path);
	while (got < size) {
		r = read(fd, d + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(d);
			return err_code(err, 1, "%s: %s", path,
					r < 0 ? strerror(errno) : "shrank while read");
		}
		got += (size_t)r;
	}
	*out = d;
	return 0;
}

/* An imagen record: a JSON object with a prompt (the sidecar's one required field). */
static json_t *imagen_record(json_t *o)
{
	if (json_is_object(o) && json_is_string(json_object_get(o, "prompt")))
		return o;
	json_decref(o);
	return NULL;
}

/* The sidecar beside path: x.png -> x.json. */
static json_t *load_sidecar(const char *path)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
	char *side = NULL;
	struct stat st;
	json_t *o;

	if (!dot || (slash && dot < slash))
		return NULL;
	if (asprintf(&side, "%.*s.json", (int)(dot - path), path) < 0)
		return NULL;
	o = stat(side, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= SIDECAR_MAX_BYTES
		    ? json_load_file(side, JSON_REJECT_DUPLICATES, NULL)
		    : NULL;
	free(side);
	return imagen_record(o);
}

/* The record of a PNG: its imagen chunk, or what another tool wrote. */
static json_t *png_record(const unsigned char *d, size_t n, const char **source)
{
	struct png_text *texts = NULL;
	size_t ntexts = 0;
	const char *s;
	json_t *r = NULL;

	if (pngmeta_check(d, n, NULL, NULL, NULL) < 0 ||
	    pngmeta_read_text(&texts, &ntexts, d, n, NULL) < 0)
		return NULL;
	if ((s = pngmeta_find(texts, ntexts, "imagen")) &&
	    (r = imagen_record(json_loads(s, JSON_REJECT_DUPLICATES, NULL))))
		*source = "imagen";
	else
		r = foreign_from_png(texts, ntexts, source);
	pngmeta_text_free(texts, ntexts);
	return r;
}

int catalog_read_file(struct catalog_file *f, const char *path, const json_t *sidecar,
		      struct err *err)
{
	char *abs = realpath(path, NULL);

	if (!abs) {
		memset(f, 0, sizeof(*f));
		return err_code(err, 1, "%s: %s", path, strerror(errno));
	}
	return cat_read_abs(f, abs, path, sidecar, err);
}

int cat_read_abs(struct catalog_file *f, char *abs, const char *path, const json_t *sidecar,
		 struct err *err)
{
	struct image_probe pr;
	struct stat st;
	unsigned char *d = NULL;
	int fd;

	memset(f, 0, sizeof(*f));
	f->path = abs;
	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err_code(err, 1, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		err_code(err, 1, "%s: not a regular file", path);
		goto fail;
	}
	if ((unsigned long long)st.st_size > CATALOG_MAX_IMAGE_BYTES) {
		close(fd);
		err_code(err, 1, "%s: too large to catalogue (%lld bytes)", path,
			 (long long)st.st_size);
		goto fail;
	}
	if (read_all(&d, fd, (size_t)st.st_size, path, err) < 0) {
		close(fd);
		goto fail;
	}
	close(fd);
	f->bytes = (long long)st.st_size;
	f->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	sha256_hex(f->sha256, d, (size_t)st.st_size);
	if (image_probe(&pr, d, (size_t)st.st_size) < 0) {
		free(d);
		err_code(err, 1, "%s: not a PNG, JPEG or WebP image", path);
		goto fail;
	}
	f->format = pr.format;
	f->width = pr.width;
	f->height = pr.height;
	f->source = "none";
	if (sidecar) {
		f->record = json_deep_copy(sidecar);
		f->source = "imagen";
	}
	if (!f->record && pr.format && !strcmp(pr.format, "png"))
		f->record = png_record(d, (size_t)st.st_size, &f->source);
	if (!f->record && (f->record = load_sidecar(f->path)))
		f->source = "imagen";
	if (!f->record && pr.exif)
		f->record = foreign_from_exif(pr.exif, pr.exif_len, pr.exif_has_header, &f->source);
	if (!f->record) {
		f->record = json_object();
		f->source = "none";
	}
	free(d);
	if (!f->record) {
		err_code(err, 1, "out of memory");
		goto fail;
	}
	return 0;
fail:
	catalog_file_release(f);
	return -1;
}
