#!/usr/bin/env bash
# The openai adapter against tests/fake/openai.py: request body, metadata, cost, batching,
# the url flow, size mapping, retries, every fault, Ctrl-C, and the key never shown.
. "$(dirname "$0")/lib.sh"

export IMAGEN_HTTP_RETRY_BASE_MS=20
GEN=/v1/images/generations

# oa_setup [model] [extra yaml lines...]: a fake, a config using it, a key in the env.
oa_setup() {
	fake_start openai
	oa_setup_at "$FAKE_URL" "$@"
}

# oa_setup_at URL [model] [extra yaml lines...]: the config and key for a server at URL.
oa_setup_at() {
	local url=$1 model=${2:-gpt-image-1} line
	shift 2 || shift
	SECRET_CANARY="SECRET_CANARY-$RANDOM$RANDOM"
	export OPENAI_API_KEY="sk-test-$SECRET_CANARY"
	{
		printf 'defaults:\n  backend: oa\nbackends:\n  oa:\n    type: openai\n'
		printf '    model: %s\n    base_url: %s/v1\n' "$model" "$url"
		for line in "$@"; do printf '    %s\n' "$line"; done
	} | write_config "$CFG"
}


posts() { fake_requests | jq "[.[] | select(.method == \"POST\" and .path == \"$GEN\")] | length"; }
body_of() { fake_requests | jq -c "[.[] | select(.path == \"$GEN\")][${1:-0}].body | fromjson"; }
expect_no_output() {
	expect_eq "$(find "${1:-out}" -type f 2>/dev/null | wc -l | tr -d ' ')" 0 "files in ${1:-out}"
}

# On a terminal the status line keeps its elapsed time moving while the request is open;
# not on a pipe, and not with -q.
test_progress_line_on_a_terminal_only() {
	oa_setup gpt-image-1
	fake_faults "$FAKE_URL" '[{"match": "POST /v1/images/generations", "delay_ms": 1200}]'
	script -qec "'$IMAGEN' generate --no-preview -o out 'slow lighthouse'" /dev/null >"$T_TMP/tty" 2>&1 ||
		fail "generate under a pty failed: $(cat "$T_TMP/tty")"
	n=$(grep -ao 'generating  [0-9.]*s' "$T_TMP/tty" | sort -u | wc -l)
	[ "$n" -ge 3 ] || fail "expected the elapsed time to move (got $n distinct lines): $(cat -v "$T_TMP/tty")"
	grep -aq 'out/.*slow-lighthouse.*\.png' "$T_TMP/tty" || fail "no path printed under the pty"
	fake_faults "$FAKE_URL" '[{"match": "POST /v1/images/generations", "delay_ms": 600}]'
	script -qec "'$IMAGEN' -q generate --no-preview -o out2 'quiet one'" /dev/null >"$T_TMP/tty2" 2>&1
	! grep -aq generating "$T_TMP/tty2" || fail "-q still drew a progress line"
	im generate -o out3 "piped"
	expect_rc 0
	expect_eq "$ERR" "" "stderr on a pipe"
}

test_happy_path_request_metadata_and_cost() {
	oa_setup gpt-image-1 "quality: medium" "size: 1024x1024" "output_format: png"
	fake_data '{"revised_prompt": "a lighthouse at dusk, revised"}'
	im generate --seed 9 -o out "a lighthouse at dusk"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_file "$OUT"
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	# exactly what was sent
	expect_eq "$(body_of 0)" \
		'{"model":"gpt-image-1","prompt":"a lighthouse at dusk","n":1,"size":"1024x1024","quality":"medium","output_format":"png"}' \
		"request body"
	expect_eq "$(fake_requests | jq -r '.[0].headers.authorization')" "Bearer $OPENAI_API_KEY" auth
	expect_eq "$(fake_requests | jq -r '.[0].headers["content-type"]')" application/json ctype
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .backend_type)" openai backend_type
	expect_eq "$(jqr "$s" .model)" gpt-image-1 model
	expect_eq "$(jqr "$s" .seed_honoured)" false seed_honoured
	expect_eq "$(jqr "$s" .seed)" 9 "recorded seed"
	expect_eq "$(jqr "$s" '[.width, .height] | join("x")')" 1024x1024 size
	expect_eq "$(jqr "$s" .metadata.revised_prompt)" "a lighthouse at dusk, revised" revised_prompt
	expect_eq "$(jqr "$s" .metadata.usage.output_tokens)" 1056 "usage output tokens"
	expect_eq "$(jqr "$s" .metadata.usage.input_tokens_details.text_tokens)" 4 "usage text tokens"
	expect_eq "$(jqr "$s" .metadata.response.quality)" medium "echoed quality"
	# cost: tokens x the documented gpt-image-1 prices, computed here independently
	want=$(awk 'BEGIN { printf "%.9f", (4 * 5.0 + 1056 * 40.0) / 1e6 }')
	got=$(jqr "$s" '.cost.usd' | awk '{ printf "%.9f", $1 }')
	expect_eq "$got" "$want" "cost usd"
	expect_eq "$(jqr "$s" .cost.method)" "usage tokens x prices" "cost method"
	expect_eq "$(jqr "$s" .cost.source)" default "cost source"
	# the PNG carries the same record
	im inspect --json "$OUT"
	expect_eq "$(jqr "$OUT" '.imagen.metadata.revised_prompt')" \
		"a lighthouse at dusk, revised" "imagen chunk"
}

test_count_two_is_one_request_with_n_2() {
	oa_setup gpt-image-1 "quality: low"
	im generate --count 2 --seed 100 --json -o out "two boats"
	expect_rc 0
	expect_eq "$(posts)" 1 "requests"
	expect_eq "$(body_of 0 | jq .n)" 2 "n"
	expect_eq "$(count_files out '*.png')" 2 pngs
	expect_eq "$(printf '%s\n' "$OUT" | jq -s -c 'map(.seed)')" '[100,101]' seeds
	# each image carries half of the request's cost (low quality: 272 tokens an image)
	expect_eq "$(jqr "$(printf '%s\n' "$OUT" | jq -rs '.[0].sidecar')" .metadata.usage.output_tokens)" 544 tokens
	want=$(awk 'BEGIN { printf "%.9f", (2 * 5.0 + 2 * 272 * 40.0) / 1e6 / 2 }')
	for u in $(printf '%s\n' "$OUT" | jq -r '.cost.usd'); do
		expect_eq "$(awk -v u="$u" 'BEGIN { printf "%.9f", u }')" "$want" "per-image cost"
	done
	a=$(printf '%s\n' "$OUT" | jq -rs '.[0].image')
	b=$(printf '%s\n' "$OUT" | jq -rs '.[1].image')
	cmp -s "$a" "$b" && fail "both images are the same bytes"
	expect_eq "$(jqr "${b%.png}.json" .metadata.image_index)" 1 "image_index"
}

test_dalle3_takes_one_image_per_request() {
	oa_setup dall-e-3 "quality: hd" "size: 1792x1024"
	im generate --count 2 -o out "wide harbour"
	expect_rc 0
	expect_eq "$(posts)" 2 "requests (dall-e-3 accepts n=1 only)"
	expect_eq "$(body_of 1 | jq .n)" 1 "n"
	expect_eq "$(count_files out '*.png')" 2 pngs
	f=$(printf '%s\n' "$OUT" | head -1)
	# DALL-E 3: url transport by default, revised prompt, no usage -> per-image price
	expect_eq "$(jqr "${f%.png}.json" .metadata.image_source)" url source
	expect_eq "$(jqr "${f%.png}.json" .metadata.revised_prompt)" "A detailed rendering of wide harbour" revised
	expect_eq "$(jqr "${f%.png}.json" .metadata.usage)" null usage
	expect_eq "$(jqr "${f%.png}.json" .cost.usd)" 0.12 "hd 1792x1024 price"
	expect_eq "$(jqr "${f%.png}.json" .cost.method)" "per-image price" method
}

test_url_flow_downloads_without_the_key_and_redacts_the_signature() {
	oa_setup dall-e-2 "size: 512x512"
	im -v generate -o out "a small cat"
	expect_rc 0
	expect_match "$(pngcheck -v "$OUT")" "512 x 512" IHDR
	gets=$(fake_requests | jq -c '[.[] | select(.method == "GET")]')
	expect_eq "$(jq length <<<"$gets")" 1 "downloads"
	expect_match "$(jq -r '.[0].path' <<<"$gets")" '^/files/img-' "download path"
	expect_eq "$(jq -r '.[0].headers.authorization' <<<"$gets")" null "key sent with the download"
	expect_contains "$ERR" "sig=REDACTED"
	expect_not_contains "$ERR" "FAKE-SIGNATURE"
	expect_eq "$(jqr "${OUT%.png}.json" .cost.usd)" 0.018 "dall-e-2 512 price"
}

test_size_mapping_exact_or_a_clear_error() {
	oa_setup gpt-image-1
	im generate -W 1536 -H 1024 -o out "landscape"
	expect_rc 0
	expect_eq "$(body_of 0 | jq -r .size)" 1536x1024 "mapped size"
	expect_eq "$(jqr "${OUT%.png}.json" '[.width, .height] | join("x")')" 1536x1024 "recorded size"
	# no size anywhere: none sent, the upstream default applies
	im generate -o out "default size"
	expect_rc 0
	expect_eq "$(body_of 1 | jq -r '.size // "none"')" none "size sent without -W/-H/size"
	n=$(posts)
	im generate -W 800 -H 600 -o out2 "no fit"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" 'backend "oa": size 800x600 is not accepted by this model (accepted: 1024x1024, 1536x1024, 1024x1536)'
	expect_eq "$(posts)" "$n" "requests after a size error"
	expect_no_output out2
	# one side given: it must single out one accepted size
	im generate -H 1536 -o out "tall"
	expect_rc 0
	expect_eq "$(body_of 2 | jq -r .size)" 1024x1536 "height 1536 alone"
	im generate -W 1024 -o out2 "ambiguous"
	expect_rc 2
	expect_contains "$ERR" "matches several sizes"
}

test_sizes_key_and_flexible_models() {
	oa_setup gpt-image-2
	im generate -W 2048 -H 1152 -o out "wide"
	expect_rc 0
	expect_eq "$(body_of 0 | jq -r .size)" 2048x1152 "flexible size"
	im generate -W 1000 -H 1000 -o out2 "not x16"
	expect_rc 2
	expect_contains "$ERR" "multiples of 16"
	# gpt-image-2 has no default price: cost null with the reason
	expect_eq "$(jqr "$(ls out/*.json | head -1)" .cost.usd)" null "unknown price"
	expect_contains "$(jqr "$(ls out/*.json | head -1)" .cost.reason)" "no price for model gpt-image-2 (set backends.oa.prices)"
}

test_prices_from_config_override_the_defaults() {
	oa_setup gpt-image-2 "prices:" "  gpt-image-2:" "    text_input_per_mtok: 1" \
		"    image_output_per_mtok: 10"
	im generate -o out "priced"
	expect_rc 0
	s="${OUT%.png}.json"
	want=$(awk 'BEGIN { printf "%.9f", (1 * 1 + 1056 * 10) / 1e6 }')
	expect_eq "$(jqr "$s" .cost.usd | awk '{ printf "%.9f", $1 }')" "$want" "configured token prices"
	expect_eq "$(jqr "$s" .cost.source)" config source
}

test_output_format_sets_the_file_type() {
	oa_setup gpt-image-1
	im generate --set output_format=jpeg --json -o out "as jpeg"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .mime)" image/jpeg mime
	expect_match "$(jqr "$OUT" .image)" '\.jpg$' "file name"
	expect_eq "$(body_of 0 | jq -r .output_format)" jpeg "sent output_format"
	expect_eq "$(head -c 3 "$(jqr "$OUT" .image)" | od -An -tx1 | tr -d ' ')" ffd8ff "JPEG magic"
	im generate --set output_format=webp --json -o out "as webp"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .mime)" image/webp mime
	im generate --set output_format=gif -o out "as gif"
	expect_rc 2
	expect_contains "$ERR" "output_format: 'gif' is not one of png, jpeg, webp"
}

test_missing_key_is_one_line_exit_2() {
	oa_setup gpt-image-1
	unset OPENAI_API_KEY
	im generate -o out "no key"
	expect_rc 2
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "oa": OPENAI_API_KEY is not set'
	expect_eq "$(fake_requests | jq length)" 0 "requests"
	# api_key_env names another variable
	oa_setup gpt-image-1 "api_key_env: MY_OPENAI_KEY"
	im generate -o out "other var"
	expect_rc 2
	expect_contains "$ERR" "MY_OPENAI_KEY is not set"
}

test_wrong_key_401_is_not_retried() {
	oa_setup gpt-image-1
	fake_data '{"api_key": "sk-the-right-one"}'
	im generate -o out "wrong key"
	expect_rc 1
	expect_one_error_line
	expect_contains "$ERR" "HTTP 401 from POST $GEN: Incorrect API key provided"
	expect_contains "$ERR" "(check OPENAI_API_KEY)"
	expect_eq "$(posts)" 1 requests
	expect_no_output
}

test_429_retry_after_is_honoured_then_success() {
	oa_setup gpt-image-1
	fake_data '{"fail": [{"status": 429, "code": "rate_limit_exceeded", "message": "Rate limit reached for requests", "retry_after": 1}]}'
	t0=$(date +%s%N)
	im generate -o out "rate limited"
	t1=$(date +%s%N)
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(posts)" 2 requests
	# the backoff base is 20 ms here: only Retry-After explains a wait of a second
	[ $(((t1 - t0) / 1000000)) -ge 950 ] || fail "retried after $(((t1 - t0) / 1000000)) ms, Retry-After said 1 s"
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.attempts)" 2 attempts
}

test_429_insufficient_quota_is_final() {
	oa_setup gpt-image-1
	fake_data '{"fail": [{"status": 429, "code": "insufficient_quota", "type": "insufficient_quota", "message": "You exceeded your current quota, please check your plan and billing details."}]}'
	im generate -o out "broke"
	expect_rc 1
	expect_one_error_line
	expect_contains "$ERR" "HTTP 429 from POST $GEN: You exceeded your current quota"
	expect_contains "$ERR" "code insufficient_quota"
	expect_eq "$(posts)" 1 requests
	expect_no_output
}

test_500_and_503_are_retried_then_success() {
	oa_setup gpt-image-1
	fake_data '{"fail": [{"status": 500, "message": "The server had an error"}, {"status": 503, "message": "overloaded"}]}'
	im generate -o out "flaky"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(posts)" 3 requests
}

test_5xx_until_the_last_attempt_fails_cleanly() {
	oa_setup gpt-image-1
	export IMAGEN_HTTP_RETRIES=3
	fake_data '{"fail": [{"status": 503, "message": "overloaded"}, {"status": 503, "message": "overloaded"}, {"status": 503, "message": "still overloaded"}]}'
	im generate -o out "down"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" "imagen: backend \"oa\": HTTP 503 from POST $GEN after 3 attempts: still overloaded"
	expect_eq "$(posts)" 3 requests
	expect_no_output
}

test_400_is_not_retried_and_quotes_upstream() {
	oa_setup gpt-image-1
	im generate --set quality=ultra -o out "bad quality"
	expect_rc 1
	expect_one_error_line
	expect_contains "$ERR" "HTTP 400 from POST $GEN: Invalid value: 'ultra'."
	expect_contains "$ERR" "(param quality, code invalid_value)"
	expect_eq "$(posts)" 1 requests
	expect_no_output
	# moderation
	im generate -o out "a forbidden-fruit still life"
	expect_rc 1
	expect_contains "$ERR" "rejected by the safety system"
	expect_contains "$ERR" "code moderation_blocked"
	expect_no_output
}

test_unknown_set_option_is_a_usage_error() {
	oa_setup gpt-image-1
	im generate --set qualty=high -o out "typo"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "unknown option 'qualty' for the openai backend"
	expect_contains "$ERR" "did you mean 'quality'?"
	expect_eq "$(fake_requests | jq length)" 0 requests
}

test_malformed_json_fails_without_a_file() {
	oa_setup gpt-image-1
	fake_faults "$FAKE_URL" '{"match": "POST /v1/images", "garbage": true}'
	im generate -o out "garbage"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" "imagen: backend \"oa\": upstream returned malformed JSON (POST $GEN)"
	expect_no_output
}

test_bad_images_fail_without_a_file() {
	oa_setup gpt-image-1
	for kind in truncated_b64 not_png truncated_png; do
		fake_data "{\"image\": \"$kind\"}"
		im generate -o out "bad image $kind"
		expect_rc 1
		expect_one_error_line
		case $kind in
		truncated_b64) expect_contains "$ERR" "truncated base64" ;;
		not_png) expect_contains "$ERR" "not a PNG, JPEG or WebP image" ;;
		truncated_png) expect_contains "$ERR" "unusable: truncated PNG" ;;
		esac
		expect_no_output
	done
	# fewer images than asked: the ones that came are kept, the run fails
	fake_data '{"image": "ok", "images_short": 1}'
	im generate --count 3 -o out "short"
	expect_rc 1
	expect_contains "$ERR" "upstream returned 2 of the 3 images asked for"
	expect_eq "$(count_files out '*.png')" 2 "kept images"
}

# A billed create whose answer broke off may have run upstream: it is never sent again
# (issue 9 item 13).  The upstream sees exactly one request, the user one clear line.
test_connection_dropped_mid_answer_is_not_sent_again() {
	oa_setup gpt-image-1
	fake_faults "$FAKE_URL" '{"match": "POST /v1/images", "drop": true}'
	im generate -o out "dropped once"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" "^imagen: backend \"oa\": POST $GEN: connection to 127\\.0\\.0\\.1:[0-9]+ closed before the whole response arrived; not sent again, as the server may have received it\$"
	expect_eq "$(posts)" 1 "creates the upstream received"
	expect_no_output
}

# The per-request total timeout (backends.NAME.timeout): an answer slower than it means
# the create arrived and may be running - one request, then a clear error naming the limit.
test_answer_slower_than_the_timeout_is_not_sent_again() {
	oa_setup gpt-image-1 "timeout: 1"
	fake_faults "$FAKE_URL" '{"match": "POST /v1/images", "delay_ms": 2500}'
	im generate -o out "slow once"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" "^imagen: backend \"oa\": POST $GEN: no answer from 127\\.0\\.0\\.1:[0-9]+ within 1 s; not sent again"
	expect_eq "$(posts)" 1 "creates the upstream received"
	expect_no_output
}

# Nothing listening: the create never left, so trying again cannot bill twice.
test_connection_refused_is_retried() {
	fake_start openai
	url=$FAKE_URL
	fake_stop_all
	FAKE_URL=$url
	oa_setup_at "$url" gpt-image-1
	export IMAGEN_HTTP_RETRIES=3
	im -v generate -o out "nobody home"
	expect_rc 1
	expect_eq "$(grep -c 'retrying in' <<<"$ERR")" 2 "retry lines"
	expect_match "$ERR" "imagen: backend \"oa\": POST $GEN: after 3 attempts: cannot connect to 127\\.0\\.0\\.1:[0-9]+ \\(connection refused\\)\$"
}

test_ctrl_c_during_a_slow_answer_exits_130_and_leaves_nothing() {
	oa_setup gpt-image-1
	fake_faults "$FAKE_URL" '{"match": "POST /v1/images", "delay_ms": 8000}'
	mkdir -p out
	"$IMAGEN" generate -o out "slow" >"$T_TMP/o" 2>"$T_TMP/e" &
	pid=$!
	for _ in $(seq 1 200); do
		[ "$(posts)" -ge 1 ] && break
		sleep 0.025
	done
	[ "$(posts)" -ge 1 ] || fail "the request never reached the fake"
	t0=$(date +%s%N)
	kill -INT $pid
	wait $pid
	rc=$?
	t1=$(date +%s%N)
	expect_eq "$rc" 130 "exit status"
	[ $(((t1 - t0) / 1000000)) -lt 2000 ] || fail "took $(((t1 - t0) / 1000000)) ms to stop"
	expect_eq "$(cat "$T_TMP/e")" "imagen: interrupted" stderr
	expect_eq "$(ls -A out)" "" "output directory"
	# OpenAI has no cancel endpoint: nothing else was sent
	expect_eq "$(fake_requests | jq length)" 1 requests
}

test_verbose_never_shows_the_key() {
	oa_setup gpt-image-1 "quality: low"
	fake_data '{"fail": [{"status": 500, "message": "oops"}]}'
	im -v generate -o out "verbose run"
	expect_rc 0
	# im fails the test by itself if $SECRET_CANARY (inside the key) was printed
	expect_contains "$ERR" "POST $FAKE_URL$GEN -> 500"
	expect_contains "$ERR" "POST $FAKE_URL$GEN -> 200"
	expect_contains "$ERR" "imagen: oa: HTTP 500, retrying in"
	expect_not_contains "$ERR" "Bearer"
	im config show
	expect_not_contains "$OUT$ERR" "sk-test"
}

test_config_validate_names_the_key() {
	oa_setup gpt-image-1 "output_format: gif"
	im config validate
	expect_rc 2
	expect_match "$ERR" "imagen.yaml:[0-9]+:[0-9]+: backends.oa.output_format: 'gif' is not one of png, jpeg, webp"
	oa_setup gpt-image-1 "size: 1000x1000"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "size 1000x1000 is not accepted by this model (accepted: 1024x1024, 1536x1024, 1024x1536)"
	oa_setup gpt-image-1 "qualty: high"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "unknown key 'qualty' in backends.oa (did you mean 'quality'?)"
	oa_setup gpt-image-1 "prices:" "  gpt-image-1:" "    per_imag: 0.1"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "unknown key 'per_imag' (did you mean 'per_image'?)"
	printf 'backends:\n  oa:\n    type: openai\n' | write_config "$CFG"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.oa: missing key 'model'"
	oa_setup gpt-image-1 "sizes: [640x480, 1024x1024]" "size: 640x480" "max_n: 4" "timeout: 30"
	im config validate
	expect_rc 0
}

test_sizes_key_replaces_the_family_default() {
	oa_setup my-local-model "sizes: [640x480]" "max_n: 2"
	fake_data '{"sizes": ["640x480"]}'
	im generate -W 640 -H 480 --count 3 -o out "custom server"
	expect_rc 0
	expect_eq "$(posts)" 2 "requests (max_n 2)"
	expect_eq "$(body_of 0 | jq -c '[.n, .size]')" '[2,"640x480"]' "first request"
	expect_eq "$(body_of 1 | jq -c '[.n, .size]')" '[1,"640x480"]' "second request"
	expect_eq "$(count_files out '*.png')" 3 pngs
}

run_tests
