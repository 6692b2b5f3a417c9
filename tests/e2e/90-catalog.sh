#!/usr/bin/env bash
# The catalog end to end: generate writes every image into it, search/ls/stats/tag/rate
# read and change it, index finds images other tools made (written here with Python's
# PIL) and follows moved, renamed and deleted files, concurrent writers never fail, and
# a damaged catalog is reported and rebuilt.
. "$(dirname "$0")/lib.sh"

DB() { echo "$HOME/.local/share/imagen/catalog.db"; }

# gen SEED PROMPT...: one mock image into out/; sets F.
gen() {
	local seed=$1
	shift
	im generate -q -o out --seed "$seed" "$@"
	expect_rc 0
	F=$OUT
}

test_generate_writes_the_catalog_and_search_finds_it() {
	gen 42 "a red fox in the snow"
	fox=$F
	gen 150 "a red barn at dusk"
	gen 7 "a cafe in Paris"
	expect_file "$(DB)"
	im search "red fox" seed:1..1000 --paths
	expect_rc 0
	expect_eq "$OUT" "$fox" "search red fox --paths"
	im search red --json
	expect_rc 0
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 2 "two red images"
	# the sidecar's field names, plus path
	expect_eq "$(jqr "$(head -n 1 <<<"$OUT")" '[.prompt, .seed, .backend, .model, .format] | @tsv')" \
		"$(printf 'a red barn at dusk\t150\tmock\timagen-mock-1\tpng')" "--json record"
	# -word excludes, with or without -- before it
	im search red -fox --paths
	expect_rc 0
	expect_contains "$OUT" "a-red-barn-at-dusk"
	expect_not_contains "$OUT" "fox"
	im search -- -red
	expect_rc 0
	expect_contains "$OUT" "a cafe in Paris"
	expect_not_contains "$OUT" "fox"
	im search seed:42 -0
	expect_eq "$(printf '%s' "$OUT" | tr '\0' '\n')" "$fox" "-0"
	im search "model:imagen*" today --paths --sort seed --limit 2
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 2 "--limit 2"
	expect_contains "$(head -n 1 <<<"$OUT")" "-7.png" "--sort seed"
	im search zebra
	expect_rc 1
	expect_eq "$OUT" "" "no match prints nothing"
	im ls -n 1 --paths
	expect_rc 0
	expect_contains "$OUT" "cafe-in-paris"
	im ls
	expect_contains "$OUT" "a red fox in the snow"
	expect_contains "$OUT" "mock"
}

test_query_errors_name_their_column() {
	gen 1 "a lighthouse"
	im search red sed:42
	expect_rc 2
	expect_one_error_line
	expect_eq "$ERR" "imagen: search: column 5: unknown filter 'sed' (did you mean 'seed'?)"
	im search seed:200..100
	expect_rc 2
	expect_contains "$ERR" "column 6: seed: the range 200..100 is empty"
	im search since:2026-13-01
	expect_rc 2
	expect_contains "$ERR" "column 7:"
	im search 'tag:"open'
	expect_rc 2
	expect_contains "$ERR" "unterminated quote"
	im search
	expect_rc 2
	im search --sort size fox
	expect_rc 2
	expect_one_error_line
}

test_no_catalog_yet_says_index() {
	im search fox
	expect_rc 1
	expect_one_error_line
	expect_contains "$ERR" "no catalog yet"
	expect_contains "$ERR" "imagen index"
	im stats
	expect_rc 1
	im index
	expect_rc 0
	expect_contains "$ERR" "does not exist yet"
}

# Images other tools make, written by a second PNG/JPEG/WebP writer (PIL).
make_foreign() {
	"$PY" - "$1" <<'EOF' || fail "PIL could not write the foreign images"
import io, json, struct, sys
from PIL import Image, PngImagePlugin
d = sys.argv[1]
a1111 = ("a red fox in a foreign land\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
         "CFG scale: 7, Seed: 4242, Size: 64x48, Model: sd15")
comfy = {"3": {"class_type": "KSampler", "inputs": {"seed": 31337, "steps": 12, "cfg": 6,
         "sampler_name": "euler", "scheduler": "normal", "denoise": 1, "model": ["4", 0],
         "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
         "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8.safetensors"}},
         "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
         "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a glass bottle on a beach", "clip": ["4", 1]}},
         "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark", "clip": ["4", 1]}}}
invoke = {"positive_prompt": "an invoked castle", "negative_prompt": "fog", "seed": 808,
          "steps": 30, "cfg_scale": 7.5, "scheduler": "euler", "width": 64, "height": 64,
          "model": {"name": "juggernaut-xl"}}
nai = {"prompt": "a novel lighthouse", "uc": "lowres", "steps": 28, "scale": 5.0, "seed": 909,
       "sampler": "k_euler", "width": 64, "height": 64}
def png(name, texts, size=(64, 48)):
    info = PngImagePlugin.PngInfo()
    for k, v in texts:
        info.add_text(k, v)
    Image.new("RGB", size, (200, 30, 30)).save(d + "/" + name, "PNG", pnginfo=info)
png("a1111.png", [("parameters", a1111)])
png("comfy.png", [("prompt", json.dumps(comfy)), ("workflow", "{}")])
png("invoke.png", [("invokeai_metadata", json.dumps(invoke))])
png("nai.png", [("Software", "NovelAI"), ("Source", "NovelAI Diffusion V3"), ("Comment", json.dumps(nai))])
png("plain.png", [])
# EXIF with an ExifIFD holding UserComment, "UNICODE" + UTF-16BE as A1111 (piexif) writes it
def exif(comment):
    uc = b"UNICODE\0" + comment.encode("utf-16-be")
    ifd0, sub = 8, 8 + 2 + 12 + 4
    t = b"II*\0" + struct.pack("<I", ifd0)
    t += struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, sub) + struct.pack("<I", 0)
    t += struct.pack("<H", 1) + struct.pack("<HHII", 0x9286, 7, len(uc), sub + 18) + struct.pack("<I", 0)
    return b"Exif\0\0" + t + uc
jpeg_text = "a jpeg heron at dawn\nSteps: 8, Seed: 5150, Size: 80x60, Model: sdxl-turbo"
Image.new("RGB", (80, 60), (10, 90, 200)).save(d + "/heron.jpg", "JPEG", exif=exif(jpeg_text))
webp_text = "a webp otter\nSteps: 9, Seed: 6160, Size: 40x30, Model: sdxl-turbo"
Image.new("RGB", (40, 30), (10, 200, 90)).save(d + "/otter.webp", "WEBP", exif=exif(webp_text))
EOF
}

test_index_reads_what_other_tools_wrote() {
	mkdir -p lib/sub
	make_foreign lib
	mv lib/comfy.png lib/sub/
	gen 1 "one of ours" -o lib
	im index --json lib
	expect_rc 0
	# ours was catalogued when it was made: unchanged
	expect_eq "$(jqr "$OUT" '[.files, .added, .unchanged, .unreadable] | @tsv')" \
		"$(printf '8\t7\t1\t0')" "index counts"
	im search foreign land source:a1111 seed:4242 neg:blurry model:sd15 --paths
	expect_eq "$OUT" "$PWD/lib/a1111.png" "A1111 PNG"
	im search bottle source:comfyui seed:31337 sampler:euler model:dreamshaper* cfg:6 --paths
	expect_eq "$OUT" "$PWD/lib/sub/comfy.png" "ComfyUI PNG"
	im search castle source:invokeai seed:808 model:juggernaut* --paths
	expect_eq "$OUT" "$PWD/lib/invoke.png" "InvokeAI PNG"
	im search lighthouse source:novelai seed:909 neg:lowres --paths
	expect_eq "$OUT" "$PWD/lib/nai.png" "NovelAI PNG"
	im search heron format:jpg seed:5150 size:80x60 --paths
	expect_eq "$OUT" "$PWD/lib/heron.jpg" "A1111 text in a JPEG's EXIF"
	im search otter format:webp size:40x30 --paths
	expect_eq "$OUT" "$PWD/lib/otter.webp" "A1111 text in a WebP's EXIF"
	im search source:none --paths
	expect_eq "$OUT" "$PWD/lib/plain.png" "an image without metadata is catalogued too"
	im search source:imagen --paths
	expect_contains "$OUT" "one-of-ours"
	im stats --json
	expect_eq "$(jqr "$OUT" .images)" 8 "stats"
}

test_moved_renamed_and_deleted_files() {
	mkdir -p lib
	gen 11 "a moving fox" -o lib
	moving=$F
	gen 12 "a doomed barn" -o lib
	doomed=$F
	im index -q lib
	im tag "$moving" +keeper
	expect_rc 0
	im rate "$moving" 5
	expect_rc 0
	mkdir -p lib/elsewhere
	mv "$moving" lib/elsewhere/renamed.png
	im index --json lib
	expect_eq "$(jqr "$OUT" '[.moved, .added, .missing] | @tsv')" "$(printf '1\t0\t0')" "moved"
	im search tag:keeper rating:5 --paths
	expect_eq "$OUT" "$PWD/lib/elsewhere/renamed.png" "tags and rating follow the file"
	rm "$doomed"
	im index --json lib
	expect_eq "$(jqr "$OUT" .missing)" 1 "missing"
	im search missing:yes --paths
	expect_eq "$OUT" "$doomed"
	im ls
	expect_contains "$OUT" "(missing)"
	im index --prune --json lib
	expect_eq "$(jqr "$OUT" .pruned)" 1 "pruned"
	im search missing:yes
	expect_rc 1
	# unchanged files are not read again
	im index --json lib
	expect_eq "$(jqr "$OUT" '[.unchanged, .added, .updated] | @tsv')" "$(printf '1\t0\t0')"
}

test_tag_rate_inspect_stats() {
	gen 21 "a tagged heron"
	h=$F
	gen 22 "an untagged crane"
	im tag "$h" +fav +night
	expect_rc 0
	expect_eq "$OUT" "$h: fav night"
	im tag "$h" -night
	expect_eq "$OUT" "$h: fav"
	im tag "$h" +"bad tag"
	expect_rc 2
	im tag
	expect_contains "$OUT" "fav"
	im rate "$h" 4
	expect_rc 0
	im rate "$h" 9
	expect_rc 2
	im search tag:fav 'rating>=4' --paths
	expect_eq "$OUT" "$h"
	im search fav --paths
	expect_eq "$OUT" "$h" "tags are words too"
	im inspect "$h"
	expect_contains "$OUT" "tags             fav"
	expect_contains "$OUT" "rating           4"
	im inspect --json "$h"
	expect_eq "$(jqr "$OUT" '.catalog.tags[0]')" fav
	im stats
	expect_rc 0
	expect_contains "$OUT" "2 images"
	expect_match "$OUT" "mock +2"
	im stats --json --by day seed:21
	expect_eq "$(jqr "$OUT" '[.images, (.by_day | length), .by_backend[0].backend] | @tsv')" \
		"$(printf '1\t1\tmock')"
}

test_concurrent_writers_never_fail() {
	local i pids=()
	# eight processes at once (a batch at concurrency 8 writes the same way, one
	# transaction per image), into a catalog none of them has created yet
	for i in 1 2 3 4 5 6 7 8; do
		"$IMAGEN" generate -o out --seed $((i * 100)) --count 3 "racing image $i" \
			>"$T_TMP/out.$i" 2>"$T_TMP/err.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || fail "a generate failed"; done
	for i in 1 2 3 4 5 6 7 8; do
		[ ! -s "$T_TMP/err.$i" ] || fail "writer $i said: $(cat "$T_TMP/err.$i")"
	done
	im search racing image --paths
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 24 "every image catalogued"
	# and an index walking the same folder meanwhile
	"$IMAGEN" generate -o out --count 5 "late runner" 2>"$T_TMP/err.gen" >/dev/null &
	i=$!
	im index -q out
	expect_rc 0
	wait "$i" || fail "generate failed beside index"
	[ ! -s "$T_TMP/err.gen" ] || fail "generate beside index said: $(cat "$T_TMP/err.gen")"
	im search late runner --paths
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 5
}

test_damaged_catalog_is_reported_and_rebuilt() {
	gen 31 "a survivor"
	im tag "$F" +kept
	printf 'this is not a database, it is a damaged catalog..........' >"$(DB)"
	rm -f "$(DB)-wal" "$(DB)-shm"
	im search survivor
	expect_rc 1
	expect_one_error_line
	expect_contains "$ERR" "is damaged"
	expect_contains "$ERR" "imagen index --rebuild"
	# generating still works: the image is kept, one warning line
	im generate -o out --seed 32 "a newcomer"
	expect_rc 0
	expect_file "$OUT"
	expect_one_error_line
	expect_contains "$ERR" "warning: catalog:"
	im index --rebuild out
	expect_rc 0
	expect_contains "$ERR" "kept as $(DB).damaged"
	expect_file "$(DB).damaged"
	im search source:imagen --paths
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 2 "both images are back"
	# a healthy rebuild keeps the tags
	im tag "$F" +kept
	im index --rebuild -q out
	expect_rc 0
	im search tag:kept --paths
	expect_eq "$OUT" "$F"
}

test_outside_text_is_escaped_on_the_terminal_table() {
	mkdir -p lib
	"$PY" - lib <<'EOF'
import sys
from PIL import Image, PngImagePlugin
info = PngImagePlugin.PngInfo()
info.add_text("parameters", "evil \x1b]0;pwned\x07 title\nSteps: 1, Seed: 1, Size: 8x8")
Image.new("RGB", (8, 8)).save(sys.argv[1] + "/evil.png", "PNG", pnginfo=info)
EOF
	im index -q lib
	im search evil
	expect_rc 0
	expect_not_contains "$OUT" $'\x1b' "table"
	expect_contains "$OUT" "evil ?]0;pwned? title"
	# machines get the exact text
	im search evil --json
	expect_eq "$(jqr "$OUT" .prompt)" $'evil \x1b]0;pwned\x07 title'
}

run_tests
