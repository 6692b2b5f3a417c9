/* file.c - reading a whole file with a bound. */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read(unsigned char **out, size_t *len, const char *path, size_t max, struct err *err)
{
	struct stat st;
	unsigned char *data;
	size_t got = 0;
	ssize_t r;
	int fd;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(err, "%s: not a regular file", path);
	}
	if ((unsigned long long)st.st_size > max) {
		close(fd);
		return err_set(err, "%s: file is too large (%lld bytes; the limit is %zu)", path,
			       (long long)st.st_size, max);
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		close(fd);
		return err_set(err, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, data + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(err, "%s: %s", path, strerror(errno));
			free(data);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	data[got] = '\0';
	*out = data;
	*len = got;
	return 0;
}
