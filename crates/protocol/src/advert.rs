//! The Bluetooth LE advertisement: a legacy 31-byte advertising packet.
//!
//! ```text
//! offset len  bytes
//!  0      3   02 01 FF          Flags AD (flags byte set by the OS; 0x1A on encode)
//!  3      4   03 03 UU UU       Complete list of 16-bit service UUIDs: our UUID (LE)
//!  7     24   17 16 UU UU       Service data, 16-bit UUID (LE), then:
//! 11     16     ephemeral ID
//! 27      4     encrypted metadata (2 bytes) ‖ tag (2 bytes)
//! ```
//!
//! Scanners on Linux and phones usually hand over the service data for a
//! UUID rather than the raw packet, so both forms are provided.

use crate::daily_key::{EPHEMERAL_ID_LEN, EncryptedMetadata, EphemeralId, METADATA_LEN};
use crate::error::{Error, Result};

/// Length of a legacy BLE advertising payload, which our packet fills exactly.
pub const ADVERTISEMENT_LEN: usize = 31;
/// Length of the payload when the OS leaves out the Flags structure.
pub const ADVERTISEMENT_LEN_WITHOUT_FLAGS: usize = ADVERTISEMENT_LEN - 3;
/// Length of our service data after the UUID: ID and metadata.
pub const SERVICE_DATA_LEN: usize = EPHEMERAL_ID_LEN + METADATA_LEN;

const AD_FLAGS: u8 = 0x01;
const AD_UUID16_COMPLETE: u8 = 0x03;
const AD_SERVICE_DATA_UUID16: u8 = 0x16;
/// The flags byte written on encode (LE General Discoverable, simultaneous
/// LE and BR/EDR capable controller and host), as phones emit it.
pub const DEFAULT_FLAGS: u8 = 0x1A;

/// The 16-bit service UUID our advertisements carry.
///
/// A real deployment needs a UUID assigned to it by the Bluetooth SIG; the
/// [`ServiceUuid::PLACEHOLDER`] value is not assigned to anyone and must be
/// replaced (it is configurable everywhere it is used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceUuid(pub u16);

impl ServiceUuid {
    /// Placeholder UUID `0xF1E7` ("flight"): unassigned, for development.
    pub const PLACEHOLDER: ServiceUuid = ServiceUuid(0xF1E7);

    /// The full 128-bit UUID string, on the Bluetooth base UUID.
    pub fn to_uuid_string(self) -> String {
        format!("0000{:04x}-0000-1000-8000-00805f9b34fb", self.0)
    }
}

impl Default for ServiceUuid {
    fn default() -> Self {
        ServiceUuid::PLACEHOLDER
    }
}

/// What one advertisement carries: the current ephemeral ID and its sealed
/// metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// The ephemeral ID of the current interval.
    pub id: EphemeralId,
    /// The metadata sealed under the sender's metadata key.
    pub metadata: EncryptedMetadata,
}

impl Advertisement {
    /// The 20 bytes of service data that follow the UUID.
    pub fn service_data(&self) -> [u8; SERVICE_DATA_LEN] {
        let mut out = [0u8; SERVICE_DATA_LEN];
        out[..EPHEMERAL_ID_LEN].copy_from_slice(&self.id.0);
        out[EPHEMERAL_ID_LEN..].copy_from_slice(&self.metadata.0);
        out
    }

    /// Parses service data as delivered by a scanner for our UUID.
    pub fn from_service_data(data: &[u8]) -> Result<Self> {
        if data.len() < SERVICE_DATA_LEN {
            return Err(Error::Truncated);
        }
        if data.len() > SERVICE_DATA_LEN {
            return Err(Error::TrailingBytes);
        }
        let mut id = [0u8; EPHEMERAL_ID_LEN];
        id.copy_from_slice(&data[..EPHEMERAL_ID_LEN]);
        let mut metadata = [0u8; METADATA_LEN];
        metadata.copy_from_slice(&data[EPHEMERAL_ID_LEN..]);
        Ok(Advertisement { id: EphemeralId(id), metadata: EncryptedMetadata(metadata) })
    }

    /// The complete 31-byte advertising payload.
    pub fn encode(&self, uuid: ServiceUuid) -> [u8; ADVERTISEMENT_LEN] {
        let [lo, hi] = uuid.0.to_le_bytes();
        let mut out = [0u8; ADVERTISEMENT_LEN];
        out[..11].copy_from_slice(&[
            0x02,
            AD_FLAGS,
            DEFAULT_FLAGS, //
            0x03,
            AD_UUID16_COMPLETE,
            lo,
            hi, //
            0x17,
            AD_SERVICE_DATA_UUID16,
            lo,
            hi,
        ]);
        out[11..].copy_from_slice(&self.service_data());
        out
    }

    /// Parses a raw advertising payload strictly: the three AD structures
    /// above, in that order, for `uuid`, and nothing else; or the same
    /// without the Flags structure (28 bytes), which BlueZ sends for
    /// broadcast advertisements. The flags byte may hold any value because
    /// the OS sets it.
    pub fn decode(bytes: &[u8], uuid: ServiceUuid) -> Result<Self> {
        let rest = match bytes.len() {
            ADVERTISEMENT_LEN => {
                if bytes[..2] != [0x02, AD_FLAGS] {
                    return Err(Error::InvalidField("flags"));
                }
                &bytes[3..]
            }
            ADVERTISEMENT_LEN_WITHOUT_FLAGS => bytes,
            n if n < ADVERTISEMENT_LEN_WITHOUT_FLAGS => return Err(Error::Truncated),
            n if n > ADVERTISEMENT_LEN => return Err(Error::TrailingBytes),
            _ => return Err(Error::InvalidField("length")),
        };
        let [lo, hi] = uuid.0.to_le_bytes();
        if rest[..4] != [0x03, AD_UUID16_COMPLETE, lo, hi] {
            return Err(Error::InvalidField("service_uuid_list"));
        }
        if rest[4..8] != [0x17, AD_SERVICE_DATA_UUID16, lo, hi] {
            return Err(Error::InvalidField("service_data"));
        }
        Advertisement::from_service_data(&rest[8..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_a_legacy_packet_exactly_and_round_trips() {
        let ad = Advertisement { id: EphemeralId([0xAB; 16]), metadata: EncryptedMetadata([1, 2, 3, 4]) };
        let bytes = ad.encode(ServiceUuid::PLACEHOLDER);
        assert_eq!(bytes.len(), 31);
        assert_eq!(&bytes[..11], &[0x02, 0x01, 0x1A, 0x03, 0x03, 0xE7, 0xF1, 0x17, 0x16, 0xE7, 0xF1]);
        assert_eq!(Advertisement::decode(&bytes, ServiceUuid::PLACEHOLDER), Ok(ad));
    }

    #[test]
    fn the_form_without_flags_that_bluez_broadcasts_is_accepted() {
        let ad = Advertisement { id: EphemeralId([7; 16]), metadata: EncryptedMetadata([9; 4]) };
        let full = ad.encode(ServiceUuid::PLACEHOLDER);
        assert_eq!(Advertisement::decode(&full[3..], ServiceUuid::PLACEHOLDER), Ok(ad));
        // But not the full packet cut short, nor lengths in between.
        assert!(Advertisement::decode(&full[..28], ServiceUuid::PLACEHOLDER).is_err());
        assert_eq!(Advertisement::decode(&full[1..], ServiceUuid::PLACEHOLDER), Err(Error::InvalidField("length")));
    }

    #[test]
    fn another_uuid_is_not_ours() {
        let ad = Advertisement { id: EphemeralId([0; 16]), metadata: EncryptedMetadata([0; 4]) };
        let bytes = ad.encode(ServiceUuid(0xFD6F));
        assert!(Advertisement::decode(&bytes, ServiceUuid::PLACEHOLDER).is_err());
    }
}
