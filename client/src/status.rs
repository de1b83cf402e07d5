//! The color as the command line and scripts show it; the decision itself
//! is the core's ([`greenlight_phone::Phone::status`]).

use greenlight_protocol::color::ColorDecision;
use greenlight_protocol::time::UnixTime;

/// The decision as JSON for user interfaces.
pub fn to_json(decision: &ColorDecision, now: UnixTime) -> serde_json::Value {
    serde_json::json!({
        "color": decision.color.as_str(),
        "until": decision.until.map(|t| t.0),
        "stale": decision.stale,
        "policy_sequence": decision.policy_sequence,
        "now": now.0,
        "explanation": decision.to_string(),
    })
}
