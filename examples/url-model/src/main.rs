//! Embeds the `encoder` URL dependency and says what it got.

/// The model's bytes, fetched (and checked against the lock's MD5 and the
/// declared SHA-256) by `build.rs` into `OUT_DIR`.
static ENCODER: &[u8] = include_bytes!(env!("DVC_ENCODER"));

fn main() {
    println!("embedded encoder: {} bytes", ENCODER.len());
    println!("{}", String::from_utf8_lossy(ENCODER).trim_end());
}
