//! Crashes and concurrency, with real processes: this test binary re-runs
//! itself in a child mode ([`child_fetch`], selected by an environment
//! variable) that does what a build script does, `Fetch::run`, against a
//! slow HTTP server in the parent.
//!
//! * Kills: a child is SIGKILLed at a random moment (seeded xorshift) during
//!   a file and a directory fetch, 24 times; after each kill the cache holds
//!   only verified objects (every object re-hashed), whatever is at the
//!   destination is complete and right, and the next run succeeds.
//! * Concurrency: 8 children fetch overlapping artifacts into one cache at
//!   once: all succeed, the server sees each object requested exactly once,
//!   nothing is corrupt.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dvc_build::__private::hash::Md5;
use dvc_build::Fetch;

use crate::support::http::FileServer;
use crate::support::invariants::assert_cache_sound;
use crate::support::{self, Registry};

const CHILD_ENV: &str = "DVC_BUILD_TEST_CHILD_FETCH";

/// The child mode: `Fetch::run` for the crate, OUT_DIR and cache named in the
/// environment; exits 0 on success, 3 on error. A no-op in a normal run.
#[test]
fn child_fetch() {
    let Some(spec) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let spec = spec.to_string_lossy().into_owned();
    let mut parts = spec.split('\n');
    let (krate, out, cache) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    // A fourth line `write` lets the child resolve and write locks.
    let locked = parts.next() != Some("write");
    let result = Fetch::new()
        .manifest_dir(krate)
        .out_dir(out)
        .cache_dir(cache)
        .locked(locked)
        .offline(false)
        .emit_directives(false)
        .run();
    match result {
        Ok(_) => std::process::exit(0),
        Err(e) => {
            eprintln!("child fetch failed: {e}");
            std::process::exit(3)
        }
    }
}

fn spawn_child(krate: &Path, out: &Path, cache: &Path) -> Child {
    child_command(krate, out, cache).spawn().unwrap()
}

/// The command that runs [`child_fetch`] for `krate` (stdout null, stderr
/// piped), for tests that need a process of their own (environment, kills).
pub(crate) fn child_command(krate: &Path, out: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "crash::child_fetch",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(
        CHILD_ENV,
        format!(
            "{}\n{}\n{}",
            krate.display(),
            out.display(),
            cache.display()
        ),
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

/// A tiny seeded PRNG (xorshift64*).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

/// A registry with `model.bin`, `extra.bin` and `data/` (6 files), pushed to
/// its local remote, served by a [`FileServer`].
struct Setup {
    tmp: tempfile::TempDir,
    reg: Registry,
    server: FileServer,
    /// Relative path -> bytes of everything a crate may fetch.
    files: Vec<(String, Vec<u8>)>,
}

fn setup() -> Setup {
    let tmp = support::tempdir();
    let reg = Registry::new(&tmp.path().join("reg"));
    let mut files = vec![
        ("model.bin".to_string(), bytes(400_000, 1)),
        ("extra.bin".to_string(), bytes(150_000, 2)),
    ];
    for i in 0..6 {
        files.push((
            format!("data/f{i}.bin"),
            bytes(60_000 + i * 7, 10 + i as u8),
        ));
    }
    for (rel, data) in &files {
        reg.write(rel, data);
    }
    reg.add(&["model.bin", "extra.bin", "data"]);
    reg.commit("data");
    reg.push();
    let server = FileServer::start(&reg.remote);
    Setup {
        tmp,
        reg,
        server,
        files,
    }
}

impl Setup {
    /// A crate depending on `deps` (paths in the registry), with its locks
    /// written by an unthrottled in-process fetch.
    fn krate(&self, name: &str, deps: &[&str]) -> PathBuf {
        let dir = self.tmp.path().join(name);
        let mut toml = format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n");
        for dep in deps {
            let key = dep.replace('.', "_");
            toml.push_str(&format!(
                "\n[package.metadata.dvc.deps.{key}]\nurl = \"{}\"\npath = \"{dep}\"\n\
                 remote = {{ url = \"{}\", read_timeout = \"5\" }}\n",
                self.reg.repo.display(),
                self.server.url()
            ));
        }
        support::write(&dir, "Cargo.toml", toml);
        Fetch::new()
            .manifest_dir(&dir)
            .out_dir(self.tmp.path().join(format!("{name}-lock-out")))
            .cache_dir(self.tmp.path().join(format!("{name}-lock-cache")))
            .locked(false)
            .offline(false)
            .emit_directives(false)
            .run()
            .unwrap();
        dir
    }

    /// Asserts that every file of `deps` under `out` is right; with
    /// `complete`, that all are there.
    #[track_caller]
    fn check_out(&self, out: &Path, deps: &[&str], complete: bool) {
        for (rel, data) in &self.files {
            if !deps
                .iter()
                .any(|d| rel == d || rel.starts_with(&format!("{d}/")))
            {
                continue;
            }
            let path = out.join("dvc").join(rel);
            match fs::read(&path) {
                Ok(got) => assert!(got == *data, "{} is wrong", path.display()),
                Err(_) => assert!(!complete, "{} is missing", path.display()),
            }
        }
        // Nothing else but the artifacts under OUT_DIR/dvc, and the hidden
        // build folders (`.<name>.dvc-build-*`) a killed placement may leave
        // beside its destination (materialize's documented worst case): any
        // file in one is also a complete, right copy.
        for file in crate::support::invariants::walk(&out.join("dvc")) {
            let rel = file
                .strip_prefix(out.join("dvc"))
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let (top, inner) = rel.split_once('/').unwrap_or((rel.as_str(), ""));
            let visible = match top
                .strip_prefix('.')
                .and_then(|t| t.split_once(".dvc-build-"))
            {
                Some((name, _)) if inner.is_empty() => name.to_string(),
                Some((name, _)) => format!("{name}/{inner}"),
                None => rel.clone(),
            };
            let Some((_, data)) = self.files.iter().find(|(r, _)| *r == visible) else {
                panic!("a stray file at the destination: {rel}");
            };
            assert!(fs::read(&file).unwrap() == *data, "{rel} is wrong");
        }
    }

    fn objects_requested(&self) -> usize {
        self.server
            .log()
            .iter()
            .filter(|r| r.path.starts_with("/files/md5/"))
            .count()
    }
}

#[test]
fn sigkill_at_random_points_never_leaves_a_bad_cache_or_file() {
    let s = setup();
    let deps = ["model.bin", "data"];
    let krate = s.krate("killed", &deps);
    let mut rng = XorShift(0x005E_ED0F_C4A5);
    // 16 KiB every 4 ms per connection: the model takes ~100 ms, the
    // directory about as long.
    let throttle = Some((16 * 1024, Duration::from_millis(4)));
    let (mut kills, mut mid_transfer, mut finished_first) = (0, 0, 0);
    let started = Instant::now();
    let mut lines = Vec::new();
    // Until 22 kills have landed (a run may finish before its kill), at
    // most 40 runs.
    let mut i = 0;
    while kills < 22 && i < 40 {
        i += 1;
        let cache = s.tmp.path().join(format!("cache-{i}"));
        let out = s.tmp.path().join(format!("out-{i}"));
        s.server.throttle(throttle);
        let before = s.objects_requested();
        let mut child = spawn_child(&krate, &out, &cache);
        // One kill in five lands early (start-up, the git database); the
        // others a random time after the first object request.
        let early = rng.below(5) == 0;
        let t0 = Instant::now();
        if !early {
            while s.objects_requested() == before && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let delay = Duration::from_millis(if early {
            rng.below(120)
        } else {
            rng.below(250)
        });
        std::thread::sleep(delay);
        let delay = t0.elapsed();
        let _ = child.kill();
        let status = child.wait().unwrap();
        let requests = s.objects_requested() - before;
        if status.signal() == Some(9) {
            kills += 1;
            if requests > 0 {
                mid_transfer += 1;
            }
        } else {
            assert!(status.success(), "run {i}: {status:?}");
            finished_first += 1;
        }
        lines.push(format!(
            "kill {i:>2}: after {:>3} ms, {requests} object requests, {}",
            delay.as_millis(),
            if status.signal() == Some(9) {
                "killed"
            } else {
                "had finished"
            }
        ));
        // Whatever was left: only verified objects (all re-hashed), only
        // complete, right files at the destination.
        assert_cache_sound(&cache, true);
        s.check_out(&out, &deps, false);
        // The next run succeeds and completes everything.
        s.server.throttle(None);
        let child = spawn_child(&krate, &out, &cache);
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "run {i}: the run after a kill failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let objects = assert_cache_sound(&cache, true);
        assert_eq!(objects.len(), 8, "model, 6 files and the .dir: {objects:?}");
        // What the killed run was downloading is gone, not a full-size orphan.
        for left in crate::support::invariants::walk(&cache.join("tmp")) {
            assert_eq!(
                fs::metadata(&left).unwrap().len(),
                0,
                "run {i}: a partial download left in tmp/: {}",
                left.display()
            );
        }
        s.check_out(&out, &deps, true);
    }
    println!("{}", lines.join("\n"));
    println!(
        "SIGKILL: {kills} kills ({mid_transfer} after the first object request), \
         {finished_first} runs finished before their kill, in {:?}",
        started.elapsed()
    );
    assert!(kills >= 20, "{kills} kills in {i} runs");
    assert!(
        mid_transfer >= 10,
        "only {mid_transfer} kills landed mid-transfer"
    );
}

#[test]
fn eight_processes_share_one_cache_and_download_each_object_once() {
    let s = setup();
    let a = ["model.bin", "data"];
    let b = ["data", "extra.bin"];
    let krate_a = s.krate("crate-a", &a);
    let krate_b = s.krate("crate-b", &b);
    let cache = s.tmp.path().join("shared-cache");
    let before = s.server.log().len();
    s.server
        .throttle(Some((64 * 1024, Duration::from_millis(5))));
    let children: Vec<(usize, Child)> = (0..8)
        .map(|i| {
            let krate = if i % 2 == 0 { &krate_a } else { &krate_b };
            (
                i,
                spawn_child(krate, &s.tmp.path().join(format!("out-{i}")), &cache),
            )
        })
        .collect();
    for (i, child) in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "process {i} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let deps: &[&str] = if i % 2 == 0 { &a } else { &b };
        s.check_out(&s.tmp.path().join(format!("out-{i}")), deps, true);
    }
    let log = &s.server.log()[before..];
    let mut per_path = std::collections::BTreeMap::<&str, usize>::new();
    for r in log {
        *per_path.entry(r.path.as_str()).or_default() += 1;
    }
    // model, extra, 6 files and the .dir: 9 objects, each requested once.
    assert_eq!(per_path.len(), 9, "{per_path:?}");
    assert!(per_path.values().all(|&n| n == 1), "{per_path:?}");
    let objects = assert_cache_sound(&cache, false);
    assert_eq!(objects.len(), 9);
    for (rel, data) in &s.files {
        assert!(
            objects.contains_key(&{
                let hex = Md5::of(data).to_hex();
                format!("{}/{}", &hex[..2], &hex[2..])
            }),
            "{rel} is cached"
        );
    }
    println!(
        "8 processes, 2 crates, 9 objects: {} requests in all",
        log.len()
    );
}
