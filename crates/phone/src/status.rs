//! The color and its explanation, from what the phone knows and the
//! authority's signed policy.

use crate::Phone;
use crate::store::{ColorChange, Exposure, Secret, Store, StoreError};
use crate::sync::fallback_policy;
use greenlight_protocol::color::{BleContact, ColorDecision, ColorInputs, Diagnosis, VenueExposure, decide};
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::venue::VenueKind;

impl<S: Store> Phone<S> {
    /// The color now, with its explanation and end. Until the first sync
    /// brings the authority's policy the recommended one decides; the phone
    /// is stale then anyway (never synced).
    pub fn status(&self, now: UnixTime) -> Result<ColorDecision, StoreError> {
        let policy = self.policy()?.unwrap_or_else(fallback_policy);
        let inputs = color_inputs(now, self.fresh_as_of(now)?, self.diagnosis()?, &self.store.exposures()?)?;
        Ok(decide(&policy, &inputs))
    }

    /// The color now, recorded in the history when it changed.
    pub fn status_and_record(&mut self, now: UnixTime) -> Result<ColorDecision, StoreError> {
        let decision = self.status(now)?;
        let change =
            ColorChange { at: now.0, color: decision.color.as_str().to_owned(), until: decision.until.map(|t| t.0) };
        let last = self.store.last_color()?;
        if last.is_none_or(|last| last.color != change.color || last.until != change.until) {
            self.store.add_color(&change)?;
        }
        Ok(decision)
    }

    /// The owner's own diagnosis, once reported.
    pub fn diagnosis(&self) -> Result<Option<Diagnosis>, StoreError> {
        let Some(plain) = self.store.secret(Secret::Diagnosis)? else { return Ok(None) };
        // Day, report type and, since the day kind is kept, whether the day
        // is the symptom onset (a store written before reads as a test date).
        let corrupt = || StoreError::Corrupt("diagnosis".into());
        let (bytes, onset): ([u8; 5], bool) = match plain.as_slice() {
            [fixed @ .., onset] if plain.len() == 6 => (fixed.try_into().map_err(|_| corrupt())?, *onset == 1),
            fixed => (fixed.try_into().map_err(|_| corrupt())?, false),
        };
        let day = DayNumber(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
        let report_type = ReportType::from_byte(bytes[4]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some(Diagnosis { day, report_type, symptom_onset: onset }))
    }

    pub(crate) fn set_diagnosis(&mut self, diagnosis: Diagnosis) -> Result<(), StoreError> {
        let mut plain = diagnosis.day.0.to_le_bytes().to_vec();
        plain.push(diagnosis.report_type.to_byte());
        plain.push(u8::from(diagnosis.symptom_onset));
        self.store.set_secret(Secret::Diagnosis, &plain)
    }

    /// The venue alerts among the exposures: venue, arrival, departure and
    /// the authority's message.
    pub fn venue_alerts(&self) -> Result<Vec<Exposure>, StoreError> {
        Ok(self.store.exposures()?.into_iter().filter(|e| matches!(e, Exposure::Venue { .. })).collect())
    }
}

/// The color rules' inputs from what a phone holds: how fresh it is (the
/// signed time of its newest index, [`Phone::fresh_as_of`]), its own
/// diagnosis and the exposures its syncs found.
pub fn color_inputs(
    now: UnixTime,
    last_sync: Option<UnixTime>,
    diagnosis: Option<Diagnosis>,
    exposures: &[Exposure],
) -> Result<ColorInputs, StoreError> {
    let mut inputs = ColorInputs { now, last_sync, diagnosis, ..ColorInputs::default() };
    for exposure in exposures {
        match exposure {
            Exposure::Ble { day, attenuation_db, seconds, transmission_risk } => inputs.ble.push(BleContact {
                day: DayNumber(*day),
                attenuation_db: *attenuation_db,
                seconds: *seconds,
                transmission_risk: TransmissionRisk::new(*transmission_risk)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            }),
            Exposure::Venue { day, start, end, overlap_minutes, venue_kind, .. } => inputs.venues.push(VenueExposure {
                day: DayNumber(*day),
                start: UnixTime(*start),
                end: UnixTime(*end),
                overlap_minutes: u16::try_from(*overlap_minutes).unwrap_or(u16::MAX),
                kind: VenueKind::from_byte(*venue_kind).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            }),
        }
    }
    Ok(inputs)
}
