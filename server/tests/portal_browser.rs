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
    let line = log.lines().find(|l| l.contains("code issued")).unwrap_or_else(|| panic!("issuing is audited: {log}"));
    assert!(line.contains("admin") && line.contains(&handle), "{line}");
    assert!(!log.contains(&code) && !log.contains(&code.replace('-', "")), "the code itself is never logged");
    driver.check_page("audit").await;
    driver.screenshot("05-audit-log").await;

    // Publish a policy: a wrong value first, then a good one.
    driver.follow("nav a[href='/portal/policy']").await;
    driver.check_page("policy").await;
    driver.fill("#red_days", "40").await;
    driver.follow("form[action='/portal/policy'] button").await;
    assert!(driver.text("#red_days-error").await.contains("1 to 28"));
    driver.screenshot("06-policy-error").await;
    driver.fill("#red_days", "7").await;
    driver.follow("form[action='/portal/policy'] button").await;
    let notice = driver.text("[role=status]").await;
    assert!(notice.contains("Policy 1 is signed"), "{notice}");
    driver.screenshot("07-policy-published").await;

    let bytes = server.get("/v1/index").await.bytes().await.expect("index");
    let index = Index::verify(&bytes, &TrustedKeys::from_keys([server.export_key()])).expect("signed");
    let entry = &index.entries_after(FileKind::ColorPolicy, 0)[0];
    let file = server.get(&format!("/v1/files/{}", hex::encode(entry.sha256))).await.bytes().await.expect("file");
    let authority = TrustedKeys::from_keys([server.authority_state().keys.signing.verifying_key()]);
    let policy = ColorPolicy::verify(&file, &authority).expect("signed by the authority");
    assert_eq!(policy.params().red_days, 7);

    driver.follow("header form button").await;
    assert!(driver.text("main").await.contains("User name"), "logged out");
    driver.call("DELETE", &driver.at(""), Value::Null).await;
}
