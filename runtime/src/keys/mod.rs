//! What an app keeps secret, in its state dir: the Data Keys each Micro gets as
//! `DETA_PROJECT_KEY` ([`data`], S4; in PostgreSQL when the app runs on several nodes,
//! [`data_pg`]) and the API keys that guard the app with
//! `auth = "api-key"` ([`api`], SPEC §4; in PostgreSQL with several nodes, [`api_pg`]). Both files go through one atomic, owner-only
//! writer ([`file`]).
//!
//! It must not log or display a secret after it was created.

pub mod api;
pub mod api_pg;
pub mod data;
pub mod data_pg;
mod file;

pub use api::ApiKeys;
pub use data::DataKeys;
