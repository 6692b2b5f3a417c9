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

run_tests
