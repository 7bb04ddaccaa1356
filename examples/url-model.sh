#!/usr/bin/env bash
# A model by URL, end to end, on one machine with no network: a "model hub"
# (python3 -m http.server on 127.0.0.1) serves encoder.onnx; the example crate
# examples/url-model declares it with `cargo dvc import-url --sha256`, builds
# and runs; the hub publishes a new model: `cargo dvc status` says the source
# changed, the build keeps the pinned one, `cargo dvc update` refuses bytes
# that are not the pinned SHA-256 until the pin is moved, then the new model
# is embedded.
#
#   examples/url-model.sh [WORKDIR]      (default: a fresh temp dir)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$(mktemp -d -t dvc-build-url-model-XXXXXX)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
export DVC_BUILD_CACHE_DIR="$work/cache"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/examples}"

step() { printf '\n\033[1;32m==>\033[0m %s\n' "$*"; }

if [ -n "${CARGO_DVC:-}" ]; then
  cargo_dvc="$CARGO_DVC" # an already built cargo-dvc (the test suite's)
else
  step "building cargo-dvc"
  cargo build --quiet --manifest-path "$root/Cargo.toml" --features cli --bin cargo-dvc
  cargo_dvc="$CARGO_TARGET_DIR/debug/cargo-dvc"
fi

step "a model hub on 127.0.0.1 serving $work/hub"
mkdir -p "$work/hub/models"
printf 'encoder weights, release 1\n' >"$work/hub/models/encoder.onnx"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m http.server --bind 127.0.0.1 "$port" --directory "$work/hub" >/dev/null 2>&1 &
hub=$!
trap 'kill "$hub" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
url="http://127.0.0.1:$port/models/encoder.onnx"

step "the crate: cargo dvc import-url $url --sha256 ..."
rm -rf "$work/url-model"
cp -R "$root/examples/url-model" "$work/url-model"
sed -i.bak "s|path = \"../..\"|path = \"$root\"|" "$work/url-model/Cargo.toml" && rm -f "$work/url-model/Cargo.toml.bak"
cd "$work/url-model"
sha="$(sha256sum "$work/hub/models/encoder.onnx" | cut -d' ' -f1)"
"$cargo_dvc" dvc import-url "$url" --name encoder --sha256 "$sha"
echo "--- Cargo.toml (the declaration)"; sed -n '/metadata.dvc/,$p' Cargo.toml
echo "--- encoder.onnx.dvc (the lock, as \`dvc import-url\` writes it)"; cat encoder.onnx.dvc

step "cargo run (build.rs fetches the pinned, verified model into OUT_DIR)"
cargo run --quiet

step "the hub publishes release 2"
sleep 1 # a new Last-Modified second
printf 'encoder weights, release 2 (retrained)\n' >"$work/hub/models/encoder.onnx"
"$cargo_dvc" dvc status
out="$(cargo run --quiet)"
echo "$out"
grep -q "release 1" <<<"$out" # the lock still pins release 1

step "cargo dvc update encoder: refused, the bytes are not the pinned SHA-256"
if "$cargo_dvc" dvc update encoder; then
  echo "update should have been refused" >&2
  exit 1
fi

step "move the pin to release 2 and update"
new="$(sha256sum "$work/hub/models/encoder.onnx" | cut -d' ' -f1)"
sed -i.bak "s|$sha|$new|" Cargo.toml && rm -f Cargo.toml.bak
cp encoder.onnx.dvc encoder.onnx.dvc.before
"$cargo_dvc" dvc update encoder
diff -u encoder.onnx.dvc.before encoder.onnx.dvc || true
rm -f encoder.onnx.dvc.before

step "cargo run again: the new model is embedded"
out="$(cargo run --quiet)"
echo "$out"
grep -q "release 2" <<<"$out"
step "done (work dir: $work)"
