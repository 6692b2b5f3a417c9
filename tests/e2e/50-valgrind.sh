#!/usr/bin/env bash
# The main commands under valgrind's memcheck (plain build only: it cannot run on top
# of AddressSanitizer).  Any error or definite leak fails.
. "$(dirname "$0")/lib.sh"

vg() {
	valgrind -q --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite \
		"$IMAGEN" "$@" >"$T_TMP/vg.out" 2>"$T_TMP/vg.err"
	RC=$?
	OUT=$(cat "$T_TMP/vg.out")
	[ "$RC" != 97 ] || fail "valgrind errors in imagen $*: $(cat "$T_TMP/vg.err")"
}

if [ "${BUILD:-build}" = build-san ]; then
	echo "ok 1 - 50-valgrind: skipped under the sanitizer build # SKIP"
	exit 0
fi

test_generate_inspect_from_under_memcheck() {
	vg generate --seed 3 -W 96 -H 64 -s photo -n fog -o out "a valgrind lighthouse"
	expect_rc 0
	png=$OUT
	vg inspect --json "$png"
	expect_rc 0
	vg generate --from "$png" -o again
	expect_rc 0
	vg generate -o out --set fail=boom "x"
	expect_rc 1
}

test_config_commands_under_memcheck() {
	"$IMAGEN" config init >/dev/null
	vg config validate
	expect_rc 0
	vg config show
	expect_rc 0
	vg backends --json
	expect_rc 0
	printf 'backends:\n  x:\n    type: mock\n    stpes: 1\n' >"$HOME/bad.yaml"
	vg -c "$HOME/bad.yaml" generate "x"
	expect_rc 2
}

run_tests
