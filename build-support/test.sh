#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the real tools the tests drive
# (dvc 3 and 2 with dvc-s3/gs/azure/ssh, SeaweedFS, fake-gcs-server, Azurite,
# OpenSSH's sshd) into target/test-tools, then runs every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The suite needs about 7 GB free: the build (3 GB), the tools (1 GB), the
# consumer crates it compiles (1 GB) and the registries, remotes and caches
# the tests make in the temp folder (up to 2 GB at once). On a full disk
# `dvc` and the servers die without a word, and dozens of unrelated tests
# fail; say so up front instead.
need_kb=$((7 * 1024 * 1024))
for dir in "$root" "${TMPDIR:-/tmp}"; do
  free_kb="$(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print $4 }')"
  if [ -n "$free_kb" ] && [ "$free_kb" -lt "$need_kb" ]; then
    echo "test.sh: warning: only $((free_kb / 1024)) MiB free in $dir; the suite needs about 7 GiB (failures below may be ENOSPC)" >&2
  fi
done

build-support/install-test-tools.sh >/dev/null
export DVC_BUILD_TEST_TOOLS="$root/target/test-tools"
cargo test --all-features --locked "$@"
