//! The Greenlight HTTP contract, defined once: the JSON request and
//! response bodies of the key server (`/v1/publish`, `/v1/authority/files`,
//! `/v1/authority/revealed`), of the health authority's device API
//! (`/v1/verify`, `/v1/certificate`) and of a venue's door screen
//! (`/codes`), the fixed sizes every padded body has, the chaff header, and the conversions between these bodies and
//! the protocol's types.
//!
//! The server answers with these types, the resident client sends and
//! reads them, the fuzz targets parse them and `spec/openapi.json` is
//! generated from them (feature `openapi`). Byte formats stay in
//! `greenlight-protocol`, which knows nothing of JSON; this crate knows
//! nothing of HTTP libraries.
//!
//! Every body of an endpoint a network observer could learn from (publish,
//! verify, certificate) is padded to one size ([`padding`]): requests by
//! the phone, answers by the server, so that a real report, a refused one
//! and chaff look the same on the wire.
#![forbid(unsafe_code)]

pub mod device;
pub mod files;
pub mod padding;
pub mod publish;
pub mod revealed;
pub mod screen;

/// The header that marks a request as chaff: answered like a real one,
/// stores nothing (inside TLS, invisible to an observer, like GAEN's).
pub const CHAFF_HEADER: &str = "x-chaff";

/// Reads a `--listen` address: `IP:PORT` (`127.0.0.1:8080`, `[::1]:8080`,
/// `0.0.0.0:8090`) or `HOST:PORT` (`localhost:8080`), a host name being
/// looked up once (IPv4 first, as browsers on most systems try it first).
/// The server and the venue's door screen read their flag with it.
pub fn listen_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if !text.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()) {
        return Err(format!("{text:?} is not HOST:PORT (e.g. localhost:8080 or 0.0.0.0:8080)"));
    }
    let addrs: Vec<std::net::SocketAddr> =
        std::net::ToSocketAddrs::to_socket_addrs(text).map_err(|e| format!("cannot look up {text:?}: {e}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("{text:?} names no address"))
}

/// Seconds a client is asked to wait (`Retry-After`) after a 503.
pub const RETRY_AFTER_SECS: u64 = 30;

/// Why a body could not be turned into protocol types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The stable error code the server answers with (`invalid_key`, …).
    pub code: &'static str,
    /// What was wrong, for a person.
    pub message: String,
}

impl Invalid {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Invalid { code, message: message.into() }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Invalid {}

/// The two fields every padded answer has (publish, verify, certificate):
/// what a client reads of a refusal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// `ok` or `accepted`, or an error code.
    pub status: String,
    /// What was wrong, for errors.
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_take_host_names() {
        assert_eq!(listen_addr("localhost:8080").expect("localhost"), "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(listen_addr("0.0.0.0:8090").expect("any"), "0.0.0.0:8090".parse().expect("addr"));
        assert!(listen_addr("localhost").expect_err("no port").contains("HOST:PORT"));
        assert!(listen_addr("8080").is_err());
    }
}
