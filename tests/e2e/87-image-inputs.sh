#!/usr/bin/env bash
# Image inputs (--image, --mask, --mask-invert, --strength): the core's checks, the
# sidecar and --from, the mock's blend, and what each upstream's fake received.
. "$(dirname "$0")/lib.sh"

export IMAGEN_HTTP_RETRY_BASE_MS=20

# png_make FILE W H KIND: a PNG written by Python.  KIND: rgb (a gradient), left (grey
# mask, left half white), quarter (grey, top-left quarter white), alpha (RGBA, left half
# transparent), grey (grey gradient), noise (RGB noise: a PNG as large as its pixels).
png_make() {
	"$PY" - "$@" <<'PYEOF'
import os, struct, sys, zlib
path, w, h, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ct, rows = {"rgb": 2, "noise": 2, "alpha": 6}.get(kind, 0), []
for y in range(h):
    r = bytearray()
    for x in range(w):
        if kind == "rgb":
            r += bytes(((x * 255) // max(w - 1, 1), (y * 255) // max(h - 1, 1), 90))
        elif kind == "noise":
            r += os.urandom(3)
        elif kind == "alpha":
            r += bytes((0, 0, 0, 0 if x < w // 2 else 255))
        elif kind == "left":
            r.append(255 if x < w // 2 else 0)
        elif kind == "quarter":
            r.append(255 if x < w // 2 and y < h // 2 else 0)
        else:
            r.append((x * 255) // max(w - 1, 1))
    rows.append(b"\0" + bytes(r))
def ch(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + ch(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ct, 0, 0, 0))
                       + ch(b"IDAT", zlib.compress(b"".join(rows))) + ch(b"IEND", b""))
PYEOF
}

# png_diff A B: "LEFT RIGHT", how many pixels differ in the left and right halves of two
# 8-bit RGB PNGs of the same size (any filter).
png_diff() {
	"$PY" - "$REPO_DIR/tests/fake" "$@" <<'PYEOF'
import sys
sys.path.insert(0, sys.argv.pop(1))
import fakelib
def pixels(path):
    w, h, ch, rows = fakelib.png_pixels(open(path, "rb").read())
    assert ch == 3, ch
    return w, h, rows
w, h, a = pixels(sys.argv[1])
w2, h2, b = pixels(sys.argv[2])
assert (w, h) == (w2, h2), ((w, h), (w2, h2))
left = right = 0
for y in range(h):
    for x in range(w):
        if a[y][x * 3:x * 3 + 3] != b[y][x * 3:x * 3 + 3]:
            if x < w // 2: left += 1
            else: right += 1
print(left, right)
PYEOF
}

# png_text FILE KEY: the tEXt/iTXt chunk KEY of a PNG.
png_text() {
	"$PY" - "$@" <<'PYEOF'
import struct, sys
raw, key = open(sys.argv[1], "rb").read(), sys.argv[2].encode()
pos = 8
while pos < len(raw):
    n, kind = struct.unpack(">I4s", raw[pos:pos + 8])
    d = raw[pos + 8:pos + 8 + n]
    if kind == b"tEXt" and d.split(b"\0", 1)[0] == key:
        print(d.split(b"\0", 1)[1].decode("latin-1"))
    if kind == b"iTXt" and d.split(b"\0", 1)[0] == key:
        print(d.split(b"\0", 1)[1][4:].split(b"\0", 1)[1].decode())
    pos += 12 + n
PYEOF
}

mock_config() {
	write_config "$CFG" <<EOF
defaults:
  backend: mock
backends:
  mock:
    type: mock
EOF
}

expect_empty_dir() {
	[ ! -d "$1" ] || [ -z "$(ls -A "$1")" ] || fail "$1 is not empty: $(ls -A "$1")"
}

requests_to() { # METHOD PATH
	fake_requests | jq --arg m "$1" --arg p "$2" '[.[] | select(.method == $m and .path == $p)] | length'
}

# interrupt_upload PATH [IMAGE]: generate -o out --image IMAGE (a.png) with the fake
# holding POST PATH for 5 s; Ctrl-C once the request arrived: exit 130 (stderr in
# $T_TMP/e).
interrupt_upload() {
	fake_faults "$FAKE_URL" "[{\"match\": \"POST $1\", \"delay_ms\": 5000}]"
	mkdir -p out
	"$IMAGEN" generate --no-preview -o out --image "${2:-a.png}" "x" >"$T_TMP/o" 2>"$T_TMP/e" &
	pid=$!
	for _ in $(seq 1 200); do
		[ "$(requests_to POST "$1")" = 1 ] && break
		sleep 0.02
	done
	kill -INT $pid
	wait $pid
	expect_eq "$?" 130 "exit status"
}

# --- the core and the mock -----------------------------------------------------------

test_mock_img2img_takes_the_input_size_and_records_the_input() {
	mock_config
	png_make in.png 40 30 rgb
	im generate --seed 7 -o out --image in.png "a red fox"
	expect_rc 0
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" '"\(.width)x\(.height)"')" 40x30 "output size"
	expect_eq "$(jqr "$s" '.inputs | length')" 1 inputs
	expect_eq "$(jqr "$s" '.inputs[0] | "\(.role) \(.path) \(.bytes) \(.width)x\(.height)"')" \
		"image in.png $(stat -c %s in.png) 40x30" "input record"
	expect_eq "$(jqr "$s" .inputs[0].sha256)" "$(sha256sum in.png | cut -d' ' -f1)" sha256
	expect_eq "$(jqr "$s" .strength)" 0.6 strength
	# the same inputs in the imagen chunk; A1111's text says the strength as A1111 does
	expect_eq "$(png_text "$OUT" imagen | jq -r .inputs[0].sha256)" "$(jqr "$s" .inputs[0].sha256)" \
		"imagen chunk"
	expect_contains "$(png_text "$OUT" parameters)" "Denoising strength: 0.6" "parameters"
	# strength 0 keeps every pixel of the input; 1 keeps none of it
	im generate --seed 7 -o out0 --strength 0 --image in.png "a red fox"
	expect_rc 0
	expect_eq "$(png_diff in.png "$OUT")" "0 0" "pixels changed at strength 0"
	im generate --seed 7 -o out1 --strength 1 --image in.png "a red fox"
	expect_rc 0
	read -r l r <<<"$(png_diff in.png "$OUT")"
	[ "$((l + r))" -gt 600 ] || fail "strength 1 changed only $l+$r of 1200 pixels"
	# -W/-H override the input's size
	im generate --seed 7 -o out2 -W 64 -H 48 --image in.png "a red fox"
	expect_rc 0
	expect_eq "$(jqr "${OUT%.png}.json" '"\(.width)x\(.height)"')" 64x48 "-W/-H size"
}

test_mock_inpaint_changes_only_the_masked_half() {
	mock_config
	png_make in.png 40 30 rgb
	png_make mask.png 40 30 left
	im generate --seed 7 -o out --strength 1 --image in.png --mask mask.png "a red fox"
	expect_rc 0
	read -r l r <<<"$(png_diff in.png "$OUT")"
	[ "$l" -gt 300 ] || fail "only $l pixels of the masked half changed"
	expect_eq "$r" 0 "pixels changed outside the mask"
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" '[.inputs[].role] | join(",")')" "image,mask" roles
	expect_eq "$(jqr "$s" .mask_invert)" false mask_invert
	# --mask-invert repaints the other half; an alpha mask (transparent = repaint) is
	# the same mask as the white one
	im generate --seed 7 -o inv --strength 1 --image in.png --mask mask.png --mask-invert "a red fox"
	expect_rc 0
	read -r l r <<<"$(png_diff in.png "$OUT")"
	expect_eq "$l" 0 "pixels changed in the kept half (--mask-invert)"
	[ "$r" -gt 300 ] || fail "only $r pixels of the inverted mask's half changed"
	expect_eq "$(jqr "${OUT%.png}.json" .mask_invert)" true mask_invert
	png_make alpha.png 40 30 alpha
	im generate --seed 7 -o alpha --strength 1 --image in.png --mask alpha.png "a red fox"
	expect_rc 0
	expect_eq "$(png_diff "$OUT" "$(ls out/*.png)")" "0 0" "alpha mask against white mask"
}

test_mock_several_inputs_are_blended() {
	mock_config
	png_make a.png 40 30 rgb
	png_make b.png 20 20 rgb
	im generate --seed 7 -o out --strength 0 --image a.png --image b.png "x"
	expect_rc 0
	expect_eq "$(jqr "${OUT%.png}.json" '[.inputs[].path] | join(",")')" "a.png,b.png" paths
	read -r l r <<<"$(png_diff a.png "$OUT")"
	[ "$((l + r))" -gt 0 ] || fail "the second input made no difference"
}

test_each_input_error_is_one_line_and_exit_2() {
	mock_config
	png_make in.png 40 30 rgb
	png_make small.png 20 20 left
	printf 'GIF89a not ours' >gif.png
	head -c 60 in.png >cut.png
	run_bad() { # expected-fragment args...
		local want=$1
		shift
		im generate -o out "$@" "x"
		expect_rc 2
		expect_one_error_line
		expect_contains "$ERR" "$want" "error"
		expect_empty_dir out
	}
	run_bad "--image missing.png: " --image missing.png
	run_bad "--image gif.png: not a PNG, JPEG or WebP" --image gif.png
	run_bad "--image cut.png: truncated PNG" --image cut.png
	run_bad "--mask small.png: 20x20, not the size of --image in.png (40x30)" \
		--image in.png --mask small.png
	run_bad "--mask mask.png needs an --image" --mask mask.png
	run_bad "--strength: expected a number from 0 to 1, got '1.5'" --image in.png --strength 1.5
	run_bad "--strength needs an --image" --strength 0.5
	"$PY" -c "import base64,sys; open('j.jpg','wb').write(base64.b64decode(sys.argv[1]))" \
		"$("$PY" -c "import sys; sys.path.insert(0, '$REPO_DIR/tests/fake'); import fakelib, base64; print(base64.b64encode(fakelib.JPEG_16).decode())")"
	run_bad "--mask j.jpg: a mask must be a PNG (this is image/jpeg)" --image in.png --mask j.jpg
	run_bad "--image j.jpg: the mock backend blends PNG inputs only" --image j.jpg
}

test_from_finds_inputs_by_path_then_by_hash_then_names_the_missing_one() {
	mock_config
	png_make in.png 40 30 rgb
	png_make mask.png 40 30 left
	im generate --seed 9 -o out --strength 0.8 --image in.png --mask mask.png "a red fox"
	expect_rc 0
	first=$OUT
	im generate -o again --from "${first%.png}.json"
	expect_rc 0
	expect_eq "$(png_diff "$first" "$OUT")" "0 0" "pixels of the --from run"
	expect_eq "$(jqr "${OUT%.png}.json" .strength)" 0.8 "strength of the --from run"
	# moved into the output directory: found by its hash
	mkdir -p again/kept
	mv in.png again/kept/renamed.png
	im generate -o again --from "$first"
	expect_rc 0
	expect_eq "$(png_diff "$first" "$OUT")" "0 0" "pixels when found by hash"
	expect_eq "$(jqr "${OUT%.png}.json" .inputs[0].path)" "$HOME/again/kept/renamed.png" "found path"
	# gone: the message names it
	rm again/kept/renamed.png
	im generate -o again --from "$first"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "input image 'in.png' (sha256 " error
	expect_contains "$ERR" "is missing: not at that path" error
	# changed at its path: not silently used
	png_make in.png 40 30 grey
	im generate -o again --from "$first"
	expect_rc 2
	expect_contains "$ERR" "the file at that path has changed" error
}

# --- a1111 ---------------------------------------------------------------------------

a1111_config() {
	write_config "$CFG" <<EOF
defaults:
  backend: sd
backends:
  sd:
    type: a1111
    base_url: $FAKE_URL
EOF
}

img2img_body() {
	fake_requests | jq -c '[.[] | select(.path == "/sdapi/v1/img2img" and .method == "POST")][0].body | fromjson'
}

a1111_inputs_note() {
	fake_requests | jq -c '[.[] | select(.path == "/sdapi/v1/img2img#inputs")][0]'
}

test_a1111_img2img_sends_init_image_and_strength() {
	fake_start a1111
	a1111_config
	png_make in.png 61 45 rgb
	im generate --seed 5 -o out --strength 0.35 --image in.png "a red fox"
	expect_rc 0
	expect_eq "$(requests_to POST /sdapi/v1/txt2img)" 0 "txt2img requests"
	b=$(img2img_body)
	expect_eq "$(jqr "$b" '.init_images | length')" 1 "init images"
	expect_eq "$(jqr "$b" .init_images[0] | base64 -d | sha256sum | cut -d' ' -f1)" \
		"$(sha256sum in.png | cut -d' ' -f1)" "init image bytes"
	expect_eq "$(jqr "$b" .denoising_strength)" 0.35 denoising_strength
	# 61x45 rounded to A1111's 8-pixel blocks
	expect_eq "$(jqr "$b" '"\(.width)x\(.height)"')" 64x48 size
	expect_eq "$(jqr "$b" 'has("mask")')" false "mask without --mask"
	expect_eq "$(jqr "$b" .seed)" 5 seed
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .strength)" 0.35 strength
	expect_eq "$(jqr "$s" .inputs[0].path)" in.png path
}

test_a1111_inpaint_sends_a_white_is_repaint_mask() {
	fake_start a1111
	a1111_config
	png_make in.png 64 48 rgb
	png_make mask.png 64 48 alpha # transparent = repaint: converted to white = repaint
	im generate --seed 5 -o out --image in.png --mask mask.png "a red fox"
	expect_rc 0
	b=$(img2img_body)
	expect_eq "$(jqr "$b" '"\(.mask_blur) \(.inpainting_fill) \(.inpaint_full_res)"')" \
		"4 1 false" "mask settings"
	expect_eq "$(jqr "$b" .denoising_strength)" 0.6 "default strength"
	n=$(a1111_inputs_note)
	expect_eq "$(jqr "$n" '[.decoded[] | "\(.role):\(.format):\(.width)x\(.height)"] | join(" ")')" \
		"image:png:64x48 mask:png:64x48" "what the fake decoded"
	expect_eq "$(jqr "$n" .mask_white)" 0.5 "white share of the mask"
	expect_contains "$(png_text "$OUT" parameters)" "Denoising strength: 0.6, Mask blur: 4" parameters
	# --mask-invert with a quarter mask: three quarters white
	png_make q.png 64 48 quarter
	curl -s -X POST "$FAKE_URL/_fake/reset" >/dev/null
	im generate --seed 5 -o out --image in.png --mask q.png --mask-invert --set mask_blur=8 "x"
	expect_rc 0
	expect_eq "$(jqr "$(a1111_inputs_note)" .mask_white)" 0.75 "white share, inverted"
	expect_eq "$(jqr "$(img2img_body)" .mask_blur)" 8 "mask_blur option"
}

test_a1111_refuses_two_images_before_any_request() {
	fake_start a1111
	a1111_config
	png_make a.png 64 48 rgb
	cp a.png b.png
	im generate -o out --image a.png --image b.png "x"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "--image b.png: the a1111 backend takes one input image" error
	expect_eq "$(fake_requests | jq length)" 0 requests
}

test_a1111_ctrl_c_during_img2img_interrupts() {
	fake_start a1111 --gen-ms 5000
	a1111_config
	png_make in.png 64 48 rgb
	mkdir -p out
	cat >"$T_TMP/run.sh" <<EOF
"$IMAGEN" generate --no-preview --seed 4 --image "$HOME/in.png" -o "$HOME/out" "never finished" &
echo \$! >"$T_TMP/pid"
wait \$!
echo "rc=\$?"
EOF
	SHELL=/bin/bash script -qefc "bash $T_TMP/run.sh" /dev/null >"$T_TMP/tty" 2>&1 &
	spid=$!
	for _ in $(seq 1 200); do
		[ "$(requests_to GET /sdapi/v1/progress)" -ge 1 ] && break
		sleep 0.02
	done
	[ "$(requests_to POST /sdapi/v1/img2img)" = 1 ] || fail "no img2img request before Ctrl-C"
	kill -INT "$(cat "$T_TMP/pid")"
	wait $spid
	tty_out=$(tr -d '\r' <"$T_TMP/tty")
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$tty_out"; then
		fail "sanitizer finding: $tty_out"
	fi
	expect_contains "$tty_out" "rc=130" "exit status"
	expect_eq "$(requests_to POST /sdapi/v1/interrupt)" 1 "interrupt requests"
	expect_empty_dir out
}

# --- openai --------------------------------------------------------------------------

oa_config() { # MODEL
	export OPENAI_API_KEY="sk-test-inputs"
	printf 'defaults:\n  backend: oa\nbackends:\n  oa:\n    type: openai\n    model: %s\n    base_url: %s/v1\n' \
		"$1" "$FAKE_URL" | write_config "$CFG"
}

oa_parts() {
	fake_requests | jq -c '[.[] | select(.path == "/v1/images/edits#parts")][0]'
}

test_openai_edit_sends_multipart_images_and_an_alpha_mask() {
	fake_start openai
	oa_config gpt-image-1
	png_make a.png 300 200 rgb
	png_make b.png 64 64 rgb
	png_make mask.png 300 200 left # white = repaint: becomes alpha 0 for OpenAI
	im generate -o out --image a.png --image b.png --mask mask.png "a red fox"
	expect_rc 0
	expect_eq "$(requests_to POST /v1/images/edits)" 1 "edit requests"
	expect_eq "$(requests_to POST /v1/images/generations)" 0 "generation requests"
	n=$(oa_parts)
	expect_eq "$(jqr "$n" '[.parts[] | select(.filename == null) | .name] | join(",")')" \
		"model,prompt,n,size" "text parts"
	expect_eq "$(jqr "$n" '[.parts[] | select(.filename != null) | "\(.name)=\(.filename):\(.type):\(.bytes)"] | join(" ")')" \
		"image[]=image-1.png:image/png:$(stat -c %s a.png) image[]=image-2.png:image/png:$(stat -c %s b.png) mask=mask.png:image/png:$(jqr "$n" '.parts[-1].bytes')" \
		"file parts"
	expect_eq "$(jqr "$n" '.parts[-1] | "\(.width)x\(.height)"')" 300x200 "mask size"
	expect_eq "$(jqr "$n" .mask_transparent)" 0.5 "transparent share of the mask"
	# 300x200 (3:2) takes the GPT size of that shape
	expect_eq "$(jqr "$n" '[.parts[] | select(.filename == null) | .value] | join(",")')" \
		"gpt-image-1,a red fox,1,1536x1024" "text part values"
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .strength)" null "strength of an upstream that takes none"
	expect_eq "$(jqr "$s" '.inputs | length')" 3 "inputs recorded"
	expect_not_contains "$(png_text "$OUT" parameters)" "Denoising strength" parameters
}

test_openai_dalle2_takes_one_square_png() {
	fake_start openai
	oa_config dall-e-2
	png_make sq.png 64 64 rgb
	png_make wide.png 64 32 rgb
	im generate -o out --image wide.png "x"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "--image wide.png: dall-e-2 takes a square image (this is 64x32)" error
	im generate -o out --image sq.png --image sq.png "x"
	expect_rc 2
	expect_contains "$ERR" "dall-e-2 edits one image" error
	expect_eq "$(fake_requests | jq length)" 0 "requests before the refusals"
	im generate -o out --image sq.png "x"
	expect_rc 0
	expect_eq "$(jqr "$(oa_parts)" '[.parts[] | select(.filename != null) | .name] | join(",")')" \
		image "one image part"
	oa_config dall-e-3
	im generate -o out --image sq.png "x"
	expect_rc 2
	expect_contains "$ERR" "model dall-e-3 takes no image input" error
}

test_openai_edit_is_not_sent_twice_after_it_may_have_arrived() {
	fake_start openai
	oa_config gpt-image-1
	png_make a.png 64 64 rgb
	fake_faults "$FAKE_URL" '[{"match": "POST /v1/images/edits", "hang_up": true}]'
	im generate -o out --image a.png "x"
	expect_rc 1
	expect_eq "$(requests_to POST /v1/images/edits)" 1 "edit requests"
	expect_contains "$ERR" "POST /v1/images/edits" error
}

test_openai_ctrl_c_during_the_upload_exits_130() {
	fake_start openai
	oa_config gpt-image-1
	png_make a.png 64 64 rgb
	interrupt_upload /v1/images/edits
	expect_contains "$(cat "$T_TMP/e")" "interrupted" stderr
	expect_eq "$(requests_to POST /v1/images/edits)" 1 "edit requests"
	expect_empty_dir out
}

# --- comfyui -------------------------------------------------------------------------

cf_config() { # [EXTRA-YAML-LINES]
	write_config "$CFG" <<EOF
defaults:
  backend: local
backends:
  local:
    type: comfyui
    base_url: $FAKE_URL
${1-    model: sd15.safetensors}
EOF
}

cf_uploads() { # [PATH]: the fake's notes of the uploaded files
	fake_requests | jq -c --arg p "${1:-/upload/image#file}" '[.[] | select(.path == $p)]'
}

cf_graph() { # the graph of the first POST /prompt
	fake_requests | jq -c '[.[] | select(.method == "POST" and .path == "/prompt")][0].body | fromjson | .prompt'
}

test_comfyui_img2img_uploads_the_input_and_wires_the_builtin_graph() {
	fake_start comfyui
	cf_config
	png_make in.png 61 45 rgb
	sha=$(sha256sum in.png | cut -d' ' -f1)
	im generate --seed 5 -o out --strength 0.35 --image in.png "a red fox"
	expect_rc 0
	u=$(cf_uploads)
	expect_eq "$(jqr "$u" 'length')" 1 uploads
	expect_eq "$(jqr "$u" '.[0] | "\(.name) \(.part_type) \(.bytes) \(.sha256) \(.type) \(.overwrite)"')" \
		"imagen-$sha.png image/png $(stat -c %s in.png) $sha input true" "upload"
	g=$(cf_graph)
	expect_eq "$(jqr "$g" '.["10"] | "\(.class_type) \(.inputs.image)"')" "LoadImage imagen-$sha.png" LoadImage
	# 61x45 rounded to 8-pixel blocks by an ImageScale, encoded, sampled at the strength
	expect_eq "$(jqr "$g" '.["11"] | "\(.class_type) \(.inputs.image) \(.inputs.width)x\(.inputs.height)"')" \
		'ImageScale ["10",0] 64x48' ImageScale
	expect_eq "$(jqr "$g" '.["5"] | "\(.class_type) \(.inputs.pixels) \(.inputs.vae)"')" \
		'VAEEncode ["11",0] ["4",2]' VAEEncode
	expect_eq "$(jqr "$g" '.["3"].inputs | "\(.latent_image) \(.denoise) \(.seed)"')" '["5",0] 0.35 5' KSampler
	expect_eq "$(jqr "$g" '[.[] | select(.class_type == "EmptyLatentImage")] | length')" 0 "empty latents"
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" '"\(.width)x\(.height) \(.strength) \(.metadata.uploads.image)"')" \
		"64x48 0.35 imagen-$sha.png" sidecar
	# the same input again: the same name, overwritten with the same bytes
	im generate --seed 6 -o out --image in.png "a red fox"
	expect_rc 0
	expect_eq "$(jqr "$(cf_uploads)" '[.[].name] | unique | length')" 1 "names of two uploads"
}

test_comfyui_inpaint_uploads_a_white_is_repaint_mask() {
	fake_start comfyui
	cf_config
	png_make in.png 64 48 rgb
	png_make mask.png 64 48 alpha # transparent = repaint: converted to white = repaint
	im generate --seed 5 -o out --image in.png --mask mask.png "a red fox"
	expect_rc 0
	u=$(cf_uploads)
	expect_eq "$(jqr "$u" 'length')" 2 uploads
	m=$(jqr "$u" '.[1]')
	expect_match "$(jqr "$m" .name)" '^imagen-mask-[0-9a-f]{64}\.png$' "mask name"
	expect_eq "$(jqr "$m" '"\(.width)x\(.height) \(.white)"')" "64x48 0.5" "mask upload"
	g=$(cf_graph)
	expect_eq "$(jqr "$g" '.["12"] | "\(.class_type) \(.inputs.image) \(.inputs.channel)"')" \
		"LoadImageMask $(jqr "$m" .name) red" LoadImageMask
	# strength below 1: the content under the mask is the start (SetLatentNoiseMask)
	expect_eq "$(jqr "$g" '.["13"] | "\(.class_type) \(.inputs.samples) \(.inputs.mask)"')" \
		'SetLatentNoiseMask ["5",0] ["12",0]' SetLatentNoiseMask
	expect_eq "$(jqr "$g" '.["3"].inputs | "\(.latent_image) \(.denoise)"')" '["13",0] 0.6' KSampler
	# strength 1: VAEEncodeForInpaint fills the masked part
	curl -s -X POST "$FAKE_URL/_fake/reset" >/dev/null
	im generate --seed 5 -o out --strength 1 --image in.png --mask mask.png --mask-invert "a red fox"
	expect_rc 0
	g=$(cf_graph)
	expect_eq "$(jqr "$g" '.["5"] | "\(.class_type) \(.inputs.pixels) \(.inputs.mask) \(.inputs.grow_mask_by)"')" \
		'VAEEncodeForInpaint ["11",0] ["12",0] 6' VAEEncodeForInpaint
	expect_eq "$(jqr "$g" '.["3"].inputs | "\(.latent_image) \(.denoise)"')" '["5",0] 1' "KSampler at strength 1"
	expect_eq "$(jqr "$(cf_uploads)" '.[1].white')" 0.5 "inverted mask's white share"
}

# cf_workflow FILE [two]: a user's img2img workflow (one LoadImage feeding a VAEEncode,
# a KSampler with denoise); with "two", a second LoadImage (node 30) wired to nothing.
cf_workflow() {
	local extra=""
	[ -n "${2-}" ] && extra=', "30": {"class_type": "LoadImage", "inputs": {"image": "other.png"}}'
	cat >"$1" <<EOF
{"3": {"class_type": "KSampler", "inputs": {"seed": 0, "steps": 8, "cfg": 7, "sampler_name": "euler",
   "scheduler": "normal", "denoise": 0.5, "model": ["4", 0], "positive": ["6", 0],
   "negative": ["7", 0], "latent_image": ["21", 0]}},
 "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
 "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
 "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
 "20": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
 "21": {"class_type": "VAEEncode", "inputs": {"pixels": ["20", 0], "vae": ["4", 2]}},
 "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
 "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "wf", "images": ["8", 0]}}$extra}
EOF
}

test_comfyui_user_workflow_gets_the_input_in_its_one_loadimage() {
	fake_start comfyui
	cf_workflow wf.json
	cf_config "    workflow: $HOME/wf.json"
	png_make in.png 40 32 rgb
	sha=$(sha256sum in.png | cut -d' ' -f1)
	im generate --seed 5 -o out --strength 0.7 --image in.png "a red fox"
	expect_rc 0
	g=$(cf_graph)
	expect_eq "$(jqr "$g" '.["20"].inputs.image')" "imagen-$sha.png" "LoadImage image"
	expect_eq "$(jqr "$g" '.["3"].inputs.denoise')" 0.7 denoise
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" '.metadata.params | "\(.image) \(.strength)"')" \
		"20.inputs.image 3.inputs.denoise" "recorded params"
	expect_eq "$(jqr "$s" '"\(.width)x\(.height) \(.strength)"')" "40x32 0.7" sidecar
	# a mask has no place in it: refused before any request
	png_make mask.png 40 32 left
	curl -s -X POST "$FAKE_URL/_fake/reset" >/dev/null
	im generate -o out --image in.png --mask mask.png "x"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "--mask mask.png: the workflow $HOME/wf.json has no LoadImageMask node to take it (set backends.local.params.mask)" error
	expect_eq "$(fake_requests | jq length)" 0 requests
}

test_comfyui_two_loadimage_nodes_are_refused_until_params_says_which() {
	fake_start comfyui
	cf_workflow wf.json two
	cf_config "    workflow: $HOME/wf.json"
	png_make in.png 40 32 rgb
	im generate -o out --image in.png "x"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "--image in.png: the workflow $HOME/wf.json has 2 LoadImage nodes (20, 30): say which one takes the input with backends.local.params.image" error
	expect_eq "$(fake_requests | jq length)" 0 requests
	# named: the input goes there (node 20 keeps its file, which the server lacks)
	cf_config "    workflow: $HOME/wf.json
    params: {image: \"30.inputs.image\", strength: null}"
	im generate -o out --image in.png "x"
	expect_rc 1
	expect_contains "$ERR" "Invalid image file: example.png" error
	g=$(cf_graph)
	expect_eq "$(jqr "$g" '.["30"].inputs.image')" "imagen-$(sha256sum in.png | cut -d' ' -f1).png" "node 30"
	expect_eq "$(jqr "$g" '.["3"].inputs.denoise')" 0.5 "denoise without a strength place"
}

test_comfyui_refuses_two_images_and_a_failed_upload_queues_nothing() {
	fake_start comfyui
	cf_config
	png_make a.png 64 48 rgb
	cp a.png b.png
	im generate -o out --image a.png --image b.png "x"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "--image b.png: the comfyui backend takes one input image" error
	expect_eq "$(fake_requests | jq length)" 0 requests
	# the upload is idempotent (its name is its hash): a 503 is retried, then it goes on
	fake_faults "$FAKE_URL" '[{"match": "POST /upload/image", "status": 503}]'
	im generate -o out --image a.png "x"
	expect_rc 0
	expect_eq "$(requests_to POST /upload/image)" 2 "upload attempts"
	curl -s -X POST "$FAKE_URL/_fake/reset" >/dev/null
	fake_faults "$FAKE_URL" '[{"match": "POST /upload/image", "status": 400}]'
	im generate -o out2 --image a.png "x"
	expect_rc 1
	expect_contains "$ERR" "POST /upload/image: HTTP 400" error
	expect_eq "$(requests_to POST /prompt)" 0 "prompts after a failed upload"
	expect_empty_dir out2
}

test_comfyui_ctrl_c_during_the_upload_exits_130() {
	fake_start comfyui
	cf_config
	png_make a.png 64 48 rgb
	interrupt_upload /upload/image
	expect_eq "$(requests_to POST /prompt)" 0 prompts
	expect_empty_dir out
}

# --- replicate -----------------------------------------------------------------------

rp_config() { # [EXTRA-YAML-LINES]
	export REPLICATE_API_TOKEN="r8_test_inputs"
	write_config "$CFG" <<EOF
defaults:
  backend: rp
backends:
  rp:
    type: replicate
    model: acme/sd-img2img:0123abcd
    base_url: $FAKE_URL/v1
    poll_ms: 20
${1-}
EOF
}

rp_inputs_note() {
	fake_requests | jq -c '[.[] | select(.path == "/predictions#inputs")][0].inputs'
}

rp_input() { # the input object of the first prediction
	fake_requests | jq -c '[.[] | select(.method == "POST" and .path == "/v1/predictions")][0].body | fromjson | .input'
}

test_replicate_small_inputs_go_as_data_uris() {
	fake_start replicate
	rp_config
	png_make in.png 62 45 rgb
	png_make mask.png 62 45 alpha
	im generate --seed 5 -o out --strength 0.35 --image in.png --mask mask.png "a red fox"
	expect_rc 0
	expect_eq "$(requests_to POST /v1/files)" 0 "Files API uploads"
	n=$(rp_inputs_note)
	expect_eq "$(jqr "$n" '.image | "\(.kind) \(.type) \(.bytes) \(.sha256)"')" \
		"data image/png $(stat -c %s in.png) $(sha256sum in.png | cut -d' ' -f1)" image
	expect_eq "$(jqr "$n" '.mask | "\(.kind) \(.width)x\(.height) \(.white)"')" "data 62x45 0.5" "mask (white = repaint)"
	i=$(rp_input)
	expect_eq "$(jqr "$i" '"\(.prompt_strength) \(.width)x\(.height) \(.seed)"')" "0.35 64x48 5" "input fields"
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .strength)" 0.35 strength
	expect_match "$(jqr "$s" .metadata.input.image)" '^data:image/png;base64,\.\.\. \([0-9]+ characters\)$' "recorded input"
}

test_replicate_large_input_goes_through_the_files_api() {
	fake_start replicate
	rp_config
	png_make big.png 320 320 noise
	[ "$(stat -c %s big.png)" -gt 262144 ] || fail "big.png is only $(stat -c %s big.png) bytes"
	im generate --seed 5 -o out --image big.png "a red fox"
	expect_rc 0
	f=$(fake_requests | jq -c '[.[] | select(.path == "/v1/files#file")]')
	expect_eq "$(jqr "$f" length)" 1 uploads
	expect_eq "$(jqr "$f" '.[0] | "\(.type) \(.bytes) \(.sha256)"')" \
		"image/png $(stat -c %s big.png) $(sha256sum big.png | cut -d' ' -f1)" upload
	expect_match "$(jqr "$f" '.[0].filename')" '^image-[0-9a-f]{16}\.png$' "upload filename"
	expect_eq "$(jqr "$(rp_inputs_note)" '.image | "\(.kind) \(.sha256)"')" \
		"file $(sha256sum big.png | cut -d' ' -f1)" "image by URL"
	expect_match "$(jqr "$(rp_input)" .image)" "^$FAKE_URL/v1/files/file[0-9]+$" "image URL"
	expect_eq "$(jqr "$(rp_input)" .prompt_strength)" 0.6 "default strength"
}

test_replicate_input_map_names_the_model_fields() {
	fake_start replicate
	rp_config "    input_map: {image: input_image, strength: null}"
	png_make in.png 64 48 rgb
	im generate -o out --image in.png "a red fox"
	expect_rc 0
	i=$(rp_input)
	expect_eq "$(jqr "$i" '[has("input_image"), has("image"), has("prompt_strength")] | map(tostring) | join(" ")')" \
		"true false false" "fields sent"
	expect_eq "$(jqr "$(rp_inputs_note)" '.input_image.kind')" data "input_image"
	expect_eq "$(jqr "${OUT%.png}.json" .strength)" null "strength of a model that takes none"
	# no mask field: refused before any request
	png_make mask.png 64 48 left
	curl -s -X POST "$FAKE_URL/_fake/reset" >/dev/null
	rp_config "    input_map: {mask: null}"
	im generate -o out --image in.png --mask mask.png "x"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "--mask mask.png: backends.rp.input_map.mask is null (the model takes no mask)" error
	expect_eq "$(fake_requests | jq length)" 0 requests
	rp_config "    input_map: {imag: x}"
	im generate -o out --image in.png "x"
	expect_rc 2
	expect_contains "$ERR" "backends.rp.input_map: unknown key 'imag' (did you mean 'image'?)" error
}

test_replicate_ctrl_c_during_the_files_upload_creates_no_prediction() {
	fake_start replicate
	rp_config
	png_make big.png 320 320 noise
	interrupt_upload /v1/files big.png
	expect_eq "$(requests_to POST /v1/predictions)" 0 predictions
	expect_empty_dir out
}

# --- the catalog: parents and inputs that moved ----------------------------------------

test_from_finds_a_moved_input_through_the_catalog_and_search_finds_children() {
	mock_config
	mkdir -p photos
	png_make photos/in.png 40 30 rgb
	im generate --seed 9 -o out --strength 0.8 --image photos/in.png "a red fox"
	expect_rc 0
	first=$OUT
	im generate --seed 3 -o out "unrelated"
	expect_rc 0
	# parent:FILE lists what was made from it, by content
	im search parent:photos/in.png --paths
	expect_rc 0
	expect_eq "$OUT" "$first" "children of photos/in.png"
	cp photos/in.png copy.png
	im search parent:copy.png --paths
	expect_eq "$OUT" "$first" "children of a copy"
	im search -- -parent:copy.png --paths
	expect_not_contains "$OUT" "$first" "negated parent:"
	im search parent:nothere.png
	expect_rc 2
	expect_contains "$ERR" "parent:nothere.png" error
	# moved out of sight of its path and the output directory, then indexed there
	mkdir -p archive
	mv photos/in.png archive/kept.png
	rm copy.png
	im generate -o again --from "${first%.png}.json"
	expect_rc 2
	expect_contains "$ERR" "is missing: not at that path, and no file in $HOME/again or the catalog has its content" "before indexing"
	im index -q archive
	expect_rc 0
	im generate -o again --from "${first%.png}.json"
	expect_rc 0
	expect_eq "$(png_diff "$first" "$OUT")" "0 0" "pixels of the --from run"
	expect_eq "$(jqr "${OUT%.png}.json" .inputs[0].path)" "$HOME/archive/kept.png" "found path"
	# the new image's parent is the same content
	im search parent:archive/kept.png --paths
	expect_eq "$(printf '%s\n' "$OUT" | wc -l)" 2 "children after the --from run"
}

run_tests
