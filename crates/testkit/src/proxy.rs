//! [`LosingProxy`]: a proxy in front of a real server that loses answers,
//! for the tests of what a phone does when no answer comes back (issue 19
//! item 6).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A proxy on `127.0.0.1` that forwards every HTTP/1.1 request to the
/// upstream server and relays its answer, except that it hangs up instead
/// of answering the first `lose` requests to one path — after the server
/// has handled them, so the request took effect and only its answer is
/// lost.
pub struct LosingProxy {
    /// `http://127.0.0.1:PORT`, to give the phone instead of the server's URL.
    pub base: String,
    sent: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl LosingProxy {
    /// Starts the proxy in front of `upstream` (a base URL), losing the
    /// answers to the first `lose` requests whose path is `lost_path`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start(upstream: String, lost_path: &'static str, lose: u32) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("a bound address"));
        let sent = Arc::new(AtomicU32::new(0));
        let counter = sent.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let (client, upstream, counter) = (client.clone(), upstream.clone(), counter.clone());
                tokio::spawn(async move {
                    let Some((method, path, headers, body)) = read_request(&mut stream).await else { return };
                    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
                    let mut forward = client.request(method, format!("{upstream}{path}")).body(body);
                    for (name, value) in &headers {
                        forward = forward.header(name.as_str(), value.as_str());
                    }
                    let Ok(answer) = forward.send().await else { return };
                    let status = answer.status().as_u16();
                    let kept: Vec<(String, String)> = answer
                        .headers()
                        .iter()
                        .filter(|(name, _)| {
                            ["content-type", "etag", "cache-control", "retry-after"].contains(&name.as_str())
                        })
                        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_owned()))
                        .collect();
                    let bytes = answer.bytes().await.unwrap_or_default();
                    if path.split('?').next() == Some(lost_path) && counter.fetch_add(1, Ordering::SeqCst) < lose {
                        // Handled by the server; the phone never hears back.
                        return;
                    }
                    let mut head = format!("HTTP/1.1 {status} X\r\n");
                    for (name, value) in kept {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", bytes.len()));
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&bytes).await;
                });
            }
        });
        LosingProxy { base, sent, task }
    }

    /// How many requests to the lost path reached the proxy so far.
    pub fn sent(&self) -> u32 {
        self.sent.load(Ordering::SeqCst)
    }
}

impl Drop for LosingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One HTTP/1.1 request: its method, path, the headers worth forwarding and
/// its body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<(String, String, Vec<(String, String)>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let mut first = head.split_whitespace();
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let mut headers = Vec::new();
    let mut length = 0;
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
            if name == "content-length" {
                length = value.parse().ok()?;
            }
            if ["content-type", "x-chaff", "if-none-match", "accept"].contains(&name.as_str()) {
                headers.push((name, value));
            }
        }
    }
    let mut body = buffer[end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, headers, body))
}
