#!/usr/bin/env bash
# The SQL migrations (supabase/migrations/) on a real PostgreSQL: row-level security,
# grants, constraints, the bucket and its storage.objects policy, PostgREST exposure,
# idempotency; and the fake Supabase (tests/fake/supabase.py) the cloud tests rely on.
# Needs the cluster of tests/db/pg.sh (tests/run.sh starts it); skips without it.
. "$(dirname "$0")/lib.sh"

if [ -z "${IMAGEN_TEST_DSN:-}" ]; then
	echo "ok 1 - 70-db # SKIP no PostgreSQL: IMAGEN_TEST_DSN is unset (eval \"\$(bash tests/db/pg.sh start DIR)\")"
	exit 0
fi

# sq SQL...: run as the superuser (the migration owner), print unaligned tuples.
sq() {
	psql -X -qAt -v ON_ERROR_STOP=1 -d "$IMAGEN_TEST_DSN" -c "$*" 2>&1
}

# as ROLE SUB SQL: run SQL as ROLE with the JWT claims PostgREST would set (SUB may be
# empty: no sub claim).  Sets OUT (stdout+stderr) and RC.
as() {
	local role=$1 sub=$2 claims
	shift 2
	if [ -n "$sub" ]; then
		claims="{\"role\":\"$role\",\"sub\":\"$sub\"}"
	else
		claims="{\"role\":\"$role\"}"
	fi
	OUT=$(psql -X -qAt -v ON_ERROR_STOP=1 -d "$IMAGEN_TEST_DSN" 2>&1 <<EOF
begin;
set local role $role;
set local request.jwt.claims = '$claims';
$*;
commit;
EOF
)
	RC=$?
}

expect_ok() { [ "$RC" = 0 ] || fail "SQL failed: $OUT"; }
expect_denied() { # error text
	[ "$RC" != 0 ] || fail "SQL succeeded, expected an error: $OUT"
	expect_contains "$OUT" "$1" "error"
}

uuid() { cat /proc/sys/kernel/random/uuid; }

# insert_image OWNER PATH [BUCKET]: a minimal images row (as the superuser).
insert_image() {
	sq "insert into imagen.images (owner_user_id, storage_path, bucket, prompt, backend,
	    backend_type, bytes, sha256, generated_at)
	    values ('$1', '$2', '${3:-imagen-generated}', 'a fox', 'mock', 'mock', 10,
	    repeat('a', 64), now())" >/dev/null || fail "cannot insert image row $2"
}

insert_object() { # BUCKET NAME
	sq "insert into storage.objects (bucket_id, name, metadata)
	    values ('$1', '$2', '{\"mimetype\": \"image/png\"}')" >/dev/null || fail "cannot insert object $1/$2"
}

setup_users() { # sets A B C (user ids) and TAG (unique path prefix)
	A=$(uuid) B=$(uuid) C=$(uuid)
	TAG="t70-$(uuid)"
}

test_owner_reads_only_own_rows() {
	setup_users
	insert_image "$A" "$TAG/a1.png"
	insert_image "$A" "$TAG/a2.png"
	insert_image "$B" "$TAG/b1.png"
	as authenticated "$A" "select storage_path from imagen.images where storage_path like '$TAG/%' order by 1"
	expect_ok
	expect_eq "$OUT" "$TAG/a1.png
$TAG/a2.png" "rows user A reads"
	as authenticated "$B" "select storage_path from imagen.images where storage_path like '$TAG/%'"
	expect_eq "$OUT" "$TAG/b1.png" "rows user B reads"
	# the filter is the policy's, not the query's: no where clause, still only own rows
	as authenticated "$B" "select count(*) from imagen.images where owner_user_id <> '$B'"
	expect_eq "$OUT" 0 "other users' rows visible to B"
}

test_another_user_and_a_token_without_sub_read_none() {
	setup_users
	insert_image "$A" "$TAG/a1.png"
	as authenticated "$C" "select count(*) from imagen.images where storage_path like '$TAG/%'"
	expect_ok
	expect_eq "$OUT" 0 "rows user C reads"
	as authenticated "" "select count(*) from imagen.images"
	expect_ok
	expect_eq "$OUT" 0 "rows read without a sub claim"
}

test_anon_reads_nothing_and_cannot_insert() {
	setup_users
	insert_image "$A" "$TAG/a1.png"
	as anon "" "select count(*) from imagen.images"
	expect_denied "permission denied for schema imagen"
	as anon "" "insert into imagen.images (owner_user_id, storage_path, prompt, backend, backend_type,
	    bytes, sha256, generated_at) values ('$A', '$TAG/anon.png', 'x', 'm', 'm', 1, repeat('a', 64), now())"
	expect_denied "permission denied for schema imagen"
	expect_eq "$(sq "select count(*) from imagen.images where storage_path = '$TAG/anon.png'")" 0 "anon row"
	as anon "" "select count(*) from mai.imagen_usage"
	expect_denied "permission denied for schema mai"
	# mai may be shared with other apps that grant anon USAGE on it: the table still refuses
	out=$(psql -X -qAt -v ON_ERROR_STOP=1 -d "$IMAGEN_TEST_DSN" 2>&1 <<EOF
begin;
grant usage on schema mai to anon;
set local role anon;
select count(*) from mai.imagen_usage;
rollback;
EOF
) && fail "anon read mai.imagen_usage: $out"
	expect_contains "$out" "permission denied for table imagen_usage" error
	expect_eq "$(sq "select has_schema_privilege('anon', 'mai', 'USAGE')")" f "anon usage on mai after the rollback"
}

test_signed_in_users_only_read_service_role_writes() {
	setup_users
	as authenticated "$A" "insert into imagen.images (owner_user_id, storage_path, prompt, backend,
	    backend_type, bytes, sha256, generated_at) values ('$A', '$TAG/own.png', 'x', 'm', 'm', 1,
	    repeat('a', 64), now())"
	expect_denied "permission denied for table images"
	insert_image "$A" "$TAG/a1.png"
	as authenticated "$A" "update imagen.images set prompt = 'changed' where storage_path = '$TAG/a1.png'"
	expect_denied "permission denied for table images"
	as authenticated "$A" "delete from imagen.images where storage_path = '$TAG/a1.png'"
	expect_denied "permission denied for table images"
	# service_role bypasses RLS: writes and reads every owner's rows
	as service_role "" "insert into imagen.images (owner_user_id, storage_path, prompt, backend,
	    backend_type, bytes, sha256, generated_at) values ('$B', '$TAG/svc.png', 'x', 'm', 'm', 1,
	    repeat('b', 64), now()) on conflict (storage_path) do update set bytes = 2;
	    select count(*) from imagen.images where storage_path like '$TAG/%'"
	expect_ok
	expect_eq "$OUT" 2 "rows service_role reads"
}

test_owner_is_not_null() {
	setup_users
	as service_role "" "insert into imagen.images (storage_path, prompt, backend, backend_type, bytes,
	    sha256, generated_at) values ('$TAG/x.png', 'x', 'm', 'm', 1, repeat('a', 64), now())"
	expect_denied 'null value in column "owner_user_id" of relation "images" violates not-null constraint'
	as service_role "" "insert into mai.imagen_usage (storage_path, backend, backend_type)
	    values ('$TAG/x.png', 'm', 'm')"
	expect_denied 'null value in column "owner_user_id" of relation "imagen_usage" violates not-null constraint'
}

test_storage_path_is_unique_and_sha256_checked() {
	setup_users
	insert_image "$A" "$TAG/a.png"
	as service_role "" "insert into imagen.images (owner_user_id, storage_path, prompt, backend,
	    backend_type, bytes, sha256, generated_at) values ('$B', '$TAG/a.png', 'x', 'm', 'm', 1,
	    repeat('c', 64), now())"
	expect_denied 'duplicate key value violates unique constraint "images_storage_path_key"'
	as service_role "" "insert into imagen.images (owner_user_id, storage_path, prompt, backend,
	    backend_type, bytes, sha256, generated_at) values ('$B', '$TAG/b.png', 'x', 'm', 'm', 1,
	    'ABC', now())"
	expect_denied 'violates check constraint "images_sha256_check"'
	sq "insert into mai.imagen_usage (owner_user_id, storage_path, backend, backend_type)
	    values ('$A', '$TAG/a.png', 'r', 'replicate')" >/dev/null || fail "usage insert"
	as service_role "" "insert into mai.imagen_usage (owner_user_id, storage_path, backend, backend_type)
	    values ('$A', '$TAG/a.png', 'r', 'replicate')"
	expect_denied 'duplicate key value violates unique constraint "imagen_usage_storage_path_key"'
}

test_usage_rows_owner_reads_own() {
	setup_users
	sq "insert into mai.imagen_usage (owner_user_id, storage_path, backend, backend_type, cost_usd,
	    cost_method) values ('$A', '$TAG/a.png', 'r', 'replicate', 0.0039, 'per_image'),
	    ('$B', '$TAG/b.png', 'r', 'replicate', 0.01, 'per_image')" >/dev/null || fail "usage insert"
	as authenticated "$A" "select storage_path, cost_usd, image_count from mai.imagen_usage where storage_path like '$TAG/%'"
	expect_ok
	expect_eq "$OUT" "$TAG/a.png|0.003900|1" "usage rows A reads"
	as authenticated "$C" "select count(*) from mai.imagen_usage where storage_path like '$TAG/%'"
	expect_eq "$OUT" 0 "usage rows C reads"
	as authenticated "$A" "insert into mai.imagen_usage (owner_user_id, storage_path, backend, backend_type)
	    values ('$A', '$TAG/c.png', 'r', 'replicate')"
	expect_denied "permission denied for table imagen_usage"
}

test_storage_objects_policy_ties_object_to_image_owner() {
	setup_users
	sq "insert into storage.buckets (id, name) values ('t70-other', 't70-other') on conflict do nothing" >/dev/null
	insert_image "$A" "$TAG/a.png"
	insert_image "$B" "$TAG/b.png"
	insert_image "$A" "$TAG/in-other.png" t70-other
	insert_object imagen-generated "$TAG/a.png"
	insert_object imagen-generated "$TAG/b.png"
	insert_object imagen-generated "$TAG/orphan.png"  # no images row: nobody's
	insert_object t70-other "$TAG/a.png"             # same name, another bucket
	insert_object t70-other "$TAG/in-other.png"      # A's row names this bucket
	q="select bucket_id || ':' || name from storage.objects where name like '$TAG/%' order by 1"
	as authenticated "$A" "$q"
	expect_ok
	expect_eq "$OUT" "imagen-generated:$TAG/a.png" "objects user A reads"
	as authenticated "$B" "$q"
	expect_eq "$OUT" "imagen-generated:$TAG/b.png" "objects user B reads"
	as authenticated "$C" "$q"
	expect_ok
	expect_eq "$OUT" "" "objects user C reads"
	as authenticated "" "$q"
	expect_eq "$OUT" "" "objects read without a sub claim"
	as anon "" "$q"
	expect_ok
	expect_eq "$OUT" "" "objects anon reads"
	# the service key (Storage's own role for it) sees everything
	as service_role "" "select count(*) from storage.objects where name like '$TAG/%'"
	expect_eq "$OUT" 5 "objects service_role reads"
	# nobody but service_role writes objects: no insert/update/delete policy
	as authenticated "$A" "insert into storage.objects (bucket_id, name) values ('imagen-generated', '$TAG/new.png')"
	expect_denied 'new row violates row-level security policy for table "objects"'
	as authenticated "$A" "delete from storage.objects where name like '$TAG/%' returning name"
	expect_ok
	expect_eq "$OUT" "" "objects A deleted"
	# an object becomes readable when, and only when, an images row of the user names it
	insert_image "$C" "$TAG/orphan.png"
	as authenticated "$C" "$q"
	expect_eq "$OUT" "imagen-generated:$TAG/orphan.png" "objects C reads once C owns the row"
}

test_grants() {
	for t in imagen.images mai.imagen_usage; do
		expect_eq "$(sq "select has_table_privilege('anon', '$t', 'SELECT'), has_table_privilege('anon', '$t', 'INSERT'),
		    has_table_privilege('anon', '$t', 'UPDATE'), has_table_privilege('anon', '$t', 'DELETE'),
		    has_table_privilege('anon', '$t', 'TRUNCATE'), has_table_privilege('anon', '$t', 'REFERENCES'),
		    has_table_privilege('anon', '$t', 'TRIGGER')")" "f|f|f|f|f|f|f" "anon privileges on $t"
		expect_eq "$(sq "select has_table_privilege('authenticated', '$t', 'SELECT'),
		    has_table_privilege('authenticated', '$t', 'INSERT'), has_table_privilege('authenticated', '$t', 'UPDATE'),
		    has_table_privilege('authenticated', '$t', 'DELETE')")" "t|f|f|f" "authenticated privileges on $t"
		expect_eq "$(sq "select has_table_privilege('service_role', '$t', 'SELECT'),
		    has_table_privilege('service_role', '$t', 'INSERT'), has_table_privilege('service_role', '$t', 'UPDATE'),
		    has_table_privilege('service_role', '$t', 'DELETE'), has_table_privilege('service_role', '$t', 'TRUNCATE')")" \
			"t|t|t|t|f" "service_role privileges on $t"
		expect_eq "$(sq "select relrowsecurity from pg_class where oid = '$t'::regclass")" t "RLS on $t"
	done
	expect_eq "$(sq "select has_schema_privilege('anon', 'imagen', 'USAGE'),
	    has_schema_privilege('authenticated', 'imagen', 'USAGE'), has_schema_privilege('service_role', 'imagen', 'USAGE')")" \
		"f|t|t" "usage on schema imagen"
	# the only policies are the read policies for authenticated
	expect_eq "$(sq "select tablename || ':' || cmd || ':' || array_to_string(roles, ',') from pg_policies
	    where schemaname in ('imagen', 'mai') or policyname like 'imagen%' order by 1")" \
		"imagen_usage:SELECT:authenticated
images:SELECT:authenticated
objects:SELECT:authenticated" "policies"
}

test_bucket_is_private_png_jpeg_webp_50mib() {
	expect_eq "$(sq "select public, file_size_limit, allowed_mime_types from storage.buckets
	    where id = 'imagen-generated' and name = 'imagen-generated'")" \
		"f|52428800|{image/png,image/jpeg,image/webp}" "bucket row"
}

test_pgrst_exposes_imagen_and_mai() {
	v=$(sq "select c from pg_db_role_setting s join pg_roles r on r.oid = s.setrole, unnest(s.setconfig) c
	    where r.rolname = 'authenticator' and s.setdatabase = 0 and c like 'pgrst.db_schemas=%'")
	expect_eq "$v" "pgrst.db_schemas=public, graphql_public, imagen, mai" "authenticator's pgrst.db_schemas"
}

test_prompt_search_uses_the_trigram_index_and_owner_listing_its_index() {
	plan=$(sq "set enable_seqscan = off; explain select id from imagen.images where prompt ilike '%fox%'")
	expect_contains "$plan" "images_prompt_trgm_idx" "plan of a prompt search"
	plan=$(sq "set enable_seqscan = off; explain select id from imagen.images
	    where owner_user_id = '$(uuid)' order by created_at desc limit 20")
	expect_contains "$plan" "images_owner_created_at_idx" "plan of the owner's listing"
	plan=$(sq "set enable_seqscan = off; explain select id from imagen.images where seed = 42")
	expect_contains "$plan" "images_seed_idx" "plan of a seed lookup"
}

test_migrations_apply_twice_on_a_fresh_database() {
	db="t70_$(uuid | tr -d -)"
	sq "create database $db" >/dev/null || fail "create database"
	dsn="$IMAGEN_TEST_DSN dbname=$db"
	before=$(sq "select c from pg_db_role_setting s join pg_roles r on r.oid = s.setrole, unnest(s.setconfig) c
	    where r.rolname = 'authenticator' and s.setdatabase = 0")
	out1=$(bash "$REPO_DIR/tests/db/pg.sh" apply "$dsn" 2>&1)
	rc1=$?
	out2=$(bash "$REPO_DIR/tests/db/pg.sh" apply "$dsn" 2>&1)
	rc2=$?
	n=$(psql -X -qAt -d "$dsn" -c "select count(*) from imagen.images; " 2>&1)
	b=$(psql -X -qAt -d "$dsn" -c "select count(*) from storage.buckets where id = 'imagen-generated'" 2>&1)
	p=$(psql -X -qAt -d "$dsn" -c "select count(*) from pg_policies where policyname like 'imagen%'" 2>&1)
	sq "drop database $db" >/dev/null
	[ $rc1 = 0 ] || fail "first apply failed: $out1"
	[ $rc2 = 0 ] || fail "second apply failed: $out2"
	expect_eq "$n" 0 "rows in the fresh images table"
	expect_eq "$b" 1 "bucket rows after two applies"
	expect_eq "$p" 3 "policies after two applies"
	after=$(sq "select c from pg_db_role_setting s join pg_roles r on r.oid = s.setrole, unnest(s.setconfig) c
	    where r.rolname = 'authenticator' and s.setdatabase = 0")
	expect_eq "$after" "$before" "authenticator settings after applying again"
}

# Grants a project may already have given (default privileges, a hand-made GRANT ALL)
# are taken back: applying the migrations again leaves exactly the documented set.
# TRUNCATE matters most: row-level security does not cover it.
test_grants_converge_from_an_over_granted_database() {
	db="t70_$(uuid | tr -d -)"
	sq "create database $db" >/dev/null || fail "create database"
	dsn="$IMAGEN_TEST_DSN dbname=$db"
	out=$(bash "$REPO_DIR/tests/db/pg.sh" apply "$dsn" 2>&1) || fail "first apply: $out"
	psql -X -q -v ON_ERROR_STOP=1 -d "$dsn" -c "grant usage on schema imagen, mai to anon;
	    grant all on imagen.images, mai.imagen_usage to public, anon, authenticated, service_role" >/dev/null ||
		fail "over-grant"
	out=$(bash "$REPO_DIR/tests/db/pg.sh" apply "$dsn" 2>&1) || fail "second apply: $out"
	# every grantee but the owner, from the ACLs themselves (grantee 0 is PUBLIC)
	privs=$(psql -X -qAt -d "$dsn" -c "select coalesce(r.rolname, 'public') || ':' || t || ':'
	        || string_agg(a.privilege_type, ',' order by a.privilege_type)
	    from unnest(array['imagen.images', 'mai.imagen_usage']) t
	    join pg_class c on c.oid = t::regclass
	    cross join lateral aclexplode(c.relacl) a
	    left join pg_roles r on r.oid = a.grantee
	    where a.grantee <> c.relowner
	    group by r.rolname, t order by 1" 2>&1)
	usage=$(psql -X -qAt -d "$dsn" -c "select has_schema_privilege('anon', 'imagen', 'USAGE')" 2>&1)
	sq "drop database $db" >/dev/null
	expect_eq "$privs" "authenticated:imagen.images:SELECT
authenticated:mai.imagen_usage:SELECT
service_role:imagen.images:DELETE,INSERT,SELECT,UPDATE
service_role:mai.imagen_usage:DELETE,INSERT,SELECT,UPDATE" "table privileges after applying again"
	expect_eq "$usage" f "anon usage on schema imagen after applying again"
}

# (changes the cluster-wide role setting for a moment: test files run one at a time)
test_pgrst_expose_keeps_the_schemas_already_exposed() {
	m=$REPO_DIR/supabase/migrations
	sq "alter role authenticator set pgrst.db_schemas = 'public,storage , graphql_public'" >/dev/null
	out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$IMAGEN_TEST_DSN" -f "$m"/*_imagen_pgrst_expose.sql 2>&1) ||
		fail "expose migration: $out"
	v=$(sq "select c from pg_db_role_setting s join pg_roles r on r.oid = s.setrole, unnest(s.setconfig) c
	    where r.rolname = 'authenticator' and c like 'pgrst.db_schemas=%'")
	# restore what pg.sh set up before asserting
	sq "alter role authenticator set pgrst.db_schemas = 'public, graphql_public, imagen, mai'" >/dev/null
	expect_eq "$v" "pgrst.db_schemas=public, storage, graphql_public, imagen" "schemas after the migration"
}

# --- tests/fake/supabase.py: what the cloud tests (75-cloud.sh) rely on -----------------

KEY=""
# hreq METHOD PATH [BODY_FILE|-] [HEADER...]: HTTP to the fake; sets HS (status), HB (body
# as text), HH (the response headers, one "name: value" a line, names lower-case) and
# stores the raw body in $T_TMP/resp.body.  The service key goes as apikey and Bearer
# unless a header list contains "noauth".
hreq() {
	local res
	res=$("$PY" - "$FAKE_URL" "$KEY" "$T_TMP/resp.body" "$@" <<'PYEOF'
import sys, urllib.request, urllib.error
base, key, out, method, path = sys.argv[1:6]
rest = sys.argv[6:]
body = None
if rest and not (":" in rest[0] or rest[0] == "noauth"):
    f = rest.pop(0)
    body = sys.stdin.buffer.read() if f == "-" else open(f, "rb").read()
h = {}
if "noauth" not in rest:
    h = {"apikey": key, "Authorization": "Bearer " + key}
for x in rest:
    if x != "noauth":
        k, v = x.split(":", 1)
        h[k.strip()] = v.strip()
req = urllib.request.Request(base + path, data=body, method=method, headers=h)
try:
    r = urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    r = e
data = r.read()
open(out, "wb").write(data)
print(r.status)
for k, v in r.headers.items():
    print("%s: %s" % (k.lower(), v))
PYEOF
)
	HS=$(head -n 1 <<<"$res")
	HH=$(tail -n +2 <<<"$res")
	HB=$(cat "$T_TMP/resp.body")
}

start_fake() {
	[ -n "$KEY" ] || KEY="service-key-$(uuid)"
	fake_start supabase --dsn "$IMAGEN_TEST_DSN" --service-key "$KEY" --store "$T_TMP/store"
}

row_json() { # OWNER PATH [extra jq filter]
	jq -cn --arg o "$1" --arg p "$2" '{owner_user_id: $o, storage_path: $p, prompt: "a fox",
	    backend: "mock", backend_type: "mock", model: "imagen-mock-1", seed: 42, width: 8,
	    height: 8, steps: 4, bytes: 3, sha256: ("0" * 64), cost_usd: 0.0039,
	    cost: {method: "per_image", usd: 0.0039}, metadata: {prompt: "a fox", seed: 42},
	    generated_at: "2026-11-24T04:00:00+00:00"}'"${3:-}"
}

test_fake_upload_row_sign_round_trip() {
	setup_users
	start_fake
	path="$TAG/2026-11-24-a-fox-42.png"
	printf '\x89PNG\r\n\x1a\n-%s' "$TAG" >"$T_TMP/img.png"
	hreq POST "/storage/v1/object/imagen-generated/$path" "$T_TMP/img.png" "Content-Type: image/png" "x-upsert: true"
	expect_eq "$HS" 200 "upload status"
	expect_eq "$(jqr "$HB" .Key)" "imagen-generated/$path" "upload Key"
	id=$(jqr "$HB" .Id)
	cmp -s "$T_TMP/img.png" "$T_TMP/store/imagen-generated/$path" || fail "stored bytes differ"
	expect_eq "$(sq "select id, owner_id is null, metadata->>'mimetype', metadata->>'size'
	    from storage.objects where bucket_id = 'imagen-generated' and name = '$path'")" \
		"$id|t|image/png|$(stat -c %s "$T_TMP/img.png")" "storage.objects row"
	# a second POST without x-upsert: Storage's HTTP 400 with the real status in the body
	hreq POST "/storage/v1/object/imagen-generated/$path" "$T_TMP/img.png" "Content-Type: image/png"
	expect_eq "$HS" 400 "duplicate upload status"
	expect_eq "$(jqr "$HB" '.statusCode + " " + .error')" "409 Duplicate" "duplicate upload body"
	hreq GET "/storage/v1/object/info/imagen-generated/$path"
	expect_eq "$(jqr "$HB" '.size')" "$(stat -c %s "$T_TMP/img.png")" "info size"

	# the row, as PostgREST inserts it
	row_json "$A" "$path" >"$T_TMP/row.json"
	hreq POST /rest/v1/images "$T_TMP/row.json" "Content-Type: application/json" \
		"Content-Profile: imagen" "Prefer: return=representation"
	expect_eq "$HS" 201 "insert status"
	expect_eq "$(jqr "$HB" '.[0] | [.owner_user_id, .storage_path, .bucket, .cost_usd, .metadata.seed] | @tsv')" \
		"$A	$path	imagen-generated	0.0039	42" "representation"
	expect_eq "$(sq "select owner_user_id, cost_usd, cost->>'method', metadata->>'prompt', generated_at
	    from imagen.images where storage_path = '$path'")" "$A|0.003900|per_image|a fox|2026-11-24 04:00:00+00" "row in PostgreSQL"
	# ... and the upload is now readable by its owner through the storage policy, not by B
	as authenticated "$A" "select count(*) from storage.objects where name = '$path'"
	expect_eq "$OUT" 1 "objects A reads after the sync"
	as authenticated "$B" "select count(*) from storage.objects where name = '$path'"
	expect_eq "$OUT" 0 "objects B reads after the sync"

	# duplicate -> 409 23505; upsert on storage_path -> 200 with the new values
	hreq POST /rest/v1/images "$T_TMP/row.json" "Content-Type: application/json" "Content-Profile: imagen"
	expect_eq "$HS" 409 "duplicate insert status"
	expect_eq "$(jqr "$HB" '.code + " " + .message')" \
		"23505 duplicate key value violates unique constraint \"images_storage_path_key\"" "duplicate body"
	row_json "$A" "$path" '| .prompt = "a red fox"' >"$T_TMP/row2.json"
	hreq POST "/rest/v1/images?on_conflict=storage_path" "$T_TMP/row2.json" "Content-Type: application/json" \
		"Content-Profile: imagen" "Prefer: return=representation, resolution=merge-duplicates"
	expect_eq "$HS" 200 "upsert status (merged)"
	expect_eq "$(jqr "$HB" 'length')" 1 "upsert representation rows"
	expect_eq "$(sq "select count(*), min(prompt) from imagen.images where storage_path = '$path'")" "1|a red fox" "row after upsert"

	# the signed URL serves the same bytes; a tampered token does not
	echo '{"expiresIn": 60}' >"$T_TMP/sign.json"
	hreq POST "/storage/v1/object/sign/imagen-generated/$path" "$T_TMP/sign.json" "Content-Type: application/json"
	expect_eq "$HS" 200 "sign status"
	url=$(jqr "$HB" .signedURL)
	expect_match "$url" "^/object/sign/imagen-generated/$path\\?token=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$" signedURL
	hreq GET "/storage/v1$url" noauth
	expect_eq "$HS" 200 "signed GET status"
	cmp -s "$T_TMP/img.png" "$T_TMP/resp.body" || fail "signed URL bytes differ from the upload"
	token=${url#*token=}
	sig=${token##*.}
	case $sig in A*) t=B ;; *) t=A ;; esac
	hreq GET "/storage/v1${url%%token=*}token=${token%.*}.$t${sig:1}" noauth
	expect_eq "$HS" 400 "tampered token status"
	expect_eq "$(jqr "$HB" .code)" InvalidJWT "tampered token code"
	hreq GET "/storage/v1/object/sign/imagen-generated/$TAG/other.png?${url#*\?}" noauth
	expect_eq "$(jqr "$HB" .code)" InvalidSignature "token for another path"
	hreq POST "/storage/v1/object/sign/imagen-generated/$TAG/missing.png" "$T_TMP/sign.json" "Content-Type: application/json"
	expect_eq "$HS $(jqr "$HB" .statusCode)" "400 404" "signing a missing object"
	echo '{"expiresIn": 1}' >"$T_TMP/sign.json"
	hreq POST "/storage/v1/object/sign/imagen-generated/$path" "$T_TMP/sign.json" "Content-Type: application/json"
	url=$(jqr "$HB" .signedURL)
	sleep 1.1
	hreq GET "/storage/v1$url" noauth
	expect_eq "$HS $(jqr "$HB" .code)" "400 ExpiredToken" "expired signed URL"
}

test_fake_postgrest_errors_are_postgrest_shaped() {
	setup_users
	start_fake
	row_json "$A" "$TAG/n.png" '| del(.owner_user_id)' >"$T_TMP/row.json"
	hreq POST /rest/v1/images "$T_TMP/row.json" "Content-Type: application/json" \
		"Content-Profile: imagen" "Prefer: return=representation"
	expect_eq "$HS" 400 "NOT NULL status"
	expect_eq "$(jq -c 'del(.details)' "$T_TMP/resp.body")" \
		'{"code":"23502","hint":null,"message":"null value in column \"owner_user_id\" of relation \"images\" violates not-null constraint"}' \
		"NOT NULL body"
	expect_eq "$(jq -r '.details | startswith("Failing row contains (")' "$T_TMP/resp.body")" true "NOT NULL details"
	expect_eq "$(sq "select count(*) from imagen.images where storage_path = '$TAG/n.png'")" 0 "row after NOT NULL"
	# invalid uuid -> 22P02 400; unknown column -> PGRST204 400; unexposed schema -> 406
	row_json "not-a-uuid" "$TAG/u.png" >"$T_TMP/row.json"
	hreq POST /rest/v1/images "$T_TMP/row.json" "Content-Type: application/json" "Content-Profile: imagen"
	expect_eq "$HS $(jqr "$HB" .code)" "400 22P02" "invalid uuid"
	row_json "$A" "$TAG/c.png" '| .colour = "red"' >"$T_TMP/row.json"
	hreq POST /rest/v1/images "$T_TMP/row.json" "Content-Type: application/json" "Content-Profile: imagen"
	expect_eq "$HS $(jqr "$HB" .code)" "400 PGRST204" "unknown column"
	expect_eq "$(jqr "$HB" .message)" "Could not find the 'colour' column of 'images' in the schema cache" "PGRST204 message"
	row_json "$A" "$TAG/s.png" >"$T_TMP/row.json"
	hreq POST /rest/v1/images "$T_TMP/row.json" "Content-Type: application/json" "Content-Profile: nope"
	expect_eq "$HS $(jqr "$HB" .code)" "406 PGRST106" "unexposed schema"
	hreq POST /rest/v1/images "$T_TMP/row.json" "Content-Type: application/json"
	expect_eq "$HS $(jqr "$HB" .code)" "404 PGRST205" "no Content-Profile: public has no images table"
	# keys: none -> 401 from the gateway; apikey without Bearer -> anon -> 42501 401
	hreq POST /rest/v1/images "$T_TMP/row.json" noauth "Content-Type: application/json" "Content-Profile: imagen"
	expect_eq "$HS $(jqr "$HB" .message)" "401 No API key found in request" "no key"
	hreq POST /rest/v1/images "$T_TMP/row.json" noauth "apikey: $KEY" "Content-Type: application/json" "Content-Profile: imagen"
	expect_eq "$HS $(jqr "$HB" .code)" "401 42501" "anon insert"
	expect_contains "$HH" "www-authenticate: Bearer" "anon insert headers"
	hreq POST /rest/v1/images "$T_TMP/row.json" noauth "apikey: wrong" "Authorization: Bearer wrong" \
		"Content-Type: application/json" "Content-Profile: imagen"
	expect_eq "$HS $(jqr "$HB" .message)" "401 Invalid API key" "wrong key"
	# a usage row goes to mai
	jq -cn --arg o "$A" --arg p "$TAG/s.png" '{owner_user_id: $o, storage_path: $p, backend: "r",
	    backend_type: "replicate", model: "m", cost_usd: 0.0039, cost_method: "per_image",
	    predict_time_s: 1.5}' >"$T_TMP/usage.json"
	hreq POST "/rest/v1/imagen_usage?on_conflict=storage_path" "$T_TMP/usage.json" "Content-Type: application/json" \
		"Content-Profile: mai" "Prefer: return=minimal, resolution=merge-duplicates"
	expect_eq "$HS" 201 "usage insert status"
	expect_eq "$HB" "" "return=minimal body"
	expect_eq "$(sq "select cost_usd, predict_time_s, image_count from mai.imagen_usage where storage_path = '$TAG/s.png'")" \
		"0.003900|1.5|1" "usage row"
	# lookups
	hreq GET "/rest/v1/images?storage_path=eq.$TAG/none.png&select=id,sha256" "Accept-Profile: imagen"
	expect_eq "$HS $HB" "200 []" "lookup of a missing row"
	# fault injection reaches the routes
	fake_faults "$FAKE_URL" '{"match": "POST /rest/v1/images", "status": 503}'
	hreq POST /rest/v1/images "$T_TMP/row.json" "Content-Type: application/json" "Content-Profile: imagen"
	expect_eq "$HS" 503 "injected fault"
}

test_fake_storage_errors_and_new_format_keys() {
	setup_users
	KEY="sb_secret_$(uuid)"
	start_fake
	printf '\x89PNG\r\n\x1a\n' >"$T_TMP/img.png"
	# sb_secret_ keys go in apikey only; as a Bearer token they are not a JWT
	hreq POST "/storage/v1/object/imagen-generated/$TAG/a.png" "$T_TMP/img.png" "Content-Type: image/png"
	expect_eq "$HS $(jqr "$HB" .statusCode)" "400 403" "sb_secret_ key as Bearer"
	hreq POST "/storage/v1/object/imagen-generated/$TAG/a.png" "$T_TMP/img.png" noauth "apikey: $KEY" "Content-Type: image/png"
	expect_eq "$HS" 200 "sb_secret_ key in apikey only"
	hreq POST "/storage/v1/object/imagen-generated/$TAG/b.txt" "$T_TMP/img.png" noauth "apikey: $KEY" "Content-Type: text/plain"
	expect_eq "$HS $(jqr "$HB" '.statusCode + " " + .code')" "400 415 InvalidMimeType" "MIME type outside the bucket's list"
	hreq POST "/storage/v1/object/no-such-bucket/$TAG/a.png" "$T_TMP/img.png" noauth "apikey: $KEY" "Content-Type: image/png"
	expect_eq "$HS $(jqr "$HB" '.statusCode + " " + .code')" "400 404 NoSuchBucket" "missing bucket"
	hreq GET "/storage/v1/object/info/imagen-generated/$TAG/missing.png" noauth "apikey: $KEY"
	expect_eq "$HS $(jqr "$HB" '.statusCode + " " + .code')" "400 404 NoSuchKey" "info of a missing object"
	expect_eq "$(sq "select count(*) from storage.objects where name like '$TAG/%'")" 1 "objects rows"
}

run_tests
