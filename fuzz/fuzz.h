/* fuzz.h - what every libFuzzer harness in fuzz/ shares.
 *
 * Convention: fuzz/NAME.c defines LLVMFuzzerTestOneInput for one parser of outside
 * input; its seed inputs live in fuzz/corpus/NAME/ (small files made from the test
 * fixtures); `make fuzz` builds every fuzz/NAME.c against the library instrumented with
 * -fsanitize=fuzzer-no-link,address,undefined (build-fuzz/) and runs each for
 * FUZZ_SECONDS; tests/run.sh runs each for a few seconds.  A crash found becomes a
 * regression input in the corpus, next to the fix.  A harness must not leak, print
 * (beyond libFuzzer's own report) or keep state from one input to the next.
 */
#ifndef IMAGEN_FUZZ_H
#define IMAGEN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a NUL-terminated string (a parser that takes C strings must see the bytes
 * after an embedded NUL too: callers that care use the length).  free() it. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

/* A path naming a file that holds data (an anonymous memfd, seen through /proc), for
 * parsers that read files.  *fd must be closed after.  NULL when it cannot be made. */
static inline const char *fuzz_file(int *fd, char path[64], const uint8_t *data, size_t size)
{
	size_t off = 0;
	ssize_t n;

	*fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (*fd < 0)
		return NULL;
	while (off < size) {
		n = write(*fd, data + off, size - off);
		if (n <= 0) {
			close(*fd);
			*fd = -1;
			return NULL;
		}
		off += (size_t)n;
	}
	snprintf(path, 64, "/proc/self/fd/%d", *fd);
	return path;
}

/* A real file holding data, in a private directory made on first use and removed at
 * exit, for parsers that need a directory around the file too (lock files).  The same
 * path each time. */
static char fuzz_dir_path[64];

static inline void fuzz_dir_remove(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/file", fuzz_dir_path);
	unlink(p);
	snprintf(p, sizeof(p), "%s/file.lock", fuzz_dir_path);
	unlink(p);
	rmdir(fuzz_dir_path);
}

static inline const char *fuzz_dir_file(char path[128], const uint8_t *data, size_t size)
{
	FILE *f;

	if (!fuzz_dir_path[0]) {
		snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "/tmp/imagen-fuzz-XXXXXX");
		if (!mkdtemp(fuzz_dir_path)) {
			fuzz_dir_path[0] = '\0';
			return NULL;
		}
		atexit(fuzz_dir_remove);
	}
	snprintf(path, 128, "%s/file", fuzz_dir_path);
	f = fopen(path, "wb");
	if (!f)
		return NULL;
	if (fwrite(data, 1, size, f) != size) {
		fclose(f);
		return NULL;
	}
	return fclose(f) == 0 ? path : NULL;
}

#endif
