#!/usr/bin/python3
"""supabase.py - a fake Supabase (Storage /storage/v1 + PostgREST /rest/v1) for tests.

Writes go into a real PostgreSQL (the throwaway cluster of tests/db/pg.sh, with the
project's migrations applied), so the constraints, grants and RLS policies that answer
are the real ones; object bytes go to files under --store.  Wire behaviour follows
/work/shared/protocols/supabase.md.

    supabase.py --port-file F --log F [--fault JSON] --dsn DSN --service-key KEY
                --store DIR [--jwt-secret S]

DSN is a libpq connection string of a superuser (IMAGEN_TEST_DSN); the fake connects
as user authenticator, like PostgREST, and per request SET LOCAL ROLE to the caller's
role with request.jwt.claims set, so RLS and grants apply as on Supabase.

Authentication (every route except GET /storage/v1/object/sign/..., whose token is
the credential):
  * header apikey must equal KEY; missing -> 401 {"message":"No API key found in
    request"}, other value -> 401 {"message":"Invalid API key"} (the gateway's answers);
  * a JWT-style KEY (anything not starting "sb_"): Authorization: Bearer KEY as well ->
    role service_role.  A new-format "sb_secret_..." KEY goes in apikey only (-> role
    service_role); sent as a Bearer token it is rejected as an invalid JWT, as on
    Supabase ("Invalid Compact JWS");
  * Authorization: Bearer <HS256 JWT signed with --jwt-secret> -> the token's role
    claim (authenticated, anon) and its sub; no Authorization -> anon for PostgREST,
    an error for Storage uploads.
Errors of PostgREST are {"code","details","hint","message"} with PostgREST's status
(23502 -> 400, 23505/23503 -> 409, 42501 -> 401 for anon / 403 otherwise, PGRST106 ->
406, PGRST204 -> 400, ...); errors of Storage are HTTP 400 (or 401 from the gateway)
with {"statusCode": "<status as a string>", "code", "error", "message"}.

Storage routes (prefix /storage/v1):
  POST|PUT /object/{bucket}/{path}      upload (raw body; x-upsert; Content-Type checked
                                        against the bucket's allowed_mime_types, size
                                        against file_size_limit); the storage.objects
                                        row is written in PostgreSQL and the bytes to
                                        DIR/{bucket}/{path}; 200 {"Key","Id"}
  HEAD /object/{bucket}/{path}          200 + Content-Length/Content-Type/ETag, or 400
  GET /object/info/{bucket}/{path}      object info JSON (id, name, size, content_type,
                                        etag, metadata, ...) or 400 NoSuchKey
  GET /object/{bucket}/{path}           the bytes (also /object/authenticated/...)
  DELETE /object/{bucket}/{path}        {"message":"Successfully deleted"}
  POST /object/sign/{bucket}/{path}     {"expiresIn": N} -> {"signedURL":
                                        "/object/sign/{bucket}/{path}?token=<JWT>"}
  GET /object/sign/{bucket}/{path}?token=T   the bytes (token signature, url, expiry
                                        checked: InvalidJWT / InvalidSignature /
                                        ExpiredToken)
PostgREST routes (prefix /rest/v1; schema from Content-Profile / Accept-Profile, which
must be in the authenticator role's pgrst.db_schemas, default "public"):
  POST /{table}     insert one object or an array; Prefer: return=minimal|representation
                    |headers-only, resolution=merge-duplicates|ignore-duplicates,
                    ?on_conflict=cols, ?columns=cols, ?select=cols; 201 (200 when an
                    upsert only merged existing rows); Preference-Applied echoed
  GET /{table}      ?select=cols&col=op.value (eq neq gt gte lt lte like ilike is in)
                    &order=col[.asc|.desc]&limit=N; Accept:
                    application/vnd.pgrst.object+json for one object (PGRST116)
  PATCH /{table}?filters   update matching rows (return=representation supported)
  DELETE /{table}?filters  delete matching rows
Plus fakelib's /_fake/faults, /_fake/requests, /_fake/reset.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakelib  # noqa: E402

import psycopg2  # noqa: E402
import psycopg2.errors  # noqa: E402
from psycopg2 import sql  # noqa: E402

CFG = {}


# --- JWT (HS256) -----------------------------------------------------------------------
def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_sign(claims):
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(CFG["jwt_secret"].encode(), (head + "." + body).encode(), hashlib.sha256)
    return head + "." + body + "." + b64url(sig.digest())


class JWTError(Exception):
    pass


def jwt_verify(token, check_exp=True):
    """The claims of an HS256 token signed with --jwt-secret, or JWTError."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JWTError("Invalid Compact JWS")
    try:
        head = json.loads(b64url_dec(parts[0]))
        claims = json.loads(b64url_dec(parts[1]))
        sig = b64url_dec(parts[2])
    except Exception:
        raise JWTError("Invalid Compact JWS")
    if head.get("alg") != "HS256":
        raise JWTError("JWSError (JWSInvalidSignature)")
    want = hmac.new(CFG["jwt_secret"].encode(), (parts[0] + "." + parts[1]).encode(),
                    hashlib.sha256).digest()
    if not hmac.compare_digest(want, sig):
        raise JWTError("invalid signature")
    if check_exp and "exp" in claims and time.time() >= claims["exp"]:
        raise JWTError("jwt expired")
    return claims


# --- database ------------------------------------------------------------------------
def connect():
    conn = psycopg2.connect(CFG["dsn"], user="authenticator", application_name="fake-supabase")
    return conn


def begin_as(cur, who):
    """Inside the current transaction: become the caller's role, with its JWT claims."""
    cur.execute(sql.SQL("set local role {}").format(sql.Identifier(who["role"])))
    cur.execute("select set_config('request.jwt.claims', %s, true),"
                " set_config('request.jwt.claim.sub', %s, true),"
                " set_config('request.jwt.claim.role', %s, true)",
                (json.dumps(who["claims"]), who["claims"].get("sub") or "", who["role"]))


def exposed_schemas(cur):
    cur.execute("""select c from pg_db_role_setting s join pg_roles r on r.oid = s.setrole,
                          unnest(s.setconfig) c
                   where r.rolname = 'authenticator' and s.setdatabase = 0
                     and c like 'pgrst.db_schemas=%%'""")
    row = cur.fetchone()
    if not row:
        return ["public"]
    return [x.strip() for x in row[0].split("=", 1)[1].split(",") if x.strip()]


def table_columns(cur, schema, table):
    """Column names in order, or None when the table (or view) does not exist."""
    cur.execute("""select a.attname from pg_attribute a
                   join pg_class c on c.oid = a.attrelid
                   join pg_namespace n on n.oid = c.relnamespace
                   where n.nspname = %s and c.relname = %s and c.relkind in ('r','v','p','m','f')
                     and a.attnum > 0 and not a.attisdropped order by a.attnum""",
                (schema, table))
    cols = [r[0] for r in cur.fetchall()]
    return cols or None


def primary_key(cur, schema, table):
    cur.execute("""select a.attname from pg_index i
                   join pg_class c on c.oid = i.indrelid
                   join pg_namespace n on n.oid = c.relnamespace
                   join pg_attribute a on a.attrelid = c.oid and a.attnum = any(i.indkey)
                   where n.nspname = %s and c.relname = %s and i.indisprimary""",
                (schema, table))
    return [r[0] for r in cur.fetchall()]


# PostgREST's src/library/PostgREST/Error.hs (pgErrorStatus)
def pg_status(code, authenticated):
    if code == "42501":
        return 403 if authenticated else 401
    if code.startswith("PT") and code[2:].isdigit():
        return int(code[2:])
    exact = {"23503": 409, "23505": 409, "25006": 405, "P0001": 400, "42883": 404,
             "42P01": 404, "42P17": 500}
    if code in exact:
        return exact[code]
    classes = {"08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403,
               "2D": 500, "38": 500, "39": 500, "3B": 500, "40": 500, "53": 503,
               "54": 500, "55": 500, "57": 500, "58": 500, "F0": 500, "HV": 500,
               "P0": 500, "XX": 500}
    return classes.get(code[:2], 400)


def pg_error_body(e):
    d = e.diag
    return {"code": e.pgcode, "details": d.message_detail, "hint": d.message_hint,
            "message": d.message_primary}


# --- the handler -----------------------------------------------------------------------
class Handler(fakelib.FakeHandler):
    server_version = "fake-supabase"

    # -- common --
    deferred = None  # a list while replies wait for the transaction's commit

    def reply(self, status, body, content_type="application/octet-stream", headers=None):
        if self.deferred is not None:
            self.deferred.append((status, body, content_type, headers))
            return
        super().reply(status, body, content_type, headers)

    def flush_deferred(self):
        pending, self.deferred = self.deferred or [], None
        for r in pending[:1]:
            self.reply(*r)

    def reply_json(self, status, obj, headers=None):
        # compact, as Node's JSON.stringify (Storage) and Aeson (PostgREST) write it
        self.reply(status, json.dumps(obj, separators=(",", ":")).encode(),
                   "application/json; charset=utf-8", headers)

    def hdr(self, name):
        return self.headers.get(name)

    def caller(self, storage):
        """(who, None) or (None, error already sent).  who = {role, claims, jwt}."""
        key = CFG["service_key"]
        apikey = self.hdr("apikey")
        if apikey is None:
            self.reply_json(401, {"message": "No API key found in request"})
            return None, True
        if apikey != key:
            self.reply_json(401, {"message": "Invalid API key"})
            return None, True
        auth = self.hdr("Authorization")
        bearer = None
        if auth is not None:
            m = re.match(r"(?i)bearer\s+(.+)$", auth.strip())
            bearer = m.group(1) if m else ""
        service = {"role": "service_role", "claims": {"role": "service_role"}, "jwt": True}
        if key.startswith("sb_"):
            if bearer is None:
                return service, None
            if bearer == key:
                return None, self.jwt_failed(storage, "Invalid Compact JWS")
        elif bearer == key:
            return service, None
        if bearer is None:
            if storage:
                self.storage_error("403", "AccessDenied", "Unauthorized",
                                   "headers must have required property 'authorization'")
                return None, True
            return {"role": "anon", "claims": {"role": "anon"}, "jwt": False}, None
        try:
            claims = jwt_verify(bearer)
        except JWTError as e:
            return None, self.jwt_failed(storage, str(e))
        role = claims.get("role") or "anon"
        if role not in ("anon", "authenticated", "service_role"):
            return None, self.jwt_failed(storage, "role %s does not exist" % role)
        return {"role": role, "claims": claims, "jwt": role != "anon"}, None

    def jwt_failed(self, storage, msg):
        if storage:
            self.storage_error("403", "AccessDenied", "Unauthorized", msg)
        else:
            self.rest_error(401, "PGRST301", msg, headers={"WWW-Authenticate": 'Bearer error="invalid_token", error_description="%s"' % msg})
        return True

    # -- Storage --
    def storage_error(self, status, code, error, message, http=400):
        self.reply_json(http, {"statusCode": status, "code": code, "error": error,
                               "message": message})

    def no_such_key(self):
        self.storage_error("404", "NoSuchKey", "not_found", "Object not found")

    def split_object(self, rest):
        """'bucket/a/b.png' -> ('bucket', 'a/b.png'), or (None, None) when invalid."""
        rest = urllib.parse.unquote(rest)
        if "/" not in rest:
            return None, None
        bucket, name = rest.split("/", 1)
        return bucket, name

    def valid_key(self, name):
        if not name or name.startswith("/") or "//" in name:
            return False
        if any(p in (".", "..") for p in name.split("/")):
            return False
        return re.fullmatch(r"[\w/!\-.*'() &$@=;:+,?]+", name, re.ASCII) is not None

    def store_path(self, bucket, name):
        return os.path.join(CFG["store"], bucket, *name.split("/"))

    def storage_route(self, method):
        rest = self.route[len("/storage/v1"):]
        if method == "GET" and rest.startswith("/object/sign/"):
            return self.get_signed(rest[len("/object/sign/"):])
        who, err = self.caller(storage=True)
        if err:
            return
        if rest.startswith("/object/sign/") and method == "POST":
            return self.sign(who, rest[len("/object/sign/"):])
        if rest.startswith("/object/info/") and method in ("GET", "HEAD"):
            r = rest[len("/object/info/"):]
            if r.startswith("authenticated/"):
                r = r[len("authenticated/"):]
            return self.info(who, r)
        if rest.startswith("/object/authenticated/") and method in ("GET", "HEAD"):
            return self.download(who, rest[len("/object/authenticated/"):], method)
        if rest.startswith("/object/") and method in ("POST", "PUT"):
            return self.upload(who, rest[len("/object/"):], method)
        if rest.startswith("/object/") and method in ("GET", "HEAD"):
            return self.download(who, rest[len("/object/"):], method)
        if rest.startswith("/object/") and method == "DELETE":
            return self.delete(who, rest[len("/object/"):])
        self.reply_json(404, {"statusCode": "404", "error": "Not Found",
                              "message": "Route %s:%s not found" % (method, self.route)})

    def upload(self, who, rest, method):
        bucket, name = self.split_object(rest)
        if bucket is None or not self.valid_key(name):
            return self.storage_error("400", "InvalidKey", "InvalidKey",
                                      "Invalid key: %s" % (name or rest))
        upsert = method == "PUT" or (self.hdr("x-upsert") or "").lower() == "true"
        mime = (self.hdr("Content-Type") or "application/octet-stream").split(";")[0].strip()
        cache = self.hdr("Cache-Control") or "no-cache"
        user_meta = None
        if self.hdr("x-metadata"):
            try:
                user_meta = json.loads(base64.b64decode(self.hdr("x-metadata")))
            except Exception:
                return self.storage_error("400", "InvalidRequest", "InvalidRequest",
                                          "Invalid x-metadata header: not base64 JSON")
        if not self.body:
            return self.storage_error("400", "InvalidRequest", "InvalidRequest",
                                      "No content provided")
        conn = connect()
        try:
            with conn:
                with conn.cursor() as cur:
                    # Storage looks the bucket up with its own privileges, not the caller's
                    cur.execute("set local role service_role")
                    cur.execute("select file_size_limit, allowed_mime_types from storage.buckets"
                                " where id = %s", (bucket,))
                    b = cur.fetchone()
                    if b is None:
                        return self.storage_error("404", "NoSuchBucket", "Bucket not found",
                                                  "Bucket not found")
                    limit, mimes = b
                    if limit is not None and len(self.body) > limit:
                        return self.storage_error("413", "EntityTooLarge", "Payload too large",
                                                  "The object exceeded the maximum allowed size")
                    if mimes and not any(mime == m or (m.endswith("/*") and
                                         mime.startswith(m[:-1])) for m in mimes):
                        return self.storage_error("415", "InvalidMimeType", "invalid_mime_type",
                                                  "mime type %s is not supported" % mime)
                    begin_as(cur, who)
                    sub = who["claims"].get("sub") if who["role"] != "service_role" else None
                    owner = sub if sub and re.fullmatch(r"[0-9a-fA-F-]{36}", sub) else None
                    version = str(uuid.uuid4())
                    meta = {"eTag": '"%s"' % hashlib.md5(self.body).hexdigest(),
                            "size": len(self.body), "mimetype": mime, "cacheControl": cache,
                            "lastModified": datetime.datetime.now(datetime.timezone.utc)
                            .strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                            "contentLength": len(self.body), "httpStatusCode": 200}
                    q = ("insert into storage.objects (bucket_id, name, owner, owner_id, metadata,"
                         " user_metadata, version) values (%s, %s, %s, %s, %s, %s, %s)")
                    if upsert:
                        q += (" on conflict (bucket_id, name) do update set owner = excluded.owner,"
                              " owner_id = excluded.owner_id, metadata = excluded.metadata,"
                              " user_metadata = excluded.user_metadata, version = excluded.version,"
                              " updated_at = now(), last_accessed_at = now()")
                    cur.execute(q + " returning id", (bucket, name, owner, sub, json.dumps(meta),
                                                      json.dumps(user_meta) if user_meta is not None
                                                      else None, version))
                    oid = cur.fetchone()[0]
                    path = self.store_path(bucket, name)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    tmp = path + ".tmp-%d" % os.getpid()
                    with open(tmp, "wb") as fh:
                        fh.write(self.body)
                    os.replace(tmp, path)
        except psycopg2.Error as e:
            return self.storage_db_error(e)
        finally:
            conn.close()
        self.reply_json(200, {"Key": "%s/%s" % (bucket, name), "Id": oid})

    # supabase/storage src/storage/database/errors.ts
    def storage_db_error(self, e):
        if e.pgcode == "23505":
            return self.storage_error("409", "KeyAlreadyExists", "Duplicate",
                                      "The resource already exists")
        if e.pgcode == "42501":
            return self.storage_error("403", "AccessDenied", "Unauthorized",
                                      e.diag.message_primary or "permission denied")
        return self.storage_error("500", "InternalError", "internal", str(e).strip(), http=500)

    def find_object(self, who, bucket, name):
        """(row dict or None) visible to the caller (RLS applies)."""
        conn = connect()
        try:
            with conn:
                with conn.cursor() as cur:
                    begin_as(cur, who)
                    cur.execute("select id, name, version, metadata, created_at, updated_at,"
                                " last_accessed_at, bucket_id from storage.objects"
                                " where bucket_id = %s and name = %s", (bucket, name))
                    r = cur.fetchone()
        finally:
            conn.close()
        if r is None:
            return None
        keys = ("id", "name", "version", "metadata", "created_at", "updated_at",
                "last_accessed_at", "bucket_id")
        return dict(zip(keys, r))

    def info(self, who, rest):
        bucket, name = self.split_object(rest)
        obj = self.find_object(who, bucket, name) if bucket else None
        if obj is None:
            return self.no_such_key()
        m = obj["metadata"] or {}
        self.reply_json(200, {
            "id": obj["id"], "name": obj["name"], "version": obj["version"],
            "bucket_id": obj["bucket_id"], "size": m.get("size"),
            "content_type": m.get("mimetype"), "cache_control": m.get("cacheControl"),
            "etag": m.get("eTag"), "metadata": m,
            "last_modified": obj["updated_at"].isoformat(),
            "created_at": obj["created_at"].isoformat()})

    def serve_object(self, bucket, name, obj, method):
        try:
            with open(self.store_path(bucket, name), "rb") as fh:
                data = fh.read()
        except OSError:
            return self.no_such_key()
        m = obj["metadata"] or {}
        headers = {"ETag": m.get("eTag", ""), "Cache-Control": m.get("cacheControl", "no-cache"),
                   "Last-Modified": obj["updated_at"].strftime("%a, %d %b %Y %H:%M:%S GMT")}
        if "download" in self.query:
            fn = self.query["download"][0] or name.split("/")[-1]
            headers["Content-Disposition"] = 'attachment; filename="%s"' % fn
        self.reply(200, data, m.get("mimetype", "application/octet-stream"), headers)

    def download(self, who, rest, method):
        bucket, name = self.split_object(rest)
        obj = self.find_object(who, bucket, name) if bucket else None
        if obj is None:
            return self.no_such_key()
        self.serve_object(bucket, name, obj, method)

    def delete(self, who, rest):
        bucket, name = self.split_object(rest)
        if bucket is None:
            return self.no_such_key()
        conn = connect()
        try:
            with conn:
                with conn.cursor() as cur:
                    begin_as(cur, who)
                    cur.execute("delete from storage.objects where bucket_id = %s and name = %s"
                                " returning id", (bucket, name))
                    gone = cur.fetchone()
        except psycopg2.Error as e:
            return self.storage_db_error(e)
        finally:
            conn.close()
        if gone is None:
            return self.no_such_key()
        try:
            os.remove(self.store_path(bucket, name))
        except OSError:
            pass
        self.reply_json(200, {"message": "Successfully deleted"})

    def sign(self, who, rest):
        bucket, name = self.split_object(rest)
        body = self.json_body()
        exp_in = body.get("expiresIn") if isinstance(body, dict) else None
        if not isinstance(exp_in, int) or isinstance(exp_in, bool) or exp_in < 1:
            return self.storage_error("400", "InvalidRequest", "InvalidRequest",
                                      "body/expiresIn must be >= 1")
        obj = self.find_object(who, bucket, name) if bucket else None
        if obj is None:
            return self.no_such_key()
        now = int(time.time())
        token = jwt_sign({"url": "%s/%s" % (bucket, name), "iat": now, "exp": now + exp_in})
        self.reply_json(200, {"signedURL": "/object/sign/%s/%s?token=%s" % (bucket, name, token)})

    def get_signed(self, rest):
        bucket, name = self.split_object(rest)
        token = (self.query.get("token") or [""])[0]
        if not token:
            return self.storage_error("400", "InvalidRequest", "InvalidRequest",
                                      "querystring must have required property 'token'")
        try:
            claims = jwt_verify(token, check_exp=False)
        except JWTError as e:
            return self.storage_error("400", "InvalidJWT", "InvalidJWT", str(e))
        if claims.get("url") != "%s/%s" % (bucket, name):
            return self.storage_error("400", "InvalidSignature", "InvalidSignature",
                                      "Invalid signature")
        if time.time() >= claims.get("exp", 0):
            return self.storage_error("400", "ExpiredToken", "ExpiredToken",
                                      "The provided token has expired.")
        service = {"role": "service_role", "claims": {"role": "service_role"}}
        obj = self.find_object(service, bucket, name)
        if obj is None:
            return self.no_such_key()
        self.serve_object(bucket, name, obj, "GET")

    # -- PostgREST --
    def rest_error(self, status, code, message, details=None, hint=None, headers=None):
        self.reply_json(status, {"code": code, "details": details, "hint": hint,
                                 "message": message}, headers)

    def rest_pg_error(self, e, who):
        status = pg_status(e.pgcode or "XX000", who["jwt"])
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        self.reply_json(status, pg_error_body(e), headers)

    def prefer(self):
        out = {}
        for h in self.headers.get_all("Prefer") or []:
            for p in h.split(","):
                if "=" in p:
                    k, v = p.strip().split("=", 1)
                    out[k.strip()] = v.strip()
        return out

    def rest_route(self, method):
        who, err = self.caller(storage=False)
        if err:
            return
        table = urllib.parse.unquote(self.route[len("/rest/v1/"):])
        if not table or "/" in table:
            return self.rest_error(404, "PGRST125", "Invalid path specified in request URL")
        prof_hdr = "Content-Profile" if method in ("POST", "PATCH", "PUT", "DELETE") \
            else "Accept-Profile"
        conn = connect()
        self.deferred = []
        try:
            with conn:
                with conn.cursor() as cur:
                    schemas = exposed_schemas(cur)
                    schema = self.hdr(prof_hdr) or schemas[0]
                    if schema not in schemas:
                        return self.rest_error(
                            406, "PGRST106",
                            "The schema must be one of the following: %s" % ", ".join(schemas))
                    cols = table_columns(cur, schema, table)
                    if cols is None:
                        return self.rest_error(
                            404, "PGRST205",
                            "Could not find the table '%s.%s' in the schema cache"
                            % (schema, table))
                    pk = primary_key(cur, schema, table)
                    begin_as(cur, who)
                    ctx = {"cur": cur, "schema": schema, "table": table, "cols": cols,
                           "pk": pk, "who": who}
                    if method == "POST":
                        return self.rest_insert(ctx)
                    if method == "GET" or method == "HEAD":
                        return self.rest_select(ctx)
                    if method == "PATCH":
                        return self.rest_update(ctx)
                    if method == "DELETE":
                        return self.rest_delete(ctx)
                    return self.rest_error(405, "PGRST117",
                                           "Unsupported HTTP method: %s" % method)
        except psycopg2.Error as e:
            self.deferred = None
            return self.rest_pg_error(e, who)
        finally:
            conn.close()
            self.flush_deferred()

    def col_list(self, ctx, param, default):
        """Columns named by ?param=a,b (checked), default when absent; or None on error."""
        v = self.query.get(param)
        if not v:
            return default
        out = []
        for c in v[0].split(","):
            c = c.strip()
            if c == "*" and param == "select":
                out.extend(ctx["cols"])
                continue
            if c not in ctx["cols"]:
                if param == "select":
                    self.rest_error(400, "42703", "column %s.%s does not exist" % (ctx["table"], c))
                else:
                    self.rest_error(400, "PGRST204", "Could not find the '%s' column of '%s' in"
                                    " the schema cache" % (c, ctx["table"]))
                return None
            out.append(c)
        return out

    def filters(self, ctx):
        """(sql.Composable where-clause, params) from col=op.value params; None on error."""
        reserved = {"select", "order", "limit", "offset", "on_conflict", "columns"}
        conds, params = [], []
        for k, vs in self.query.items():
            if k in reserved:
                continue
            if k not in ctx["cols"]:
                self.rest_error(400, "42703", "column %s.%s does not exist" % (ctx["table"], k))
                return None
            for v in vs:
                neg = v.startswith("not.")
                if neg:
                    v = v[4:]
                op, _, val = v.partition(".")
                ops = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
                       "like": "like", "ilike": "ilike"}
                col = sql.Identifier(k)
                if op in ops:
                    if op in ("like", "ilike"):
                        val = val.replace("*", "%")
                    c = sql.SQL("{}::text {} %s").format(col, sql.SQL(ops[op])) \
                        if op in ("like", "ilike") else sql.SQL("{} {} %s").format(col, sql.SQL(ops[op]))
                    params.append(val)
                elif op == "is" and val.lower() in ("null", "true", "false"):
                    c = sql.SQL("{} is " + val.lower()).format(col)
                elif op == "in" and val.startswith("(") and val.endswith(")"):
                    items = [x.strip().strip('"') for x in val[1:-1].split(",") if x.strip()]
                    c = sql.SQL("{}::text = any(%s)").format(col)
                    params.append(items)
                else:
                    self.rest_error(400, "PGRST100", "\"failed to parse filter (%s)\"" % v,
                                    details="unexpected \"%s\"" % op)
                    return None
                conds.append(sql.SQL("not ({})").format(c) if neg else c)
        if not conds:
            return sql.SQL("true"), params
        return sql.SQL(" and ").join(conds), params

    def representation(self, ctx, source_sql, params, sel):
        """Run source_sql (a CTE body with RETURNING/SELECT *) and build PostgREST's
        json_agg body text of the sel columns; returns (body text, row count)."""
        cur = ctx["cur"]
        q = sql.SQL("with pgrst_source as ({src}) select coalesce(json_agg(_postgrest_t), '[]')::text,"
                    " count(*) from (select {sel} from pgrst_source) _postgrest_t").format(
            src=source_sql, sel=sql.SQL(", ").join(map(sql.Identifier, sel)))
        cur.execute(q, params)
        return cur.fetchone()

    def rest_insert(self, ctx):
        cur = ctx["cur"]
        pref = self.prefer()
        body = self.json_body()
        if not self.body or body is None or not isinstance(body, (dict, list)):
            return self.rest_error(400, "PGRST102", "Empty or invalid json")
        rows = body if isinstance(body, list) else [body]
        if any(not isinstance(r, dict) for r in rows):
            return self.rest_error(400, "PGRST102", "All object keys must match")
        if isinstance(body, list) and len({frozenset(r) for r in rows}) > 1:
            return self.rest_error(400, "PGRST102", "All object keys must match")
        keys = list(rows[0].keys()) if rows else []
        icols = self.col_list(ctx, "columns", None)
        if icols is None and self.query.get("columns"):
            return
        if icols is None:
            for k in keys:
                if k not in ctx["cols"]:
                    return self.rest_error(400, "PGRST204", "Could not find the '%s' column of"
                                           " '%s' in the schema cache" % (k, ctx["table"]))
            icols = keys
        sel = self.col_list(ctx, "select", ctx["cols"])
        if sel is None:
            return
        applied = []
        tbl = sql.Identifier(ctx["schema"], ctx["table"])
        cl = sql.SQL(", ").join(map(sql.Identifier, icols))
        if icols:
            ins = sql.SQL(
                "insert into {tbl} ({cl}) select {bl} from (select %s::json as json_data) pgrst_payload,"
                " lateral (select case when json_typeof(pgrst_payload.json_data) = 'array'"
                " then pgrst_payload.json_data else json_build_array(pgrst_payload.json_data) end as val)"
                " pgrst_uniform_json, lateral (select * from json_populate_recordset(null::{tbl},"
                " pgrst_uniform_json.val) as _) pgrst_body").format(
                tbl=tbl, cl=cl,
                bl=sql.SQL(", ").join(sql.SQL("pgrst_body.{}").format(sql.Identifier(c))
                                      for c in icols))
        else:
            ins = sql.SQL("insert into {tbl} default values").format(tbl=tbl)
        resolution = pref.get("resolution")
        if resolution in ("merge-duplicates", "ignore-duplicates"):
            target = self.query.get("on_conflict")
            tcols = [c.strip() for c in target[0].split(",")] if target else ctx["pk"]
            for c in tcols:
                if c not in ctx["cols"]:
                    return self.rest_error(400, "42703", "column \"%s\" does not exist" % c)
            conflict = sql.SQL(", ").join(map(sql.Identifier, tcols))
            if resolution == "merge-duplicates" and icols:
                ins = ins + sql.SQL(" on conflict ({}) do update set {}").format(
                    conflict, sql.SQL(", ").join(
                        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in icols))
            else:
                ins = ins + sql.SQL(" on conflict ({}) do nothing").format(conflict)
            applied.append("resolution=" + resolution)
        ins = ins + sql.SQL(" returning {tbl}.*, (xmax = 0) as pgrst_inserted").format(tbl=tbl)
        ret = pref.get("return", "minimal")
        q = sql.SQL("with pgrst_source as ({src}) select"
                    " (select coalesce(json_agg(_postgrest_t), '[]')::text from"
                    " (select {sel} from pgrst_source) _postgrest_t),"
                    " (select count(*) from pgrst_source),"
                    " (select count(*) from pgrst_source where pgrst_inserted)").format(
            src=ins, sel=sql.SQL(", ").join(map(sql.Identifier, sel)))
        cur.execute(q, (json.dumps(body),))
        text, n, inserted = cur.fetchone()
        status = 201
        if resolution == "merge-duplicates" and n > 0 and inserted == 0:
            status = 200
        headers = {"Content-Range": "*/*"}
        if "return" in pref and ret in ("representation", "headers-only", "minimal"):
            applied.append("return=" + ret)
        if applied:
            headers["Preference-Applied"] = ", ".join(applied)
        if ret == "representation":
            return self.reply(status, text, "application/json; charset=utf-8", headers)
        if ret == "headers-only" and ctx["pk"] and n == 1:
            row = json.loads(text)[0] if set(ctx["pk"]) <= set(sel) else None
            if row:
                headers["Location"] = "/%s?%s" % (ctx["table"], "&".join(
                    "%s=eq.%s" % (c, row[c]) for c in ctx["pk"]))
        self.reply(status, b"", None, headers)

    def rest_select(self, ctx):
        sel = self.col_list(ctx, "select", ctx["cols"])
        if sel is None:
            return
        f = self.filters(ctx)
        if f is None:
            return
        where, params = f
        src = sql.SQL("select * from {} where {}").format(
            sql.Identifier(ctx["schema"], ctx["table"]), where)
        if self.query.get("order"):
            parts = []
            for o in self.query["order"][0].split(","):
                c, _, d = o.partition(".")
                if c not in ctx["cols"] or d not in ("", "asc", "desc"):
                    return self.rest_error(400, "PGRST100", "\"failed to parse order (%s)\"" % o)
                parts.append(sql.SQL("{} " + (d or "asc")).format(sql.Identifier(c)))
            src = src + sql.SQL(" order by ") + sql.SQL(", ").join(parts)
        if self.query.get("limit"):
            src = src + sql.SQL(" limit %s" % int(self.query["limit"][0]))
        text, n = self.representation(ctx, src, params, sel)
        single = "application/vnd.pgrst.object+json" in (self.hdr("Accept") or "")
        if single:
            if n != 1:
                return self.rest_error(406, "PGRST116",
                                       "Cannot coerce the result to a single JSON object",
                                       details="The result contains %d rows" % n)
            text = json.dumps(json.loads(text)[0])
        headers = {"Content-Range": ("0-%d/*" % (n - 1)) if n else "*/0"}
        ctype = ("application/vnd.pgrst.object+json; charset=utf-8" if single
                 else "application/json; charset=utf-8")
        self.reply(200, text, ctype, headers)

    def rest_update(self, ctx):
        body = self.json_body()
        if not isinstance(body, dict):
            return self.rest_error(400, "PGRST102", "Empty or invalid json")
        for k in body:
            if k not in ctx["cols"]:
                return self.rest_error(400, "PGRST204", "Could not find the '%s' column of '%s'"
                                       " in the schema cache" % (k, ctx["table"]))
        sel = self.col_list(ctx, "select", ctx["cols"])
        f = self.filters(ctx) if sel is not None else None
        if f is None:
            return
        where, params = f
        tbl = sql.Identifier(ctx["schema"], ctx["table"])
        if not body:
            return self.reply(204, b"", None, {"Content-Range": "*/*"})
        src = sql.SQL("update {tbl} set {sets} from (select * from json_populate_record(null::{tbl},"
                      " %s::json)) pgrst_body where {where} returning {tbl}.*").format(
            tbl=tbl, where=where, sets=sql.SQL(", ").join(
                sql.SQL("{0} = pgrst_body.{0}").format(sql.Identifier(k)) for k in body))
        text, n = self.representation(ctx, src, [json.dumps(body)] + params, sel)
        return self.reply_mutation(text, n)

    def rest_delete(self, ctx):
        sel = self.col_list(ctx, "select", ctx["cols"])
        f = self.filters(ctx) if sel is not None else None
        if f is None:
            return
        where, params = f
        src = sql.SQL("delete from {} where {} returning *").format(
            sql.Identifier(ctx["schema"], ctx["table"]), where)
        text, n = self.representation(ctx, src, params, sel)
        return self.reply_mutation(text, n)

    def reply_mutation(self, text, n):
        headers = {"Content-Range": ("0-%d/*" % (n - 1)) if n else "*/*"}
        if self.prefer().get("return") == "representation":
            headers["Preference-Applied"] = "return=representation"
            return self.reply(200, text, "application/json; charset=utf-8", headers)
        self.reply(204, b"", None, headers)

    # -- dispatch --
    def route_any(self, method):
        if self.route.startswith("/storage/v1/"):
            return self.storage_route(method)
        if self.route.startswith("/rest/v1/"):
            return self.rest_route(method)
        self.reply_json(404, {"message": "no Route matched with those values"})

    def route_GET(self):
        self.route_any("GET")

    def route_HEAD(self):
        self.route_any("HEAD")

    def route_POST(self):
        self.route_any("POST")

    def route_PUT(self):
        self.route_any("PUT")

    def route_PATCH(self):
        self.route_any("PATCH")

    def route_DELETE(self):
        self.route_any("DELETE")


def main():
    ap = fakelib.arg_parser("fake Supabase Storage + PostgREST over a real PostgreSQL")
    ap.add_argument("--dsn", required=True, help="libpq connection string (superuser)")
    ap.add_argument("--service-key", required=True)
    ap.add_argument("--store", required=True, help="directory for object bytes")
    ap.add_argument("--jwt-secret", default=None,
                    help="HS256 secret for user tokens and signed URLs (default: random)")
    args = ap.parse_args()
    CFG.update(dsn=args.dsn, service_key=args.service_key, store=args.store,
               jwt_secret=args.jwt_secret or secrets.token_hex(32))
    os.makedirs(args.store, exist_ok=True)
    connect().close()  # fail fast (before the port file) when the database is unreachable
    fakelib.serve(Handler, args)


if __name__ == "__main__":
    main()
