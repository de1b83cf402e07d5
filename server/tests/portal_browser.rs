//! The staff portal in a real headless Chromium, driven over the WebDriver
//! protocol (plain JSON to `chromedriver`): a staff member logs in, issues
//! a long upload code and sees it with its QR code, finds it in the audit
//! log, and publishes a color policy that the key server then lists. Every
//! step leaves a screenshot in `target/portal-screenshots/`.
//!
//! Chromium and ChromeDriver are Debian's (`server/tests/setup-chromium.sh`
//! installs them). A missing browser fails the test: it is never skipped.

mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use common::{ADMIN_PASSWORD, Db, TestServer};
use greenlight_protocol::index::{FileKind, Index};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::signing::TrustedKeys;
use serde_json::{Value, json};
use webdriver::Driver;

/// How many color policies the key server's signed index lists.
async fn listed(server: &TestServer) -> usize {
    let bytes = server.get("/v1/index").await.bytes().await.expect("index");
    let index = Index::verify(&bytes, &TrustedKeys::from_keys([server.export_key()])).expect("signed");
    index.entries_after(FileKind::ColorPolicy, 0).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_log_in_issue_a_code_see_it_audited_and_publish_a_policy_in_chromium() {
    let server = TestServer::start_with_authority(Db::Sqlite).await;
    let driver = Driver::start("portal-screenshots").await;
    let base = &server.base;

    driver.go(&format!("{base}/portal")).await;
    driver.check_page("login").await;
    driver.screenshot("01-login").await;
    driver.fill("#username", "admin").await;
    driver.fill("#password", ADMIN_PASSWORD).await;
    driver.follow("form[action='/portal/login'] button").await;
    assert!(driver.text("main").await.contains("You are logged in as admin"));
    driver.screenshot("02-home").await;

    // Issue a long code for a test taken yesterday.
    driver.follow("nav a[href='/portal/codes']").await;
    driver.check_page("codes").await;
    driver.screenshot("03-codes").await;
    driver.click("input[name=kind][value=long]").await;
    driver.click("input[name=day_kind][value='2']").await;
    driver.follow("form[action='/portal/codes'][method=post] button").await;
    let code = driver.text("#issued-code").await;
    let handle = driver.text("#code-handle").await;
    assert_eq!(code.len(), 19, "16 characters in groups of four: {code}");
    assert_eq!(
        driver.script("return document.querySelectorAll('.qr svg').length").await,
        json!(1),
        "the long code has a QR code"
    );
    driver.check_page("code issued").await;
    driver.screenshot("04-code-issued").await;
    // The code's page was reached by a redirect: a reload issues no second
    // code and no longer shows this one (issue 21 item 19).
    driver.call("POST", &driver.at("/refresh"), json!({})).await;
    let reloaded = driver.text("main").await;
    assert!(!reloaded.contains(&code) && reloaded.contains("shown only once"), "{reloaded}");
    // The code is real: a phone can claim it.
    let verified: Value = server
        .client
        .post(format!("{base}/v1/verify"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(verified["status"], "ok", "{verified}");
    assert_eq!(verified["day_kind"], "test_date");

    // The audit log shows who issued which code.
    driver.follow("nav a[href='/portal/audit']").await;
    let log = driver.text("#audit-log").await;
    assert_eq!(log.matches("code issued").count(), 1, "one code issued: {log}");
    let line = log.lines().find(|l| l.contains("code issued")).unwrap_or_else(|| panic!("issuing is audited: {log}"));
    assert!(line.contains("admin") && line.contains(&handle), "{line}");
    assert!(!log.contains(&code) && !log.contains(&code.replace('-', "")), "the code itself is never logged");
    driver.check_page("audit").await;
    driver.screenshot("05-audit-log").await;

    // Publish a policy: a wrong value first, then a good one, previewed
    // in plain words before it is signed (issue 21 items 4 and 20).
    driver.follow("nav a[href='/portal/policy']").await;
    driver.check_page("policy").await;
    let in_force = driver.text("#policy-in-force").await;
    assert!(in_force.contains("every phone uses the built-in default policy"), "{in_force}");
    assert!(driver.text("#policy-rules").await.contains("15 minutes of it in one day turn a phone yellow"));
    driver.fill("#red_days", "40").await;
    driver.follow("form[action='/portal/policy/preview'] button").await;
    assert!(driver.text("#red_days-error").await.contains("1 to 28"));
    assert_eq!(driver.script("return document.getElementById('red_days').value").await, json!("40"), "kept");
    driver.screenshot("06-policy-error").await;
    driver.fill("#red_days", "7").await;
    driver.fill("#min_weighted_minutes", "10").await;
    driver.follow("form[action='/portal/policy/preview'] button").await;
    driver.check_page("policy preview").await;
    let effects = driver.text("#policy-effects").await;
    assert!(
        effects.contains(
            "A contact of 10 minutes in one day at about 5 m (signal loss 62 dB) now turns a phone yellow (before: 15 minutes)."
        ),
        "{effects}"
    );
    let changes = driver
        .script("return [...document.querySelectorAll('#policy-changes tbody tr')].map(r => [...r.cells].map(c => c.textContent.trim()).slice(0, 3))")
        .await;
    assert_eq!(
        changes,
        json!([
            ["Counted Bluetooth minutes in one day that turn a phone yellow", "15", "10"],
            ["Days a red lasts after the positive test or diagnosis", "10", "7"]
        ]),
        "each changed rule, old and new"
    );
    driver.screenshot("07-policy-preview").await;
    assert_eq!(listed(&server).await, 0, "the preview publishes nothing");
    driver.follow("#confirm-publish").await;
    let notice = driver.text("[role=status]").await;
    assert!(notice.contains("Policy 1 is signed"), "{notice}");
    driver.screenshot("08-policy-published").await;
    // The answer was a redirect: reloading shows the page, posts nothing.
    assert!(
        driver.call("GET", &driver.at("/url"), Value::Null).await.as_str().unwrap_or("").ends_with("/portal/policy")
    );
    driver.call("POST", &driver.at("/refresh"), json!({})).await;
    assert!(driver.text("#policy-in-force").await.contains("In force: policy 1"));
    assert_eq!(listed(&server).await, 1, "a reload publishes nothing more");

    let bytes = server.get("/v1/index").await.bytes().await.expect("index");
    let index = Index::verify(&bytes, &TrustedKeys::from_keys([server.export_key()])).expect("signed");
    let entry = &index.entries_after(FileKind::ColorPolicy, 0)[0];
    let file = server.get(&format!("/v1/files/{}", hex::encode(entry.sha256))).await.bytes().await.expect("file");
    let authority = TrustedKeys::from_keys([server.authority_state().keys.policy.verifying_key()]);
    let policy = ColorPolicy::verify(&file, &authority).expect("signed by the authority");
    assert_eq!((policy.params().red_days, policy.params().min_weighted_minutes_per_day), (7, 10));

    driver.follow("header form button").await;
    assert!(driver.text("main").await.contains("User name"), "logged out");
    driver.call("DELETE", &driver.at(""), Value::Null).await;
}

/// Issue 25 item 5: the portal by keyboard alone. Staff Tab from the skip
/// link to the log-in fields, log in with Enter, reach the codes page from
/// the menu, choose a long code with the arrow keys and issue it; at every
/// Tab stop the focus is visible and on screen, and each page's text meets
/// WCAG AA contrast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_log_in_and_issue_a_long_code_with_the_keyboard_alone_in_chromium() {
    use webdriver::{ARROW_DOWN, ENTER};
    let server = TestServer::start_with_authority(Db::Sqlite).await;
    let driver = Driver::start("portal-screenshots").await;
    driver.go(&format!("{}/portal", server.base)).await;
    // The log-in page puts the cursor in the user name field: staff type
    // at once, Tab to the password and press Enter.
    let focused = driver.script("return document.activeElement.id").await;
    assert_eq!(focused, "username", "the log-in page starts in the user name field");
    driver.keys("admin").await;
    driver.tab_to("#password").await;
    driver.keys(ADMIN_PASSWORD).await;
    driver.keys_and_follow(ENTER).await;
    assert!(driver.text("main").await.contains("You are logged in as admin"));

    // On every other page the first Tab reaches the skip link, on screen;
    // every stop shows where the focus is (Driver::tab_to checks the
    // outline and the position).
    assert_eq!(driver.tab_to("a.skip").await, 1, "the skip link comes first");
    driver.tab_to("nav a[href='/portal/codes']").await;
    driver.keys_and_follow(ENTER).await;
    // Radio groups: Tab enters the group, the arrows choose.
    driver.tab_to("input[name=kind]").await;
    driver.keys(ARROW_DOWN).await;
    driver.tab_to("input[name=day_kind]").await;
    driver.keys(ARROW_DOWN).await;
    let chosen = driver
        .script("return [...document.querySelectorAll('input[type=radio]:checked')].map(e => e.name + '=' + e.value)")
        .await;
    assert_eq!(chosen, json!(["kind=long", "report_type=1", "day_kind=2"]), "chosen with the arrow keys");
    driver.tab_to("form[action='/portal/codes'][method=post] button").await;
    driver.keys_and_follow(ENTER).await;
    let code = driver.text("#issued-code").await;
    assert_eq!(code.len(), 19, "a long code, 16 characters in groups of four: {code}");
    driver.check_page("a code issued by keyboard").await;
    driver.screenshot("09-code-issued-by-keyboard").await;
    driver.call("DELETE", &driver.at(""), Value::Null).await;
}

/// Issue 21 item 19: the staff page in Chromium. The admin's own row says
/// it is theirs; an account without roles is created only after a warning
/// and audited as "roles none"; a refused form keeps what was typed and
/// ticked; a created account's page is reached by a redirect, so a reload
/// shows no password again and creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_accounts_warn_about_no_roles_keep_the_form_and_survive_a_reload_in_chromium() {
    let server = TestServer::start_with_authority(Db::Sqlite).await;
    let driver = Driver::start("portal-screenshots").await;
    let base = &server.base;
    driver.go(&format!("{base}/portal/login")).await;
    driver.fill("#username", "admin").await;
    driver.fill("#password", ADMIN_PASSWORD).await;
    driver.follow("form[action='/portal/login'] button").await;
    driver.follow("nav a[href='/portal/staff']").await;
    driver.check_page("staff").await;
    let row_of = |name: &str| {
        format!(
            "return [...document.querySelectorAll('tbody tr')].filter(r => r.querySelector('th').textContent.trim() === '{name}').map(r => r.textContent)"
        )
    };
    let own = driver.script(&row_of("admin")).await;
    assert!(own[0].as_str().unwrap_or("").contains("This is you"), "{own}");
    assert!(!driver.text("table").await.contains("Holds roles you do not hold"));

    // A bad name with a role ticked: refused, both kept.
    let new_issuer = "form[action='/portal/staff'] input[name=role_issuer]";
    driver.fill("#new-username", "b@d").await;
    driver.click(new_issuer).await;
    driver.follow("form[action='/portal/staff'] button").await;
    assert!(driver.text("[role=alert]").await.contains("Not created"));
    assert_eq!(driver.script("return document.getElementById('new-username').value").await, json!("b@d"));
    assert_eq!(
        driver.script(&format!("return document.querySelector(\"{new_issuer}\").checked")).await,
        json!(true),
        "the ticked role is kept"
    );
    // No role ticked: a warning, and a box to confirm.
    driver.fill("#new-username", "bob").await;
    driver.click(new_issuer).await;
    driver.follow("form[action='/portal/staff'] button").await;
    let warning = driver.text("[role=alert]").await;
    assert!(warning.contains("no role is ticked") && warning.contains("can sign in but do nothing"), "{warning}");
    assert_eq!(driver.script("return document.getElementById('new-username').value").await, json!("bob"));
    driver.check_page("staff warning").await;
    driver.screenshot("11-staff-no-roles-warning").await;
    assert_eq!(driver.script(&row_of("bob")).await, json!([]), "not created yet");
    driver.click("#no-roles").await;
    driver.follow("form[action='/portal/staff'] button").await;
    assert!(driver.text("[role=status]").await.contains("Account bob created without roles"));
    let password = driver.text("#one-time-password").await;
    assert_eq!(password.len(), 24, "{password}");
    driver.screenshot("12-staff-created").await;
    // Redirected after the POST: a reload neither shows the password
    // again nor creates bob a second time.
    assert!(
        driver.call("GET", &driver.at("/url"), Value::Null).await.as_str().unwrap_or("").ends_with("/portal/staff")
    );
    driver.call("POST", &driver.at("/refresh"), json!({})).await;
    let main = driver.text("main").await;
    assert!(!main.contains(&password) && !main.contains("exists already"), "{main}");
    assert_eq!(driver.script(&row_of("bob")).await.as_array().map(Vec::len), Some(1), "one bob");

    driver.follow("nav a[href='/portal/audit']").await;
    let log = driver.text("#audit-log").await;
    let line = log.lines().find(|l| l.contains("staff created")).unwrap_or_else(|| panic!("audited: {log}"));
    assert!(line.contains("account bob; roles none"), "{line}");
    driver.call("DELETE", &driver.at(""), Value::Null).await;
}

/// Issue 21 item 7. Over plain HTTP from another computer the portal's
/// `Secure` cookies are refused by the browser: the login page says so
/// and what to do, and a login attempt fails with the same words (not
/// "the login form expired"). With `--tls-cert`/`--tls-key` the same
/// server, reached at the same network address over HTTPS (a self-signed
/// certificate made here, which this Chromium is told to accept), shows
/// no warning and logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_warns_about_plain_http_on_the_network_and_logs_in_over_https_in_chromium() {
    let lan = common::network_address();
    let any = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let driver = Driver::start_with("portal-screenshots", &["--ignore-certificate-errors"]).await;

    let plain = TestServer::start_custom(Db::Sqlite, true, move |config, _| config.listen = any).await;
    let port = plain.base.rsplit(':').next().expect("port").to_owned();
    driver.go(&format!("http://{lan}:{port}/portal/login")).await;
    driver.check_page("login over plain HTTP").await;
    let warning = driver.text("[role=alert]").await;
    assert!(warning.contains("served over plain HTTP") && warning.contains("--tls-cert"), "{warning}");
    driver.screenshot("21-login-plain-http-warning").await;
    driver.fill("#username", "admin").await;
    driver.fill("#password", ADMIN_PASSWORD).await;
    driver.follow("form[action='/portal/login'] button").await;
    let refused = driver.text("[role=alert]").await;
    assert!(refused.contains("served over plain HTTP") && !refused.contains("expired"), "{refused}");
    plain.shutdown().await;

    let files = common::TempDir::new("portal-tls");
    let (cert, key, _) = common::self_signed(&files.0, &lan.to_string());
    let tls = Some(greenlight_server::config::TlsFiles { cert, key });
    let https = TestServer::start_custom(Db::Sqlite, true, move |config, _| {
        config.listen = any;
        config.tls = tls;
    })
    .await;
    let port = https.base.rsplit(':').next().expect("port").to_owned();
    driver.go(&format!("https://{lan}:{port}/portal/login")).await;
    driver.check_page("login over HTTPS").await;
    assert_eq!(driver.script("return location.protocol").await, json!("https:"));
    assert_eq!(driver.script("return document.querySelectorAll('[role=alert]').length").await, json!(0), "no warning");
    driver.fill("#username", "admin").await;
    driver.fill("#password", ADMIN_PASSWORD).await;
    driver.follow("form[action='/portal/login'] button").await;
    assert!(driver.text("main").await.contains("You are logged in as admin"), "logged in over HTTPS");
    driver.screenshot("22-logged-in-over-https").await;
    driver.call("DELETE", &driver.at(""), Value::Null).await;
}
