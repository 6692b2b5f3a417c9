#!/usr/bin/env bash
# The replicate adapter against tests/fake/replicate.py: the request it sends, Prefer: wait
# and the polling fallback, --count as num_outputs, cost, every fault, Ctrl-C cancelling
# the prediction, and the token never shown.
. "$(dirname "$0")/lib.sh"

export IMAGEN_HTTP_RETRY_BASE_MS=20
SCHNELL=black-forest-labs/flux-schnell
SCHNELL_PATH=/v1/models/$SCHNELL/predictions
VERSION=5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637
VERSIONED=acme/sdxl-lite:$VERSION

# rp_setup MODEL [extra yaml lines...]: a fake, a config using it, a token in the env.
rp_setup() {
	local model=$1 line
	shift
	fake_start replicate
	SECRET_CANARY="SECRET_CANARY-$RANDOM$RANDOM"
	export REPLICATE_API_TOKEN="r8_$SECRET_CANARY"
	{
		printf 'defaults:\n  backend: rep\nbackends:\n  rep:\n    type: replicate\n'
		printf '    model: %s\n    base_url: %s/v1\n    poll_ms: 20\n' "$model" "$FAKE_URL"
		for line in "$@"; do printf '    %s\n' "$line"; done
	} | write_config "$CFG"
}


# reqs METHOD PATH-REGEX: the matching requests as a JSON array.
reqs() { fake_requests | jq -c --arg m "$1" --arg p "$2" '[.[] | select(.method == $m and (.path | test($p)))]'; }
nreqs() { reqs "$1" "$2" | jq length; }
creates() { nreqs POST '^/v1/(predictions|models/.*/predictions)$'; }
create_body() { reqs POST '^/v1/(predictions|models/.*/predictions)$' | jq -cS ".[${1:-0}].body | fromjson"; }
polls() { nreqs GET '^/v1/predictions/[^/]+$'; }
cancels() { nreqs POST '^/v1/predictions/[^/]+/cancel$'; }
expect_nothing_in() {
	expect_eq "$(find "$1" -mindepth 1 2>/dev/null | wc -l | tr -d ' ')" 0 "entries in $1"
}

# bg_imagen ARGS...: run imagen in the background (PID in BG), output in $T_TMP/bg.*.
bg_imagen() {
	"$IMAGEN" "$@" >"$T_TMP/bg.out" 2>"$T_TMP/bg.err" &
	BG=$!
}
# bg_interrupt: SIGINT the background imagen, wait; RC and ERR set, sanitizers checked.
bg_interrupt() {
	kill -INT "$BG"
	wait "$BG"
	RC=$?
	ERR=$(cat "$T_TMP/bg.err")
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$ERR" || [ "$RC" = 98 ] ||
		[ "$RC" = 99 ]; then
		fail "sanitizer finding (rc $RC): $ERR"
	fi
	! grep -qF -- "$SECRET_CANARY" <<<"$ERR$(cat "$T_TMP/bg.out")" || fail "the token was printed"
}
# wait_for CMD...: until CMD prints a number >= 1 (5 s at most).
wait_for() {
	local i
	for i in $(seq 1 200); do
		[ "$("$@")" -ge 1 ] && return 0
		sleep 0.025
	done
	fail "timed out waiting for: $*"
}

test_happy_path_prefer_wait_exact_request_and_sidecar() {
	rp_setup "$VERSIONED"
	im generate --seed 42 -W 512 -H 384 --steps 20 -n "blurry, text" -o out "a lighthouse at dusk"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_file "$OUT"
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	# one create, exactly this body, with the token, JSON and Prefer: wait
	expect_eq "$(creates)" 1 creates
	expect_eq "$(create_body 0)" "$(jq -cS . <<EOF
{"version": "$VERSION", "input": {"prompt": "a lighthouse at dusk",
 "negative_prompt": "blurry, text", "seed": 42, "num_outputs": 1, "width": 512,
 "height": 384, "num_inference_steps": 20, "output_format": "png"}}
EOF
)" "request body"
	c=$(reqs POST '^/v1/predictions$' | jq -c '.[0]')
	expect_eq "$(jq -r .headers.authorization <<<"$c")" "Bearer $REPLICATE_API_TOKEN" authorization
	expect_eq "$(jq -r .headers.prefer <<<"$c")" "wait=60" prefer
	expect_eq "$(jq -r '.headers["content-type"]' <<<"$c")" application/json content-type
	expect_match "$(jq -r '.headers["user-agent"]' <<<"$c")" '^imagen/' user-agent
	# finished inside the wait: no poll, one download
	expect_eq "$(polls)" 0 polls
	expect_eq "$(nreqs GET '^/files/')" 1 downloads
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .backend_type)" replicate backend_type
	expect_eq "$(jqr "$s" .model)" "$VERSIONED" model
	expect_eq "$(jqr "$s" .seed)" 42 seed
	expect_eq "$(jqr "$s" .seed_honoured)" true seed_honoured
	expect_eq "$(jqr "$s" '[.width, .height, .steps] | join(" ")')" "512 384 20" "size and steps"
	expect_eq "$(jqr "$s" .negative_prompt)" "blurry, text" negative
	id=$(jqr "$s" .metadata.prediction_id)
	expect_match "$id" '^fake[0-9a-f]+$' prediction_id
	expect_eq "$(fake_requests | jq -r '[.[] | select(.path | startswith("/files/"))][0].path')" \
		"/files/$id/0.png" "download path"
	expect_eq "$(jqr "$s" .metadata.predict_time)" 0.5 predict_time
	expect_eq "$(jqr "$s" .metadata.status)" succeeded status
	expect_eq "$(jqr "$s" .metadata.version)" "$VERSION" version
	expect_eq "$(jqr "$s" .metadata.mode)" wait mode
	expect_eq "$(jqr "$s" .metadata.input.width)" 512 "recorded input"
	expect_contains "$(jqr "$s" .metadata.logs)" "Using seed: 42"
	# an unpriced model: cost null with the reason, never a guess
	expect_eq "$(jqr "$s" .cost.usd)" null "cost usd"
	expect_eq "$(jqr "$s" .cost.reason)" "no price for model acme/sdxl-lite (set backends.rep.prices)" reason
	# the PNG carries the sidecar
	im inspect --json "$OUT"
	expect_eq "$(jqr "$OUT" .imagen.metadata.prediction_id)" "$id" "imagen chunk"
}

test_official_model_aspect_ratio_no_negative_per_image_cost() {
	rp_setup "$SCHNELL"
	im generate --seed 7 -W 1024 -H 576 -n "fog" --json -o out "a harbour"
	expect_rc 0
	# flux-schnell takes no width/height/negative_prompt (the fake checks its schema)
	expect_eq "$(create_body 0)" "$(jq -cS . <<<'{"input": {"prompt": "a harbour", "seed": 7,
		"num_outputs": 1, "aspect_ratio": "16:9", "output_format": "png"}}')" "request body"
	expect_eq "$(nreqs POST "^$SCHNELL_PATH\$")" 1 "official model endpoint"
	s=$(jqr "$OUT" .sidecar)
	expect_eq "$(jqr "$s" .metadata.negative_prompt_sent)" false negative_prompt_sent
	expect_eq "$(jqr "$s" .metadata.version)" hidden version
	# size as produced (the fake draws 16:9 at 64 px per side of a megapixel)
	expect_eq "$(jqr "$s" '[.width, .height] | join("x")')" 85x48 "size from the PNG"
	expect_eq "$(jqr "$OUT" .cost.usd)" 0.003 "cost in the --json record"
	expect_eq "$(jqr "$s" .cost.usd)" 0.003 "per-image price"
	expect_eq "$(jqr "$s" .cost.method)" "per-image price" method
	expect_eq "$(jqr "$s" .cost.source)" default source
	expect_eq "$(jqr "$s" .cost.detail.images_in_prediction)" 1 images
}

test_polling_fallback_when_the_wait_runs_out() {
	rp_setup "$SCHNELL" "wait: 1"
	fake_data '{"processing_ms": 1500}'
	im generate --seed 3 -o out "slow boat"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(reqs POST "^$SCHNELL_PATH\$" | jq -r '.[0].headers.prefer')" "wait=1" prefer
	expect_eq "$(creates)" 1 creates
	n=$(polls)
	[ "$n" -ge 1 ] || fail "no poll after the wait ran out"
	id=$(jqr "${OUT%.png}.json" .metadata.prediction_id)
	expect_eq "$(reqs GET '^/v1/predictions/' | jq -r '.[-1].path')" "/v1/predictions/$id" "polled URL"
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.polls)" "$n" "recorded polls"
	expect_eq "$(cancels)" 0 cancels
}

test_no_wait_polls_from_the_start() {
	rp_setup "$SCHNELL" "wait: 0"
	fake_data '{"polls_before_done": 3}'
	im generate -o out "async"
	expect_rc 0
	expect_eq "$(reqs POST "^$SCHNELL_PATH\$" | jq -r '.[0].headers.prefer')" null "Prefer without wait"
	expect_eq "$(polls)" 3 polls
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.mode)" poll mode
}

test_count_3_is_one_prediction_with_num_outputs_3() {
	rp_setup "$SCHNELL"
	im generate --count 3 --seed 100 --json -o out "three boats"
	expect_rc 0
	expect_eq "$(creates)" 1 predictions
	expect_eq "$(create_body 0 | jq .input.num_outputs)" 3 num_outputs
	expect_eq "$(nreqs GET '^/files/')" 3 downloads
	expect_eq "$(count_files out '*.png')" 3 pngs
	expect_eq "$(count_files out '*.json')" 3 sidecars
	recs=$(printf '%s\n' "$OUT" | jq -sc .)
	# every image records the request seed, its place in the batch and the shared seed
	expect_eq "$(jq -c 'map(.seed)' <<<"$recs")" '[100,100,100]' seeds
	expect_eq "$(jq -c 'map(.metadata.seed_honoured)' <<<"$recs")" '[true,false,false]' seed_honoured
	expect_eq "$(jq -c 'map(.metadata.metadata.batch_index)' <<<"$recs")" '[0,1,2]' batch_index
	expect_eq "$(jq -c 'map(.metadata.metadata.seed_shared) | unique' <<<"$recs")" '[true]' seed_shared
	expect_contains "$(jq -r '.[1].metadata.metadata.seed_note' <<<"$recs")" "shares its seed"
	expect_eq "$(jq -c 'map(.metadata.metadata.prediction_id) | unique | length' <<<"$recs")" 1 "one prediction"
	# the batch's cost split per image, and each record says so
	expect_eq "$(jq -c 'map(.cost.usd)' <<<"$recs")" '[0.003,0.003,0.003]' "per-image cost"
	expect_eq "$(jq -r '.[2].cost.detail.prediction_usd' <<<"$recs")" 0.009 "prediction cost"
	expect_eq "$(jq -r '.[2].cost.detail.images_in_prediction' <<<"$recs")" 3 images
	a=$(jq -r '.[0].image' <<<"$recs")
	b=$(jq -r '.[1].image' <<<"$recs")
	cmp -s "$a" "$b" && fail "two outputs are the same file"
	return 0
}

test_max_outputs_1_makes_one_prediction_per_image() {
	rp_setup "$VERSIONED" "max_outputs: 1"
	im generate --count 2 --seed 5 -o out "single outputs"
	expect_rc 0
	expect_eq "$(creates)" 2 predictions
	expect_eq "$(create_body 0 | jq -c '[.input.seed, .input.num_outputs]')" '[5,null]' first
	expect_eq "$(create_body 1 | jq -c '[.input.seed, .input.num_outputs]')" '[6,null]' second
	expect_eq "$(count_files out '*.png')" 2 pngs
}

test_per_second_cost_is_split_over_the_batch() {
	rp_setup "$VERSIONED" "prices:" "  acme/sdxl-lite:" "    per_second: 0.0014"
	fake_data '{"predict_time": 2.5}'
	im generate --count 2 --json -o out "timed"
	expect_rc 0
	r=$(printf '%s\n' "$OUT" | head -1)
	expect_eq "$(jq -r .cost.method <<<"$r")" "predict_time x per-second price" method
	expect_eq "$(jq -r .cost.source <<<"$r")" config source
	want=$(awk 'BEGIN { printf "%.9f", 2.5 * 0.0014 / 2 }')
	expect_eq "$(jq -r .cost.usd <<<"$r" | awk '{ printf "%.9f", $1 }')" "$want" "per-image share"
	expect_eq "$(jq -r .cost.detail.predict_time <<<"$r")" 2.5 predict_time
	expect_eq "$(jq -r .cost.detail.images_in_prediction <<<"$r")" 2 images
	expect_eq "$(jq -r .cost.detail.prediction_usd <<<"$r" | awk '{ printf "%.6f", $1 }')" 0.003500 total
	# no predict_time reported: unknown, with the reason
	fake_data '{"predict_time": null}'
	im generate --json -o out "untimed"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .cost.usd)" null usd
	expect_contains "$(jqr "$OUT" .cost.reason)" "reports no metrics.predict_time"
}

test_configured_per_image_price_overrides_the_default() {
	rp_setup "$SCHNELL" "prices:" "  $SCHNELL:" "    per_image: 0.01"
	im generate --json -o out "priced"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .cost.usd)" 0.01 usd
	expect_eq "$(jqr "$OUT" .cost.source)" config source
}

test_set_and_input_config_reach_the_model() {
	rp_setup "$VERSIONED" "input:" "  scheduler: K_EULER" "  megapixels: \"0.25\"" \
		"  output_format: png" "  width: null"
	im generate -W 640 -H 480 --set guidance=3.5 --set go_fast=false --set scheduler=DDIM \
		--set output_format=webp -o out "options"
	expect_rc 0
	b=$(create_body 0)
	expect_eq "$(jq -c .input.guidance <<<"$b")" 3.5 "fractional --set is a number"
	expect_eq "$(jq -c .input.go_fast <<<"$b")" false "boolean --set"
	expect_eq "$(jq -c .input.megapixels <<<"$b")" '"0.25"' "config input string"
	expect_eq "$(jq -r .input.scheduler <<<"$b")" DDIM "--set wins over config input"
	expect_eq "$(jq -r .input.output_format <<<"$b")" webp "--set wins over the default"
	expect_eq "$(jq -c .input.width <<<"$b")" null "a null in config input removes the key"
	expect_eq "$(jq -c .input.height <<<"$b")" 480 height
	# imagen's own inputs cannot be overridden
	im generate --set seed=1 -o out2 "mine"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "option 'seed' is set by imagen"
	expect_nothing_in out2
}

test_missing_token_is_one_line_exit_2() {
	rp_setup "$SCHNELL"
	unset REPLICATE_API_TOKEN
	im generate -o out "no token"
	expect_rc 2
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "rep": REPLICATE_API_TOKEN is not set'
	expect_eq "$(fake_requests | jq length)" 0 requests
	rp_setup "$SCHNELL" "token_env: MY_REPLICATE"
	im generate -o out "other variable"
	expect_rc 2
	expect_eq "$ERR" 'imagen: backend "rep": MY_REPLICATE is not set'
	MY_REPLICATE="r8_$SECRET_CANARY" im generate -o out "other variable"
	expect_rc 0
}

test_refused_token_is_reported() {
	rp_setup "$SCHNELL"
	fake_data '{"token": "r8_the_right_one"}'
	im -v generate -o out "refused"
	expect_rc 1
	expect_contains "$ERR" "imagen: backend \"rep\": HTTP 401 from POST $SCHNELL_PATH: You did not pass a valid authentication token (check the token)"
	expect_eq "$(creates)" 1 "401 is not retried"
	expect_nothing_in out
}

test_429_honours_retry_after_body_and_header() {
	rp_setup "$SCHNELL"
	fake_faults "$FAKE_URL" "[{\"match\": \"POST $SCHNELL_PATH\", \"status\": 429,
		\"body\": \"{\\\"detail\\\": \\\"Request was throttled. Your rate limit resets in ~1s.\\\", \\\"status\\\": 429, \\\"retry_after\\\": 1}\"},
		{\"match\": \"POST $SCHNELL_PATH\", \"status\": 429, \"headers\": {\"Retry-After\": \"1\"}}]"
	im generate -o out "throttled"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(creates)" 3 creates
	t=$(reqs POST "^$SCHNELL_PATH\$" | jq -r 'map(.time) | [.[1] - .[0], .[2] - .[1]] | map(. >= 0.9) | all')
	expect_eq "$t" true "waited retry_after (body, then header) between attempts"
}

test_503_is_retried_and_gives_up_with_the_count() {
	rp_setup "$SCHNELL"
	fake_faults "$FAKE_URL" "{\"match\": \"POST $SCHNELL_PATH\", \"status\": 503, \"times\": 2}"
	im generate -o out "unavailable"
	expect_rc 0
	expect_eq "$(creates)" 3 creates
	fake_faults "$FAKE_URL" "{\"match\": \"POST $SCHNELL_PATH\", \"status\": 503, \"times\": 10,
		\"body\": \"{\\\"detail\\\": \\\"Service unavailable\\\"}\"}"
	IMAGEN_HTTP_RETRIES=3 im generate -o out2 "still unavailable"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" "imagen: backend \"rep\": HTTP 503 from POST $SCHNELL_PATH after 3 attempts: Service unavailable"
	expect_eq "$(creates)" 6 creates
	expect_nothing_in out2
}

test_422_is_not_retried_and_shows_the_detail() {
	rp_setup "$SCHNELL"
	im generate --steps 8 -o out "too many steps"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" "imagen: backend \"rep\": HTTP 422 from POST $SCHNELL_PATH: - input.num_inference_steps: Must be less than or equal to 4"
	expect_eq "$(creates)" 1 creates
	expect_nothing_in out
}

test_failed_prediction_gives_its_error() {
	rp_setup "$SCHNELL"
	fake_data '{"fail": "NSFW content detected.\nTry running it again, or try a different prompt. (E005)"}'
	im generate -o out "flagged"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" '^imagen: backend "rep": prediction fake[0-9a-f]+ failed: NSFW content detected\. Try running it again, or try a different prompt\. \(E005\)$'
	expect_nothing_in out
}

test_prediction_canceled_upstream() {
	rp_setup "$SCHNELL" "wait: 0"
	fake_data '{"cancel": true, "polls_before_done": 1}'
	im generate -o out "canceled elsewhere"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" 'prediction fake[0-9a-f]+ was canceled upstream$'
	expect_eq "$(cancels)" 0 "cancel requests from imagen"
	expect_nothing_in out
}

test_truncated_or_non_png_download_fails_and_leaves_nothing() {
	rp_setup "$SCHNELL"
	fake_faults "$FAKE_URL" '{"match": "GET /files/", "truncate": 60}'
	im generate -o out "truncated"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" 'output 1 of 1 is not a valid PNG: truncated PNG'
	expect_nothing_in out
	fake_faults "$FAKE_URL" '{"match": "GET /files/", "garbage": true}'
	im generate -o out "garbage"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" 'output 1 of 1 is not an image \([0-9]+ bytes from GET /files/fake[0-9a-f]+/0\.png\)$'
	expect_nothing_in out
	fake_data '{"expire_files": true}'
	im generate -o out "expired"
	expect_rc 1
	expect_match "$ERR" 'cannot download output 1 of 1: HTTP 404 from GET /files/fake[0-9a-f]+/0\.png: File not found$'
	expect_nothing_in out
}

test_connection_dropped_mid_body() {
	rp_setup "$SCHNELL"
	# a download cut short is fetched again
	fake_faults "$FAKE_URL" '{"match": "GET /files/", "drop": true}'
	im generate -o out "dropped download"
	expect_rc 0
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	expect_eq "$(nreqs GET '^/files/')" 2 downloads
	# a create answer cut short: the prediction exists, so imagen finds it instead of
	# creating (and paying for) a second one
	fake_faults "$FAKE_URL" "{\"match\": \"POST $SCHNELL_PATH\", \"drop\": true}"
	im -v generate --seed 11 -o out2 "dropped create"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(creates)" 2 "creates (one per run)"
	expect_eq "$(nreqs GET '^/v1/predictions$')" 1 "prediction lookups"
	expect_contains "$ERR" "carrying on with prediction"
	# no answer at all and nothing created: the create is sent again
	fake_faults "$FAKE_URL" "{\"match\": \"POST $SCHNELL_PATH\", \"hang_up\": true}"
	im generate --seed 12 -o out3 "hung up"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(creates)" 4 "creates"
}

test_malformed_json() {
	rp_setup "$SCHNELL" "wait: 0"
	fake_data '{"processing_ms": 3000}'
	fake_faults "$FAKE_URL" "{\"match\": \"POST $SCHNELL_PATH\", \"garbage\": true}"
	im generate -o out "garbled create"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" "imagen: backend \"rep\": upstream returned malformed JSON (POST $SCHNELL_PATH)"
	# the prediction it did create is found and stopped
	expect_eq "$(nreqs GET '^/v1/predictions$')" 1 lookups
	expect_eq "$(cancels)" 1 cancels
	expect_nothing_in out
	rp_setup "$SCHNELL" "wait: 0"
	fake_data '{"polls_before_done": 5}'
	fake_faults "$FAKE_URL" '{"match": "GET /v1/predictions/", "garbage": true}'
	im generate -o out "garbled poll"
	expect_rc 1
	expect_match "$ERR" 'upstream returned malformed JSON \(GET /v1/predictions/fake[0-9a-f]+\)$'
	# the prediction nobody will collect is canceled
	expect_eq "$(cancels)" 1 cancels
	expect_nothing_in out
}

test_ctrl_c_while_processing_cancels_the_prediction() {
	rp_setup "$SCHNELL" "wait: 0"
	fake_data '{"processing_ms": 30000}'
	mkdir -p out
	bg_imagen generate -o out "interrupted while processing"
	wait_for polls
	bg_interrupt
	expect_eq "$RC" 130 "exit status"
	expect_eq "$ERR" "imagen: interrupted" stderr
	expect_eq "$(cancels)" 1 "cancel requests"
	id=$(reqs GET '^/v1/predictions/[^/]+$' | jq -r '.[0].path | split("/")[3]')
	expect_eq "$(reqs POST '/cancel$' | jq -r '.[0].path')" "/v1/predictions/$id/cancel" "cancel path"
	expect_eq "$(reqs POST '/cancel$' | jq -r '.[0].headers.authorization')" \
		"Bearer $REPLICATE_API_TOKEN" "cancel authorization"
	expect_nothing_in out
}

# The first Ctrl-C waits for the cancel request (up to its own short timeout); a second
# one while that request hangs exits at once.  The proof is exit 130 with the message
# that only the immediate-exit path of the signal handler prints (the orderly path ends
# with a bare "imagen: interrupted").
test_second_ctrl_c_exits_without_waiting_for_the_cancel() {
	rp_setup "$SCHNELL" "wait: 0"
	fake_data '{"processing_ms": 30000}'
	fake_faults "$FAKE_URL" '{"match": "POST /v1/predictions/", "delay_ms": 4000}'
	mkdir -p out
	bg_imagen generate -o out "interrupted twice"
	wait_for polls
	kill -INT "$BG"
	wait_for cancels
	bg_interrupt
	expect_eq "$RC" 130 "exit status"
	expect_eq "$(grep -c . <<<"$ERR")" 1 "stderr lines"
	expect_contains "$ERR" "imagen: interrupted again, exiting now" stderr
	expect_eq "$(cancels)" 1 "cancel requests"
	expect_nothing_in out
}

test_ctrl_c_during_a_held_create_finds_and_cancels_the_prediction() {
	rp_setup "$SCHNELL"
	fake_data '{"processing_ms": 30000}'
	mkdir -p out
	bg_imagen generate --seed 77 -o out "interrupted while waiting"
	wait_for creates
	sleep 0.2
	t0=$(date +%s%N)
	bg_interrupt
	t1=$(date +%s%N)
	expect_eq "$RC" 130 "exit status"
	[ $(((t1 - t0) / 1000000)) -lt 3000 ] || fail "took $(((t1 - t0) / 1000000)) ms to stop"
	expect_eq "$(nreqs GET '^/v1/predictions$')" 1 "lookup of the prediction"
	expect_eq "$(cancels)" 1 "cancel requests"
	expect_nothing_in out
}

# On a terminal: the prediction's status with the elapsed time, then the download; on a
# pipe (every other test here) stderr stays empty.
test_progress_line_shows_status_and_elapsed_time_on_a_terminal() {
	rp_setup "$SCHNELL" "wait: 0"
	fake_data '{"processing_ms": 600}'
	cat >"$T_TMP/run.sh" <<EOF
unset NO_COLOR
exec env TERM=dumb "$IMAGEN" generate --no-preview -o "$HOME/out" "watched"
EOF
	SHELL=/bin/bash script -qefc "bash $T_TMP/run.sh" /dev/null >"$T_TMP/tty" 2>&1 ||
		fail "generate under a pty failed: $(cat -v "$T_TMP/tty")"
	tty_out=$(tr '\r' '\n' <"$T_TMP/tty")
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$tty_out"; then
		fail "sanitizer finding: $tty_out"
	fi
	! grep -qF -- "$SECRET_CANARY" <<<"$tty_out" || fail "the token was printed"
	expect_match "$tty_out" 'rep  (starting|processing)  [0-9]+\.[0-9]s' "status line"
	expect_match "$tty_out" 'rep  downloading 1/1  [0-9]+\.[0-9]s' "download line"
	expect_eq "$(count_files out '*.png')" 1 pngs
	# the line is erased before the path is printed: the path stands on a clean line
	expect_match "$(cat -v "$T_TMP/tty")" '\^\[\[2K/[^ ]*/out/[^ ]*watched[^ ]*\.png' "erased before the path"
}

test_timeout_cancels_and_fails() {
	rp_setup "$SCHNELL" "wait: 0" "timeout: 1"
	fake_data '{"processing_ms": 30000}'
	im generate -o out "never done"
	expect_rc 1
	expect_match "$ERR" 'prediction fake[0-9a-f]+ still (starting|processing) after 1 s \(asked Replicate to cancel it\)$'
	expect_eq "$(cancels)" 1 cancels
	expect_nothing_in out
}

test_single_url_and_data_url_outputs() {
	rp_setup "$VERSIONED" "max_outputs: 1"
	fake_data '{"string_output": true}'
	im generate -o out "one string"
	expect_rc 0
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	fake_data '{"string_output": false, "data_url_output": true}'
	im generate -o out "inline"
	expect_rc 0
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.output_url)" "data: URL" output_url
}

test_verbose_never_shows_the_token() {
	rp_setup "$SCHNELL" "wait: 0"
	fake_data '{"polls_before_done": 2}'
	fake_faults "$FAKE_URL" '{"match": "GET /v1/predictions/", "status": 500}'
	im -v generate -o out "verbose run"
	expect_rc 0
	# im fails the test by itself when $SECRET_CANARY (inside the token) is printed
	expect_contains "$ERR" "POST $FAKE_URL$SCHNELL_PATH -> 201"
	expect_match "$ERR" "GET $FAKE_URL/v1/predictions/fake[0-9a-f]+ -> 500"
	expect_match "$ERR" "prediction fake[0-9a-f]+ succeeded, predict_time 0.500 s"
	expect_not_contains "$ERR" "Bearer"
	expect_not_contains "$ERR" "r8_"
	im config show
	expect_not_contains "$OUT$ERR" "r8_"
}

test_config_validate_names_the_key() {
	rp_setup "black-forest-labs"
	im config validate
	expect_rc 2
	expect_one_error_line
	expect_match "$ERR" "imagen.yaml:[0-9]+:[0-9]+: backends.rep.model: 'black-forest-labs' is not owner/name or owner/name:version"
	rp_setup "$SCHNELL" "input:" "  seed: 3"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.rep.input.seed: imagen sets seed itself"
	rp_setup "$SCHNELL" "prices:" "  $SCHNELL:" "    per_image: 1" "    per_second: 1"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "give exactly one of per_image, per_second"
	rp_setup "$SCHNELL" "wiat: 3"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "unknown key 'wiat' in backends.rep (did you mean 'wait'?)"
	rp_setup "$SCHNELL" "wait: 61"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.rep.wait: 61 is out of range (0..60)"
	rp_setup "$SCHNELL" "size_input: square"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "not one of width_height, aspect_ratio, none"
}

test_fake_png_size_option_for_the_benchmark() {
	fake_start replicate --png-size 1024
	SECRET_CANARY="SECRET_CANARY-$RANDOM"
	export REPLICATE_API_TOKEN="r8_$SECRET_CANARY"
	printf 'defaults:\n  backend: rep\nbackends:\n  rep:\n    type: replicate\n    model: %s\n    base_url: %s/v1\n' \
		"$SCHNELL" "$FAKE_URL" | write_config "$CFG"
	im generate -o out "big"
	expect_rc 0
	expect_match "$(pngcheck -v "$OUT")" "1024 x 1024" IHDR
	expect_eq "$(polls)" 0 "answered within the create"
}

run_tests
