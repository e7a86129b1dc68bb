//! `micro-wasm import`'s mapping: a Deta Space `Spacefile` (YAML, `v: 0`) to the text of an
//! equivalent `app.toml`, plus the lines that need the author's attention (what a component
//! cannot do as Deta's Linux processes did). The field-by-field mapping is README.md's table
//! "Moving a Space app".
//!
//! Pure: text in, text out; it reads and writes no file. A bad Spacefile gets every error at
//! once as [`Diagnostic`]s, rendered like app.toml's (`file:line:col`, the line, a caret).
//! Everything the Spacefile says that app.toml can hold is checked here, so the text written
//! passes [`crate::manifest::parse`]; the caller checks that too.

mod emit;
mod read;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

use super::Diagnostic;

/// The result of an import.
#[derive(Debug)]
pub struct Imported {
    /// The app.toml text.
    pub app_toml: String,
    /// What needs the author's attention, one sentence each, naming the Micro.
    pub attention: Vec<String>,
}

/// Maps the Spacefile `text`; `file` names it in messages, `dir_name` (the name of the
/// directory holding it) is the app's name when it has no `app_name`.
pub fn import(file: &Path, text: &str, dir_name: &str) -> Result<Imported, Vec<Diagnostic>> {
    let mut cx = yaml::Ctx::new(file, text);
    let Some(root) = yaml::load(&mut cx, text) else {
        return Err(cx.finish());
    };
    let spacefile = read::spacefile(&mut cx, &root);
    if cx.has_errors() {
        return Err(cx.finish());
    }
    let name = file
        .file_name()
        .map_or_else(|| "Spacefile".into(), |n| n.to_string_lossy().into_owned());
    let out = emit::app_toml(&spacefile, &name, dir_name);
    Ok(Imported {
        app_toml: out.text,
        attention: out.attention,
    })
}
