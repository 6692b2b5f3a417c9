#!/usr/bin/env bash
# Config discovery, validation messages, precedence, and the config subcommands.
. "$(dirname "$0")/lib.sh"

bad_config() { # expected-message ; config text on stdin
	local f="$HOME/bad.yaml"
	cat >"$f"
	im -c "$f" config validate
	expect_rc 2
	expect_one_error_line
	expect_eq "$ERR" "imagen: config: $f:$1" "error message"
	# generate refuses the same file with the same message, writing nothing
	im -c "$f" generate -o out "x"
	expect_rc 2
	expect_eq "$ERR" "imagen: config: $f:$1" "generate's error message"
	expect_no_file out
}

test_unknown_backend_key_with_suggestion() {
	bad_config "5:5: unknown key 'stpes' in backends.flux-local (did you mean 'steps'?)" <<'YAML'
backends:
  flux-local:
    type: mock
    width: 64
    stpes: 4
YAML
}

test_unknown_top_level_and_section_keys() {
	bad_config "2:1: unknown key 'outptu' (did you mean 'output'?)" <<'YAML'
defaults: {backend: mock}
outptu: {}
YAML
	bad_config "2:3: unknown key 'directroy' in output (did you mean 'directory'?)" <<'YAML'
output:
  directroy: /tmp
YAML
	bad_config "2:3: unknown key 'colour' in cloud" <<'YAML'
cloud:
  colour: blue
YAML
}

test_type_and_enum_errors() {
	bad_config "2:15: output.cloud_sync: expected auto, on or off, got 'sometimes'" <<'YAML'
output:
  cloud_sync: sometimes
YAML
	bad_config "2:24: output.write_metadata_json: expected true or false, got 'yes please'" <<'YAML'
output:
  write_metadata_json: yes please
YAML
	bad_config "1:9: output: expected a mapping" <<'YAML'
output: [1, 2]
YAML
	bad_config "3:11: backends.m: unknown backend type 'mokc' (did you mean 'mock'?) (known: mock, comfyui, replicate, openai, a1111, pool)" <<'YAML'
backends:
  m:
    type: mokc
YAML
	bad_config "2:3: backends.m: missing 'type' (known types: mock, comfyui, replicate, openai, a1111, pool)" <<'YAML'
backends:
  m:
    width: 4
YAML
	bad_config "4:12: backends.m.width: expected an integer, got 'wide'" <<'YAML'
backends:
  m:
    type: mock
    width: wide
YAML
	bad_config "2:3: backends: invalid instance name 'my backend' (letters, digits, '-' and '_', starting with a letter or digit)" <<'YAML'
backends:
  my backend:
    type: mock
YAML
}

test_reference_errors() {
	bad_config "2:12: defaults.backend: unknown backend 'gpu' (configured: mock, other)" <<'YAML'
defaults:
  backend: gpu
backends:
  other:
    type: mock
YAML
	bad_config "2:10: defaults.style: unknown style 'noir'" <<'YAML'
defaults:
  style: noir
YAML
	bad_config "2:11: output.naming: unknown placeholder {seeed} (known: {date} {time} {slug} {seed} {backend} {ext})" <<'YAML'
output:
  naming: "{seeed}.png"
YAML
	bad_config "2:11: output.naming: '../{seed}.png' may not contain '.' or '..' segments" <<'YAML'
output:
  naming: "../{seed}.png"
YAML
	bad_config "2:18: cloud.owner_user_id: 'me' is not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)" <<'YAML'
cloud:
  owner_user_id: me
YAML
	bad_config "2:3: styles: 'none' is reserved (it means no style)" <<'YAML'
styles:
  none: "x"
YAML
}

test_malformed_yaml_tab_duplicate() {
	bad_config "2:1: tab character in indentation (YAML allows spaces only)" < <(printf 'output:\n\tnaming: x\n')
	bad_config "3:3: duplicate key 'naming' (first at line 2)" <<'YAML'
output:
  naming: "a.png"
  naming: "b.png"
YAML
	f="$HOME/bad.yaml"
	printf 'output: [1, 2\nnext: 3\n' >"$f"
	im -c "$f" config validate
	expect_rc 2
	expect_one_error_line
	expect_match "$ERR" "^imagen: config: $f:[0-9]+:[0-9]+: " "syntax error position"
	bad_config "2:4: aliases (*a) are not supported" <<'YAML'
x: &a 1
y: *a
YAML
}

test_huge_and_binary_files() {
	f="$HOME/big.yaml"
	head -c 10485760 /dev/zero | tr '\0' '#' >"$f"
	im -c "$f" config validate
	expect_rc 2
	expect_eq "$ERR" "imagen: config: $f: file is too large (10485760 bytes; the limit is 1048576)"
	head -c 4096 /dev/urandom >"$HOME/bin.yaml"
	printf '\0' >>"$HOME/bin.yaml"
	im -c "$HOME/bin.yaml" config validate
	expect_rc 2
	expect_one_error_line
	expect_match "$ERR" "^imagen: config: $HOME/bin.yaml(:[0-9]+:[0-9]+)?: not a text file" binary
	im -c "$HOME" config validate
	expect_rc 2
	expect_eq "$ERR" "imagen: config: $HOME: not a regular file"
	im -c "$HOME/missing.yaml" generate "x"
	expect_rc 2
	expect_eq "$ERR" "imagen: config: $HOME/missing.yaml: No such file or directory"
}

test_empty_and_partial_configs_get_defaults() {
	write_config "$CFG" </dev/null
	im config validate
	expect_rc 0
	im generate --json "partial"
	expect_rc 0
	expect_match "$(jqr "$OUT" .image)" "^$HOME/Pictures/imagen/" "default directory"
	write_config "$CFG" <<'YAML'
output:
  directory: ~/elsewhere
  naming: "{seed}-{slug}.png"
YAML
	im generate --seed 8 "partial"
	expect_eq "$OUT" "$HOME/elsewhere/8-partial.png"
}

test_discovery_precedence() {
	write_config "$CFG" <<'YAML'
output: {directory: ~/xdg}
YAML
	write_config "$HOME/env.yaml" <<'YAML'
output: {directory: ~/envcfg}
YAML
	write_config "$HOME/flag.yaml" <<'YAML'
output: {directory: ~/flagcfg}
YAML
	im generate "where"; expect_match "$OUT" "^$HOME/xdg/"
	IMAGEN_CONFIG="$HOME/env.yaml" im generate "where"; expect_match "$OUT" "^$HOME/envcfg/"
	IMAGEN_CONFIG="$HOME/env.yaml" im generate -c "$HOME/flag.yaml" "where"; expect_match "$OUT" "^$HOME/flagcfg/"
	IMAGEN_CONFIG="$HOME/env.yaml" im -c "$HOME/flag.yaml" generate "where"; expect_match "$OUT" "^$HOME/flagcfg/" "global -c"
	mkdir -p "$HOME/x/imagen"
	cp "$HOME/env.yaml" "$HOME/x/imagen/imagen.yaml"
	XDG_CONFIG_HOME="$HOME/x" im config path
	expect_eq "$OUT" "$HOME/x/imagen/imagen.yaml" "XDG_CONFIG_HOME"
	XDG_CONFIG_HOME="$HOME/x" im generate "where"; expect_match "$OUT" "^$HOME/envcfg/"
}

test_backend_precedence() {
	write_config "$CFG" <<'YAML'
defaults:
  backend: small
backends:
  small: {type: mock, width: 16, height: 16}
  large: {type: mock, width: 48, height: 32}
YAML
	im generate --json "p"; expect_eq "$(jqr "$OUT" .backend)/$(jqr "$OUT" .width)" small/16 config
	IMAGEN_BACKEND=large im generate --json "p"; expect_eq "$(jqr "$OUT" .backend)/$(jqr "$OUT" .width)" large/48 env
	IMAGEN_BACKEND=large im generate --json -b mock "p"; expect_eq "$(jqr "$OUT" .backend)/$(jqr "$OUT" .width)" mock/512 flag
	IMAGEN_BACKEND=nope im generate "p"
	expect_rc 2
	expect_eq "$ERR" 'imagen: backend "nope": unknown backend (configured: mock, small, large)'
	im backends --json
	expect_eq "$(jqr "$OUT" '[.instances[] | select(.default) | .name] | join(",")')" small default
}

test_validate_warns_on_missing_owner() {
	write_config "$CFG" <<'YAML'
cloud:
  supabase_url: https://example.supabase.co
  owner_user_id: ""
YAML
	im config validate
	expect_rc 0
	expect_contains "$ERR" "warning:"
	expect_contains "$ERR" "owner_user_id is empty"
	write_config "$CFG" <<'YAML'
output: {cloud_sync: off}
cloud:
  supabase_url: https://example.supabase.co
YAML
	im config validate
	expect_rc 0
	expect_eq "$ERR" "" "no warning when sync is off"
}

test_init_writes_valid_sample_and_never_overwrites() {
	im config init
	expect_rc 0
	expect_eq "$OUT" "$CFG"
	expect_file "$CFG"
	grep -q "ac6c9501-3757-4a6d-8b97-2cff4288382b" "$CFG" || fail "sample lacks the owner UUID"
	grep -q "^#" "$CFG" || fail "sample has no comments"
	im config validate
	expect_rc 0
	expect_eq "$ERR" "" "sample config warnings"
	echo "# mine" >>"$CFG"
	im config init
	expect_rc 2
	expect_eq "$ERR" "imagen: config init: $CFG already exists (not overwritten)"
	tail -1 "$CFG" | grep -q "# mine" || fail "config was overwritten"
	im config init --stdout
	expect_contains "$OUT" "backends:"
	im -c "$HOME/other/place.yaml" config init
	expect_rc 0
	expect_file "$HOME/other/place.yaml"
}

test_init_sample_leaves_the_owner_empty() {
	# issue 9 item 8: the project owner's UUID is documented, never active
	im config init
	expect_rc 0
	expect_eq "$(grep -c 'ac6c9501-3757-4a6d-8b97-2cff4288382b' "$CFG")" \
		"$(grep -c '^ *#.*ac6c9501-3757-4a6d-8b97-2cff4288382b' "$CFG")" "UUID only in comments"
	grep -q 'select id from auth.users' "$CFG" || fail "sample lacks the auth.users lookup"
	grep -q '^  owner_user_id: ""' "$CFG" || fail "owner_user_id is not empty in the sample"
	# a user who only fills in the URL and the key gets the error, not someone else's id
	sed -i 's|^  supabase_url: ""|  supabase_url: "http://127.0.0.1:9"|' "$CFG"
	im config validate
	expect_rc 0
	expect_contains "$ERR" "cloud sync is auto but cloud.owner_user_id is empty"
	im generate --no-cloud --seed 1 -o out "owner check"
	expect_rc 0
	f=$OUT
	SUPABASE_SERVICE_ROLE_KEY=k im sync "$f"
	expect_rc 2
	expect_eq "$ERR" "imagen: cloud sync: owner_user_id is not set (see imagen config init)"
	SUPABASE_SERVICE_ROLE_KEY=k im generate --seed 2 -o out "owner check"
	expect_rc 0
	expect_eq "$ERR" "imagen: cloud sync: owner_user_id is not set (see imagen config init)" \
		"generate's cloud step"
}

test_validate_counts_the_builtin_mock_apart() {
	# issue 9 item 7: three configured instances are three, the built-in mock comes extra
	write_config "$CFG" <<'YAML'
backends:
  a: {type: mock}
  b: {type: mock}
  c: {type: openai, model: gpt-image-1}
YAML
	im config validate
	expect_rc 0
	expect_eq "$OUT" "$CFG: valid (3 backends configured + the built-in mock, 0 styles)"
	write_config "$CFG" <<'YAML'
styles: {noir: "black and white"}
backends:
  mock: {type: mock, steps: 4}
  b: {type: mock}
YAML
	im config validate
	expect_eq "$OUT" "$CFG: valid (2 backends configured, 1 style)" "own mock"
	write_config "$CFG" </dev/null
	im config validate
	expect_eq "$OUT" "$CFG: valid (the built-in mock only, 0 styles)" "empty file"
	rm "$CFG"
	im config validate
	expect_eq "$OUT" "(built-in default): valid (the built-in mock only, 5 styles)" "no file"
}

test_builtin_mock_is_builtin_without_a_config_file() {
	# issue 9 item 7: with no file at all the mock is still the built-in one
	im backends --json
	expect_rc 0
	expect_eq "$(jqr "$OUT" '.instances | map("\(.name):\(.builtin):\(.default)") | join(",")')" \
		"mock:true:true"
	im backends
	expect_match "$OUT" "^mock +mock +built-in, default$" "table"
	im config show
	expect_contains "$OUT" "  mock:    # built-in"
	write_config "$CFG" <<'YAML'
backends:
  mock: {type: mock, steps: 4}
YAML
	im backends --json
	expect_eq "$(jqr "$OUT" '.instances[0].builtin')" false "the file's own mock"
}

test_backends_default_follows_the_environment() {
	write_config "$CFG" <<'YAML'
backends:
  fast: {type: mock}
YAML
	IMAGEN_BACKEND=fast im backends --json
	expect_eq "$(jqr "$OUT" '[.instances[] | select(.default) | .name] | join(",")')" fast
	IMAGEN_BACKEND= im backends --json
	expect_eq "$(jqr "$OUT" '[.instances[] | select(.default) | .name] | join(",")')" mock \
		"an empty variable is unset"
}

test_show_applies_precedence_and_redacts() {
	write_config "$CFG" <<'YAML'
cloud:
  supabase_url: "https://admin:hunter2@example.supabase.co"
  owner_user_id: ac6c9501-3757-4a6d-8b97-2cff4288382b
backends:
  fast: {type: mock, delay_ms: 0}
YAML
	SECRET_CANARY=hunter2
	IMAGEN_BACKEND=fast IMAGEN_PREVIEW=off im config show
	expect_rc 0
	expect_contains "$OUT" 'backend: "fast"    # from environment'
	expect_contains "$OUT" 'preview: "off"    # from environment'
	expect_contains "$OUT" 'https://admin:<redacted>@example.supabase.co'
	expect_contains "$OUT" "delay_ms: 0"
	expect_contains "$OUT" "$CFG"
	unset SECRET_CANARY
}

test_path_reports_missing_file() {
	im config path
	expect_rc 0
	expect_eq "$OUT" "$CFG"
	expect_contains "$ERR" "built-in default"
	im -q config path
	expect_eq "$ERR" "" "quiet"
}

test_adapter_validates_its_slice_before_any_generation() {
	write_config "$CFG" <<'YAML'
backends:
  broken:
    type: mock
    fail: "upstream exploded"
YAML
	im generate -b broken -o out "x"
	expect_rc 1
	expect_eq "$ERR" 'imagen: backend "broken": upstream exploded'
	expect_no_file out/x.png
	[ -z "$(ls -A out 2>/dev/null)" ] || fail "files left after a failed generation"
}

run_tests
