//! Scheduled actions (SPEC §6).

use serde::{Deserialize, Serialize};

/// Where micro-wasm delivers action events: `POST /__space/v0/actions`, relative to the
/// Micro's root. Outside callers can never reach it.
pub const ACTIONS_PATH: &str = "/__space/v0/actions";

/// One run of a scheduled action, as micro-wasm delivers it: the body
/// `{"event": {"id": "<action id>", "trigger": "schedule"}}` of `POST /__space/v0/actions`,
/// sent at each scheduled time and by `micro-wasm trigger <id>`.
///
/// [`Router::action`](crate::Router::action) parses it for you; [`ActionEvent::from_json`]
/// does it by hand. It serialises back as `{"id": ..., "trigger": ...}`.
///
/// ```
/// use micro_space::ActionEvent;
///
/// let event = ActionEvent::from_json(br#"{"event":{"id":"tick","trigger":"schedule"}}"#)?;
/// assert_eq!(event.id, "tick");
/// assert!(event.is_scheduled());
/// assert_eq!(
///     micro_space::serde_json::to_string(&event)?,
///     r#"{"id":"tick","trigger":"schedule"}"#
/// );
/// # Ok::<(), micro_space::serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionEvent {
    /// The action's `id` in `app.toml`.
    pub id: String,
    /// What started the run: `"schedule"`; empty if the event did not say.
    #[serde(default)]
    pub trigger: String,
}

#[derive(Deserialize)]
struct Envelope {
    event: ActionEvent,
}

impl ActionEvent {
    /// Parses the body of `POST /__space/v0/actions`.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<Envelope>(body).map(|envelope| envelope.event)
    }

    /// Whether the run comes from the schedule (`trigger` is `"schedule"`).
    pub fn is_scheduled(&self) -> bool {
        self.trigger == "schedule"
    }
}
