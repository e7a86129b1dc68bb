//! The one `bindgen!` of the crate: the host side of the `micro:space` WIT package
//! (`wit/space.wit`), whose `connection` resource is [`super::sqlite::Connection`].
//!
//! Generated code only; the hosts live beside it (`sqlite`). The WIT is read from the crate's
//! own copy of the repository's `wit/` (the one `micro-wasm new` writes into apps; a test in
//! `cli/new/templates.rs` keeps it equal to `wit/`), so the packaged crate builds too.

wasmtime::component::bindgen!({
    path: "src/cli/new/templates/wit",
    world: "micro:space/imports",
    imports: { default: async | trappable },
    with: { "micro:space/sqlite.connection": super::sqlite::Connection },
});
