//! Python's `json.dumps(value, sort_keys=True)`, byte for byte: what DVC
//! hashes to get a stage's `md5` (`dvc.utils.dict_md5`).
//!
//! Separators are `", "` and `": "`, keys are sorted by code point (Python
//! compares `str` by code points, not UTF-16 units), and every non-ASCII
//! character is written `\uXXXX` (a surrogate pair above U+FFFF).

use super::yaml::Value;

/// `json.dumps(value, sort_keys=True)` as Python writes it.
pub fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&float_repr(f)),
        Value::Str(s) => write_str(s, out),
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            let mut entries: Vec<(&str, &Value)> = map.iter().collect();
            // Rust's `str` ordering is byte order of UTF-8, which equals code point order.
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(k, out);
                out.push_str(": ");
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

/// Python's `repr(float)` for the float YAML text `f` (best effort: DVC
/// stage fields that reach the hash are strings and integers).
fn float_repr(f: &str) -> String {
    let clean: String = f.chars().filter(|&c| c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    match lower.trim_start_matches('+') {
        ".inf" => return "Infinity".into(),
        "-.inf" => return "-Infinity".into(),
        ".nan" => return "NaN".into(),
        _ => {}
    }
    match clean.parse::<f64>() {
        Ok(x) if x.fract() == 0.0 && x.abs() < 1e16 => format!("{x:.1}"),
        Ok(x) => python_exponent(&format!("{x:?}")),
        Err(_) => clean,
    }
}

/// Rust writes `1e-7`; Python writes `1e-07`.
fn python_exponent(s: &str) -> String {
    match s.split_once('e') {
        Some((mant, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("+", exp),
            };
            format!("{mant}e{sign}{digits:0>2}")
        }
        None => s.to_string(),
    }
}

/// A JSON string with `ensure_ascii=True` escaping.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::yaml::Map;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn matches_python_json_dumps() {
        // python3 -c 'import json; print(json.dumps({...}, sort_keys=True))'
        let mut m = Map::new();
        m.insert("é", s("ü\u{1F600}\u{7f}\"\\\n\t\x01"));
        m.insert(
            "b",
            Value::Seq(vec![Value::Int(-3), Value::Bool(true), Value::Null]),
        );
        m.insert("a", Value::Float("1e3".into()));
        m.insert("Z", Value::Float("0.1".into()));
        assert_eq!(
            dumps(&Value::Map(m)),
            r#"{"Z": 0.1, "a": 1000.0, "b": [-3, true, null], "\u00e9": "\u00fc\ud83d\ude00\u007f\"\\\n\t\u0001"}"#
        );
    }

    #[test]
    fn keys_sort_by_code_point() {
        let mut m = Map::new();
        m.insert("\u{FF21}", Value::Int(1));
        m.insert("\u{1F600}", Value::Int(2));
        m.insert("a", Value::Int(3));
        assert_eq!(
            dumps(&Value::Map(m)),
            r#"{"a": 3, "\uff21": 1, "\ud83d\ude00": 2}"#
        );
    }

    #[test]
    fn floats_like_python_repr() {
        assert_eq!(float_repr("1e-7"), "1e-07");
        assert_eq!(float_repr("2.5"), "2.5");
        assert_eq!(float_repr("-.inf"), "-Infinity");
    }
}
