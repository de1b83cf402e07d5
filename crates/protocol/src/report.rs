//! What a diagnosis report says about itself: its type and the risk level
//! attached to each published key.

use crate::error::{Error, Result};

/// How a diagnosis was established. Set by the health authority in the
/// certificate, never chosen by the uploading phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReportType {
    /// A positive laboratory test.
    ConfirmedTest,
    /// A clinical diagnosis without a test.
    ClinicalDiagnosis,
}

impl ReportType {
    /// The wire value (GAEN numbering: 1 confirmed test, 2 clinical).
    pub fn to_byte(self) -> u8 {
        match self {
            ReportType::ConfirmedTest => 1,
            ReportType::ClinicalDiagnosis => 2,
        }
    }

    /// Parses the wire value.
    pub fn from_byte(b: u8) -> Result<Self> {
        match b {
            1 => Ok(ReportType::ConfirmedTest),
            2 => Ok(ReportType::ClinicalDiagnosis),
            _ => Err(Error::InvalidField("report_type")),
        }
    }
}

/// Transmission risk level of one published key, `0..=8` as in GAEN: how
/// infectious the person probably was on that key's day, set from the
/// symptom-onset or test date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransmissionRisk(u8);

impl TransmissionRisk {
    /// The highest level.
    pub const MAX: TransmissionRisk = TransmissionRisk(8);

    /// A level, refusing values above 8.
    pub fn new(level: u8) -> Result<Self> {
        if level <= Self::MAX.0 { Ok(TransmissionRisk(level)) } else { Err(Error::InvalidField("transmission_risk")) }
    }

    /// The level as a number `0..=8`.
    pub fn level(self) -> u8 {
        self.0
    }
}
