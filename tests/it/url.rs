//! URL dependencies (DVC's `import-url`) against real servers on loopback:
//! our HTTP server with a strong `ETag`, the same without one (nor
//! `Last-Modified`), Python's `http.server` (`Last-Modified` only), a server
//! that redirects to another port, and local files. Every lock is compared
//! byte for byte with what the real `dvc import-url` (and, after a change,
//! `dvc update`) writes in a DVC project laid out the same; `dvc` pulls and
//! updates our locks, and we build from locks `dvc` wrote.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use dvc_build::__private::hash::{Md5, Sha256};

use crate::support::http::FileServer;
use crate::support::{
    PythonHttpServer, cargo_dvc, dvc, git, pseudo_random, run, run_fail, tempdir, write,
};

/// Two DVC projects that are also crates, laid out the same: `dvc` works
/// in one, `cargo dvc` in the other; their files are then compared.
pub struct Twins {
    _tmp: tempfile::TempDir,
    /// Where the real `dvc import-url` runs.
    pub theirs: PathBuf,
    /// Where `cargo dvc import-url` runs.
    ours: PathBuf,
    /// Our content cache.
    cache: PathBuf,
    /// Variables set for both tools (credentials).
    env: Vec<(String, String)>,
}

impl Twins {
    pub fn new() -> Twins {
        let tmp = tempdir();
        let (theirs, ours) = (tmp.path().join("theirs"), tmp.path().join("ours"));
        for dir in [&theirs, &ours] {
            project(dir);
        }
        Twins {
            cache: tmp.path().join("cache"),
            theirs,
            ours,
            _tmp: tmp,
            env: Vec::new(),
        }
    }

    /// Sets `name=value` for every command of both tools.
    pub fn with_env(mut self, name: &str, value: &str) -> Twins {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// `dvc ARGS...` in `theirs`.
    pub fn dvc(&self) -> Command {
        let mut cmd = dvc(&self.theirs);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// `dvc import-url URL OUT ARGS...` in `theirs`.
    pub fn dvc_import(&self, url: &str, out: &str, args: &[&str]) {
        run(self.dvc().args(["import-url", "-q", url, out]).args(args));
    }

    /// `cargo dvc import-url URL OUT ARGS...` in `ours`; its stderr.
    pub fn import(&self, url: &str, out: &str, args: &[&str]) -> String {
        stderr(self.cargo_dvc().args(["import-url", url, out]).args(args))
    }

    /// `cargo dvc` in `ours`.
    pub fn cargo_dvc(&self) -> Command {
        let mut cmd = cargo_dvc(&self.ours, &self.cache);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// The file `rel` is the same in both projects.
    #[track_caller]
    pub fn assert_same(&self, rel: &str) {
        let read = |dir: &Path| {
            std::fs::read_to_string(dir.join(rel))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(rel).display()))
        };
        let (theirs, ours) = (read(&self.theirs), read(&self.ours));
        assert_eq!(
            ours, theirs,
            "`{rel}`: ours (left) differs from dvc's (right)"
        );
    }

    /// The text of `rel` in `ours`.
    pub fn lock(&self, rel: &str) -> String {
        std::fs::read_to_string(self.ours.join(rel)).unwrap()
    }
}

/// A DVC project that is also a crate (`git init`, `dvc init`, a
/// `Cargo.toml` of its own workspace), committed.
fn project(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    run(git(dir).args(["init", "-q"]));
    run(dvc(dir).args(["init", "-q"]));
    write(
        dir,
        "Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    run(git(dir).args(["add", "-A"]));
    run(git(dir).args(["commit", "-q", "-m", "init"]));
}

/// Runs `cmd` (which must succeed); its stderr.
#[track_caller]
pub fn stderr(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stderr).into_owned()
}

/// Writes `bytes` to `path` and moves its mtime `secs` seconds into the
/// past, so that a `Last-Modified` of one-second granularity changes too.
fn rewrite(path: &Path, bytes: &[u8], secs: u64) {
    std::fs::write(path, bytes).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

/// The servers of the HTTP tests, all serving one folder.
struct Servers {
    files: tempfile::TempDir,
    etag: FileServer,
    plain: FileServer,
    python: PythonHttpServer,
    /// Redirects everything to `plain` (another port): the final URL is
    /// part of the checksum DVC computes when no `ETag` comes.
    hub: FileServer,
    /// Redirects everything to `etag`.
    cdn_hub: FileServer,
    /// A weak ETag (`W/"..."`).
    weak: FileServer,
    /// `Content-MD5` and no ETag.
    content_md5: FileServer,
}

impl Servers {
    fn start() -> Servers {
        let files = tempdir();
        rewrite(
            &files.path().join("model.bin"),
            &pseudo_random(300_000, 1),
            100,
        );
        let etag = FileServer::start(files.path());
        etag.send_etags(true);
        let plain = FileServer::start(files.path());
        let python = PythonHttpServer::start(files.path());
        let empty = files.path().join("nothing-here");
        std::fs::create_dir_all(&empty).unwrap();
        let hub = FileServer::start(&empty);
        hub.redirect_all(Some(plain.url()));
        let cdn_hub = FileServer::start(&empty);
        cdn_hub.redirect_all(Some(etag.url()));
        let weak = FileServer::start(files.path());
        weak.weak_etags(true);
        let content_md5 = FileServer::start(files.path());
        content_md5.send_content_md5(true);
        Servers {
            files,
            etag,
            plain,
            python,
            hub,
            cdn_hub,
            weak,
            content_md5,
        }
    }

    /// `(name, URL of model.bin)` per kind of server.
    fn cases(&self) -> Vec<(&'static str, String)> {
        vec![
            ("etag", format!("{}/model.bin", self.etag.url())),
            ("plain", format!("{}/model.bin", self.plain.url())),
            ("python", format!("{}/model.bin", self.python.url)),
            ("hub", format!("{}/model.bin", self.hub.url())),
            ("cdn", format!("{}/model.bin", self.cdn_hub.url())),
            ("weak", format!("{}/model.bin", self.weak.url())),
            ("md5", format!("{}/model.bin", self.content_md5.url())),
        ]
    }

    fn model(&self) -> PathBuf {
        self.files.path().join("model.bin")
    }
}

#[test]
fn http_locks_are_byte_identical_with_dvc_import_url() {
    let servers = Servers::start();
    let twins = Twins::new();
    for (name, url) in servers.cases() {
        let out = format!("{name}.bin");
        twins.dvc_import(&url, &out, &[]);
        twins.import(&url, &out, &[]);
        twins.assert_same(&format!("{out}.dvc"));
    }
    twins.assert_same(".gitignore");
    // What pins each: the raw ETag, else fsspec's checksum of what the
    // server said (its final URL, after the redirect, included).
    let etag = Md5::of(&std::fs::read(servers.model()).unwrap());
    assert!(
        twins
            .lock("etag.bin.dvc")
            .contains(&format!("- checksum: '\"{etag}\"'"))
    );
    assert!(
        twins
            .lock("cdn.bin.dvc")
            .contains(&format!("- checksum: '\"{etag}\"'"))
    );
    let token = |name: &str| {
        let lock = twins.lock(&format!("{name}.bin.dvc"));
        lock.lines()
            .find_map(|l| l.strip_prefix("- checksum: "))
            .unwrap()
            .to_string()
    };
    assert_ne!(token("plain"), token("hub"));
    assert_ne!(token("plain"), token("python"));
    // The servers were asked: a HEAD each, then one GET of the bytes.
    assert!(servers.etag.count_method("HEAD", "model.bin") >= 2);
    // Declared in Cargo.toml, as `cargo dvc import-url` wrote them.
    let manifest = std::fs::read_to_string(twins.ours.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!(
            "[package.metadata.dvc.deps.etag]\nurl = \"{}/model.bin\"\nout = \"etag.bin\"\n",
            servers.etag.url()
        )),
        "{manifest}"
    );
}

#[test]
fn http_update_rewrites_as_dvc_update_and_says_unchanged() {
    let servers = Servers::start();
    let twins = Twins::new();
    let cases: Vec<_> = servers
        .cases()
        .into_iter()
        .filter(|(name, _)| ["etag", "python", "cdn", "weak", "md5"].contains(name))
        .collect();
    for (name, url) in &cases {
        let out = format!("{name}.bin");
        twins.dvc_import(url, &out, &[]);
        twins.import(url, &out, &[]);
    }
    // Nothing changed: dvc skips, we say so, and no lock is touched.
    for (name, _) in &cases {
        let file = format!("{name}.bin.dvc");
        let before = twins.lock(&file);
        let said = run(twins.dvc().args(["update", &file]));
        assert!(
            String::from_utf8_lossy(&said.stdout).contains("didn't change, skipping"),
            "{said:?}"
        );
        let ours = stderr(twins.cargo_dvc().args(["update", name]));
        assert!(ours.contains("Unchanged"), "{ours}");
        assert_eq!(twins.lock(&file), before);
        twins.assert_same(&file);
    }
    // New content (another size, another mtime): both rewrite the same way.
    rewrite(&servers.model(), &pseudo_random(250_000, 2), 10);
    for (name, _) in &cases {
        let file = format!("{name}.bin.dvc");
        run(twins.dvc().args(["update", "-q", &file]));
        let ours = stderr(twins.cargo_dvc().args(["update", name]));
        assert!(ours.contains("Updating"), "{ours}");
        twins.assert_same(&file);
        let (md5, _) = crate::support::out_md5_and_size(&twins.lock(&file));
        assert_eq!(md5, Md5::of(&pseudo_random(250_000, 2)).to_hex());
    }
}

/// A server that says nothing that changes with the content (no ETag,
/// Content-MD5 nor Last-Modified): `dvc update` misses a same-size change
/// ("didn't change, skipping", stale data: a DVC bug); we download to check.
#[test]
fn a_same_size_change_behind_a_server_without_validators_is_not_missed() {
    let servers = Servers::start();
    let twins = Twins::new();
    let url = format!("{}/model.bin", servers.plain.url());
    twins.dvc_import(&url, "plain.bin", &[]);
    twins.import(&url, "plain.bin", &[]);
    let same_size = pseudo_random(300_000, 3);
    rewrite(&servers.model(), &same_size, 50);
    let said = run(dvc(&twins.theirs).args(["update", "plain.bin.dvc"]));
    assert!(String::from_utf8_lossy(&said.stdout).contains("didn't change"));
    let ours = stderr(twins.cargo_dvc().args(["update", "plain"]));
    assert!(ours.contains("Updating"), "{ours}");
    let lock = twins.lock("plain.bin.dvc");
    let (md5, _) = crate::support::out_md5_and_size(&lock);
    assert_eq!(md5, Md5::of(&same_size).to_hex());
    // `status` cannot tell without a download, and says so.
    let status = run(twins.cargo_dvc().args(["status", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["dependencies"][0]["update"], "unknown", "{json}");
}

#[test]
fn dvc_pulls_and_updates_our_locks() {
    let servers = Servers::start();
    let twins = Twins::new();
    let url = format!("{}/model.bin", servers.python.url);
    twins.import(&url, "model.bin", &[]);
    // Placed (and in the project's DVC cache): dvc sees our lock as its
    // own: up to date, nothing to update.
    run(twins.cargo_dvc().args(["pull"]));
    let status = run(dvc(&twins.ours).args(["status", "--json"]));
    assert_eq!(String::from_utf8_lossy(&status.stdout).trim(), "{}");
    let said = run(dvc(&twins.ours).args(["update", "model.bin.dvc"]));
    assert!(String::from_utf8_lossy(&said.stdout).contains("didn't change, skipping"));
    // Pushed to the project's remote, pulled in a clone.
    let remote = twins.ours.parent().unwrap().join("dvc-remote");
    run(dvc(&twins.ours)
        .args(["remote", "add", "-d", "store"])
        .arg(&remote));
    run(dvc(&twins.ours).args(["push", "-q"]));
    run(git(&twins.ours).args(["add", "-A"]));
    run(git(&twins.ours).args(["commit", "-q", "-m", "model by URL"]));
    let clone = twins.ours.parent().unwrap().join("clone");
    run(git(twins.ours.parent().unwrap())
        .args(["clone", "-q"])
        .arg(&twins.ours)
        .arg(&clone));
    run(dvc(&clone).args(["pull", "-q"]));
    assert_eq!(
        std::fs::read(clone.join("model.bin")).unwrap(),
        std::fs::read(servers.model()).unwrap()
    );
    let status = run(dvc(&clone).args(["status", "--json"]));
    assert_eq!(String::from_utf8_lossy(&status.stdout).trim(), "{}");
    // After a change, `dvc update` rewrites our lock as we would.
    rewrite(&servers.model(), b"version two\n", 20);
    run(dvc(&clone).args(["update", "-q", "model.bin.dvc"]));
    run(twins.cargo_dvc().args(["update", "model"]));
    assert_eq!(
        std::fs::read_to_string(clone.join("model.bin.dvc")).unwrap(),
        twins.lock("model.bin.dvc")
    );
}

#[test]
fn we_build_from_locks_dvc_wrote() {
    let servers = Servers::start();
    let twins = Twins::new();
    let mut decls = String::new();
    for (name, url) in servers.cases() {
        let out = format!("models/{name}.bin");
        std::fs::create_dir_all(twins.theirs.join("models")).unwrap();
        twins.dvc_import(&url, &out, &[]);
        decls.push_str(&format!(
            "\n[package.metadata.dvc.deps.{name}]\nurl = \"{url}\"\nout = \"{out}\"\n"
        ));
    }
    let manifest = twins.theirs.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}{decls}")).unwrap();
    let locks = |dir: &Path| crate::support::tree(&dir.join("models"));
    let before: Vec<String> = locks(&twins.theirs)
        .into_iter()
        .filter(|l| l.contains(".dvc="))
        .collect();
    let cache = twins.theirs.parent().unwrap().join("cache-theirs");
    run(cargo_dvc(&twins.theirs, &cache).args(["check"]));
    let fetched = stderr(cargo_dvc(&twins.theirs, &cache).args(["fetch", "-v"]));
    assert!(!fetched.contains("Locked"), "{fetched}");
    let after: Vec<String> = locks(&twins.theirs)
        .into_iter()
        .filter(|l| l.contains(".dvc="))
        .collect();
    assert_eq!(before, after, "the locks were used as dvc wrote them");
    // Each artifact is in our cache, verified: a second fetch offline works.
    run(cargo_dvc(&twins.theirs, &cache)
        .args(["fetch", "--offline"])
        .env("CARGO_NET_OFFLINE", "true"));
}

#[test]
fn local_files_and_directories_lock_as_dvc() {
    let twins = Twins::new();
    let outside = twins.ours.parent().unwrap().join("ext");
    write(&outside, "file.txt", "local source\n");
    write(&outside, "dir/a.txt", "a\n");
    write(&outside, "dir/sub/b.txt", "bb\n");
    for dir in [&twins.theirs, &twins.ours] {
        write(dir, "data/raw.txt", "raw data inside the project\n");
        std::fs::create_dir_all(dir.join("models")).unwrap();
    }
    let file = outside.join("file.txt");
    let file = file.to_str().unwrap();
    let dir = outside.join("dir");
    let dir = dir.to_str().unwrap();
    // DVC 3 cannot read `file://` dependencies ("does not exist"): we
    // record such a URL as its path, as `dvc import-url PATH` does.
    let file_url = format!("file://{file}");
    for (theirs, ours, out) in [
        (file, file, "file.txt"),
        (dir, dir, "dir"),
        (file, file_url.as_str(), "models/by-url.txt"),
        ("data/raw.txt", "data/raw.txt", "models/raw.txt"),
    ] {
        twins.dvc_import(theirs, out, &[]);
        twins.import(ours, out, &[]);
        twins.assert_same(&format!("{out}.dvc"));
    }
    twins.assert_same(".gitignore");
    twins.assert_same("models/.gitignore");
    // A directory is pinned by the tree of its files, as its content is.
    let lock = twins.lock("dir.dvc");
    assert_eq!(lock.matches(".dir").count(), 2, "{lock}");
    assert!(
        twins
            .lock("models/raw.txt.dvc")
            .contains("path: ../data/raw.txt")
    );
    // A changed directory: `dvc update` and `cargo dvc update` agree.
    write(&outside, "dir/sub/c.txt", "new file\n");
    run(dvc(&twins.theirs).args(["update", "-q", "dir.dvc"]));
    run(twins.cargo_dvc().args(["update", "dir"]));
    twins.assert_same("dir.dvc");
}

#[test]
fn a_changed_source_fails_a_cold_fetch_naming_both_hashes_and_keeps_nothing() {
    let servers = Servers::start();
    let twins = Twins::new();
    let url = format!("{}/model.bin", servers.etag.url());
    twins.import(&url, "model.bin", &[]);
    let old = Md5::of(&std::fs::read(servers.model()).unwrap());
    let lock = twins.lock("model.bin.dvc");
    let new_bytes = pseudo_random(300_000, 9);
    rewrite(&servers.model(), &new_bytes, 5);
    let cold = twins.ours.parent().unwrap().join("cold-cache");
    let err = run_fail(cargo_dvc(&twins.ours, &cold).args(["fetch"]));
    assert!(err.contains("dependency `model`"), "{err}");
    assert!(err.contains(&old.to_hex()), "{err}");
    assert!(err.contains(&Md5::of(&new_bytes).to_hex()), "{err}");
    assert!(err.contains("cargo dvc update"), "{err}");
    assert_eq!(twins.lock("model.bin.dvc"), lock, "the lock is untouched");
    crate::support::invariants::assert_cache_sound(&cold, false);
    let objects = walk_files(&cold.join("files"));
    assert!(objects.is_empty(), "nothing was kept: {objects:?}");
}

#[test]
fn faults_a_redirect_loop_a_404_and_a_wrong_sha256() {
    let servers = Servers::start();
    let twins = Twins::new();
    // A loop: the hub redirects to itself.
    let looping = FileServer::start(servers.files.path());
    looping.redirect_all(Some(looping.url()));
    let err = run_fail(
        twins
            .cargo_dvc()
            .args(["import-url", &format!("{}/model.bin", looping.url())]),
    );
    assert!(err.contains("redirects"), "{err}");
    // A 404.
    let err = run_fail(
        twins
            .cargo_dvc()
            .args(["import-url", &format!("{}/missing.bin", servers.etag.url())]),
    );
    assert!(err.contains("missing.bin` does not exist"), "{err}");
    // A wrong sha256: refused before anything enters the cache.
    let wrong = "0".repeat(64);
    let err = run_fail(twins.cargo_dvc().args([
        "import-url",
        &format!("{}/model.bin", servers.etag.url()),
        "model.bin",
        "--sha256",
        &wrong,
    ]));
    let right = sha256_of(&std::fs::read(servers.model()).unwrap());
    assert!(
        err.contains(&wrong) && err.contains(&right.to_string()),
        "{err}"
    );
    assert!(walk_files(&twins.cache.join("files")).is_empty());
    // Nothing was declared or locked by the failures.
    let manifest = std::fs::read_to_string(twins.ours.join("Cargo.toml")).unwrap();
    assert!(!manifest.contains("metadata.dvc"), "{manifest}");
    assert!(!twins.ours.join("model.bin.dvc").exists());
    // The right one is checked and written; a later change of the bytes is
    // refused on update, naming both.
    twins.import(
        &format!("{}/model.bin", servers.etag.url()),
        "model.bin",
        &["--sha256", &right.to_string()],
    );
    let manifest = std::fs::read_to_string(twins.ours.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("sha256 = \"{right}\"")),
        "{manifest}"
    );
    rewrite(&servers.model(), b"tampered\n", 3);
    let err = run_fail(twins.cargo_dvc().args(["update", "model"]));
    assert!(
        err.contains("SHA-256") && err.contains(&right.to_string()),
        "{err}"
    );
    let status = run(twins.cargo_dvc().args(["status", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let dep = &json["dependencies"][0];
    assert_eq!(dep["sha256"], right.to_string(), "{json}");
    assert_eq!(dep["update"], "source_changed", "{json}");
}

#[test]
fn two_crates_with_one_url_download_it_once() {
    let servers = Servers::start();
    let cache = tempdir();
    let url = format!("{}/model.bin", servers.etag.url());
    for name in ["one", "two"] {
        let dir = cache.path().join(name);
        project(&dir);
        run(cargo_dvc(&dir, &cache.path().join("cache")).args(["import-url", &url]));
    }
    assert_eq!(servers.etag.count_method("GET", "model.bin"), 1);
}

/// Every regular file under `dir`.
fn walk_files(dir: &Path) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    crate::support::invariants::walk(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .collect()
}

fn sha256_of(bytes: &[u8]) -> Sha256 {
    let mut h = dvc_build::__private::hash::Hasher::with_sha256();
    h.update(bytes);
    h.finish_all().2.unwrap()
}

/// `examples/url-model.sh`, the README's story of a model by URL, end to end.
#[test]
fn the_url_model_example_runs() {
    let work = tempdir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/url-model.sh");
    let mut cmd = Command::new(script);
    cmd.arg(work.path())
        .env("CARGO_DVC", env!("CARGO_BIN_EXE_cargo-dvc"))
        .env("CARGO_TARGET_DIR", crate::support::consumer_target_dir())
        .env_remove("CARGO_NET_OFFLINE")
        .env_remove("DVC_BUILD_LOCKED");
    let out = run(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("release 1") && text.contains("release 2"),
        "{text}"
    );
}

/// A crate that declares a URL dependency and has no lock: its first build
/// writes the lock `dvc import-url` would write and embeds the bytes; a
/// build offline works from the cache; locked mode refuses a missing lock;
/// offline with an empty cache says what to do.
#[test]
fn a_crate_builds_from_a_url_declaration_alone() {
    use crate::support::{cargo, consumer_bin, write_crate};
    let servers = Servers::start();
    let twins = Twins::new();
    let url = format!("{}/model.bin", servers.etag.url());
    twins.dvc_import(&url, "model.bin", &[]);
    let app = twins.ours.parent().unwrap().join("url-app");
    write_crate(
        &app,
        "url-app",
        &format!("[package.metadata.dvc.deps.model]\nurl = \"{url}\"\n"),
        "static MODEL: &[u8] = include_bytes!(env!(\"DVC_MODEL\"));\n\
         fn main() {\n    println!(\"{} bytes\", MODEL.len());\n}\n",
        false,
    );
    let cache = twins.ours.parent().unwrap().join("app-cache");
    run(cargo(&app, &cache).args(["build", "-q"]));
    assert_eq!(
        std::fs::read_to_string(app.join("model.bin.dvc")).unwrap(),
        std::fs::read_to_string(twins.theirs.join("model.bin.dvc")).unwrap(),
        "the first build wrote the lock dvc import-url writes"
    );
    let out = run(&mut Command::new(consumer_bin("url-app")));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "300000 bytes");
    let gets = servers.etag.count_method("GET", "model.bin");
    // Offline, from the cache (the build script runs again: the lock was touched).
    rewrite(
        &app.join("model.bin.dvc"),
        &std::fs::read(app.join("model.bin.dvc")).unwrap(),
        0,
    );
    run(cargo(&app, &cache)
        .args(["build", "-q"])
        .env("CARGO_NET_OFFLINE", "true"));
    assert_eq!(servers.etag.count_method("GET", "model.bin"), gets);
    // Offline with an empty cache: a clear error naming the dependency.
    rewrite(
        &app.join("model.bin.dvc"),
        &std::fs::read(app.join("model.bin.dvc")).unwrap(),
        0,
    );
    let err = run_fail(
        cargo(&app, &app.join("empty-cache"))
            .args(["build", "-q"])
            .env("CARGO_NET_OFFLINE", "true"),
    );
    assert!(
        err.contains("dependency `model`") && err.contains("offline"),
        "{err}"
    );
    // Locked mode and no lock: refused, nothing written.
    std::fs::remove_file(app.join("model.bin.dvc")).unwrap();
    let err = run_fail(
        cargo(&app, &cache)
            .args(["build", "-q"])
            .env("DVC_BUILD_LOCKED", "1"),
    );
    assert!(
        err.contains("dependency `model`") && err.contains("missing"),
        "{err}"
    );
    assert!(!app.join("model.bin.dvc").exists());
}
