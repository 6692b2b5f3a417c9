#!/usr/bin/env bash
# --count N and Ctrl-C on the mock backend (the adapters' own files cover their upstreams).
. "$(dirname "$0")/lib.sh"

test_count_writes_n_images_with_consecutive_seeds() {
	im generate --count 3 --seed 41 -o out "three foxes"
	expect_rc 0
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 3 "printed paths"
	expect_eq "$(count_files out '*.png')" 3 pngs
	expect_eq "$(count_files out '*.json')" 3 sidecars
	for s in 41 42 43; do
		f="out/$(date +%Y-%m-%d)-three-foxes-$s.png"
		expect_file "$f"
		expect_eq "$(jqr "${f%.png}.json" .seed)" "$s" "seed of $f"
	done
	# different seeds, different pictures
	[ "$(md5sum <out/*-41.png | cut -c1-32)" != "$(md5sum <out/*-42.png | cut -c1-32)" ] ||
		fail "seed 41 and 42 gave the same bytes"
}

test_count_json_prints_one_record_per_image() {
	im generate --count 2 --seed 7 --json -o out "pair"
	expect_rc 0
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 2 "json lines"
	expect_eq "$(printf '%s\n' "$OUT" | jq -s -c 'map([.index, .seed])')" '[[0,7],[1,8]]' "index and seed"
	expect_eq "$(printf '%s\n' "$OUT" | jq -s -c 'map(.cost)')" '[null,null]' "mock has no cost"
}

test_count_out_of_range_is_a_usage_error() {
	im generate --count 0 "x"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "--count"
	im generate --count 101 "x"
	expect_rc 2
}

# Ctrl-C: exit 130, one line, nothing partial in the output directory.
test_ctrl_c_during_generation_exits_130_and_writes_nothing() {
	mkdir -p out
	"$IMAGEN" generate --set delay_ms=5000 -o out "slow" >"$T_TMP/o" 2>"$T_TMP/e" &
	pid=$!
	sleep 0.3
	t0=$(date +%s%N)
	kill -INT $pid
	wait $pid
	rc=$?
	t1=$(date +%s%N)
	expect_eq "$rc" 130 "exit status"
	[ $(((t1 - t0) / 1000000)) -lt 2000 ] || fail "took $(((t1 - t0) / 1000000)) ms to stop"
	expect_eq "$(cat "$T_TMP/e")" "imagen: interrupted" stderr
	expect_eq "$(ls -A out)" "" "output directory"
}

test_ctrl_c_keeps_the_images_already_generated() {
	mkdir -p out
	"$IMAGEN" generate --count 3 --seed 5 --set delay_ms=400 -o out "batch" >"$T_TMP/o" 2>"$T_TMP/e" &
	pid=$!
	for _ in $(seq 1 200); do
		[ "$(count_files out '*.json')" -ge 1 ] && break
		sleep 0.02
	done
	kill -INT $pid
	wait $pid
	rc=$?
	expect_eq "$rc" 130 "exit status"
	n=$(count_files out '*.png')
	[ "$n" -ge 1 ] && [ "$n" -lt 3 ] || fail "expected 1 or 2 images kept, got $n"
	expect_eq "$(count_files out '.imagen-*')" 0 "temporary files"
	expect_contains "$(cat "$T_TMP/e")" "interrupted (the images written so far are kept)"
	pngcheck -q out/*.png >/dev/null || fail "a kept image is broken"
}

test_sigterm_is_handled_like_ctrl_c() {
	mkdir -p out
	"$IMAGEN" generate --set delay_ms=5000 -o out "slow" >/dev/null 2>"$T_TMP/e" &
	pid=$!
	sleep 0.3
	kill -TERM $pid
	wait $pid
	expect_eq "$?" 130 "exit status"
	expect_eq "$(ls -A out)" "" "output directory"
}

run_tests
