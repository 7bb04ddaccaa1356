//! Issue 17: nothing we do writes outside the crate. A crate whose `models/`
//! is a symlink to a folder outside it (what a cloned repository can hold)
//! is refused by every command that writes (`pull`, `fetch`, `update`,
//! `import`, `remove`) and by the build, as `dvc` refuses it; a
//! symlink swapped in while we write cannot redirect the write; hostile git
//! URLs never reach git as options or as a command-running transport.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dvc_build::__private::cache::Cache;
use dvc_build::__private::confined::{Batch, Dir};
use dvc_build::__private::materialize::{self, Options, Target};

use crate::support::{self, Registry, cargo, cargo_dvc, dvc, run, run_fail, write_crate};

/// Every entry below `dir` (symlinks listed, never followed), with its
/// kind and, for files, the MD5 of their bytes; what git, DVC and cargo
/// keep for themselves (`.git`, `.dvc`, `.dvc-site-cache`, `target`,
/// `Cargo.lock`) left out.
fn listing(dir: &Path) -> Vec<String> {
    const THEIRS: &[&str] = &[".git", ".dvc", ".dvc-site-cache", "target", "Cargo.lock"];
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            if THEIRS.contains(&rel.as_str()) {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    fs::read_link(&path).unwrap().display()
                ));
            } else if meta.is_dir() {
                out.push(format!("{rel}/"));
                walk(base, &path, out);
            } else {
                let md5 = dvc_build::__private::hash::Md5::of(&fs::read(&path).unwrap());
                out.push(format!("{rel} {md5}"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A registry with a file and a folder, pushed.
fn registry(root: &Path) -> Registry {
    let reg = Registry::new(root);
    reg.write("models/s.bin", "weights\n");
    reg.write("data/a.txt", "alpha\n");
    reg.add(&["models/s.bin", "data"]);
    reg.commit("v1");
    reg.push();
    reg.tag("v1");
    reg
}

/// The crate of issue 17: `models` is a symlink to `outside`, and a
/// dependency's `out` is `models/s.bin`; a second dependency's `out` is
/// itself a symlink to a file outside.
#[test]
fn a_symlinked_folder_in_the_crate_is_refused_everywhere_and_nothing_lands_outside() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    // The folder the symlink leads to is empty, and must stay so.
    let outside = root.join("outside");
    fs::create_dir_all(&outside).unwrap();
    // A file elsewhere, for an `out` that is itself a symlink.
    let elsewhere = root.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(elsewhere.join("victim.bin"), "theirs\n").unwrap();
    let victim_before = listing(&elsewhere);
    let krate = root.join("app");
    support::consumer(&krate);
    let metadata = format!(
        "[package.metadata.dvc.deps.s]\nurl = {url:?}\npath = \"models/s.bin\"\nout = \"models/s.bin\"\n"
    );
    write_crate(&krate, "app", &metadata, "fn main() {}\n", false);
    symlink(&outside, krate.join("models")).unwrap();
    run(support::git(&krate).args(["add", "-A"]));
    run(support::git(&krate).args(["commit", "-qm", "a crate with a symlinked folder"]));
    let crate_before = listing(&krate);
    let unchanged = |what: &str| {
        assert_eq!(
            listing(&outside),
            Vec::<String>::new(),
            "{what}: wrote outside the crate"
        );
        assert_eq!(listing(&krate), crate_before, "{what}: changed the crate");
    };
    let refused = |text: &str, what: &str| {
        assert!(text.contains("symlink"), "{what}: {text}");
        assert!(
            text.contains(&krate.join("models").display().to_string())
                && text.contains(&outside.display().to_string()),
            "{what}: the error names the symlink and where it points: {text}"
        );
    };

    // The build: the lock is never written through the symlink.
    let text = run_fail(cargo(&krate, &cache).arg("build"));
    refused(&text, "cargo build");
    unchanged("cargo build");
    // Every command that writes.
    for args in [
        vec!["pull"],
        vec!["fetch"],
        vec!["update"],
        vec!["update", "s", "--rev", "v1"],
        vec!["pull", "--force"],
        vec!["remove", "s"],
    ] {
        let text = run_fail(cargo_dvc(&krate, &cache).args(&args));
        refused(&text, &args.join(" "));
        unchanged(&args.join(" "));
    }
    let text = run_fail(cargo_dvc(&krate, &cache).args([
        "import",
        &url,
        "data",
        "-o",
        "models/data",
        "--name",
        "other",
    ]));
    refused(&text, "import -o models/data");
    unchanged("import");
    let text = run_fail(
        cargo_dvc(&krate, &cache).args(["import", &url, "data", "-o", "models", "--name", "other"]),
    );
    refused(&text, "import -o models (a symlinked folder)");
    unchanged("import -o models");
    // `status` and `check` read, and say what is wrong.
    let text = run_fail(cargo_dvc(&krate, &cache).arg("check"));
    refused(&text, "check");
    unchanged("check");

    // `remove`: what it would delete (the lock, the placed output, the
    // `.gitignore`) sits behind the symlink, outside; it is refused, with
    // or without `--force`, and the outside folder stays as it was.
    fs::write(outside.join("s.bin"), "theirs too\n").unwrap();
    fs::write(outside.join("s.bin.dvc"), "not ours\n").unwrap();
    fs::write(outside.join(".gitignore"), "/s.bin\n").unwrap();
    let outside_before = listing(&outside);
    for args in [vec!["remove", "s"], vec!["remove", "s", "--force"]] {
        let text = run_fail(cargo_dvc(&krate, &cache).args(&args));
        refused(&text, &args.join(" "));
        assert_eq!(
            listing(&outside),
            outside_before,
            "{args:?}: outside untouched"
        );
        assert_eq!(
            fs::read_to_string(outside.join("s.bin.dvc")).unwrap(),
            "not ours\n"
        );
        assert_eq!(listing(&krate), crate_before, "{args:?}: changed the crate");
    }

    // `dvc` refuses the same layout.
    let text = run_fail(dvc(&krate).args(["import", &url, "data", "-o", "models/data"]));
    assert!(
        text.contains("Cannot add files inside symlinked directories"),
        "{text}"
    );

    // The outside folder is empty again for what follows.
    for planted in ["s.bin", "s.bin.dvc", ".gitignore"] {
        fs::remove_file(outside.join(planted)).unwrap();
    }

    // An `out` that is itself a symlink (to a file outside) is refused too.
    fs::remove_file(krate.join("models")).unwrap();
    fs::create_dir(krate.join("models")).unwrap();
    symlink(elsewhere.join("victim.bin"), krate.join("models/s.bin")).unwrap();
    let crate_before = listing(&krate);
    for args in [vec!["pull"], vec!["pull", "--force"], vec!["fetch"]] {
        let text = run_fail(cargo_dvc(&krate, &cache).args(&args));
        assert!(text.contains("is a symlink"), "{text}");
        assert_eq!(listing(&elsewhere), victim_before);
        assert_eq!(listing(&krate), crate_before, "{args:?}: nothing written");
    }
    let text = run_fail(cargo_dvc(&krate, &cache).args([
        "import",
        &url,
        "data",
        "-o",
        "models/s.bin",
        "--name",
        "x",
        "--force",
    ]));
    assert!(text.contains("is a symlink"), "{text}");
    assert_eq!(listing(&elsewhere), victim_before);
    assert!(listing(&outside).is_empty());
}

/// `get -o`: a folder the user names may be a symlink (their choice); a
/// file at the destination that is a symlink is never followed.
#[test]
fn get_never_follows_a_symlink_at_its_destination() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let work = root.join("work");
    let elsewhere = root.join("elsewhere");
    fs::create_dir_all(&work).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(elsewhere.join("precious"), "mine\n").unwrap();
    symlink(elsewhere.join("precious"), work.join("link.bin")).unwrap();
    symlink(root.join("nowhere"), work.join("dangling.bin")).unwrap();
    symlink(&elsewhere, work.join("chosen")).unwrap();

    for target in ["link.bin", "dangling.bin"] {
        let text =
            run_fail(cargo_dvc(&work, &cache).args(["get", &url, "models/s.bin", "-o", target]));
        assert!(
            text.contains("symlink") && text.contains("--force"),
            "{text}"
        );
    }
    assert_eq!(
        fs::read_to_string(elsewhere.join("precious")).unwrap(),
        "mine\n"
    );
    assert!(!root.join("nowhere").exists());
    // With --force the link itself is replaced, never its target.
    run(cargo_dvc(&work, &cache).args(["get", &url, "models/s.bin", "-o", "link.bin", "--force"]));
    assert_eq!(
        fs::read_to_string(elsewhere.join("precious")).unwrap(),
        "mine\n"
    );
    assert!(
        fs::symlink_metadata(work.join("link.bin"))
            .unwrap()
            .is_file()
    );
    assert_eq!(
        fs::read_to_string(work.join("link.bin")).unwrap(),
        "weights\n"
    );
    // A folder the user names, symlink or not, gets the file inside.
    run(cargo_dvc(&work, &cache).args(["get", &url, "models/s.bin", "-o", "chosen"]));
    assert_eq!(
        fs::read_to_string(elsewhere.join("s.bin")).unwrap(),
        "weights\n"
    );
}

/// A symlink swapped in, over and over, for a folder we are writing into:
/// every write lands in the real folder or fails; none goes through the
/// link. Placements (files and folders), locks and batches.
#[test]
fn a_symlink_swapped_in_while_writing_never_redirects_the_write() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let krate = root.join("crate");
    let outside = root.join("outside");
    fs::create_dir_all(krate.join("models")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let cache = Cache::open(root.join("cache")).unwrap();
    let file = cache.insert_bytes(b"payload\n", false).unwrap();
    let a = cache.insert_bytes(b"a\n", false).unwrap();
    let dir_files = vec![("x/a.txt".to_string(), a)];

    // `models` is the real folder or a symlink to `outside`, swapped
    // atomically (renameat2 RENAME_EXCHANGE), never missing.
    symlink(&outside, krate.join("models.link")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapped = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (krate, stop, swapped) = (krate.clone(), stop.clone(), swapped.clone());
        std::thread::spawn(move || {
            let models = krate.join("models");
            let link = krate.join("models.link");
            let mut swaps = 0u64;
            while !stop.load(Ordering::SeqCst) {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &models,
                    rustix::fs::CWD,
                    &link,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .unwrap();
                swaps += 1;
                swapped.store(swaps, Ordering::SeqCst);
                // Pauses of 0 to 150 µs: a swapper spinning on a core of
                // its own would make every write see the symlink at some
                // step (all refused, proving nothing about the writes that
                // do land); with pauses, writes race it both ways.
                std::thread::sleep(std::time::Duration::from_micros(swaps % 151));
            }
            swaps
        })
    };
    let crate_dir = Dir::open_root(&krate).unwrap();
    let (mut ok, mut refused) = (0, 0);
    // 400 rounds, and more while the swapper has not swapped 100 times (a
    // loaded machine gives it little time), for up to a minute.
    let started = std::time::Instant::now();
    let mut i = 0;
    while i < 400 || (swapped.load(Ordering::SeqCst) <= 100 && started.elapsed().as_secs() < 60) {
        i += 1;
        let rel = PathBuf::from(format!("models/f{}.bin", i % 7));
        let results = [
            materialize::place(
                &cache,
                Target::File(&file),
                &crate_dir,
                &rel,
                Options::workspace(false, true, materialize::Existing::Replace),
            )
            .map(|_| ()),
            materialize::place(
                &cache,
                Target::Dir(&dir_files),
                &crate_dir,
                Path::new("models/dir"),
                Options::workspace(i % 2 == 0, true, materialize::Existing::Replace),
            )
            .map(|_| ()),
            {
                let mut batch = Batch::new();
                batch.write(&crate_dir, "models/f.bin.dvc", format!("lock {i}\n"));
                batch.write(&crate_dir, "Cargo.toml", format!("manifest {i}\n"));
                batch.commit()
            },
        ];
        for r in results {
            match r {
                Ok(()) => ok += 1,
                Err(_) => refused += 1,
            }
        }
        assert!(
            listing(&outside).is_empty(),
            "round {i}: wrote outside: {:?}",
            listing(&outside)
        );
    }
    stop.store(true, Ordering::SeqCst);
    let swaps = swapper.join().unwrap();
    assert!(listing(&outside).is_empty());
    assert!(swaps > 100, "the folder was swapped {swaps} times");
    assert!(ok > 0, "some writes landed ({ok} ok, {refused} refused)");
    eprintln!("{swaps} swaps; {ok} writes landed, {refused} refused; none outside");
}

/// Hostile URLs: an option (`--upload-pack=...`), git's command-running
/// `ext::` transport, and an `insteadOf` rewrite that leads there with the
/// user's config allowing it: refused before or by git; the command they
/// carry never runs.
#[test]
fn hostile_git_urls_never_run_anything() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let cache = root.join("cache");
    let marker = root.join("pwned");
    let home = root.join("home");
    fs::create_dir_all(&home).unwrap();
    // A user config that allows ext:: and rewrites an innocent URL to it.
    fs::write(
        home.join(".gitconfig"),
        format!(
            "[protocol \"ext\"]\n\tallow = always\n[url \"ext::sh -c touch% {}% >&2% #\"]\n\tinsteadOf = https://example.invalid/\n",
            marker.display()
        ),
    )
    .unwrap();
    let touch = format!("touch {}", marker.display());
    let urls = [
        format!("--upload-pack={touch}"),
        format!("-oProxyCommand={touch}"),
        format!("ext::sh -c touch% {}", marker.display()),
        format!("ssh://-oProxyCommand={}/x", touch.replace(' ', "%20")),
        "https://example.invalid/registry".to_string(),
    ];
    let krate = root.join("app");
    for url in &urls {
        let _ = fs::remove_dir_all(&krate);
        support::consumer(&krate);
        support::write(
            &krate,
            "Cargo.toml",
            format!(
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[package.metadata.dvc.deps.s]\nurl = {url:?}\npath = \"models/s.bin\"\n"
            ),
        );
        let mut commands = vec![
            vec!["fetch".to_string()],
            vec!["update".to_string()],
            vec![
                "get".to_string(),
                "--".to_string(),
                url.clone(),
                "models/s.bin".to_string(),
            ],
            vec![
                "import".to_string(),
                "--name".to_string(),
                "t".to_string(),
                "--".to_string(),
                url.clone(),
                "models/s.bin".to_string(),
            ],
        ];
        commands.push(vec!["status".to_string()]);
        for args in &commands {
            let mut cmd = cargo_dvc(&krate, &cache);
            cmd.args(args)
                .env("HOME", &home)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env_remove("GIT_CONFIG_GLOBAL")
                .env_remove("XDG_CONFIG_HOME");
            let out = cmd.output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if args[0] != "status" {
                assert!(!out.status.success(), "{url} {args:?}: succeeded: {text}");
            }
            if url.contains("example.invalid") && args[0] == "fetch" {
                // The rewrite did lead to `ext::`, and git refused it.
                assert!(text.contains("transport 'ext' not allowed"), "{text}");
            }
            assert!(!marker.exists(), "{url} {args:?} ran the command: {text}");
        }
    }
    // The registry itself still works with the same home: only the
    // transports a registry needs are allowed.
    let ok = root.join("ok");
    support::consumer(&ok);
    let mut cmd = cargo_dvc(&ok, &cache);
    cmd.args(["get", reg.repo.to_str().unwrap(), "models/s.bin"])
        .env("HOME", &home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_CONFIG_GLOBAL");
    run(&mut cmd);
    assert_eq!(fs::read_to_string(ok.join("s.bin")).unwrap(), "weights\n");
}

/// A git-tracked symlink in a (local) registry pointing at a file outside
/// it: `dvc get` reads through it and copies the outside file; we refuse,
/// on purpose (SECURITY.md). A `Cargo.toml` that is a symlink is never
/// replaced by a file nor written through.
#[test]
fn a_registry_symlink_is_refused_where_dvc_follows_it_and_a_symlinked_manifest_is_kept() {
    let tmp = support::tempdir();
    let root = tmp.path();
    let reg = registry(root);
    let secret = root.join("outside-secret.txt");
    fs::write(&secret, "outside secret\n").unwrap();
    symlink(&secret, reg.repo.join("secret-link")).unwrap();
    reg.commit("a symlink");
    let url = reg.repo.to_str().unwrap().to_string();
    let cache = root.join("cache");
    let work = root.join("work");
    fs::create_dir_all(&work).unwrap();
    run(dvc(&work).args(["get", &url, "secret-link", "-o", "dvc.txt"]));
    assert_eq!(
        fs::read_to_string(work.join("dvc.txt")).unwrap(),
        "outside secret\n"
    );
    let text =
        run_fail(cargo_dvc(&work, &cache).args(["get", &url, "secret-link", "-o", "ours.txt"]));
    assert!(text.contains("secret-link"), "{text}");
    assert!(!work.join("ours.txt").exists());

    // Cargo.toml as a symlink to a manifest kept elsewhere.
    let krate = root.join("linked-manifest");
    fs::create_dir_all(&krate).unwrap();
    let real = root.join("real-Cargo.toml");
    let manifest = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[workspace]\n";
    fs::write(&real, manifest).unwrap();
    symlink(&real, krate.join("Cargo.toml")).unwrap();
    let text = run_fail(cargo_dvc(&krate, &cache).args(["import", &url, "models/s.bin"]));
    assert!(text.contains("is a symlink"), "{text}");
    assert!(
        fs::symlink_metadata(krate.join("Cargo.toml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_to_string(&real).unwrap(), manifest);
    assert!(!krate.join("s.bin.dvc").exists(), "nothing written");
}
