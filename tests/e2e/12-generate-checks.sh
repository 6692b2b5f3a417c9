#!/usr/bin/env bash
# generate: what is refused before anything is spent, what --json says on every outcome,
# and the progress line on a terminal (issue 9's generate items).
. "$(dirname "$0")/lib.sh"

# Run imagen under a pseudo-terminal (script(1)); sets TTY (the transcript, \r dropped).
under_pty() {
	printf 'exec' >"$T_TMP/pty.sh"
	printf ' %q' "$IMAGEN" "$@" >>"$T_TMP/pty.sh"
	SHELL=/bin/bash script -qefc "bash $T_TMP/pty.sh" /dev/null >"$T_TMP/tty" 2>&1
	RC=$?
	TTY=$(tr -d '\r' <"$T_TMP/tty")
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$TTY"; then
		fail "sanitizer finding: $TTY"
	fi
}

# The mock reports one status and then sleeps: the line's elapsed time still moves.
test_progress_line_ticks_while_the_backend_is_silent() {
	command -v script >/dev/null || fail "script(1) missing"
	under_pty generate --no-preview --set delay_ms=1500 -o "$HOME/out" "slow"
	expect_rc 0
	n=$(grep -ao 'drawing  [0-9.]*s' "$T_TMP/tty" | sort -u | wc -l)
	[ "$n" -ge 4 ] || fail "expected the elapsed time to move (got $n distinct lines): $(cat -v "$T_TMP/tty")"
	expect_eq "$(count_files out '*.png')" 1 pngs
	# the line is erased before the path is printed, and nothing follows the path
	expect_match "$TTY" "$HOME/out/.*-slow-[0-9]+\.png\$" "path last"
	# -q draws nothing, ticker or not
	under_pty -q generate --no-preview --set delay_ms=600 -o "$HOME/out" "quiet"
	expect_rc 0
	! grep -aq drawing "$T_TMP/tty" || fail "-q drew a progress line: $(cat -v "$T_TMP/tty")"
}

# Every text that goes into the metadata is refused before generating when it is not
# UTF-8, naming the field and the byte (an image is never kept without its metadata).
test_non_utf8_texts_are_refused_before_generating() {
	im generate -W 64 -H 64 -o out $'caf\xe9 \xff\xfe'
	expect_rc 2
	expect_eq "$ERR" "imagen: generate: the prompt is not valid UTF-8 (byte 4)"
	im generate -o out -n $'bad\xff' "fine"
	expect_rc 2
	expect_eq "$ERR" "imagen: generate: the negative prompt is not valid UTF-8 (byte 4)"
	im generate -o out -s $'\xffnoir' "fine"
	expect_rc 2
	expect_eq "$ERR" "imagen: generate: the style is not valid UTF-8 (byte 1)"
	im generate -o out --set $'label=ok\xc3' "fine"
	expect_rc 2
	expect_eq "$ERR" "imagen: --set: the value of 'label' is not valid UTF-8 (byte 3)"
	OUT=$(printf 'from \xe9 stdin\n' | "$IMAGEN" generate -o out - 2>"$T_TMP/e"); RC=$?; ERR=$(cat "$T_TMP/e")
	expect_rc 2
	expect_eq "$ERR" "imagen: generate: the prompt is not valid UTF-8 (byte 6)"
	expect_eq "$(find "$HOME" -name '*.png' | wc -l | tr -d ' ')" 0 "images anywhere"
	# valid UTF-8 goes through, into both sidecar and chunk
	im generate --json -o out -n "pâle" "café crème"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .metadata.prompt)" "café crème" prompt
	im inspect --json "$(jqr "$OUT" .image)"
	expect_eq "$(jqr "$OUT" .imagen.negative_prompt)" "pâle" "negative in the chunk"
}

test_whitespace_only_prompt_is_refused() {
	im generate -o out "   "
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "a prompt is required"
	OUT=$(printf ' \t \n\n' | "$IMAGEN" generate -o out - 2>"$T_TMP/e"); RC=$?; ERR=$(cat "$T_TMP/e")
	expect_rc 2
	expect_contains "$ERR" "a prompt is required"
	expect_no_file out
}

# --name: the extension is checked before generating and always names the real format.
test_name_extension_checked_first_and_follows_the_bytes() {
	export XDG_STATE_HOME="$HOME/state"
	im generate --seed 3 -o out --name "x.json" "sidecar clash"
	expect_rc 2
	expect_one_error_line
	expect_eq "$ERR" "imagen: --name: 'x.json' ends in '.json', not an image extension (.png, .jpg, .jpeg, .webp, or .{ext} for the format the backend returns)"
	im generate --seed 3 -o out --name "{slug}.txt" "text"
	expect_rc 2
	expect_contains "$ERR" "'.txt', not an image extension"
	expect_eq "$(find "$HOME" -name '*.png' | wc -l | tr -d ' ')" 0 "nothing generated for a refused name"
	# PNG bytes are never written under another format's extension
	im generate --seed 3 -o out --name "pic.webp" "png bytes"
	expect_rc 0
	expect_eq "$OUT" "$HOME/out/pic.png" "webp name for png bytes"
	expect_file out/pic.json
	im generate --seed 3 -o out --name "shot.JPEG" "png bytes"
	expect_eq "$OUT" "$HOME/out/shot.png" "jpeg name for png bytes"
	# an extension that names the format is kept as written
	im generate --seed 3 -o out --name "kept.PNG" "png bytes"
	expect_eq "$OUT" "$HOME/out/kept.PNG" "matching extension kept"
}

test_jpeg_from_an_upstream_keeps_its_extension() {
	fake_start openai
	export OPENAI_API_KEY=sk-test-key IMAGEN_HTTP_RETRY_BASE_MS=20
	printf 'defaults:\n  backend: oa\nbackends:\n  oa:\n    type: openai\n    model: gpt-image-1\n    base_url: %s/v1\n' \
		"$FAKE_URL" | write_config "$CFG"
	im generate --set output_format=jpeg --json -o out --name "pic.webp" "as jpeg"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .image)" "$HOME/out/pic.jpg" "jpeg bytes under .jpg"
	expect_eq "$(head -c 3 out/pic.jpg | od -An -tx1 | tr -d ' ')" ffd8ff "jpeg bytes"
	im generate --set output_format=jpeg --json -o out --name "{slug}.png" "as jpeg"
	expect_eq "$(jqr "$OUT" .file_name)" "as-jpeg.jpg" "png name for jpeg bytes"
}

# --json: every outcome is one record of one shape, with error and exit_code.
test_json_record_on_every_outcome() {
	im generate --json --seed 5 -o out "fine"
	expect_rc 0
	expect_eq "$(jqr "$OUT" '[.error, .exit_code] | @json')" '[null,0]' "success"
	expect_eq "$(jqr "$OUT" .cloud_sync)" off "cloud_sync resolved"
	keys=$(jqr "$OUT" 'keys | @json')
	# a backend failure
	im generate --json --seed 5 -o out --set fail="the GPU is on fire" "x"
	expect_rc 1
	expect_eq "$ERR" 'imagen: backend "mock": the GPU is on fire'
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 1 "one record"
	expect_eq "$(jqr "$OUT" '[.image, .error, .exit_code, .seed, .backend] | @json')" \
		'[null,"backend \"mock\": the GPU is on fire",1,5,"mock"]' "failure record"
	expect_eq "$(jqr "$OUT" 'keys | @json')" "$keys" "same keys as a success"
	# a write failure that kept the image elsewhere
	mkdir -p out2 && echo x >out2/sub
	XDG_STATE_HOME="$HOME/state" im generate --json --seed 6 -o out2 --name "sub/{slug}.png" "kept"
	expect_rc 1
	expect_match "$(jqr "$OUT" .image)" "^$HOME/state/imagen/rescue/" "rescued image"
	expect_eq "$(jqr "$OUT" .exit_code)" 1 "exit_code"
	expect_eq "$(jqr "$OUT" 'keys | @json')" "$keys" "same keys"
	# a usage error found once the options are read
	im generate --json -o out -s nope "x"
	expect_rc 2
	expect_eq "$(jqr "$OUT" '[.image, .exit_code] | @json')" '[null,2]' "usage record"
	expect_contains "$(jqr "$OUT" .error)" 'style "nope": unknown style'
	expect_eq "$(jqr "$OUT" 'keys | @json')" "$keys" "same keys"
	# --count: the failure record names the index the run stopped at
	im generate --json --count 2 --seed 8 -o out3 --set fail=late "x"
	expect_rc 1
	expect_eq "$(printf '%s\n' "$OUT" | jq -s -c 'map([.index, .exit_code])')" '[[0,1]]' "failure index"
	expect_eq "$(printf '%s\n' "$OUT" | jq -s -c 'map(keys)[0]')" "$keys" "same keys (--count)"
}

test_json_record_when_interrupted() {
	mkdir -p out
	"$IMAGEN" generate --json --set delay_ms=5000 -o out "slow" >"$T_TMP/o" 2>"$T_TMP/e" &
	pid=$!
	sleep 0.3
	kill -INT $pid
	wait $pid
	expect_eq "$?" 130 "exit status"
	expect_eq "$(jq -c '[.image, .error, .exit_code]' "$T_TMP/o")" '[null,"interrupted",130]' record
}

test_unknown_style_and_backend_suggest_a_name() {
	im generate -o out -s cinematc "x"
	expect_rc 2
	expect_one_error_line
	expect_match "$ERR" "^imagen: style \"cinematc\": unknown style \(configured: none, .*; did you mean 'cinematic'\?\)\$"
	im generate -o out -b mokc "x"
	expect_rc 2
	expect_eq "$ERR" "imagen: backend \"mokc\": unknown backend (configured: mock; did you mean 'mock'?)"
}

run_tests
