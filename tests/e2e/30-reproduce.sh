#!/usr/bin/env bash
# --from: repeat a generation from a PNG, its sidecar, or an A1111 PNG; inspect.
. "$(dirname "$0")/lib.sh"

# Pixels only (IDAT payload), so metadata timestamps don't matter.
idat() {
	python3 - "$1" <<'PY'
import sys, struct, hashlib
d = open(sys.argv[1], "rb").read(); i = 8; h = hashlib.sha256()
while i < len(d):
    n = struct.unpack(">I", d[i:i+4])[0]
    if d[i+4:i+8] == b"IDAT": h.update(d[i+8:i+8+n])
    i += 12 + n
print(h.hexdigest())
PY
}

# Write a PNG whose only text chunk is an A1111 `parameters` tEXt chunk.
a1111_png() { # out, text
	python3 - "$1" "$2" <<'PY'
import sys, struct, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
w, h = 4, 4
raw = b"".join(b"\0" + b"\x80\x40\x20" * w for _ in range(h))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
png += chunk(b"tEXt", b"parameters\0" + sys.argv[2].encode("latin-1"))
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
}

test_from_png_reproduces_identical_pixels() {
	im generate -s watercolor -n "people" -W 96 -H 64 --steps 9 -o out "a quiet pond"
	expect_rc 0
	first=$OUT
	im generate --json --from "$first" -o again
	expect_rc 0
	second=$(jqr "$OUT" .image)
	expect_eq "$(idat "$second")" "$(idat "$first")" "pixels"
	for k in prompt final_prompt negative_prompt style backend seed width height steps; do
		expect_eq "$(jqr "${second%.png}.json" ".$k")" "$(jqr "${first%.png}.json" ".$k")" "$k"
	done
}

test_from_sidecar_and_overrides() {
	im generate --seed 77 -W 64 -H 64 -o out --set delay_ms=1 "a red kite"
	s="${OUT%.png}.json"
	im generate --json --from "$s" -o b
	expect_rc 0
	expect_eq "$(jqr "$OUT" .seed)" 77 seed
	expect_eq "$(jqr "$OUT" .metadata.options.delay_ms)" 1 "recorded --set options replayed"
	im generate --json --from "$s" --seed 78 -W 32 -s photo -o c
	expect_rc 0
	expect_eq "$(jqr "$OUT" .seed)" 78 "seed override"
	expect_eq "$(jqr "$OUT" .width)" 32 "width override"
	expect_eq "$(jqr "$OUT" .height)" 64 "height kept"
	expect_match "$(jqr "$OUT" .metadata.final_prompt)" "^a red kite, photograph" "style override re-applies the suffix"
	im generate --json --from "$s" -o d "a blue kite"
	expect_eq "$(jqr "$OUT" .metadata.prompt)" "a blue kite" "prompt override"
	expect_eq "$(jqr "$OUT" .seed)" 77 "seed kept with a new prompt"
}

test_from_records_backend_instance() {
	write_config "$HOME/.config/imagen/imagen.yaml" <<'YAML'
backends:
  tiny: {type: mock, width: 24, height: 24}
YAML
	im generate -b tiny -o out "small one"
	first=$OUT
	IMAGEN_BACKEND=mock im generate --json --from "$first" -o again
	expect_eq "$(jqr "$OUT" .backend)" tiny "--from beats the environment"
	im generate --json --from "$first" -b mock -o again2
	expect_eq "$(jqr "$OUT" .backend)" mock "flag beats --from"
	rm "$HOME/.config/imagen/imagen.yaml"
	im generate --from "$first" -o again3
	expect_rc 2
	expect_eq "$ERR" 'imagen: backend "tiny": unknown backend (configured: mock)'
}

test_from_plain_a1111_png() {
	# a default style must not be appended to a prompt recorded by another tool
	write_config "$CFG" <<'YAML'
defaults: {style: noir}
styles: {noir: "black and white"}
YAML
	a1111_png "$HOME/a1111.png" "a castle on a hill
Negative prompt: lowres
Steps: 12, Sampler: Euler a, CFG scale: 7, Seed: 31337, Size: 80x48, Model hash: abcdef1234, Model: sd15"
	im inspect "$HOME/a1111.png"
	expect_rc 0
	expect_contains "$OUT" "a castle on a hill"
	expect_contains "$OUT" "Sampler"
	im generate --json --from "$HOME/a1111.png" -o out
	expect_rc 0
	expect_eq "$(jqr "$OUT" .seed)" 31337 seed
	expect_eq "$(jqr "$OUT" .width)x$(jqr "$OUT" .height)" 80x48 size
	expect_eq "$(jqr "$OUT" .steps)" 12 steps
	expect_eq "$(jqr "$OUT" .metadata.prompt)" "a castle on a hill" prompt
	expect_eq "$(jqr "$OUT" .metadata.final_prompt)" "a castle on a hill" "final prompt without the default style"
	expect_eq "$(jqr "$OUT" .metadata.style)" none style
	expect_eq "$(jqr "$OUT" .metadata.negative_prompt)" "lowres" negative
	im generate --json --from "$HOME/a1111.png" -s noir -o out
	expect_eq "$(jqr "$OUT" .metadata.final_prompt)" "a castle on a hill, black and white" "explicit style"
}

test_from_bad_inputs() {
	echo "hello" >"$HOME/note.txt"
	im generate --from "$HOME/note.txt"
	expect_rc 2
	expect_eq "$ERR" "imagen: --from: $HOME/note.txt: not a PNG or an imagen sidecar"
	echo '{"seed": "x", "prompt": "p"}' >"$HOME/bad.json"
	im generate --from "$HOME/bad.json"
	expect_rc 2
	expect_eq "$ERR" "imagen: --from: $HOME/bad.json: field 'seed' must be an integer from 0 to 9223372036854775807"
	echo '{"seed": 1}' >"$HOME/noprompt.json"
	im generate --from "$HOME/noprompt.json"
	expect_rc 2
	expect_eq "$ERR" "imagen: --from: $HOME/noprompt.json: field 'prompt' is missing"
	echo '{"prompt": ' >"$HOME/trunc.json"
	im generate --from "$HOME/trunc.json"
	expect_rc 2
	expect_match "$ERR" "^imagen: --from: $HOME/trunc.json:[0-9]+:[0-9]+: invalid JSON" truncated
	a1111_png "$HOME/plain.png" "just a prompt without parameters"
	python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); i=d.index(b"tEXt")-4; n=int.from_bytes(d[i:i+4],"big"); open(sys.argv[1],"wb").write(d[:i]+d[i+12+n:])' "$HOME/plain.png"
	im generate --from "$HOME/plain.png"
	expect_rc 2
	expect_eq "$ERR" "imagen: --from: $HOME/plain.png: no imagen metadata or A1111 parameters in this PNG"
	im generate --from "$HOME/missing.png"
	expect_rc 2
	expect_eq "$ERR" "imagen: --from: $HOME/missing.png: No such file or directory"
}

test_inspect_human_and_json() {
	im generate --seed 12 -s anime -n "dull" -W 40 -H 30 -o out "a neon city"
	png=$OUT
	im inspect "$png"
	expect_rc 0
	expect_match "$OUT" "^file +$png \(40x30, [0-9]+ bytes\)" header
	expect_match "$OUT" "prompt +a neon city" prompt
	expect_match "$OUT" "seed +12" seed
	expect_match "$OUT" "style +anime" style
	im inspect --json "$png"
	expect_eq "$(jqr "$OUT" .width)" 40
	expect_eq "$(jqr "$OUT" .imagen.seed)" 12
	expect_eq "$(jqr "$OUT" .parameters.params.Seed)" 12
	expect_eq "$(jqr "$OUT" .parameters.negative_prompt)" dull
	im -v inspect "$png"
	expect_contains "$OUT" "Steps: 20, Seed: 12, Size: 40x30, Model: imagen-mock-1"
}

test_inspect_reads_a_sidecar_as_from_does() {
	im generate --seed 21 -W 40 -H 24 -n "fog" -o out "a sidecar fox"
	side=${OUT%.png}.json
	im inspect "$side"
	expect_rc 0
	expect_match "$OUT" "^file +$side \(sidecar, [0-9]+ bytes\)" header
	expect_match "$OUT" "prompt +a sidecar fox" prompt
	expect_match "$OUT" "seed +21" seed
	expect_match "$OUT" "negative prompt +fog" negative
	im inspect --json "$side"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .kind)" sidecar kind
	expect_eq "$(jqr "$OUT" .width)x$(jqr "$OUT" .height)" 40x24 size
	expect_eq "$(jqr "$OUT" .imagen)" "$(jq . "$side")" "the sidecar, exactly"
	echo '{"prompt": ' >"$HOME/trunc.json"
	im inspect "$HOME/trunc.json"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" "^imagen: inspect: $HOME/trunc.json:[0-9]+:[0-9]+: invalid JSON" truncated
}

# A PNG whose text chunks try to retitle and clear the terminal (OSC 0, ED), and a C1 CSI.
evil_png() { # out
	python3 - "$1" <<'PY'
import sys, struct, zlib, json
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
evil = "\x1b]0;PWNED\x07\x1b[2J"
side = {"prompt": "fox " + evil, "seed": 1, "width": 4, "height": 4, "style": "none\x9b2J"}
raw = b"".join(b"\0" + b"\x80\x40\x20" * 4 for _ in range(4))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
png += chunk(b"tEXt", b"parameters\0" + ("castle " + evil + "\nSteps: 3, Seed: 1, Size: 4x4").encode("latin-1"))
png += chunk(b"tEXt", b"imagen\0" + json.dumps(side).encode())
png += chunk(b"tEXt", b"Comment\0" + b"hi\x9b" + b"31m " + evil.encode("latin-1"))
png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
}

test_inspect_escapes_control_characters_but_json_is_exact() {
	evil_png "$HOME/evil.png"
	im -v inspect "$HOME/evil.png"
	expect_rc 0
	# no ESC, BEL or C1 control reaches the terminal, on either stream
	if printf '%s%s' "$OUT" "$ERR" | LC_ALL=C grep -qP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]'; then
		fail "control characters printed: $(printf '%s' "$OUT" | od -c | head)"
	fi
	expect_contains "$OUT" 'fox \x1b]0;PWNED\x07\x1b[2J' "escaped prompt"
	expect_contains "$OUT" 'none\u009b2J' "escaped C1 in the style"
	expect_contains "$OUT" 'castle \x1b]0;PWNED' "escaped parameters text"
	expect_contains "$OUT" 'hi\u009b31m' "escaped other chunk"
	# --json is for machines: the exact text
	im inspect --json "$HOME/evil.png"
	expect_eq "$(jqr "$OUT" .imagen.prompt)" "fox $(printf '\033]0;PWNED\a\033[2J')" "json prompt"
	# a file name is outside text too, in messages as well
	im inspect "$HOME/$(printf 'x\033[2Jy').png"
	expect_rc 1
	expect_eq "$ERR" "imagen: inspect: $HOME/x\x1b[2Jy.png: No such file or directory"
}

test_inspect_rejects_non_png_and_corruption() {
	echo "not png" >"$HOME/x.png"
	im inspect "$HOME/x.png"
	expect_rc 1
	expect_eq "$ERR" "imagen: inspect: $HOME/x.png: not a PNG or an imagen sidecar"
	im generate --seed 1 -W 32 -H 32 -o out "corrupt me"
	head -c 60 "$OUT" >"$HOME/trunc.png"
	im inspect "$HOME/trunc.png"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" "^imagen: inspect: $HOME/trunc.png: truncated PNG" truncated
	im inspect
	expect_rc 2
}

run_tests
