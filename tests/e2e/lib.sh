# lib.sh - helpers for the end-to-end tests: each test_* function runs in its own
# subshell with a fresh HOME; assertions exit the subshell on failure.
# Usage in a test file:  . "$(dirname "$0")/lib.sh"; test_x() { ...; }; run_tests
set -u
: "${IMAGEN:?IMAGEN must point at the binary}"
# No controlling terminal: a preview that finds no terminal on stdout or stderr may draw on
# /dev/tty, and a test must neither depend on nor scribble over the terminal it was run
# from.  Tests that want a terminal make their own (script(1), tmux).
if [ -z "${IMAGEN_E2E_DETACHED:-}" ] && command -v setsid >/dev/null 2>&1; then
	IMAGEN_E2E_DETACHED=1 exec setsid -w bash "$0" "$@"
fi
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$E2E_DIR/../.." && pwd)

# Run imagen: sets OUT, ERR, RC.  Sanitizer reports fail the test whatever RC was expected.
im() {
	local errf="$T_TMP/stderr.$$"
	OUT=$("$IMAGEN" "$@" 2>"$errf")
	RC=$?
	ERR=$(cat "$errf")
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$errf" || [ $RC -ge 98 ]; then
		fail "sanitizer finding (rc $RC) running imagen $*:
$ERR"
	fi
	# no run of imagen may print a secret we planted in its environment
	if [ -n "${SECRET_CANARY:-}" ] && grep -qF -- "$SECRET_CANARY" <<<"$OUT$ERR"; then
		fail "a secret appeared in the output of imagen $*"
	fi
	return 0
}

fail() {
	echo "#   FAIL: $*" >&2
	exit 1
}

expect_rc() { # expected
	[ "$RC" = "$1" ] || fail "exit status $RC, expected $1
# stdout: $OUT
# stderr: $ERR"
}

expect_eq() { # actual expected [what]
	[ "$1" = "$2" ] || fail "${3:-value}: got '$1', expected '$2'"
}

expect_contains() { # haystack needle [what]
	grep -qF -- "$2" <<<"$1" || fail "${3:-output} does not contain '$2':
$1"
}

expect_not_contains() {
	! grep -qF -- "$2" <<<"$1" || fail "${3:-output} contains '$2':
$1"
}

expect_match() { # haystack ERE [what]
	grep -qE -- "$2" <<<"$1" || fail "${3:-output} does not match /$2/:
$1"
}

expect_file() { [ -f "$1" ] || fail "missing file $1"; }
expect_no_file() { [ ! -e "$1" ] || fail "unexpected file $1"; }

# The stderr of a failing command is exactly one line starting "imagen: ".
expect_one_error_line() {
	local n
	n=$(printf '%s\n' "$ERR" | grep -c .)
	[ "$n" = 1 ] || fail "expected one stderr line, got $n:
$ERR"
	expect_match "$ERR" '^imagen: ' stderr
}

jqr() { # file-or-json expr
	if [ -f "$1" ]; then jq -r "$2" "$1"; else jq -r "$2" <<<"$1"; fi
}

write_config() { # path, content on stdin
	mkdir -p "$(dirname "$1")"
	cat >"$1"
}

count_files() { # dir pattern
	find "$1" -name "$2" -type f 2>/dev/null | wc -l | tr -d ' '
}

# --- fake upstream servers (tests/fake/*.py) ---------------------------------------
PY=${PY:-/usr/bin/python3}
FAKE_PIDS=()

# fake_start NAME [ARGS...]: start tests/fake/NAME.py on a free loopback port.
# Sets FAKE_URL (http://127.0.0.1:PORT) and FAKE_LOG (JSON lines, one per request);
# the server is killed when the test ends.
fake_start() {
	local name=$1 pf i
	shift
	pf="$T_TMP/fake-$name.port"
	FAKE_LOG="$T_TMP/fake-$name.log"
	rm -f "$pf"
	"$PY" "$REPO_DIR/tests/fake/$name.py" --port-file "$pf" --log "$FAKE_LOG" "$@" \
		>"$T_TMP/fake-$name.out" 2>&1 &
	FAKE_PIDS+=($!)
	for i in $(seq 1 200); do
		[ -s "$pf" ] && break
		kill -0 "$!" 2>/dev/null || fail "fake $name died: $(cat "$T_TMP/fake-$name.out")"
		sleep 0.025
	done
	[ -s "$pf" ] || fail "fake $name did not start"
	FAKE_URL="http://127.0.0.1:$(cat "$pf")"
}

fake_stop_all() {
	local p
	for p in "${FAKE_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${FAKE_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	FAKE_PIDS=()
}

# fake_faults URL JSON: queue faults (a JSON object or list, see tests/fake/fakelib.py).
fake_faults() {
	"$PY" - "$1" "$2" <<'PYEOF' || fail "cannot queue faults at $1"
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_fake/faults",
    data=sys.argv[2].encode(), method="POST"), timeout=5).read()
PYEOF
}

# fake_data JSON: set knobs of the running fake (POST /_fake/data; see each fake).
fake_data() {
	"$PY" - "$FAKE_URL" "$1" <<'PYEOF' || fail "cannot set fake data"
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_fake/data",
    data=sys.argv[2].encode(), method="POST"), timeout=5).read()
PYEOF
}

# fake_requests [LOG]: the requests a fake received, as one JSON array (for jq).
fake_requests() {
	jq -s . "${1:-$FAKE_LOG}"
}

run_tests() {
	local fn n=0 base
	base=$(basename "$0" .sh)
	for fn in $(declare -F | awk '{print $3}' | grep '^test_'); do
		n=$((n + 1))
		T_TMP=$(mktemp -d /tmp/imagen-e2e.XXXXXX)
		(
			export HOME="$T_TMP/home"
			CFG="$HOME/.config/imagen/imagen.yaml"
			mkdir -p "$HOME"
			unset XDG_CONFIG_HOME XDG_STATE_HOME XDG_DATA_HOME IMAGEN_CONFIG IMAGEN_BACKEND \
				IMAGEN_OUTPUT_DIR IMAGEN_CLOUD_SYNC IMAGEN_PREVIEW TMUX \
				SUPABASE_SERVICE_ROLE_KEY
			export TZ=UTC
			cd "$HOME" || exit 1
			trap fake_stop_all EXIT
			"$fn"
		) 2>&1 | sed 's/^/#   /' >"$T_TMP.log"
		if [ "${PIPESTATUS[0]}" = 0 ]; then
			echo "ok $n - $base: $fn"
		else
			echo "not ok $n - $base: $fn"
			cat "$T_TMP.log"
		fi
		rm -rf "$T_TMP" "$T_TMP.log"
	done
}
