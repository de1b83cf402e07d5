//! The color and its explanation, from what the phone knows and the
//! authority's signed policy.

use crate::store::{Exposure, Store, StoreError};
use crate::sync::current_policy;
use greenlight_protocol::color::{BleContact, ColorDecision, ColorInputs, Diagnosis, VenueExposure, decide};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::time::{DayNumber, UnixTime};

/// The phone's color now.
pub async fn status(store: &Store, now: UnixTime) -> Result<ColorDecision, StoreError> {
    // Until the first sync brings the authority's policy, use the
    // recommended one; the phone is stale then anyway (never synced).
    let policy = current_policy(store).await?.unwrap_or_else(|| ColorPolicy::recommended(0, UnixTime(0)));
    let inputs =
        color_inputs(now, store.time_state("last_sync").await?, store.diagnosis().await?, store.exposures().await?)?;
    Ok(decide(&policy, &inputs))
}

/// The color rules' inputs from what a phone holds: its last sync, its own
/// diagnosis (day and report type byte) and the exposures its syncs found.
/// [`status`] reads them from the store; the town simulation passes its
/// phones' in-memory state through the same conversion.
pub fn color_inputs(
    now: UnixTime,
    last_sync: Option<UnixTime>,
    diagnosis: Option<(DayNumber, u8)>,
    exposures: Vec<Exposure>,
) -> Result<ColorInputs, StoreError> {
    let mut inputs = ColorInputs { now, last_sync, ..ColorInputs::default() };
    if let Some((day, report_type)) = diagnosis {
        let report_type = ReportType::from_byte(report_type).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        inputs.diagnosis = Some(Diagnosis { day, report_type });
    }
    for exposure in exposures {
        match exposure {
            Exposure::Ble { day, attenuation_db, seconds, transmission_risk } => inputs.ble.push(BleContact {
                day: DayNumber(day),
                attenuation_db,
                seconds,
                transmission_risk: TransmissionRisk::new(transmission_risk)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            }),
            Exposure::Venue { day, start, end, overlap_minutes, .. } => inputs.venues.push(VenueExposure {
                day: DayNumber(day),
                start: UnixTime(start),
                end: UnixTime(end),
                overlap_minutes: u16::try_from(overlap_minutes).unwrap_or(u16::MAX),
            }),
        }
    }
    Ok(inputs)
}

/// Computes the color now and records it in the history if it changed.
pub async fn status_and_record(store: &Store, now: UnixTime) -> Result<ColorDecision, StoreError> {
    let decision = status(store, now).await?;
    store.record_color(now, decision.color.as_str(), decision.until).await?;
    Ok(decision)
}

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
