#!/usr/bin/env bash
# The a1111 adapter against tests/fake/a1111.py (an AUTOMATIC1111 WebUI API): the exact
# txt2img body, seeds from the double-encoded info, batches, basic auth, every fault.
. "$(dirname "$0")/lib.sh"

export IMAGEN_HTTP_RETRY_BASE_MS=20
export SECRET_CANARY="SECRET_CANARY_a1111_$$"

# a1111_config [EXTRA-YAML-LINES]: instance "sd" (the default backend) on the fake.
a1111_config() {
	write_config "$CFG" <<EOF
defaults:
  backend: sd
backends:
  sd:
    type: a1111
    base_url: $FAKE_URL/
    model: sd15.safetensors
    sampler: DPM++ 2M
    scheduler: Karras
    cfg_scale: 6.5
${1:-}
EOF
}


# requests_to METHOD PATH: how many the fake received.
requests_to() {
	fake_requests | jq --arg m "$1" --arg p "$2" '[.[] | select(.method == $m and .path == $p)] | length'
}

# txt2img_body [N]: the JSON body of the Nth (0-based) txt2img request.
txt2img_body() {
	fake_requests | jq -c "[.[] | select(.path == \"/sdapi/v1/txt2img\")][${1:-0}].body | fromjson"
}

expect_json_eq() { # actual expected what
	jq -n -e --argjson a "$1" --argjson b "$2" '$a == $b' >/dev/null ||
		fail "${3:-json}: got $1, expected $2"
}

expect_empty_dir() {
	[ ! -d "$1" ] || [ -z "$(ls -A "$1")" ] || fail "$1 is not empty: $(ls -A "$1")"
}

test_happy_path_sends_the_exact_body_and_records_everything() {
	fake_start a1111
	a1111_config
	im generate --seed 1234 -W 64 -H 48 --steps 12 -n "blurry, lowres" -o out "a lighthouse at dusk"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_file "$OUT"
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 1 "txt2img requests"
	expect_json_eq "$(txt2img_body)" '{"prompt": "a lighthouse at dusk",
		"negative_prompt": "blurry, lowres", "seed": 1234, "steps": 12, "width": 64,
		"height": 48, "sampler_name": "DPM++ 2M", "scheduler": "Karras", "cfg_scale": 6.5,
		"batch_size": 1, "n_iter": 1, "send_images": true, "save_images": false,
		"override_settings": {"sd_model_checkpoint": "sd15.safetensors"}}' "txt2img body"
	fake_requests | jq -e '.[0].headers["content-type"] == "application/json"' >/dev/null ||
		fail "no JSON content type"
	fake_requests | jq -e '.[0].headers | has("authorization") | not' >/dev/null ||
		fail "credentials sent though none are configured"
	# no terminal, no progress line: nothing polls
	expect_eq "$(requests_to GET /sdapi/v1/progress)" 0 "progress polls"

	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .seed)" 1234 seed
	expect_eq "$(jqr "$s" .seed_honoured)" true seed_honoured
	expect_eq "$(jqr "$s" .backend_type)" a1111 backend_type
	expect_eq "$(jqr "$s" .model)" sd15.safetensors model
	expect_eq "$(jqr "$s" .width)x$(jqr "$s" .height)" 64x48 size
	expect_eq "$(jqr "$s" .steps)" 12 steps
	expect_eq "$(jqr "$s" 'has("cost")')" false "cost in the sidecar of a local backend"
	expect_eq "$(jqr "$s" .metadata.sampler)" "DPM++ 2M" metadata.sampler
	expect_eq "$(jqr "$s" .metadata.scheduler)" Karras metadata.scheduler
	expect_eq "$(jqr "$s" .metadata.cfg_scale)" 6.5 metadata.cfg_scale
	expect_eq "$(jqr "$s" .metadata.sd_model_hash)" 6ce0161689 metadata.sd_model_hash
	expect_eq "$(jqr "$s" .metadata.version)" v1.10.1 metadata.version
	expect_contains "$(jqr "$s" .metadata.infotext)" "Seed: 1234, Size: 64x48" metadata.infotext
	expect_eq "$(jqr "$s" '.metadata | has("info_error")')" false info_error

	# one parameters chunk (ours replaced the upstream's, keeping its fields) and the imagen chunk
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	expect_eq "$(pngcheck -t "$OUT" | grep -c '^parameters:')" 1 "parameters chunks"
	im inspect --json "$OUT"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .parameters.text)" "a lighthouse at dusk
Negative prompt: blurry, lowres
Steps: 12, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, Size: 64x48, Model hash: 6ce0161689, Model: sd15, Version: v1.10.1" "parameters text"
	expect_eq "$(jqr "$OUT" .parameters.text)" "$(jqr "$s" .metadata.infotext)" "the upstream's infotext, kept"
}

test_from_a_plain_a1111_png_sends_its_sampler_scheduler_and_cfg() {
	fake_start a1111
	a1111_config
	python3 - "$HOME/other.png" <<'PY'
import sys, struct, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
raw = b"".join(b"\0" + b"\x80\x40\x20" * 4 for _ in range(4))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
png += chunk(b"tEXt", b"parameters\0a castle\nSteps: 12, Sampler: Euler a, Schedule type: Exponential, CFG scale: 4.5, Seed: 77, Size: 64x48")
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
	im generate --from "$HOME/other.png" -o out
	expect_rc 0
	expect_eq "$(txt2img_body | jq -c '[.sampler_name, .scheduler, .cfg_scale, .seed, .steps]')" \
		'["Euler a","Exponential",4.5,77,12]' "what the recorded text asked for"
	# a --set option still wins over the record
	im generate --from "$HOME/other.png" --set sampler=DDIM -o out
	expect_rc 0
	expect_eq "$(txt2img_body 1 | jq -r .sampler_name)" DDIM "--set over the record"
}

test_json_record_has_null_cost() {
	fake_start a1111
	a1111_config
	im generate --json --seed 3 -W 64 -H 64 -o out "x"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .cost)" null cost
	expect_eq "$(jqr "$OUT" .backend_type)" a1111 backend_type
}

test_defaults_without_model_send_no_override_settings() {
	fake_start a1111
	write_config "$CFG" <<EOF
backends:
  plain:
    type: a1111
    base_url: $FAKE_URL
EOF
	im generate -b plain --seed 9 -o out "y"
	expect_rc 0
	expect_json_eq "$(txt2img_body)" '{"prompt": "y", "negative_prompt": "", "seed": 9,
		"steps": 20, "width": 512, "height": 512, "sampler_name": "Euler a",
		"scheduler": "Automatic", "cfg_scale": 7, "batch_size": 1, "n_iter": 1,
		"send_images": true, "save_images": false}' "default body"
	# the model is what the server says it used
	expect_eq "$(jqr "${OUT%.png}.json" .model)" sd15 model
}

test_set_options_override_the_config() {
	fake_start a1111
	a1111_config
	im generate --seed 1 -W 64 -H 64 --set sampler=Heun --set scheduler=Exponential \
		--set cfg_scale=4.5 --set model=xl.safetensors -o out "z"
	expect_rc 0
	expect_eq "$(txt2img_body | jq -c '[.sampler_name, .scheduler, .cfg_scale, .override_settings]')" \
		'["Heun","Exponential",4.5,{"sd_model_checkpoint":"xl.safetensors"}]' "overridden fields"
	expect_eq "$(jqr "${OUT%.png}.json" .options.sampler)" Heun "recorded option"
	im generate --seed 1 --set sampeler=Heun "z"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "unknown option 'sampeler' for the a1111 backend"
	expect_contains "$ERR" "did you mean 'sampler'"
	im generate --seed 1 --set cfg_scale=lots "z"
	expect_rc 2
	expect_contains "$ERR" "option cfg_scale: expected a number"
	im generate --seed 1 -W 100 "z"
	expect_rc 2
	expect_contains "$ERR" "width 100 is not a multiple of 8"
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 1 "txt2img requests (bad options send nothing)"
}

test_seed_is_taken_from_info_when_the_upstream_changes_it() {
	fake_start a1111
	a1111_config
	fake_data '{"seed_override": 987654}'
	im generate --seed 5 -W 64 -H 64 -o out "reseeded"
	expect_rc 0
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .seed)" 987654 "recorded seed"
	expect_eq "$(jqr "$s" .metadata.seed_requested)" 5 "requested seed"
	expect_contains "$OUT" "-987654.png" "file name seed"
	expect_eq "$(txt2img_body | jq .seed)" 5 "seed sent"
}

test_count_3_is_one_batch_with_seeds_from_all_seeds() {
	fake_start a1111
	a1111_config
	# a server that puts a grid first (A1111 does when it may save one; forks differ)
	fake_data '{"seed_override": 500, "grid": true}'
	im generate --count 3 --seed 100 -W 64 -H 48 -o out "three boats"
	expect_rc 0
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 1 "txt2img requests"
	expect_eq "$(txt2img_body | jq -c '[.batch_size, .n_iter, .seed]')" '[3,1,100]' "batch fields"
	expect_eq "$(count_files out '*.png')" 3 pngs
	expect_eq "$(count_files out '*.json')" 3 sidecars
	for seed in 500 501 502; do
		f=$(ls out/*-"$seed".png) || fail "no image for seed $seed"
		expect_eq "$(jqr "${f%.png}.json" .seed)" "$seed" "seed of $f"
		# the grid the fake puts first is not one of them
		expect_match "$(pngcheck -v "$f")" "64 x 48" "size of $f"
		expect_contains "$(jqr "${f%.png}.json" .metadata.infotext)" "Seed: $seed," "infotext of $f"
	done
}

test_count_10_is_two_batches_of_8_and_2() {
	fake_start a1111
	a1111_config
	im generate --count 10 --seed 20 -W 64 -H 64 -o out "many"
	expect_rc 0
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 2 "txt2img requests"
	expect_eq "$(txt2img_body 0 | jq -c '[.batch_size, .seed]')" '[8,20]' "first batch"
	expect_eq "$(txt2img_body 1 | jq -c '[.batch_size, .seed]')" '[2,28]' "second batch"
	expect_eq "$(count_files out '*.png')" 10 pngs
	for seed in $(seq 20 29); do
		expect_file "$(ls out/*-"$seed".png)"
	done
}

test_basic_auth_is_sent_and_never_shown() {
	fake_start a1111 --auth "painter:pw-$SECRET_CANARY"
	a1111_config "    auth_env: A1111_AUTH"
	export A1111_AUTH="painter:pw-$SECRET_CANARY"
	im -v generate --seed 2 -W 64 -H 64 -o out "guarded"
	expect_rc 0
	expect_file "$OUT"
	want="Basic $(printf '%s' "$A1111_AUTH" | base64 -w0)"
	expect_eq "$(fake_requests | jq -r '.[0].headers.authorization')" "$want" "authorization header"
	expect_match "$ERR" "POST http://127.0.0.1:[0-9]+/sdapi/v1/txt2img -> 200" "-v request line"
	# im fails the test if the password shows up anywhere in stdout or stderr
	im config show
	expect_not_contains "$OUT$ERR" "pw-" "config show"
}

test_wrong_password_is_401_not_retried() {
	fake_start a1111 --auth "painter:right"
	a1111_config "    auth_env: A1111_AUTH"
	export A1111_AUTH="painter:wrong-$SECRET_CANARY"
	im generate --seed 2 -o out "guarded"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "sd": HTTP 401 from POST /sdapi/v1/txt2img: Incorrect username or password (check the user:password in A1111_AUTH)' stderr
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 1 "attempts"
	expect_empty_dir out
	# no credentials configured at all: the hint says where they go
	a1111_config
	im generate --seed 2 -o out "guarded"
	expect_rc 1
	expect_contains "$ERR" "(the server wants a user and password: set auth_env)"
}

test_unset_auth_variable_fails_before_any_request() {
	fake_start a1111
	a1111_config "    auth_env: A1111_AUTH"
	unset A1111_AUTH
	im generate "x"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" 'backend "sd": A1111_AUTH is not set'
	export A1111_AUTH="no-colon-$SECRET_CANARY"
	im generate "x"
	expect_rc 2
	expect_contains "$ERR" "A1111_AUTH does not look like user:password"
	expect_eq "$(fake_requests | jq length)" 0 "requests"
}

test_503_is_retried_then_succeeds() {
	fake_start a1111
	a1111_config
	fake_faults "$FAKE_URL" '{"match": "POST /sdapi/v1/txt2img", "status": 503, "times": 2}'
	im generate --seed 8 -W 64 -H 64 -o out "patience"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 3 "attempts"
}

# The shared retry loop (http_request_retry) waits what Retry-After asks: the backoff
# alone would be tens of milliseconds here (IMAGEN_HTTP_RETRY_BASE_MS=20), so a gap of
# about a second between the attempts can only come from the header.  (A lower bound:
# a slow machine cannot make this fail.)
test_retry_after_header_is_honoured() {
	fake_start a1111
	a1111_config
	fake_faults "$FAKE_URL" '[{"match": "POST /sdapi/v1/txt2img", "status": 503, "headers": {"Retry-After": "1"}},
		{"match": "POST /sdapi/v1/txt2img", "status": 429, "headers": {"Retry-After": "1"}}]'
	im -v generate --seed 8 -W 64 -H 64 -o out "patience"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 3 "attempts"
	expect_contains "$ERR" "HTTP 503, retrying in 1.0 s (attempt 2 of 4)" "-v retry line"
	expect_contains "$ERR" "HTTP 429, retrying in 1.0 s (attempt 3 of 4)" "-v retry line"
	t=$(fake_requests | jq '[.[] | select(.path == "/sdapi/v1/txt2img") | .time] | [.[1] - .[0], .[2] - .[1]] | map(. >= 0.9) | all')
	expect_eq "$t" true "waited Retry-After between the attempts"
}

# A Retry-After longer than imagen waits for one retry (30 s) ends the run at once:
# coming back sooner than the server said would only be refused again.
test_retry_after_longer_than_the_cap_is_not_retried() {
	fake_start a1111
	a1111_config
	fake_faults "$FAKE_URL" '{"match": "POST /sdapi/v1/txt2img", "status": 503, "headers": {"Retry-After": "3600"}, "times": 5,
		"body": "{\"error\": \"HTTPException\", \"detail\": \"down for maintenance\", \"body\": \"\", \"errors\": \"503\"}"}'
	im generate --seed 8 -W 64 -H 64 -o out "come back later"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "sd": HTTP 503 from POST /sdapi/v1/txt2img: down for maintenance' stderr
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 1 "attempts"
	expect_empty_dir out
}

test_503_gives_up_after_the_last_attempt() {
	fake_start a1111
	a1111_config
	export IMAGEN_HTTP_RETRIES=3
	fake_faults "$FAKE_URL" '{"match": "POST /sdapi/v1/txt2img", "status": 503, "times": 10,
		"body": "{\"error\": \"HTTPException\", \"detail\": \"busy\", \"body\": \"\", \"errors\": \"503: busy\"}"}'
	im generate --seed 8 -o out "patience"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "sd": HTTP 503 from POST /sdapi/v1/txt2img after 3 attempts: busy' stderr
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 3 "attempts"
	expect_empty_dir out
}

test_500_names_the_webui_exception() {
	fake_start a1111
	a1111_config
	export IMAGEN_HTTP_RETRIES=1
	fake_faults "$FAKE_URL" '{"match": "POST /sdapi/v1/txt2img", "status": 500,
		"body": "{\"error\": \"OutOfMemoryError\", \"detail\": \"\", \"body\": \"\", \"errors\": \"CUDA out of memory. Tried to allocate 2.00 GiB\"}"}'
	im generate --seed 8 -o out "huge"
	expect_rc 1
	expect_eq "$ERR" 'imagen: backend "sd": HTTP 500 from POST /sdapi/v1/txt2img: OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB' stderr
}

test_422_is_not_retried_and_shows_the_detail() {
	fake_start a1111
	a1111_config
	fake_faults "$FAKE_URL" '{"match": "POST /sdapi/v1/txt2img", "status": 422, "times": 5,
		"body": "{\"detail\": [{\"loc\": [\"body\", \"steps\"], \"msg\": \"value is not a valid integer\", \"type\": \"type_error.integer\"}, {\"loc\": [\"body\", \"width\"], \"msg\": \"x\", \"type\": \"y\"}]}"}'
	im generate --seed 8 -o out "invalid"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "sd": HTTP 422 from POST /sdapi/v1/txt2img: steps: value is not a valid integer (and 1 more)' stderr
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 1 "attempts"
	expect_empty_dir out
}

test_malformed_json_fails_without_a_file() {
	fake_start a1111
	a1111_config
	fake_faults "$FAKE_URL" '{"match": "POST /sdapi/v1/txt2img", "garbage": true}'
	im generate --seed 8 -o out "garbled"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "sd": upstream returned malformed JSON (POST /sdapi/v1/txt2img)' stderr
	expect_empty_dir out
}

test_malformed_info_still_saves_the_image_with_the_requested_seed() {
	fake_start a1111
	a1111_config
	fake_data '{"info": "malformed", "seed_override": 42}'
	im generate --seed 77 -W 64 -H 64 -o out "no info"
	expect_rc 0
	expect_file "$OUT"
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .seed)" 77 "seed (from the request)"
	expect_eq "$(jqr "$s" .metadata.info_error)" "info is not valid JSON" info_error
	expect_eq "$(jqr "$s" .model)" sd15.safetensors model
	fake_data '{"info": "missing", "seed_override": null}'
	im generate --seed 78 -W 64 -H 64 -o out2 "no info"
	expect_rc 0
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.info_error)" "the response has no info" info_error
	# info as a plain object (some forks) is read as well
	fake_data '{"info": "object", "seed_override": 1000}'
	im generate --seed 79 -W 64 -H 64 -o out3 "object info"
	expect_rc 0
	expect_eq "$(jqr "${OUT%.png}.json" .seed)" 1000 "seed from an object info"
}

test_malformed_info_in_a_batch_skips_the_grid_by_count() {
	fake_start a1111
	a1111_config
	fake_data '{"info": "malformed", "grid": true}'
	im generate --count 2 --seed 10 -W 64 -H 48 -o out "pair"
	expect_rc 0
	expect_eq "$(count_files out '*.png')" 2 pngs
	for f in out/*.png; do
		expect_match "$(pngcheck -v "$f")" "64 x 48" "size of $f (not the grid)"
	done
	expect_file "$(ls out/*-10.png)"
	expect_file "$(ls out/*-11.png)"
}

test_bad_image_data_fails_and_writes_nothing() {
	fake_start a1111
	a1111_config
	fake_data '{"image": "truncated"}'
	im generate --seed 8 -o out "cut"
	expect_rc 1
	expect_one_error_line
	expect_contains "$ERR" 'backend "sd": image 1 of the response is not a usable image: truncated PNG'
	expect_empty_dir out
	fake_data '{"image": "not_png"}'
	im generate --seed 8 -o out "gif"
	expect_rc 1
	expect_contains "$ERR" "image 1 of the response is not a usable image: not a PNG, JPEG or WebP image (24 bytes)"
	expect_empty_dir out
	fake_data '{"image": "bad_base64"}'
	im generate --seed 8 -o out "b64"
	expect_rc 1
	expect_contains "$ERR" "image 1 of the response is not valid base64"
	expect_empty_dir out
}

test_fewer_images_than_asked_keeps_those_that_came() {
	fake_start a1111
	a1111_config
	fake_data '{"images_short": 1}'
	im generate --count 3 --seed 30 -W 64 -H 64 -o out "short"
	expect_rc 1
	expect_contains "$ERR" "upstream returned 2 images, 3 were asked for"
	expect_eq "$(count_files out '*.png')" 2 "images kept"
}

test_bytes_after_iend_are_trimmed() {
	fake_start a1111
	a1111_config
	fake_data '{"image": "trailing"}'
	im generate --seed 8 -W 64 -H 64 -o out "tail"
	expect_rc 0
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.bytes_after_iend_removed)" 15 "trimmed bytes"
}

test_jpeg_samples_are_kept_as_jpeg() {
	# a server with samples_format: jpg answers JPEGs
	fake_start a1111
	a1111_config
	fake_data '{"image": "jpeg"}'
	im generate --seed 8 -W 64 -H 64 -o out "jay peg"
	expect_rc 0
	expect_match "$OUT" '\.jpg$' "file name"
	expect_eq "$(head -c 3 "$OUT" | od -An -tx1 | tr -d ' ')" ffd8ff "JPEG magic"
	expect_eq "$(jqr "${OUT%.jpg}.json" .seed)" 8 seed
}

# A txt2img whose answer broke off, or came too late, has run on the GPU: it is not
# sent again (issue 9 item 13) - one request upstream, one clear line naming it.
test_connection_dropped_or_timed_out_is_not_sent_again() {
	fake_start a1111
	a1111_config
	fake_faults "$FAKE_URL" '{"match": "POST /sdapi/v1/txt2img", "drop": true}'
	im generate --seed 8 -W 64 -H 64 -o out "flaky"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" '^imagen: backend "sd": POST /sdapi/v1/txt2img: connection to 127\.0\.0\.1:[0-9]+ closed before the whole response arrived; not sent again, as the server may have received it$' stderr
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 1 "requests upstream"
	expect_empty_dir out
	a1111_config "    timeout: 1"
	fake_faults "$FAKE_URL" '{"match": "POST /sdapi/v1/txt2img", "delay_ms": 2500}'
	im generate --seed 8 -W 64 -H 64 -o out2 "slow"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" '^imagen: backend "sd": POST /sdapi/v1/txt2img: no answer from 127\.0\.0\.1:[0-9]+ within 1 s; not sent again' stderr
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 2 "requests upstream (one per run)"
	expect_empty_dir out2
}

test_server_down_is_a_clear_error() {
	# a port nobody listens on: start the fake to learn a free port, then stop it
	fake_start a1111
	url=$FAKE_URL
	fake_stop_all
	FAKE_URL=$url
	a1111_config
	export IMAGEN_HTTP_RETRIES=1
	im generate --seed 8 -o out "nobody home"
	expect_rc 1
	expect_one_error_line
	# the endpoint is named, as comfyui's POST /prompt is (issue 9 item 7)
	expect_match "$ERR" '^imagen: backend "sd": POST /sdapi/v1/txt2img: cannot connect to 127\.0\.0\.1:[0-9]+ \(connection refused\)$' stderr
	# never sent, so it is tried again
	export IMAGEN_HTTP_RETRIES=2
	im generate --seed 8 -o out "nobody home"
	expect_rc 1
	expect_match "$ERR" '^imagen: backend "sd": POST /sdapi/v1/txt2img: after 2 attempts: cannot connect to 127\.0\.0\.1:[0-9]+ \(connection refused\)$' stderr
}

test_progress_is_polled_and_drawn_on_a_terminal() {
	fake_start a1111 --gen-ms 1600
	a1111_config
	cat >"$T_TMP/run.sh" <<EOF
exec "$IMAGEN" generate --no-preview --seed 4 -W 64 -H 64 --steps 16 -o "$HOME/out" "slow lighthouse"
EOF
	# script(1) gives imagen a terminal for stderr (and stdout)
	SHELL=/bin/bash script -qefc "bash $T_TMP/run.sh" /dev/null >"$T_TMP/tty" 2>&1
	rc=$?
	tty_out=$(tr -d '\r' <"$T_TMP/tty")
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$tty_out"; then
		fail "sanitizer finding: $tty_out"
	fi
	expect_eq "$rc" 0 "exit status under a terminal"
	n=$(requests_to GET /sdapi/v1/progress)
	[ "$n" -ge 2 ] || fail "progress polled $n times during a 1.6 s generation"
	expect_eq "$(fake_requests | jq -r '[.[] | select(.path == "/sdapi/v1/progress")][0].query.skip_current_image')" true "skip_current_image"
	# the step display: "sd  [####----...] N/16"
	expect_match "$tty_out" '\] [0-9]+/16' "progress line"
	expect_eq "$(count_files out '*.png')" 1 pngs
}

# The same with the poller thread running when Ctrl-C comes: both stop, one interrupt.
test_ctrl_c_on_a_terminal_stops_the_poller_too() {
	fake_start a1111 --gen-ms 20000
	a1111_config
	mkdir -p out
	cat >"$T_TMP/run.sh" <<EOF
"$IMAGEN" generate --no-preview --seed 4 -W 64 -H 64 -o "$HOME/out" "never finished" &
echo \$! >"$T_TMP/pid"
wait \$!
echo "rc=\$?"
EOF
	SHELL=/bin/bash script -qefc "bash $T_TMP/run.sh" /dev/null >"$T_TMP/tty" 2>&1 &
	spid=$!
	for _ in $(seq 1 200); do
		[ "$(requests_to GET /sdapi/v1/progress)" -ge 1 ] && break
		sleep 0.02
	done
	[ "$(requests_to GET /sdapi/v1/progress)" -ge 1 ] || fail "no progress poll before Ctrl-C"
	kill -INT "$(cat "$T_TMP/pid")"
	wait $spid
	tty_out=$(tr -d '\r' <"$T_TMP/tty")
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$tty_out"; then
		fail "sanitizer finding: $tty_out"
	fi
	expect_contains "$tty_out" "imagen: interrupted" "terminal output"
	expect_contains "$tty_out" "rc=130" "exit status"
	expect_eq "$(requests_to POST /sdapi/v1/interrupt)" 1 "interrupt requests"
	expect_empty_dir out
}

test_slow_generation_without_a_terminal_does_not_poll() {
	fake_start a1111 --gen-ms 1200
	a1111_config
	im generate --seed 4 -W 64 -H 64 -o out "slow"
	expect_rc 0
	expect_eq "$(requests_to GET /sdapi/v1/progress)" 0 "progress polls"
}

test_ctrl_c_interrupts_the_server_and_exits_130() {
	fake_start a1111 --gen-ms 20000
	a1111_config
	mkdir -p out
	"$IMAGEN" generate --seed 4 -W 64 -H 64 -o out "never finished" >"$T_TMP/o" 2>"$T_TMP/e" &
	pid=$!
	for _ in $(seq 1 200); do
		[ "$(requests_to POST /sdapi/v1/txt2img)" = 1 ] && break
		sleep 0.02
	done
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 1 "txt2img started"
	t0=$(date +%s%N)
	kill -INT $pid
	wait $pid
	rc=$?
	t1=$(date +%s%N)
	expect_eq "$rc" 130 "exit status"
	[ $(((t1 - t0) / 1000000)) -lt 3000 ] || fail "took $(((t1 - t0) / 1000000)) ms to stop"
	expect_eq "$(cat "$T_TMP/e")" "imagen: interrupted" stderr
	expect_eq "$(requests_to POST /sdapi/v1/interrupt)" 1 "interrupt requests"
	expect_empty_dir out
	grep -qE "Sanitizer|runtime error" "$T_TMP/e" && fail "sanitizer finding"
	true
}

test_config_validate_checks_the_slice() {
	FAKE_URL=http://127.0.0.1:9
	a1111_config "    stpes: 20"
	im config validate
	expect_rc 2
	expect_match "$ERR" "imagen.yaml:[0-9]+:[0-9]+: unknown key 'stpes' in backends.sd \(did you mean 'steps'\?\)"
	write_config "$CFG" <<EOF
backends:
  sd:
    type: a1111
    base_url: http://user:pw-$SECRET_CANARY@gpu:7860
EOF
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.sd.base_url: credentials in the URL are not allowed"
	write_config "$CFG" <<EOF
backends:
  sd:
    type: a1111
    width: 500
EOF
	im config validate
	expect_rc 2
	expect_match "$ERR" "imagen.yaml:4:12: backends.sd.width: 500 is not a multiple of 8"
	write_config "$CFG" <<EOF
backends:
  sd:
    type: a1111
    auth_env: "user:password"
EOF
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.sd.auth_env: expected the NAME of an environment variable"
	write_config "$CFG" <<EOF
backends:
  sd:
    type: a1111
    base_url: ftp://gpu
    cfg_scale: 7.5
EOF
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.sd.base_url: expected an http:// or https:// URL"
	write_config "$CFG" <<EOF
backends:
  sd:
    type: a1111
    base_url: https://gpu.example:7860
    model: "sdxl.safetensors [31e35c80fc]"
    sampler: Euler a
    scheduler: Automatic
    cfg_scale: 7.5
    width: 1024
    height: 768
    steps: 30
    auth_env: A1111_AUTH
    timeout: 900
EOF
	im config validate
	expect_rc 0
}

run_tests
