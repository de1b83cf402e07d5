//! Prometheus metrics. Counters of events only: nothing in a label or value
//! can identify a person, a device or an address.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Outcome label of a publish request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `accepted`, `rejected`, `chaff` or `error`.
    pub outcome: &'static str,
}

/// Status label of an index request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Status {
    /// `200` or `304`.
    pub status: &'static str,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    registry: Registry,
    /// Publish requests by outcome.
    pub publish: Family<Outcome, Counter>,
    /// Keys stored that were not known before.
    pub keys_stored: Counter,
    /// Export batches sealed.
    pub batches_sealed: Counter,
    /// Rows deleted by retention.
    pub retention_deleted: Counter,
    /// Index requests by status.
    pub index_requests: Family<Status, Counter>,
    /// Keys stored but not yet published: those waiting for their
    /// embargo and those the next export run will seal. Counted at every
    /// scrape and after every export run.
    pub pending_keys: Gauge,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut m = Metrics::default();
        let mut registry = Registry::with_prefix("greenlight");
        registry.register("publish_requests", "Publish requests by outcome", m.publish.clone());
        registry.register("keys_stored", "Diagnosis keys stored that were new", m.keys_stored.clone());
        registry.register("batches_sealed", "Export batches sealed", m.batches_sealed.clone());
        registry.register("retention_deleted_rows", "Rows deleted by retention", m.retention_deleted.clone());
        registry.register("index_requests", "Index requests by status", m.index_requests.clone());
        registry.register(
            "pending_keys",
            "Keys stored and not yet published (waiting for their embargo or for the next export run)",
            m.pending_keys.clone(),
        );
        m.registry = registry;
        m
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
