#!/usr/bin/env bash
# Every way a user can get `tinytrain fit` / `eval` wrong: a clear message, the right exit code
# (2: bad command line or config, 1: the work failed), and no damaged files.
set -uo pipefail
TT=$1
HERE=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"

expect 2 "usage: tinytrain" -- "$TT"
expect 0 "fit CONFIG.yaml" -- "$TT" --help
expect 2 "unknown command 'frobnicate'" -- "$TT" frobnicate
expect 0 "usage: tinytrain fit" -- "$TT" fit --help
expect 0 "usage: tinytrain eval" -- "$TT" eval --help
expect 2 "missing CONFIG.yaml" -- "$TT" fit
expect 2 "unexpected argument '--bogus'" -- "$TT" fit "$HERE/tiny_mlp.yaml" --bogus
expect 2 "--epochs needs a value" -- "$TT" fit "$HERE/tiny_mlp.yaml" --epochs
expect 2 "--epochs: .*'zero'" -- "$TT" fit "$HERE/tiny_mlp.yaml" --epochs zero
expect 2 "missing CKPT.h5" -- "$TT" eval
expect 2 "nope.yaml.*(cannot|No such)" -- "$TT" fit "$work/nope.yaml"

printf 'name: x\nseed: [1, 2\n' >"$work/malformed.yaml"
expect 2 "malformed.yaml:[0-9]+:[0-9]+" -- "$TT" fit "$work/malformed.yaml"
sed 's/^epochs: 3/epochs: 3\nepochz: 4/' "$HERE/tiny_mlp.yaml" >"$work/unknown.yaml"
expect 2 "unknown.yaml:[0-9]+:[0-9]+: epochz" -- "$TT" fit "$work/unknown.yaml"
sed 's/^batch_size: 32/batch_size: lots/' "$HERE/tiny_mlp.yaml" >"$work/type.yaml"
expect 2 "type.yaml:[0-9]+:[0-9]+: batch_size" -- "$TT" fit "$work/type.yaml"

# A missing data set names the path and the Debian package.
cat >"$work/nodata.yaml" <<'YAML'
data: {kind: fashion_mnist, dir: /nonexistent/fashion}
model:
  input: [1, 28, 28]
  layers: [{type: flatten}, {type: linear, out_features: 10}]
YAML
expect 1 "/nonexistent/fashion/.*dataset-fashion-mnist" -- "$TT" fit "$work/nodata.yaml" --out "$work/r0"

# A truncated IDX file: a clear format error, not a crash.
mkdir -p "$work/fm"
for f in t10k-labels-idx1-ubyte.gz train-labels-idx1-ubyte.gz train-images-idx3-ubyte.gz; do
  cp "/usr/share/datasets/fashion-mnist/$f" "$work/fm/$f"
done
head -c 3000 /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz >"$work/fm/t10k-images-idx3-ubyte.gz"
sed "s|/nonexistent/fashion|$work/fm|" "$work/nodata.yaml" >"$work/trunc.yaml"
expect 1 "t10k-images.*(truncated|ends early|corrupt)" -- "$TT" fit "$work/trunc.yaml" --out "$work/r1"

# An output directory that cannot be created.
expect 1 "cannot create" -- "$TT" fit "$HERE/tiny_mlp.yaml" --out /etc/hostname/run --quiet

# A diverging loss stops with an error and leaves the last good checkpoint as it was.
"$TT" fit "$HERE/tiny_cnn.yaml" --out "$work/div" --epochs 1 --quiet || fails=$((fails + 1))
cp "$work/div/last.h5" "$work/last.good"
expect 1 "diverged" -- "$TT" fit "$HERE/tiny_cnn.yaml" --out "$work/div" --epochs 3 --lr 1e30 --resume --quiet
cmp "$work/div/last.h5" "$work/last.good" || { echo "FAIL: last.h5 changed by the diverged run"; fails=$((fails + 1)); }

# eval: a real checkpoint, then bad ones.
expect 0 "accuracy [0-9.]+%" -- "$TT" eval "$work/div/last.h5"
expect 1 "nothing.h5" -- "$TT" eval "$work/nothing.h5"
head -c 500 "$work/div/last.h5" >"$work/cut.h5"
expect 1 "cut.h5" -- "$TT" eval "$work/cut.h5"

# tinytrain calib: usage errors exit 2, an impossible request exits 1, and nothing is written.
expect 0 "usage: tinytrain calib" -- "$TT" calib --help
expect 2 "(-n|samples)" -- "$TT" calib "$HERE/tiny_mlp.yaml" -o "$work/c.npz"
expect 2 "(\.npz|\.h5)" -- "$TT" calib "$HERE/tiny_mlp.yaml" -n 10 -o "$work/c.txt"
expect 1 "only [0-9]+" -- "$TT" calib "$HERE/tiny_mlp.yaml" -n 100000000 -o "$work/c.npz"
[ ! -e "$work/c.npz" ] || { echo "FAIL: calib left $work/c.npz behind"; fails=$((fails + 1)); }
expect 0 "40 train samples" -- "$TT" calib "$HERE/tiny_mlp.yaml" -n 40 -o "$work/c.npz"

echo "cli checks: $passes passed, $fails failed"
exit $((fails != 0))
