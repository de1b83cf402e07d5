//! A staff member's browser for the health authority's portal, reduced to
//! plain HTTP: a cookie jar, no automatic redirects, the session's CSRF
//! token. Shared by the server's and the client's test suites (the client
//! includes this file by path), so it depends on nothing but reqwest.
#![allow(dead_code, unreachable_pub)]

/// Percent-encodes a form value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text between `start` and the next `end` after it, if any.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// A page as the portal answered it.
#[derive(Debug)]
pub struct PortalPage {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

/// A staff member's browser, reduced to what the tests need: a cookie jar
/// (by name), no automatic redirects, and the session's CSRF token.
pub struct Portal {
    pub base: String,
    pub client: reqwest::Client,
    pub cookies: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    pub csrf: std::sync::Mutex<String>,
}

impl Portal {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Portal { base: base.to_owned(), client, cookies: Default::default(), csrf: Default::default() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.lock().expect("lock").iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&self, response: reqwest::Response) -> PortalPage {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().expect("cookie");
            let pair = text.split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            let mut cookies = self.cookies.lock().expect("lock");
            if value.is_empty() || text.contains("Max-Age=0") {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status().as_u16();
        let location = response.headers().get("location").map(|v| v.to_str().expect("location").to_owned());
        let body = response.text().await.expect("body");
        if let Some(csrf) = between(&body, "name=\"csrf\" value=\"", "\"")
            && !body.contains("action=\"/portal/login\"")
        {
            *self.csrf.lock().expect("lock") = csrf.to_owned();
        }
        PortalPage { status, body, location }
    }

    pub async fn get(&self, path: &str) -> PortalPage {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("request");
        self.finish(response).await
    }

    /// Posts a form exactly as given (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> PortalPage {
        let body = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("request");
        self.finish(response).await
    }

    /// Posts a form with this session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> PortalPage {
        let csrf = self.csrf.lock().expect("lock").clone();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Logs in (through the login form and its cookie); returns the answer
    /// to the login post.
    pub async fn login(&self, username: &str, password: &str) -> PortalPage {
        let form = self.get("/portal/login").await;
        let token = between(&form.body, "name=\"csrf\" value=\"", "\"").expect("login token").to_owned();
        let answer =
            self.post_raw("/portal/login", &[("csrf", &token), ("username", username), ("password", password)]).await;
        if answer.status == 303 {
            // Land on the page it sends us to, which carries the CSRF token.
            let to = answer.location.clone().expect("location");
            self.get(&to).await;
        }
        answer
    }
}
