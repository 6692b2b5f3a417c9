/* mock.c - the built-in `mock` adapter: deterministic test pictures drawn locally, no network. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backend.h"
#include "core/image.h"
#include "core/inputs.h"
#include "util/cancel.h"
#include "net/http.h"
#include "core/pngmeta.h"
#include "core/events.h"
#include "util/suggest.h"

#define MOCK_MIN_SIDE 8
#define MOCK_MAX_SIDE 8192
#define MOCK_MAX_STEPS 1000
#define MOCK_MAX_DELAY_MS 600000
#define MOCK_MAX_WORDS 12
#define MOCK_MODEL "imagen-mock-1"
#define MOCK_RENDERER "imagen-mock 1"

/*
 * Scene coordinates are "units": 0..4096 across each axis (sizes: 0..4096 of the shorter
 * side), so one prompt+seed gives the same picture at any resolution.  Pixels are drawn in
 * fixed point, 256 sub-steps per pixel ("fp"); everything in the pixel path is integer
 * arithmetic so every build (sanitized -O1, -O2, another compiler) produces identical bytes.
 */
#define UNIT 4096
#define FP 256
#define HALF (FP / 2)

struct mock_backend {
	struct backend base; /* first: the framework holds a struct backend * */
	int width, height, steps;
	long long delay_ms;
	char *fail; /* NULL when generation should succeed */
};

/* What the config slice says, read by validate() and open() alike. */
struct mock_cfg {
	long long width, height, steps, delay_ms;
	const char *fail; /* borrowed from the slice */
};

/* defined at the bottom, after the functions it points to; open() needs it for base.ops */
extern const struct backend_ops mock_backend_ops;

static const char *const mock_cfg_keys[] = {
	"type", "width", "height", "steps", "delay_ms", "fail", NULL,
};

static const char *const mock_opt_keys[] = { "delay_ms", "fail", NULL };

static int mock_read_cfg(const char *name, const json_t *cfg, struct mock_cfg *out, struct err *err)
{
	out->width = 512;
	out->height = 512;
	out->steps = 20;
	out->delay_ms = 0;
	out->fail = NULL;
	if (cfg && !json_is_object(cfg))
		return err_code(err, 2, "backends.%s: expected a mapping", name);
	if (!cfg)
		return 0;
	if (cfg_check_keys(name, cfg, mock_cfg_keys, err) ||
	    cfg_get_int(cfg, name, "width", MOCK_MIN_SIDE, MOCK_MAX_SIDE, &out->width, err) ||
	    cfg_get_int(cfg, name, "height", MOCK_MIN_SIDE, MOCK_MAX_SIDE, &out->height, err) ||
	    cfg_get_int(cfg, name, "steps", 1, MOCK_MAX_STEPS, &out->steps, err) ||
	    cfg_get_int(cfg, name, "delay_ms", 0, MOCK_MAX_DELAY_MS, &out->delay_ms, err) ||
	    cfg_get_string(cfg, name, "fail", &out->fail, err)) {
		/* the cfg_* helpers record the key; a bad slice is a config error */
		if (err)
			err->code = 2;
		return -1;
	}
	return 0;
}

static int mock_validate(const char *name, const json_t *cfg, struct err *err)
{
	struct mock_cfg c;

	return mock_read_cfg(name, cfg, &c, err);
}

static int mock_open(struct backend **out, const char *name, const json_t *cfg, struct err *err)
{
	struct mock_backend *m;
	struct mock_cfg c;

	*out = NULL;
	if (mock_read_cfg(name, cfg, &c, err))
		return -1;
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_code(err, 1, "out of memory");
	m->base.ops = &mock_backend_ops;
	m->base.name = strdup(name ? name : "mock");
	m->width = (int)c.width;
	m->height = (int)c.height;
	m->steps = (int)c.steps;
	m->delay_ms = c.delay_ms;
	/* an empty message would print as a bare "imagen: backend ...:"; treat it as unset */
	if (c.fail && *c.fail)
		m->fail = strdup(c.fail);
	if (!m->base.name || (c.fail && *c.fail && !m->fail)) {
		free(m->fail);
		free(m->base.name);
		free(m);
		return err_code(err, 1, "out of memory");
	}
	*out = &m->base;
	return 0;
}

static void mock_close(struct backend *b)
{
	struct mock_backend *m = (struct mock_backend *)b;

	if (!m)
		return;
	free(m->fail);
	free(m->base.name);
	free(m);
}

/*
 * --set values arrive typed (the framework turns "100" into an integer and "true" into a
 * boolean), so delay_ms takes an integer or a decimal string and fail takes any scalar:
 * fail=404 means the message "404", fail=true a stock message, fail=false / fail= none.
 */
static int mock_read_opts(const json_t *opts, long long *delay_ms, const char **fail, char *buf,
			  size_t bufsz, struct err *err)
{
	const char *key, *hint;
	const json_t *v;
	long long n;
	char *end;
	void *it;

	/* the iterator API rather than json_object_foreach: opts is const, and the macro
	 * confuses clang-format */
	for (it = json_object_iter((json_t *)opts); it;
	     it = json_object_iter_next((json_t *)opts, it)) {
		key = json_object_iter_key(it);
		if (!strcmp(key, "delay_ms") || !strcmp(key, "fail"))
			continue;
		hint = suggest_closest(key, mock_opt_keys);
		if (hint)
			return err_code(
				err, 2,
				"unknown option '%s' for the mock backend (known: delay_ms, "
				"fail; did you mean '%s'?)",
				key, hint);
		return err_code(err, 2,
				"unknown option '%s' for the mock backend (known: delay_ms, fail)",
				key);
	}

	v = json_object_get(opts, "delay_ms");
	if (v) {
		if (json_is_integer(v)) {
			n = json_integer_value(v);
		} else if (json_is_string(v)) {
			n = strtoll(json_string_value(v), &end, 10);
			if (end == json_string_value(v) || *end)
				n = -1;
		} else {
			n = -1;
		}
		if (n < 0 || n > MOCK_MAX_DELAY_MS)
			return err_code(err, 2, "option delay_ms: expected milliseconds, 0..%d",
					MOCK_MAX_DELAY_MS);
		*delay_ms = n;
	}

	v = json_object_get(opts, "fail");
	if (v) {
		if (json_is_string(v)) {
			*fail = json_string_value(v);
		} else if (json_is_integer(v)) {
			snprintf(buf, bufsz, "%lld", (long long)json_integer_value(v));
			*fail = buf;
		} else if (json_is_true(v)) {
			*fail = "simulated failure (fail=true)";
		} else if (json_is_false(v)) {
			*fail = NULL;
		} else {
			return err_code(err, 2, "option fail: expected a message");
		}
	}
	return 0;
}

/* ---- the picture ------------------------------------------------------------------------ */

struct rgb {
	unsigned char r, g, b;
};

struct canvas {
	unsigned char *px; /* w*h*3, rows top to bottom */
	int w, h;
	int64_t side; /* the shorter side: sizes scale with it so shapes stay round */
};

/* splitmix64: tiny, well mixed, and the whole state is a local variable (thread safe). */
static uint64_t mix_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A value in [lo, hi] from the generator. */
static int mix_range(uint64_t *state, int lo, int hi)
{
	return lo + (int)(mix_next(state) % (uint64_t)(hi - lo + 1));
}

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
	const unsigned char *s = p;

	while (n--) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL

static uint64_t isqrt64(uint64_t n)
{
	uint64_t root = 0, bit = 1ULL << 62;

	while (bit > n)
		bit >>= 2;
	while (bit) {
		if (n >= root + bit) {
			n -= root + bit;
			root = (root >> 1) + bit;
		} else {
			root >>= 1;
		}
		bit >>= 2;
	}
	return root;
}

/* Parabolic sine: phase 0..4095 is one turn, result -32768..32768.  Smooth enough for hills. */
static int64_t isin(int64_t phase)
{
	int64_t q = phase & (UNIT - 1), half = q & (UNIT / 2 - 1);
	int64_t s = half * (UNIT / 2 - half) >> 5; /* peak 1024*1024 >> 5 = 32768 */

	return q < UNIT / 2 ? s : -s;
}

static int clampi(int64_t v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : (int)v;
}

static struct rgb hsv(int hue, int s, int v)
{
	struct rgb out;
	int c, x, m, hp;

	hue = ((hue % 360) + 360) % 360;
	s = clampi(s, 0, 255);
	v = clampi(v, 0, 255);
	c = v * s / 255;
	hp = hue % 120 - 60;
	x = c * (60 - (hp < 0 ? -hp : hp)) / 60;
	m = v - c;
	switch (hue / 60) {
	case 0:
		out = (struct rgb){ c + m, x + m, m };
		break;
	case 1:
		out = (struct rgb){ x + m, c + m, m };
		break;
	case 2:
		out = (struct rgb){ m, c + m, x + m };
		break;
	case 3:
		out = (struct rgb){ m, x + m, c + m };
		break;
	case 4:
		out = (struct rgb){ x + m, m, c + m };
		break;
	default:
		out = (struct rgb){ c + m, m, x + m };
		break;
	}
	return out;
}

/*
 * A colour with saturation and value drawn from the generator.  Every draw is its own
 * statement: C leaves the order of evaluating function arguments unspecified (gcc and clang
 * differ), and two draws in one call would make the picture depend on the compiler.
 */
static struct rgb hsv_pick(uint64_t *st, int hue, int slo, int shi, int vlo, int vhi)
{
	int s = mix_range(st, slo, shi);
	int v = mix_range(st, vlo, vhi);

	return hsv(hue, s, v);
}

/* a is 0..256 (256 = opaque). */
static inline void blend(unsigned char *p, struct rgb c, unsigned a)
{
	p[0] = (unsigned char)((c.r * a + p[0] * (256 - a) + 128) >> 8);
	p[1] = (unsigned char)((c.g * a + p[1] * (256 - a) + 128) >> 8);
	p[2] = (unsigned char)((c.b * a + p[2] * (256 - a) + 128) >> 8);
}

static int64_t ux(const struct canvas *cv, int64_t u)
{
	return u * cv->w * FP / UNIT;
}

static int64_t uy(const struct canvas *cv, int64_t u)
{
	return u * cv->h * FP / UNIT;
}

static int64_t us(const struct canvas *cv, int64_t u)
{
	return u * cv->side * FP / UNIT;
}

/* Pixel span [*a, *b) covering fp coordinates lo..hi, clipped to 0..n. */
static void span(int64_t lo, int64_t hi, int n, int *a, int *b)
{
	*a = clampi(lo < 0 ? -1 : lo / FP, 0, n);
	*b = clampi(hi < 0 ? 0 : hi / FP + 1, 0, n);
}

/* Coverage (0..256) of a pixel whose centre is sqrt(d2) from the centre of a disc of radius r:
 * r - d is approximated by (r² - d²) / 2r, exact enough inside the one-pixel soft edge. */
static unsigned disc_cov(int64_t d2, int64_t r)
{
	int64_t lo = r - HALF, hi = r + HALF;

	if (r <= 0 || d2 >= hi * hi)
		return 0;
	if (lo > 0 && d2 <= lo * lo)
		return 256;
	return (unsigned)clampi(HALF + (r * r - d2) / (2 * r), 0, 256);
}

/* A disc (ri = 0) or a ring (ri = inner radius), centre and radii in fp. */
static void draw_disc(struct canvas *cv, int64_t cx, int64_t cy, int64_t r, int64_t ri,
		      struct rgb col, unsigned alpha)
{
	int x0, x1, y0, y1, x, y;
	int64_t dx, dy, d2, hi2 = (r + HALF) * (r + HALF), lo2 = (ri - HALF) * (ri - HALF);
	unsigned cov;

	span(cx - r - HALF, cx + r + HALF, cv->w, &x0, &x1);
	span(cy - r - HALF, cy + r + HALF, cv->h, &y0, &y1);
	for (y = y0; y < y1; y++) {
		unsigned char *row = cv->px + (size_t)y * cv->w * 3;

		dy = (int64_t)y * FP + HALF - cy;
		for (x = x0; x < x1; x++) {
			dx = (int64_t)x * FP + HALF - cx;
			d2 = dx * dx + dy * dy;
			if (d2 >= hi2 || (ri > HALF && d2 <= lo2))
				continue;
			cov = disc_cov(d2, r);
			if (ri > 0) {
				unsigned in = disc_cov(d2, ri);
				cov = cov > in ? cov - in : 0;
			}
			if (cov)
				blend(row + x * 3, col, cov * alpha >> 8);
		}
	}
}

/* A radial glow: alpha falls off as (1 - d²/R²)², so it has no visible edge. */
static void draw_glow(struct canvas *cv, int64_t cx, int64_t cy, int64_t r, struct rgb col,
		      unsigned alpha)
{
	int x0, x1, y0, y1, x, y;
	int64_t dx, dy, d2, rp = r / FP, r2, inv;
	unsigned t;

	if (rp < 1)
		return;
	r2 = rp * rp;
	inv = ((int64_t)1 << 32) / r2;
	span(cx - r, cx + r, cv->w, &x0, &x1);
	span(cy - r, cy + r, cv->h, &y0, &y1);
	for (y = y0; y < y1; y++) {
		unsigned char *row = cv->px + (size_t)y * cv->w * 3;

		/* whole pixels are plenty for something this soft */
		dy = y - cy / FP;
		for (x = x0; x < x1; x++) {
			dx = x - cx / FP;
			d2 = dx * dx + dy * dy;
			if (d2 >= r2)
				continue;
			t = (unsigned)clampi((r2 - d2) * inv >> 24, 0, 256);
			blend(row + x * 3, col, (t * t >> 8) * alpha >> 8);
		}
	}
}

/* An axis-aligned rectangle with exact box-filtered edges. */
static void draw_rect(struct canvas *cv, int64_t x0f, int64_t y0f, int64_t x1f, int64_t y1f,
		      struct rgb col, unsigned alpha)
{
	int x0, x1, y0, y1, x, y;
	int64_t covy, covx, px;

	span(x0f, x1f, cv->w, &x0, &x1);
	span(y0f, y1f, cv->h, &y0, &y1);
	for (y = y0; y < y1; y++) {
		unsigned char *row = cv->px + (size_t)y * cv->w * 3;
		int64_t py = (int64_t)y * FP;

		covy = (y1f < py + FP ? y1f : py + FP) - (y0f > py ? y0f : py);
		if (covy <= 0)
			continue;
		for (x = x0; x < x1; x++) {
			px = (int64_t)x * FP;
			covx = (x1f < px + FP ? x1f : px + FP) - (x0f > px ? x0f : px);
			if (covx > 0)
				blend(row + x * 3, col, (unsigned)(covx * covy >> 8) * alpha >> 8);
		}
	}
}

/* A triangle: each edge becomes a unit normal (16.16) so the distance to it is in fp and
 * the soft edge is one pixel wide whatever the slope. */
static void draw_triangle(struct canvas *cv, const int64_t vx[3], const int64_t vy[3],
			  struct rgb col, unsigned alpha)
{
	int64_t ax[3], ay[3], nx[3], ny[3], len, d, dmin, xmin, xmax, ymin, ymax;
	int x0, x1, y0, y1, x, y, i, order[3] = { 0, 1, 2 };

	/* wind the vertices so the inside is on the positive side of every edge */
	if ((vx[1] - vx[0]) * (vy[2] - vy[0]) - (vy[1] - vy[0]) * (vx[2] - vx[0]) < 0) {
		order[1] = 2;
		order[2] = 1;
	}
	xmin = xmax = vx[0];
	ymin = ymax = vy[0];
	for (i = 0; i < 3; i++) {
		int a = order[i], b = order[(i + 1) % 3];

		ax[i] = vx[a];
		ay[i] = vy[a];
		len = (int64_t)isqrt64((uint64_t)((vx[b] - vx[a]) * (vx[b] - vx[a]) +
						  (vy[b] - vy[a]) * (vy[b] - vy[a])));
		if (len < 1)
			return;
		nx[i] = -(vy[b] - vy[a]) * 65536 / len;
		ny[i] = (vx[b] - vx[a]) * 65536 / len;
		xmin = vx[i] < xmin ? vx[i] : xmin;
		xmax = vx[i] > xmax ? vx[i] : xmax;
		ymin = vy[i] < ymin ? vy[i] : ymin;
		ymax = vy[i] > ymax ? vy[i] : ymax;
	}
	span(xmin - HALF, xmax + HALF, cv->w, &x0, &x1);
	span(ymin - HALF, ymax + HALF, cv->h, &y0, &y1);
	for (y = y0; y < y1; y++) {
		unsigned char *row = cv->px + (size_t)y * cv->w * 3;
		int64_t py = (int64_t)y * FP + HALF;

		for (x = x0; x < x1; x++) {
			int64_t px = (int64_t)x * FP + HALF;

			dmin = INT64_MAX;
			for (i = 0; i < 3; i++) {
				d = (nx[i] * (px - ax[i]) + ny[i] * (py - ay[i])) / 65536;
				if (d < dmin)
					dmin = d;
				if (dmin <= -HALF)
					break;
			}
			if (dmin > -HALF)
				blend(row + x * 3, col,
				      (unsigned)clampi(dmin + HALF, 0, 256) * alpha >> 8);
		}
	}
}

/*
 * A wavy horizontal shape across the whole width, centre line cy + amp * sin(x).
 * fill = 0: a soft band of half-thickness t (alpha fades linearly to its edges);
 * fill = 1: everything below the line (a hill), with a one-pixel soft edge.
 */
static void draw_wave(struct canvas *cv, int64_t cy, int64_t amp, int64_t period, int64_t phase,
		      int64_t t, int fill, struct rgb col, unsigned alpha)
{
	int32_t line[MOCK_MAX_SIDE]; /* centre line per column, fp (fits: 8192*256 < 2^31) */
	int64_t lo = INT64_MAX, hi = INT64_MIN, dy, py, v, inv;
	int x, y, y0, y1;

	if (period < 1)
		period = 1;
	for (x = 0; x < cv->w; x++) {
		/* a second, faster harmonic keeps the line from looking like a textbook sine */
		v = cy + amp * isin(phase + (int64_t)x * FP * UNIT / period) / 32768 +
		    amp / 3 * isin(phase * 3 + (int64_t)x * FP * UNIT * 3 / period) / 32768;
		line[x] = (int32_t)v;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	if (fill) {
		span(lo - HALF, (int64_t)cv->h * FP, cv->h, &y0, &y1);
		inv = 0;
	} else {
		if (t < FP)
			t = FP;
		span(lo - t, hi + t, cv->h, &y0, &y1);
		inv = (int64_t)256 * 65536 / t;
	}
	for (y = y0; y < y1; y++) {
		unsigned char *row = cv->px + (size_t)y * cv->w * 3;

		py = (int64_t)y * FP + HALF;
		for (x = 0; x < cv->w; x++) {
			unsigned cov;

			dy = py - line[x];
			if (fill) {
				if (dy <= -HALF)
					continue;
				cov = dy >= HALF ? 256 : (unsigned)(dy + HALF);
			} else {
				dy = dy < 0 ? -dy : dy;
				if (dy >= t)
					continue;
				cov = (unsigned)clampi((t - dy) * inv >> 16, 0, 256);
			}
			blend(row + x * 3, col, cov * alpha >> 8);
		}
	}
}

struct palette {
	int hue;
	struct rgb sky_top, sky_bottom, far, near, light;
	int shape_hue[5], shape_val;
};

/* Everything about colour comes from the whole prompt, so a prompt keeps its look across
 * seeds and another prompt changes it. */
static void palette_make(struct palette *p, uint64_t ph)
{
	static const int schemes[4][5] = {
		{ 0, 30, -30, 15, -15 },  /* analogous */
		{ 0, 180, 20, 200, -20 }, /* complementary */
		{ 0, 120, 240, 60, 180 }, /* triadic */
		{ 0, 150, 210, 30, 180 }, /* split complementary */
	};
	uint64_t st = ph;
	int h = (int)(ph % 360), scheme, mood, i;

	scheme = mix_range(&st, 0, 3);
	mood = mix_range(&st, 0, 2);

	p->hue = h;
	for (i = 0; i < 5; i++)
		p->shape_hue[i] = h + schemes[scheme][i];
	switch (mood) {
	case 0: /* dusk: deep top, glowing horizon */
		p->sky_top = hsv_pick(&st, h + 220, 120, 200, 50, 100);
		p->sky_bottom = hsv_pick(&st, h + 10, 120, 200, 200, 250);
		p->shape_val = 230;
		break;
	case 1: /* day: light and airy */
		p->sky_top = hsv_pick(&st, h + 180, 90, 170, 190, 240);
		p->sky_bottom = hsv_pick(&st, h + 160, 20, 60, 230, 255);
		p->shape_val = 200;
		break;
	default: /* night: dark all over, bright shapes */
		p->sky_top = hsv_pick(&st, h + 200, 120, 220, 15, 45);
		p->sky_bottom = hsv_pick(&st, h + 240, 100, 200, 70, 120);
		p->shape_val = 245;
		break;
	}
	p->far = hsv_pick(&st, h + 150, 60, 140, 80, 130);
	p->near = hsv_pick(&st, h + 170, 80, 180, 35, 70);
	p->light = hsv_pick(&st, h + 30, 20, 80, 255, 255);
}

static void draw_background(struct canvas *cv, const struct palette *p)
{
	int x, y, t, den = cv->h > 1 ? cv->h - 1 : 1;

	for (y = 0; y < cv->h; y++) {
		unsigned char *row = cv->px + (size_t)y * cv->w * 3;
		struct rgb c;

		t = y * 256 / den;
		c.r = (unsigned char)((p->sky_top.r * (256 - t) + p->sky_bottom.r * t) >> 8);
		c.g = (unsigned char)((p->sky_top.g * (256 - t) + p->sky_bottom.g * t) >> 8);
		c.b = (unsigned char)((p->sky_top.b * (256 - t) + p->sky_bottom.b * t) >> 8);
		for (x = 0; x < cv->w; x++) {
			row[x * 3] = c.r;
			row[x * 3 + 1] = c.g;
			row[x * 3 + 2] = c.b;
		}
	}
}

/* Seed-only scenery: a glowing disc, a scatter of small dots and one or two hills. */
static int draw_scenery(struct canvas *cv, const struct palette *p, uint64_t seed)
{
	uint64_t st = seed ^ 0x5ce7e5eed5ce7e55ULL;
	int64_t cx, cy, r, amp, period, phase;
	int i, n, shapes = 0, far;

	cx = ux(cv, mix_range(&st, 500, 3600));
	cy = uy(cv, mix_range(&st, 400, 1500));
	r = us(cv, mix_range(&st, 180, 360));
	draw_glow(cv, cx, cy, r * 3, p->light, 150);
	draw_disc(cv, cx, cy, r, 0, p->light, 245);
	shapes += 2;

	n = mix_range(&st, 3, 7);
	for (i = 0; i < n; i++) {
		cx = ux(cv, mix_range(&st, 100, 4000));
		cy = uy(cv, mix_range(&st, 100, 2000));
		r = us(cv, mix_range(&st, 12, 40));
		draw_disc(cv, cx, cy, r, 0, p->light, 200);
		shapes++;
	}

	n = mix_range(&st, 1, 2);
	for (i = 0; i < n; i++) {
		far = i + 1 < n;
		cy = uy(cv, far ? mix_range(&st, 2500, 2900) : mix_range(&st, 3000, 3400));
		amp = uy(cv, mix_range(&st, 80, 260));
		period = ux(cv, mix_range(&st, 2500, 9000));
		phase = mix_range(&st, 0, UNIT - 1);
		draw_wave(cv, cy, amp, period, phase, 0, 1, far ? p->far : p->near,
			  far ? 230 : 250);
		shapes++;
	}
	return shapes;
}

/*
 * One shape per word: what it is (kind, colour, size) comes from the word alone, so the
 * same word looks the same in any prompt; where it goes comes from the word and the seed,
 * so another seed rearranges the scene.
 */
static void draw_word(struct canvas *cv, const struct palette *p, uint64_t hw, size_t len,
		      int index, uint64_t seed)
{
	uint64_t st = hw, pos = seed ^ hw ^ ((uint64_t)(index + 1) * 0xd1342543de82ef95ULL);
	int roll = mix_range(&st, 0, 99), hue, sat, val, size;
	/* bands fill the width, so they are rare: two of them make a picture all stripes */
	int kind = roll < 24 ? 0 : roll < 38 ? 1 : roll < 62 ? 2 : roll < 88 ? 3 : 4;
	unsigned alpha;
	int64_t cx, cy, s;
	struct rgb col;

	hue = p->shape_hue[mix_range(&st, 0, 4)];
	hue += mix_range(&st, -12, 12);
	sat = mix_range(&st, 140, 240);
	val = p->shape_val - mix_range(&st, 0, 70);
	col = hsv(hue, sat, val);
	/* long words are likelier the subject ("lighthouse"), short ones ("a", "of") accents */
	if (len <= 2)
		size = mix_range(&st, 110, 250);
	else if (len == 3)
		size = mix_range(&st, 220, 450);
	else
		size = mix_range(&st, 380, 820);
	alpha = (unsigned)mix_range(&st, 190, 245);
	s = us(cv, size);
	cx = ux(cv, mix_range(&pos, 350, 3750));
	cy = uy(cv, mix_range(&pos, 900, 3600));

	switch (kind) {
	case 0:
		draw_disc(cv, cx, cy, s, 0, col, alpha);
		break;
	case 1:
		draw_disc(cv, cx, cy, s, s - s * mix_range(&st, 18, 35) / 100, col, alpha);
		break;
	case 2: {
		int aspect = mix_range(&st, 0, 2);
		int64_t hw2 = aspect == 0 ? s / 3 : aspect == 1 ? s * 3 / 4 : s * 7 / 4;
		int64_t hh2 = aspect == 0 ? s * 5 / 4 : aspect == 1 ? s * 3 / 4 : s / 3;

		draw_rect(cv, cx - hw2, cy - hh2, cx + hw2, cy + hh2, col, alpha);
		break;
	}
	case 3: {
		int64_t vx[3], vy[3], half = s * mix_range(&st, 70, 130) / 100;

		vx[0] = cx + s * mix_range(&st, -40, 40) / 100;
		vy[0] = cy - s * mix_range(&st, 90, 140) / 100;
		vx[1] = cx - half;
		vy[1] = cy + s * 3 / 4;
		vx[2] = cx + half;
		vy[2] = vy[1];
		draw_triangle(cv, vx, vy, col, alpha);
		break;
	}
	default: {
		int64_t period = ux(cv, mix_range(&st, 1500, 5000));
		int64_t phase = mix_range(&pos, 0, UNIT - 1);

		draw_wave(cv, cy, s / 3, period, phase, s / 4, 0, col, alpha * 3 / 4);
		break;
	}
	}
}

static int is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80;
}

/* Draw the whole scene into cv; returns the number of shapes, *hue_out the base hue. */
static int mock_render(struct canvas *cv, const char *prompt, uint64_t seed, int *hue_out)
{
	struct palette pal;
	const unsigned char *s = (const unsigned char *)prompt;
	int shapes, words = 0;

	palette_make(&pal, fnv1a(prompt, strlen(prompt), FNV_OFFSET));
	*hue_out = pal.hue;
	draw_background(cv, &pal);
	shapes = draw_scenery(cv, &pal, seed);

	while (*s && words < MOCK_MAX_WORDS) {
		uint64_t hw = FNV_OFFSET;
		size_t len = 0;
		unsigned char c;

		while (*s && !is_word_byte(*s))
			s++;
		if (!*s)
			break;
		/* case-folded so "Fox" and "fox" draw the same shape */
		for (; *s && is_word_byte(*s); s++, len++) {
			c = (*s >= 'A' && *s <= 'Z') ? (unsigned char)(*s + 32) : *s;
			hw = fnv1a(&c, 1, hw);
		}
		draw_word(cv, &pal, hw, len, words, seed);
		words++;
	}
	return shapes + words;
}

static int mock_check_side(const char *what, int v, struct err *err)
{
	if (v < MOCK_MIN_SIDE || v > MOCK_MAX_SIDE)
		return err_code(err, 2, "%s %d is out of range for the mock backend (%d..%d)", what,
				v, MOCK_MIN_SIDE, MOCK_MAX_SIDE);
	return 0;
}

/* The input images, each scaled (nearest pixel) to w x h and averaged, as RGB. */
static int mock_base(const struct imagen_request *req, int w, int h, unsigned char **out,
		     struct err *err)
{
	unsigned *sum = calloc((size_t)w * h * 3, sizeof(*sum));
	unsigned char *base = malloc((size_t)w * h * 3), *px;
	size_t i, k;
	int iw, ih, x, y;

	*out = NULL;
	if (!sum || !base) {
		free(sum);
		free(base);
		return err_code(err, 1, "out of memory");
	}
	for (k = 0; k < req->ninputs; k++) {
		if (png_decode_rgba(req->inputs[k].data, req->inputs[k].len, &px, &iw, &ih, err) <
		    0) {
			err_prefix(err, "--image %s", req->inputs[k].path);
			err->code = 2;
			free(sum);
			free(base);
			return -1;
		}
		for (y = 0; y < h; y++) {
			const unsigned char *row = px + (size_t)((long long)y * ih / h) * iw * 4;

			for (x = 0; x < w; x++) {
				const unsigned char *p = row + (size_t)((long long)x * iw / w) * 4;
				unsigned *s = sum + ((size_t)y * w + x) * 3;

				s[0] += p[0];
				s[1] += p[1];
				s[2] += p[2];
			}
		}
		free(px);
	}
	for (i = 0; i < (size_t)w * h * 3; i++)
		base[i] = (unsigned char)(sum[i] / req->ninputs);
	free(sum);
	*out = base;
	return 0;
}

/*
 * An edit: the drawing over the inputs' average, weighted by the strength (256ths, so
 * every build makes the same bytes) and, with a mask, by the mask (the input stays
 * untouched where the mask keeps it).
 */
static int mock_blend(const struct imagen_request *req, struct canvas *cv, int *weight,
		      struct err *err)
{
	unsigned char *base;
	int x, y, k = (int)(req->strength * 256.0 + 0.5), mw = 0, mh = 0;

	if (mock_base(req, cv->w, cv->h, &base, err) < 0)
		return -1;
	if (req->mask) {
		mw = req->mask->width;
		mh = req->mask->height;
	}
	for (y = 0; y < cv->h; y++) {
		for (x = 0; x < cv->w; x++) {
			size_t i = ((size_t)y * cv->w + x) * 3;
			int a = k, c;

			if (req->mask && req->mask_map)
				a = k *
				    req->mask_map[(size_t)((long long)y * mh / cv->h) * mw +
						  (size_t)((long long)x * mw / cv->w)] /
				    255;
			for (c = 0; c < 3; c++)
				cv->px[i + c] = (unsigned char)((base[i + c] * (256 - a) +
								 cv->px[i + c] * a + 128) >>
								8);
		}
	}
	free(base);
	*weight = k;
	return 0;
}

/* The mock takes PNG inputs only: it decodes them itself (libspng). */
static int mock_check_inputs(const struct imagen_request *req, struct err *err)
{
	size_t i;

	for (i = 0; i < req->ninputs; i++)
		if (req->inputs[i].format != IMAGE_PNG)
			return err_code(err, 2,
					"--image %s: the mock backend blends PNG inputs only (this "
					"is %s)",
					req->inputs[i].path, image_mime(req->inputs[i].format));
	return 0;
}

static int mock_generate(struct backend *b, const struct imagen_request *req,
			 struct imagen_result *res, size_t *nres, struct err *err)
{
	struct mock_backend *m = (struct mock_backend *)b;
	const char *fail = m->fail, *prompt = req->prompt ? req->prompt : "";
	long long delay_ms = m->delay_ms;
	int w = req->width ? req->width : m->width;
	int h = req->height ? req->height : m->height;
	int steps = req->steps ? req->steps : m->steps;
	struct canvas cv;
	char failbuf[32];
	int shapes, hue, weight = -1;

	if (req->size_from_input)
		size_round(w, h, 1, MOCK_MAX_SIDE, &w, &h);
	if (req->ninputs && mock_check_inputs(req, err) < 0)
		return -1;
	if (mock_check_side("width", w, err) || mock_check_side("height", h, err))
		return -1;
	if (steps < 1 || steps > MOCK_MAX_STEPS)
		return err_code(err, 2, "steps %d is out of range for the mock backend (1..%d)",
				steps, MOCK_MAX_STEPS);
	if (req->opts && mock_read_opts(req->opts, &delay_ms, &fail, failbuf, sizeof(failbuf), err))
		return -1;

	*nres = 0;
	ev_status(req->events, "drawing");
	if (delay_ms > 0 && cancel_sleep((double)delay_ms / 1e3))
		return err_code(err, HTTP_EXIT_CANCELED, "interrupted");
	if (fail && *fail)
		return err_code(err, 1, "%s", fail);

	cv.w = w;
	cv.h = h;
	cv.side = w < h ? w : h;
	cv.px = malloc((size_t)w * h * 3);
	if (!cv.px)
		return err_code(err, 1, "out of memory for a %dx%d picture", w, h);
	shapes = mock_render(&cv, prompt, (uint64_t)req->seed, &hue);
	if (req->ninputs && mock_blend(req, &cv, &weight, err) < 0) {
		free(cv.px);
		return -1;
	}
	if (png_encode_rgb(&res->data, &res->len, cv.px, (unsigned)w, (unsigned)h, err)) {
		free(cv.px);
		if (err)
			err->code = 1;
		return -1;
	}
	free(cv.px);

	snprintf(res->mime, sizeof(res->mime), "image/png");
	res->width = w;
	res->height = h;
	res->steps = steps;
	res->seed = req->seed;
	res->seed_honoured = 1;
	res->model = strdup(MOCK_MODEL);
	res->metadata = json_pack("{s:s, s:i, s:i}", "renderer", MOCK_RENDERER, "shapes", shapes,
				  "hue", hue);
	if (res->metadata && weight >= 0)
		json_object_set_new(res->metadata, "blend", json_integer(weight));
	res->cost = NULL;
	if (!res->model || !res->metadata) {
		imagen_result_release(res);
		return err_code(err, 1, "out of memory");
	}
	*nres = 1;
	return 0;
}

/* This adapter's instance in the sample imagen.yaml (`imagen config init`): one
 * NAME: with its keys, as a user would write it; it must pass validate(). */
static const char mock_sample[] =
	"mock:\n"
	"  type: mock            # built-in, no network: deterministic pictures\n"
	"  width: 512\n"
	"  height: 512\n"
	"  steps: 20\n"
	"  delay_ms: 0           # simulated latency\n"
	"  # fail: \"out of memory\" # make every generation fail with this message\n";

const struct backend_ops mock_backend_ops = {
	.type = "mock",
	.summary = "deterministic test pictures drawn locally, no network",
	.max_batch = 1,
	.validate = mock_validate,
	.open = mock_open,
	.generate = mock_generate,
	.close = mock_close,
	.keys = mock_cfg_keys,
	.sample = mock_sample,
};
