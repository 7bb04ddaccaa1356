#!/usr/bin/env bash
# The whole dvc-build story on one machine, with no network, no Python and no
# setup: make a DVC-layout registry on the spot (a git repo with .dvc/config,
# a .dvc file and a local remote folder holding the content), import a model
# from it into a consumer crate, build and run the consumer, publish v2 in the
# registry, `cargo dvc update`, rebuild and show the new model.
#
#   examples/quickstart.sh [WORKDIR]      (default: a fresh temp dir)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$(mktemp -d -t dvc-build-quickstart-XXXXXX)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
export DVC_BUILD_CACHE_DIR="$work/cache"
export CARGO_TARGET_DIR="$root/target/quickstart"
export GIT_AUTHOR_NAME=quickstart GIT_AUTHOR_EMAIL=quickstart@example.com
export GIT_COMMITTER_NAME=quickstart GIT_COMMITTER_EMAIL=quickstart@example.com

step() { printf '\n\033[1;32m==>\033[0m %s\n' "$*"; }

step "building cargo-dvc"
cargo build --quiet --manifest-path "$root/Cargo.toml" --features cli --bin cargo-dvc
cargo_dvc="$CARGO_TARGET_DIR/debug/cargo-dvc"

registry="$work/registry"
remote="$work/remote"

# publish CONTENT: put CONTENT in the remote (DVC 3 layout) and write the
# registry's models/model.txt.dvc that names it, as `dvc add` + `dvc push` would.
publish() {
  local content="$1" md5 size
  md5="$(printf '%s' "$content" | md5sum | cut -d' ' -f1)"
  size="$(printf '%s' "$content" | wc -c | tr -d ' ')"
  mkdir -p "$remote/files/md5/${md5:0:2}" "$registry/models"
  printf '%s' "$content" >"$remote/files/md5/${md5:0:2}/${md5:2}"
  printf 'outs:\n- md5: %s\n  size: %s\n  hash: md5\n  path: model.txt\n' "$md5" "$size" \
    >"$registry/models/model.txt.dvc"
}

step "making a DVC registry in $registry (remote: $remote)"
git init -q -b main "$registry"
mkdir -p "$registry/.dvc"
printf "[core]\n    remote = store\n['remote \"store\"']\n    url = ../../remote\n" >"$registry/.dvc/config"
printf '/model.txt\n' >"$registry/.gitignore"
mkdir -p "$registry/models" && printf '/model.txt\n' >"$registry/models/.gitignore"
publish "weights of model v1"
git -C "$registry" add -A && git -C "$registry" commit -q -m "model v1" && git -C "$registry" tag v1
git -C "$registry" log --oneline --decorate

step "a consumer crate: cargo dvc import $registry models/model.txt --rev v1"
rm -rf "$work/consumer"
cp -R "$root/examples/consumer" "$work/consumer"
sed -i.bak "s|path = \"../..\"|path = \"$root\"|" "$work/consumer/Cargo.toml" && rm -f "$work/consumer/Cargo.toml.bak"
cd "$work/consumer"
"$cargo_dvc" dvc import "$registry" models/model.txt --rev v1 --name model
echo "--- Cargo.toml (the declaration)"; sed -n '/metadata.dvc/,$p' Cargo.toml
echo "--- model.txt.dvc (the lock, as \`dvc import\` writes it)"; cat model.txt.dvc

step "cargo run (build.rs fetches the pinned, verified model into OUT_DIR)"
cargo run --quiet

step "the registry publishes v2"
publish "weights of model v2, retrained"
git -C "$registry" commit -q -am "model v2" && git -C "$registry" tag v2

step "cargo dvc update model --rev v2"
cp Cargo.toml Cargo.toml.before && cp model.txt.dvc model.txt.dvc.before
"$cargo_dvc" dvc update model --rev v2
diff -u Cargo.toml.before Cargo.toml || true
diff -u model.txt.dvc.before model.txt.dvc || true
rm -f Cargo.toml.before model.txt.dvc.before

step "cargo run again: the new model is embedded"
out="$(cargo run --quiet)"
echo "$out"
grep -q "model v2" <<<"$out"
step "done (work dir: $work)"
