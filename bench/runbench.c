/*
 * runbench.c - run a command many times and report its median wall time and peak RSS.
 *
 *   runbench [-n RUNS] [-w WARMUP] [-l LABEL] [-e NAME=VALUE]... [-o FILE] -- CMD ARGS...
 *
 * Each run is fork + execvp with stdin, stdout and stderr on /dev/null, so the numbers
 * measure the command, not a terminal.  Wall time comes from CLOCK_MONOTONIC around the
 * whole fork..wait, peak RSS from the child's rusage (wait4), which covers only that child.
 * Prints one line:
 *
 *   LABEL: median 3.21 ms (min 3.0, max 4.1, n=20), peak RSS 5.6 MiB (max over runs)
 *
 * -o FILE also appends the figures to FILE as one tab-separated line, for scripts:
 *   LABEL <TAB> median ms <TAB> min ms <TAB> max ms <TAB> runs <TAB> peak RSS KiB
 *
 * Exit status: 0, 1 when a run fails (non-zero exit, killed, cannot start), 2 on usage.
 * Standalone on purpose: no project code, so a broken library cannot skew its own benchmark.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_RUNS 20
#define DEFAULT_WARMUP 2
#define MAX_RUNS 100000

struct run {
	double ms;
	long maxrss_kib;
};

static void usage(void)
{
	fprintf(stderr, "usage: runbench [-n RUNS] [-w WARMUP] [-l LABEL] [-e NAME=VALUE]... "
			"[-o FILE] -- CMD ARGS...\n");
	exit(2);
}

static int parse_count(const char *s, int min, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > MAX_RUNS)
		return -1;
	*out = (int)v;
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* In the child: wire stdio to /dev/null and exec; report an exec failure's errno through
 * the close-on-exec pipe so the parent can say "cannot run" instead of "exited with 127". */
static void child(char **argv, int report_fd)
{
	int fd = open("/dev/null", O_RDWR);
	int e;

	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
		e = errno;
		(void)!write(report_fd, &e, sizeof(e));
		_exit(127);
	}
	if (fd > 2)
		close(fd);
	execvp(argv[0], argv);
	e = errno;
	(void)!write(report_fd, &e, sizeof(e));
	_exit(127);
}

/* Run the command once; 0 with *out filled, or -1 after printing why on stderr. */
static int run_once(char **argv, struct run *out)
{
	struct rusage ru;
	int pipefd[2], status, child_errno;
	double t0, t1;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		fprintf(stderr, "runbench: pipe: %s\n", strerror(errno));
		return -1;
	}
	t0 = now_ms();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "runbench: fork: %s\n", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		child(argv, pipefd[1]);
	}
	close(pipefd[1]);
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "runbench: wait4: %s\n", strerror(errno));
			close(pipefd[0]);
			return -1;
		}
	}
	t1 = now_ms();

	/* read after the wait: the pipe is tiny and the child is gone, so this cannot block */
	n = read(pipefd[0], &child_errno, sizeof(child_errno));
	close(pipefd[0]);
	if (n == (ssize_t)sizeof(child_errno)) {
		fprintf(stderr, "runbench: cannot run %s: %s\n", argv[0], strerror(child_errno));
		return -1;
	}
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "runbench: %s was killed by signal %d (%s)\n", argv[0],
			WTERMSIG(status), strsignal(WTERMSIG(status)));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "runbench: %s exited with status %d\n", argv[0],
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	out->ms = t1 - t0;
	out->maxrss_kib = ru.ru_maxrss; /* Linux reports KiB */
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int runs = DEFAULT_RUNS, warmup = DEFAULT_WARMUP, opt, i;
	const char *label = NULL, *out_path = NULL;
	FILE *out;
	long peak_kib = 0;
	double *ms, median;
	struct run r;
	char *eq;

	/* '+': stop at the first non-option so the command's own flags are left alone */
	while ((opt = getopt(argc, argv, "+n:w:l:e:o:h")) != -1) {
		switch (opt) {
		case 'n':
			if (parse_count(optarg, 1, &runs)) {
				fprintf(stderr, "runbench: -n wants a count from 1 to %d\n",
					MAX_RUNS);
				return 2;
			}
			break;
		case 'w':
			if (parse_count(optarg, 0, &warmup)) {
				fprintf(stderr, "runbench: -w wants a count from 0 to %d\n",
					MAX_RUNS);
				return 2;
			}
			break;
		case 'l':
			label = optarg;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'e':
			/* set in our own environment: every child inherits it through execvp */
			eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				fprintf(stderr, "runbench: -e wants NAME=VALUE, got '%s'\n",
					optarg);
				return 2;
			}
			*eq = '\0';
			if (setenv(optarg, eq + 1, 1)) {
				fprintf(stderr, "runbench: setenv %s: %s\n", optarg,
					strerror(errno));
				return 2;
			}
			*eq = '=';
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	argv += optind;
	if (!label)
		label = argv[0];

	ms = malloc((size_t)runs * sizeof(*ms));
	if (!ms) {
		fprintf(stderr, "runbench: out of memory\n");
		return 1;
	}
	for (i = 0; i < warmup; i++) {
		if (run_once(argv, &r)) {
			free(ms);
			return 1;
		}
	}
	for (i = 0; i < runs; i++) {
		if (run_once(argv, &r)) {
			free(ms);
			return 1;
		}
		ms[i] = r.ms;
		if (r.maxrss_kib > peak_kib)
			peak_kib = r.maxrss_kib;
	}

	qsort(ms, (size_t)runs, sizeof(*ms), cmp_double);
	median = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
	printf("%s: median %.2f ms (min %.1f, max %.1f, n=%d), peak RSS %.1f MiB (max over runs)\n",
	       label, median, ms[0], ms[runs - 1], runs, (double)peak_kib / 1024.0);
	if (out_path) {
		out = fopen(out_path, "a");
		if (!out ||
		    fprintf(out, "%s\t%.3f\t%.3f\t%.3f\t%d\t%ld\n", label, median, ms[0],
			    ms[runs - 1], runs, peak_kib) < 0 ||
		    fclose(out)) {
			fprintf(stderr, "runbench: cannot append to %s: %s\n", out_path,
				strerror(errno));
			free(ms);
			return 1;
		}
	}
	free(ms);
	return fflush(stdout) ? 1 : 0;
}
