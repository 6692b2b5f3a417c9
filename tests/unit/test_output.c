/* test_output.c - slugs, naming templates, the clock reading, atomic no-replace writes. */
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>

#include "core/output.h"
#include "util/sha256.h"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Number of entries in dir (without . and ..); *tmp_left counts ".imagen-*" names. */
static int count_entries(const char *dir, int *tmp_left)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	if (tmp_left)
		*tmp_left = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		if (tmp_left && !strncmp(e->d_name, ".imagen-", 8))
			(*tmp_left)++;
	}
	closedir(d);
	return n;
}

static int file_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void fill_record(struct gen_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	strcpy(rec->date, "2025-11-24");
	strcpy(rec->time, "160000");
	strcpy(rec->slug, "a-cat");
	rec->seed = 1234567890123LL;
	strcpy(rec->backend, "flux-local");
	strcpy(rec->ext, "png");
}

static void set_tz(const char *tz)
{
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

static int have_zoneinfo(const char *zone)
{
	char path[256];

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", zone);
	return access(path, R_OK) == 0;
}

/* ---- output_slug ------------------------------------------------------------------------- */

static void assert_slug(const char *prompt, const char *want)
{
	char out[SLUG_MAX + 1];

	memset(out, 'Z', sizeof(out));
	output_slug(out, prompt);
	assert_string_equal(out, want);
}

static void test_slug_lowercases_and_collapses(void **state)
{
	(void)state;
	assert_slug("A Lighthouse at Dusk", "a-lighthouse-at-dusk");
	assert_slug("R2-D2 & C-3PO", "r2-d2-c-3po");
	assert_slug("one,,,  two--__three", "one-two-three");
	assert_slug("x", "x");
	assert_slug("MiXeD123", "mixed123");
}

static void test_slug_trims_both_ends(void **state)
{
	(void)state;
	assert_slug("  --Hello, World!!  ", "hello-world");
	assert_slug("...dots...", "dots");
	assert_slug("\t\nnewline\n", "newline");
}

static void test_slug_transliterates_latin_letters(void **state)
{
	(void)state;
	assert_slug("Café crème brûlée", "cafe-creme-brulee");
	assert_slug("café au lait", "cafe-au-lait");
	assert_slug("naïve", "naive");
	assert_slug("Größe über alles", "grosse-uber-alles");
	assert_slug("Œuvre of Łódź, Ørsted", "oeuvre-of-lodz-oersted");
	assert_slug("日本語 prompt", "prompt");
	/* bytes that are not UTF-8 are dropped like punctuation, never copied */
	assert_slug("caf\xe9 \xff\xfe ok", "caf-ok");
}

static void test_slug_empty_gives_image(void **state)
{
	char want[SLUG_MAX + 1], hex[65];

	(void)state;
	assert_slug("", "image");
	assert_slug(NULL, "image");
	/* nothing with an ASCII form: a short hash of the prompt keeps prompts apart */
	sha256_hex(hex, "東京の夜景", strlen("東京の夜景"));
	snprintf(want, sizeof(want), "image-%.8s", hex);
	assert_slug("東京の夜景", want);
	assert_string_equal(want, "image-d46f3ce9");
	sha256_hex(hex, "!!! ??? ...", 11);
	snprintf(want, sizeof(want), "image-%.8s", hex);
	assert_slug("!!! ??? ...", want);
	{
		char a[SLUG_MAX + 1], b[SLUG_MAX + 1];

		output_slug(a, "大阪の夜景");
		output_slug(b, "東京の夜景");
		assert_string_not_equal(a, b);
	}
}

static void test_slug_truncates_to_max(void **state)
{
	char prompt[128], want[SLUG_MAX + 1];

	(void)state;
	/* a long single word is cut at exactly SLUG_MAX */
	memset(prompt, 'a', 60);
	prompt[60] = '\0';
	memset(want, 'a', SLUG_MAX);
	want[SLUG_MAX] = '\0';
	assert_slug(prompt, want);

	/* 38 letters + "-b" is exactly 40: the next letter is cut off */
	memset(prompt, 'a', 38);
	strcpy(prompt + 38, " bc");
	memset(want, 'a', 38);
	strcpy(want + 38, "-b");
	assert_slug(prompt, want);

	/* 39 letters: there is no room for "-b", and no dangling '-' either */
	memset(prompt, 'a', 39);
	strcpy(prompt + 39, " b");
	memset(want, 'a', 39);
	want[39] = '\0';
	assert_slug(prompt, want);

	/* 40 letters then punctuation: no trailing '-' */
	memset(prompt, 'a', 40);
	strcpy(prompt + 40, "!!! more words");
	memset(want, 'a', 40);
	want[40] = '\0';
	assert_slug(prompt, want);
}

static void test_slug_shape_of_long_prompt(void **state)
{
	const char *prompt =
		"An extremely detailed, OCTANE-rendered landscape: mountains; rivers & "
		"forests -- at   sunrise (4K, HDR) -- with birds, clouds and more";
	char out[SLUG_MAX + 1];
	size_t i, len;

	(void)state;
	output_slug(out, prompt);
	len = strlen(out);
	assert_true(len > 0 && len <= SLUG_MAX);
	assert_true(out[0] != '-' && out[len - 1] != '-');
	assert_null(strstr(out, "--"));
	for (i = 0; i < len; i++)
		assert_true((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9') ||
			    out[i] == '-');
	assert_string_equal(out, "an-extremely-detailed-octane-rendered-la");
}

/* ---- output_check_template --------------------------------------------------------------- */

static void assert_template_ok(const char *tmpl)
{
	struct err err = ERR_INIT;

	if (output_check_template(tmpl, &err) != 0)
		fail_msg("template '%s' refused: %s", tmpl, err.msg);
	assert_string_equal(err.msg, "");
}

static void assert_template_bad(const char *tmpl, const char *want)
{
	struct err err = ERR_INIT;

	assert_int_equal(output_check_template(tmpl, &err), -1);
	assert_string_equal(err.msg, want);
}

static void test_template_accepts(void **state)
{
	(void)state;
	assert_template_ok("{date}-{slug}-{seed}.png");
	assert_template_ok("{date}/{slug}.{ext}");
	assert_template_ok("{backend}/{date}/{time}-{seed}");
	assert_template_ok("plain.png");
	assert_template_ok("..x.png"); /* not a ".." segment */
	assert_template_ok("a/.b/{slug}");
}

static void test_template_unknown_placeholder(void **state)
{
	(void)state;
	assert_template_bad("{date}-{nope}.png",
			    "unknown placeholder {nope} (known: {date} {time} {slug} {seed} "
			    "{backend} {ext})");
	assert_template_bad("{}.png", "unknown placeholder {} (known: {date} {time} {slug} {seed} "
				      "{backend} {ext})");
	/* placeholder names are case-sensitive */
	assert_template_bad("{SLUG}", "unknown placeholder {SLUG} (known: {date} {time} {slug} "
				      "{seed} {backend} {ext})");
}

static void test_template_unterminated_and_stray(void **state)
{
	(void)state;
	assert_template_bad("{slug", "unterminated placeholder in '{slug'");
	assert_template_bad("x-{slug{seed}", "unterminated placeholder in 'x-{slug{seed}'");
	assert_template_bad("a}b.png", "unmatched '}' in 'a}b.png'");
	assert_template_bad("{slug}}", "unmatched '}' in '{slug}}'");
}

static void test_template_must_stay_inside(void **state)
{
	(void)state;
	assert_template_bad("/x", "'/x' must be relative: files go inside the output directory");
	assert_template_bad("~/x", "'~/x' must be relative: files go inside the output directory");
	assert_template_bad("../{slug}.png",
			    "'../{slug}.png' may not contain '.' or '..' segments");
	assert_template_bad("a/../b.png", "'a/../b.png' may not contain '.' or '..' segments");
	assert_template_bad("./x.png", "'./x.png' may not contain '.' or '..' segments");
	assert_template_bad("a/.", "'a/.' may not contain '.' or '..' segments");
	assert_template_bad("..", "'..' may not contain '.' or '..' segments");
}

static void test_template_empty_and_long(void **state)
{
	char seg[256], want[512];

	(void)state;
	assert_template_bad("", "the template is empty");
	assert_template_bad("a//b", "'a//b' has an empty path segment");
	assert_template_bad("a/", "'a/' has an empty path segment");

	memset(seg, 'a', 200);
	seg[200] = '\0';
	assert_template_ok(seg); /* exactly the limit */
	memset(seg, 'a', 201);
	seg[201] = '\0';
	snprintf(want, sizeof(want), "a file name in '%s' is longer than 200 bytes", seg);
	assert_template_bad(seg, want);
}

/* ---- output_render_name ------------------------------------------------------------------ */

static void assert_render(const struct gen_record *rec, const char *tmpl, const char *want)
{
	struct err err = ERR_INIT;
	char *out = NULL;

	if (output_render_name(&out, tmpl, rec, &err) != 0)
		fail_msg("render '%s' failed: %s", tmpl, err.msg);
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void assert_render_fails(const struct gen_record *rec, const char *tmpl, const char *want)
{
	struct err err = ERR_INIT;
	char *out = (char *)"sentinel";

	assert_int_equal(output_render_name(&out, tmpl, rec, &err), -1);
	assert_null(out);
	assert_string_equal(err.msg, want);
}

static void test_render_all_placeholders(void **state)
{
	struct gen_record rec;

	(void)state;
	fill_record(&rec);
	assert_render(&rec, "{date}_{time}_{slug}_{seed}_{backend}.{ext}",
		      "2025-11-24_160000_a-cat_1234567890123_flux-local.png");
	assert_render(&rec, "{date}-{slug}-{seed}.png", "2025-11-24-a-cat-1234567890123.png");
	assert_render(&rec, "{date}/{slug}.{ext}", "2025-11-24/a-cat.png");
	rec.seed = -7;
	strcpy(rec.ext, "webp");
	assert_render(&rec, "{backend}/{seed}.{ext}", "flux-local/-7.webp");
}

static void test_render_neutralises_values(void **state)
{
	struct gen_record rec;

	(void)state;
	fill_record(&rec);
	strcpy(rec.backend, "a/b");
	assert_render(&rec, "{backend}-{slug}.png", "a-b-a-cat.png");
	strcpy(rec.backend, "../../etc");
	assert_render(&rec, "{backend}/{slug}.png", "_.-..-etc/a-cat.png");
	strcpy(rec.backend, "x\\y");
	assert_render(&rec, "{backend}.png", "x-y.png");
	strcpy(rec.backend, ".hidden");
	assert_render(&rec, "{backend}.png", "_hidden.png");
	strcpy(rec.backend, "..");
	assert_render(&rec, "{backend}/{slug}.png", "_./a-cat.png");
	/* only a value's first character is touched */
	strcpy(rec.backend, "v1.2");
	assert_render(&rec, "{backend}.png", "v1.2.png");
	/* an empty value cannot make the name absolute */
	rec.backend[0] = '\0';
	assert_render_fails(&rec, "{backend}/{slug}.png", "'/a-cat.png' has an empty path segment");
}

static void test_render_appends_extension(void **state)
{
	struct gen_record rec;

	(void)state;
	fill_record(&rec);
	assert_render(&rec, "{slug}", "a-cat.png");
	assert_render(&rec, "{date}/{slug}-{seed}", "2025-11-24/a-cat-1234567890123.png");
	assert_render(&rec, "x.y/{slug}", "x.y/a-cat.png"); /* a dot in a directory */
	assert_render(&rec, "{slug}.jpeg", "a-cat.jpeg");   /* has one already */
	assert_render(&rec, ".{slug}", ".a-cat.png");       /* a leading dot is no extension */
	strcpy(rec.ext, "webp");
	assert_render(&rec, "{slug}", "a-cat.webp");
}

static void test_render_refuses_json_and_bad_templates(void **state)
{
	struct gen_record rec;
	char want[512];

	(void)state;
	fill_record(&rec);
	assert_render_fails(&rec, "{slug}.json",
			    "the image name may not end in .json (the sidecar uses it)");
	strcpy(rec.ext, "json");
	assert_render_fails(&rec, "{date}/{slug}",
			    "the image name may not end in .json (the sidecar uses it)");
	fill_record(&rec);
	assert_render_fails(&rec, "{nope}",
			    "unknown placeholder {nope} (known: {date} {time} "
			    "{slug} {seed} {backend} {ext})");
	assert_render_fails(&rec, "../{slug}", "'../{slug}' may not contain '.' or '..' segments");

	/* values that render to nothing: no name at all, or an empty last segment */
	rec.backend[0] = '\0';
	assert_render_fails(&rec, "{backend}", "'{backend}' renders to an empty name");
	assert_render_fails(&rec, "x/{backend}", "'x/' has an empty path segment");
	fill_record(&rec);

	/* the template is short, the rendered name is not */
	memset(rec.slug, 's', SLUG_MAX);
	rec.slug[SLUG_MAX] = '\0';
	snprintf(want, sizeof(want), "a file name in '%s%s%s%s%s%s.png' is longer than 200 bytes",
		 rec.slug, rec.slug, rec.slug, rec.slug, rec.slug, rec.slug);
	assert_render_fails(&rec, "{slug}{slug}{slug}{slug}{slug}{slug}", want);
}

/* ---- output_clock ------------------------------------------------------------------------ */

static void clock_at(struct gen_record *rec, time_t t, long nsec)
{
	struct timespec ts = { .tv_sec = t, .tv_nsec = nsec };

	memset(rec, 0, sizeof(*rec));
	output_clock(rec, &ts);
	assert_int_equal(rec->when.tv_sec, t);
	assert_int_equal(rec->when.tv_nsec, nsec);
}

static void test_clock_utc(void **state)
{
	struct gen_record rec;

	(void)state;
	set_tz("UTC");
	clock_at(&rec, 1764000000, 123456789);
	assert_string_equal(rec.date, "2025-11-24");
	assert_string_equal(rec.time, "160000");
	assert_string_equal(rec.iso, "2025-11-24T16:00:00+00:00");

	clock_at(&rec, 0, 0);
	assert_string_equal(rec.date, "1970-01-01");
	assert_string_equal(rec.time, "000000");
	assert_string_equal(rec.iso, "1970-01-01T00:00:00+00:00");
}

static void test_clock_positive_half_hour_offset(void **state)
{
	struct gen_record rec;

	(void)state;
	set_tz(have_zoneinfo("Asia/Kolkata") ? "Asia/Kolkata" : "IST-5:30");
	clock_at(&rec, 1764000000, 0);
	assert_string_equal(rec.date, "2025-11-24");
	assert_string_equal(rec.time, "213000");
	assert_string_equal(rec.iso, "2025-11-24T21:30:00+05:30");
	set_tz("UTC");
}

static void test_clock_negative_offsets(void **state)
{
	struct gen_record rec;

	(void)state;
	set_tz("XYZ3:30");
	clock_at(&rec, 1764000000, 0);
	assert_string_equal(rec.date, "2025-11-24");
	assert_string_equal(rec.time, "123000");
	assert_string_equal(rec.iso, "2025-11-24T12:30:00-03:30");

	/* EST5EDT: standard time in November, daylight time in July */
	set_tz("EST5EDT,M3.2.0,M11.1.0");
	clock_at(&rec, 1764000000, 0);
	assert_string_equal(rec.iso, "2025-11-24T11:00:00-05:00");
	clock_at(&rec, 1751371200, 0);
	assert_string_equal(rec.date, "2025-07-01");
	assert_string_equal(rec.time, "080000");
	assert_string_equal(rec.iso, "2025-07-01T08:00:00-04:00");

	/* local time before midnight UTC: the local date is the previous day */
	set_tz("XYZ3:30");
	clock_at(&rec, 1764000000 - 16 * 3600 + 1800, 0); /* 00:30 UTC */
	assert_string_equal(rec.date, "2025-11-23");
	assert_string_equal(rec.time, "210000");
	assert_string_equal(rec.iso, "2025-11-23T21:00:00-03:30");
	set_tz("UTC");
}

static void test_clock_date_is_local(void **state)
{
	struct gen_record rec;

	(void)state;
	set_tz("ABC-14");
	clock_at(&rec, 1764000000, 0);
	assert_string_equal(rec.date, "2025-11-25");
	assert_string_equal(rec.time, "060000");
	assert_string_equal(rec.iso, "2025-11-25T06:00:00+14:00");
	set_tz("UTC");
}

/* ---- output_write / output_write_new ----------------------------------------------------- */

static const unsigned char image_bytes[] = { 0x89, 'P',  'N',  'G',  '\r', '\n', 0x1a, '\n',
					     0x00, 0x01, 0x02, 0xff, 0xfe, 0x00, 'x',  'y' };
static const char sidecar_text[] = "{\"prompt\": \"a cat\"}\n";

/* Write once and check both files; returns the record (release it). */
static void write_one(struct gen_record *rec, const char *dir, const char *tmpl,
		      const char *sidecar, const char *want_image, const char *want_sidecar)
{
	struct err err = ERR_INIT;
	struct iovec v = { (void *)image_bytes, sizeof(image_bytes) };
	char *data, *path;
	size_t len;

	fill_record(rec);
	if (output_write(rec, dir, tmpl, &v, 1, sidecar, &err) != 0)
		fail_msg("output_write failed: %s", err.msg);
	path = xasprintf("%s/%s", dir, want_image);
	assert_string_equal(rec->image_path, path);
	free(path);
	assert_string_equal(rec->rel_path, want_image);
	assert_string_equal(rec->dir, dir);
	assert_int_equal(rec->bytes, sizeof(image_bytes));
	data = slurp(rec->image_path, &len);
	assert_int_equal(len, sizeof(image_bytes));
	assert_memory_equal(data, image_bytes, sizeof(image_bytes));
	free(data);
	if (want_sidecar) {
		path = xasprintf("%s/%s", dir, want_sidecar);
		assert_non_null(rec->sidecar_path);
		assert_string_equal(rec->sidecar_path, path);
		free(path);
		data = slurp(rec->sidecar_path, NULL);
		assert_string_equal(data, sidecar);
		free(data);
	} else {
		assert_null(rec->sidecar_path);
	}
}

static void test_write_image_and_sidecar(void **state)
{
	struct gen_record rec;
	char *dir = make_tmpdir();
	int tmp_left;

	(void)state;
	write_one(&rec, dir, "{date}-{slug}-{seed}.png", sidecar_text,
		  "2025-11-24-a-cat-1234567890123.png", "2025-11-24-a-cat-1234567890123.json");
	assert_string_equal(rec.file_name, "2025-11-24-a-cat-1234567890123.png");
	gen_record_release(&rec);
	assert_null(rec.image_path);
	assert_int_equal(count_entries(dir, &tmp_left), 2);
	assert_int_equal(tmp_left, 0);
	remove_tree(dir);
	free(dir);
}

static void test_write_collisions_get_suffixes(void **state)
{
	struct gen_record rec;
	char *dir = make_tmpdir();
	int tmp_left;

	(void)state;
	write_one(&rec, dir, "{slug}.png", sidecar_text, "a-cat.png", "a-cat.json");
	gen_record_release(&rec);
	write_one(&rec, dir, "{slug}.png", sidecar_text, "a-cat-1.png", "a-cat-1.json");
	assert_string_equal(rec.file_name, "a-cat-1.png");
	gen_record_release(&rec);
	write_one(&rec, dir, "{slug}.png", sidecar_text, "a-cat-2.png", "a-cat-2.json");
	gen_record_release(&rec);
	assert_int_equal(count_entries(dir, &tmp_left), 6);
	assert_int_equal(tmp_left, 0);
	remove_tree(dir);
	free(dir);
}

static void test_write_skips_taken_sidecar_name(void **state)
{
	struct gen_record rec;
	char *dir = make_tmpdir(), *path, *data;
	int tmp_left;

	(void)state;
	path = xasprintf("%s/a-cat.json", dir);
	write_file(path, "mine\n", 5);
	write_one(&rec, dir, "{slug}.png", sidecar_text, "a-cat-1.png", "a-cat-1.json");
	gen_record_release(&rec);
	data = slurp(path, NULL);
	assert_string_equal(data, "mine\n"); /* untouched */
	free(data);
	free(path);
	path = xasprintf("%s/a-cat.png", dir);
	assert_false(file_exists(path)); /* the image did not take the name either */
	free(path);
	assert_int_equal(count_entries(dir, &tmp_left), 3);
	assert_int_equal(tmp_left, 0);
	remove_tree(dir);
	free(dir);
}

static void test_write_without_sidecar(void **state)
{
	struct gen_record rec;
	char *dir = make_tmpdir(), *path;
	int tmp_left;

	(void)state;
	/* without a sidecar a taken .json name does not matter */
	path = xasprintf("%s/a-cat.json", dir);
	write_file(path, "mine\n", 5);
	free(path);
	write_one(&rec, dir, "{slug}.png", NULL, "a-cat.png", NULL);
	gen_record_release(&rec);
	write_one(&rec, dir, "{slug}.png", NULL, "a-cat-1.png", NULL);
	gen_record_release(&rec);
	assert_int_equal(count_entries(dir, &tmp_left), 3);
	assert_int_equal(tmp_left, 0);
	remove_tree(dir);
	free(dir);
}

static void test_write_pieces_in_order(void **state)
{
	/* an image handed over as pieces (pngmeta_splice: runs of the original with the
	 * metadata chunks between them) lands as their concatenation; empty pieces and
	 * more pieces than one writev takes are fine */
	static struct iovec v[1100];
	static char want[1100 * 3];
	struct gen_record rec;
	struct err err = ERR_INIT;
	char *dir = make_tmpdir(), *data;
	size_t i, o = 0, len;

	(void)state;
	for (i = 0; i < 1100; i++) {
		size_t n = i % 4 == 3 ? 0 : 1 + i % 3; /* 1, 2, 3, then an empty piece */

		v[i].iov_base = (char *)"abc" + (3 - n);
		v[i].iov_len = n;
		memcpy(want + o, v[i].iov_base, n);
		o += n;
	}
	fill_record(&rec);
	assert_int_equal(output_write(&rec, dir, "{slug}.png", v, 1100, NULL, &err), 0);
	assert_int_equal(rec.bytes, o);
	data = slurp(rec.image_path, &len);
	assert_int_equal(len, o);
	assert_memory_equal(data, want, o);
	free(data);
	gen_record_release(&rec);
	remove_tree(dir);
	free(dir);
}

static void test_write_into_subdirectory(void **state)
{
	struct gen_record rec;
	char *dir = make_tmpdir(), *sub;
	int tmp_left;

	(void)state;
	write_one(&rec, dir, "{date}/{slug}.{ext}", sidecar_text, "2025-11-24/a-cat.png",
		  "2025-11-24/a-cat.json");
	assert_string_equal(rec.file_name, "a-cat.png");
	gen_record_release(&rec);
	write_one(&rec, dir, "{date}/{slug}.{ext}", sidecar_text, "2025-11-24/a-cat-1.png",
		  "2025-11-24/a-cat-1.json");
	gen_record_release(&rec);
	sub = xasprintf("%s/2025-11-24", dir);
	assert_int_equal(count_entries(sub, &tmp_left), 4);
	assert_int_equal(tmp_left, 0);
	assert_int_equal(count_entries(dir, NULL), 1);
	free(sub);
	remove_tree(dir);
	free(dir);
}

/* A link inside the output directory is never followed, whatever depth it sits at. */
static void assert_link_refused(const char *dir, const char *tmpl, const char *link_rel)
{
	struct gen_record rec;
	struct err err = ERR_INIT;
	char *want;

	fill_record(&rec);
	assert_int_equal(output_write(&rec, dir, tmpl,
				      &(struct iovec){ (void *)image_bytes, sizeof(image_bytes) },
				      1, sidecar_text, &err),
			 -1);
	want = xasprintf("%s/%s is a symbolic link: files are only written inside the output "
			 "directory",
			 dir, link_rel);
	assert_string_equal(err.msg, want);
	free(want);
	assert_null(rec.image_path);
	gen_record_release(&rec);
}

static void test_write_never_follows_a_link_inside_the_output_dir(void **state)
{
	char *dir = make_tmpdir(), *elsewhere = make_tmpdir(), *p;
	struct gen_record rec;

	(void)state;
	p = xasprintf("%s/link", dir);
	assert_int_equal(symlink(elsewhere, p), 0);
	free(p);
	assert_link_refused(dir, "link/{slug}.png", "link");
	/* deeper: a real directory, then a link */
	p = xasprintf("%s/real", dir);
	assert_int_equal(mkdir(p, 0777), 0);
	free(p);
	p = xasprintf("%s/real/link", dir);
	assert_int_equal(symlink(elsewhere, p), 0);
	free(p);
	assert_link_refused(dir, "real/link/deeper/{slug}.png", "real/link");
	assert_int_equal(count_entries(elsewhere, NULL), 0);
	/* a file where a directory should be */
	p = xasprintf("%s/file", dir);
	write_file(p, "x", 1);
	free(p);
	{
		struct err err = ERR_INIT;
		char *want = xasprintf("%s/file is not a directory", dir);

		fill_record(&rec);
		assert_int_equal(
			output_write(&rec, dir, "file/{slug}.png",
				     &(struct iovec){ (void *)image_bytes, sizeof(image_bytes) }, 1,
				     NULL, &err),
			-1);
		assert_string_equal(err.msg, want);
		free(want);
		gen_record_release(&rec);
	}
	/* the output directory itself may be a link: the user chose it */
	p = xasprintf("%s/out-link", elsewhere);
	assert_int_equal(symlink(dir, p), 0);
	write_one(&rec, p, "real/{slug}.png", NULL, "real/a-cat.png", NULL);
	gen_record_release(&rec);
	free(p);
	p = xasprintf("%s/real/a-cat.png", dir);
	assert_true(file_exists(p));
	free(p);
	remove_tree(dir);
	remove_tree(elsewhere);
	free(dir);
	free(elsewhere);
}

static void test_write_refuses_bad_name(void **state)
{
	struct gen_record rec;
	struct err err = ERR_INIT;
	char *dir = make_tmpdir();

	(void)state;
	fill_record(&rec);
	assert_int_equal(output_write(&rec, dir, "{slug}.json",
				      &(struct iovec){ (void *)image_bytes, sizeof(image_bytes) },
				      1, sidecar_text, &err),
			 -1);
	assert_string_equal(err.msg, "the image name may not end in .json (the sidecar uses it)");
	assert_null(rec.image_path);
	assert_int_equal(count_entries(dir, NULL), 0);
	gen_record_release(&rec);
	remove_tree(dir);
	free(dir);
}

static void assert_mode_under_umask(mode_t mask)
{
	struct gen_record rec;
	struct stat st;
	char *dir = make_tmpdir();
	mode_t old = umask(mask);

	write_one(&rec, dir, "{slug}.png", sidecar_text, "a-cat.png", "a-cat.json");
	umask(old);
	assert_int_equal(stat(rec.image_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0666 & ~mask);
	assert_int_equal(stat(rec.sidecar_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0666 & ~mask);
	gen_record_release(&rec);
	remove_tree(dir);
	free(dir);
}

static void test_write_mode_honours_umask(void **state)
{
	(void)state;
	assert_mode_under_umask(022);
	assert_mode_under_umask(027);
	assert_mode_under_umask(077);
	assert_mode_under_umask(002);
}

static void test_write_new_never_replaces(void **state)
{
	struct err err = ERR_INIT;
	char *dir = make_tmpdir(), *path, *data, *want;
	size_t len;
	int tmp_left;

	(void)state;
	path = xasprintf("%s/imagen.yaml", dir);
	assert_int_equal(output_write_new(path, "first\n", 6, &err), 0);
	data = slurp(path, &len);
	assert_int_equal(len, 6);
	assert_string_equal(data, "first\n");
	free(data);

	assert_int_equal(output_write_new(path, "second\n", 7, &err), -1);
	assert_non_null(strstr(err.msg, "already exists"));
	want = xasprintf("%s: already exists", path);
	assert_string_equal(err.msg, want);
	free(want);
	data = slurp(path, NULL);
	assert_string_equal(data, "first\n");
	free(data);
	assert_int_equal(count_entries(dir, &tmp_left), 1);
	assert_int_equal(tmp_left, 0);
	free(path);

	/* a missing directory is an error, not a crash */
	path = xasprintf("%s/missing/x", dir);
	err_clear(&err);
	assert_int_equal(output_write_new(path, "x", 1, &err), -1);
	assert_non_null(strstr(err.msg, "No such file or directory"));
	free(path);
	remove_tree(dir);
	free(dir);
}

/* ---- output_expand_dir ------------------------------------------------------------------- */

static void test_expand_dir(void **state)
{
	struct err err = ERR_INIT;
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *old_cwd = getcwd(NULL, 0), *dir = make_tmpdir(), *cwd, *out = NULL, *want;

	(void)state;
	assert_non_null(old_cwd);
	assert_int_equal(setenv("HOME", "/home/tester", 1), 0);
	assert_int_equal(output_expand_dir(&out, "~", &err), 0);
	assert_string_equal(out, "/home/tester");
	free(out);
	assert_int_equal(output_expand_dir(&out, "~/Pictures/imagen", &err), 0);
	assert_string_equal(out, "/home/tester/Pictures/imagen");
	free(out);
	assert_int_equal(output_expand_dir(&out, "/srv/images", &err), 0);
	assert_string_equal(out, "/srv/images");
	free(out);

	assert_int_equal(chdir(dir), 0);
	cwd = getcwd(NULL, 0);
	assert_non_null(cwd);
	assert_int_equal(output_expand_dir(&out, "out/sub", &err), 0);
	want = xasprintf("%s/out/sub", cwd);
	assert_string_equal(out, want);
	free(want);
	free(out);
	/* "~user" is not this user's home: it is a relative name */
	assert_int_equal(output_expand_dir(&out, "~other", &err), 0);
	want = xasprintf("%s/~other", cwd);
	assert_string_equal(out, want);
	free(want);
	free(out);

	assert_int_equal(unsetenv("HOME"), 0);
	out = (char *)"sentinel";
	assert_int_equal(output_expand_dir(&out, "~/x", &err), -1);
	assert_null(out);
	assert_string_equal(err.msg, "cannot expand '~' in '~/x': HOME is not set");

	assert_int_equal(chdir(old_cwd), 0);
	if (old_home)
		setenv("HOME", old_home, 1);
	free(old_home);
	free(old_cwd);
	free(cwd);
	remove_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slug_lowercases_and_collapses),
		cmocka_unit_test(test_slug_trims_both_ends),
		cmocka_unit_test(test_slug_transliterates_latin_letters),
		cmocka_unit_test(test_slug_empty_gives_image),
		cmocka_unit_test(test_slug_truncates_to_max),
		cmocka_unit_test(test_slug_shape_of_long_prompt),
		cmocka_unit_test(test_template_accepts),
		cmocka_unit_test(test_template_unknown_placeholder),
		cmocka_unit_test(test_template_unterminated_and_stray),
		cmocka_unit_test(test_template_must_stay_inside),
		cmocka_unit_test(test_template_empty_and_long),
		cmocka_unit_test(test_render_all_placeholders),
		cmocka_unit_test(test_render_neutralises_values),
		cmocka_unit_test(test_render_appends_extension),
		cmocka_unit_test(test_render_refuses_json_and_bad_templates),
		cmocka_unit_test(test_clock_utc),
		cmocka_unit_test(test_clock_positive_half_hour_offset),
		cmocka_unit_test(test_clock_negative_offsets),
		cmocka_unit_test(test_clock_date_is_local),
		cmocka_unit_test(test_write_image_and_sidecar),
		cmocka_unit_test(test_write_collisions_get_suffixes),
		cmocka_unit_test(test_write_pieces_in_order),
		cmocka_unit_test(test_write_skips_taken_sidecar_name),
		cmocka_unit_test(test_write_without_sidecar),
		cmocka_unit_test(test_write_into_subdirectory),
		cmocka_unit_test(test_write_never_follows_a_link_inside_the_output_dir),
		cmocka_unit_test(test_write_refuses_bad_name),
		cmocka_unit_test(test_write_mode_honours_umask),
		cmocka_unit_test(test_write_new_never_replaces),
		cmocka_unit_test(test_expand_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
