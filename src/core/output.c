/* output.c - naming templates, atomic no-replace writes, the generation record. */
#include "core/output.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib.h>

#include "util/buf.h"
#include "util/sha256.h"
#include "util/utf8.h"

/* Leave room in a 255-byte name for "-NNNN", the extension and the temporary prefix. */
#define SEGMENT_MAX 200
#define COLLISION_MAX 10000

static const char *const placeholders[] = {
	"date", "time", "slug", "seed", "backend", "ext", NULL
};

void output_clock(struct gen_record *rec, const struct timespec *now)
{
	struct tm tm;
	long off;
	char base[24];

	rec->when = *now;
	localtime_r(&now->tv_sec, &tm);
	strftime(rec->date, sizeof(rec->date), "%Y-%m-%d", &tm);
	strftime(rec->time, sizeof(rec->time), "%H%M%S", &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	off = labs(tm.tm_gmtoff) / 60 % (24 * 60); /* whole minutes; offsets stay under a day */
	snprintf(rec->iso, sizeof(rec->iso), "%.19s%c%02d:%02d", base, tm.tm_gmtoff < 0 ? '-' : '+',
		 (int)(off / 60), (int)(off % 60));
}

/* The ASCII form of a prompt: Latin letters transliterated (é -> e, ß -> ss, Œ -> OE) by
 * GLib's table, fixed to the C locale so a name never depends on the user's LANG; what has
 * no ASCII form becomes '?', and bytes that are not UTF-8 become U+FFFD first.  g_free(). */
static char *ascii_form(const char *prompt)
{
	char *valid, *ascii;

	if (utf8_valid((const unsigned char *)prompt, strlen(prompt), NULL))
		return g_str_to_ascii(prompt, "C");
	valid = g_utf8_make_valid(prompt, -1);
	ascii = g_str_to_ascii(valid, "C");
	g_free(valid);
	return ascii;
}

void output_slug(char out[SLUG_MAX + 1], const char *prompt)
{
	char *ascii = prompt && *prompt ? ascii_form(prompt) : NULL, hex[65];
	const char *p;
	size_t n = 0;
	int dash = 0;
	unsigned char c;

	for (p = ascii; p && *p && n < SLUG_MAX; p++) {
		c = (unsigned char)*p;
		if (c < 0x80 && isalnum(c)) {
			if (dash && n > 0) {
				if (n + 1 >= SLUG_MAX)
					break;
				out[n++] = '-';
			}
			dash = 0;
			out[n++] = (char)tolower(c);
		} else {
			dash = 1;
		}
	}
	g_free(ascii);
	while (n > 0 && out[n - 1] == '-')
		n--;
	out[n] = '\0';
	if (n)
		return;
	if (!prompt || !*prompt) {
		strcpy(out, "image");
		return;
	}
	/* nothing with an ASCII form (東京の夜景, or only punctuation): a short hash of the
	 * prompt keeps different prompts apart and the same prompt under one name */
	sha256_hex(hex, prompt, strlen(prompt));
	snprintf(out, SLUG_MAX + 1, "image-%.8s", hex);
}

static int is_placeholder(const char *name, size_t len)
{
	size_t i;

	for (i = 0; placeholders[i]; i++)
		if (strlen(placeholders[i]) == len && !strncmp(placeholders[i], name, len))
			return 1;
	return 0;
}

/* Segments of a rendered or literal path: no empty, ".", ".." or over-long ones. */
static int check_segments(const char *path, struct err *err)
{
	const char *seg = path, *slash;
	size_t len;

	for (;;) {
		slash = strchr(seg, '/');
		len = slash ? (size_t)(slash - seg) : strlen(seg);
		if (len == 0)
			return err_set(err, "'%s' has an empty path segment", path);
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return err_set(err, "'%s' may not contain '.' or '..' segments", path);
		if (len > SEGMENT_MAX)
			return err_set(err, "a file name in '%s' is longer than %d bytes", path,
				       SEGMENT_MAX);
		if (!slash)
			return 0;
		seg = slash + 1;
	}
}

int output_check_template(const char *tmpl, struct err *err)
{
	const char *p, *close;

	if (!*tmpl)
		return err_set(err, "the template is empty");
	if (tmpl[0] == '/' || tmpl[0] == '~')
		return err_set(err, "'%s' must be relative: files go inside the output directory",
			       tmpl);
	for (p = tmpl; *p; p++) {
		if (*p == '}')
			return err_set(err, "unmatched '}' in '%s'", tmpl);
		if (*p != '{')
			continue;
		close = strchr(p + 1, '}');
		if (!close || memchr(p + 1, '{', (size_t)(close - p - 1)))
			return err_set(err, "unterminated placeholder in '%s'", tmpl);
		if (!is_placeholder(p + 1, (size_t)(close - p - 1)))
			return err_set(
				err,
				"unknown placeholder {%.*s} (known: {date} {time} {slug} {seed} "
				"{backend} {ext})",
				(int)(close - p - 1), p + 1);
		p = close;
	}
	return check_segments(tmpl, err);
}

/* Substituted values never carry a path separator or start a hidden/relative segment. */
static int add_value(struct buf *b, const char *val)
{
	const char *v;

	for (v = val; *v; v++) {
		char c = *v == '/' || *v == '\\' ? '-' : *v;

		if (v == val && c == '.')
			c = '_';
		if (buf_add(b, &c, 1) < 0)
			return -1;
	}
	return 0;
}

int output_render_name(char **out, const char *tmpl, const struct gen_record *rec, struct err *err)
{
	struct buf b = BUF_INIT;
	const char *p, *close, *last, *val;
	char seed[24], name[16];
	size_t len;

	*out = NULL;
	if (output_check_template(tmpl, err) < 0)
		return -1;
	snprintf(seed, sizeof(seed), "%lld", (long long)rec->seed);
	for (p = tmpl; *p; p++) {
		if (*p != '{') {
			if (buf_add(&b, p, 1) < 0)
				goto oom;
			continue;
		}
		close = strchr(p, '}');
		len = (size_t)(close - p - 1);
		snprintf(name, sizeof(name), "%.*s", (int)len, p + 1);
		val = !strcmp(name, "date")      ? rec->date
		      : !strcmp(name, "time")    ? rec->time
		      : !strcmp(name, "slug")    ? rec->slug
		      : !strcmp(name, "seed")    ? seed
		      : !strcmp(name, "backend") ? rec->backend
						 : rec->ext;
		if (add_value(&b, val) < 0)
			goto oom;
		p = close;
	}
	if (!b.len) {
		buf_release(&b);
		return err_set(err, "'%s' renders to an empty name", tmpl);
	}
	last = strrchr((char *)b.data, '/');
	last = last ? last + 1 : (char *)b.data;
	/* a leading dot is a hidden name, not an extension; an empty last segment is refused
	 * by check_segments below */
	if (*last && !strchr(last + 1, '.') &&
	    (buf_adds(&b, ".") < 0 || buf_adds(&b, rec->ext) < 0))
		goto oom;
	if (check_segments((char *)b.data, err) < 0) {
		buf_release(&b);
		return -1;
	}
	last = strrchr((char *)b.data, '.');
	if (last && !strcmp(last, ".json")) {
		buf_release(&b);
		return err_set(err, "the image name may not end in .json (the sidecar uses it)");
	}
	*out = buf_detach(&b, NULL);
	return 0;
oom:
	buf_release(&b);
	return err_set(err, "out of memory");
}

int output_expand_dir(char **out, const char *dir, struct err *err)
{
	const char *home = getenv("HOME");

	*out = NULL;
	if (dir[0] == '~' && (dir[1] == '/' || dir[1] == '\0')) {
		if (!home || !*home)
			return err_set(err, "cannot expand '~' in '%s': HOME is not set", dir);
		if (asprintf(out, "%s%s", home, dir + 1) < 0) {
			*out = NULL;
			return err_set(err, "out of memory");
		}
		return 0;
	}
	if (dir[0] != '/') {
		/* printed paths are absolute so scripts can use them from anywhere */
		char *cwd = getcwd(NULL, 0);
		int n;

		if (!cwd)
			return err_set(err, "cannot resolve '%s': %s", dir, strerror(errno));
		n = asprintf(out, "%s/%s", cwd, dir);
		free(cwd);
		if (n < 0) {
			*out = NULL;
			return err_set(err, "out of memory");
		}
		return 0;
	}
	*out = strdup(dir);
	return *out ? 0 : err_set(err, "out of memory");
}

int output_mkdirs(const char *dir, struct err *err)
{
	char *path = strdup(dir), *p;
	struct stat st;

	if (!path)
		return err_set(err, "out of memory");
	for (p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;

		*p = '\0';
		if (mkdir(path, 0777) < 0 && errno != EEXIST) {
			err_set(err, "cannot create directory %s: %s", path, strerror(errno));
			free(path);
			return -1;
		}
		*p = save;
		if (!save)
			break;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		err_set(err, "%s is not a directory", path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

/* Write iov[0..iovcnt) to a fresh temporary file in dfd; the name goes to tmp.  The
 * pieces go out with writev (an image spliced with its metadata is never copied into
 * one buffer first); short writes resume where they stopped. */
static int write_tmp(int dfd, const char *where, const struct iovec *iov, int iovcnt, char tmp[64],
		     struct err *err)
{
	struct iovec *left = NULL;
	unsigned char rnd[8];
	ssize_t w;
	int fd = -1, tries, saved, k = 0;

	for (tries = 0; tries < 16 && fd < 0; tries++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return err_set(err, "getrandom: %s", strerror(errno));
		snprintf(tmp, 64, ".imagen-%02x%02x%02x%02x%02x%02x%02x%02x.tmp", rnd[0], rnd[1],
			 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			return err_set(err, "cannot write in %s: %s", where, strerror(errno));
	}
	if (fd < 0)
		return err_set(err, "cannot create a temporary file in %s", where);
	if (iovcnt > 0) {
		left = malloc((size_t)iovcnt * sizeof(*left));
		if (!left) {
			errno = ENOMEM;
			goto fail;
		}
		memcpy(left, iov, (size_t)iovcnt * sizeof(*left));
	}
	while (k < iovcnt) {
		if (!left[k].iov_len) {
			k++;
			continue;
		}
		w = writev(fd, left + k, iovcnt - k < IOV_MAX ? iovcnt - k : IOV_MAX);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		while (k < iovcnt && (size_t)w >= left[k].iov_len)
			w -= (ssize_t)left[k++].iov_len;
		if (k < iovcnt) {
			left[k].iov_base = (char *)left[k].iov_base + w;
			left[k].iov_len -= (size_t)w;
		}
	}
	free(left);
	left = NULL;
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	free(left);
	if (fd >= 0)
		close(fd);
	unlinkat(dfd, tmp, 0);
	return err_set(err, "cannot write in %s: %s", where, strerror(saved));
}

/* rename without replacing: renameat2(RENAME_NOREPLACE), or link+unlink where the
 * filesystem lacks it.  Returns 0, or -1 with errno (EEXIST: the name is taken). */
static int rename_noreplace(int dfd, const char *from, const char *to)
{
	if (renameat2(dfd, from, dfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	if (linkat(dfd, from, dfd, to, 0) < 0)
		return -1;
	unlinkat(dfd, from, 0);
	return 0;
}

static char *join(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

int output_write_new(const char *path, const void *data, size_t len, struct err *err)
{
	char *dir = strdup(path), *slash, tmp[64];
	const char *base;
	int dfd, rc = -1;

	if (!dir)
		return err_set(err, "out of memory");
	slash = strrchr(dir, '/');
	if (slash == dir) {
		base = path + 1;
		dir[1] = '\0';
	} else if (slash) {
		*slash = '\0';
		base = path + (slash - dir) + 1;
	} else {
		strcpy(dir, ".");
		base = path;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		err_set(err, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (write_tmp(dfd, dir, &(struct iovec){ (void *)data, len }, 1, tmp, err) < 0)
		goto out_close;
	if (rename_noreplace(dfd, tmp, base) < 0) {
		err_set(err, "%s: %s", path, errno == EEXIST ? "already exists" : strerror(errno));
		unlinkat(dfd, tmp, 0);
		goto out_close;
	}
	fsync(dfd);
	rc = 0;
out_close:
	close(dfd);
out:
	free(dir);
	return rc;
}

/*
 * Open the directory the rendered name puts its file in: dir itself, then each directory
 * of sub[0..sublen) (NULL: none) created if missing and entered with
 * openat(O_NOFOLLOW | O_DIRECTORY) from the one before, so that a symbolic link inside the
 * output directory (out/link -> /elsewhere) is never followed and no rename between the
 * steps can redirect the walk.  The output directory itself may be a link: the user named
 * it.  Returns the descriptor, or -1 with err naming the path.
 */
static int open_template_dirs(const char *dir, const char *sub, size_t sublen, struct err *err)
{
	size_t at = 0, len;
	char name[SEGMENT_MAX + 1];
	int dfd, next;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set(err, "%s: %s", dir, strerror(errno));
	while (sub && at < sublen) {
		len = strcspn(sub + at, "/");
		if (len > sublen - at)
			len = sublen - at;
		/* check_segments() bounds every segment: this cannot cut one */
		snprintf(name, sizeof(name), "%.*s", (int)len, sub + at);
		if (mkdirat(dfd, name, 0777) < 0 && errno != EEXIST) {
			err_set(err, "cannot create directory %s/%.*s: %s", dir, (int)(at + len),
				sub, strerror(errno));
			close(dfd);
			return -1;
		}
		next = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int saved = errno;
			struct stat st;

			if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				err_set(err,
					"%s/%.*s is a symbolic link: files are only written inside "
					"the output directory",
					dir, (int)(at + len), sub);
			else if (saved == ENOTDIR)
				err_set(err, "%s/%.*s is not a directory", dir, (int)(at + len),
					sub);
			else
				err_set(err, "%s/%.*s: %s", dir, (int)(at + len), sub,
					strerror(saved));
			close(dfd);
			return -1;
		}
		close(dfd);
		dfd = next;
		at += len + 1;
	}
	return dfd;
}

int output_write(struct gen_record *rec, const char *dir, const char *tmpl, const struct iovec *iov,
		 int iovcnt, const char *sidecar, struct err *err)
{
	char *rel = NULL, *full_dir = NULL, *stem = NULL, *name = NULL, *side = NULL;
	const char *base, *ext;
	char tmp[64], stmp[64];
	struct stat st;
	int dfd = -1, n, rc = -1;
	size_t stem_len;

	if (output_render_name(&rel, tmpl, rec, err) < 0)
		return -1;
	base = strrchr(rel, '/');
	if (base) {
		char *sub = strndup(rel, (size_t)(base - rel));

		full_dir = sub ? join(dir, sub) : NULL;
		free(sub);
		base++;
	} else {
		full_dir = strdup(dir);
		base = rel;
	}
	if (!full_dir) {
		err_set(err, "out of memory");
		goto out;
	}
	if (output_mkdirs(dir, err) < 0 ||
	    (dfd = open_template_dirs(dir, base != rel ? rel : NULL,
				      base != rel ? (size_t)(base - rel - 1) : 0, err)) < 0)
		goto out;
	ext = strrchr(base, '.');
	if (!ext || ext == base)
		ext = base + strlen(base);
	stem_len = (size_t)(ext - base);
	stem = strndup(base, stem_len);
	if (!stem) {
		err_set(err, "out of memory");
		goto out;
	}

	if (write_tmp(dfd, full_dir, iov, iovcnt, tmp, err) < 0)
		goto out;
	for (n = 0; n < COLLISION_MAX; n++) {
		free(name);
		free(side);
		side = NULL;
		if ((n ? asprintf(&name, "%s-%d%s", stem, n, ext)
		       : asprintf(&name, "%s%s", stem, ext)) < 0) {
			name = NULL;
			break;
		}
		if (sidecar) {
			if ((n ? asprintf(&side, "%s-%d.json", stem, n)
			       : asprintf(&side, "%s.json", stem)) < 0) {
				side = NULL;
				break;
			}
			/* an image and its sidecar share a suffix: skip names whose sidecar is
			 * taken */
			if (fstatat(dfd, side, &st, AT_SYMLINK_NOFOLLOW) == 0)
				continue;
		}
		if (rename_noreplace(dfd, tmp, name) == 0)
			break;
		if (errno != EEXIST) {
			err_set(err, "%s/%s: %s", full_dir, name, strerror(errno));
			unlinkat(dfd, tmp, 0);
			goto out;
		}
	}
	if (!name || n == COLLISION_MAX || (sidecar && !side)) {
		err_set(err, "%s: no free name for %s after %d tries", full_dir, base, n);
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	fsync(dfd);
	for (rec->bytes = 0, n = 0; n < iovcnt; n++)
		rec->bytes += iov[n].iov_len;
	rec->dir = strdup(dir);
	rec->image_path = join(full_dir, name);
	rec->file_name = strdup(name);
	if (base != rel) {
		rec->rel_path = NULL;
		if (asprintf(&rec->rel_path, "%.*s/%s", (int)(base - rel - 1), rel, name) < 0)
			rec->rel_path = NULL;
	} else {
		rec->rel_path = strdup(name);
	}
	if (!rec->dir || !rec->image_path || !rec->file_name || !rec->rel_path) {
		err_set(err, "out of memory");
		goto out;
	}
	/* The image is safe from here on: whatever fails next, it stays. */
	if (sidecar) {
		if (write_tmp(dfd, full_dir, &(struct iovec){ (void *)sidecar, strlen(sidecar) }, 1,
			      stmp, err) < 0) {
			err_prefix(err, "sidecar");
			goto out;
		}
		if (rename_noreplace(dfd, stmp, side) < 0) {
			err_set(err, "sidecar %s/%s: %s", full_dir, side,
				errno == EEXIST ? "already exists" : strerror(errno));
			unlinkat(dfd, stmp, 0);
			goto out;
		}
		fsync(dfd);
		rec->sidecar_path = join(full_dir, side);
		if (!rec->sidecar_path) {
			err_set(err, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	free(rel);
	free(full_dir);
	free(stem);
	free(name);
	free(side);
	return rc;
}

void gen_record_release(struct gen_record *rec)
{
	free(rec->dir);
	free(rec->rel_path);
	free(rec->image_path);
	free(rec->file_name);
	free(rec->sidecar_path);
	rec->dir = rec->rel_path = rec->image_path = rec->file_name = rec->sidecar_path = NULL;
}
