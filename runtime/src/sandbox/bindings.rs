//! The one `bindgen!` of the crate: the host side of the `micro:space` WIT package
//! (`wit/space.wit`), whose `connection` resource is [`super::sqlite::Connection`].
//!
//! Generated code only; the hosts live beside it (`sqlite`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "micro:space/imports",
    imports: { default: async | trappable },
    with: { "micro:space/sqlite.connection": super::sqlite::Connection },
});
