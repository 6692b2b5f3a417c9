#!/usr/bin/env bash
# imagen batch: the three formats and the matrix through the real binary, wildcards,
# concurrency limits seen by the fake upstream, pools, resume after SIGINT and SIGKILL,
# the budget, the terminal display, --json events; generate on the same engine.
. "$(dirname "$0")/lib.sh"

export IMAGEN_HTTP_RETRIES=1 IMAGEN_BATCH_BACKOFF_MS=50

journal_dir() { ls -d "$HOME"/.local/state/imagen/batches/*/ | tail -1; }
pngs() { count_files "${1:-out}" '*.png'; }
# the prompts of the sidecars in DIR, sorted
prompts_of() { jq -r .prompt "${1:-out}"/*.json | sort; }

test_plain_text_one_image_per_prompt() {
	printf 'a red fox\n# a comment\n\n  the blue sea  \nthird\n' >p.txt
	im batch -o out p.txt
	expect_rc 0
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 3 "paths printed"
	for f in $OUT; do expect_file "$f"; done
	expect_eq "$(pngs)" 3 pngs
	expect_eq "$(prompts_of | tr '\n' '|')" "a red fox|the blue sea|third|" prompts
	expect_contains "$ERR" "3 done, 0 failed, 0 not run; 3 images"
	# stdin, the format by content
	printf '{"prompt": "from stdin", "seed": 3}\n' | im batch -o in -
	expect_rc 0
	expect_eq "$(jq -r '[.prompt, .seed] | @tsv' in/*.json)" "from stdin	3" "stdin job"
}

test_jsonl_fields_reach_the_request() {
	cat >jobs.jsonl <<'EOF'
{"prompt": "wide", "seed": 11, "width": 96, "height": 64, "steps": 3, "name": "{seed}-wide.png"}
{"prompt": "pair", "seed": 20, "count": 2, "negative": "blur", "style": "none"}
EOF
	im batch -o out jobs.jsonl
	expect_rc 0
	expect_eq "$(jq -r '[.width, .height, .steps] | @tsv' out/11-wide.json)" "96	64	3" "size and steps"
	# count 2 on the mock (one image per request): seeds 20 and 21
	expect_eq "$(jq -r 'select(.prompt == "pair") | .seed' out/*.json | sort | tr '\n' ' ')" "20 21 " seeds
	expect_eq "$(jq -r 'select(.prompt == "pair") | .negative_prompt' out/*.json | sort -u)" blur negative
}

test_yaml_matrix_expands_every_combination() {
	cat >plot.yaml <<'EOF'
defaults:
  steps: 2
matrix:
  prompts: [a cat, a dog]
  seeds: [1, 2, 3]
  sizes: [64x64, 96x48]
EOF
	im batch --dry-run plot.yaml
	expect_rc 0
	expect_contains "$OUT" "12 jobs, 12 images on mock (12); estimated cost \$0"
	im batch -o out plot.yaml
	expect_rc 0
	expect_eq "$(pngs)" 12 images
	expect_eq "$(jq -r '[.prompt, .seed, .width, .height] | @tsv' out/*.json | sort -u | wc -l | tr -d ' ')" 12 "distinct combinations"
	expect_eq "$(jq -r .steps out/*.json | sort -u)" 2 "defaults: steps"
	# the command line fills what the file leaves out, the file wins over it
	printf 'jobs:\n  - prompt: own\n    steps: 5\n  - plain\n' >j.yaml
	im batch --steps 4 -o out2 j.yaml
	expect_rc 0
	expect_eq "$(jq -r '[.prompt, .steps] | @tsv' out2/*.json | sort | tr '\n' '|')" "own	5|plain	4|" "precedence"
}

test_sidecars_carry_the_batch_id_and_the_catalog_finds_them() {
	printf 'one\ntwo\nthree\n' >p.txt
	im batch -o out p.txt
	expect_rc 0
	id=$(basename "$(journal_dir)")
	expect_eq "$(jq -r '[.prompt, .batch_id, .job] | @tsv' out/*.json | sort | tr '\n' '|')" \
		"one	$id	0|three	$id	2|two	$id	1|" "batch_id and job per sidecar"
	# the PNG's imagen chunk carries the same
	im inspect --json "$(ls out/*.png | head -1)"
	expect_eq "$(printf '%s' "$OUT" | jq -r '[.. | .batch_id? // empty] | unique | .[]')" "$id" "imagen chunk"
	# another batch and a plain generate: search batch:ID lists exactly the first's images
	printf 'four\n' >q.txt
	im batch -o out q.txt
	expect_rc 0
	im generate -o out "alone"
	expect_rc 0
	expect_eq "$(jq -r 'select(.prompt == "alone") | [has("batch_id"), has("job")] | @tsv' out/*.json)" \
		"false	false" "generate writes neither key"
	im search "batch:$id" --paths
	expect_rc 0
	expect_eq "$(printf '%s\n' "$OUT" | sort)" \
		"$(for j in out/*.json; do jq -e --arg id "$id" '.batch_id == $id' "$j" >/dev/null && echo "$PWD/${j%.json}.png"; done | sort)" "search batch:ID"
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 3 "three images"
	# eight writers at once (a mock instance that takes eight, each image taking a
	# while): every image gets its catalog row
	printf 'backends:\n  m8:\n    type: mock\n    concurrency: 8\n' | write_config "$CFG"
	seq 1 24 | sed 's/^/many /' >m.txt
	im batch -v -b m8 --set delay_ms=150 --concurrency 8 -o many m.txt
	expect_rc 0
	expect_contains "$ERR" "24 jobs, concurrency 8"
	id=$(basename "$(journal_dir)")
	im search "batch:$id" --paths
	expect_rc 0
	expect_eq "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 24 "catalogued at concurrency 8"
	expect_eq "$(pngs many)" 24 "images at concurrency 8"
}

# refused FILE MESSAGE: the batch is refused (exit 2) with MESSAGE
refused() {
	im batch -o bad "$1"
	expect_rc 2
	expect_contains "$ERR" "$2"
}

test_image_inputs_per_job() {
	# the inputs stand beside the batch file (paths are relative to its folder) and the
	# batch runs from elsewhere
	mkdir -p d/in
	im generate -W 64 -H 64 -o d/in --name src.png "source"
	expect_rc 0
	"$PY" - d/in/mask.png <<'PYEOF'
import struct, sys, zlib
w = h = 64
rows = b"".join(b"\0" + bytes(255 if x < w // 2 else 0 for x in range(w)) for y in range(h))
ch = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + ch(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                              + ch(b"IDAT", zlib.compress(rows)) + ch(b"IEND", b""))
PYEOF
	cat >d/b.jsonl <<'EOF'
{"prompt": "img2img", "seed": 5, "image": "in/src.png", "strength": 0.3}
{"prompt": "inpaint", "seed": 6, "image": ["in/src.png"], "mask": "in/mask.png", "mask_invert": true}
EOF
	im batch -o out d/b.jsonl
	expect_rc 0
	expect_eq "$(jq -c 'select(.prompt == "img2img") | [[.inputs[] | [.role, .path]], .strength]' out/*.json)" \
		"[[[\"image\",\"$HOME/d/in/src.png\"]],0.3]" "img2img sidecar"
	expect_eq "$(jq -c 'select(.prompt == "inpaint") | [[.inputs[] | [.role, .path]], .mask_invert]' out/*.json)" \
		"[[[\"image\",\"$HOME/d/in/src.png\"],[\"mask\",\"$HOME/d/in/mask.png\"]],true]" "inpaint sidecar"
	# YAML: defaults give every job the image, the matrix varies it
	printf 'defaults:\n  image: in/src.png\n  strength: 0.25\njobs:\n  - plain\n  - prompt: masked\n    mask: in/mask.png\n' >d/y.yaml
	im batch -o y d/y.yaml
	expect_rc 0
	expect_eq "$(jq -r '[.prompt, (.inputs | map(.role) | join("+")), .strength] | @tsv' y/*.json | sort | tr '\n' '|')" \
		"masked	image+mask	0.25|plain	image	0.25|" "yaml defaults"
	printf 'matrix:\n  prompts: [m]\n  images: [in/src.png, in/mask.png]\n' >d/m.yaml
	im batch -o m d/m.yaml
	expect_rc 0
	expect_eq "$(jq -r '.inputs[0].path' m/*.json | sort | tr '\n' ' ')" "$HOME/d/in/mask.png $HOME/d/in/src.png " "matrix images"
	# each bad value names FILE:LINE:COL, and nothing runs
	printf '{"prompt": "ok"}\n{"prompt": "x", "strength": 2}\n' >d/s.jsonl
	refused d/s.jsonl "d/s.jsonl:2:29: strength: expected a number from 0 to 1"
	printf '{"prompt": "x", "imgae": "in/src.png"}\n' >d/s.jsonl
	refused d/s.jsonl "d/s.jsonl:1:17: unknown key 'imgae' (did you mean 'image'?)"
	printf '{"prompt": "x", "image": [1]}\n' >d/s.jsonl
	refused d/s.jsonl "d/s.jsonl:1:26: image: expected a path"
	printf '{"prompt": "ok"}\n{"prompt": "x", "image": "nope.png"}\n' >d/s.jsonl
	refused d/s.jsonl "d/s.jsonl:2:1: --image $HOME/d/nope.png:"
	printf 'jobs:\n  - prompt: y\n    mask_invert: maybe\n' >d/s.yaml
	refused d/s.yaml "d/s.yaml:3:18: mask_invert: expected true or false"
	expect_no_file bad
}

test_bad_input_names_file_line_col_and_generates_nothing() {
	printf '{"prompt": "ok"}\n{"prompt": "x", "stpes": 3}\n' >bad.jsonl
	im batch -o out bad.jsonl
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "bad.jsonl:2:"
	expect_no_file out
	printf 'jobs:\n  - prompt: x\n    backend: mokc\n' >b.yaml
	im batch -o out b.yaml
	expect_rc 2
	expect_contains "$ERR" "b.yaml:2:5: unknown backend 'mokc' (did you mean 'mock'?)"
	printf '{"prompt": "x", "name": "{seed}.txt"}\n' >n.jsonl
	im batch -o out n.jsonl
	expect_rc 2
	expect_contains "$ERR" "n.jsonl:1:1:"
	expect_no_file out
	ls "$HOME"/.local/state/imagen/batches 2>/dev/null | grep -q . && fail "a journal was started"
	return 0
}

test_wildcards_follow_the_seed_and_the_sidecar_keeps_the_template() {
	mkdir -p .config/imagen/wildcards/animals
	printf 'owl\nheron\n# not this\nkite\n' >.config/imagen/wildcards/animals/birds.txt
	printf 'a {red|green|blue} __animals/birds__\n' >w.txt
	im batch --seed 7 -o one w.txt
	expect_rc 0
	im batch --seed 7 -o two w.txt
	first=$(jq -r .prompt one/*.json)
	expect_eq "$(jq -r .prompt two/*.json)" "$first" "same seed, same pick"
	expect_match "$first" '^a (red|green|blue) (owl|heron|kite)$' "resolved prompt"
	expect_eq "$(jq -r .prompt_template one/*.json)" "a {red|green|blue} __animals/birds__" template
	# generate picks the same with the same seed, and --from repeats the resolved prompt
	im generate --seed 7 -o gen "a {red|green|blue} __animals/birds__"
	expect_rc 0
	expect_eq "$(jq -r .prompt gen/*.json)" "$first" "generate's pick"
	im generate --from "$(ls gen/*.json)" -o again
	expect_rc 0
	expect_eq "$(jq -r '[.prompt, has("prompt_template")] | @tsv' again/*.json)" "$first	false" "--from"
	# different seeds pick differently somewhere among twenty
	for s in $(seq 1 20); do printf '{"prompt": "{a|b|c|d} __animals/birds__", "seed": %d}\n' "$s"; done >many.jsonl
	im batch -o many many.jsonl
	[ "$(jq -r .prompt many/*.json | sort -u | wc -l)" -ge 4 ] || fail "seeds do not vary the pick"
	# every combination
	im generate --combinatorial --seed 1 -o comb "{x|y} __animals/birds__"
	expect_rc 0
	expect_eq "$(prompts_of comb | tr '\n' '|')" "x heron|x kite|x owl|y heron|y kite|y owl|" combinations
	# a missing list: one clear error, nothing generated
	printf 'a __nope__\n' >m.txt
	im batch -o m m.txt
	expect_rc 2
	expect_contains "$ERR" "m.txt:1:1: wildcard '__nope__': $HOME/.config/imagen/wildcards/nope.txt: No such file"
	expect_no_file m
	im generate -o m "a {b"
	expect_rc 2
	expect_contains "$ERR" "'{' at column 3 is never closed"
}

oa_config() { # extra yaml lines for the instance
	local line
	{
		printf 'backends:\n  oa:\n    type: openai\n    model: gpt-image-1\n'
		printf '    base_url: %s/v1\n' "$FAKE_URL"
		for line in "$@"; do printf '    %s\n' "$line"; done
	} | write_config "$CFG"
	export OPENAI_API_KEY=sk-test
}

max_in_flight() { fake_requests | jq '[.[] | select(.method == "POST") | .in_flight] | max'; }

test_concurrency_never_exceeds_its_limits() {
	fake_start openai --latency-ms 300
	oa_config "concurrency: 2"
	seq 1 8 | sed 's/^/job /' >p.txt
	im batch -b oa --concurrency 6 -o out p.txt
	expect_rc 0
	expect_eq "$(pngs)" 8 images
	expect_eq "$(max_in_flight)" 2 "the instance's limit"
	"$PY" - "$FAKE_URL" <<'PYEOF'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_fake/reset", data=b"", method="POST")).read()
PYEOF
	oa_config "concurrency: 8"
	im batch -b oa --concurrency 3 -o out2 p.txt
	expect_rc 0
	expect_eq "$(max_in_flight)" 3 "the overall limit"
}

test_generate_count_runs_in_parallel_on_an_unbatched_backend() {
	printf 'backends:\n  m:\n    type: mock\n    concurrency: 4\n' | write_config "$CFG"
	t0=$(date +%s%N)
	im generate -b m --count 4 --seed 30 --set delay_ms=800 -o out "four"
	t1=$(date +%s%N)
	expect_rc 0
	expect_eq "$(jq -r .seed out/*.json | sort | tr '\n' ' ')" "30 31 32 33 " seeds
	# four requests of 0.8 s each take 3.2 s one after another
	[ $(((t1 - t0) / 1000000)) -lt 2400 ] || fail "took $(((t1 - t0) / 1000000)) ms: not in parallel"
}

test_pool_with_one_member_down_and_one_rate_limited() {
	fake_start openai
	fake_data '{"fail": [{"status": 429, "code": "rate_limit_exceeded", "message": "slow down"}, {"status": 429, "code": "rate_limit_exceeded", "message": "slow down"}]}'
	cat <<EOF | write_config "$CFG"
backends:
  dead:
    type: openai
    model: gpt-image-1
    base_url: http://127.0.0.1:9/v1
  busy:
    type: openai
    model: gpt-image-1
    base_url: $FAKE_URL/v1
  farm:
    type: pool
    members: [dead, busy]
EOF
	export OPENAI_API_KEY=sk-test
	printf 'one\ntwo\nthree\n' >p.txt
	im batch -b farm -o out p.txt
	expect_rc 0
	expect_eq "$(pngs)" 3 images
	# two 429s answered, then the three jobs: every job reached the upstream once
	expect_eq "$(fake_requests | jq '[.[] | select(.method == "POST")] | length')" 5 "POSTs"
	expect_eq "$(prompts_of | tr '\n' '|')" "one|three|two|" prompts
	expect_eq "$(jq -r .backend out/*.json | sort -u)" busy "the member that answered"
	# generate -b POOL: the first member turns it away, the next makes it
	im generate -b farm -o gen "pooled"
	expect_rc 0
	expect_eq "$(pngs gen)" 1 "generate through the pool"
	# a pool whose every member is down fails its jobs with the last error
	printf 'backends:\n  d1:\n    type: openai\n    model: gpt-image-1\n    base_url: http://127.0.0.1:9/v1\n  p:\n    type: pool\n    members: [d1]\n' |
		write_config "$CFG"
	printf 'x\n' >x.txt
	im batch -b p -o none x.txt
	expect_rc 1
	expect_contains "$ERR" "connection refused"
	expect_contains "$ERR" "imagen batch --resume"
	# a 429 for insufficient_quota is money, not rate: the job fails, sent once
	fake_data '{"fail": [{"status": 429, "code": "insufficient_quota", "type": "insufficient_quota", "message": "quota"}]}'
	printf 'backends:\n  busy:\n    type: openai\n    model: gpt-image-1\n    base_url: %s/v1\n' "$FAKE_URL" |
		write_config "$CFG"
	n0=$(fake_requests | jq '[.[] | select(.method == "POST")] | length')
	im batch -b busy -o quota x.txt
	expect_rc 1
	expect_contains "$ERR" "insufficient_quota"
	expect_eq "$(fake_requests | jq '[.[] | select(.method == "POST")] | length')" "$((n0 + 1))" "sent once"
	expect_eq "$(pngs quota)" 0 "no image"
}

test_backends_check() {
	fake_start openai
	cat <<EOF | write_config "$CFG"
backends:
  up:
    type: openai
    model: gpt-image-1
    base_url: $FAKE_URL/v1
  down:
    type: openai
    model: gpt-image-1
    base_url: http://127.0.0.1:9/v1
  both:
    type: pool
    members: [up, down]
EOF
	export OPENAI_API_KEY=sk-test
	im backends --check --json
	expect_rc 1
	expect_eq "$(jqr "$OUT" '[.[] | [.name, .up] | @tsv] | join("|")')" "mock	true|up	true|down	false|both	true" status
	expect_contains "$(jqr "$OUT" '.[] | select(.name == "down") | .detail')" "connection refused"
	expect_eq "$(fake_requests | jq -r '.[] | select(.method == "GET") | .path')" /v1/models "what was asked"
}

# Start a batch of six slow jobs in the background; BPID is its pid.
slow_batch() {
	seq 1 6 | sed 's/^/slow /' >p.txt
	"$IMAGEN" batch --set delay_ms=400 -o out p.txt >"$T_TMP/o" 2>"$T_TMP/e" &
	BPID=$!
}

wait_done_lines() { # N
	local i
	for i in $(seq 1 300); do
		[ -d "$HOME/.local/state/imagen/batches" ] &&
			[ "$(cat "$HOME"/.local/state/imagen/batches/*/journal.jsonl 2>/dev/null | grep -c '"done"')" -ge "$1" ] && return 0
		sleep 0.02
	done
	fail "the journal never reached $1 done jobs"
}

expect_six_distinct() {
	expect_eq "$(pngs)" 6 "images after resume"
	expect_eq "$(prompts_of | uniq | wc -l | tr -d ' ')" 6 "distinct prompts"
}

test_resume_after_ctrl_c() {
	slow_batch
	wait_done_lines 2
	kill -INT $BPID
	wait $BPID
	expect_eq "$?" 130 "exit status"
	id=$(basename "$(journal_dir)")
	expect_contains "$(cat "$T_TMP/e")" "resume with: imagen batch --resume $id"
	n=$(pngs)
	[ "$n" -ge 2 ] && [ "$n" -lt 6 ] || fail "expected 2 to 5 images kept, got $n"
	expect_eq "$(count_files out '.imagen-*')" 0 "temporary files"
	im batch --status "$id"
	expect_rc 0
	expect_match "$OUT" "$id .* 6 +$n "
	im batch --resume
	expect_rc 0
	expect_contains "$ERR" "resuming $((6 - n)) of 6 jobs"
	expect_six_distinct
	im batch --resume "$id"
	expect_rc 0
	expect_contains "$ERR" "every job is done"
}

test_resume_after_sigkill_loses_nothing() {
	slow_batch
	wait_done_lines 2
	kill -KILL $BPID
	wait $BPID 2>/dev/null
	im batch --resume
	expect_rc 0
	expect_six_distinct
}

test_resume_never_runs_a_job_twice_whose_line_was_lost() {
	# what a SIGKILL between writing an image and its journal line leaves: the images
	# are on disk and in the catalog, the last lines of the journal are not
	printf 'one\ntwo\nthree\nfour\n' >p.txt
	im batch -o out p.txt
	expect_rc 0
	j="$(journal_dir)journal.jsonl"
	id=$(basename "$(journal_dir)")
	head -n 1 "$j" >"$j.cut" && mv "$j.cut" "$j"
	four=$(for f in out/*.json; do jq -e '.prompt == "four"' "$f" >/dev/null && echo "${f%.json}"; done)
	rm "$four.png" "$four.json" # one image gone as well: that job runs again
	first=$(jq -r .job "$j")
	im batch --resume
	expect_rc 0
	expect_contains "$ERR" "resuming 1 of 4 jobs"
	expect_eq "$(grep -c 'not run again' <<<"$ERR")" 2 "jobs recovered"
	expect_eq "$(pngs)" 4 "images"
	expect_eq "$(count_files out '*.json')" 4 "sidecars"
	expect_eq "$(jq -r .job out/*.json | sort | tr '\n' ' ')" "0 1 2 3 " "one image per job"
	expect_eq "$(jq -r '.prompt' out/*.json | sort | tr '\n' ' ')" "four one three two " "prompts"
	expect_eq "$(jq -c 'select(.recovered) | .job' "$j" | sort | tr '\n' ' ')" \
		"$(seq 0 2 | grep -v "^$first\$" | tr '\n' ' ')" "recovered lines"
	im batch --status "$id"
	expect_rc 0
	expect_match "$OUT" "$id .* 4 +4 "
	im batch --resume "$id"
	expect_rc 0
	expect_contains "$ERR" "every job is done"
	expect_eq "$(pngs)" 4 "images after a second resume"
}

test_budget_stops_scheduling() {
	fake_start openai
	oa_config "prices: {gpt-image-1: {per_image: 0.01}}"
	seq 1 5 | sed 's/^/priced /' >p.txt
	im batch -b oa --max-cost 0.025 -o out p.txt
	expect_rc 1
	expect_eq "$(pngs)" 2 "images within the budget"
	expect_eq "$(fake_requests | jq '[.[] | select(.method == "POST")] | length')" 2 "requests sent"
	expect_contains "$ERR" "budget: stopped"
	expect_contains "$ERR" "spent \$0.02 of \$0.025"
	# resume: the spent part counts against the same budget
	im batch --resume --max-cost 0.045
	expect_rc 1
	expect_eq "$(pngs)" 4 "images after a resume with a larger budget"
	# unknown price: refused before anything is sent, unless allowed
	oa_config
	fake_data '{}'
	printf 'backends:\n  oa:\n    type: openai\n    model: custom-model\n    base_url: %s/v1\n' "$FAKE_URL" | write_config "$CFG"
	im batch -b oa --max-cost 1 -o out2 p.txt
	expect_rc 2
	expect_contains "$ERR" "budget: the price of a job on 'oa' is unknown"
	expect_no_file out2
	im batch --dry-run -b oa p.txt
	expect_contains "$OUT" "5 jobs of unknown price"
}

test_budget_per_batch_and_per_day_from_the_config() {
	fake_start openai
	export OPENAI_API_KEY=sk-test
	{
		printf 'budget:\n  per_batch: 0.015\n  per_day: 0.035\n'
		printf 'backends:\n  oa:\n    type: openai\n    model: gpt-image-1\n'
		printf '    base_url: %s/v1\n    prices: {gpt-image-1: {per_image: 0.01}}\n' "$FAKE_URL"
	} | write_config "$CFG"
	printf 'a\nb\nc\n' >p.txt
	im batch -b oa -o out1 p.txt # per batch: one job
	expect_rc 1
	expect_eq "$(pngs out1)" 1 "per_batch"
	im batch -b oa --max-cost 0.02 -o out2 p.txt # the flag wins over per_batch
	expect_rc 1
	expect_eq "$(pngs out2)" 2 "--max-cost"
	# 0.03 spent today: the day's 0.035 leave room for no job of 0.01
	im batch -b oa --max-cost 1 --json -o out3 p.txt
	expect_rc 1
	expect_eq "$(pngs out3)" 0 "per_day"
	expect_contains "$ERR" "the next job would pass today's \$0.035 (spent \$0.03 today)"
	expect_eq "$(printf '%s\n' "$OUT" | jq -c 'select(.event == "summary") | [.stop, .per_day, .spent_today]')" '["budget",0.035,0.03]' summary
	expect_eq "$(fake_requests | jq '[.[] | select(.method == "POST")] | length')" 3 "requests sent in all"
}

test_terminal_display_and_plain_lines() {
	seq 1 4 | sed 's/^/shown /' >p.txt
	printf 'backends:\n  m:\n    type: mock\n    concurrency: 2\n' | write_config "$CFG"
	SHELL=/bin/bash script -qefc "stty cols 100; '$IMAGEN' batch -b m --set delay_ms=400 -o out p.txt >/dev/null" /dev/null >"$T_TMP/tty" 2>&1 ||
		fail "batch under a pty failed: $(cat "$T_TMP/tty")"
	tty=$(cat -v "$T_TMP/tty")
	expect_match "$tty" 'imagen batch.*\[[#-]+\] [0-9]/4' "the bar"
	expect_match "$tty" '#[0-9] +m +(drawing|starting)' "a line per running job"
	expect_match "$tty" '\^\[\[[0-9]+A\^\[\[J' "redrawn in place"
	expect_contains "$tty" "4 done, 0 failed"
	# not a terminal: one line per job
	im batch -b m -o out2 p.txt
	expect_eq "$(grep -c '^imagen: \[[1-4]/4\] job [1-4] done on m (1 image)$' <<<"$ERR")" 4 "plain lines"
	im -q batch -b m -o out3 p.txt
	expect_rc 0
	expect_eq "$ERR" "" "-q"
}

test_json_events_and_a_failed_job() {
	printf '{"prompt": "fine"}\n{"prompt": "broken", "set": {"fail": "boom"}}\n' >j.jsonl
	im batch --json -o out j.jsonl
	expect_rc 1
	ev() { printf '%s\n' "$OUT" | jq -c "select(.event == \"$1\")"; }
	expect_eq "$(ev job_started | wc -l | tr -d ' ')" 2 "job_started"
	expect_eq "$(ev image | jq -r .record.metadata.prompt)" fine "image event"
	expect_eq "$(ev image | jq -r '.path == .record.image')" true "image path"
	expect_eq "$(ev job_failed | jq -c '[.job, .line, .backend]')" '[1,2,"mock"]' job_failed
	expect_contains "$(ev job_failed | jq -r .error)" boom
	expect_eq "$(ev summary | jq -c '[.total, .done, .failed, .stop, .failed_jobs]')" '[2,1,1,"none",[1]]' summary
	expect_match "$(ev summary | jq -r .resume)" '^imagen batch --resume [0-9]{8}-'
	expect_contains "$ERR" "failed: job 2 (j.jsonl:2:1) on mock:"
	# resume retries the failed job (it fails again: still 1)
	im batch --resume --json
	expect_rc 1
	expect_eq "$(printf '%s\n' "$OUT" | jq -c 'select(.event == "summary") | [.total, .failed]')" '[1,1]' "resume summary"
}

test_config_checks_concurrency_and_pools() {
	printf 'backends:\n  m:\n    type: mock\n    concurrency: 65\n' | write_config "$CFG"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "imagen.yaml:4:18: backends.m.concurrency: 65 is out of range (1..64)"
	printf 'backends:\n  p:\n    type: pool\n    members: [mock, {name: ghost}]\n' | write_config "$CFG"
	printf 'x\n' >x.txt
	im batch --dry-run x.txt
	expect_rc 2
	expect_contains "$ERR" "imagen.yaml:4:21: backends.p.members: no backend 'ghost'"
	printf 'backends:\n  p:\n    type: pool\n    members: [mock]\n    strategy: fastest\n' | write_config "$CFG"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "imagen.yaml:5:15: backends.p.strategy: unknown strategy 'fastest'"
}

run_tests
