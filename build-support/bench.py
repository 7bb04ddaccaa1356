#!/usr/bin/env python3
"""dvc-build vs the real dvc: each figure runs both sides in the same run,
alternating, several times, and compares medians against a target.

Registries are built with the real `dvc` in a temporary folder; `cargo-dvc`
is built with `--release`. Cold runs start from an empty DVC_BUILD_CACHE_DIR
(ours) or a new `dvc` consumer project (theirs); the page cache is left warm
for both sides.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20

FIGURES = [
    # name, what, target (ratio or absolute), unit
    ("big-local", "cold import, 256 MiB file, local remote: cargo dvc import / dvc import", 0.4),
    ("big-md5sum", "cold import, 256 MiB file, local remote: cargo dvc import / md5sum", 1.5),
    ("dir-http", "cold import, 2,000-file dir, HTTP remote: cargo dvc import / dvc import", 0.2),
    ("update", "update 10 deps of one registry: cargo dvc update / 10 x dvc update", 0.1),
    ("warm-fetch", "warm, 10 deps: cargo dvc fetch / dvc status", 0.05),
    ("build-script", "warm build script, 10 deps (ms, median)", 10.0),
    ("pull-file", "materialise cached 256 MiB file, default (an independent copy): cargo dvc pull / cp", 1.2),
    ("pull-dir", "materialise cached 2,000-file dir, default (copies): cargo dvc pull / cp -r", 1.2),
    ("pull-file-link", "materialise cached 256 MiB file, --link (a read-only hard link): cargo dvc pull --link / cp", 0.1),
    ("pull-dir-link", "materialise cached 2,000-file dir, --link: cargo dvc pull --link / cp -r", 0.5),
    ("rss", "peak RSS importing 256 MiB: cargo dvc import / dvc import", 0.25),
    ("rss-flat", "peak RSS importing 1 GiB / importing 256 MiB (ours)", 1.1),
    ("s3", "cold import, 256 MiB, S3 (SeaweedFS): cargo dvc import / dvc import", 0.4),
    ("ssh", "cold import, 256 MiB, SSH (OpenSSH sshd): cargo dvc import / dvc import", 0.4),
    ("dir-ssh", "cold import, 2,000-file dir, SSH (OpenSSH sshd): cargo dvc import / dvc import", 0.2),
    ("compile", "clean compile of the build-dependency (report only)", None),
    # Google Cloud Storage and Azure Blob (issue #14), on their emulators.
    ("gs-big", "cold import, 256 MiB file, GCS (fake-gcs-server): cargo dvc import / dvc import", 0.4),
    ("gs-dir", "cold import, 2,000-file dir, GCS (fake-gcs-server): cargo dvc import / dvc import", 0.2),
    ("azure-big", "cold import, 256 MiB file, Azure (Azurite): cargo dvc import / dvc import", 0.4),
    ("azure-dir", "cold import, 2,000-file dir, Azure (Azurite): cargo dvc import / dvc import", 0.2),
    # At scale (issue #16): slow servers, many files, incremental updates.
    ("dir-http10", "cold import, 2,000-file dir, HTTP/1.0 without keep-alive (python3 -m http.server): cargo dvc import / curl --parallel --parallel-max 8 of the same objects", 1.5),
    ("dir-http11", "same, keep-alive server (bench_http.py): cargo dvc import / curl --parallel --parallel-max 8", 1.3),
    ("dir-s3", "cold import, 2,000-file dir, S3 (SeaweedFS): cargo dvc import / dvc import", 0.2),
    ("dir20k", "cold import, 20,000-file dir, HTTP: cargo dvc import / dvc import", 0.2),
    ("dir20k-rss", "peak RSS of that import: cargo dvc import / dvc import", 0.25),
    ("warm-fetch-20k", "warm, 20,000-file dir: cargo dvc fetch / dvc status", 0.05),
    ("update-20k", "10 of 20,000 files changed upstream: cargo dvc update / cold import (ours); exactly the 10 new objects downloaded", 0.1),
    ("huge-http", "cold import, 1 GiB file, HTTP with ranges: cargo dvc import / curl (one stream)", 1.0),
    ("growth", "cold import at 1k, 5k, 20k files: cost per added file 5k->20k / 1k->5k, time and peak RSS, ours (max of the two)", 1.1),
    ("compile-paths", "rebuild of a consumer including the generated module with only the path constant of a 400 MiB dependency / the same consumer without it (CPU time)", 1.1),
    # URL dependencies (issue #15).
    ("url-http", "cold URL import, 256 MiB file, HTTP (bench_http.py): cargo dvc import-url / dvc import-url", 0.4),
    ("url-curl", "same: cargo dvc import-url / curl of the same URL (one stream)", 1.3),
]
TARGETS = {name: target for name, _, target in FIGURES}


def log(msg):
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def run(cmd, cwd=None, env=None, check=True, capture=False, quiet=True):
    out = subprocess.PIPE if capture else (subprocess.DEVNULL if quiet else None)
    p = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.PIPE if quiet else None, text=True
    )
    if check and p.returncode != 0:
        raise SystemExit(
            f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n"
            f"cwd: {cwd}\n{p.stderr or ''}{p.stdout if capture else ''}"
        )
    return p


def timed(cmd, cwd=None, env=None):
    t = time.perf_counter()
    run(cmd, cwd=cwd, env=env)
    return time.perf_counter() - t


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def write_random(path, size, seed):
    """Incompressible pseudo-random bytes (fast: urandom for the big ones)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(os.urandom(n))
            left -= n


def write_dir(d, n):
    """`n` files of 512 B to 4.5 KiB of random bytes, in 20 folders."""
    for i in range(n):
        p = d / f"sub{i % 20:02}" / f"f{i:05}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(512 + (i * 37) % 4096))


def measured(cmd, cwd, env):
    """Runs `cmd`; (seconds, peak RSS in MiB of it and its children).

    Through /usr/bin/time: the peak RSS of a child forked from this Python
    process would count Python's pages it shared before `exec`."""
    out = Path(cwd) / ".rss"
    t = time.perf_counter()
    run(["/usr/bin/time", "-f", "%M", "-o", str(out), *cmd], cwd=cwd, env=env)
    took = time.perf_counter() - t
    return took, int(out.read_text().split()[-1]) / 1024.0


def listen_overflows():
    """The machine's count of connections dropped because a listen queue
    was full (`TcpExtListenOverflows`); 0 where /proc does not tell."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return 0


def medians(pairs):
    """(median of firsts, median of seconds)."""
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.runs = args.runs or (1 if args.quick else 5)
        self.big = (32 if args.quick else 256) * MiB
        self.huge = (128 if args.quick else 1024) * MiB
        self.nfiles = 200 if args.quick else 2000
        # The scale rows: a big directory, the sizes of the growth table
        # (the last is the big directory), and the dependency of the
        # compile row.
        self.n_big_dir = 1000 if args.quick else 20000
        self.growth = [100, 300, self.n_big_dir] if args.quick else [1000, 5000, self.n_big_dir]
        self.model = (40 if args.quick else 400) * MiB
        self.tmp = Path(tempfile.mkdtemp(prefix="dvc-build-bench-"))
        self.procs = []
        tools = Path(os.environ.get("DVC_BUILD_TEST_TOOLS", ROOT / "target/test-tools"))
        if not (tools / "bin/dvc").exists():
            alt = Path("/work/main/target/test-tools")
            if (alt / "bin/dvc").exists():
                tools = alt
        self.dvc = str(tools / "bin/dvc")
        self.weed = str(tools / "bin/weed")
        self.fake_gcs = str(tools / "bin/fake-gcs-server")
        self.azurite = str(tools / "bin/azurite-blob")
        self.tools_python = str(tools / "dvc3/bin/python")
        if not Path(self.dvc).exists():
            raise SystemExit(f"no dvc in {tools}/bin: run build-support/install-test-tools.sh")
        self.env = dict(os.environ)
        home = Path(os.environ.get("HOME", "/root"))
        self.env.setdefault("RUSTUP_HOME", str(home / ".rustup"))
        self.env.setdefault("CARGO_HOME", str(home / ".cargo"))
        self.env.update(
            DVC_NO_ANALYTICS="1",
            GIT_AUTHOR_NAME="bench",
            GIT_AUTHOR_EMAIL="bench@example.com",
            GIT_COMMITTER_NAME="bench",
            GIT_COMMITTER_EMAIL="bench@example.com",
            AWS_ACCESS_KEY_ID="k",
            AWS_SECRET_ACCESS_KEY="s",
            HOME=str(self.tmp / "home"),
            # dvc-gs against fake-gcs-server (see the facts file), and no
            # probe of a metadata server or ~/.azure.
            GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false",
            NO_GCE_CHECK="true",
            GCE_METADATA_HOST="127.0.0.1:9",
            GCE_METADATA_IP="127.0.0.1:9",
            AZURE_CONFIG_DIR=str(self.tmp / "home/.azure"),
            XDG_CACHE_HOME=str(self.tmp / "home/.cache"),
        )
        (self.tmp / "home").mkdir()
        # git that logs every invocation, to count git processes.
        self.gitlog = self.tmp / "git.log"
        wrap = self.tmp / "gitwrap"
        wrap.mkdir()
        real_git = shutil.which("git")
        (wrap / "git").write_text(
            f'#!/bin/sh\nprintf "%s\\n" "$*" >>"$GIT_BENCH_LOG"\nexec {real_git} "$@"\n'
        )
        (wrap / "git").chmod(0o755)
        self.wrap_path = f"{wrap}:{self.env['PATH']}"
        self.results = {}
        self.notes = []
        self.counter = 0

    # ---------- helpers ----------
    def fresh(self, name):
        self.counter += 1
        p = self.tmp / "runs" / f"{name}-{self.counter}"
        p.mkdir(parents=True)
        return p

    def our_env(self, cache, extra=None):
        env = dict(self.env)
        env["DVC_BUILD_CACHE_DIR"] = str(cache)
        env.update(extra or {})
        return env

    def crate(self, dir_, name="bench-consumer", build_dep=False, features=None):
        dir_.mkdir(parents=True, exist_ok=True)
        text = f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
        if build_dep:
            feat = "" if features is None else f", default-features = false, features = {features}"
            text += f'[build-dependencies]\ndvc-build = {{ path = "{ROOT}"{feat} }}\n\n'
            (dir_ / "build.rs").write_text("fn main() {\n    dvc_build::fetch().unwrap();\n}\n")
        text += "[workspace]\n"
        (dir_ / "Cargo.toml").write_text(text)
        (dir_ / "src").mkdir(exist_ok=True)
        (dir_ / "src/lib.rs").write_text("")
        return dir_

    def dvc_project(self, dir_):
        dir_.mkdir(parents=True, exist_ok=True)
        run(["git", "init", "-q", "-b", "main"], cwd=dir_, env=self.env)
        run([self.dvc, "init", "-q"], cwd=dir_, env=self.env)
        return dir_

    def ours(self, *args):
        return [str(self.cargo_dvc), "dvc", *args]

    def side_by_side(self, ours_fn, theirs_fn, runs=None):
        """Alternates: setup+run ours, setup+run theirs. Each fn returns seconds.

        Dirty pages are written out before every run (untimed): otherwise a
        run competes with the write-back of the gigabytes earlier runs wrote,
        and which side pays for it depends on the order."""
        a, b = [], []

        def clean(fn):
            os.sync()
            return fn()

        for i in range(runs or self.runs):
            if i % 2 == 0:
                a.append(clean(ours_fn))
                b.append(clean(theirs_fn))
            else:
                b.append(clean(theirs_fn))
                a.append(clean(ours_fn))
        return statistics.median(a), statistics.median(b), a, b

    def record(self, name, value, detail, ok=True):
        """`ok`: a condition besides the target (FAIL when false)."""
        self.results[name] = (value, detail, ok)
        target = TARGETS[name]
        verdict = "" if target is None else ("PASS" if value <= target and ok else "FAIL")
        print(f"{name:13} {value:9.3f}  (target <= {target})  {verdict}  {detail}", flush=True)

    # ---------- setup ----------
    def build_cargo_dvc(self):
        log("building cargo-dvc (release)")
        run(["cargo", "build", "--release", "--quiet", "--features", "cli", "--bin", "cargo-dvc"], cwd=ROOT)
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        if not target.is_absolute():
            target = ROOT / target
        self.cargo_dvc = target / "release/cargo-dvc"

    def make_registry(self, need):
        log("making the registry with dvc (random data; dvc add + push)")
        reg = self.tmp / "registry"
        self.remote_dir = self.tmp / "remote-local"
        self.remote_dir.mkdir()
        self.dvc_project(reg)
        e = self.env
        run([self.dvc, "remote", "add", "-d", "local", str(self.remote_dir)], cwd=reg, env=e)
        write_random(reg / "data/big.bin", self.big, 1)
        targets = ["data/big.bin"]
        if "huge" in need:
            write_random(reg / "data/huge.bin", self.huge, 2)
            targets.append("data/huge.bin")
        write_dir(reg / "data/dir", self.nfiles)
        targets.append("data/dir")
        if "dir20k" in need:
            write_dir(reg / "data/dir20k", self.n_big_dir)
            targets.append("data/dir20k")
        if "growth" in need:
            for n in self.growth[:-1]:
                write_dir(reg / f"data/grow{n}", n)
                targets.append(f"data/grow{n}")
        if "model" in need:
            write_random(reg / "data/model.bin", self.model, 3)
            targets.append("data/model.bin")
        for i in range(10):
            (reg / f"small/s{i}.txt").parent.mkdir(exist_ok=True)
            (reg / f"small/s{i}.txt").write_text(f"small file {i} version 1\n")
            targets.append(f"small/s{i}.txt")
        run([self.dvc, "add", "-q", *targets], cwd=reg, env=e)
        run([self.dvc, "push", "-q"], cwd=reg, env=e)
        run(["git", "add", "-A"], cwd=reg, env=e)
        run(["git", "commit", "-q", "-m", "v1"], cwd=reg, env=e)
        run(["git", "tag", "v1"], cwd=reg, env=e)
        self.reg = reg

    def registry_v2(self, need):
        e = self.env
        for i in range(10):
            f = self.reg / f"small/s{i}.txt"
            f.write_text(f"small file {i} version 2\n")
        targets = [f"small/s{i}.txt" for i in range(10)]
        if "dir20k" in need:
            # 10 files of the big directory change (spread over its folders).
            files = sorted((self.reg / "data/dir20k").rglob("*.bin"))
            step = len(files) // 10
            for f in files[::step][:10]:
                f.chmod(0o644)
                f.write_bytes(os.urandom(700))
            targets.append("data/dir20k")
        run([self.dvc, "add", "-q", *targets], cwd=self.reg, env=e)
        run([self.dvc, "push", "-q"], cwd=self.reg, env=e)
        run(["git", "add", "-A"], cwd=self.reg, env=e)
        run(["git", "commit", "-q", "-m", "v2"], cwd=self.reg, env=e)
        # The HTTP clone of the registry gets v2 too.
        if getattr(self, "reg_http", None):
            run(["git", "pull", "-q", "--no-rebase", "--no-edit", "origin", "main"], cwd=self.reg_http, env=e)

    def variant(self, name, remote_name, section):
        """A clone of the registry whose default remote is `remote_name`."""
        reg = self.tmp / f"registry-{name}"
        run(["git", "clone", "-q", str(self.reg), str(reg)], env=self.env)
        with open(reg / ".dvc/config", "a") as f:
            f.write(section)
        run([self.dvc, "remote", "default", remote_name], cwd=reg, env=self.env)
        run(["git", "commit", "-q", "-am", f"default remote {remote_name}"], cwd=reg, env=self.env)
        return reg

    def serve(self, cmd):
        """Starts an HTTP server (`cmd` + its port) on the local remote; its URL."""
        (port,) = free_ports(1)
        p = subprocess.Popen(
            [*cmd(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.procs.append(p)
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        return url

    def start_http(self):
        """bench_http.py: threads, keep-alive, ranges; logs every GET."""
        self.http_log = self.tmp / "http-requests.log"
        self.http_url = self.serve(lambda port: [
            sys.executable, str(ROOT / "build-support/bench_http.py"), str(port),
            str(self.remote_dir), str(self.http_log),
        ])
        self.reg_http = self.variant("http", "http", f"['remote \"http\"']\n    url = {self.http_url}\n")

    def start_http10(self):
        """Python's own `http.server`: HTTP/1.0, a new connection per request."""
        self.http10_url = self.serve(lambda port: [
            sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
            "--directory", str(self.remote_dir),
        ])
        self.reg_http10 = self.variant(
            "http10", "http10", f"['remote \"http10\"']\n    url = {self.http10_url}\n"
        )

    def http_gets(self):
        """The paths bench_http.py has served so far."""
        if not self.http_log.exists():
            return []
        return self.http_log.read_text().splitlines()

    def start_s3(self, names):
        log("starting SeaweedFS and pushing to it")
        p = free_ports(16)
        data = self.tmp / "weed"
        data.mkdir()
        flags = [
            f"-dir={data}", "-bucket=bench", "-ip=127.0.0.1",
            f"-master.port={p[0]}", f"-master.port.grpc={p[1]}", f"-volume.port={p[2]}",
            f"-volume.port.grpc={p[3]}", f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
            f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", f"-debug.port={p[8]}",
            f"-s3.port.iceberg={p[10]}", f"-s3.port.lance={p[11]}", f"-admin.port={p[12]}",
            f"-admin.port.grpc={p[13]}", f"-s3.debug.port={p[14]}", f"-s3.metricsPort={p[15]}",
        ]
        logf = open(self.tmp / "weed.log", "w")
        proc = subprocess.Popen(
            [self.weed, "mini", *flags], env=self.env, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        endpoint = f"http://127.0.0.1:{p[6]}"
        section = (
            "['remote \"s3\"']\n    url = s3://bench/store\n"
            f"    endpointurl = {endpoint}\n"
        )
        self.reg_s3 = self.variant("s3", "s3", section)
        # Push from the registry that holds the data (its .dvc/cache), with the
        # S3 remote in its uncommitted config.local.
        with open(self.reg / ".dvc/config.local", "a") as f:
            f.write(section)
        deadline = time.time() + 120
        while True:
            pushed = [f for f, fig in [("data/big.bin.dvc", "s3"), ("data/dir.dvc", "dir-s3")] if fig in names]
            r = run([self.dvc, "push", "-q", "-r", "s3", *pushed], cwd=self.reg,
                    env=self.env, check=False)
            if r.returncode == 0:
                break
            if time.time() > deadline:
                raise SystemExit(f"could not push to SeaweedFS: {r.stderr}")
            time.sleep(2)

    def start_ssh(self, names):
        """A foreground `sshd` of our own (config, host key, client key,
        known_hosts in the bench folder; /etc/ssh untouched) on a free
        loopback port; the registry's objects pushed to it by `dvc push`
        (dvc-ssh). Our `ssh` reads only a config written here
        (DVC_BUILD_SSH_COMMAND); `dvc` (asyncssh) finds the key in its HOME."""
        log("starting sshd and pushing to it")
        sshd = "/usr/sbin/sshd"
        if not Path(sshd).exists():
            raise SystemExit("no /usr/sbin/sshd: run build-support/install-test-tools.sh")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(exist_ok=True)
        d = self.tmp / "sshd"
        (d / "store").mkdir(parents=True)
        for key in ["host_key", "id_ed25519"]:
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)])
        pub = lambda key: " ".join((d / f"{key}.pub").read_text().split()[:2])
        (d / "authorized_keys").write_text(pub("id_ed25519") + "\n")
        (port,) = free_ports(1)
        (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {pub('host_key')}\n")
        (d / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile none\n"
            f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n"
            "MaxStartups 100\nSubsystem sftp internal-sftp\n"
        )
        (d / "ssh_config").write_text(
            f"Host *\n  UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n"
            f"  IdentityFile {d}/id_ed25519\n  IdentitiesOnly yes\n"
        )
        self.procs.append(subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(d / "sshd_config")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        home_ssh = Path(self.env["HOME"]) / ".ssh"
        home_ssh.mkdir(exist_ok=True)
        shutil.copy(d / "id_ed25519", home_ssh / "id_ed25519")
        self.env["DVC_BUILD_SSH_COMMAND"] = f"ssh -F {d}/ssh_config"
        self.ssh_port, self.ssh_store = port, d / "store"
        user = run(["id", "-un"], capture=True).stdout.strip()
        section = (
            f"['remote \"ssh\"']\n    url = ssh://127.0.0.1:{port}{d}/store\n    user = {user}\n"
        )
        self.reg_ssh = self.variant("ssh", "ssh", section)
        with open(self.reg / ".dvc/config.local", "a") as f:
            f.write(section)
        pushed = [f for f, fig in [("data/big.bin.dvc", "ssh"), ("data/dir.dvc", "dir-ssh")] if fig in names]
        run([self.dvc, "push", "-q", "-r", "ssh", *pushed], cwd=self.reg, env=self.env)

    def fig_ssh(self, names):
        if "ssh" in names:
            ours, theirs = self.import_pair(self.reg_ssh, "data/big.bin", "big.bin", discard=True)
            ma, mb, _, _ = self.side_by_side(ours, theirs)
            # The floor of any SSH download verified by MD5 on this machine:
            # the same `ssh` (config, cipher) streaming the object through
            # `cat` into `md5sum`, nothing written.
            obj = self.ssh_store / self.remote_obj("data/big.bin.dvc").relative_to(self.remote_dir)
            floor_cmd = (
                f"{self.env['DVC_BUILD_SSH_COMMAND']} -p {self.ssh_port} -o BatchMode=yes "
                f"-c aes128-gcm@openssh.com 127.0.0.1 cat {obj} | md5sum"
            )
            mf = statistics.median(
                [timed(["sh", "-c", floor_cmd], env=self.env) for _ in range(self.runs)]
            )
            self.record(
                "ssh", ma / mb,
                f"ours {ma:.3f}s, dvc {mb:.3f}s; floor `ssh HOST cat | md5sum` {mf:.3f}s "
                f"= {mf / mb:.2f}x dvc, ours {ma / mf:.2f}x the floor",
            )
        if "dir-ssh" in names:
            ours, theirs = self.import_pair(self.reg_ssh, "data/dir", "dir")
            ma, mb, _, _ = self.side_by_side(ours, theirs)
            self.record("dir-ssh", ma / mb, f"ours {ma:.3f}s, dvc {mb:.3f}s ({self.nfiles} files)")

    def push_variant(self, name, section, remote, pushed, what):
        """A registry variant whose default remote is `section`, and a push of
        `pushed` to it (from the registry that holds the data)."""
        reg = self.variant(name, remote, section)
        with open(self.reg / ".dvc/config.local", "a") as f:
            f.write(section)
        deadline = time.time() + 180
        while True:
            r = run([self.dvc, "push", "-q", "-r", remote, *pushed], cwd=self.reg,
                    env=self.env, check=False)
            if r.returncode == 0:
                return reg
            if time.time() > deadline:
                raise SystemExit(f"could not push to {what}: {r.stderr}")
            time.sleep(2)

    def pushed_for(self, names, prefix):
        return [f for f, fig in [("data/big.bin.dvc", f"{prefix}-big"), ("data/dir.dvc", f"{prefix}-dir")]
                if fig in names]

    def start_gcs(self, names):
        log("starting fake-gcs-server and pushing to it")
        (port,) = free_ports(1)
        data = self.tmp / "gcs"
        data.mkdir()
        endpoint = f"http://127.0.0.1:{port}"
        logf = open(self.tmp / "gcs.log", "w")
        self.procs.append(subprocess.Popen(
            [self.fake_gcs, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
             "-backend", "filesystem", "-filesystem-root", str(data),
             "-external-url", endpoint, "-public-host", f"127.0.0.1:{port}"],
            stdout=logf, stderr=subprocess.STDOUT,
        ))
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        req = urllib.request.Request(
            f"{endpoint}/storage/v1/b?project=bench", data=b'{"name":"bench"}',
            headers={"Content-Type": "application/json"}, method="POST",
        )
        urllib.request.urlopen(req, timeout=10).read()
        section = f"['remote \"gcs\"']\n    url = gs://bench/store\n    endpointurl = {endpoint}\n"
        self.reg_gcs = self.push_variant("gcs", section, "gcs", self.pushed_for(names, "gs"), "fake-gcs-server")

    def start_azure(self, names):
        log("starting Azurite and pushing to it")
        (port,) = free_ports(1)
        data = self.tmp / "azurite"
        data.mkdir()
        logf = open(self.tmp / "azurite.log", "w")
        # Always without telemetry (it would call out), any API version.
        self.procs.append(subprocess.Popen(
            [self.azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data),
             "--disableTelemetry", "--skipApiVersionCheck", "--loose"],
            stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
        ))
        key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
        conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
                f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
        make = ("import sys\nfrom azure.storage.blob import BlobServiceClient\n"
                "BlobServiceClient.from_connection_string(sys.argv[1]).create_container('bench')\n")
        deadline = time.time() + 120
        while run([self.tools_python, "-c", make, conn], env=self.env, check=False).returncode != 0:
            if time.time() > deadline:
                raise SystemExit(f"Azurite did not start: {(self.tmp / 'azurite.log').read_text()}")
            time.sleep(1)
        # Both sides read the credentials from the environment.
        self.env["AZURE_STORAGE_CONNECTION_STRING"] = conn
        section = "['remote \"az\"']\n    url = azure://bench/store\n"
        self.reg_azure = self.push_variant("azure", section, "az", self.pushed_for(names, "azure"), "Azurite")

    def fig_cloud(self, names, prefix, reg, store):
        if f"{prefix}-big" in names:
            ours, theirs = self.import_pair(reg, "data/big.bin", "big.bin", discard=True)
            ma, mb, _, _ = self.side_by_side(ours, theirs)
            self.record(f"{prefix}-big", ma / mb, f"ours {ma:.3f}s, dvc {mb:.3f}s ({store})")
        if f"{prefix}-dir" in names:
            ours, theirs = self.import_pair(reg, "data/dir", "dir")
            ma, mb, _, _ = self.side_by_side(ours, theirs)
            self.record(f"{prefix}-dir", ma / mb, f"ours {ma:.3f}s, dvc {mb:.3f}s ({self.nfiles} files, {store})")

    # ---------- figures ----------
    def import_pair(self, reg, path, out, rss=False, discard=False):
        """(ours_fn, theirs_fn) for a cold import of `path` from `reg`.

        `discard`: remove each run's folder once it is measured. For big
        files: the freed page cache is what the next run writes into. Kept,
        every run takes memory never used before, and on a VM the first touch
        of a page is a fault to the hypervisor (here it tripled the time of
        writing 256 MiB, for both sides, but not md5sum's)."""
        def finish(d, took):
            if discard:
                shutil.rmtree(d, ignore_errors=True)
            return took

        def ours():
            d = self.fresh("ours")
            self.crate(d / "c")
            cmd = self.ours("import", "-q", str(reg), path, "-o", out)
            if rss:
                return finish(d, self.rss(cmd, d / "c", self.our_env(d / "cache")))
            return finish(d, timed(cmd, cwd=d / "c", env=self.our_env(d / "cache")))

        def theirs():
            d = self.fresh("dvc")
            self.dvc_project(d)
            cmd = [self.dvc, "import", "-q", str(reg), path, "-o", out]
            if rss:
                return finish(d, self.rss(cmd, d, self.env))
            return finish(d, timed(cmd, cwd=d, env=self.env))

        return ours, theirs

    def rss(self, cmd, cwd, env):
        out = cwd / ".rss"
        run(["/usr/bin/time", "-f", "%M", "-o", str(out), *cmd], cwd=cwd, env=env)
        return int(out.read_text().split()[-1]) / 1024.0  # MiB

    def fig_big(self, names):
        ours, theirs = self.import_pair(self.reg, "data/big.bin", "big.bin", discard=True)
        src = self.remote_obj("data/big.bin.dvc")

        def md5sum():
            return timed(["md5sum", str(src)])

        timed(["md5sum", str(src)])  # warm the page cache for everyone
        a, b, c = [], [], []
        for i in range(self.runs):
            order = [(a, ours), (b, theirs), (c, md5sum)]
            if i % 2:
                order.reverse()
            for acc, fn in order:
                acc.append(fn())
        ma, mb, mc = map(statistics.median, (a, b, c))
        if "big-local" in names:
            self.record("big-local", ma / mb, f"ours {ma:.3f}s, dvc {mb:.3f}s")
        if "big-md5sum" in names:
            self.record("big-md5sum", ma / mc, f"ours {ma:.3f}s, md5sum {mc:.3f}s")

    def remote_obj(self, dvcfile):
        text = (self.reg / dvcfile).read_text()
        md5 = next(l.split(":")[1].strip() for l in text.splitlines() if "md5:" in l)
        return self.remote_dir / "files/md5" / md5[:2] / md5[2:]

    def fig_dir_http(self):
        ours, theirs = self.import_pair(self.reg_http, "data/dir", "dir")
        ma, mb, _, _ = self.side_by_side(ours, theirs)
        self.record("dir-http", ma / mb, f"ours {ma:.3f}s, dvc {mb:.3f}s ({self.nfiles} files)")

    def ten_templates(self):
        """Consumers with the 10 small files imported at v1, ours and dvc's."""
        t = self.tmp / "templates"
        ours = self.crate(t / "ours/c")
        env = self.our_env(t / "ours/cache")
        for i in range(10):
            run(self.ours("import", "-q", str(self.reg), f"small/s{i}.txt", "-o", f"s{i}.txt"), cwd=ours, env=env)
        theirs = self.dvc_project(t / "dvc")
        for i in range(10):
            run([self.dvc, "import", "-q", str(self.reg), f"small/s{i}.txt", "-o", f"s{i}.txt"], cwd=theirs, env=self.env)
        self.t_ours, self.t_dvc = t / "ours", theirs

    def fig_update(self):
        fetches = []
        gits = []

        def ours():
            d = self.fresh("ours-upd")
            shutil.copytree(self.t_ours, d, dirs_exist_ok=True, symlinks=True)
            logf = d / "git.log"
            env = self.our_env(d / "cache", {"PATH": self.wrap_path, "GIT_BENCH_LOG": str(logf)})
            s = timed(self.ours("update", "-q"), cwd=d / "c", env=env)
            lines = logf.read_text().splitlines() if logf.exists() else []
            gits.append(len(lines))
            fetches.append(sum(1 for l in lines if " fetch" in f" {l}"))
            if (d / "c/s0.txt.dvc").read_text() == (self.t_ours / "c/s0.txt.dvc").read_text():
                raise SystemExit("cargo dvc update did not move the lock")
            return s

        def theirs():
            d = self.fresh("dvc-upd")
            shutil.copytree(self.t_dvc, d, dirs_exist_ok=True, symlinks=True)
            t = time.perf_counter()
            for i in range(10):
                run([self.dvc, "update", "-q", f"s{i}.txt.dvc"], cwd=d, env=self.env)
            return time.perf_counter() - t

        ma, mb, _, _ = self.side_by_side(ours, theirs)
        self.record(
            "update", ma / mb,
            f"ours {ma:.3f}s, dvc {mb:.3f}s; git fetches per update: {max(fetches)}, git processes: {max(gits)}",
        )
        if max(fetches) != 1:
            self.notes.append(f"update: expected exactly one git fetch, saw {fetches}")

    def fig_warm_fetch(self):
        d = self.tmp / "warm"
        shutil.copytree(self.t_ours, d / "ours", symlinks=True)
        shutil.copytree(self.t_dvc, d / "dvc", symlinks=True)
        logf = d / "git.log"
        env = self.our_env(d / "ours/cache", {"PATH": self.wrap_path, "GIT_BENCH_LOG": str(logf)})
        run(self.ours("fetch", "-q"), cwd=d / "ours/c", env=env)  # make sure it is warm
        run([self.dvc, "status", "-q"], cwd=d / "dvc", env=self.env, check=False)
        if logf.exists():
            logf.unlink()

        def ours():
            return timed(self.ours("fetch", "-q"), cwd=d / "ours/c", env=env)

        def theirs():
            t = time.perf_counter()
            run([self.dvc, "status", "-q"], cwd=d / "dvc", env=self.env, check=False)
            return time.perf_counter() - t

        ma, mb, _, _ = self.side_by_side(ours, theirs, runs=max(self.runs, 3))
        ngit = len(logf.read_text().splitlines()) if logf.exists() else 0
        self.record("warm-fetch", ma / mb, f"ours {ma * 1000:.1f}ms, dvc {mb:.3f}s; git processes: {ngit}")

    def fig_build_script(self):
        d = self.tmp / "bs"
        shutil.copytree(self.t_ours, d, symlinks=True)
        c = d / "c"
        # Turn the crate into one with a build script depending on us.
        text = (c / "Cargo.toml").read_text()
        text = text.replace(
            "[workspace]",
            f'[build-dependencies]\ndvc-build = {{ path = "{ROOT}" }}\n\n[workspace]',
            1,
        )
        (c / "Cargo.toml").write_text(text)
        (c / "build.rs").write_text("fn main() {\n    dvc_build::fetch().unwrap();\n}\n")
        target = self.tmp / "bs-target"
        env = self.our_env(d / "cache", {"CARGO_TARGET_DIR": str(target)})
        log("building a consumer crate with 10 dependencies (dev profile)")
        run(["cargo", "build", "--quiet"], cwd=c, env=env)
        scripts = [p for p in (target / "debug/build").glob("bench-consumer-*/build-script-build")]
        if not scripts:
            raise SystemExit("no build-script-build found")
        script = scripts[0]
        out_dir = d / "out"
        out_dir.mkdir()
        logf = d / "git.log"
        env = self.our_env(d / "cache", {
            "CARGO_MANIFEST_DIR": str(c), "OUT_DIR": str(out_dir),
            "PATH": self.wrap_path, "GIT_BENCH_LOG": str(logf),
        })
        run([str(script)], cwd=c, env=env)  # first placement
        times, cpu = [], []
        n = 10 if self.quick else 40
        for _ in range(n):
            t = time.perf_counter()
            p = subprocess.Popen([str(script)], cwd=c, env=env, stdout=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            times.append(time.perf_counter() - t)
            p.returncode = os.waitstatus_to_exitcode(status)
            if p.returncode != 0:
                raise SystemExit("the build script failed")
            cpu.append(ru.ru_utime + ru.ru_stime)
        ngit = len(logf.read_text().splitlines()) if logf.exists() else 0
        execs = "?"
        if shutil.which("strace"):
            trace = d / "strace.txt"
            run(["strace", "-f", "-qq", "-e", "trace=execve,clone,clone3,fork,vfork", "-o", str(trace), str(script)], cwd=c, env=env)
            execs = sum(1 for l in trace.read_text().splitlines() if "execve(" in l) - 1
        m = statistics.median(times) * 1000
        self.record("build-script", m, f"median of {n}, min {min(times) * 1000:.2f}ms, CPU (user+sys) median {statistics.median(cpu) * 1000:.2f}ms; git processes: {ngit}; child execs: {execs}")

    def fig_pull(self, names):
        d = self.tmp / "pull"
        c = self.crate(d / "c")
        env = self.our_env(d / "cache")
        run(self.ours("import", "-q", str(self.reg), "data/big.bin", "-o", "big.bin", "--name", "big"), cwd=c, env=env)
        run(self.ours("import", "-q", str(self.reg), "data/dir", "-o", "dir", "--name", "dir"), cwd=c, env=env)
        src_file = self.reg / "data/big.bin"
        src_dir = self.reg / "data/dir"
        cpdir = d / "cp"
        cpdir.mkdir()

        def rm(p):
            # As `rm -rf` / `cargo clean` do. No `chmod -R u+w` first: placed
            # files may be hard links to cache objects, and making them
            # writable would change the cache (which then re-verifies).
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()

        def pair(name, out_name, src, cp, link=False):
            out = c / out_name
            flags = ["--link"] if link else []

            def ours():
                rm(out)
                return timed(self.ours("pull", "-q", *flags, name), cwd=c, env=env)

            def theirs():
                dst = cpdir / out_name
                rm(dst)
                return timed([*cp, str(src), str(dst)])

            return ours, theirs

        for row, link in (("pull-file", False), ("pull-file-link", True)):
            if row in names:
                ma, mb, _, _ = self.side_by_side(*pair("big", "big.bin", src_file, ["cp"], link), runs=max(self.runs, 3))
                self.record(row, ma / mb, f"ours {ma * 1000:.1f}ms, cp {mb * 1000:.1f}ms")
        for row, link in (("pull-dir", False), ("pull-dir-link", True)):
            if row not in names:
                continue
            ours, theirs = pair("dir", "dir", src_dir, ["cp", "-r"], link)
            floor = []

            def theirs_and_floor():
                # Also `cp -al`: one hard link per file, nothing checked. No
                # placement by links can beat it; shown, not compared.
                took = theirs()
                dst = cpdir / "dir-al"
                rm(dst)
                floor.append(timed(["cp", "-al", str(src_dir), str(dst)]))
                return took

            ma, mb, _, _ = self.side_by_side(ours, theirs_and_floor, runs=max(self.runs, 3))
            self.record(
                row,
                ma / mb,
                f"ours {ma * 1000:.1f}ms, cp -r {mb * 1000:.1f}ms (cp -al {statistics.median(floor) * 1000:.1f}ms)",
            )

    def fig_rss(self, names):
        ours, theirs = self.import_pair(self.reg, "data/big.bin", "big.bin", rss=True, discard=True)
        runs = min(self.runs, 3)
        ma, mb, _, _ = self.side_by_side(ours, theirs, runs=runs)
        if "rss" in names:
            self.record("rss", ma / mb, f"ours {ma:.1f} MiB, dvc {mb:.1f} MiB")
        if "rss-flat" in names:
            ours_h, theirs_h = self.import_pair(self.reg, "data/huge.bin", "huge.bin", rss=True, discard=True)
            mh, mdh, _, _ = self.side_by_side(ours_h, theirs_h, runs=1)
            self.record(
                "rss-flat", mh / ma,
                f"ours {ma:.1f} -> {mh:.1f} MiB ({self.big // MiB} MiB -> {self.huge // MiB} MiB); dvc {mb:.1f} -> {mdh:.1f} MiB",
            )

    def fig_s3(self):
        ours, theirs = self.import_pair(self.reg_s3, "data/big.bin", "big.bin", discard=True)
        ma, mb, _, _ = self.side_by_side(ours, theirs)
        self.record("s3", ma / mb, f"ours {ma:.3f}s, dvc {mb:.3f}s")

    def fig_compile(self):
        parts = []
        for label, features in [("default", None), ("no-default", "[]")]:
            d = self.tmp / f"compile-{label}"
            c = self.crate(d / "c", name="compile-consumer", build_dep=True, features=features)
            tree = run(["cargo", "tree", "-q", "-e", "normal,build", "--prefix", "none"], cwd=c, capture=True).stdout
            crates = {l.replace(" (*)", "").strip() for l in tree.splitlines() if l.strip()}
            env = dict(self.env, CARGO_TARGET_DIR=str(d / "target"), HOME=os.environ.get("HOME", "/root"))
            run(["cargo", "fetch", "-q"], cwd=c, env=env)
            s = timed(["cargo", "build", "-q"], cwd=c, env=env)
            parts.append(f"{label}: {s:.1f}s, {len(crates) - 1} crates")
        self.results["compile"] = (None, "; ".join(parts), True)
        print(f"{'compile':13} {'':9}  (report only)  {'; '.join(parts)}", flush=True)

    # ---------- at scale ----------
    def dir_urls(self, base_url, dvcfile):
        """The URLs of every file object of the directory `dvcfile` tracks."""
        text = (self.reg / dvcfile).read_text()
        md5 = next(l.split(":")[1].strip() for l in text.splitlines() if "md5:" in l)
        manifest = self.remote_dir / "files/md5" / md5[:2] / md5[2:]
        entries = json.loads(manifest.read_text())
        hashes = sorted({e["md5"] for e in entries})
        return [f"{base_url}/files/md5/{h[:2]}/{h[2:]}" for h in hashes]

    def curl_parallel(self, urls):
        """A fn: `curl --parallel --parallel-max 8` of `urls` into a new folder."""
        def go():
            d = self.fresh("curl")
            (d / "o").mkdir()
            cfg = d / "urls.cfg"
            cfg.write_text("".join(f'url = "{u}"\noutput = "{d}/o/{i}"\n' for i, u in enumerate(urls)))
            took = timed(["curl", "-s", "-f", "--parallel", "--parallel-max", "8", "-K", str(cfg)])
            got = sum(1 for _ in (d / "o").iterdir())
            if got != len(urls):
                raise SystemExit(f"curl fetched {got} of {len(urls)} objects")
            return took
        return go

    def fig_dir_curl(self, name, reg, base_url):
        """Cold import of the 2,000-file dir vs curl of its objects, one server.

        Also counts, per side, the connections the server's full listen
        queue dropped (`TcpExtListenOverflows`, machine-wide): each costs
        its client a 1 s SYN retransmission, whoever the client is, and a
        few of them decide the ratio against `python3 -m http.server`
        (backlog 5, a new connection per request)."""
        ours, _ = self.import_pair(reg, "data/dir", "dir")
        urls = self.dir_urls(base_url, "data/dir.dvc")
        drops = {"ours": 0, "curl": 0}

        def counted(side, fn):
            def go():
                before = listen_overflows()
                took = fn()
                drops[side] += listen_overflows() - before
                return took
            return go

        ma, mb, _, _ = self.side_by_side(counted("ours", ours), counted("curl", self.curl_parallel(urls)))
        self.record(
            name, ma / mb,
            f"ours {ma:.3f}s, curl {mb:.3f}s ({len(urls)} objects); connections dropped by the "
            f"server's full listen queue (1 s each), all runs: ours {drops['ours']}, curl {drops['curl']}",
        )

    def fig_dir_s3(self):
        ours, theirs = self.import_pair(self.reg_s3, "data/dir", "dir")
        ma, mb, _, _ = self.side_by_side(ours, theirs)
        self.record("dir-s3", ma / mb, f"ours {ma:.3f}s, dvc {mb:.3f}s ({self.nfiles} files)")

    def measured_pair(self, reg, path, out):
        """(ours_fn, theirs_fn) for a cold import, each giving (seconds, MiB)."""
        def ours():
            d = self.fresh("ours")
            self.crate(d / "c")
            cmd = self.ours("import", "-q", str(reg), path, "-o", out)
            return measured(cmd, d / "c", self.our_env(d / "cache"))

        def theirs():
            d = self.fresh("dvc")
            self.dvc_project(d)
            return measured([self.dvc, "import", "-q", str(reg), path, "-o", out], d, self.env)

        return ours, theirs

    def alternate(self, ours, theirs, runs):
        """Runs both sides alternately, each after a `sync`; their results."""
        a, b = [], []
        for i in range(runs):
            order = [(a, ours), (b, theirs)]
            if i % 2:
                order.reverse()
            for acc, fn in order:
                os.sync()
                acc.append(fn())
        return a, b

    def fig_dir20k(self, names):
        ours, theirs = self.measured_pair(self.reg_http, "data/dir20k", "dir20k")
        a, b = self.alternate(ours, theirs, self.runs)
        (ta, ra), (tb, rb) = medians(a), medians(b)
        self.cold20k = (ta, ra, tb, rb)
        n = self.n_big_dir
        if "dir20k" in names:
            self.record("dir20k", ta / tb, f"ours {ta:.3f}s, dvc {tb:.3f}s ({n} files)")
        if "dir20k-rss" in names:
            self.record("dir20k-rss", ra / rb, f"ours {ra:.1f} MiB, dvc {rb:.1f} MiB ({n} files)")

    def big_dir_templates(self, names):
        """Consumers with the big directory imported at v1: ours (crate +
        cache), and dvc's when `dvc status` is measured."""
        t = self.tmp / "templates20k"
        c = self.crate(t / "ours/c")
        env = self.our_env(t / "ours/cache")
        log(f"importing the {self.n_big_dir}-file directory at v1 (templates)")
        run(self.ours("import", "-q", str(self.reg_http), "data/dir20k", "-o", "dir20k"), cwd=c, env=env)
        self.t20k_ours = t / "ours"
        if "warm-fetch-20k" in names:
            theirs = self.dvc_project(t / "dvc")
            run([self.dvc, "import", "-q", str(self.reg_http), "data/dir20k", "-o", "dir20k"], cwd=theirs, env=self.env)
            self.t20k_dvc = theirs

    def fig_warm_fetch_20k(self):
        ours_dir = self.t20k_ours
        env = self.our_env(ours_dir / "cache")
        run(self.ours("fetch", "-q"), cwd=ours_dir / "c", env=env)  # make sure it is warm
        run([self.dvc, "status", "-q"], cwd=self.t20k_dvc, env=self.env, check=False)

        def ours():
            return timed(self.ours("fetch", "-q"), cwd=ours_dir / "c", env=env)

        def theirs():
            t = time.perf_counter()
            run([self.dvc, "status", "-q"], cwd=self.t20k_dvc, env=self.env, check=False)
            return time.perf_counter() - t

        ma, mb, _, _ = self.side_by_side(ours, theirs, runs=max(self.runs, 3))
        self.record("warm-fetch-20k", ma / mb, f"ours {ma * 1000:.1f}ms, dvc {mb:.3f}s ({self.n_big_dir} files)")

    def fig_update_20k(self):
        """`cargo dvc update` of the big directory after v2 changed 10 of its
        files; the objects it downloads are counted at the server."""
        times, objects, dirs = [], [], []
        for _ in range(self.runs):
            d = self.fresh("ours-upd20k")
            # The crate copied, the cache hard-linked: the same objects
            # (inodes) the import left, as an update in place sees them,
            # and the template stays at v1 for the next run.
            run(["cp", "-a", str(self.t20k_ours / "c"), str(d / "c")])
            run(["cp", "-al", str(self.t20k_ours / "cache"), str(d / "cache")])
            env = self.our_env(d / "cache")
            before = len(self.http_gets())
            os.sync()
            times.append(timed(self.ours("update", "-q"), cwd=d / "c", env=env))
            gets = self.http_gets()[before:]
            objects.append(sum(1 for g in gets if g.startswith("/files/md5/") and not g.endswith(".dir")))
            dirs.append(sum(1 for g in gets if g.endswith(".dir")))
            if (d / "c/dir20k.dvc").read_text() == (self.t20k_ours / "c/dir20k.dvc").read_text():
                raise SystemExit("cargo dvc update did not move the lock of the big directory")
        if getattr(self, "cold20k", None) is None:
            ours, _ = self.measured_pair(self.reg_http, "data/dir20k", "dir20k")
            runs = [ours() for _ in range(self.runs)]
            self.cold20k = (*medians(runs), None, None)
        cold = self.cold20k[0]
        mu = statistics.median(times)
        exact = all(n == 10 for n in objects)
        self.record(
            "update-20k", mu / cold,
            f"ours {mu:.3f}s, cold import {cold:.3f}s; objects downloaded per run: {objects} "
            f"(+ .dir: {dirs}), want 10",
            ok=exact,
        )

    def fig_growth(self):
        """Cold imports at each size of the growth table; the largest is the
        big directory's figure (measured by fig_dir20k)."""
        rows = []
        for n in self.growth[:-1]:
            ours, theirs = self.measured_pair(self.reg_http, f"data/grow{n}", f"grow{n}")
            # One untimed run per side first: the first import of a folder
            # pays for reading it into the server's page cache, which the
            # big directory's runs (measured after their own) do not.
            ours()
            theirs()
            a, b = self.alternate(ours, theirs, self.runs)
            rows.append((n, *medians(a), *medians(b)))
        rows.append((self.growth[-1], *self.cold20k))
        (n1, t1, r1, _, _), (n2, t2, r2, _, _), (n3, t3, r3, _, _) = rows

        def marginal(x1, x2, x3):
            low = (x2 - x1) / (n2 - n1)
            high = (x3 - x2) / (n3 - n2)
            return high / low if low > 0 else float("inf")

        gt, gr = marginal(t1, t2, t3), marginal(r1, r2, r3)
        table = "; ".join(
            f"{n} files: ours {t:.2f}s {r:.1f} MiB, dvc {dt:.2f}s {dr:.1f} MiB"
            for n, t, r, dt, dr in rows
        )
        self.record("growth", max(gt, gr), f"per added file, high/low range: time {gt:.2f}, RSS {gr:.2f}; {table}")
        self.growth_rows = rows

    def fig_huge_http(self):
        ours, _ = self.import_pair(self.reg_http, "data/huge.bin", "huge.bin", discard=True)
        url = f"{self.http_url}/{self.remote_obj('data/huge.bin.dvc').relative_to(self.remote_dir)}"

        def curl():
            d = self.fresh("curl-huge")
            took = timed(["curl", "-s", "-f", "-o", str(d / "huge.bin"), url])
            shutil.rmtree(d, ignore_errors=True)
            return took

        # Beside it, the verification floor: MD5 of the same bytes (from the
        # page cache), which no verified download can beat and curl does
        # not pay.
        src = self.remote_obj("data/huge.bin.dvc")
        a, b, c = [], [], []
        for i in range(self.runs):
            order = [(a, ours), (b, curl), (c, lambda: timed(["md5sum", str(src)]))]
            if i % 2:
                order.reverse()
            for acc, fn in order:
                os.sync()
                acc.append(fn())
        ma, mb, mc = map(statistics.median, (a, b, c))
        # A verified download cannot beat the slower of the two floors: when
        # MD5 of the bytes (md5sum) takes longer than curl's unverified copy,
        # the target vs curl is out of reach and the floor ratio says how close.
        self.record(
            "huge-http", ma / mb,
            f"ours {ma:.3f}s, curl {mb:.3f}s, md5sum {mc:.3f}s ({self.huge // MiB} MiB); "
            f"vs the slower floor max(curl, md5sum): {ma / max(mb, mc):.2f}x",
        )

    def fig_url(self, names):
        """A cold `import-url` of the 256 MiB file served over HTTP, beside
        `dvc import-url` and `curl` of the same URL."""
        url = f"{self.http_url}/{self.remote_obj('data/big.bin.dvc').relative_to(self.remote_dir)}"

        def ours():
            d = self.fresh("ours-url")
            self.crate(d / "c")
            took = timed(self.ours("import-url", "-q", url, "big.bin"), cwd=d / "c", env=self.our_env(d / "cache"))
            shutil.rmtree(d, ignore_errors=True)
            return took

        def theirs():
            d = self.fresh("dvc-url")
            self.dvc_project(d)
            took = timed([self.dvc, "import-url", "-q", url, "big.bin"], cwd=d, env=self.env)
            shutil.rmtree(d, ignore_errors=True)
            return took

        def curl():
            d = self.fresh("curl-url")
            took = timed(["curl", "-s", "-f", "-o", str(d / "big.bin"), url])
            shutil.rmtree(d, ignore_errors=True)
            return took

        size = f"{self.big // MiB} MiB"
        if "url-http" in names:
            ma, mb, _, _ = self.side_by_side(ours, theirs)
            self.record("url-http", ma / mb, f"ours {ma:.3f}s, dvc {mb:.3f}s ({size})")
        if "url-curl" in names:
            ma, mb, _, _ = self.side_by_side(ours, curl)
            # MD5 of every byte is what the lock records: its time alone is
            # the floor of any verified import.
            src = self.remote_obj("data/big.bin.dvc")
            mc = statistics.median([timed(["md5sum", str(src)]) for _ in range(self.runs)])
            self.record(
                "url-curl", ma / mb,
                f"ours {ma:.3f}s, curl {mb:.3f}s ({size}); md5sum of the file {mc:.3f}s "
                f"= {mc / mb:.2f}x curl, ours {ma / max(mb, mc):.2f}x the slower floor",
            )

    def fig_compile_paths(self):
        """Two consumers built alike, one declaring the big dependency (not
        `embed = true`) and including the generated module, which then holds
        only its path constant; the time of a rebuild after an edit of the
        crate (`touch src/lib.rs`)."""
        d = self.tmp / "compile-paths"
        target = d / "target"
        env = self.our_env(d / "cache", {"CARGO_TARGET_DIR": str(target), "HOME": os.environ.get("HOME", "/root")})
        lib = (
            'pub mod dvc_deps {\n    include!(concat!(env!("OUT_DIR"), "/dvc_deps.rs"));\n}\n'
            "pub fn answer() -> u32 {\n    42\n}\n"
        )
        crates = {}
        for label, dep in [("with", True), ("without", False)]:
            c = self.crate(d / label, name=f"paths-{label}", build_dep=True)
            text = (c / "Cargo.toml").read_text()
            meta = "[package.metadata.dvc]\n"
            if dep:
                meta = (
                    "[package.metadata.dvc.deps.model]\n"
                    f'url = "{self.reg}"\npath = "data/model.bin"\n'
                )
            (c / "Cargo.toml").write_text(text.replace("[build-dependencies]", meta + "\n[build-dependencies]", 1))
            (c / "src/lib.rs").write_text(lib)
            log(f"building the consumer {label} the {self.model // MiB} MiB dependency")
            run(["cargo", "build", "-q"], cwd=c, env=env)
            crates[label] = c

        walls = {"with": [], "without": []}

        def rebuild(label):
            """The CPU time (user + system, cargo and rustc) of the rebuild:
            what the compile costs, whatever else the machine runs."""
            c = crates[label]

            def go():
                (c / "src/lib.rs").touch()
                t = time.perf_counter()
                p = subprocess.Popen(["cargo", "build", "-q"], cwd=c, env=env)
                _, status, ru = os.wait4(p.pid, 0)
                walls[label].append(time.perf_counter() - t)
                if os.waitstatus_to_exitcode(status) != 0:
                    raise SystemExit(f"cargo build failed in {c}")
                return ru.ru_utime + ru.ru_stime
            return go

        ma, mb, _, _ = self.side_by_side(rebuild("with"), rebuild("without"), runs=max(self.runs, 7))
        wa, wb = statistics.median(walls["with"]), statistics.median(walls["without"])
        self.record(
            "compile-paths", ma / mb,
            f"CPU with {ma:.3f}s, without {mb:.3f}s (wall {wa:.3f}s vs {wb:.3f}s; "
            f"{self.model // MiB} MiB dependency, path constants only)",
        )

    # ---------- driver ----------
    def main(self, names):
        need = set()
        if names & {"rss-flat", "huge-http"}:
            need.add("huge")
        big_dir = {"dir20k", "dir20k-rss", "warm-fetch-20k", "update-20k", "growth"}
        if names & big_dir:
            need.add("dir20k")
        if "growth" in names:
            need.add("growth")
        if "compile-paths" in names:
            need.add("model")
        try:
            self.build_cargo_dvc()
            self.make_registry(need)
            if names & {"update", "warm-fetch", "build-script"}:
                self.ten_templates()
            if names & ({"dir-http", "dir-http11", "huge-http", "url-http", "url-curl"} | big_dir):
                self.start_http()
            if names & {"warm-fetch-20k", "update-20k"}:
                self.big_dir_templates(names)
            self.registry_v2(need)
            if "dir-http10" in names:
                self.start_http10()
            if names & {"s3", "dir-s3"}:
                self.start_s3(names)
            if names & {"ssh", "dir-ssh"}:
                self.start_ssh(names)
            if names & {"gs-big", "gs-dir"}:
                self.start_gcs(names)
            if names & {"azure-big", "azure-dir"}:
                self.start_azure(names)
            print(f"\n{'figure':13} {'value':>9}  target  verdict  detail   ({self.runs} runs, medians; {os.cpu_count()} cores)")
            if self.quick:
                print("(--quick: small data, so fixed costs weigh more; the verdicts check that each row runs, not the figures)")
            if names & {"big-local", "big-md5sum"}:
                self.fig_big(names)
            if "dir-http" in names:
                self.fig_dir_http()
            if "update" in names:
                self.fig_update()
            if "warm-fetch" in names:
                self.fig_warm_fetch()
            if "build-script" in names:
                self.fig_build_script()
            if names & {"pull-file", "pull-dir", "pull-file-link", "pull-dir-link"}:
                self.fig_pull(names)
            if names & {"rss", "rss-flat"}:
                self.fig_rss(names)
            if "s3" in names:
                self.fig_s3()
            if names & {"ssh", "dir-ssh"}:
                self.fig_ssh(names)
            if "compile" in names:
                self.fig_compile()
            if "dir-http10" in names:
                self.fig_dir_curl("dir-http10", self.reg_http10, self.http10_url)
            if "dir-http11" in names:
                self.fig_dir_curl("dir-http11", self.reg_http, self.http_url)
            if "dir-s3" in names:
                self.fig_dir_s3()
            if names & {"dir20k", "dir20k-rss", "growth"}:
                self.fig_dir20k(names)
            if "growth" in names:
                self.fig_growth()
            if "warm-fetch-20k" in names:
                self.fig_warm_fetch_20k()
            if "update-20k" in names:
                self.fig_update_20k()
            if "huge-http" in names:
                self.fig_huge_http()
            if "compile-paths" in names:
                self.fig_compile_paths()
            if names & {"gs-big", "gs-dir"}:
                self.fig_cloud(names, "gs", self.reg_gcs, "fake-gcs-server")
            if names & {"azure-big", "azure-dir"}:
                self.fig_cloud(names, "azure", self.reg_azure, "Azurite")
            if names & {"url-http", "url-curl"}:
                self.fig_url(names)
            self.table()
        finally:
            for p in self.procs:
                try:
                    if p.args and p.args[0] in (self.weed, self.azurite):
                        os.killpg(p.pid, signal.SIGTERM)
                    else:
                        p.terminate()
                    p.wait(timeout=10)
                except Exception:
                    p.kill()
            if self.args.keep:
                log(f"kept {self.tmp}")
            else:
                subprocess.run(["chmod", "-R", "u+w", str(self.tmp)])
                shutil.rmtree(self.tmp, ignore_errors=True)

    def table(self):
        print("\n| figure | what | measured | target | verdict |")
        print("| --- | --- | --- | --- | --- |")
        for name, what, target in FIGURES:
            if name not in self.results:
                continue
            value, detail, ok = self.results[name]
            if target is None:
                print(f"| {name} | {what} | {detail} | report | - |")
                continue
            unit = "ms" if name == "build-script" else "x"
            verdict = "PASS" if value <= target and ok else "FAIL"
            print(f"| {name} | {what} | **{value:.3f}{unit}** ({detail}) | <= {target}{unit} | {verdict} |")
        rows = getattr(self, "growth_rows", None)
        if rows:
            print("\n| files | ours: time | ours: peak RSS | dvc: time | dvc: peak RSS |")
            print("| ---: | ---: | ---: | ---: | ---: |")
            for n, t, r, dt, dr in rows:
                print(f"| {n:,} | {t:.2f} s | {r:.1f} MiB | {dt:.2f} s | {dr:.1f} MiB |")
        for n in self.notes:
            print(f"note: {n}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated figures (see --list)")
    ap.add_argument("--skip", help="comma-separated figures to leave out")
    ap.add_argument("--runs", type=int, help="runs per side (default 5; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="smoke run: small data, 1 run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--list", action="store_true", help="list the figures and exit")
    args = ap.parse_args()
    if args.list:
        for name, what, target in FIGURES:
            print(f"{name:13} <= {target}  {what}")
        return
    names = {n for n, _, _ in FIGURES}
    if args.only:
        names = set(args.only.split(","))
    if args.skip:
        names -= set(args.skip.split(","))
    unknown = names - set(TARGETS)
    if unknown:
        raise SystemExit(f"unknown figures: {', '.join(sorted(unknown))} (see --list)")
    Bench(args).main(names)


if __name__ == "__main__":
    main()
