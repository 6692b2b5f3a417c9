#!/usr/bin/env bash
# imagen generate on the built-in default and with every flag.
. "$(dirname "$0")/lib.sh"

test_default_run_needs_no_config() {
	im generate "a lighthouse at dusk"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_match "$OUT" "^$HOME/Pictures/imagen/[0-9]{4}-[0-9]{2}-[0-9]{2}-a-lighthouse-at-dusk-[0-9]+\.png$" path
	expect_file "$OUT"
	expect_file "${OUT%.png}.json"
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	# date in the name is today's local date, seed in the name is the recorded seed
	expect_contains "$OUT" "$(date +%Y-%m-%d)-"
	seed=$(jqr "${OUT%.png}.json" .seed)
	expect_contains "$OUT" "-$seed.png"
	[ "$seed" -ge 0 ] && [ "$seed" -le 4294967295 ] || fail "random seed $seed not in 0..2^32-1"
}

test_sidecar_holds_every_fact() {
	im generate -s cinematic -n "blurry, text" -W 320 -H 200 --steps 7 --seed 42 -o out "a red fox"
	expect_rc 0
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .prompt)" "a red fox" prompt
	expect_match "$(jqr "$s" .final_prompt)" "^a red fox, cinematic lighting" final_prompt
	expect_eq "$(jqr "$s" .negative_prompt)" "blurry, text" negative
	expect_eq "$(jqr "$s" .style)" cinematic style
	expect_eq "$(jqr "$s" .backend)" mock backend
	expect_eq "$(jqr "$s" .backend_type)" mock backend_type
	expect_eq "$(jqr "$s" .model)" imagen-mock-1 model
	expect_eq "$(jqr "$s" .seed)" 42 seed
	expect_eq "$(jqr "$s" .width)" 320 width
	expect_eq "$(jqr "$s" .height)" 200 height
	expect_eq "$(jqr "$s" .steps)" 7 steps
	expect_match "$(jqr "$s" .created_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$' created_at
	expect_eq "$(jqr "$s" '.metadata | type')" object metadata
	expect_match "$(jqr "$s" .imagen_version)" '^[0-9]+\.[0-9]+\.[0-9]+' version
	[ "$(tail -c 1 "$s" | od -An -c | tr -d ' ')" = '\n' ] || fail "sidecar does not end in a newline"
	# the image really is 320x200
	expect_match "$(pngcheck -v "$OUT")" "320 x 200" IHDR
}

test_png_carries_a1111_parameters_and_imagen_chunk() {
	im generate --seed 7 -W 64 -H 48 --steps 3 -n "fog" -o out "a boat"
	expect_rc 0
	im inspect --json "$OUT"
	expect_rc 0
	expect_eq "$(jqr "$OUT" '.parameters.text')" "a boat
Negative prompt: fog
Steps: 3, Seed: 7, Size: 64x48, Model: imagen-mock-1" parameters
	f=$(ls out/*.png)
	# the imagen chunk is exactly the sidecar
	expect_eq "$(jq -S . <<<"$(jqr "$OUT" .imagen)")" "$(jq -S . "${f%.png}.json")" "imagen chunk vs sidecar"
	# and the chunks are real PNG text chunks other tools see
	pngcheck -t "$f" | grep -q "parameters" || fail "pngcheck does not list the parameters chunk"
	pngcheck -q "$f" >/dev/null || fail "pngcheck rejects $f"
}

test_same_seed_same_pixels_other_seed_other_picture() {
	im generate --seed 5 -o a "same prompt"; expect_rc 0; a=$OUT
	im generate --seed 5 -o b "same prompt"; expect_rc 0; b=$OUT
	im generate --seed 6 -o c "same prompt"; expect_rc 0; c=$OUT
	im generate --seed 5 -o d "other prompt"; expect_rc 0; d=$OUT
	# compare only the image data chunks: metadata holds a timestamp
	idat() { python3 -c 'import sys,struct
d=open(sys.argv[1],"rb").read();i=8;o=b""
while i<len(d):
    n=struct.unpack(">I",d[i:i+4])[0];t=d[i+4:i+8]
    if t==b"IDAT": o+=d[i+8:i+8+n]
    i+=12+n
sys.stdout.write(o.hex())' "$1"; }
	[ "$(idat "$a")" = "$(idat "$b")" ] || fail "same inputs gave different pixels"
	[ "$(idat "$a")" != "$(idat "$c")" ] || fail "another seed gave the same pixels"
	[ "$(idat "$a")" != "$(idat "$d")" ] || fail "another prompt gave the same pixels"
}

test_collisions_get_numbered_never_overwrite() {
	for i in 1 2 3; do
		im generate --seed 9 -o out --name "fixed.png" "collide"
		expect_rc 0
		paths+=("$OUT")
	done
	expect_eq "${paths[0]}" "$HOME/out/fixed.png"
	expect_eq "${paths[1]}" "$HOME/out/fixed-1.png"
	expect_eq "${paths[2]}" "$HOME/out/fixed-2.png"
	expect_file out/fixed-1.json
	expect_file out/fixed-2.json
	# a stray sidecar also reserves its name
	echo '{}' >out/other.json
	im generate --seed 9 -o out --name "other.png" "collide"
	expect_eq "$OUT" "$HOME/out/other-1.png"
	expect_eq "$(cat out/other.json)" "{}" "untouched sidecar"
	expect_eq "$(count_files out '.imagen-*')" 0 "temporary files left"
}

test_name_template_placeholders_and_subdirectories() {
	im generate --seed 11 -o out --name "{backend}/{date}/{time}-{slug}-{seed}.{ext}" "Hello, World!!"
	expect_rc 0
	expect_match "$OUT" "^$HOME/out/mock/[0-9]{4}-[0-9]{2}-[0-9]{2}/[0-9]{6}-hello-world-11\.png$"
	im generate --json --seed 11 -o out --name "{slug}" "no extension"
	expect_eq "$(jqr "$OUT" .file_name)" "no-extension.png" "extension appended"
}

test_template_cannot_escape_output_dir() {
	for bad in "../x-{seed}.png" "/tmp/x.png" "a/../../b.png" "{nope}.png" "{slug" "~/x.png" "a//b.png"; do
		im generate -o out --name "$bad" "escape"
		expect_rc 2
		expect_one_error_line
		expect_match "$ERR" "^imagen: --name: " "error for $bad"
	done
	expect_no_file "$HOME/x.png"
	[ -z "$(ls -A out 2>/dev/null)" ] || fail "files written for refused templates: $(ls -A out)"
}

test_symlinked_directory_inside_output_dir_is_not_followed() {
	mkdir -p out elsewhere
	ln -s "$HOME/elsewhere" out/link
	im generate -W 16 -H 16 --seed 3 -o out --name 'link/{slug}.png' "linked"
	expect_rc 1
	expect_one_error_line
	expect_contains "$ERR" "imagen: output: $HOME/out/link is a symbolic link: files are only written inside the output directory; the image was saved to "
	[ -z "$(ls -A elsewhere)" ] || fail "written through the link: $(ls -A elsewhere)"
	# nothing generated is lost: the image is where the message says
	expect_file "$OUT"
	expect_file "${OUT%.png}.json"
	# an output directory that is itself a link is the user's choice and is used
	ln -s "$HOME/elsewhere" via
	im generate -W 16 -H 16 --seed 3 -o via --name 'sub/{slug}.png' "linked"
	expect_rc 0
	expect_file "$HOME/elsewhere/sub/linked.png"
}

test_slug_rules() {
	im generate --json --seed 1 -o out "  Ünïcode ... ROCKS!! / ../etc "
	expect_eq "$(jqr "$OUT" .slug)" "unicode-rocks-etc" slug
	im generate --json --seed 1 -o out "Café crème brûlée"
	expect_eq "$(jqr "$OUT" .slug)" "cafe-creme-brulee" "Latin letters transliterated"
	expect_match "$(jqr "$OUT" .image)" "/[0-9-]+-cafe-creme-brulee-1\.png$" "file name"
	# no ASCII form: "image-" and 8 hex digits of the prompt's SHA-256, so prompts stay apart
	im generate --json --seed 1 -o out "東京の夜景"
	expect_eq "$(jqr "$OUT" .slug)" "image-$(printf '東京の夜景' | sha256sum | cut -c1-8)" "CJK slug"
	im generate --json --seed 1 -o out "!!!"
	expect_eq "$(jqr "$OUT" .slug)" "image-$(printf '!!!' | sha256sum | cut -c1-8)" "empty slug fallback"
	im generate --json --seed 1 -o out "$(printf 'word%.0s ' {1..30})"
	slug=$(jqr "$OUT" .slug)
	[ ${#slug} -le 40 ] || fail "slug longer than 40: $slug"
	expect_match "$slug" '^word(-word)*$' "truncated slug"
}

test_json_record() {
	im generate --json --seed 3 -W 64 -H 64 -o out "json please"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .image)" "$(ls "$HOME"/out/*.png)" image
	expect_eq "$(jqr "$OUT" .sidecar)" "$(ls "$HOME"/out/*.json)" sidecar
	expect_eq "$(jqr "$OUT" .seed)" 3 seed
	expect_eq "$(jqr "$OUT" .slug)" json-please slug
	expect_eq "$(jqr "$OUT" .date)" "$(date +%Y-%m-%d)" date
	expect_eq "$(jqr "$OUT" .bytes)" "$(stat -c %s "$(ls out/*.png)")" bytes
	expect_eq "$(jqr "$OUT" .file_name)" "$(basename "$(ls out/*.png)")" file_name
	expect_eq "$(jqr "$OUT" .metadata.prompt)" "json please" "metadata.prompt"
	expect_eq "$(jqr "$OUT" .cloud_sync)" off "cloud_sync resolved (no cloud configured)"
	expect_eq "$(printf '%s\n' "$OUT" | wc -l)" 1 "one line of JSON"
}

test_set_options_reach_the_adapter() {
	im generate -o out --set fail="the GPU is on fire" "x"
	expect_rc 1
	expect_eq "$ERR" 'imagen: backend "mock": the GPU is on fire'
	expect_eq "$(count_files out '*')" 0 "files after a failed generation"
	im generate -o out --set delya_ms=5 "x"
	expect_rc 2
	expect_contains "$ERR" "unknown option 'delya_ms'"
	expect_contains "$ERR" "did you mean 'delay_ms'"
	im generate -o out --set delay_ms=30 --json "x"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .metadata.options.delay_ms)" 30 "recorded option"
	im generate -o out --set novalue "x"
	expect_rc 2
	expect_one_error_line
}

test_flag_validation() {
	im generate --seed -1 "x"; expect_rc 2; expect_eq "$ERR" "imagen: --seed: invalid value '-1' (expected an integer from 0 to 9223372036854775807)"
	im generate --seed 9223372036854775808 "x"; expect_rc 2; expect_one_error_line
	im generate --seed 12abc "x"; expect_rc 2; expect_one_error_line
	im generate --seed 9223372036854775807 -W 16 -H 16 --json -o out "max seed"
	expect_rc 0
	# jq would round a 63-bit integer through a double: read the text itself
	expect_contains "$OUT" '"seed":9223372036854775807,' "max seed"
	expect_contains "$(cat "$(jqr "$OUT" .sidecar)")" '"seed": 9223372036854775807,' "max seed in sidecar"
	im generate -W 0 "x"; expect_rc 2; expect_contains "$ERR" "--width"
	im generate --steps abc "x"; expect_rc 2; expect_contains "$ERR" "--steps"
	im generate; expect_rc 2; expect_contains "$ERR" "a prompt is required"
	im generate --preview=maybe "x"; expect_rc 2; expect_contains "$ERR" "--preview"
	im generate --stpes 4 "x"; expect_rc 2; expect_eq "$ERR" "imagen: generate: unknown option '--stpes' (did you mean '--steps'?)"
	im generate -b nope "x"; expect_rc 2; expect_eq "$ERR" 'imagen: backend "nope": unknown backend (configured: mock)'
	im generate -s nope "x"; expect_rc 2; expect_contains "$ERR" 'imagen: style "nope": unknown style (configured: none, cinematic'
	im generate -W 9000 "x"; expect_rc 2; expect_contains "$ERR" "out of range for the mock backend"
	expect_eq "$(count_files "$HOME" '*.png')" 1 "only the max-seed image exists"
}

test_preview_and_cloud_flags_resolve() {
	im generate --json --no-cloud --preview -o out "flags"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .cloud_sync)" off
	expect_eq "$(jqr "$OUT" .preview)" on
	im generate --json --preview=off -o out "flags"
	expect_eq "$(jqr "$OUT" .preview)" off
	IMAGEN_PREVIEW=on im generate --json --no-preview -o out "flags"
	expect_eq "$(jqr "$OUT" .preview)" off "flag beats environment"
	IMAGEN_PREVIEW=on IMAGEN_CLOUD_SYNC=off im generate --json -o out "flags"
	expect_eq "$(jqr "$OUT" .preview)" on "environment"
	expect_eq "$(jqr "$OUT" .cloud_sync)" off "environment"
	IMAGEN_CLOUD_SYNC=sometimes im generate -o out "flags"
	expect_rc 2
	expect_eq "$ERR" "imagen: IMAGEN_CLOUD_SYNC: invalid value 'sometimes' (expected auto, on or off)"
}

test_preview_value_as_the_next_word() {
	# "--preview on" as the issue and users write it: the mode, not a prompt word
	im generate --json --preview off -o out a fox
	expect_rc 0
	expect_eq "$(jqr "$OUT" .preview)" off
	expect_eq "$(jqr "$OUT" .metadata.prompt)" "a fox" "the mode word is not in the prompt"
	im generate --json a fox --preview auto -o out
	expect_eq "$(jqr "$OUT" .preview)" auto "after the prompt words too"
	expect_eq "$(jqr "$OUT" .metadata.prompt)" "a fox"
	# a word that is not a mode, or a quoted prompt starting with one, stays the prompt
	im generate --json --preview "on a hill" -o out
	expect_eq "$(jqr "$OUT" .preview)" on
	expect_eq "$(jqr "$OUT" .metadata.prompt)" "on a hill"
	im generate --json --preview ocean -o out
	expect_eq "$(jqr "$OUT" .metadata.prompt)" "ocean"
	# and a lone mode word leaves no prompt
	im generate --preview on
	expect_rc 2
	expect_contains "$ERR" "a prompt is required"
}

test_output_dir_precedence() {
	IMAGEN_OUTPUT_DIR="$HOME/from-env" im generate "where"
	expect_match "$OUT" "^$HOME/from-env/" "env output dir"
	IMAGEN_OUTPUT_DIR="$HOME/from-env" im generate -o "$HOME/from-flag" "where"
	expect_match "$OUT" "^$HOME/from-flag/" "flag beats env"
	IMAGEN_OUTPUT_DIR="~/tilde" im generate "where"
	expect_match "$OUT" "^$HOME/tilde/" "tilde expanded"
}

test_unwritable_output_dir_fails_before_generating() {
	[ "$(id -u)" = 0 ] && { mkdir ro; touch ro/file; im generate -o ro/file/sub "x"; expect_rc 2
		expect_contains "$ERR" "imagen: output:"; return 0; }
	mkdir ro && chmod 555 ro
	im generate -o ro "x"
	expect_rc 2
	expect_contains "$ERR" "imagen: output:"
}

test_multiword_prompt_and_verbose() {
	im generate -v --seed 4 -o out a quiet harbour at night
	expect_rc 0
	expect_eq "$(jqr "${OUT%.png}.json" .prompt)" "a quiet harbour at night" prompt
	expect_contains "$ERR" "imagen: backend mock (type mock, from built-in default)"
	expect_contains "$ERR" "imagen: seed 4 (flag)"
	expect_contains "$ERR" "imagen: wrote $OUT"
	im generate -q --seed 4 -o out "quiet"
	expect_eq "$ERR" "" "quiet stderr"
}

test_prompt_from_stdin() {
	OUT=$(printf 'a prompt\nover two lines\n' | "$IMAGEN" generate --json --seed 2 -o out - 2>"$T_TMP/e")
	expect_eq "$(jqr "$OUT" .metadata.prompt)" "a prompt
over two lines" "stdin prompt, trailing newline dropped"
	OUT=$(: | "$IMAGEN" generate -o out - 2>"$T_TMP/e"); RC=$?; ERR=$(cat "$T_TMP/e")
	expect_rc 2
	expect_contains "$ERR" "a prompt is required"
}

test_sidecar_can_be_turned_off() {
	write_config "$HOME/.config/imagen/imagen.yaml" <<'YAML'
output:
  write_metadata_json: false
YAML
	im generate --json -o out "no sidecar"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .sidecar)" null sidecar
	expect_eq "$(count_files out '*.json')" 0 "json files"
	# the facts are still inside the PNG
	im inspect --json "$(ls out/*.png)"
	expect_eq "$(jqr "$OUT" .imagen.prompt)" "no sidecar"
}

test_image_is_rescued_when_writing_fails_after_generation() {
	mkdir out
	echo "in the way" >out/sub # the template's subdirectory cannot be created
	export XDG_STATE_HOME="$HOME/state"
	im generate --seed 21 -o out --name "sub/{slug}.png" "keep me"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" "^imagen: output: $HOME/out/sub is not a directory; the image was saved to $HOME/state/imagen/rescue/" error
	expect_file "$OUT"
	expect_match "$OUT" "^$HOME/state/imagen/rescue/[0-9-]+-keep-me-21\.png$" "rescued path on stdout"
	pngcheck -q "$OUT" >/dev/null || fail "rescued file is not a valid PNG"
	expect_file "${OUT%.png}.json"
	expect_eq "$(cat out/sub)" "in the way" "blocking file untouched"
	# scripts using --json still learn where the image went, and why
	im generate --json --seed 22 -o out --name "sub/{slug}.png" "keep me too"
	expect_rc 1
	expect_match "$(jqr "$OUT" .image)" "^$HOME/state/imagen/rescue/[0-9-]+-keep-me-too-22\.png$" "json image"
	expect_file "$(jqr "$OUT" .image)"
	expect_contains "$(jqr "$OUT" .error)" "is not a directory" "json error"
}

test_parallel_runs_never_clobber_each_other() {
	for i in 1 2 3 4 5 6; do
		"$IMAGEN" generate --seed "$i" -W 64 -H 64 -o out --name "same.png" "race $i" >"$T_TMP/p$i" 2>&1 &
	done
	wait
	for i in 1 2 3 4 5 6; do
		grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T_TMP/p$i" && fail "sanitizer: $(cat "$T_TMP/p$i")"
	done
	expect_eq "$(count_files out '*.png')" 6 "six images"
	expect_eq "$(count_files out '*.json')" 6 "six sidecars"
	expect_eq "$(cat "$T_TMP"/p? | sort -u | wc -l | tr -d ' ')" 6 "six distinct paths printed"
	# each sidecar belongs to the image of the same name
	for f in out/*.png; do
		expect_eq "$(jqr "${f%.png}.json" .seed)" "$("$IMAGEN" inspect --json "$f" | jq -r .imagen.seed)" "sidecar of $f"
	done
	expect_eq "$(count_files out '.imagen-*')" 0 "temporary files"
}

run_tests
