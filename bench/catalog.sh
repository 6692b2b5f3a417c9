#!/usr/bin/env bash
# make bench, the catalog part: a synthetic library of N images with sidecars (bench/mklib),
# then imagen index from scratch and with nothing changed, three searches (median wall
# time, process start included) beside grep -rl answering the same text question over
# the sidecars, and the catalog's size per image.  Figures only: nothing fails on speed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
IMAGEN="$PWD/$BUILD/imagen"
RUNBENCH="$PWD/$BUILD/bench/runbench"
MKLIB="$PWD/$BUILD/bench/mklib"
N=${CATALOG_IMAGES:-100000}
RUNS=${RUNS:-30}
GREP_RUNS=${GREP_RUNS:-5}
work=$(mktemp -d /tmp/imagen-bench-catalog.XXXXXX)
trap 'rm -rf "$work"' EXIT

export HOME="$work/home" IMAGEN_CATALOG="$work/catalog.db"
mkdir -p "$HOME"
unset IMAGEN_CONFIG IMAGEN_OUTPUT_DIR XDG_DATA_HOME

now_s() { date +%s.%N; }

echo
echo "catalog: a library of $N images with sidecars (bench/mklib), on $(nproc) cores"
t0=$(now_s)
"$MKLIB" "$work/lib" "$N"
echo "library written in $(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }') s"

# index: one run each (the second finds nothing changed)
t0=$(now_s)
"$IMAGEN" -q index "$work/lib"
t1=$(now_s)
"$IMAGEN" -q index "$work/lib"
t2=$(now_s)
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
	printf "imagen index from scratch: %.2f s, %.0f images/s (target >= 2000/s: %s)\n",
		b - a, n / (b - a), (n / (b - a) >= 2000 ? "ok" : "MISS")
	printf "imagen index, nothing changed: %.2f s, %.0f images/s\n", c - b, n / (c - b)
}'
bytes=$(stat -c %s "$IMAGEN_CATALOG")
for f in "$IMAGEN_CATALOG-wal" "$IMAGEN_CATALOG-shm"; do
	[ -f "$f" ] && bytes=$((bytes + $(stat -c %s "$f")))
done
echo "catalog: $bytes bytes, $((bytes / N)) bytes per image"

# searches: the catalog against grep over the sidecars, same text question, same run
: >"$work/figures.tsv"
figure() { awk -F'\t' -v l="$1" '$1 == l { v = $2 } END { print v }' "$work/figures.tsv"; }
# each query as the shell hands it over: "red fox" arrives as one word, and every word
# must match (a phrase is asked for with quotes inside the word: '"red fox"')
q0=("red fox" "seed:1..1000")
q1=(lighthouse "model:flux*" "since:2026-06-01")
q2=("owl*" "backend:replicate" "cost>0.002")
greps=('red fox' 'lighthouse' '"prompt": "[^"]*owl')
for i in 0 1 2; do
	eval 'words=("${q'$i'[@]}")'
	n=$("$IMAGEN" search --paths "${words[@]}" | wc -l || true)
	"$RUNBENCH" -n "$RUNS" -o "$work/figures.tsv" -l "search $i" -- \
		"$IMAGEN" search --paths "${words[@]}"
	"$RUNBENCH" -n "$GREP_RUNS" -w 1 -o "$work/figures.tsv" -l "grep $i" -- \
		grep -rlE --include='*.json' "${greps[$i]}" "$work/lib"
	awk -v q="imagen search --paths ${words[*]}" -v n="$n" -v a="$(figure "search $i")" \
		-v g="grep -rlE '${greps[$i]}'" -v b="$(figure "grep $i")" 'BEGIN {
		printf "%s: %d found, median %.1f ms (target <= 30 ms: %s)\n", q, n, a,
			(a <= 30 ? "ok" : "MISS")
		printf "  %s over the sidecars: median %.0f ms, %.0fx slower (target >= 20x: %s)\n",
			g, b, b / a, (b / a >= 20 ? "ok" : "MISS")
	}'
done
