#!/usr/bin/env bash
# make bench: medians over repeated runs of the real binary, plus peak RSS.
# Figures only: nothing here passes or fails on speed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
IMAGEN="$PWD/$BUILD/imagen"
RUNBENCH="$PWD/$BUILD/bench/runbench"
RUNS=${RUNS:-30}
work=$(mktemp -d /tmp/imagen-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

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
