//! `dvc.lock` (schema `2.0`): which outputs each pipeline stage produced,
//! with their hashes. Deps, params and unknown keys are accepted and ignored.

use super::stage::HashFields;
use super::yaml::{self, Value};
use crate::error::{Error, ErrorKind, Result};

/// A parsed `dvc.lock`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DvcLock {
    /// Stages in file order; foreach stages appear as `name@key`.
    pub stages: Vec<LockStage>,
}

/// One locked stage.
#[derive(Debug, Clone, PartialEq)]
pub struct LockStage {
    /// The stage name (`train`, `build@us`).
    pub name: String,
    /// Its outputs.
    pub outs: Vec<LockOut>,
}

/// One output of a locked stage.
#[derive(Debug, Clone, PartialEq)]
pub struct LockOut {
    /// Path relative to the folder of `dvc.lock`.
    pub path: String,
    /// `md5`, `hash`, `size`, `nfiles`, ...
    pub hash: HashFields,
}

fn err(msg: String) -> Error {
    Error::new(ErrorKind::Format, format!("dvc.lock: {msg}"))
}

impl DvcLock {
    /// Parses the text of a `dvc.lock`.
    pub fn parse(text: &str) -> Result<DvcLock> {
        let doc = yaml::parse(text, "dvc.lock")?;
        let top = match &doc {
            Value::Null => return Ok(DvcLock::default()),
            Value::Map(m) => m,
            other => return Err(err(format!("expected a mapping, found {}", other.kind()))),
        };
        match top.get("schema") {
            Some(Value::Str(s)) if s == "2.0" => {}
            Some(v) => return Err(err(format!("schema: unsupported `{}`", display(v)))),
            None => {
                return Err(err(
                    "schema: missing (only the `2.0` format is supported)".into()
                ));
            }
        }
        let stages = match top.get("stages") {
            None | Some(Value::Null) => return Ok(DvcLock::default()),
            Some(Value::Map(m)) => m,
            Some(v) => {
                return Err(err(format!(
                    "stages: expected a mapping, found {}",
                    v.kind()
                )));
            }
        };
        let stages = stages
            .iter()
            .map(|(name, body)| parse_stage(name, body))
            .collect::<Result<_>>()?;
        Ok(DvcLock { stages })
    }

    /// The output whose path is `path` (normalised, `/`-separated), with its stage.
    pub fn find_out(&self, path: &str) -> Option<(&LockStage, &LockOut)> {
        let want = path.trim_start_matches("./");
        self.stages.iter().find_map(|s| {
            s.outs
                .iter()
                .find(|o| o.path.trim_start_matches("./") == want)
                .map(|o| (s, o))
        })
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Float(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        other => other.kind().to_string(),
    }
}

fn parse_stage(name: &str, body: &Value) -> Result<LockStage> {
    let at = format!("stages.{name}");
    let Value::Map(m) = body else {
        return Err(err(format!(
            "{at}: expected a mapping, found {}",
            body.kind()
        )));
    };
    let outs = match m.get("outs") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Seq(items)) => items.as_slice(),
        Some(v) => {
            return Err(err(format!(
                "{at}.outs: expected a list, found {}",
                v.kind()
            )));
        }
    };
    let outs = outs
        .iter()
        .enumerate()
        .map(|(i, o)| parse_out(o, &format!("{at}.outs[{i}]")))
        .collect::<Result<_>>()?;
    Ok(LockStage {
        name: name.to_string(),
        outs,
    })
}

fn parse_out(value: &Value, at: &str) -> Result<LockOut> {
    // The stage-file reader knows every hash field; reuse it on a one-out stage.
    let mut stage = yaml::Map::new();
    stage.insert("outs", Value::Seq(vec![value.clone()]));
    let parsed = super::stage::Stage::from_value(&Value::Map(stage))
        .map_err(|e| err(e.message().replacen("outs[0]", at, 1)))?;
    let out = parsed
        .outs
        .into_iter()
        .next()
        .ok_or_else(|| err(format!("{at}: missing")))?;
    Ok(LockOut {
        path: out.path,
        hash: out.hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_outs_and_foreach_stages() {
        let text = "schema: '2.0'\nstages:\n  train:\n    cmd: python t.py\n    deps:\n    - path: t.py\n      md5: 0123456789abcdef0123456789abcdef\n      size: 3\n    params:\n      params.yaml:\n        lr: 0.1\n    outs:\n    - path: model.bin\n      hash: md5\n      md5: 0123456789abcdef0123456789abcdef\n      size: 10\n  build@us:\n    cmd: x\n    outs:\n    - path: out/us\n      hash: md5\n      md5: 0123456789abcdef0123456789abcdef.dir\n      size: 10\n      nfiles: 2\n";
        let lock = DvcLock::parse(text).unwrap();
        assert_eq!(lock.stages.len(), 2);
        let (stage, out) = lock.find_out("out/us").unwrap();
        assert_eq!(stage.name, "build@us");
        assert_eq!(out.hash.nfiles, Some(2));
    }

    #[test]
    fn errors_name_the_field() {
        let e = DvcLock::parse(
            "schema: '2.0'\nstages:\n  a:\n    outs:\n    - path: p\n      size: x\n",
        )
        .unwrap_err();
        assert_eq!(
            e.message(),
            "dvc.lock: stages.a.outs[0].size: expected a non-negative integer, found a string"
        );
        assert!(DvcLock::parse("stages: {}").is_err());
        assert!(DvcLock::parse("schema: '2.0'\nstages: [1]").is_err());
    }
}
