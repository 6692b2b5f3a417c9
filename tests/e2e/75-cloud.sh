#!/usr/bin/env bash
# Cloud sync end to end: imagen generate / sync / url against the fake Supabase
# (tests/fake/supabase.py) writing into the real PostgreSQL of tests/db/pg.sh with the
# project's migrations applied.  Skips without it (IMAGEN_TEST_DSN unset).
. "$(dirname "$0")/lib.sh"

if [ -z "${IMAGEN_TEST_DSN:-}" ]; then
	echo "ok 1 - 75-cloud # SKIP no PostgreSQL: IMAGEN_TEST_DSN is unset (eval \"\$(bash tests/db/pg.sh start DIR)\")"
	exit 0
fi

# sq SQL: run as the superuser, unaligned tuples.
sq() {
	psql -X -qAt -v ON_ERROR_STOP=1 -d "$IMAGEN_TEST_DSN" -c "$*" 2>&1
}

uuid() { cat /proc/sys/kernel/random/uuid; }

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# cloud_config URL [extra YAML lines...]: a config whose cloud section points at URL.
cloud_config() {
	local url=$1
	shift
	{
		printf 'cloud:\n  supabase_url: "%s"\n' "$url"
		[ -n "${NO_OWNER:-}" ] || printf '  owner_user_id: %s\n' "$OWNER"
		for l in "$@"; do printf '%s\n' "$l"; done
	} | write_config "$CFG"
}

# setup [KEY]: the fake on a free port, a config pointing at it, the key in the
# environment (holding the canary), a unique tag for this test's file names.
setup() {
	SECRET_CANARY="canary$(uuid | tr -d -)"
	export SECRET_CANARY
	KEY=${1:-"eyJhbGciOiJIUzI1NiJ9.$SECRET_CANARY.c2ln"}
	OWNER=$(uuid)
	TAG="t75-$(uuid | cut -c1-8)"
	STORE="$T_TMP/store"
	export SUPABASE_SERVICE_ROLE_KEY="$KEY" IMAGEN_HTTP_RETRY_BASE_MS=20
	fake_start supabase --dsn "$IMAGEN_TEST_DSN" --service-key "$KEY" --store "$STORE"
	cloud_config "$FAKE_URL"
	OUTBOX="$HOME/.local/state/imagen/outbox.json"
}

# gen ARGS...: generate into out/ with this test's tag in the name; sets F (the image),
# SP (the storage path it must get: {date}/{file name}).
gen() {
	im generate --json -o out --name "{date}-$TAG-{slug}-{seed}.png" "$@"
	F=$(jqr "$OUT" .image 2>/dev/null | head -n 1)
	SP="$(jqr "$OUT" .date 2>/dev/null | head -n 1)/$(basename "$F")"
}

# reqs METHOD PATH-PREFIX: how many such requests the fake received.
reqs() {
	fake_requests | jq --arg m "$1" --arg p "$2" '[.[] | select(.method == $m and (.path | startswith($p)))] | length'
}

sha() { sha256sum "$1" | cut -c1-64; }

# block_rows TABLE COLUMN: make the real PostgreSQL refuse this test's rows of TABLE: a
# BEFORE INSERT trigger nulls the NOT NULL COLUMN of rows whose storage_path holds TAG,
# so the insert fails with a genuine NOT NULL violation (23502) and the fake answers
# with what PostgREST would send for it.  unblock_rows TABLE removes the trigger.
block_rows() {
	local fn="t75_block_$(tr -c 'a-z0-9\n' _ <<<"$TAG")_${1#*.}"
	sq "create function public.$fn() returns trigger language plpgsql as \$\$
	    begin
		if new.storage_path like '%$TAG%' then new.$2 := null; end if;
		return new;
	    end \$\$;
	    create trigger $fn before insert on $1 for each row execute function public.$fn()" >/dev/null ||
		fail "cannot block rows of $1"
}
unblock_rows() {
	local fn="t75_block_$(tr -c 'a-z0-9\n' _ <<<"$TAG")_${1#*.}"
	sq "drop trigger $fn on $1; drop function public.$fn()" >/dev/null || fail "cannot unblock rows of $1"
}

# bill FILE: turn FILE's sidecar into what a billed adapter records (cost, predict time).
bill() {
	local side="${1%.png}.json"
	jq '.cost = {"usd": 0.003, "currency": "USD", "method": "per-image price", "source": "default"}
	    | .metadata.metrics = {"predict_time": 0.81}' "$side" >"$side.new" && mv "$side.new" "$side"
}

# http_status METHOD URL OUTFILE [HEADER...]: fetch URL (python: no curl needed), the
# body into OUTFILE; prints the HTTP status.
http_status() {
	"$PY" - "$@" <<'PYEOF'
import sys, urllib.error, urllib.request
method, url, out = sys.argv[1:4]
req = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
for h in sys.argv[4:]:
    k, v = h.split(": ", 1)
    req.add_header(k, v)
try:
    r = urllib.request.urlopen(req, timeout=10)
    status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
open(out, "wb").write(body)
print(status)
PYEOF
}

test_happy_path_row_object_bytes_and_hash() {
	setup
	cloud_config "$FAKE_URL" "styles:" "  cinematic: \"cinematic lighting, film grain\""
	gen --seed 42 -s cinematic -n "blurry" --steps 7 "a red fox"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_file "$F"
	expect_eq "$(jqr "$OUT" .cloud.status)" synced "cloud status"
	expect_eq "$(jqr "$OUT" .cloud.storage_path)" "$SP" "storage path"
	expect_match "$SP" "^$(date +%Y-%m-%d)/$(date +%Y-%m-%d)-$TAG-a-red-fox-42\.png$" "storage path"
	expect_eq "$(jqr "$OUT" .cloud.sha256)" "$(sha "$F")" "reported sha256"
	# the object: same bytes at {bucket}/{date}/{file name}, a storage.objects row
	cmp -s "$F" "$STORE/imagen-generated/$SP" || fail "stored object differs from $F"
	expect_eq "$(sq "select count(*) from storage.objects where bucket_id = 'imagen-generated' and name = '$SP'")" 1 "storage.objects row"
	# the row, read back from PostgreSQL
	row=$(sq "select row_to_json(i) from imagen.images i where storage_path = '$SP'")
	expect_eq "$(jqr "$row" .id)" "$(jqr "$OUT" .cloud.row_id)" "row id"
	expect_eq "$(jqr "$row" .owner_user_id)" "$OWNER" owner
	expect_eq "$(jqr "$row" .bucket)" imagen-generated bucket
	expect_eq "$(jqr "$row" .prompt)" "a red fox" prompt
	expect_match "$(jqr "$row" .final_prompt)" "^a red fox, cinematic lighting" final_prompt
	expect_eq "$(jqr "$row" .negative_prompt)" blurry negative_prompt
	expect_eq "$(jqr "$row" .style)" cinematic style
	expect_eq "$(jqr "$row" .backend)/$(jqr "$row" .backend_type)/$(jqr "$row" .model)" mock/mock/imagen-mock-1 backend
	expect_eq "$(jqr "$row" .seed)/$(jqr "$row" .width)x$(jqr "$row" .height)/$(jqr "$row" .steps)" 42/512x512/7 "seed size steps"
	expect_eq "$(jqr "$row" .bytes)" "$(stat -c %s "$F")" bytes
	expect_eq "$(jqr "$row" .sha256)" "$(sha "$F")" sha256
	expect_eq "$(jqr "$row" .cost_usd)/$(jqr "$row" .cost)" null/null "cost of an unbilled backend"
	side="${F%.png}.json"
	expect_eq "$(jq -S -c .metadata <<<"$row")" "$(jq -S -c . "$side")" "metadata is the sidecar"
	expect_eq "$(sq "select generated_at = '$(jqr "$side" .created_at)'::timestamptz from imagen.images where storage_path = '$SP'")" t generated_at
	# an unbilled backend writes no usage row
	expect_eq "$(sq "select count(*) from mai.imagen_usage where storage_path = '$SP'")" 0 "usage rows"
	# the requests, as Storage and PostgREST expect them
	up=$(fake_requests | jq -c '[.[] | select(.method == "POST" and (.path | startswith("/storage/v1/object/")))]')
	expect_eq "$(jq length <<<"$up")" 1 uploads
	expect_eq "$(jq -r '.[0].path' <<<"$up")" "/storage/v1/object/imagen-generated/$SP" "upload path"
	expect_eq "$(jq -r '.[0].headers["x-upsert"]' <<<"$up")" true x-upsert
	expect_eq "$(jq -r '.[0].headers["content-type"]' <<<"$up")" image/png content-type
	expect_eq "$(jq -r '.[0].headers.apikey' <<<"$up")" "$KEY" apikey
	expect_eq "$(jq -r '.[0].headers.authorization' <<<"$up")" "Bearer $KEY" authorization
	rest=$(fake_requests | jq -c '[.[] | select(.path == "/rest/v1/images")] | .[0]')
	expect_eq "$(jq -r '.headers["content-profile"]' <<<"$rest")" imagen content-profile
	expect_contains "$(jq -r '.headers.prefer' <<<"$rest")" "return=representation"
	expect_contains "$(jq -r '.headers.prefer' <<<"$rest")" "resolution=merge-duplicates"
	expect_eq "$(jq -r '.query.on_conflict' <<<"$rest")" storage_path on_conflict
	expect_no_file "$OUTBOX"
}

# The catalog's cloud state stays true: generate records a sync, imagen sync records the
# backfill, so `imagen search synced:no --paths | xargs imagen sync` finishes the job.
test_catalog_follows_the_cloud_state() {
	setup
	gen --no-cloud --seed 1 "an unsynced fox"
	sp_fox=$SP
	gen --no-cloud --seed 2 "an unsynced barn"
	im search synced:no --paths
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 2 "two images not synced"
	"$IMAGEN" search synced:no --paths | xargs "$IMAGEN" sync >"$T_TMP/sync.out" \
		2>"$T_TMP/sync.err" || fail "search | xargs sync: $(cat "$T_TMP/sync.err")"
	im search synced:no
	expect_rc 1
	im search fox synced:yes --json
	expect_eq "$(jqr "$OUT" .storage_path)" "$sp_fox" "the storage path in the catalog"
	gen --seed 3 "a synced heron"
	expect_eq "$(jqr "$OUT" .cloud.status)" synced
	im search heron synced:yes --paths
	expect_eq "$OUT" "$F" "generate records its sync"
}

test_billed_backfill_writes_the_usage_row() {
	setup
	gen --no-cloud --seed 7 "a paid fox"
	expect_rc 0
	expect_eq "$(reqs POST /)" 0 "requests under --no-cloud"
	# what a billed adapter records: the cost, and the adapter's predict time
	side="${F%.png}.json"
	bill "$F"
	im sync "$F"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_eq "$OUT" "$(realpath "$F") -> imagen-generated/$SP" stdout
	expect_eq "$(sq "select cost_usd, cost->>'method' from imagen.images where storage_path = '$SP'")" "0.003000|per-image price" "images cost"
	u=$(sq "select row_to_json(u) from mai.imagen_usage u where storage_path = '$SP'")
	expect_eq "$(jqr "$u" .owner_user_id)" "$OWNER" owner
	expect_eq "$(jqr "$u" .backend)/$(jqr "$u" .backend_type)/$(jqr "$u" .model)" mock/mock/imagen-mock-1 backend
	expect_eq "$(jqr "$u" .image_count)" 1 image_count
	expect_eq "$(jqr "$u" .cost_usd)" 0.003 cost_usd
	expect_eq "$(jqr "$u" .cost_method)" "per-image price" cost_method
	expect_eq "$(jqr "$u" .predict_time_s)" 0.81 predict_time_s
	# booked when the image was generated (the record's created_at), not when synced
	expect_eq "$(sq "select created_at = '$(jqr "$side" .created_at)'::timestamptz from mai.imagen_usage where storage_path = '$SP'")" t "usage created_at"
	expect_eq "$(fake_requests | jq -r '[.[] | select(.path == "/rest/v1/imagen_usage")][0].headers["content-profile"]')" mai "usage content-profile"
	# re-syncing is idempotent: still one row each, same ids
	id=$(sq "select id from imagen.images where storage_path = '$SP'")
	im sync --json "$F"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .row_id)" "$id" "row id after re-sync"
	expect_eq "$(sq "select count(*) from imagen.images where storage_path = '$SP'")/$(sq "select count(*) from mai.imagen_usage where storage_path = '$SP'")" 1/1 "rows after re-sync"
}

test_backfill_reads_the_png_chunk_without_a_sidecar() {
	setup
	gen --no-cloud --seed 3 "no sidecar here"
	expect_rc 0
	prompt_chunk=$(jqr "${F%.png}.json" .prompt)
	rm "${F%.png}.json"
	im sync "$F"
	expect_rc 0
	expect_eq "$(sq "select prompt, seed from imagen.images where storage_path = '$SP'")" "$prompt_chunk|3" "row from the imagen chunk"
}

test_retry_on_5xx() {
	setup
	# 503, then Storage's own 544 (database timeout); 502, then a 429 from PostgREST
	fake_faults "$FAKE_URL" '[{"match": "POST /storage/v1/object/imagen-generated/", "status": 503, "times": 1},
	                          {"match": "POST /storage/v1/object/imagen-generated/", "status": 544, "times": 1},
	                          {"match": "POST /rest/v1/images", "status": 502, "times": 1},
	                          {"match": "POST /rest/v1/images", "status": 429, "times": 1}]'
	gen --seed 5 "retried fox"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_eq "$(jqr "$OUT" .cloud.status)" synced status
	expect_eq "$(reqs POST /storage/v1/object/imagen-generated/)" 3 "upload attempts"
	expect_eq "$(reqs POST /rest/v1/images)" 3 "row attempts"
	expect_eq "$(sq "select count(*) from imagen.images where storage_path = '$SP'")" 1 rows
}

test_no_retry_on_4xx() {
	setup
	cloud_config "$FAKE_URL" "  bucket: no-such-bucket"
	gen --seed 6 "unlucky fox"
	expect_rc 0
	expect_file "$F"
	expect_one_error_line
	expect_eq "$ERR" "imagen: cloud sync: upload of $SP failed: HTTP 400: Bucket not found (NoSuchBucket, 404); queued for imagen sync" stderr
	expect_eq "$(reqs POST /storage/v1/object/)" 1 "upload attempts"
	expect_eq "$(reqs POST /rest/v1/)" 0 "row attempts"
	expect_eq "$(jqr "$OUT" .cloud.status)/$(jqr "$OUT" .cloud.queued)" failed/true "json cloud result"
	expect_contains "$(jqr "$OUT" .cloud.error)" "Bucket not found"
	# a PostgREST 4xx is final too (a fault: 409 from PostgREST's error JSON)
	cloud_config "$FAKE_URL"
	fake_faults "$FAKE_URL" '{"match": "POST /rest/v1/images", "status": 409,
	  "body": "{\"code\":\"23505\",\"details\":null,\"hint\":null,\"message\":\"duplicate key value violates unique constraint \\\"images_pkey\\\"\"}"}'
	gen --seed 8 "conflicted fox"
	expect_rc 0
	expect_eq "$(reqs POST /rest/v1/images)" 1 "row attempts after a 409"
	expect_contains "$ERR" "HTTP 409: duplicate key value violates unique constraint \"images_pkey\" (23505)"
}

# The gateway in front of Storage answers a wrong key with a message alone: the line
# quotes it without an empty "()" after it (issue 9 item 18).
test_gateway_error_with_only_a_message() {
	setup
	export SUPABASE_SERVICE_ROLE_KEY="eyJhbGciOiJIUzI1NiJ9.$SECRET_CANARY.d3Jvbmc"
	gen --seed 7 "locked out fox"
	expect_rc 0
	expect_file "$F"
	expect_one_error_line
	expect_eq "$ERR" "imagen: cloud sync: upload of $SP failed: HTTP 401: Invalid API key; queued for imagen sync" stderr
	expect_eq "$(reqs POST /storage/v1/object/)" 1 "upload attempts"
	im sync
	expect_rc 1
	expect_contains "$ERR" "HTTP 401: Invalid API key; still queued"
	expect_not_contains "$ERR" "()"
}

test_missing_owner_uuid() {
	setup
	NO_OWNER=1 cloud_config "$FAKE_URL"
	gen --seed 9 "ownerless fox"
	expect_rc 0
	expect_file "$F"
	expect_eq "$ERR" "imagen: cloud sync: owner_user_id is not set (see imagen config init)" stderr
	expect_eq "$(reqs POST /)" 0 "requests"
	im sync "$F"
	expect_rc 2
	expect_eq "$ERR" "imagen: cloud sync: owner_user_id is not set (see imagen config init)" "sync stderr"
	im config validate
	expect_contains "$ERR" "owner_user_id is empty"
}

test_missing_date_or_slug_sends_nothing() {
	setup
	gen --no-cloud --seed 10 "a dateless fox"
	side="${F%.png}.json"
	cp "$side" "$T_TMP/side.orig"
	jq 'del(.created_at)' "$T_TMP/side.orig" >"$side"
	im sync "$F"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" "imagen: cloud sync: $(realpath "$side"): field 'created_at' is missing or not an ISO 8601 time: it dates the storage path {date}/{file name}" stderr
	jq '.prompt = ""' "$T_TMP/side.orig" >"$side"
	im sync "$F"
	expect_rc 1
	expect_one_error_line
	expect_contains "$ERR" "field 'prompt' is missing or empty"
	# a name dated otherwise than its record would give a storage path that lies
	cp "$T_TMP/side.orig" "$side"
	g="out/2001-01-01-$TAG.png"
	cp "$F" "$g"
	cp "$side" "${g%.png}.json"
	im sync "$g"
	expect_rc 1
	expect_contains "$ERR" "the file name is dated 2001-01-01 but its record says $(date +%Y-%m-%d)"
	expect_eq "$(fake_requests | jq length)" 0 "requests sent"
	expect_no_file "$OUTBOX"
	# nothing was queued, nothing touched; the intact record syncs
	im sync "$F"
	expect_rc 0
}

test_signed_url_round_trip() {
	setup
	gen --seed 11 "a signed fox"
	expect_rc 0
	im url "$F"
	expect_rc 0
	url=$OUT
	expect_match "$url" "^$FAKE_URL/storage/v1/object/sign/imagen-generated/$SP\?token=" url
	expect_eq "$(http_status GET "$url" "$T_TMP/got.png")" 200 "GET of the signed URL"
	cmp -s "$F" "$T_TMP/got.png" || fail "the signed URL serves other bytes"
	expect_eq "$(fake_requests | jq -r '[.[] | select(.path | startswith("/storage/v1/object/sign/"))][0].body | fromjson | .expiresIn')" 3600 "default expiry"
	# the token is a credential: -v logs never show it
	token=${url#*token=}
	im -v url --expires 1 "$F"
	expect_rc 0
	expect_not_contains "$ERR" "token=" "verbose log"
	expect_not_contains "$ERR" "${OUT#*token=}" "verbose log"
	short=$OUT
	[ "$short" != "$url" ] || fail "a second signing gave the same URL"
	sleep 2
	code=$(http_status GET "$short" "$T_TMP/expired")
	[ "$code" != 200 ] || fail "an expired URL still serves the image"
	expect_contains "$(cat "$T_TMP/expired")" ExpiredToken "answer to an expired URL"
	im url --json --expires 120 "$F"
	expect_eq "$(jqr "$OUT" .storage_path)/$(jqr "$OUT" .expires_in)" "$SP/120" "url --json"
	# an image that was never uploaded
	gen --no-cloud --seed 12 "a local fox"
	im url "$F"
	expect_rc 1
	expect_eq "$ERR" "imagen: url: $SP is not in bucket imagen-generated (upload it with imagen sync FILE)" stderr
	im url --expires 0 "$F"
	expect_rc 2
	[ -n "$token" ] || fail "no token"
}

test_partial_success_then_resync_completes_without_second_upload() {
	setup
	# the real database refuses the row (no canned answer): PostgREST's 400 and error JSON
	block_rows imagen.images prompt
	gen --seed 13 "a half-synced fox"
	unblock_rows imagen.images
	expect_rc 0
	expect_one_error_line
	expect_eq "$ERR" "imagen: cloud sync: uploaded $SP but the row insert failed: HTTP 400: null value in column \"prompt\" of relation \"images\" violates not-null constraint (23502); queued for imagen sync" stderr
	expect_eq "$(jqr "$OUT" .cloud.uploaded)/$(jqr "$OUT" .cloud.queued)" true/true "json cloud result"
	cmp -s "$F" "$STORE/imagen-generated/$SP" || fail "the upload did not land"
	expect_eq "$(sq "select count(*) from imagen.images where storage_path = '$SP'")" 0 "rows before"
	im sync --status --json
	expect_eq "$(jqr "$OUT" .pending)" 1 pending
	expect_eq "$(jqr "$OUT" '.items[0].uploaded_sha256')" "$(sha "$F")" "recorded upload"
	im sync --status
	expect_contains "$OUT" "1 pending"
	expect_contains "$OUT" "upload landed"
	im sync
	expect_rc 0
	expect_eq "$OUT" "$(realpath "$F") -> imagen-generated/$SP" stdout
	expect_eq "$(reqs POST /storage/v1/object/)" 1 "uploads in all"
	expect_eq "$(reqs POST /rest/v1/images)" 2 "row inserts in all"
	expect_eq "$(sq "select sha256 from imagen.images where storage_path = '$SP'")" "$(sha "$F")" "row completed"
	im sync --status
	expect_contains "$OUT" "nothing pending"
}

test_partial_success_of_the_usage_row_then_resync() {
	setup
	gen --no-cloud --seed 31 "a half-billed fox"
	expect_rc 0
	bill "$F"
	block_rows mai.imagen_usage backend_type
	im sync --json "$F"
	unblock_rows mai.imagen_usage
	expect_rc 1
	expect_eq "$ERR" "imagen: cloud sync: uploaded $SP and recorded its row but the usage row insert failed: HTTP 400: null value in column \"backend_type\" of relation \"imagen_usage\" violates not-null constraint (23502); queued for imagen sync" stderr
	expect_eq "$(jqr "$OUT" .status)/$(jqr "$OUT" .uploaded)/$(jqr "$OUT" .queued)" failed/true/true "json result"
	id=$(jqr "$OUT" .row_id)
	expect_eq "$(sq "select id from imagen.images where storage_path = '$SP'")" "$id" "images row landed"
	expect_eq "$(sq "select count(*) from mai.imagen_usage where storage_path = '$SP'")" 0 "usage rows before"
	im sync --status --json
	expect_eq "$(jqr "$OUT" '.items[0].uploaded_sha256')" "$(sha "$F")" "recorded upload"
	im sync
	expect_rc 0
	expect_eq "$ERR" "" "stderr of the retry"
	expect_eq "$(reqs POST /storage/v1/object/)" 1 "uploads in all"
	expect_eq "$(sq "select count(*), min(id::text) from imagen.images where storage_path = '$SP'")" "1|$id" "images row after the retry"
	expect_eq "$(sq "select cost_usd, cost_method from mai.imagen_usage where storage_path = '$SP'")" "0.003000|per-image price" "usage row completed"
	im sync --status --json
	expect_eq "$(jqr "$OUT" .pending)" 0 "pending after the retry"
}

test_outbox_and_sync_recover_after_the_server_comes_back() {
	setup
	fake_stop_all
	port=$(free_port)
	cloud_config "http://127.0.0.1:$port"
	gen --seed 14 "a patient fox"
	expect_rc 0
	f1=$F sp1=$SP h1=$(sha "$F")
	expect_one_error_line
	expect_eq "$ERR" "imagen: cloud sync: upload of $sp1 failed: after 4 attempts: cannot connect to 127.0.0.1:$port (connection refused); queued for imagen sync" stderr
	gen --seed 15 "another patient fox"
	expect_rc 0
	f2=$F sp2=$SP
	im sync --status --json
	expect_eq "$(jqr "$OUT" '[.items[].image] | sort | join(" ")')" "$(printf '%s\n' "$(realpath "$f1")" "$(realpath "$f2")" | sort | tr '\n' ' ' | sed 's/ $//')" pending
	expect_eq "$(jqr "$OUT" '.items[0].attempts')" 1 attempts
	# still down: sync fails, keeps both, exit 1
	im sync
	expect_rc 1
	expect_contains "$ERR" "still queued"
	im sync --status --json
	expect_eq "$(jqr "$OUT" .pending)" 2 "still pending"
	expect_eq "$(jqr "$OUT" '.items[0].attempts')" 2 "attempts after a retry"
	# the local files were never touched
	expect_eq "$(sha "$f1")" "$h1" "image bytes"
	# the server comes back on that port
	fake_start supabase --port "$port" --dsn "$IMAGEN_TEST_DSN" --service-key "$KEY" --store "$STORE"
	im sync
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 2 "synced lines"
	expect_eq "$(sq "select count(*) from imagen.images where storage_path in ('$sp1', '$sp2')")" 2 rows
	cmp -s "$f2" "$STORE/imagen-generated/$sp2" || fail "second object differs"
	im sync --status --json
	expect_eq "$(jqr "$OUT" .pending)" 0 "pending after recovery"
	im sync
	expect_rc 0
	expect_contains "$OUT" "nothing pending"
	# the queue file holds paths and errors, never the key
	! grep -qF "$SECRET_CANARY" "$OUTBOX" || fail "the outbox holds the key"
}

test_queued_image_that_vanished_is_dropped() {
	setup
	fake_stop_all
	cloud_config "http://127.0.0.1:$(free_port)"
	gen --seed 16 "a vanishing fox"
	rm "$F"
	im sync
	expect_rc 1
	expect_contains "$ERR" "No such file or directory; dropped from the outbox"
	im sync --status --json
	expect_eq "$(jqr "$OUT" .pending)" 0 pending
}

test_queued_image_unreadable_for_now_stays_queued() {
	setup
	fake_stop_all
	cloud_config "http://127.0.0.1:$(free_port)"
	gen --seed 19 "a fox behind a loop"
	cp "$F" "$T_TMP/keep.png"
	# a symlink loop where the image was: unreadable (as EACCES or EIO would be, which
	# root cannot be made to see), but not gone: retrying later may work
	rm "$F"
	ln -s "$F" "$F"
	im sync --json
	expect_rc 1
	expect_contains "$ERR" "; still queued"
	expect_not_contains "$ERR" "dropped"
	expect_eq "$(jqr "$OUT" .queued)" true "json queued"
	im sync --status --json
	expect_eq "$(jqr "$OUT" .pending)" 1 pending
	# once the file reads again, the entry is still there to sync
	rm "$F"
	cp "$T_TMP/keep.png" "$F"
	im sync --status
	expect_contains "$OUT" "$(basename "$F")"
}

test_no_cloud_touches_neither() {
	setup
	gen --no-cloud --seed 17 "a private fox"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_eq "$(jqr "$OUT" .cloud)" null "json cloud"
	IMAGEN_CLOUD_SYNC=off gen --seed 18 "another private fox"
	expect_rc 0
	expect_eq "$(fake_requests | jq length)" 0 requests
	expect_eq "$(sq "select count(*) from imagen.images where storage_path like '%$TAG%'")" 0 rows
	expect_eq "$(find "$STORE" -type f 2>/dev/null | wc -l | tr -d ' ')" 0 objects
	expect_no_file "$OUTBOX"
}

test_env_config_flag_precedence() {
	setup
	# default auto: on with URL and key, off without the key (no error)
	gen --seed 20 "auto on"
	expect_eq "$(jqr "$OUT" .cloud.status)" synced "auto with key"
	n=$(fake_requests | jq length)
	SUPABASE_SERVICE_ROLE_KEY= gen --seed 21 "auto off"
	expect_rc 0
	expect_eq "$ERR" "" "auto without key"
	expect_eq "$(fake_requests | jq length)" "$n" "requests with auto and no key"
	# config off < environment on
	cloud_config "$FAKE_URL" "output:" "  cloud_sync: off"
	gen --seed 22 "config off"
	expect_eq "$(fake_requests | jq length)" "$n" "requests with config off"
	IMAGEN_CLOUD_SYNC=on gen --seed 23 "env on"
	expect_eq "$(jqr "$OUT" .cloud.status)" synced "env on beats config off"
	n=$(fake_requests | jq length)
	# config on < environment off < --no-cloud
	cloud_config "$FAKE_URL" "output:" "  cloud_sync: on"
	IMAGEN_CLOUD_SYNC=off gen --seed 24 "env off"
	expect_eq "$(fake_requests | jq length)" "$n" "requests with env off"
	IMAGEN_CLOUD_SYNC=on gen --no-cloud --seed 25 "flag off"
	expect_eq "$(fake_requests | jq length)" "$n" "requests with --no-cloud"
	gen --seed 26 "config on"
	expect_eq "$(jqr "$OUT" .cloud.status)" synced "config on"
	# on without a usable cloud config is a configuration error, before generating
	SUPABASE_SERVICE_ROLE_KEY= gen --seed 27 "on without key"
	expect_rc 2
	expect_eq "$ERR" "imagen: config: cloud sync is on (from config file) but the environment variable SUPABASE_SERVICE_ROLE_KEY (named by cloud.service_key_env) is not set" stderr
	rm "$CFG"
	IMAGEN_CLOUD_SYNC=on gen --seed 28 "on without config"
	expect_rc 2
	expect_eq "$ERR" "imagen: config: cloud sync is on (from environment) but cloud.supabase_url is not set (no config file, see imagen config init)" stderr
	expect_eq "$(count_files out "*on-without*")" 0 "images written on a config error"
	# the key variable is the one cloud.service_key_env names
	cloud_config "$FAKE_URL" "  service_key_env: MY_SUPA_KEY"
	SUPABASE_SERVICE_ROLE_KEY= MY_SUPA_KEY=$KEY gen --seed 29 "custom key variable"
	expect_eq "$(jqr "$OUT" .cloud.status)" synced "custom key variable"
	# imagen sync is explicit: it runs whatever the mode, but needs the config
	im sync --status
	expect_rc 0
	rm "$CFG"
	im sync "$F"
	expect_rc 2
	expect_contains "$ERR" "imagen: cloud sync: cloud.supabase_url is not set"
}

test_service_key_never_in_output() {
	setup
	# every command, verbose, successes and failures: im fails on the canary
	im -v generate -o out --name "{date}-$TAG-{slug}.png" "a secret fox"
	expect_rc 0
	f=$OUT
	im -v sync "$f"
	im -v url "$f"
	im config show
	im -v sync --status --json
	SUPABASE_SERVICE_ROLE_KEY="wrong-$SECRET_CANARY" im -v sync "$f"
	expect_rc 1
	expect_contains "$ERR" "HTTP 401"
	SUPABASE_SERVICE_ROLE_KEY="wrong-$SECRET_CANARY" im -v generate -o out "x"
	expect_rc 0
	im -v sync --json
	! grep -qrF "$SECRET_CANARY" "$HOME/.local" 2>/dev/null || fail "the key was written under ~/.local"
}

test_sb_secret_key_goes_in_apikey_only() {
	setup "sb_secret_$(uuid | tr -d -)"
	SECRET_CANARY=${KEY#sb_secret_}
	gen --seed 30 "a modern fox"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_eq "$(jqr "$OUT" .cloud.status)" synced status
	expect_eq "$(fake_requests | jq -r '[.[] | .headers.apikey] | unique | join(",")')" "$KEY" apikey
	expect_eq "$(fake_requests | jq '[.[] | select(.headers.authorization != null)] | length')" 0 "requests with Authorization"
	expect_eq "$(sq "select count(*) from imagen.images where storage_path = '$SP'")" 1 row
	# the same key sent as a Bearer token is what Supabase rejects: the fake agrees
	code=$(http_status POST "$FAKE_URL/rest/v1/images" "$T_TMP/answer" "apikey: $KEY" \
		"Authorization: Bearer $KEY" "Content-Type: application/json" "Content-Profile: imagen")
	expect_eq "$code" 401 "sb_secret key as a Bearer token"
}

run_tests
