/* outbox.c - the queue of pending cloud syncs: one JSON file, flock'd, replaced atomically. */
#include "cloud/outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"
#include "core/output.h"

int outbox_path(char **out, const struct env *env, struct err *err)
{
	const char *state = env_get(env, "XDG_STATE_HOME"), *home = env_get(env, "HOME");
	int n;

	*out = NULL;
	if (state && *state == '/')
		n = asprintf(out, "%s/imagen/outbox.json", state);
	else if (home && *home)
		n = asprintf(out, "%s/.local/state/imagen/outbox.json", home);
	else
		return err_set(err, "outbox: neither XDG_STATE_HOME nor HOME is set");
	if (n < 0) {
		*out = NULL;
		return err_set(err, "out of memory");
	}
	return 0;
}

/* The directory part of path (malloc'd). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Open and flock the lock file beside path; returns the fd or -1. */
static int lock_open(const char *path, int op, int create, struct err *err)
{
	char *lock = NULL, *dir;
	int fd;

	if (create) {
		dir = dir_of(path);
		if (!dir)
			return err_set(err, "out of memory");
		if (output_mkdirs(dir, err) < 0) {
			free(dir);
			return -1;
		}
		free(dir);
	}
	if (asprintf(&lock, "%s.lock", path) < 0)
		return err_set(err, "out of memory");
	fd = open(lock, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0) {
		if (errno == ENOENT && !create) {
			free(lock);
			return -2; /* no outbox yet: nothing to lock */
		}
		err_set(err, "%s: %s", lock, strerror(errno));
		free(lock);
		return -1;
	}
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		err_set(err, "%s: cannot lock: %s", lock, strerror(errno));
		close(fd);
		free(lock);
		return -1;
	}
	free(lock);
	return fd;
}

static void lock_close(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* Read the file (no lock taken here); a missing file is an empty queue. */
static int load_unlocked(json_t **out, const char *path, struct err *err)
{
	unsigned char *data = NULL;
	size_t len = 0, i;
	json_error_t jerr;
	json_t *root, *items, *it;
	struct stat st;

	*out = NULL;
	if (stat(path, &st) < 0 && errno == ENOENT) {
		*out = json_array();
		return *out ? 0 : err_set(err, "out of memory");
	}
	if (file_read(&data, &len, path, OUTBOX_MAX_BYTES, err) < 0)
		return -1;
	root = json_loadb((const char *)data, len, 0, &jerr);
	free(data);
	if (!root)
		return err_set(err, "%s:%d: not valid JSON: %s", path, jerr.line, jerr.text);
	items = json_object_get(root, "items");
	if (!json_is_object(root) || !json_is_array(items)) {
		json_decref(root);
		return err_set(err,
			       "%s: not an imagen outbox (expected {\"version\": 1, "
			       "\"items\": [...]})",
			       path);
	}
	json_array_foreach (items, i, it) {
		if (!json_is_string(json_object_get(it, "image"))) {
			json_decref(root);
			return err_set(err, "%s: item %zu has no \"image\" path", path, i + 1);
		}
	}
	*out = json_incref(items);
	json_decref(root);
	return 0;
}

/* Replace path with {"version": 1, "items": items}: temporary file, fsync, rename. */
static int write_unlocked(const char *path, json_t *items, struct err *err)
{
	char *dir = dir_of(path), *tmp = NULL, *text = NULL;
	json_t *root = NULL;
	size_t len, off = 0;
	ssize_t n;
	int fd = -1, dfd, rc = -1;

	if (!dir || asprintf(&tmp, "%s/.outbox.json.XXXXXX", dir) < 0) {
		tmp = NULL;
		err_set(err, "out of memory");
		goto out;
	}
	root = json_pack("{s:i, s:O}", "version", 1, "items", items);
	text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	if (!text) {
		err_set(err, "out of memory");
		goto out;
	}
	len = strlen(text);
	fd = mkstemp(tmp);
	if (fd < 0) {
		err_set(err, "%s: %s", dir, strerror(errno));
		goto out;
	}
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set(err, "%s: %s", tmp, strerror(n < 0 ? errno : EIO));
			goto out_unlink;
		}
		off += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		err_set(err, "%s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_set(err, "%s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		err_set(err, "%s: %s", path, strerror(errno));
		goto out_unlink;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	json_decref(root);
	free(text);
	free(tmp);
	free(dir);
	return rc;
}

static json_t *find_index(const json_t *items, const char *image, size_t *idx)
{
	const char *s;
	json_t *it;
	size_t i;

	json_array_foreach (items, i, it) {
		s = json_string_value(json_object_get(it, "image"));
		if (s && !strcmp(s, image)) {
			if (idx)
				*idx = i;
			return it;
		}
	}
	return NULL;
}

json_t *outbox_find(const json_t *items, const char *image)
{
	return find_index(items, image, NULL);
}

int outbox_load(json_t **out, const char *path, struct err *err)
{
	int fd = lock_open(path, LOCK_SH, 0, err), rc;

	*out = NULL;
	if (fd == -1)
		return -1;
	rc = load_unlocked(out, path, err);
	lock_close(fd);
	if (rc < 0)
		err_prefix(err, "outbox");
	return rc;
}

static void now_iso(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int outbox_put(const char *path, const json_t *entry, struct err *err)
{
	const char *image = json_string_value(json_object_get(entry, "image"));
	json_t *items = NULL, *copy = NULL, *old;
	json_int_t attempts = 1;
	char when[32];
	size_t idx = 0;
	int fd, rc = -1;

	if (!image)
		return err_set(err, "outbox: an entry needs an image path");
	fd = lock_open(path, LOCK_EX, 1, err);
	if (fd < 0)
		goto out;
	if (load_unlocked(&items, path, err) < 0)
		goto out;
	copy = json_deep_copy(entry);
	if (!copy) {
		err_set(err, "out of memory");
		goto out;
	}
	old = find_index(items, image, &idx);
	if (old) {
		attempts = json_integer_value(json_object_get(old, "attempts")) + 1;
		if (attempts < 1)
			attempts = 1;
		if (json_is_string(json_object_get(old, "queued_at")))
			json_object_set(copy, "queued_at", json_object_get(old, "queued_at"));
	}
	if (!json_object_get(copy, "queued_at")) {
		now_iso(when);
		json_object_set_new(copy, "queued_at", json_string(when));
	}
	json_object_set_new(copy, "attempts", json_integer(attempts));
	if (old ? json_array_set(items, idx, copy) : json_array_append(items, copy)) {
		err_set(err, "out of memory");
		goto out;
	}
	rc = write_unlocked(path, items, err);
out:
	if (rc < 0)
		err_prefix(err, "outbox");
	lock_close(fd);
	json_decref(copy);
	json_decref(items);
	return rc;
}

int outbox_remove(const char *path, const char *image, int *removed, struct err *err)
{
	json_t *items = NULL;
	size_t idx;
	int fd, rc = -1;

	if (removed)
		*removed = 0;
	fd = lock_open(path, LOCK_EX, 0, err);
	if (fd == -2)
		return 0; /* never created: nothing pending */
	if (fd < 0)
		goto out;
	if (load_unlocked(&items, path, err) < 0)
		goto out;
	if (!find_index(items, image, &idx)) {
		rc = 0;
		goto out;
	}
	json_array_remove(items, idx);
	rc = write_unlocked(path, items, err);
	if (rc == 0 && removed)
		*removed = 1;
out:
	if (rc < 0)
		err_prefix(err, "outbox");
	lock_close(fd);
	json_decref(items);
	return rc;
}
