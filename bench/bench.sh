#!/usr/bin/env bash
# make bench: medians over repeated runs of the real binary, plus peak RSS.
# Figures only: nothing here passes or fails on speed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
IMAGEN="$PWD/$BUILD/imagen"
RUNBENCH="$PWD/$BUILD/bench/runbench"
RUNS=${RUNS:-30}
NODE_RUNS=${NODE_RUNS:-$RUNS}
PY=/usr/bin/python3
work=$(mktemp -d /tmp/imagen-bench.XXXXXX)
fake_pids=()
cleanup() {
	local p
	for p in "${fake_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${fake_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

export HOME="$work/home"
mkdir -p "$HOME"
unset IMAGEN_CONFIG IMAGEN_BACKEND IMAGEN_OUTPUT_DIR IMAGEN_CLOUD_SYNC IMAGEN_PREVIEW XDG_CONFIG_HOME
"$IMAGEN" config init --stdout >"$work/sample.yaml"

echo "imagen $("$IMAGEN" version | cut -d' ' -f2) on $(nproc) cores, $RUNS runs each (median, min, max; peak RSS)"
"$RUNBENCH" -n "$RUNS" -l "imagen version" -- "$IMAGEN" version
"$RUNBENCH" -n "$RUNS" -l "imagen config validate (sample)" -- "$IMAGEN" -c "$work/sample.yaml" config validate
"$RUNBENCH" -n "$RUNS" -l "imagen generate mock 512x512" -- \
	"$IMAGEN" generate -o "$work/out" -W 512 -H 512 --seed 1 "a lighthouse at dusk"
"$RUNBENCH" -n "$RUNS" -l "imagen generate mock 1024x1024" -- \
	"$IMAGEN" generate -o "$work/out" -W 1024 -H 1024 --seed 1 "a lighthouse at dusk"
echo "targets: version and config validate <= 10 ms; 1024x1024 generate <= 40 ms, peak RSS <= 24 MiB"

# --- client overhead -------------------------------------------------------------------
# imagen generate against fake upstreams that answer at once with a 1024x1024 PNG (OpenAI
# b64_json in the POST answer; Replicate Prefer: wait, then a GET of the output URL),
# beside a reference client making the same requests through the official SDK run by Node
# (bench/ref-*.mjs, packages pinned in bench/package.json + package-lock.json).  Two
# payloads: the fakes' flat test PNG (a few KiB) and an incompressible one of ~3 MiB, the
# size of a real generated image.  Both clients write the image to a file.

# setup_node: node + npm (Debian's packages when missing) and bench/node_modules (npm ci).
setup_node() {
	local sudo=""
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		[ "$(id -u)" = 0 ] || sudo="sudo"
		echo "installing nodejs and npm (Debian packages) for the reference client"
		$sudo apt-get install -y -q nodejs npm >/dev/null || return 1
	fi
	if [ ! -f bench/node_modules/.package-lock.json ] ||
		[ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
		echo "npm ci in bench/ (openai and replicate SDKs, pinned)"
		(cd bench && npm ci --no-audit --no-fund --loglevel=error) || return 1
	fi
}

# start_fake NAME ARGS...: a fake upstream from tests/fake on a free port; sets PORT.
start_fake() {
	local name=$1 pf i
	shift
	pf="$work/fake-$name-${#fake_pids[@]}.port"
	"$PY" "tests/fake/$name.py" --port-file "$pf" "$@" >"$pf.log" 2>&1 &
	fake_pids+=($!)
	for i in $(seq 1 400); do
		[ -s "$pf" ] && break
		sleep 0.025
	done
	[ -s "$pf" ] || { echo "bench: fake $name did not start: $(cat "$pf.log")" >&2; exit 1; }
	PORT=$(cat "$pf")
}

# figure LABEL FIELD: a number from the runbench -o records (2 = median ms, 6 = peak KiB).
figure() { awk -F'\t' -v l="$1" -v f="$2" '$1 == l { v = $f } END { print v }' "$work/figures.tsv"; }

echo
echo "client overhead: imagen and a Node SDK client against instant fake upstreams"
export OPENAI_API_KEY=sk-bench-not-a-real-key REPLICATE_API_TOKEN=r8_bench_not_a_real_token
node_ok=1
setup_node || { node_ok=0; echo "bench: no Node reference client (node/npm or npm ci failed)"; }
[ $node_ok = 1 ] && echo "reference: node $(node --version), openai $(cd bench &&
	node -p 'require("./node_modules/openai/package.json").version'), replicate $(cd bench &&
	node -p 'require("./node_modules/replicate/package.json").version'); $NODE_RUNS runs each"
: >"$work/figures.tsv"
flows=()
for payload in flat 3mib; do
	if [ $payload = flat ]; then
		oa_args=(--image ok)
		rp_args=(--png-size 1024)
	else
		oa_args=(--image noise)
		rp_args=(--png-size 1024 --png-noise)
	fi
	start_fake openai "${oa_args[@]}"
	oa_port=$PORT
	start_fake replicate "${rp_args[@]}"
	rp_port=$PORT
	cfg="$work/clients-$payload.yaml"
	printf '%s\n' "backends:" "  oa:" "    type: openai" "    model: gpt-image-1" \
		"    base_url: http://127.0.0.1:$oa_port/v1" "    quality: medium" \
		"    size: 1024x1024" "    output_format: png" "  rp:" "    type: replicate" \
		"    model: black-forest-labs/flux-schnell" \
		"    base_url: http://127.0.0.1:$rp_port/v1" >"$cfg"
	for flow in openai replicate; do
		if [ $flow = openai ]; then be=oa port=$oa_port; else be=rp port=$rp_port; fi
		flows+=("$flow $payload")
		"$RUNBENCH" -n "$RUNS" -o "$work/figures.tsv" -l "imagen $flow $payload" -- \
			"$IMAGEN" -c "$cfg" generate -b $be -o "$work/out-$flow" -W 1024 -H 1024 \
			--seed 42 "a lighthouse at dusk"
		[ $node_ok = 1 ] || continue
		"$RUNBENCH" -n "$NODE_RUNS" -o "$work/figures.tsv" -l "node $flow $payload" -- \
			node bench/ref-$flow.mjs "http://127.0.0.1:$port/v1" "$work/ref-$flow.png" ||
			node_ok=0
	done
done

echo
echo "client overhead (medians; target: imagen wall <= 1/10 and peak RSS <= 1/3 of Node's)"
printf '%-20s %10s %10s %10s %10s %12s %12s\n' "flow payload" "imagen ms" "imagen MiB" \
	"node ms" "node MiB" "wall ratio" "RSS ratio"
for f in "${flows[@]}"; do
	awk -v f="$f" -v a="$(figure "imagen $f" 2)" -v b="$(figure "imagen $f" 6)" \
		-v c="$(figure "node $f" 2)" -v d="$(figure "node $f" 6)" 'BEGIN {
		if (c == "" || d == "") {
			printf "%-20s %10.1f %10.1f %10s %10s %12s %12s\n", f, a, b / 1024, "-", "-",
				"-", "-"
			exit
		}
		w = a / c
		r = b / d
		printf "%-20s %10.1f %10.1f %10.1f %10.1f %7.3f %-4s %7.3f %-4s\n", f, a, b / 1024,
			c, d / 1024, w, (w <= 0.1 ? "ok" : "MISS"), r, (r <= 1 / 3 ? "ok" : "MISS")
	}'
done

# --- batches ---------------------------------------------------------------------------
# imagen batch: 40 jobs against a fake OpenAI upstream that holds every generation 300 ms
# (target: within 10 % of 40/4 x 0.3 s = 3 s at --concurrency 4), the same through a pool
# of two instances at concurrency 2 each (two fakes), beside serial --concurrency 1 and
# xargs -P4 over 40 `imagen generate`; then peak RSS at --concurrency 16 with realistic
# 1024x1024 PNGs of ~3 MiB (target <= 64 MiB).
BATCH_RUNS=${BATCH_RUNS:-3}
echo
echo "batches: 40 jobs, upstream latency 300 ms; $BATCH_RUNS runs each"
start_fake openai --latency-ms 300
b1=$PORT
start_fake openai --latency-ms 300
b2=$PORT
bcfg="$work/batch.yaml"
oa_block() { # NAME PORT CONCURRENCY
	printf '%s\n' "  $1:" "    type: openai" "    model: gpt-image-1" \
		"    base_url: http://127.0.0.1:$2/v1" "    quality: medium" "    size: 1024x1024" \
		"    concurrency: $3"
}
{
	echo "backends:"
	oa_block oa "$b1" 4
	oa_block m1 "$b1" 2
	oa_block m2 "$b2" 2
	printf '%s\n' "  farm:" "    type: pool" "    members: [m1, m2]"
} >"$bcfg"
seq 1 40 | sed 's/^/batch prompt /' >"$work/prompts.txt"
: >"$work/batch.tsv"
brun() { # LABEL ARGS...
	local label=$1
	shift
	"$RUNBENCH" -n "$BATCH_RUNS" -o "$work/batch.tsv" -l "$label" -- "$@"
}
brun "batch --concurrency 4" "$IMAGEN" -q -c "$bcfg" batch -b oa --concurrency 4 \
	-o "$work/b4" "$work/prompts.txt"
brun "batch pool 2x2" "$IMAGEN" -q -c "$bcfg" batch -b farm -o "$work/bp" "$work/prompts.txt"
brun "batch --concurrency 1" "$IMAGEN" -q -c "$bcfg" batch -b oa --concurrency 1 \
	-o "$work/b1" "$work/prompts.txt"
brun "xargs -P4 generate" xargs -P4 -I{} -a "$work/prompts.txt" "$IMAGEN" -q -c "$bcfg" \
	generate -b oa --no-preview -o "$work/bx" {}
awk -F'\t' '$1 == "batch --concurrency 4" { w = $2 / 1000
	printf "batch --concurrency 4: %.2f s against 3 s: %s\n", w,
		(w >= 2.7 && w <= 3.3) ? "ok" : "MISS" }' "$work/batch.tsv"

start_fake openai --image noise
big=$PORT
{
	echo "backends:"
	oa_block oa "$big" 16
} >"$work/big.yaml"
seq 1 48 | sed 's/^/big prompt /' >"$work/big.txt"
brun "batch --concurrency 16, ~3 MiB PNGs" "$IMAGEN" -q -c "$work/big.yaml" batch -b oa \
	--concurrency 16 -o "$work/big" "$work/big.txt"
awk -F'\t' '$1 ~ /concurrency 16/ { m = $6 / 1024
	printf "peak RSS at --concurrency 16: %.1f MiB against 64 MiB: %s\n", m,
		m <= 64 ? "ok" : "MISS" }' "$work/batch.tsv"
