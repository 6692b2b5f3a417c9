#!/usr/bin/env bash
# fuzz/run.sh BUILD SECONDS - run every harness built in BUILD/fuzz/ for SECONDS each.
# The seed corpus fuzz/corpus/NAME/ is read, never written: what libFuzzer finds goes to
# BUILD/corpus/NAME/ (kept for the next run), a crash to BUILD/crashes/NAME-*.  Prints one
# TAP line per harness ("ok N - fuzz NAME: R runs in S s"); exit status 1 when any failed.
set -u
cd "$(dirname "$0")/.."
build=${1:-build-fuzz}
secs=${2:-60}
n=0
failed=0

for src in fuzz/*.c; do
	name=$(basename "$src" .c)
	bin=$build/fuzz/$name
	n=$((n + 1))
	if [ ! -x "$bin" ]; then
		echo "not ok $n - fuzz $name: $bin was not built"
		failed=1
		continue
	fi
	mkdir -p "$build/corpus/$name" "$build/crashes" "fuzz/corpus/$name"
	log=$build/fuzz/$name.log
	# leaks count as findings; -timeout catches hangs (a parser must be linear-ish)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/crashes/$name-" "$build/corpus/$name" "fuzz/corpus/$name" \
		>"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if [ $rc -eq 0 ]; then
		echo "ok $n - fuzz $name: ${runs:-0} runs in $secs s"
	else
		failed=1
		crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		echo "not ok $n - fuzz $name: exit $rc${crash:+, input saved to $crash}"
		grep -E "ERROR|SUMMARY|runtime error|#[0-9]+ 0x" "$log" | head -25 | sed 's/^/#   /'
	fi
done
exit $failed
