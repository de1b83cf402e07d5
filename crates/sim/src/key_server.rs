//! The key server at protocol level: it accepts certified uploads,
//! holds keys until their embargo ends, seals export batches, and serves a
//! signed index of content-addressed files (standing in for its CDN).
//!
//! What it must never know (who uploaded, from where) it is never told
//! here either: an upload is keys, revealed check-ins, an HMAC key and a
//! certificate, nothing else.

use crate::error::{During, SimError};
use greenlight_protocol::certificate::{Certificate, CertificateId, UploadHmacKey, UploadedKey};
use greenlight_protocol::export::{ExportBatch, ExportRecord, Region};
use greenlight_protocol::index::{FileKind, Index, IndexEntry};
use greenlight_protocol::report::ReportType;
use greenlight_protocol::signing::{SigningKey, TrustedKeys, VerifyingKey};
use greenlight_protocol::time::UnixTime;
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// A key is published no earlier than this long after its day ends, the
/// matcher's default (`MatchConfig::embargo_secs`).
pub(crate) const EMBARGO_SECS: u64 = 7200;

/// What a phone sends to the key server.
pub(crate) struct Upload {
    /// The released daily keys, with their days and transmission risks.
    pub(crate) keys: Vec<UploadedKey>,
    /// Revealed check-ins (`RevealedCheckIn::to_bytes`), for the authority.
    pub(crate) revealed_checkins: Vec<Vec<u8>>,
    /// The one-time HMAC key the certificate's HMAC was made with.
    pub(crate) hmac_key: UploadHmacKey,
    /// The authority's signed certificate.
    pub(crate) certificate: Vec<u8>,
}

/// What the key server did with an accepted upload.
pub(crate) struct Accepted {
    /// How the diagnosis was established, stamped on every key.
    pub(crate) report_type: ReportType,
    /// Keys now held for publication.
    pub(crate) keys: usize,
}

/// One run of [`KeyServer::publish`].
pub(crate) struct Publication {
    /// Keys in the new export batch, if one was sealed.
    pub(crate) keys: usize,
    /// Size of the signed export batch in bytes (0 if none was sealed).
    pub(crate) export_bytes: usize,
    /// Keys still under embargo, held for a later batch.
    pub(crate) held_back: usize,
    /// Size of the signed index in bytes.
    pub(crate) index_bytes: usize,
    /// The entries the index lists.
    pub(crate) entries: Vec<IndexEntry>,
}

/// The key server's state.
pub(crate) struct KeyServer {
    export_key: SigningKey,
    region: Region,
    used_certificates: BTreeSet<CertificateId>,
    held: Vec<ExportRecord>,
    /// Start of the upload span the next export batch covers.
    batch_start: UnixTime,
    export_sequence: u64,
    listed: Vec<IndexEntry>,
    /// Content address → file: what the CDN serves.
    files: BTreeMap<String, Vec<u8>>,
    index: Option<Vec<u8>>,
}

impl KeyServer {
    /// A key server for `region`, started at `now`, with a fresh export key.
    pub(crate) fn generate(region: Region, now: UnixTime, rng: &mut ChaCha20Rng) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        KeyServer {
            export_key: SigningKey::from_bytes(&seed),
            region,
            used_certificates: BTreeSet::new(),
            held: Vec::new(),
            batch_start: now,
            export_sequence: 0,
            listed: Vec::new(),
            files: BTreeMap::new(),
            index: None,
        }
    }

    /// The export key's public half, which phones trust for the index and
    /// the export batches.
    pub(crate) fn verifying_key(&self) -> VerifyingKey {
        self.export_key.verifying_key()
    }

    /// Accepts an upload: the certificate's signature (by a trusted
    /// authority) and validity at `now`, single use, and the upload HMAC
    /// over exactly these keys and check-ins. The keys are held for
    /// publication, stamped with the certificate's report type.
    pub(crate) fn accept(
        &mut self,
        upload: &Upload,
        authorities: &TrustedKeys,
        now: UnixTime,
    ) -> Result<Accepted, SimError> {
        let verified =
            Certificate::verify(&upload.certificate, authorities, now).during("key server verifies the certificate")?;
        let certificate = verified.certificate();
        if self.used_certificates.contains(&certificate.certificate_id()) {
            return Err(SimError::story("key server checks single use", "this certificate was already used"));
        }
        let revealed: Vec<&[u8]> = upload.revealed_checkins.iter().map(Vec::as_slice).collect();
        verified.check_upload(&upload.hmac_key, &upload.keys, &revealed).during("key server checks the upload HMAC")?;
        self.used_certificates.insert(certificate.certificate_id());
        let report_type = certificate.report_type();
        self.held.extend(upload.keys.iter().map(|k| ExportRecord {
            key: k.key,
            day: k.day,
            transmission_risk: k.transmission_risk,
            report_type,
        }));
        Ok(Accepted { report_type, keys: upload.keys.len() })
    }

    /// Lists a file another party signed (a trace batch or the policy).
    pub(crate) fn list(
        &mut self,
        kind: FileKind,
        sequence: u64,
        start: UnixTime,
        end: UnixTime,
        bytes: Vec<u8>,
    ) -> Result<(), SimError> {
        let entry = IndexEntry::for_file(kind, sequence, start, end, &bytes).during("key server lists a file")?;
        self.files.insert(entry.file_name(), bytes);
        self.listed.push(entry);
        Ok(())
    }

    /// Seals every held key whose embargo is over at `now` into a new
    /// export batch covering uploads since the last one, then signs a new
    /// index of everything listed.
    pub(crate) fn publish(&mut self, now: UnixTime) -> Result<Publication, SimError> {
        let (ready, held): (Vec<ExportRecord>, Vec<ExportRecord>) =
            self.held.drain(..).partition(|r| r.is_embargo_safe(now, EMBARGO_SECS));
        self.held = held;
        let (keys, mut export_bytes) = (ready.len(), 0);
        if !ready.is_empty() {
            self.export_sequence += 1;
            let batch = ExportBatch::new(self.region.clone(), self.export_sequence, self.batch_start, now, ready)
                .during("key server seals an export batch")?;
            let signed = batch.sign(&self.export_key);
            export_bytes = signed.len();
            self.list(FileKind::ExportBatch, batch.sequence(), batch.start(), batch.end(), signed)?;
            self.batch_start = now;
        }
        let index = Index::new(self.region.clone(), now, self.listed.clone()).during("key server writes the index")?;
        let signed = index.sign(&self.export_key);
        let index_bytes = signed.len();
        self.index = Some(signed);
        Ok(Publication {
            keys,
            export_bytes,
            held_back: self.held.len(),
            index_bytes,
            entries: index.entries().to_vec(),
        })
    }

    /// The signed index, as the CDN serves it (none before the first
    /// publication).
    pub(crate) fn index(&self) -> Option<&[u8]> {
        self.index.as_deref()
    }

    /// A listed file by its content address, as the CDN serves it.
    pub(crate) fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }
}
