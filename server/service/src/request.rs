//! Rules both services apply to a device request before reading it: the
//! chaff header and the declared content type.

use axum::http::{HeaderMap, header};
use greenlight_api::{CHAFF_HEADER, Invalid};

/// Whether a request is chaff: exactly one `X-Chaff` header, whose value
/// is exactly `1`. No header is a real request; any other value, or the
/// header twice, is refused (`invalid_chaff`, 400) before anything is read
/// or counted, so a mistaken client neither has a real request dropped as
/// chaff nor claims a code unnoticed.
pub fn chaff(headers: &HeaderMap) -> Result<bool, Invalid> {
    let mut values = headers.get_all(CHAFF_HEADER).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(false),
        (Some(value), None) if value.as_bytes() == b"1" => Ok(true),
        _ => Err(Invalid {
            code: "invalid_chaff",
            message: "X-Chaff must be absent (a real request) or exactly `X-Chaff: 1` (chaff)".to_owned(),
        }),
    }
}

/// Whether the body is declared as JSON: exactly one `Content-Type`,
/// `application/json` with optional parameters such as `; charset=utf-8`.
/// A phone's requests always are; requiring it keeps a web page from
/// posting a "simple" cross-site form (which cannot send this type without
/// a CORS preflight, and there is no CORS here).
pub fn is_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    value
        .to_str()
        .is_ok_and(|text| text.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn only_one_x_chaff_1_is_chaff() {
        assert_eq!(chaff(&HeaderMap::new()), Ok(false));
        assert_eq!(chaff(&headers("x-chaff", &["1"])), Ok(true));
        for bad in [&["0"][..], &["true"], &[""], &["2"], &["1", "1"]] {
            assert_eq!(chaff(&headers("x-chaff", bad)).map_err(|e| e.code), Err("invalid_chaff"), "{bad:?}");
        }
    }

    #[test]
    fn only_json_is_json() {
        assert!(is_json(&headers("content-type", &["application/json"])));
        assert!(is_json(&headers("content-type", &["Application/JSON; charset=utf-8"])));
        for bad in [
            &[][..],
            &["text/plain"],
            &["application/x-www-form-urlencoded"],
            &["application/json", "application/json"],
        ] {
            assert!(!is_json(&headers("content-type", bad)), "{bad:?}");
        }
    }
}

/// How a request reached the server: the peer's address and whether the
/// connection is TLS. The server's accept loop adds it to every request
/// as an extension (absent when a router is called directly). Only the
/// portal's login page reads it, to warn that a login over plain HTTP
/// from another computer cannot work; it is never logged or stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The peer's address.
    pub peer: std::net::SocketAddr,
    /// Whether the connection is TLS (`--tls-cert`).
    pub tls: bool,
}
