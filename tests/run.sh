#!/usr/bin/env bash
# Run every test against each build given (e.g. build build-san): the cmocka unit
# tests and the end-to-end scripts; then a short run of every fuzz harness.  Prints one
# line per test and, last, the summary "N passed, N failed" (", N skipped" when a test
# was skipped).  Exit status 1 when anything failed.
set -u
cd "$(dirname "$0")/.."
builds=("$@")
[ ${#builds[@]} -gt 0 ] || builds=(build)

pass=0
fail=0
skip=0
failed_names=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Sanitizer findings must fail the run whatever exit status the test expected.
export ASAN_OPTIONS=detect_leaks=1:exitcode=99:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=98
export CMOCKA_MESSAGE_OUTPUT=TAP

# One throwaway PostgreSQL (tests/db/pg.sh) for the cloud tests of every build, stopped
# at exit.  Without it those files skip, except in CI (deps.sh installs PostgreSQL there).
pgdir=$(mktemp -d /tmp/imagen-pg.XXXXXX)
trap 'rm -f "$log"; bash tests/db/pg.sh stop "$pgdir" >/dev/null 2>&1; rm -rf "$pgdir"' EXIT
if pg_env=$(bash tests/db/pg.sh start "$pgdir" 2>"$log"); then
	eval "$pg_env"
else
	echo "# postgresql not started, the database tests skip: $(grep '^pg.sh:' "$log" | tail -n 1)"
	if [ -n "${CI:-}" ]; then
		fail=$((fail + 1)); failed_names+=("postgresql did not start")
	fi
fi

count_tap() { # label, file with TAP output
	local label=$1 file=$2 line
	while IFS= read -r line; do
		case $line in
		"ok "*"# SKIP"*) skip=$((skip + 1)); echo "ok - $label: ${line#ok }" ;;
		"ok "*) pass=$((pass + 1)); echo "ok - $label: ${line#ok }" ;;
		"not ok "*) fail=$((fail + 1)); failed_names+=("$label: ${line#not ok }")
			echo "not ok - $label: ${line#not ok }" ;;
		"#"*) echo "$line" ;;
		esac
	done <"$file"
}

for b in "${builds[@]}"; do
	for t in "$b"/tests/test_*; do
		[ -x "$t" ] || continue
		name="$b/$(basename "$t")"
		"$t" >"$log" 2>&1
		rc=$?
		count_tap "$name" "$log"
		if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log" || [ $rc -ge 98 ] ||
			{ [ $rc -ne 0 ] && ! grep -q "^not ok" "$log"; }; then
			fail=$((fail + 1)); failed_names+=("$name: exited $rc")
			echo "not ok - $name exited $rc"; sed 's/^/#   /' "$log" | tail -30
		fi
	done
	for s in tests/e2e/[0-9]*.sh; do
		IMAGEN="$PWD/$b/imagen" BUILD="$b" bash "$s" >"$log" 2>&1
		count_tap "$b/$(basename "$s" .sh)" "$log"
		if ! grep -q "^ok\|^not ok" "$log"; then
			fail=$((fail + 1)); failed_names+=("$b/$s: ran no test")
			echo "not ok - $b/$s ran no test"; sed 's/^/#   /' "$log" | tail -30
		fi
	done
done

# The fuzz harnesses (fuzz/*.c), once whatever the builds: built with clang's libFuzzer in
# build-fuzz/ and run for FUZZ_SECONDS (3) each over their seed corpus and mutations of it.
# IMAGEN_FUZZ=0 leaves them out; without clang they skip, except in CI.
if [ "${IMAGEN_FUZZ:-1}" = 0 ]; then
	echo "# fuzz harnesses not run (IMAGEN_FUZZ=0)"
elif ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
	if [ -n "${CI:-}" ]; then
		fail=$((fail + 1)); failed_names+=("fuzz: clang is not installed")
		echo "not ok - fuzz: clang is not installed"
	else
		skip=$((skip + 1))
		echo "ok - fuzz: clang is not installed (scripts/deps.sh installs it) # SKIP"
	fi
elif ! make --no-print-directory SAN=fuzz fuzz-build >"$log" 2>&1; then
	fail=$((fail + 1)); failed_names+=("fuzz: the harnesses did not build")
	echo "not ok - fuzz: the harnesses did not build"; sed 's/^/#   /' "$log" | tail -30
else
	fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-3}" >"$log" 2>&1
	count_tap fuzz "$log"
fi

if [ $fail -gt 0 ]; then
	echo "# failed:"
	printf '#   %s\n' "${failed_names[@]}"
fi
if [ $skip -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ $fail -eq 0 ]
