#!/usr/bin/env bash
# Determinism and crash-resume of `tinytrain fit`:
#  1. the same config, seed and threads twice -> byte-identical last.h5 and best.h5;
#  2. kill -9 in the middle of epoch 2, then --resume -> the same final last.h5 as (1).
set -euo pipefail
TT=$1
CFG=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$TT" fit "$CFG" --out "$work/a" --quiet
"$TT" fit "$CFG" --out "$work/b" --quiet
for f in last.h5 best.h5; do
  cmp "$work/a/$f" "$work/b/$f" || { echo "FAIL: two identical runs differ in $f"; exit 1; }
done
echo "ok: two runs give identical checkpoints"

"$TT" fit "$CFG" --out "$work/c" --quiet &
pid=$!
# Wait until epoch 1 is recorded, then kill at once: epoch 2 is under way.
for _ in $(seq 1 6000); do
  [ -s "$work/c/metrics.jsonl" ] && break
  sleep 0.01
done
kill -9 "$pid" 2>/dev/null || { echo "FAIL: the run ended before it could be killed"; exit 1; }
wait "$pid" 2>/dev/null || true
[ ! -e "$work/c/report.json" ] || { echo "FAIL: killed run had already finished"; exit 1; }
done_epochs=$(wc -l < "$work/c/metrics.jsonl")
echo "killed after $done_epochs completed epoch(s)"
[ ! -e "$work/c/last.h5.tmp" ] || echo "note: a temporary checkpoint was left behind (harmless)"

"$TT" fit "$CFG" --out "$work/c" --resume --quiet
cmp "$work/a/last.h5" "$work/c/last.h5" || { echo "FAIL: resumed run ends with other weights"; exit 1; }
[ "$(wc -l < "$work/c/metrics.jsonl")" -eq "$(wc -l < "$work/a/metrics.jsonl")" ] ||
  { echo "FAIL: metrics.jsonl of the resumed run has the wrong number of epochs"; exit 1; }
echo "ok: kill -9 + --resume ends bit-identical to an uninterrupted run"
