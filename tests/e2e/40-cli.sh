#!/usr/bin/env bash
# The command surface: help, version, listings, unknown commands, exit codes.
. "$(dirname "$0")/lib.sh"

test_help_lists_every_command() {
	im --help
	expect_rc 0
	for c in generate config backends styles inspect show search ls index tag rate stats sync url \
		version completion help; do
		expect_match "$OUT" "^  $c " "--help lists $c"
	done
	expect_contains "$OUT" "exit status: 0 success, 1 generation failed, 2 usage or config error,"
	expect_match "$OUT" "^130 interrupted\.$"
	im help generate
	expect_rc 0
	for o in --backend --style --negative --width --height --steps --seed --output --name --set \
		--from --json --preview --no-preview --no-cloud --config --quiet --verbose; do
		expect_contains "$OUT" "$o" "help generate"
	done
	im generate --help
	expect_rc 0
	expect_contains "$OUT" "usage: imagen generate"
	im help config
	expect_contains "$OUT" "validate"
	im help nope
	expect_rc 2
	im help gen
	expect_rc 2
	expect_eq "$ERR" "imagen: help: unknown command 'gen' (did you mean 'generate'?)"
}

test_help_shows_defaults() {
	im help url
	expect_rc 0
	expect_match "$OUT" "^      --expires SECONDS +how long the URL stays valid \(default: 3600\)$" "--expires"
	# the common options, in every command's help, generate's included
	for c in generate url inspect; do
		im help $c
		expect_match "$OUT" "^ +\(default: \\\$IMAGEN_CONFIG, else ~/\.config/imagen/imagen\.yaml\)$" "--config in help $c"
	done
	# generate's own: where each comes from, with the options table's built-in value
	im help generate
	expect_match "$OUT" "^ +\(default: defaults\.backend, else mock\)$" "--backend"
	expect_match "$OUT" "^ +\(default: defaults\.style, else none\)$" "--style"
	expect_match "$OUT" "^ +\(default: output\.directory, else ~/Pictures/imagen\)$" "--output"
	expect_match "$OUT" "^ +\(default: output\.naming, else \{date\}-\{slug\}-\{seed\}\.png\)$" "--name"
	expect_match "$OUT" "^      --seed N +seed, 0 to 2\^63-1 \(default: random 32-bit\)$" "--seed"
	expect_match "$OUT" "^      --steps N +sampling steps \(default: the backend's\)$" "--steps"
	expect_match "$OUT" "^ +\(default: 0\.6\)$" "--strength"
}

test_version() {
	im version
	expect_rc 0
	expect_match "$OUT" '^imagen [0-9]+\.[0-9]+\.[0-9]+$'
	v=$OUT
	im --version
	expect_eq "$OUT" "$v"
}

test_unknown_command_and_no_command() {
	im genrate "x"
	expect_rc 2
	expect_eq "$ERR" "imagen: unknown command 'genrate' (did you mean 'generate'?)"
	# an abbreviation that names one command
	im gen "x"
	expect_rc 2
	expect_eq "$ERR" "imagen: unknown command 'gen' (did you mean 'generate'?)"
	im sy
	expect_rc 2
	expect_eq "$ERR" "imagen: unknown command 'sy' (see imagen --help)"
	im
	expect_rc 2
	expect_contains "$ERR" "usage: imagen"
	im --bogus
	expect_rc 2
	expect_one_error_line
	im config frobnicate
	expect_rc 2
	expect_one_error_line
}

test_backends_and_styles_listings() {
	write_config "$HOME/.config/imagen/imagen.yaml" <<'YAML'
defaults: {style: noir}
styles:
  noir: "black and white, high contrast"
backends:
  gpu: {type: mock}
YAML
	im backends
	expect_rc 0
	expect_match "$OUT" "^mock +mock +built-in" "built-in mock"
	expect_match "$OUT" "^gpu +mock" "configured instance"
	expect_contains "$OUT" "adapter types compiled in:"
	im styles
	expect_rc 0
	expect_match "$OUT" "^noir +black and white, high contrast +\[default\]"
	expect_match "$OUT" "^none +\(no suffix\)"
	im styles --json
	expect_eq "$(jqr "$OUT" '.[] | select(.name=="noir") | .default')" true
	im generate --json "x"
	expect_eq "$(jqr "$OUT" .metadata.final_prompt)" "x, black and white, high contrast" "default style applied"
}

test_man_page_and_help_agree() {
	man_page="$REPO_DIR/doc/imagen.1"
	[ -f "$man_page" ] || fail "no man page"
	im help generate
	for o in $(grep -oE -- '--[a-z][a-z-]+' <<<"$OUT" | sort -u); do
		grep -qF -- "${o//-/\\-}" "$man_page" || grep -qF -- "$o" "$man_page" ||
			fail "man page does not document $o"
	done
}

test_make_install_puts_binary_and_man_page() {
	san=""
	case ${BUILD:-build} in *san*) san="SAN=1" ;; esac
	make -s -C "$REPO_DIR" $san BUILD="${BUILD:-build}" install PREFIX=/usr DESTDIR="$T_TMP/root" >"$T_TMP/make.log" 2>&1 ||
		fail "make install failed: $(cat "$T_TMP/make.log")"
	[ -x "$T_TMP/root/usr/bin/imagen" ] || fail "no binary installed"
	expect_file "$T_TMP/root/usr/share/man/man1/imagen.1"
	expect_match "$("$T_TMP/root/usr/bin/imagen" version)" '^imagen ' "installed binary runs"
}

run_tests
