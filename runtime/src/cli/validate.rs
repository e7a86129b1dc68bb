//! `micro-wasm validate [APP_TOML]`: every manifest error at once, exit 2 on any (S1, S2).

use std::path::Path;

use super::{Failure, load};

pub fn validate(path: &Path) -> Result<(), Failure> {
    let m = load(path)?;
    let names: Vec<&str> = m.micros.iter().map(|m| m.name.as_str()).collect();
    println!(
        "{}: app `{}` is valid ({} micros: {})",
        path.display(),
        m.app.name,
        names.len(),
        names.join(", ")
    );
    Ok(())
}
