//! The leaf every layer may use: HTTP transport types shared by the front door, `invoke` and
//! the actions — the JSON error kinds and their status codes ([`errors`]) and the response
//! body type with the streaming payload limits ([`body`]).
//!
//! It must not depend on any other module of the crate.

pub mod body;
pub mod errors;

pub use body::{ResponseBody, empty, full};
pub use errors::{ErrorKind, HttpError};
