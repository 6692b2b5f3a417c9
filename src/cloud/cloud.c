/* cloud.c - Supabase Storage upload + PostgREST rows for one image read back from disk. */
#include "cloud/cloud.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/events.h"
#include "util/env.h"
#include "util/file.h"
#include "net/http.h"
#include "cloud/outbox.h"
#include "core/image.h"
#include "core/pngmeta.h"
#include "util/sha256.h"
#include "util/text.h"

#define RECORD_MAX_BYTES (16u * 1024 * 1024)

/* ---- connection ------------------------------------------------------------------------ */

int cloud_key_is_jwt(const char *key)
{
	return strncmp(key, "sb_", 3) != 0;
}

static int need_owner(const struct cloud_conn *c, struct err *err)
{
	if (!c->owner || !*c->owner)
		return err_kind(err, ERR_KIND_CONFIG, 2,
				"owner_user_id is not set (see imagen config init)");
	return 0;
}

int cloud_connect(struct cloud_conn *out, const struct config *cfg, const struct env *env,
		  unsigned flags, struct err *err)
{
	const char *key;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (config_cloud_usable(cfg, env, err) < 0)
		goto fail;
	key = env_get(env, cfg->service_key_env);
	/* a header value cannot hold a line break: refuse rather than inject */
	if (strpbrk(key, "\r\n")) {
		err_code(err, 2, "the key in %s contains a line break", cfg->service_key_env);
		goto fail;
	}
	len = strlen(cfg->supabase_url);
	while (len && cfg->supabase_url[len - 1] == '/')
		len--;
	out->base = strndup(cfg->supabase_url, len);
	out->bucket = cfg->bucket;
	out->owner = cfg->owner_user_id ? cfg->owner_user_id : "";
	if (!out->base || asprintf(&out->h_apikey, "apikey: %s", key) < 0) {
		out->h_apikey = NULL;
		err_code(err, 2, "out of memory");
		goto fail;
	}
	if (cloud_key_is_jwt(key) && asprintf(&out->h_auth, "Authorization: Bearer %s", key) < 0) {
		out->h_auth = NULL;
		err_code(err, 2, "out of memory");
		goto fail;
	}
	if ((flags & CLOUD_NEED_OWNER) && need_owner(out, err) < 0)
		goto fail;
	return 0;
fail:
	cloud_close(out);
	if (err)
		err->kind = ERR_KIND_CONFIG;
	return -1;
}

static void free_secret(char *s)
{
	if (s) {
		volatile char *p = s;

		while (*p)
			*p++ = '\0';
		free(s);
	}
}

void cloud_close(struct cloud_conn *c)
{
	free(c->base);
	free_secret(c->h_apikey);
	free_secret(c->h_auth);
	memset(c, 0, sizeof(*c));
}

/* ---- reading an item back from disk ---------------------------------------------------- */

/* YYYY-MM-DD at s (digits where digits belong, a plausible month and day). */
static int is_date(const char *s)
{
	int i;

	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			if (s[i] != '-')
				return 0;
		} else if (!isdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return (s[5] == '0' ? s[6] >= '1' : s[5] == '1' && s[6] <= '2') &&
	       ((s[8] >= '0' && s[8] <= '2' && (s[8] > '0' || s[9] >= '1')) ||
		(s[8] == '3' && s[9] <= '1'));
}

/* Characters Storage accepts in an object key (supabase.md section 2). */
static int key_char_ok(unsigned char c)
{
	return isalnum(c) || (c && strchr("_-.',!*&$@=;:+?() ", c));
}

static const char *str_field(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : NULL;
}

static int load_record(struct cloud_item *it, struct err *err)
{
	char *side = NULL, *dot;
	const char *base = it->file_name;
	struct png_text *texts = NULL;
	size_t ntexts = 0, len = 0;
	unsigned char *text = NULL;
	json_error_t jerr;
	const char *chunk;
	struct stat st;
	int rc = -1;

	/* the sidecar shares the image's stem: x.png -> x.json */
	dot = strrchr(base, '.');
	if (asprintf(&side, "%.*s.json",
		     (int)((dot && dot != base ? dot : base + strlen(base)) - it->image),
		     it->image) < 0)
		return err_set(err, "out of memory");
	if (stat(side, &st) == 0) {
		if (file_read(&text, &len, side, RECORD_MAX_BYTES, err) < 0)
			goto out;
		it->record = json_loadb((const char *)text, len, 0, &jerr);
		if (!it->record) {
			err_kind(err, ERR_KIND_INPUT, 1, "%s:%d: not valid JSON: %s", side,
				 jerr.line, jerr.text);
			goto out;
		}
		it->record_from = side;
		side = NULL;
	} else if (!strcmp(it->mime, "image/png")) {
		if (pngmeta_check(it->data, it->bytes, NULL, NULL, err) < 0 ||
		    pngmeta_read_text(&texts, &ntexts, it->data, it->bytes, err) < 0) {
			err_prefix(err, "%s", it->image);
			err->code = 1;
			err->kind = ERR_KIND_INPUT;
			goto out;
		}
		chunk = pngmeta_find(texts, ntexts, "imagen");
		if (!chunk) {
			err_kind(err, ERR_KIND_INPUT, 1,
				 "%s: no imagen record (neither a sidecar %s nor an imagen chunk "
				 "in the PNG)",
				 it->image, side);
			goto out;
		}
		it->record = json_loads(chunk, 0, &jerr);
		if (!it->record) {
			err_kind(err, ERR_KIND_INPUT, 1, "%s: imagen chunk is not valid JSON: %s",
				 it->image, jerr.text);
			goto out;
		}
		if (asprintf(&it->record_from, "%s (imagen chunk)", it->image) < 0) {
			it->record_from = NULL;
			err_set(err, "out of memory");
			goto out;
		}
	} else {
		err_kind(err, ERR_KIND_INPUT, 1, "%s: no imagen record (no sidecar %s)", it->image,
			 side);
		goto out;
	}
	if (!json_is_object(it->record)) {
		err_kind(err, ERR_KIND_INPUT, 1, "%s: the record is not a JSON object",
			 it->record_from);
		goto out;
	}
	rc = 0;
out:
	pngmeta_text_free(texts, ntexts);
	free(text);
	free(side);
	return rc;
}

/* The checks that make "{date}/{file name}" a faithful storage path for the record. */
static int check_record(struct cloud_item *it, struct err *err)
{
	const char *from = it->record_from, *created = str_field(it->record, "created_at");
	const char *f;

	if (!created || strlen(created) < 11 || !is_date(created) || created[10] != 'T')
		return err_kind(err, ERR_KIND_INPUT, 1,
				"%s: field 'created_at' is missing or not an ISO 8601 time: it "
				"dates the storage path {date}/{file name}",
				from);
	memcpy(it->date, created, 10);
	it->date[10] = '\0';
	if (!str_field(it->record, "prompt"))
		return err_kind(err, ERR_KIND_INPUT, 1,
				"%s: field 'prompt' is missing or empty: the slug and the row's "
				"prompt come from it",
				from);
	if (!str_field(it->record, "backend") || !str_field(it->record, "backend_type"))
		return err_kind(err, ERR_KIND_INPUT, 1,
				"%s: field '%s' is missing: the images row needs it", from,
				str_field(it->record, "backend") ? "backend_type" : "backend");
	if (strlen(it->file_name) >= 10 && is_date(it->file_name) &&
	    strncmp(it->file_name, it->date, 10))
		return err_kind(err, ERR_KIND_INPUT, 1,
				"%s: the file name is dated %.10s but its record says %s: the "
				"storage path would not mirror the local name",
				it->image, it->file_name, it->date);
	for (f = it->file_name; *f; f++)
		if (!key_char_ok((unsigned char)*f))
			return err_kind(err, ERR_KIND_INPUT, 1,
					"%s: the file name has a character Storage refuses in a "
					"key (0x%02x); rename it with letters, digits and _-.()",
					it->image, (unsigned char)*f);
	if (asprintf(&it->storage_path, "%s/%s", it->date, it->file_name) < 0) {
		it->storage_path = NULL;
		return err_set(err, "out of memory");
	}
	return 0;
}

/* After a failed read of path: is the failure one that retrying cannot mend (the file is
 * gone, not a regular file, too large)?  Anything else (EACCES, EIO, a symlink loop, no
 * file descriptors) may pass: the image stays queued rather than being dropped. */
static int read_failure_is_final(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR;
	return !S_ISREG(st.st_mode) || (unsigned long long)st.st_size > CLOUD_MAX_IMAGE_BYTES;
}

int cloud_item_load(struct cloud_item *out, const char *image_path, struct err *err)
{
	const char *slash;
	int e;

	memset(out, 0, sizeof(*out));
	out->image = realpath(image_path, NULL);
	if (!out->image) {
		e = errno;
		err_kind(err, e == ENOENT || e == ENOTDIR ? ERR_KIND_INPUT : ERR_KIND_NONE, 1,
			 "%s: %s", image_path, strerror(e));
		goto fail;
	}
	slash = strrchr(out->image, '/');
	out->file_name = slash ? slash + 1 : out->image;
	if (file_read(&out->data, &out->bytes, out->image, CLOUD_MAX_IMAGE_BYTES, err) < 0) {
		err->code = 1;
		err->kind = read_failure_is_final(out->image) ? ERR_KIND_INPUT : ERR_KIND_NONE;
		goto fail;
	}
	out->mime = image_mime(image_sniff(out->data, out->bytes));
	if (!out->mime) {
		err_kind(err, ERR_KIND_INPUT, 1, "%s: not a PNG, JPEG or WebP image", out->image);
		goto fail;
	}
	if (load_record(out, err) < 0 || check_record(out, err) < 0)
		goto fail;
	sha256_hex(out->sha256, out->data, out->bytes);
	return 0;
fail:
	cloud_item_release(out);
	return -1;
}

void cloud_item_release(struct cloud_item *it)
{
	free(it->image);
	free(it->storage_path);
	json_decref(it->record);
	free(it->record_from);
	free(it->data);
	memset(it, 0, sizeof(*it));
}

/* ---- rows -------------------------------------------------------------------------------- */

static json_t *copy_or_null(const json_t *v)
{
	return v && !json_is_null(v) ? json_deep_copy(v) : json_null();
}

static json_t *string_or_null(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_copy((json_t *)v) : json_null();
}

static json_t *integer_or_null(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer(json_integer_value(v)) : json_null();
}

/* The first value found at one of the dotted paths, if it has the wanted type. */
static const json_t *dig(const json_t *root, const char *const *paths, int want_integer)
{
	char part[64];
	const json_t *v;
	const char *p, *dot;
	size_t i, len;

	for (i = 0; paths[i]; i++) {
		v = root;
		for (p = paths[i]; v && *p; p = dot ? dot + 1 : p + len) {
			dot = strchr(p, '.');
			len = dot ? (size_t)(dot - p) : strlen(p);
			if (len >= sizeof(part))
				return NULL;
			memcpy(part, p, len);
			part[len] = '\0';
			v = json_object_get(v, part);
		}
		if (v && (want_integer ? json_is_integer(v) : json_is_number(v)))
			return v;
	}
	return NULL;
}

json_t *cloud_image_row(const struct cloud_item *it, const char *owner, const char *bucket)
{
	const json_t *r = it->record, *cost = json_object_get(r, "cost");
	const json_t *usd = json_object_get(cost, "usd");

	return json_pack("{s:s, s:s, s:s, s:O, s:o, s:o, s:o, s:O, s:O, s:o, s:o, s:o, s:o, "
			 "s:o, s:I, s:s, s:o, s:o, s:O, s:O}",
			 "owner_user_id", owner, "storage_path", it->storage_path, "bucket", bucket,
			 "prompt", json_object_get(r, "prompt"), "final_prompt",
			 string_or_null(r, "final_prompt"), "negative_prompt",
			 string_or_null(r, "negative_prompt"), "style", string_or_null(r, "style"),
			 "backend", json_object_get(r, "backend"), "backend_type",
			 json_object_get(r, "backend_type"), "model", string_or_null(r, "model"),
			 "seed", integer_or_null(r, "seed"), "width", integer_or_null(r, "width"),
			 "height", integer_or_null(r, "height"), "steps",
			 integer_or_null(r, "steps"), "bytes", (json_int_t)it->bytes, "sha256",
			 it->sha256, "cost_usd",
			 json_is_number(usd) ? json_copy((json_t *)usd) : json_null(), "cost",
			 json_is_object(cost) ? json_deep_copy(cost) : json_null(), "metadata", r,
			 "generated_at", json_object_get(r, "created_at"));
}

json_t *cloud_usage_row(const struct cloud_item *it, const char *owner)
{
	static const char *const predict[] = {
		"cost.detail.predict_time_s",    "cost.detail.predict_time",
		"metadata.metrics.predict_time", "metadata.predict_time_s",
		"metadata.predict_time",         NULL
	};
	static const char *const in_tok[] = { "cost.detail.input_tokens",
					      "cost.detail.usage.input_tokens",
					      "metadata.usage.input_tokens",
					      "metadata.input_tokens", NULL };
	static const char *const out_tok[] = { "cost.detail.output_tokens",
					       "cost.detail.usage.output_tokens",
					       "metadata.usage.output_tokens",
					       "metadata.output_tokens", NULL };
	const json_t *r = it->record, *cost = json_object_get(r, "cost");
	const json_t *usd = json_object_get(cost, "usd"), *method;

	if (!json_is_object(cost))
		return NULL;
	method = json_is_string(json_object_get(cost, "method")) ? json_object_get(cost, "method")
								 : json_object_get(cost, "reason");
	/* created_at is the generation time, not the sync time: a backfill by imagen sync
	 * weeks later still books the cost on the day it was spent */
	return json_pack(
		"{s:s, s:s, s:O, s:O, s:o, s:i, s:o, s:o, s:o, s:o, s:o, s:O}", "owner_user_id",
		owner, "storage_path", it->storage_path, "backend", json_object_get(r, "backend"),
		"backend_type", json_object_get(r, "backend_type"), "model",
		string_or_null(r, "model"), "image_count", 1, "cost_usd",
		json_is_number(usd) ? json_copy((json_t *)usd) : json_null(), "cost_method",
		json_is_string(method) ? json_copy((json_t *)method) : json_null(),
		"predict_time_s", copy_or_null(dig(r, predict, 0)), "input_tokens",
		copy_or_null(dig(r, in_tok, 1)), "output_tokens", copy_or_null(dig(r, out_tok, 1)),
		"created_at", json_object_get(r, "created_at"));
}

/* ---- HTTP -------------------------------------------------------------------------------- */

/* "HTTP 400: Bucket not found (NoSuchBucket, 404)" from Storage's error body, whose
 * statusCode string (not the HTTP status) carries the real status. */
static void describe_storage(char *out, size_t size, const struct http_response *resp)
{
	json_t *b = resp->body.len
			    ? json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL)
			    : NULL;
	const char *msg = json_string_value(json_object_get(b, "message"));
	const char *code = json_string_value(json_object_get(b, "code"));
	const char *error = json_string_value(json_object_get(b, "error"));
	const json_t *sc = json_object_get(b, "statusCode");
	const char *text, *tag;
	char m[201], c[61], e[9], s[9] = "";

	if (!msg && !code && !error) {
		http_describe_status(out, size, resp);
		json_decref(b);
		return;
	}
	if (json_is_string(sc))
		text_clean(s, sizeof(s), json_string_value(sc));
	else if (json_is_integer(sc))
		snprintf(s, sizeof(s), "%lld", (long long)json_integer_value(sc));
	text = msg ? msg : error ? error : code;
	/* a code (or the error's name) only when there is one beside the text: the gateway's
	 * own answers carry a message alone ({"message": "Invalid API key"}) */
	tag = code && code != text ? code : msg && error ? error : NULL;
	text_clean(m, sizeof(m), text);
	text_clean(c, sizeof(c), tag);
	text_clean(e, sizeof(e), s);
	if (*c || *e)
		snprintf(out, size, "HTTP %ld: %s (%s%s%s)", resp->status, m, c,
			 *c && *e ? ", " : "", e);
	else
		snprintf(out, size, "HTTP %ld: %s", resp->status, m);
	json_decref(b);
}

/* "HTTP 400: null value in column ... (23502)" from PostgREST's error body. */
static void describe_rest(char *out, size_t size, const struct http_response *resp)
{
	json_t *b = resp->body.len
			    ? json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL)
			    : NULL;
	const char *msg = json_string_value(json_object_get(b, "message"));
	const char *code = json_string_value(json_object_get(b, "code"));
	const char *hint = json_string_value(json_object_get(b, "hint"));
	char m[201], c[25], h[121];

	if (!msg) {
		http_describe_status(out, size, resp);
		json_decref(b);
		return;
	}
	text_clean(m, sizeof(m), msg);
	text_clean(c, sizeof(c), code);
	text_clean(h, sizeof(h), hint);
	snprintf(out, size, "HTTP %ld: %s%s%s%s%s%s", resp->status, m, *c ? " (" : "", c,
		 *c ? ")" : "", *h ? "; hint: " : "", h);
	json_decref(b);
}

/* Append " after N attempts" when retries happened. */
static void note_attempts(char *out, size_t size, int attempts)
{
	size_t len = strlen(out);

	if (attempts > 1 && len < size)
		snprintf(out + len, size - len, " (after %d attempts)", attempts);
}

static int call(const struct cloud_conn *c, const char *method, const char *url, const char *ctype,
		const char *extra1, const char *extra2, const void *body, size_t len,
		struct http_response *resp, struct err *err)
{
	const char *headers[8];
	char ct[96];
	struct http_request req;
	size_t n = 0;

	headers[n++] = c->h_apikey;
	if (c->h_auth)
		headers[n++] = c->h_auth;
	if (ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		headers[n++] = ct;
	}
	if (extra1)
		headers[n++] = extra1;
	if (extra2)
		headers[n++] = extra2;
	headers[n] = NULL;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = len;
	req.max_body = 4u << 20;
	req.label = "cloud";
	req.events = c->events;
	/* every call is safe to repeat: the upload overwrites (x-upsert), the row inserts
	 * merge on storage_path, signing makes another URL */
	req.idempotent = 1;
	return http_request_retry(&req, NULL, resp, err);
}

/* "bucket/a/b c.png" with every segment percent-encoded, slashes kept. */
static char *object_url(const struct cloud_conn *c, const char *route, const char *path)
{
	struct buf b = BUF_INIT;
	const char *p = path, *slash;
	char *seg, *esc;
	size_t len;
	int bad = 0;

	esc = http_escape(c->bucket);
	if (!esc || buf_addf(&b, "%s/storage/v1/%s%s", c->base, route, esc) < 0)
		bad = 1;
	free(esc);
	while (!bad && *p) {
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		seg = strndup(p, len);
		esc = seg ? http_escape(seg) : NULL;
		if (!esc || buf_addf(&b, "/%s", esc) < 0)
			bad = 1;
		free(seg);
		free(esc);
		p += len;
		if (*p == '/')
			p++;
	}
	if (bad) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static int upload(const struct cloud_conn *c, const struct cloud_item *it, struct err *err)
{
	struct http_response resp;
	char *url = object_url(c, "object/", it->storage_path), why[512];
	int rc = -1;

	memset(&resp, 0, sizeof(resp));
	if (!url)
		return err_set(err, "out of memory");
	if (call(c, "POST", url, it->mime, "x-upsert: true", "Cache-Control: max-age=3600",
		 it->data, it->bytes, &resp, err) < 0) {
		/* a transport error: the HTTP layer already says "after N attempts: ..." */
		snprintf(why, sizeof(why), "%.400s", err->msg);
		err_set(err, "upload of %s failed: %s", it->storage_path, why);
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		describe_storage(why, sizeof(why), &resp);
		note_attempts(why, sizeof(why), resp.attempts);
		err_set(err, "upload of %s failed: %s", it->storage_path, why);
		goto out;
	}
	rc = 0;
out:
	http_response_release(&resp);
	free(url);
	return rc;
}

/* POST one row to /rest/v1/TABLE as an upsert on storage_path; *id gets the row's id. */
static int upsert_row(const struct cloud_conn *c, const char *table, const char *schema,
		      const json_t *row, char *id, size_t id_size, char *why, size_t why_size,
		      struct err *err)
{
	struct http_response resp;
	char *url = NULL, *body = json_dumps(row, JSON_COMPACT | JSON_REAL_PRECISION(12)),
	     profile[64];
	json_t *answer = NULL;
	const char *s;
	int rc = -1;

	memset(&resp, 0, sizeof(resp));
	why[0] = '\0';
	if (!body || asprintf(&url, "%s/rest/v1/%s?on_conflict=storage_path", c->base, table) < 0) {
		url = NULL;
		snprintf(why, why_size, "out of memory");
		goto out;
	}
	snprintf(profile, sizeof(profile), "Content-Profile: %s", schema);
	if (call(c, "POST", url, "application/json", profile,
		 "Prefer: return=representation,resolution=merge-duplicates", body, strlen(body),
		 &resp, err) < 0) {
		/* a transport error: the HTTP layer already says "after N attempts: ..." */
		snprintf(why, why_size, "%.400s", err->msg);
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		describe_rest(why, why_size, &resp);
		note_attempts(why, why_size, resp.attempts);
		goto out;
	}
	answer = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	s = json_string_value(json_object_get(json_array_get(answer, 0), "id"));
	if (!s) {
		snprintf(why, why_size, "HTTP %ld without the inserted row in the answer",
			 resp.status);
		goto out;
	}
	snprintf(id, id_size, "%s", s);
	rc = 0;
out:
	http_response_release(&resp);
	json_decref(answer);
	free(body);
	free(url);
	return rc;
}

int cloud_sync_item(const struct cloud_conn *c, const struct cloud_item *it,
		    const char *uploaded_sha256, struct cloud_result *res, struct err *err)
{
	json_t *row = NULL, *usage = NULL;
	char why[768];
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (need_owner(c, err) < 0)
		return -1;
	if (uploaded_sha256 && !strcmp(uploaded_sha256, it->sha256)) {
		res->upload_skipped = 1; /* these very bytes landed on an earlier attempt */
	} else if (upload(c, it, err) < 0) {
		return -1;
	}
	res->uploaded = 1;

	row = cloud_image_row(it, c->owner, c->bucket);
	if (!row) {
		err_set(err, "out of memory");
		goto out;
	}
	if (upsert_row(c, "images", "imagen", row, res->row_id, sizeof(res->row_id), why,
		       sizeof(why), err) < 0) {
		err_set(err, "%s %s but the row insert failed: %s",
			res->upload_skipped ? "uploaded (earlier)" : "uploaded", it->storage_path,
			why);
		goto out;
	}
	usage = cloud_usage_row(it, c->owner);
	res->billed = usage != NULL;
	if (usage && upsert_row(c, "imagen_usage", "mai", usage, res->usage_id,
				sizeof(res->usage_id), why, sizeof(why), err) < 0) {
		err_set(err, "uploaded %s and recorded its row but the usage row insert failed: %s",
			it->storage_path, why);
		goto out;
	}
	rc = 0;
out:
	json_decref(row);
	json_decref(usage);
	return rc;
}

json_t *cloud_result_json(const struct cloud_conn *c, const struct cloud_item *it,
			  const struct cloud_result *res, const char *error, int queued)
{
	return json_pack(
		"{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:b, s:b, s:s?, s:b}", "status",
		error ? "failed" : "synced", "bucket", c ? c->bucket : NULL, "storage_path",
		it ? it->storage_path : NULL, "sha256", it ? it->sha256 : NULL, "row_id",
		res && res->row_id[0] ? res->row_id : NULL, "usage_row_id",
		res && res->usage_id[0] ? res->usage_id : NULL, "uploaded", res ? res->uploaded : 0,
		"upload_skipped", res ? res->upload_skipped : 0, "error", error, "queued", queued);
}

json_t *cloud_outbox_entry(const char *image, const struct cloud_item *it,
			   const struct cloud_result *res, const char *error)
{
	json_t *e = json_pack("{s:s, s:s?, s:s}", "image", image, "storage_path",
			      it ? it->storage_path : NULL, "last_error", error ? error : "");

	if (e && it && res && res->uploaded)
		json_object_set_new(e, "uploaded_sha256", json_string(it->sha256));
	return e;
}

/* ---- signed URLs ------------------------------------------------------------------------ */

int cloud_sign_url(char **out, const struct cloud_conn *c, const char *storage_path, long expires_s,
		   struct err *err)
{
	struct http_response resp;
	char *url = object_url(c, "object/sign/", storage_path), body[64], why[512];
	json_t *answer = NULL, *b;
	const char *signed_url, *code;
	int rc = -1;

	*out = NULL;
	memset(&resp, 0, sizeof(resp));
	if (!url)
		return err_set(err, "out of memory");
	snprintf(body, sizeof(body), "{\"expiresIn\": %ld}", expires_s);
	if (call(c, "POST", url, "application/json", NULL, NULL, body, strlen(body), &resp, err) <
	    0) {
		/* a transport error: the HTTP layer already says "after N attempts: ..." */
		snprintf(why, sizeof(why), "%.400s", err->msg);
		err_set(err, "signing %s failed: %s", storage_path, why);
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		b = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
		code = json_string_value(json_object_get(b, "code"));
		if (!code)
			code = json_string_value(json_object_get(b, "error"));
		if (code && (!strcmp(code, "NoSuchKey") || !strcmp(code, "not_found"))) {
			err_kind(err, ERR_KIND_NOT_FOUND, 1,
				 "%s is not in bucket %s (upload it with imagen sync FILE)",
				 storage_path, c->bucket);
			json_decref(b);
			goto out;
		}
		json_decref(b);
		describe_storage(why, sizeof(why), &resp);
		err_set(err, "signing %s failed: %s", storage_path, why);
		goto out;
	}
	answer = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	signed_url = json_string_value(json_object_get(answer, "signedURL"));
	if (!signed_url)
		signed_url = json_string_value(json_object_get(answer, "signedUrl"));
	if (!signed_url || !*signed_url || strpbrk(signed_url, " \r\n")) {
		err_set(err, "signing %s: HTTP %ld without a signedURL in the answer", storage_path,
			resp.status);
		goto out;
	}
	if (!strncmp(signed_url, "http://", 7) || !strncmp(signed_url, "https://", 8))
		*out = strdup(signed_url);
	else if (asprintf(out, "%s/storage/v1%s%s", c->base, *signed_url == '/' ? "" : "/",
			  signed_url) < 0)
		*out = NULL;
	if (!*out) {
		err_set(err, "out of memory");
		goto out;
	}
	rc = 0;
out:
	http_response_release(&resp);
	json_decref(answer);
	free(url);
	return rc;
}

/* ---- after generate ---------------------------------------------------------------------- */

json_t *cloud_after_generate(const struct config *cfg, const struct settings *st,
			     const struct env *env, const char *image_path,
			     const struct ev_sink *events)
{
	struct cloud_conn c;
	struct cloud_item it;
	struct cloud_result res;
	struct err err = ERR_INIT, qerr = ERR_INIT;
	char *outbox = NULL, line[1400];
	json_t *entry, *result;
	int have_conn = 0, have_item = 0, queued = 0;

	if (!st->cloud_on)
		return NULL;
	memset(&it, 0, sizeof(it));
	memset(&res, 0, sizeof(res));
	if (cloud_connect(&c, cfg, env, CLOUD_NEED_OWNER, &err) == 0) {
		have_conn = 1;
		c.events = events;
		if (cloud_item_load(&it, image_path, &err) == 0) {
			have_item = 1;
			if (cloud_sync_item(&c, &it, NULL, &res, &err) == 0) {
				ev_log(events, EV_VERBOSE, "cloud sync", "%s -> %s/%s (row %s%s%s)",
				       image_path, c.bucket, it.storage_path, res.row_id,
				       res.usage_id[0] ? ", usage row " : "", res.usage_id);
				result = cloud_result_json(&c, &it, &res, NULL, 0);
				goto out;
			}
		}
	}
	/* failed: remember it, unless retrying cannot help: the file itself cannot sync as it
	 * is, or the configuration is incomplete (fix it, then imagen sync FILE...) */
	snprintf(line, sizeof(line), "%s", err.msg);
	if (err.kind != ERR_KIND_INPUT && err.kind != ERR_KIND_CONFIG) {
		char *abs = it.image ? NULL : realpath(image_path, NULL);

		entry = cloud_outbox_entry(it.image ? it.image
					   : abs    ? abs
						    : image_path,
					   have_item ? &it : NULL, &res, err.msg);
		free(abs);
		if (entry && outbox_path(&outbox, env, &qerr) == 0 &&
		    outbox_put(outbox, entry, &qerr) == 0) {
			queued = 1;
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 "; queued for imagen sync");
		} else {
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
				 "; not queued: %s", entry ? qerr.msg : "out of memory");
		}
		json_decref(entry);
	}
	ev_log(events, EV_WARN, "cloud sync", "%s", line);
	result = cloud_result_json(have_conn ? &c : NULL, have_item ? &it : NULL, &res, err.msg,
				   queued);
out:
	if (have_conn)
		cloud_close(&c);
	cloud_item_release(&it);
	free(outbox);
	return result;
}
