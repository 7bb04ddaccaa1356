//! `dvc_build::__private::format` against the real `dvc`: every file DVC writes parses,
//! and our import-stage writer reproduces `dvc import` / `dvc update` byte
//! for byte.

use std::path::Path;

use dvc_build::__private::cache::Cache;
use dvc_build::__private::engine::Engine;
use dvc_build::__private::format::config::Config;
use dvc_build::__private::format::dir_manifest::DirManifest;
use dvc_build::__private::format::dvc_lock::DvcLock;
use dvc_build::__private::format::stage::{
    ImportStage, ImportUpdate, NameOrMap, OutInfo, RepoSpec, Stage, update_import_text,
};
use dvc_build::__private::format::yaml::{self, Map, Value};
use dvc_build::__private::git::NetMode;
use dvc_build::__private::hash::Md5;

use crate::support::*;

/// A DVC 3 registry with files, a directory, unicode and awkward names, a
/// pipeline output and a git-only file; tags `v1`, `0.1`, `1e3`, `true` and
/// branch `dev` all point at the same commit.
fn build_registry(root: &Path, dvc2: bool) -> Registry {
    let reg = Registry::with_version(root, dvc2);
    reg.write(
        "data/model.bin",
        (0..1000u32)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<_>>(),
    );
    reg.write("data/dir/a.txt", "a\n");
    reg.write("data/dir/sub/b.txt", "bb\n");
    reg.write("data/dir/sub/deeper/c.txt", "ccc\n");
    reg.write("data/dir/sub/é.txt", "e\n");
    reg.write("données/été.txt", "unicode\n");
    reg.write(LONG, "long\n");
    reg.write("weird/it's: #1.txt", "weird\n");
    reg.write("README.txt", "git only\n");
    reg.add(&[
        "data/model.bin",
        "data/dir",
        "données/été.txt",
        LONG,
        "weird/it's: #1.txt",
    ]);
    run(reg
        .dvc()
        .args(["stage", "add", "-q", "-n", "gen", "-o", "out/gen.txt"])
        .arg("mkdir -p out && echo generated > out/gen.txt"));
    run(reg.dvc().args(["repro", "-q"]));
    reg.commit("data");
    for tag in ["v1", "0.1", "1e3", "true"] {
        reg.tag(tag);
    }
    run(git(&reg.repo).args(["branch", "dev"]));
    reg.push();
    reg
}

const LONG: &str =
    "a rather long folder name with spaces that ruamel will fold/and a long file name too.txt";

/// The out info the registry records for `path`, computed from its stage
/// files, `dvc.lock`, `.dir` objects (subtrees via [`DirManifest::subtree`])
/// or the git blob.
fn registry_out(reg: &Registry, path: &str, out: &str) -> OutInfo {
    let info = |md5, is_dir, size, nfiles| OutInfo {
        path: out.to_string(),
        md5: Some(md5),
        is_dir,
        size: Some(size),
        nfiles,
        isexec: false,
    };
    if let Ok(text) = std::fs::read_to_string(reg.repo.join(format!("{path}.dvc"))) {
        let stage = Stage::parse(&text).unwrap();
        let o = &stage.outs[0];
        let (md5, is_dir) = o.hash.md5_hash().unwrap().unwrap();
        if o.hash.is_legacy() && !is_dir {
            let bytes = std::fs::read(reg.repo.join(path)).unwrap();
            return info(Md5::of(&bytes), false, bytes.len() as u64, None);
        }
        return info(md5, is_dir, o.hash.size.unwrap(), o.hash.nfiles);
    }
    if let Ok(text) = std::fs::read_to_string(reg.repo.join("dvc.lock")) {
        let lock = DvcLock::parse(&text).unwrap();
        if let Some((_, o)) = lock.find_out(path) {
            let (md5, is_dir) = o.hash.md5_hash().unwrap().unwrap();
            return info(md5, is_dir, o.hash.size.unwrap(), o.hash.nfiles);
        }
    }
    if path.starts_with("data/dir/") {
        let stage =
            Stage::parse(&std::fs::read_to_string(reg.repo.join("data/dir.dvc")).unwrap()).unwrap();
        let (dir_md5, _) = stage.outs[0].hash.md5_hash().unwrap().unwrap();
        let hex = dir_md5.to_hex();
        let layout = if reg.dvc2 { "" } else { "files/md5/" };
        let obj = reg
            .remote
            .join(format!("{layout}{}/{}.dir", &hex[..2], &hex[2..]));
        let manifest = DirManifest::parse(&std::fs::read(obj).unwrap()).unwrap();
        let rel = path.strip_prefix("data/dir/").unwrap();
        if let Some(entry) = manifest.get(rel) {
            let size = std::fs::metadata(reg.repo.join(path)).unwrap().len();
            return info(entry.md5, false, size, None);
        }
        let sub = manifest.subtree(rel);
        let size = sub
            .entries()
            .iter()
            .map(|e| {
                std::fs::metadata(reg.repo.join(path).join(&e.relpath))
                    .unwrap()
                    .len()
            })
            .sum();
        return info(sub.md5(), true, size, Some(sub.entries().len() as u64));
    }
    let bytes = std::fs::read(reg.repo.join(path)).unwrap();
    info(Md5::of(&bytes), false, bytes.len() as u64, None)
}

fn rev_parse(repo: &Path, rev: &str) -> String {
    run_stdout(git(repo).args(["rev-parse", &format!("{rev}^{{commit}}")]))
}

struct Case<'a> {
    path: &'a str,
    out: &'a str,
    rev: Option<&'a str>,
    extra_args: &'a [&'a str],
    remote: Option<NameOrMap>,
    config: Option<NameOrMap>,
}

fn case<'a>(path: &'a str, out: &'a str, rev: Option<&'a str>) -> Case<'a> {
    Case {
        path,
        out,
        rev,
        extra_args: &[],
        remote: None,
        config: None,
    }
}

/// Runs the real `dvc import` for `c` in `consumer` and checks our writer
/// produces the same bytes and stage md5.
fn check_import(reg: &Registry, consumer: &Path, c: Case) {
    let url = reg.repo.to_str().unwrap();
    let mut cmd = dvc(consumer);
    cmd.args(["import", "-q", url, c.path, "-o", c.out])
        .args(c.extra_args);
    if let Some(rev) = c.rev {
        cmd.args(["--rev", rev]);
    }
    run(&mut cmd);
    let written = std::fs::read_to_string(consumer.join(format!("{}.dvc", c.out))).unwrap();
    // End to end: the engine resolves the same declaration against the real
    // registry (git, source lookup, remote, transfer) and must write the same bytes.
    let declared = RepoSpec {
        url: url.to_string(),
        rev: c.rev.map(str::to_string),
        rev_lock: None,
        config: c.config.clone(),
        remote: c.remote.clone(),
    };
    let cache = Cache::open(consumer.with_file_name("engine-cache")).unwrap();
    let engine = Engine::new(cache, NetMode::Online);
    let (resolved, _) = engine
        .resolve(consumer, &declared, c.path, c.out)
        .unwrap_or_else(|e| panic!("engine import of {}: {e}", c.path));
    assert_eq!(
        resolved.to_yaml_string(),
        written,
        "engine import of {} ({:?})",
        c.path,
        c.rev
    );
    let ours = ImportStage {
        frozen: true,
        dep_path: c.path.to_string(),
        repo: RepoSpec {
            url: url.to_string(),
            rev: c.rev.map(str::to_string),
            rev_lock: Some(rev_parse(&reg.repo, c.rev.unwrap_or("HEAD"))),
            config: c.config,
            remote: c.remote,
        },
        out: registry_out(reg, c.path, c.out),
    };
    assert_eq!(
        ours.to_yaml_string(),
        written,
        "import of {} ({:?})",
        c.path,
        c.rev
    );
    let parsed = Stage::parse(&written).unwrap();
    assert_eq!(parsed.md5.as_deref(), Some(ours.md5().to_hex().as_str()));
    assert_eq!(parsed.compute_md5(), ours.md5());
    assert_eq!(ImportStage::from_stage(&parsed).unwrap(), ours);
}

/// Every `.dvc`, `dvc.lock`, `.dvc/config` and `.dir` of the registry parses.
fn check_registry_files_parse(reg: &Registry) {
    let listed = run_stdout(git(&reg.repo).args(["ls-files", "-z"]));
    for rel in listed.split('\0').filter(|s| !s.is_empty()) {
        let path = reg.repo.join(rel);
        if rel.ends_with(".dvc") {
            let stage = Stage::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert!(!stage.outs.is_empty(), "{rel}");
        } else if rel.ends_with("dvc.lock") {
            DvcLock::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        } else if rel.ends_with(".dvc/config") {
            let dir = path.parent().unwrap().to_str().unwrap().to_string();
            let config = Config::parse(&std::fs::read_to_string(&path).unwrap(), &dir).unwrap();
            let remote = config.remote(config.default_remote().unwrap()).unwrap();
            assert_eq!(Path::new(remote.url().unwrap()), reg.remote);
        }
    }
    let mut dirs = 0;
    for entry in walk(&reg.remote) {
        if entry.extension().is_some_and(|e| e == "dir") {
            DirManifest::parse(&std::fs::read(&entry).unwrap()).unwrap();
            dirs += 1;
        }
    }
    assert!(dirs > 0);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn formats_dvc3_imports_match_byte_for_byte() {
    let tmp = tempdir();
    let reg = build_registry(tmp.path(), false);
    check_registry_files_parse(&reg);
    let consumer_dir = tmp.path().join("consumer");
    consumer(&consumer_dir);
    let remote_path = reg.remote.to_str().unwrap().to_string();
    std::fs::write(
        consumer_dir.join("reg.dvcconfig"),
        format!("['remote \"other\"']\n    url = {remote_path}\n"),
    )
    .unwrap();
    let head = reg.head();
    let remote_cfg = format!("url={remote_path}");
    let cfg_args = ["--config", "reg.dvcconfig"];
    let remote_args = ["--remote", "store"];
    let remote_cfg_args = ["--remote-config", remote_cfg.as_str()];
    let mut url_map = Map::new();
    url_map.insert("url", Value::Str(remote_path.clone()));
    let cases = vec![
        case("data/model.bin", "model.bin", None),
        case("data/model.bin", "m_v1.bin", Some("v1")),
        case("data/model.bin", "m_01.bin", Some("0.1")),
        case("data/model.bin", "m_1e3.bin", Some("1e3")),
        case("data/model.bin", "m_true.bin", Some("true")),
        case("data/model.bin", "m_dev.bin", Some("dev")),
        case("data/model.bin", "m_sha.bin", Some(&head)),
        case("data/dir", "dir", None),
        case("data/dir", "dir_v1", Some("v1")),
        case("data/dir/a.txt", "a.txt", None),
        case("data/dir/sub/deeper/c.txt", "c.txt", Some("dev")),
        case("data/dir/sub", "sub", None),
        case("data/dir/sub/deeper", "deeper", Some("v1")),
        case("données/été.txt", "été.txt", None),
        case("données/été.txt", "données été copy.txt", Some("0.1")),
        case(LONG, "long.txt", None),
        case(
            LONG,
            "a long output name with spaces so the path line is folded by ruamel.txt",
            None,
        ),
        case("weird/it's: #1.txt", "it's: #1.txt", None),
        case("out/gen.txt", "gen.txt", None),
        case("README.txt", "README.txt", None),
        case("README.txt", "README_true.txt", Some("true")),
        Case {
            extra_args: &remote_args,
            remote: Some(NameOrMap::Name("store".into())),
            ..case("data/model.bin", "m_remote.bin", None)
        },
        Case {
            extra_args: &cfg_args,
            config: Some(NameOrMap::Name("reg.dvcconfig".into())),
            ..case("data/model.bin", "m_config.bin", Some("v1"))
        },
        Case {
            extra_args: &remote_cfg_args,
            remote: Some(NameOrMap::Map(url_map)),
            ..case("data/dir/sub", "sub_rc", None)
        },
    ];
    for c in cases {
        check_import(&reg, &consumer_dir, c);
    }
    check_updates(&reg, &consumer_dir);
}

/// `dvc update` with and without `--rev`, compared with `update_import_text`.
fn check_updates(reg: &Registry, consumer_dir: &Path) {
    // Annotations DVC keeps through an update; they must survive ours too.
    let annotated = consumer_dir.join("m_dev.bin.dvc");
    let text = std::fs::read_to_string(&annotated).unwrap();
    let text = format!("desc: the model\n{text}meta:\n  owner: data team\n");
    let text = text.replace(
        "  path: m_dev.bin\n",
        "  path: m_dev.bin\n  desc: weights\n",
    );
    std::fs::write(&annotated, &text).unwrap();

    reg.write("data/model.bin", "new model bytes\n");
    reg.write("data/dir/sub/new.txt", "new\n");
    reg.add(&["data/model.bin", "data/dir"]);
    reg.commit("v2");
    reg.tag("v2");
    run(git(&reg.repo).args(["branch", "-f", "dev"]));
    reg.push();

    let updates: [(&str, Option<&str>, &str); 4] = [
        ("m_v1.bin", Some("v2"), "data/model.bin"),
        ("m_dev.bin", None, "data/model.bin"),
        ("sub", None, "data/dir/sub"),
        ("m_01.bin", Some("dev"), "data/model.bin"),
    ];
    for (out, rev, path) in updates {
        let stage_file = consumer_dir.join(format!("{out}.dvc"));
        let old = std::fs::read_to_string(&stage_file).unwrap();
        let mut cmd = dvc(consumer_dir);
        cmd.args(["update", "-q"]).arg(&stage_file);
        if let Some(rev) = rev {
            cmd.args(["--rev", rev]);
        }
        run(&mut cmd);
        let written = std::fs::read_to_string(&stage_file).unwrap();
        let stage = Stage::parse(&old).unwrap();
        let repo_rev = rev.or(stage.deps[0].repo.as_ref().unwrap().rev.as_deref());
        let update = ImportUpdate {
            rev: rev.map(str::to_string),
            rev_lock: rev_parse(&reg.repo, repo_rev.unwrap_or("HEAD")),
            out: registry_out(reg, path, out),
        };
        assert_eq!(
            update_import_text(&old, &update).unwrap(),
            written,
            "update of {out}"
        );
    }
}

#[test]
fn formats_dvc2_registry_imports() {
    let tmp = tempdir();
    let reg = build_registry(tmp.path(), true);
    check_registry_files_parse(&reg);
    let consumer_dir = tmp.path().join("consumer");
    consumer(&consumer_dir);
    let cases = vec![
        case("data/model.bin", "model.bin", Some("v1")),
        case("données/été.txt", "été.txt", None),
        case("data/dir", "dir", None),
        case("out/gen.txt", "gen.txt", None),
    ];
    for c in cases {
        check_import(&reg, &consumer_dir, c);
    }
}

#[test]
fn formats_subdir_project() {
    let tmp = tempdir();
    let repo = tmp.path().join("mono");
    let remote = tmp.path().join("remote");
    std::fs::create_dir_all(repo.join("proj")).unwrap();
    std::fs::create_dir_all(&remote).unwrap();
    let proj = repo.join("proj");
    run(git(&repo).args(["init", "-q"]));
    run(dvc(&proj).args(["init", "-q", "--subdir"]));
    run(dvc(&proj)
        .args(["remote", "add", "-d", "store"])
        .arg(&remote));
    write(&proj, "data/x.csv", "a,b\n1,2\n");
    run(dvc(&proj).args(["add", "-q", "data/x.csv"]));
    run(git(&repo).args(["add", "-A"]));
    run(git(&repo).args(["commit", "-q", "-m", "x"]));
    run(dvc(&proj).args(["push", "-q"]));
    let cfg = std::fs::read_to_string(proj.join(".dvc/config")).unwrap();
    let config = Config::parse(&cfg, proj.join(".dvc").to_str().unwrap()).unwrap();
    assert_eq!(
        Path::new(config.remote("STORE").unwrap().url().unwrap()),
        remote
    );

    let consumer_dir = tmp.path().join("consumer");
    consumer(&consumer_dir);
    let url = repo.to_str().unwrap();
    run(dvc(&consumer_dir).args(["import", "-q", url, "proj/data/x.csv"]));
    let written = std::fs::read_to_string(consumer_dir.join("x.csv.dvc")).unwrap();
    let stage =
        Stage::parse(&std::fs::read_to_string(proj.join("data/x.csv.dvc")).unwrap()).unwrap();
    let ours = ImportStage {
        frozen: true,
        dep_path: "proj/data/x.csv".into(),
        repo: RepoSpec {
            url: url.into(),
            rev_lock: Some(rev_parse(&repo, "HEAD")),
            ..RepoSpec::default()
        },
        out: OutInfo {
            path: "x.csv".into(),
            md5: Some(stage.outs[0].hash.md5_hash().unwrap().unwrap().0),
            is_dir: false,
            size: stage.outs[0].hash.size,
            nfiles: None,
            isexec: false,
        },
    };
    assert_eq!(ours.to_yaml_string(), written);
    let engine = Engine::new(
        Cache::open(tmp.path().join("engine-cache")).unwrap(),
        NetMode::Online,
    );
    let declared = RepoSpec {
        url: url.into(),
        ..RepoSpec::default()
    };
    let (resolved, _) = engine
        .resolve(&consumer_dir, &declared, "proj/data/x.csv", "x.csv")
        .unwrap();
    assert_eq!(resolved.to_yaml_string(), written, "engine, subdir project");
}

/// Random strings through ruamel (as DVC configures it) and through our writer.
#[test]
fn formats_scalar_quoting_matches_ruamel() {
    let alphabet: Vec<char> =
        "ab 01.e:#-'\"?*&!|>%@`,[]{}~+_/\\\téü\u{85}\u{a0}\u{2028}\u{1}\u{1F600}"
            .chars()
            .collect();
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut strings: Vec<String> = [
        "0.1",
        "1e3",
        "true",
        "yes",
        "null",
        "2020-01-01",
        "0o17",
        "<<",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..400 {
        let len = (next() % 120) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        strings.push(s);
    }
    let mut long_words = String::new();
    for i in 0..40 {
        long_words.push_str(&"w".repeat(i % 13 + 1));
        long_words.push(' ');
    }
    strings.push(long_words.trim_end().to_string());
    strings.push(format!("https://example.com/{}", "x".repeat(90)));
    let json = serde_json::Value::from(strings.clone()).to_string();
    let script = "import sys, json\nsys.path.insert(0, '')\nfrom dvc.utils.serialize._yaml import dumps_yaml\n\
from dvc.utils.serialize._yaml import parse_yaml\n\
for s in json.loads(sys.stdin.read()):\n    d = {'md5': s, 'deps': [{'path': s, 'repo': {'url': s}}]}\n    text = dumps_yaml(d)\n    back = parse_yaml(text, 'x')\n    same = back['md5'] == s and back['deps'][0]['path'] == s and back['deps'][0]['repo']['url'] == s\n    sys.stdout.write(json.dumps([text, same]) + '\\n')\n";
    let mut child = std::process::Command::new(dvc3_python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines = String::from_utf8(out.stdout).unwrap();
    let mut lossy = 0;
    for (s, line) in strings.iter().zip(lines.lines()) {
        let (want, ruamel_round_trips): (String, bool) = serde_json::from_str(line).unwrap();
        let mut repo = Map::new();
        repo.insert("url", Value::Str(s.clone()));
        let mut dep = Map::new();
        dep.insert("path", Value::Str(s.clone()));
        dep.insert("repo", Value::Map(repo));
        let mut top = Map::new();
        top.insert("md5", Value::Str(s.clone()));
        top.insert("deps", Value::Seq(vec![Value::Map(dep)]));
        let ours = yaml::to_ruamel_string(&top);
        if !ruamel_round_trips {
            // ruamel folds some long scalars lossily (a break right after an
            // escape such as `\t`, or after a run of spaces, reads back
            // changed, in ruamel too). There we deliberately differ: what we
            // write must read back as the same string.
            if !s.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
                let back = yaml::parse(&ours, "t").unwrap();
                assert_eq!(
                    back.as_map().unwrap().get("md5"),
                    Some(&Value::Str(s.clone())),
                    "{s:?}\n{ours}"
                );
            }
            lossy += 1;
            continue;
        }
        assert_eq!(ours, want, "string {s:?}");
        // And what we write reads back as the same string (not for
        // U+0085/U+2028/U+2029, line breaks to ruamel but not to yaml-rust2).
        if s.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
            continue;
        }
        let back = yaml::parse(&want, "t").unwrap();
        assert_eq!(
            back.as_map().unwrap().get("md5"),
            Some(&Value::Str(s.clone())),
            "{s:?}"
        );
    }
    assert_eq!(lines.lines().count(), strings.len());
    assert!(
        lossy * 4 < strings.len(),
        "{lossy} of {} strings: too few compared",
        strings.len()
    );
}

mod malformed {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn formats_never_panic_on_random_input(s in "[-:#\\[\\]{}'\" a-z0-9\n\t.=&*!|>]{0,200}") {
            let _ = Stage::parse(&s);
            let _ = DvcLock::parse(&s);
            let _ = Config::parse(&s, "/x/.dvc");
            let _ = DirManifest::parse(s.as_bytes());
        }

        #[test]
        fn formats_never_panic_on_mutated_stage(pos in 0usize..400, byte in any::<u8>()) {
            let mut text = SAMPLE.as_bytes().to_vec();
            let pos = pos % text.len();
            text[pos] = byte;
            if let Ok(s) = std::str::from_utf8(&text) {
                let _ = Stage::parse(s);
            }
        }
    }

    const SAMPLE: &str = "md5: e2b08afb7b68d4fb42739b8c85e3aca1\nfrozen: true\ndeps:\n- path: model/model.bin\n  repo:\n    url: /srv/registry\n    rev: '0.1'\n    rev_lock: 67dbf8da05796c4e8b417e9a50bb5389cc331dad\nouts:\n- md5: e60aa49b7dfbe30e599386669d96641e.dir\n  size: 1000000\n  nfiles: 2\n  hash: md5\n  path: model.bin\n";

    #[test]
    fn formats_deep_nesting_is_an_error_not_a_crash() {
        for text in [
            "[".repeat(10_000),
            "{a: ".repeat(10_000),
            "- ".repeat(10_000),
            " - a:\n".repeat(5000),
        ] {
            let _ = Stage::parse(&text);
            let _ = DvcLock::parse(&text);
            let _ = DirManifest::parse(text.as_bytes());
            let _ = Config::parse(&text, "/");
        }
        let nested: String = (0..5000)
            .map(|i| format!("{}- \n", " ".repeat(i * 2)))
            .collect();
        assert!(Stage::parse(&nested).is_err());
    }
}
