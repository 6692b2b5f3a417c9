#!/usr/bin/env bash
# The comfyui adapter against tests/fake/comfyui.py (ComfyUI's /prompt, /ws, /history,
# /view, /queue, /interrupt): the exact graph queued, the websocket and its fallback to
# polling, node errors, retries, broken downloads, execution errors, Ctrl-C.
. "$(dirname "$0")/lib.sh"

export IMAGEN_HTTP_RETRY_BASE_MS=20

# cf_config [EXTRA-YAML-LINES]: instance "local" (the default backend) on the fake.
cf_config() {
	write_config "$CFG" <<EOF
defaults:
  backend: local
backends:
  local:
    type: comfyui
    base_url: $FAKE_URL/
${1-    model: sd15.safetensors}
EOF
}


# fake_get PATH: what the fake answers (the fake logs this request too: call it after the
# assertions on what imagen sent).
fake_get() {
	"$PY" - "$FAKE_URL" "$1" <<'PYEOF'
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1] + sys.argv[2], timeout=5).read().decode())
PYEOF
}

# reqs METHOD PATH-REGEX: the matching log entries as a JSON array.
reqs() { fake_requests | jq -c --arg m "$1" --arg p "$2" '[.[] | select(.method == $m and (.path | test($p)))]'; }
nreqs() { reqs "$1" "$2" | jq length; }
# events NAME: how many worker events of that name the fake logged.
events() { fake_requests | jq --arg e "$1" '[.[] | select(.method == "EVENT" and .event == $e)] | length'; }
# prompt_body [N]: the JSON body of the Nth POST /prompt.
prompt_body() { reqs POST '^/prompt$' | jq -c ".[${1:-0}].body | fromjson"; }

expect_json_eq() { # actual expected what
	jq -n -e --argjson a "$1" --argjson b "$2" '$a == $b' >/dev/null ||
		fail "${3:-json}: got $1, expected $2"
}

expect_empty_dir() {
	[ ! -d "$1" ] || [ -z "$(ls -A "$1")" ] || fail "$1 is not empty: $(ls -A "$1")"
}

# wait_for CMD...: until CMD prints a number >= 1 (5 s at most).
wait_for() {
	local i
	for i in $(seq 1 200); do
		[ "$("$@")" -ge 1 ] && return 0
		sleep 0.025
	done
	fail "timed out waiting for: $*"
}

# bg_imagen ARGS...: run imagen in the background (PID in BG).
bg_imagen() {
	"$IMAGEN" "$@" >"$T_TMP/bg.out" 2>"$T_TMP/bg.err" &
	BG=$!
}
# bg_interrupt: SIGINT the background imagen and wait; RC and ERR set, sanitizers checked.
bg_interrupt() {
	kill -INT "$BG"
	wait "$BG"
	RC=$?
	ERR=$(cat "$T_TMP/bg.err")
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$ERR" || [ "$RC" = 98 ] || [ "$RC" = 99 ]; then
		fail "sanitizer finding (rc $RC): $ERR"
	fi
}

test_happy_path_queues_the_exact_builtin_graph() {
	fake_start comfyui
	cf_config
	im generate --seed 1234 -W 64 -H 48 --steps 12 -n "blurry, lowres" -o out "a lighthouse at dusk"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_file "$OUT"
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	expect_match "$(pngcheck -v "$OUT")" "64 x 48" "image size"
	expect_eq "$(nreqs POST '^/prompt$')" 1 "POST /prompt"
	# exactly ComfyUI's default graph with our values in it
	expect_json_eq "$(prompt_body | jq -c .prompt)" '{
		"3": {"class_type": "KSampler", "inputs": {"seed": 1234, "steps": 12, "cfg": 8.0,
			"sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
			"model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
			"latent_image": ["5", 0]}},
		"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
		"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
		"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": ["4", 1]}},
		"7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, lowres", "clip": ["4", 1]}},
		"8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
		"9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "imagen", "images": ["8", 0]}}
	}' "queued graph"
	body=$(prompt_body)
	expect_eq "$(jq -r 'keys | join(",")' <<<"$body")" "client_id,prompt,prompt_id" "body keys"
	expect_match "$(jq -r .prompt_id <<<"$body")" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "prompt_id is a UUID"
	reqs POST '^/prompt$' | jq -e '.[0].headers["content-type"] == "application/json"' >/dev/null ||
		fail "no JSON content type"
	# the socket was opened first, with the same client id
	expect_eq "$(nreqs GET '^/ws$')" 1 "websocket connections"
	expect_eq "$(reqs GET '^/ws$' | jq -r '.[0].query.clientId')" "$(jq -r .client_id <<<"$body")" "clientId"
	expect_eq "$(fake_requests | jq -r '[.[] | select(.method == "GET" or .method == "POST") | .path][0:2] | join(" ")')" "/ws /prompt" "request order"
	pid=$(jq -r .prompt_id <<<"$body")
	expect_eq "$(nreqs GET "^/history/$pid\$")" 1 "history reads (the socket said when)"
	expect_eq "$(reqs GET '^/view$' | jq -c '.[0].query')" '{"filename":"imagen_00001_.png","subfolder":"","type":"output"}' "view query"
	# the client answered the pings and closed with a masked 1000
	expect_eq "$(fake_requests | jq -c '[.[] | select(.method == "WS" and .event == "recv") | [.opcode, .masked, (.payload // .close_code)]]')" \
		'[[10,true,"hello"],[10,true,"are you there"],[8,true,1000]]' "frames from the client"

	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .backend_type)" comfyui backend_type
	expect_eq "$(jqr "$s" .model)" sd15.safetensors model
	expect_eq "$(jqr "$s" .seed)" 1234 seed
	expect_eq "$(jqr "$s" .seed_honoured)" true seed_honoured
	expect_eq "$(jqr "$s" .width)x$(jqr "$s" .height)" 64x48 size
	expect_eq "$(jqr "$s" .steps)" 12 steps
	expect_eq "$(jqr "$s" .negative_prompt)" "blurry, lowres" negative
	expect_eq "$(jqr "$s" .metadata.prompt_id)" "$pid" "metadata prompt_id"
	expect_eq "$(jqr "$s" .metadata.workflow)" builtin:txt2img workflow
	expect_eq "$(jqr "$s" .metadata.events)" websocket events
	expect_eq "$(jqr "$s" .metadata.image.filename)" imagen_00001_.png "image file"
	expect_eq "$(jqr "$s" .metadata.params.prompt)" 6.inputs.text "params.prompt"
	expect_eq "$(jqr "$s" .metadata.sampler)/$(jqr "$s" .metadata.scheduler)/$(jqr "$s" .metadata.cfg)" euler/normal/8 "sampler/scheduler/cfg"
	expect_eq "$(jqr "$s" 'has("cost")')" false "a local server costs nothing"
	# the A1111 parameters line carries what the graph ran with, in A1111's order
	expect_eq "$("$IMAGEN" inspect --json "${s%.json}.png" | jq -r .parameters.text | tail -1)" \
		"Steps: 12, Sampler: euler, Schedule type: normal, CFG scale: 8, Seed: 1234, Size: 64x48, Model: sd15.safetensors" \
		"parameters line"
	im generate --json --seed 5 -W 64 -H 64 -o out "again"
	expect_rc 0
	expect_eq "$(jqr "$OUT" .cost)" null "cost in the --json record"
}

test_config_knobs_and_set_options_reach_the_graph() {
	fake_start comfyui
	cf_config "    model: sdxl_base.safetensors
    sampler: dpmpp_2m
    scheduler: karras
    cfg: 6.5
    default_steps: 9"
	im generate --seed 3 -W 64 -H 64 -o out "knobs"
	expect_rc 0
	expect_json_eq "$(prompt_body | jq -c '.prompt["3"].inputs | {steps, cfg, sampler_name, scheduler}')" \
		'{"steps": 9, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras"}' "KSampler inputs"
	expect_eq "$(prompt_body | jq -r '.prompt["4"].inputs.ckpt_name')" sdxl_base.safetensors ckpt_name
	expect_eq "$(jqr "${OUT%.png}.json" .steps)" 9 "recorded steps"
	# --set over the config; --steps over default_steps
	im generate --seed 3 -W 64 -H 64 --steps 5 --set cfg=2.5 --set sampler=heun --set model=sd15.safetensors -o out "knobs"
	expect_rc 0
	expect_json_eq "$(prompt_body 1 | jq -c '[.prompt["3"].inputs.steps, .prompt["3"].inputs.cfg, .prompt["3"].inputs.sampler_name, .prompt["4"].inputs.ckpt_name]')" \
		'[5, 2.5, "heun", "sd15.safetensors"]' "--set values"
	expect_eq "$(jqr "${OUT%.png}.json" .model)" sd15.safetensors "recorded model"
	im generate --set cfgg=2 "x"
	expect_rc 2
	expect_one_error_line
	expect_contains "$ERR" "unknown option 'cfgg' for the comfyui backend (known: cfg, sampler, scheduler, model; did you mean 'cfg'?)" stderr
	im generate -W 8 "x"
	expect_rc 2
	expect_contains "$ERR" "width 8 is out of range for ComfyUI (16..16384)" stderr
	expect_eq "$(nreqs POST '^/prompt$')" 2 "no request for refused options"
}

test_flux_schnell_graph_is_chosen_by_the_model_name() {
	fake_start comfyui
	cf_config "    model: flux1-schnell-fp8.safetensors"
	im generate --seed 77 -W 64 -H 64 -n "ignored by flux" -o out "a fox"
	expect_rc 0
	g=$(prompt_body | jq -c .prompt)
	expect_json_eq "$(jq -c '.["3"].inputs | {seed, steps, cfg, sampler_name, scheduler}' <<<"$g")" \
		'{"seed": 77, "steps": 4, "cfg": 1.0, "sampler_name": "euler", "scheduler": "simple"}' "schnell sampler"
	expect_json_eq "$(jq -c '.["5"]' <<<"$g")" '{"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}' latent
	expect_json_eq "$(jq -c '.["7"]' <<<"$g")" '{"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["6", 0]}}' "negative is zeroed"
	expect_not_contains "$g" "ignored by flux" graph
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.workflow)" builtin:flux-schnell workflow
	expect_eq "$(jqr "${OUT%.png}.json" .steps)" 4 steps
	# named explicitly, without a model: the fp8 checkpoint by default
	cf_config "    workflow: builtin:flux-schnell"
	im generate --seed 1 -W 64 -H 64 -o out "a fox"
	expect_rc 0
	expect_eq "$(prompt_body 1 | jq -r '.prompt["4"].inputs.ckpt_name')" flux1-schnell-fp8.safetensors ckpt_name
}

# A user's graph with odd ids: auto-detection follows the KSampler's links through a LoRA
# loader and FluxGuidance; explicit params move and switch off knobs.
test_custom_workflow_detected_and_explicit_params() {
	fake_start comfyui
	cat >"$HOME/wf.json" <<'EOF'
{
  "10": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
  "11": {"class_type": "LoraLoader", "inputs": {"model": ["10", 0], "clip": ["10", 1],
         "lora_name": "detail.safetensors", "strength_model": 0.8, "strength_clip": 0.8}},
  "20": {"class_type": "CLIPTextEncode", "inputs": {"text": "placeholder", "clip": ["11", 1]}},
  "21": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["20", 0], "guidance": 3.5}},
  "22": {"class_type": "CLIPTextEncode", "inputs": {"text": "bad hands", "clip": ["11", 1]}},
  "30": {"class_type": "EmptyLatentImage", "inputs": {"width": 96, "height": 80, "batch_size": 3}},
  "40": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 6, "cfg": 5.0,
         "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0, "model": ["11", 0],
         "positive": ["21", 0], "negative": ["22", 0], "latent_image": ["30", 0]}},
  "50": {"class_type": "VAEDecode", "inputs": {"samples": ["40", 0], "vae": ["10", 2]}},
  "60": {"class_type": "SaveImage", "inputs": {"images": ["50", 0], "filename_prefix": "mine/x"}}
}
EOF
	cf_config "    workflow: ~/wf.json
    model: sdxl_base.safetensors"
	im generate --seed 99 -n "no cats" -o out "a barn"
	expect_rc 0
	g=$(prompt_body | jq -c .prompt)
	expect_json_eq "$(jq -c '[.["20"].inputs.text, .["22"].inputs.text, .["40"].inputs.seed, .["40"].inputs.steps, .["30"].inputs, .["10"].inputs.ckpt_name, .["11"].inputs.lora_name]' <<<"$g")" \
		'["a barn", "no cats", 99, 6, {"width": 96, "height": 80, "batch_size": 1}, "sdxl_base.safetensors", "detail.safetensors"]' "detected targets"
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .width)x$(jqr "$s" .height)" 96x80 "the graph's own size"
	expect_eq "$(jqr "$s" .steps)" 6 "the graph's own steps"
	expect_eq "$(jqr "$s" .metadata.image.subfolder)" mine subfolder
	expect_eq "$(reqs GET '^/view$' | jq -c '.[0].query')" '{"filename":"x_00001_.png","subfolder":"mine","type":"output"}' "view query"

	# explicit params: the negative goes nowhere, the prompt into two inputs, the seed
	# written into the guidance (a number input like any other)
	cf_config "    workflow: $HOME/wf.json
    params:
      negative: null
      prompt: [\"20.inputs.text\", \"22.text\"]
      width: 30.inputs.width"
	im generate --seed 5 -W 128 -H 64 -n "no cats" -o out "a barn"
	expect_rc 0
	g=$(prompt_body 1 | jq -c .prompt)
	expect_json_eq "$(jq -c '[.["20"].inputs.text, .["22"].inputs.text, .["30"].inputs.width, .["30"].inputs.height]' <<<"$g")" \
		'["a barn", "a barn", 128, 64]' "explicit targets"
	expect_json_eq "$(jqr "${OUT%.png}.json" '.metadata.params | {prompt, negative}')" \
		'{"prompt": ["20.inputs.text", "22.inputs.text"], "negative": null}' "recorded params"
}

test_progress_on_a_terminal_from_the_websocket() {
	fake_start comfyui
	cf_config
	fake_data '{"steps_delay_ms": 25}'
	cat >"$T_TMP/run.sh" <<EOF
exec "$IMAGEN" generate --no-preview --seed 4 -W 64 -H 64 --steps 16 -o "$HOME/out" "slow lighthouse"
EOF
	SHELL=/bin/bash script -qefc "bash $T_TMP/run.sh" /dev/null >"$T_TMP/tty" 2>&1
	rc=$?
	tty_out=$(tr -d '\r' <"$T_TMP/tty")
	if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$tty_out"; then
		fail "sanitizer finding: $tty_out"
	fi
	expect_eq "$rc" 0 "exit status under a terminal"
	expect_match "$tty_out" '\] 8/16  KSampler' "progress line"
	expect_match "$tty_out" '\] 16/16  KSampler' "progress line"
	expect_eq "$(count_files out '*.png')" 1 pngs
	# the fake sent a binary preview per step: skipped, not an error
	expect_eq "$(fake_requests | jq '[.[] | select(.method == "WS" and .type == "binary")] | length')" 16 "previews sent"
}

# The bar is coloured on a terminal; NO_COLOR (any non-empty value) and TERM=dumb keep
# the same line without colour escapes; -q draws nothing at all.
test_progress_colour_follows_no_color_and_quiet() {
	local mode tty_out
	fake_start comfyui
	cf_config
	fake_data '{"steps_delay_ms": 10}'
	seed=4
	for mode in colour no_color dumb quiet; do
		case $mode in
		colour) envs="TERM=xterm" q= ;;
		no_color) envs="TERM=xterm NO_COLOR=1" q= ;;
		dumb) envs="TERM=dumb" q= ;;
		quiet) envs="TERM=xterm" q=-q ;;
		esac
		# a new seed each time: the same graph again would come from ComfyUI's cache,
		# without sampler steps to draw
		seed=$((seed + 1))
		cat >"$T_TMP/run.sh" <<EOF
unset NO_COLOR
exec env $envs "$IMAGEN" $q generate --no-preview --seed $seed -W 64 -H 64 --steps 8 -o "$HOME/out-$mode" "colours"
EOF
		SHELL=/bin/bash script -qefc "bash $T_TMP/run.sh" /dev/null >"$T_TMP/tty-$mode" 2>&1 ||
			fail "$mode: generate under a pty failed: $(cat -v "$T_TMP/tty-$mode")"
		tty_out=$(tr -d '\r' <"$T_TMP/tty-$mode")
		if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$tty_out"; then
			fail "sanitizer finding: $tty_out"
		fi
		expect_eq "$(count_files "out-$mode" '*.png')" 1 "$mode: pngs"
		case $mode in
		colour)
			grep -aq $'\033\\[32m' "$T_TMP/tty-$mode" || fail "no colour on a terminal: $(cat -v "$T_TMP/tty-$mode")"
			expect_match "$tty_out" '8/8  KSampler' "$mode: progress line"
			;;
		no_color | dumb)
			! grep -aqE $'\033\\[(1|32|0)m' "$T_TMP/tty-$mode" || fail "$mode: colour escapes: $(cat -v "$T_TMP/tty-$mode")"
			expect_match "$tty_out" '\[#+\] 8/8  KSampler' "$mode: progress line"
			;;
		quiet)
			! grep -aq 'KSampler' "$T_TMP/tty-$mode" || fail "-q drew a progress line: $(cat -v "$T_TMP/tty-$mode")"
			;;
		esac
	done
}

test_websocket_refused_falls_back_to_polling_history() {
	fake_start comfyui
	cf_config
	fake_data '{"ws": false, "steps_delay_ms": 40}'
	im -v generate --seed 8 -W 64 -H 64 -o out "no socket"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(nreqs GET '^/ws$')" 1 "upgrade attempts"
	n=$(nreqs GET '^/history/')
	[ "$n" -ge 2 ] || fail "history polled $n times during a 0.8 s run"
	expect_contains "$ERR" "websocket upgrade refused: HTTP 404; polling /history instead" "-v output"
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .metadata.events)" polling events
	expect_eq "$(jqr "$s" .metadata.websocket_error)" "websocket upgrade refused: HTTP 404" websocket_error
	# the client_id is sent all the same
	expect_eq "$(prompt_body | jq -r .client_id)" "$(reqs GET '^/ws$' | jq -r '.[0].query.clientId')" client_id
}

test_websocket_dropped_mid_run_falls_back_to_polling() {
	fake_start comfyui
	cf_config
	fake_data '{"ws_drop_after": 4, "steps_delay_ms": 20}'
	im generate --seed 8 -W 64 -H 64 -o out "dropped"
	expect_rc 0
	expect_file "$OUT"
	s="${OUT%.png}.json"
	expect_eq "$(jqr "$s" .metadata.events)" polling events
	expect_contains "$(jqr "$s" .metadata.websocket_error)" "closed by the server" websocket_error
	[ "$(nreqs GET '^/history/')" -ge 2 ] || fail "history was not polled"
}

test_a_message_that_is_not_comfyuis_stops_trusting_the_socket() {
	fake_start comfyui
	cf_config
	fake_data '{"ws_garbage": true}'
	im generate --seed 8 -W 64 -H 64 -o out "garbage on the socket"
	expect_rc 0
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.websocket_error)" "websocket message that is not ComfyUI's" websocket_error
}

test_node_error_400_names_node_and_input_and_is_not_retried() {
	fake_start comfyui
	cf_config "    model: nope.safetensors"
	im generate --seed 1 -W 64 -H 64 -o out "x"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" "imagen: backend \"local\": POST /prompt: HTTP 400: Prompt outputs failed validation: node 4 (CheckpointLoaderSimple) input ckpt_name: Value not in list: ckpt_name: 'nope.safetensors' not in ['sd15.safetensors', 'sdxl_base.safetensors', 'flux1-schnell-fp8.safetensors']" stderr
	expect_eq "$(nreqs POST '^/prompt$')" 1 "POST /prompt attempts"
	expect_eq "$(nreqs GET '^/history')" 0 "history reads"
	expect_empty_dir out

	# an unknown node class: the top-level error, no node_errors
	cat >"$HOME/wf.json" <<'EOF'
{"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
 "12": {"class_type": "NoSuchNode", "inputs": {"x": ["6", 0]}}}
EOF
	cf_config "    workflow: wf.json"
	im generate -o out "x"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" "imagen: backend \"local\": POST /prompt: HTTP 400: Cannot execute because node NoSuchNode does not exist.: Node ID '#12'" stderr

	# several inputs of one node
	cat >"$HOME/wf.json" <<'EOF'
{"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
 "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
 "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
 "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 4, "cfg": 500, "sampler_name": "nope",
       "scheduler": "normal", "denoise": 1, "model": ["4", 0], "positive": ["6", 0],
       "negative": ["6", 0], "latent_image": ["5", 0]}},
 "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
 "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}}}
EOF
	im generate -o out "x"
	expect_rc 1
	expect_one_error_line
	expect_contains "$ERR" "node 3 (KSampler) input cfg: Value 500.0 bigger than max of 100: cfg; node 3 (KSampler) input sampler_name: Value not in list: sampler_name: 'nope' not in" stderr
}

test_503_then_success_is_retried() {
	fake_start comfyui
	cf_config
	fake_faults "$FAKE_URL" '[{"match": "POST /prompt", "status": 503, "body": "{\"error\": \"busy\"}"}]'
	im generate --seed 2 -W 64 -H 64 -o out "retry me"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(nreqs POST '^/prompt$')" 2 "POST /prompt attempts"
	# the same prompt both times: one id, one graph
	expect_eq "$(reqs POST '^/prompt$' | jq '[.[].body] | unique | length')" 1 "identical bodies"
}

test_503_every_time_gives_up_with_the_status() {
	fake_start comfyui
	cf_config
	export IMAGEN_HTTP_RETRIES=3
	fake_faults "$FAKE_URL" '[{"match": "POST /prompt", "status": 503, "times": 9, "body": "{\"error\": \"server overloaded\"}"}]'
	im generate --seed 2 -W 64 -H 64 -o out "never"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "local": POST /prompt: HTTP 503: server overloaded (after 3 attempts)' stderr
	expect_eq "$(nreqs POST '^/prompt$')" 3 "attempts"
	expect_empty_dir out
}

test_server_down_is_one_clear_line() {
	fake_start comfyui
	url=$FAKE_URL
	fake_stop_all
	FAKE_URL=$url
	cf_config
	export IMAGEN_HTTP_RETRIES=2
	im generate --seed 8 -o out "nobody home"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" '^imagen: backend "local": POST /prompt: after 2 attempts: cannot connect to 127\.0\.0\.1:[0-9]+ \(connection refused\)$' stderr
}

# The image stays on the server: a /view answer cut short or replaced by garbage is
# fetched again (issue 9 item 15); only when every attempt is bad does the run fail.
test_truncated_or_garbage_image_is_fetched_again() {
	fake_start comfyui
	cf_config
	fake_faults "$FAKE_URL" '[{"match": "GET /view", "truncate": 60}]'
	im generate --seed 2 -W 64 -H 64 -o out "cut short once"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	expect_eq "$(nreqs GET '^/view$')" 2 "downloads"
	fake_faults "$FAKE_URL" '[{"match": "GET /view", "garbage": true}]'
	im generate --seed 3 -W 64 -H 64 -o out2 "garbage once"
	expect_rc 0
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
	expect_eq "$(nreqs GET '^/view$')" 4 "downloads"
	# bad every time: a clear line naming the file and the attempts, nothing written
	export IMAGEN_HTTP_RETRIES=2
	fake_faults "$FAKE_URL" '[{"match": "GET /view", "truncate": 60, "times": 2}]'
	im generate --seed 4 -W 64 -H 64 -o out3 "cut short"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" '^imagen: backend "local": GET /view \(imagen_00003_\.png\): truncated PNG .*\(after 2 attempts\)$' stderr
	expect_empty_dir out3
	fake_faults "$FAKE_URL" '[{"match": "GET /view", "garbage": true, "times": 2}]'
	im generate --seed 5 -W 64 -H 64 -o out4 "not a picture"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" 'GET /view \(imagen_00004_\.png\): the answer is not an image \([0-9]+ bytes\) \(after 2 attempts\)$' stderr
	expect_empty_dir out4
}

# POST /prompt is not idempotent (a second one would run the graph again), but our
# prompt_id is a handle: when the answer broke off, the server is asked whether it holds
# the prompt, and the run carries on with it (issue 9 item 13).
test_prompt_answer_dropped_carries_on_with_the_queued_prompt() {
	fake_start comfyui
	cf_config
	fake_faults "$FAKE_URL" '[{"match": "POST /prompt", "drop": true}]'
	im -v generate --seed 6 -W 64 -H 64 -o out "dropped answer"
	expect_rc 0
	expect_file "$OUT"
	expect_eq "$(nreqs POST '^/prompt$')" 1 "POST /prompt (never sent twice)"
	expect_eq "$(events execution_start)" 1 "runs upstream"
	expect_contains "$ERR" "carrying on with it"
	# the connection hung up before the server read the prompt: it holds nothing, and the
	# prompt is not sent again blindly either
	fake_faults "$FAKE_URL" '[{"match": "POST /prompt", "hang_up": true}]'
	im generate --seed 7 -W 64 -H 64 -o out2 "hung up"
	expect_rc 1
	expect_one_error_line
	expect_match "$ERR" '^imagen: backend "local": POST /prompt: connection to 127\.0\.0\.1:[0-9]+ closed before the whole response arrived; not sent again, as the server may have received it$' stderr
	expect_eq "$(nreqs POST '^/prompt$')" 2 "POST /prompt (one per run)"
	expect_empty_dir out2
}

test_connection_dropped_mid_download_is_retried() {
	fake_start comfyui
	cf_config
	fake_faults "$FAKE_URL" '[{"match": "GET /view", "drop": true}]'
	im generate --seed 2 -W 64 -H 64 -o out "dropped once"
	expect_rc 0
	expect_eq "$(nreqs GET '^/view$')" 2 "downloads"
	pngcheck -q "$OUT" >/dev/null || fail "pngcheck rejects $OUT"
}

test_garbage_history_is_malformed_json() {
	fake_start comfyui
	cf_config
	fake_faults "$FAKE_URL" '[{"match": "GET /history", "garbage": true}]'
	im generate --seed 2 -W 64 -H 64 -o out "garbled"
	expect_rc 1
	expect_one_error_line
	pid=$(prompt_body | jq -r .prompt_id)
	expect_eq "$ERR" "imagen: backend \"local\": upstream returned malformed JSON (GET /history/$pid)" stderr
	expect_empty_dir out

	# given up while the prompt still runs (no socket, the first poll is garbled): it is
	# not left running for nobody
	fake_data '{"ws": false, "steps_delay_ms": 1000}'
	fake_faults "$FAKE_URL" '[{"match": "GET /history", "garbage": true}]'
	im generate --seed 3 -W 64 -H 64 -o out "abandoned"
	expect_rc 1
	pid=$(prompt_body 1 | jq -r .prompt_id)
	expect_json_eq "$(reqs POST '^/interrupt$' | jq -c '.[0].body | fromjson')" "{\"prompt_id\": \"$pid\"}" "interrupt body"
	wait_for events execution_interrupted
}

test_a_server_that_makes_its_own_prompt_id_is_followed() {
	fake_start comfyui
	cf_config
	fake_data '{"ignore_prompt_id": true}'
	im generate --seed 3 -W 64 -H 64 -o out "older server"
	expect_rc 0
	sent=$(prompt_body | jq -r .prompt_id)
	got=$(jqr "${OUT%.png}.json" .metadata.prompt_id)
	[ "$sent" != "$got" ] || fail "the fake kept our prompt_id"
	expect_eq "$(nreqs GET "^/history/$got\$")" 1 "history of the server's id"
}

test_execution_error_names_the_node_and_exception() {
	fake_start comfyui
	cf_config
	fake_data '{"execution_error": {"exception_type": "torch.OutOfMemoryError", "exception_message": "CUDA out of memory. Tried to allocate 2.00 GiB\n", "at_step": 3}}'
	im generate --seed 2 -W 64 -H 64 -o out "too big"
	expect_rc 1
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "local": execution failed in node 3 (KSampler): torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB' stderr
	expect_empty_dir out
	# the same when only the history tells (no socket)
	fake_data '{"ws": false}'
	im generate --seed 2 -W 64 -H 64 -o out "too big"
	expect_rc 1
	expect_eq "$ERR" 'imagen: backend "local": execution failed in node 3 (KSampler): torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB' "stderr from the history"
}

test_ctrl_c_while_running_interrupts_our_prompt() {
	fake_start comfyui
	cf_config
	fake_data '{"steps_delay_ms": 300}'
	mkdir -p out
	bg_imagen generate --seed 4 -W 64 -H 64 -o out "never finished"
	wait_for events execution_start
	t0=$(date +%s%N)
	bg_interrupt
	t1=$(date +%s%N)
	expect_eq "$RC" 130 "exit status"
	[ $(((t1 - t0) / 1000000)) -lt 3000 ] || fail "took $(((t1 - t0) / 1000000)) ms to stop"
	expect_eq "$ERR" "imagen: interrupted" stderr
	pid=$(prompt_body | jq -r .prompt_id)
	expect_eq "$(nreqs GET '^/queue$')" 1 "queue checks"
	expect_eq "$(nreqs POST '^/interrupt$')" 1 "interrupts"
	expect_json_eq "$(reqs POST '^/interrupt$' | jq -c '.[0].body | fromjson')" "{\"prompt_id\": \"$pid\"}" "interrupt body"
	expect_eq "$(nreqs POST '^/queue$')" 0 "queue deletes"
	wait_for events execution_interrupted
	expect_empty_dir out
}

test_ctrl_c_while_queued_deletes_it_and_spares_the_running_one() {
	fake_start comfyui
	cf_config
	fake_data '{"foreign_running": true}'
	wait_for events foreign_start
	mkdir -p out
	bg_imagen generate --seed 4 -W 64 -H 64 -o out "waiting in line"
	wait_for nreqs POST '^/prompt$'
	sleep 0.2
	bg_interrupt
	expect_eq "$RC" 130 "exit status"
	expect_eq "$ERR" "imagen: interrupted" stderr
	pid=$(prompt_body | jq -r .prompt_id)
	expect_eq "$(nreqs POST '^/queue$')" 1 "queue deletes"
	expect_json_eq "$(reqs POST '^/queue$' | jq -c '.[0].body | fromjson')" "{\"delete\": [\"$pid\"]}" "delete body"
	expect_eq "$(nreqs POST '^/interrupt$')" 0 "interrupts (someone else's prompt runs)"
	expect_eq "$(events foreign_interrupted)" 0 "the running prompt was spared"
	expect_empty_dir out
	q=$(fake_get /queue)
	expect_eq "$(jq '.queue_pending | length' <<<"$q")" 0 "pending prompts"
	expect_eq "$(jq -r '.queue_running[0][1]' <<<"$q")" foreign-00000000 "still running"
}

test_timeout_gives_up_and_removes_the_prompt() {
	fake_start comfyui
	cf_config "    model: sd15.safetensors
    timeout: 1"
	fake_data '{"foreign_running": true}'
	wait_for events foreign_start
	im generate --seed 4 -W 64 -H 64 -o out "stuck behind another"
	expect_rc 1
	expect_one_error_line
	pid=$(prompt_body | jq -r .prompt_id)
	expect_eq "$ERR" "imagen: backend \"local\": no result for prompt $pid after 1 s (backends.local.timeout)" stderr
	expect_json_eq "$(reqs POST '^/queue$' | jq -c '.[0].body | fromjson')" "{\"delete\": [\"$pid\"]}" "delete body"
	expect_eq "$(nreqs POST '^/interrupt$')" 0 interrupts
}

test_verbose_shows_each_request_line() {
	fake_start comfyui
	cf_config
	im -v generate --seed 4 -W 64 -H 64 -o out "loud"
	expect_rc 0
	expect_match "$ERR" "imagen: local: GET http://127\.0\.0\.1:[0-9]+/ws\?clientId=[0-9a-f-]{36} -> 101 \([0-9]+ ms\)" "-v ws line"
	expect_match "$ERR" "imagen: local: POST http://127\.0\.0\.1:[0-9]+/prompt -> 200 \([0-9]+ ms, [0-9]+ bytes\)" "-v prompt line"
	expect_match "$ERR" "imagen: local: queued prompt [0-9a-f-]{36} \(number 1, following the websocket\)" "-v queued line"
	expect_match "$ERR" "imagen: local: GET http://127\.0\.0\.1:[0-9]+/history/[0-9a-f-]{36} -> 200" "-v history line"
	expect_match "$ERR" "imagen: local: GET http://127\.0\.0\.1:[0-9]+/view\?filename=imagen_00001_\.png&subfolder=&type=output -> 200" "-v view line"
}

test_credentials_in_base_url_reach_socket_and_http_but_not_the_output() {
	fake_start comfyui
	export SECRET_CANARY="SECRET_CANARY_comfy_$$"
	u=${FAKE_URL#http://}
	write_config "$CFG" <<EOF
defaults:
  backend: local
backends:
  local:
    type: comfyui
    base_url: http://me:$SECRET_CANARY@$u
    model: sd15.safetensors
EOF
	im -v generate --seed 4 -W 64 -H 64 -o out "behind a proxy"
	expect_rc 0
	want="Basic $(printf 'me:%s' "$SECRET_CANARY" | base64 -w0)"
	expect_eq "$(reqs GET '^/ws$' | jq -r '.[0].headers.authorization')" "$want" "websocket auth"
	expect_eq "$(reqs POST '^/prompt$' | jq -r '.[0].headers.authorization')" "$want" "http auth"
	expect_not_contains "$(cat "${OUT%.png}.json")" "$SECRET_CANARY" sidecar
}

test_count_two_queues_two_prompts_with_consecutive_seeds() {
	fake_start comfyui
	cf_config
	im generate --count 2 --seed 10 -W 64 -H 64 -o out "twins"
	expect_rc 0
	expect_eq "$(count_files out '*.png')" 2 pngs
	# the two prompts go out at once (the instance's concurrency, 2): in either order
	expect_eq "$(reqs POST '^/prompt$' | jq -c '[.[].body | fromjson | .prompt["3"].inputs.seed] | sort')" '[10,11]' seeds
	expect_eq "$(reqs POST '^/prompt$' | jq '[.[].body | fromjson | .prompt_id] | unique | length')" 2 "prompt ids"
}

# Every image a run saves is downloaded and kept, each with its own file and sidecar;
# only the first is what the seed alone reproduces.
test_a_graph_saving_two_images_keeps_both() {
	fake_start comfyui
	cf_config
	fake_data '{"images": 2}'
	im generate --json --seed 10 -W 64 -H 64 -o out "two outputs"
	expect_rc 0
	expect_eq "$(count_files out '*.png')" 2 pngs
	expect_eq "$(nreqs POST '^/prompt$')" 1 "prompts queued"
	expect_eq "$(nreqs GET '^/view$')" 2 downloads
	expect_eq "$(jq -sc '[.[] | .index]' <<<"$OUT")" '[0,1]' "record indexes"
	expect_eq "$(jq -sc '[.[] | .seed]' <<<"$OUT")" '[10,10]' "recorded seeds"
	a=$(jq -rs '.[0].sidecar' <<<"$OUT")
	b=$(jq -rs '.[1].sidecar' <<<"$OUT")
	[ "$a" != "$b" ] || fail "both records name one sidecar"
	expect_eq "$(jqr "$a" '[.metadata.images, .metadata.image_index, .metadata.image.filename, .seed_honoured] | @json')" \
		'[2,0,"imagen_00001_.png",true]' "first image"
	expect_eq "$(jqr "$b" '[.metadata.images, .metadata.image_index, .metadata.image.filename, .seed_honoured] | @json')" \
		'[2,1,"imagen_00002_.png",false]' "second image"
	pngcheck -q out/*.png >/dev/null || fail "pngcheck rejects an image"
}

# --count counts images: runs of a two-image graph until there are enough (the last
# run's surplus is kept too), with seeds seed, seed+1 per run.
test_count_with_a_two_image_graph_counts_images_and_keeps_the_surplus() {
	fake_start comfyui
	cf_config
	fake_data '{"images": 2}'
	im generate --json --count 3 --seed 20 -W 64 -H 64 -o out "pairs"
	expect_rc 0
	expect_eq "$(nreqs POST '^/prompt$')" 2 "prompts queued"
	expect_eq "$(count_files out '*.png')" 4 pngs
	expect_eq "$(jq -sc '[.[] | .seed]' <<<"$OUT")" '[20,20,21,21]' "recorded seeds"
	# the second prompt waits for the first (how many images does a run give?)
	expect_eq "$( (prompt_body 0; prompt_body 1) | jq -sc '[.[].prompt[] | select(.class_type == "KSampler") | .inputs.seed] | sort')" '[20,21]' "seeds sent"
}

# ComfyUI caches node outputs (issue 9 item 17): the same graph queued again runs nothing
# and answers with the earlier run's file.  imagen says so (a warning, -q hides it) and
# records it; the image is the same bytes.
test_an_identical_graph_again_comes_from_the_cache_with_a_warning() {
	fake_start comfyui
	cf_config
	im generate --seed 9 -W 64 -H 64 -o out "same again"
	expect_rc 0
	expect_eq "$ERR" "" "stderr of the first run"
	first=$OUT
	im generate --seed 9 -W 64 -H 64 -o out2 "same again"
	expect_rc 0
	expect_one_error_line
	expect_match "$ERR" "^imagen: local: prompt [0-9a-f-]+ was answered from ComfyUI's cache: its image is the one an earlier run of the same graph made\$" stderr
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.image.filename)" \
		"$(jqr "${first%.png}.json" .metadata.image.filename)" "the file ComfyUI answered with"
	expect_eq "$(jqr "${OUT%.png}.json" .metadata.image.cached)" true "recorded as cached"
	expect_eq "$(jqr "${first%.png}.json" .metadata.image.cached)" false "first run recorded as run"
	expect_eq "$(events execution_cached)" 1 "runs the fake served from its cache"
	im -q generate --seed 9 -W 64 -H 64 -o out3 "same again"
	expect_rc 0
	expect_eq "$ERR" "" "stderr with -q"
	# another seed: the sampler runs again, no warning
	im generate --seed 10 -W 64 -H 64 -o out4 "same again"
	expect_rc 0
	expect_eq "$ERR" "" "stderr with a new seed"
	[ "$(jqr "${OUT%.png}.json" .metadata.image.filename)" != "$(jqr "${first%.png}.json" .metadata.image.filename)" ] ||
		fail "a new seed gave the cached image"
}

# A workflow whose seed goes nowhere cannot make several different images one run at a
# time: refused before anything is queued - or, when it has a batch size, made in one
# run (issue 9 item 17).
test_count_without_a_seed_input_is_refused_or_batched() {
	fake_start comfyui
	cf_config "    model: sd15.safetensors
    params: {seed: null, batch_size: null}"
	im generate --count 3 -W 64 -H 64 -o out "no seed"
	expect_rc 2
	expect_one_error_line
	expect_eq "$ERR" 'imagen: backend "local": 3 images asked for, but the workflow builtin:txt2img has no seed input: ComfyUI would answer every run after the first from its cache with the same image (set backends.local.params.seed, or params.batch_size to make them in one run)' stderr
	expect_eq "$(nreqs POST '^/prompt$')" 0 "prompts queued"
	expect_empty_dir out
	# one image is fine
	im generate -W 64 -H 64 -o out "no seed"
	expect_rc 0
	expect_eq "$(count_files out '*.png')" 1 pngs
	# a batch size: all three in one run, three different images
	cf_config "    model: sd15.safetensors
    params: {seed: null}"
	im generate --count 3 -W 64 -H 64 -o out2 "no seed, batched"
	expect_rc 0
	expect_eq "$ERR" "" stderr
	expect_eq "$(count_files out2 '*.png')" 3 pngs
	expect_eq "$(nreqs POST '^/prompt$')" 2 "prompts queued (one per run)"
	expect_eq "$(prompt_body 1 | jq '.prompt["5"].inputs.batch_size')" 3 "batch_size sent"
	expect_eq "$(sha256sum out2/*.png | cut -c1-64 | sort -u | wc -l | tr -d ' ')" 3 "different images"
}

test_config_validate_checks_the_slice() {
	FAKE_URL=http://127.0.0.1:9
	cf_config "    model: sd15.safetensors
    stpes: 20"
	im config validate
	expect_rc 2
	expect_match "$ERR" "imagen\.yaml:8:5: unknown key 'stpes' in backends\.local \(did you mean 'steps'\?\)|imagen\.yaml:8:5: unknown key 'stpes' in backends\.local" stderr

	cf_config "    model: \"\""
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.local.model is required with the built-in txt2img graph" stderr

	write_config "$CFG" <<'EOF'
backends:
  local:
    type: comfyui
    model: x.safetensors
EOF
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.local.base_url is required (e.g. http://127.0.0.1:8188)" stderr

	cf_config "    model: sd15.safetensors
    cfg: lots"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "imagen.yaml:8:10: backends.local.cfg: expected a number, 0..100" stderr

	cf_config "    workflow: builtin:sdxl"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.local.workflow: unknown built-in graph 'builtin:sdxl' (known: builtin:txt2img, builtin:flux-schnell, or a file path)" stderr

	cf_config "    workflow: $HOME/missing.json"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.local.workflow: " stderr
	expect_contains "$ERR" "missing.json" stderr

	echo '{"nodes": [], "links": [], "version": 0.4}' >"$HOME/ui.json"
	cf_config "    workflow: $HOME/ui.json"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "is a UI-format workflow; save it in ComfyUI with \"Export (API)\"" stderr

	cf_config "    model: sd15.safetensors
    params:
      promt: 6.inputs.text"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "imagen.yaml:9:7: backends.local.params: unknown parameter 'promt' (did you mean 'prompt'?)" stderr

	cf_config "    model: sd15.safetensors
    params:
      seed: 42.inputs.seed"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.local.params.seed: the workflow has no node \"42\"" stderr

	cf_config "    model: sd15.safetensors
    params:
      seed: 3.inputs.sed"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.local.params.seed: node \"3\" (KSampler) has no input 'sed' (inputs: seed, steps, cfg, sampler_name, scheduler, denoise)" stderr

	cf_config "    model: sd15.safetensors
    params:
      seed: 3.inputs.model"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "backends.local.params.seed: input model of node \"3\" (KSampler) is a link, not a value" stderr

	echo '{"1": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}' >"$HOME/noprompt.json"
	cf_config "    workflow: $HOME/noprompt.json"
	im config validate
	expect_rc 2
	expect_contains "$ERR" "cannot tell where the prompt goes in $HOME/noprompt.json; set backends.local.params.prompt (e.g. \"6.inputs.text\")" stderr

	FAKE_URL=ftp://127.0.0.1
	cf_config
	im config validate
	expect_rc 2
	expect_contains "$ERR" "imagen.yaml:6:15: backends.local.base_url: expected an http:// or https:// URL, got 'ftp://127.0.0.1/'" stderr
}

run_tests
