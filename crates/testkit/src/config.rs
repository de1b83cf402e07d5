//! The one loopback configuration of the key server: a free port on
//! 127.0.0.1, a given data directory and database, and the settings every
//! in-process server of the tests, the benchmarks, the fuzz targets and the
//! town share. What differs between them (the region, the trusted
//! authority keys, the padding minimum, the request timeout) are the
//! knobs of [`LoopbackConfig`].

use greenlight_protocol::export::Region;
use greenlight_protocol::signing::VerifyingKey;
use greenlight_server::config::Config;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

/// The region of the published files unless [`LoopbackConfig::region`]
/// says otherwise.
pub const TEST_REGION: &str = "GL-TEST";

/// The knobs of a loopback [`Config`], with the values most callers want:
/// region [`TEST_REGION`], no trusted authority key (a server whose data
/// directory holds an initialized authority trusts that one by itself),
/// export batches padded to 50 keys, a 10-second request timeout, and
/// revealed visits handed to the health authority at once (a delay of 0:
/// production waits for the end of the hour they came in), so a tracer
/// sees them right away. Retention (14 days), the export interval (an
/// hour), the embargo (two hours) and the body limit (64 KiB) are the
/// production defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopbackConfig {
    region: Region,
    authority_keys: Vec<VerifyingKey>,
    min_batch_keys: usize,
    request_timeout: u64,
}

impl Default for LoopbackConfig {
    fn default() -> Self {
        LoopbackConfig {
            region: Region::new(TEST_REGION).expect("GL-TEST is a valid region code"),
            authority_keys: Vec::new(),
            min_batch_keys: 50,
            request_timeout: 10,
        }
    }
}

impl LoopbackConfig {
    /// Trusts certificates and files signed by `key` (`--authority-key`).
    #[must_use]
    pub fn trust(mut self, key: VerifyingKey) -> Self {
        self.authority_keys.push(key);
        self
    }

    /// The region written into the published files.
    #[must_use]
    pub fn region(mut self, region: Region) -> Self {
        self.region = region;
        self
    }

    /// Fake keys an export batch is padded to at least.
    #[must_use]
    pub fn min_batch_keys(mut self, keys: usize) -> Self {
        self.min_batch_keys = keys;
        self
    }

    /// The request timeout, in seconds.
    #[must_use]
    pub fn request_timeout(mut self, secs: u64) -> Self {
        self.request_timeout = secs;
        self
    }

    /// The configuration of a server listening on a free loopback port,
    /// with its data in `data_dir` and its database at `database_url`.
    pub fn build(&self, data_dir: &Path, database_url: &str) -> Config {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            data_dir: data_dir.to_owned(),
            allow_shared_data_dir: false,
            database_url: database_url.to_owned(),
            region: self.region.clone(),
            authority_keys: self.authority_keys.clone(),
            retention_days: 14,
            export_interval: 3600,
            embargo: 7200,
            min_batch_keys: self.min_batch_keys,
            reveal_delay_secs: 0,
            // Metrics on their own loopback port, as an operator would
            // serve them apart from the public API.
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            max_body: 65_536,
            request_timeout: self.request_timeout,
            tls: None,
        }
    }
}

/// The loopback [`Config`] with the default knobs of [`LoopbackConfig`],
/// trusting `authority_key` when one is given.
pub fn loopback_config(data_dir: &Path, database_url: &str, authority_key: Option<VerifyingKey>) -> Config {
    let knobs = LoopbackConfig::default();
    let knobs = match authority_key {
        Some(key) => knobs.trust(key),
        None => knobs,
    };
    knobs.build(data_dir, database_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knobs_change_only_their_own_fields() {
        let key = greenlight_protocol::signing::SigningKey::from_bytes(&[3; 32]).verifying_key();
        let plain = loopback_config(Path::new("/tmp/x"), "sqlite:///tmp/x/db", Some(key));
        assert_eq!(plain.listen, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!((plain.region.as_str(), plain.min_batch_keys, plain.request_timeout), ("GL-TEST", 50, 10));
        assert_eq!(plain.authority_keys, vec![key]);
        let town = LoopbackConfig::default()
            .region(Region::new("GL-TOWN").expect("region"))
            .min_batch_keys(100)
            .request_timeout(30)
            .build(Path::new("/tmp/y"), "sqlite:///tmp/y/db");
        assert_eq!((town.region.as_str(), town.min_batch_keys, town.request_timeout), ("GL-TOWN", 100, 30));
        assert!(town.authority_keys.is_empty());
        assert_eq!(
            (town.retention_days, town.export_interval, town.embargo, town.max_body),
            (plain.retention_days, plain.export_interval, plain.embargo, plain.max_body)
        );
    }
}
