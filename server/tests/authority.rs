//! The health authority as its staff and residents' phones meet it, in the
//! same process as the real key server, once on SQLite and once on the real
//! PostgreSQL: upload codes through certificates to published keys, the
//! ways a code, token or certificate is refused, guessing limits, chaff,
//! roles, CSRF, sessions, venue alerts and the color policy.

mod common;

use common::{ADMIN_PASSWORD, Db, Key, Portal, TestServer, between, keys};
use greenlight_protocol::certificate::{UploadHmacKey, UploadedKey, upload_hmac};
use greenlight_protocol::checkin::{CheckInDayKey, VenueMatcher};
use greenlight_protocol::codec::to_base64url;
use greenlight_protocol::export::ExportBatch;
use greenlight_protocol::index::{FileKind, Index};
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::report::ReportType;
use greenlight_protocol::signing::TrustedKeys;
use greenlight_protocol::time::DayNumber;
use greenlight_protocol::trace::{RELEASE_BUNDLE_MAGIC, ReleaseRequest, RevealedCheckIn, TraceBatch};
use greenlight_protocol::trust::Purpose;
use greenlight_protocol::venue::{Epoch, Poster, PosterEpoch, VenueInfo, VenueKind, VenueMasterSecret};
use greenlight_testkit::CodeKind;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

common::on_both_databases!(
    a_code_becomes_a_certificate_and_the_upload_is_published,
    expired_used_unknown_and_malformed_codes_are_refused,
    tokens_work_once_and_expire,
    certificates_bind_the_upload_and_forged_ones_are_refused,
    guessing_short_codes_exhausts_the_hourly_budget,
    a_token_is_locked_after_five_bad_requests,
    device_answers_have_one_size_and_chaff_touches_nothing,
    the_daily_quota_stops_issuing_and_staff_can_expire_codes,
    roles_are_enforced_and_nobody_grants_above_their_own,
    forms_without_a_valid_csrf_token_change_nothing,
    sessions_end_when_idle_too_old_or_logged_out,
    wrong_passwords_lock_an_account,
    a_revealed_check_in_is_traced_with_the_owners_release,
    a_paper_guest_list_is_traced_the_same_way,
    policy_versions_are_checked_signed_published_and_kept,
    a_policy_is_published_only_after_its_preview_is_confirmed,
    the_policy_form_sets_each_venue_kinds_overlap,
    the_database_holds_no_code_token_or_patient_data,
    only_x_chaff_1_is_chaff_and_other_values_touch_nothing,
    device_requests_must_be_sent_as_json,
    a_lost_answer_burns_no_code,
    a_dismissed_visit_leaves_the_authoritys_database_for_good,
);

/// Yesterday (the test day is 2026-05-10): the test date of every code.
const TEST_DATE: &str = "2026-05-09";

async fn admin(server: &TestServer) -> Portal {
    let portal = Portal::new(&server.base).expect("portal client");
    let answer = portal.login("admin", ADMIN_PASSWORD).await.expect("the portal answers");
    assert_eq!((answer.status, answer.location.as_deref()), (303, Some("/portal")), "{}", answer.body);
    portal
}

/// Issues a code through the portal; returns (code as shown, reference).
async fn issue(portal: &Portal, kind: &str) -> (String, String) {
    let kind = match kind {
        "short" => CodeKind::Short,
        "long" => CodeKind::Long,
        other => panic!("no code kind {other:?}"),
    };
    // The kit requires a 200 and reads the code and its reference off the page.
    let issued = portal.issue_code(kind, TEST_DATE).await.expect("the code is issued and shown with its reference");
    (issued.code, issued.handle)
}

/// A device call: status, JSON body, body size, headers (without `date`).
async fn device(
    server: &TestServer,
    path: &str,
    body: &Value,
    chaff: bool,
) -> (u16, Value, usize, Vec<(String, String)>) {
    let mut request = server.client.post(format!("{}{path}", server.base)).json(body);
    if chaff {
        request = request.header("X-Chaff", "1");
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(k, _)| *k != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    headers.sort();
    let bytes = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes.len(), headers)
}

async fn verify(server: &TestServer, code: &str) -> (u16, Value) {
    let (status, body, _, _) = device(server, "/v1/verify", &json!({ "code": code, "padding": "" }), false).await;
    (status, body)
}

/// What the phone computes before asking for a certificate.
fn hmac_for(keys: &[Key], checkins: &[Vec<u8>], seed: u64) -> (UploadHmacKey, String) {
    let key = UploadHmacKey::generate(&mut ChaCha20Rng::seed_from_u64(seed));
    let uploaded: Vec<UploadedKey> = keys.iter().map(Key::uploaded).collect();
    let refs: Vec<&[u8]> = checkins.iter().map(Vec::as_slice).collect();
    let hmac = upload_hmac(&key, &uploaded, &refs).expect("hmac");
    (key, to_base64url(&hmac))
}

async fn certify(server: &TestServer, token: &str, hmac: &str) -> (u16, Value) {
    let body = json!({ "token": token, "upload_hmac": hmac, "padding": "" });
    let (status, body, _, _) = device(server, "/v1/certificate", &body, false).await;
    (status, body)
}

fn publish_body(keys: &[Key], checkins: &[Vec<u8>], certificate: &str, hmac_key: &UploadHmacKey) -> Value {
    json!({
        "keys": keys.iter().map(|k| json!({"key": to_base64url(&k.bytes), "day": k.day, "transmission_risk": k.risk})).collect::<Vec<_>>(),
        "revealed_checkins": checkins.iter().map(|c| to_base64url(c)).collect::<Vec<_>>(),
        "certificate": certificate,
        "hmac_key": to_base64url(hmac_key.expose_secret()),
    })
}

/// The whole phone side: verify the code, certify the upload, publish it.
async fn report(server: &TestServer, code: &str, keys: &[Key], checkins: &[Vec<u8>]) -> (u16, Value) {
    let (status, verified) = verify(server, code).await;
    assert_eq!(status, 200, "{verified}");
    let (hmac_key, hmac) = hmac_for(keys, checkins, 99);
    let (status, certified) = certify(server, verified["token"].as_str().expect("token"), &hmac).await;
    assert_eq!(status, 200, "{certified}");
    server
        .post(&publish_body(keys, checkins, certified["certificate"].as_str().expect("certificate"), &hmac_key))
        .await
        .pipe(|(status, body, _)| (status, body))
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

/// The authority's key of `purpose` (protocol §2.3).
fn authority_key(server: &TestServer, purpose: Purpose) -> TrustedKeys {
    TrustedKeys::from_keys([server.authority_state().keys.for_purpose(purpose).verifying_key()])
}

fn export_keys(server: &TestServer) -> TrustedKeys {
    TrustedKeys::from_keys([server.export_key()])
}

/// Every file of `kind` the index lists, checked against its entry.
async fn listed(server: &TestServer, kind: FileKind) -> Vec<Vec<u8>> {
    let bytes = server.get("/v1/index").await.bytes().await.expect("index");
    let index = Index::verify(&bytes, &export_keys(server)).expect("signed index");
    let mut files = Vec::new();
    for entry in index.entries_after(kind, 0) {
        let file = server.get(&format!("/v1/files/{}", hex::encode(entry.sha256))).await.bytes().await.expect("file");
        entry.check(&file).expect("matches its entry");
        files.push(file.to_vec());
    }
    files
}

async fn a_code_becomes_a_certificate_and_the_upload_is_published(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let (code, handle) = issue(&portal, "short").await;
    assert_eq!(code.len(), 9, "shown as two groups of four digits: {code}");

    let (status, verified) = verify(&server, &code).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["report_type"], "confirmed_test");
    assert_eq!(verified["day_kind"], "test_date");
    assert_eq!(verified["date"], TEST_DATE);
    assert_eq!(verified["token"].as_str().map(str::len), Some(43));

    let uploaded = keys(40, 3, server.clock.now().day());
    let (hmac_key, hmac) = hmac_for(&uploaded, &[], 1);
    let (status, certified) = certify(&server, verified["token"].as_str().expect("token"), &hmac).await;
    assert_eq!(status, 200, "{certified}");
    let certificate = certified["certificate"].as_str().expect("certificate");
    assert_eq!(certificate.len(), 202);
    assert_eq!(certified["expires_at"], server.clock.now().0 + 900, "valid for 15 minutes");

    // The key server in the same process trusts the authority's key.
    let (status, published, _) = server.post(&publish_body(&uploaded, &[], certificate, &hmac_key)).await;
    assert_eq!(status, 200, "{published}");
    server.seal().await.expect("sealed");
    let batches = listed(&server, FileKind::ExportBatch).await;
    let batch = ExportBatch::verify(&batches[0], &export_keys(&server)).expect("signed batch");
    for key in &uploaded {
        let record = batch.records().iter().find(|r| r.key.0 == key.bytes).expect("published");
        assert_eq!(record.report_type, ReportType::ConfirmedTest, "the report type comes from the code");
    }

    // Staff see the code used, and the day's numbers.
    let status = portal.get(&format!("/portal/codes?handle={handle}")).await.expect("the portal answers");
    assert!(between(&status.body, "id=\"code-status\">", "</p>").expect("status").contains("used by a phone"));
    let stats = portal.get("/portal/stats").await.expect("the portal answers");
    let today = between(&stats.body, "<th scope=\"row\">2026-05-10</th>", "</tr>").expect("today's row");
    assert_eq!(today.matches("<td>1</td>").count(), 3, "1 short code issued, claimed, certified: {today}");
}

async fn expired_used_unknown_and_malformed_codes_are_refused(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let (short, _) = issue(&portal, "short").await;
    let (long, _) = issue(&portal, "long").await;
    let (used, _) = issue(&portal, "short").await;
    assert_eq!(verify(&server, &used).await.0, 200);
    let (status, body) = verify(&server, &used).await;
    assert_eq!((status, body["status"].as_str()), (409, Some("code_used")), "{body}");

    let (status, body) = verify(&server, "0000 0000").await;
    assert_eq!((status, body["status"].as_str()), (403, Some("code_invalid")));
    for malformed in ["1234", "not a code at all", "ABCD-EFGH-IJKL-MNOU"] {
        let (status, body) = verify(&server, malformed).await;
        assert_eq!((status, body["status"].as_str()), (400, Some("invalid_code")), "{malformed}");
    }
    let (status, body, _, _) = device(&server, "/v1/verify", &json!({ "kode": short }), false).await;
    assert_eq!((status, body["status"].as_str()), (400, Some("invalid_json")));

    // Short codes live 15 minutes, long ones 24 hours.
    server.clock.advance(15 * 60);
    let (status, body) = verify(&server, &short).await;
    assert_eq!((status, body["status"].as_str()), (403, Some("code_expired")), "{body}");
    assert!(body["message"].as_str().expect("message").contains("new one"));
    server.clock.advance(24 * 3600 - 15 * 60 - 1);
    // Lower case and without dashes still reads.
    let (status, body) = verify(&server, &long.to_lowercase().replace('-', "")).await;
    assert_eq!(status, 200, "a long code still works just before 24 hours: {body}");
}

async fn tokens_work_once_and_expire(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let uploaded = keys(41, 2, server.clock.now().day());
    let (_, hmac) = hmac_for(&uploaded, &[], 2);

    let (code, _) = issue(&portal, "long").await;
    let token = verify(&server, &code).await.1["token"].as_str().expect("token").to_owned();
    assert_eq!(certify(&server, &token, &hmac).await.0, 200);
    // Another upload with the same token is refused (the same upload asked
    // again is certified again: `a_lost_answer_burns_no_code`).
    let (_, other_hmac) = hmac_for(&uploaded, &[], 20);
    let (status, body) = certify(&server, &token, &other_hmac).await;
    assert_eq!((status, body["status"].as_str()), (409, Some("token_used")));

    let (status, body) = certify(&server, "made-up-token-made-up-token-made-up-token00", &hmac).await;
    assert_eq!((status, body["status"].as_str()), (403, Some("token_invalid")));

    let (code, _) = issue(&portal, "long").await;
    let token = verify(&server, &code).await.1["token"].as_str().expect("token").to_owned();
    server.clock.advance(24 * 3600);
    let (status, body) = certify(&server, &token, &hmac).await;
    assert_eq!((status, body["status"].as_str()), (403, Some("token_expired")));
}

async fn certificates_bind_the_upload_and_forged_ones_are_refused(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let today = server.clock.now().day();
    let uploaded = keys(42, 2, today);
    let (hmac_key, hmac) = hmac_for(&uploaded, &[], 3);
    let (code, _) = issue(&portal, "short").await;
    let token = verify(&server, &code).await.1["token"].as_str().expect("token").to_owned();
    let certificate = certify(&server, &token, &hmac).await.1["certificate"].as_str().expect("certificate").to_owned();

    // Wrong HMAC: the certificate was issued for other keys.
    let others = keys(43, 2, today);
    let (status, body, _) = server.post(&publish_body(&others, &[], &certificate, &hmac_key)).await;
    assert_eq!((status, body["status"].as_str()), (403, Some("hmac_mismatch")));

    // Wrong signature: one character of the signature changed.
    let mut forged = certificate.clone().into_bytes();
    forged[150] = if forged[150] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    let (status, body, _) = server.post(&publish_body(&uploaded, &[], &forged, &hmac_key)).await;
    assert_eq!((status, body["status"].as_str()), (401, Some("invalid_certificate")), "{body}");

    // Expired: certificates live 15 minutes.
    server.clock.advance(15 * 60);
    let (status, body, _) = server.post(&publish_body(&uploaded, &[], &certificate, &hmac_key)).await;
    assert_eq!((status, body["status"].as_str()), (403, Some("certificate_expired")));
    assert_eq!(server.stored_keys().await, 0);
}

async fn guessing_short_codes_exhausts_the_hourly_budget(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    // 12:50: the code (valid 15 minutes) outlives the hour.
    server.clock.set(common::T0 + 50 * 60);
    let portal = admin(&server).await;
    let (code, _) = issue(&portal, "short").await;
    let (long, _) = issue(&portal, "long").await;
    // 100 wrong guesses (the default budget per hour) …
    let mut refused = 0;
    for guess in 0..100u32 {
        let guess = format!("{:08}", 10_000_000 + guess * 7919);
        if guess == code.replace(' ', "") {
            continue;
        }
        let (status, body) = verify(&server, &guess).await;
        assert_eq!((status, body["status"].as_str()), (403, Some("code_invalid")));
        refused += 1;
    }
    assert!(refused >= 99);
    if refused == 99 {
        assert_eq!(verify(&server, "99999999").await.0, 403);
    }
    // … and even the right short code is refused for the rest of the hour.
    let (status, body) = verify(&server, &code).await;
    assert_eq!((status, body["status"].as_str()), (429, Some("too_many_attempts")), "{body}");
    // Long codes (2^80 of them) are not part of that budget.
    assert_eq!(verify(&server, &long).await.0, 200);
    // The next hour the budget is fresh, and the code (valid 15 minutes)
    // is still unused.
    server.clock.set(common::T0 - common::T0 % 3600 + 3600);
    let (status, body) = verify(&server, &code).await;
    assert_eq!(status, 200, "{body}");
}

async fn a_token_is_locked_after_five_bad_requests(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let (code, _) = issue(&portal, "short").await;
    let token = verify(&server, &code).await.1["token"].as_str().expect("token").to_owned();
    for _ in 0..5 {
        let (status, body) = certify(&server, &token, "not an hmac").await;
        assert_eq!((status, body["status"].as_str()), (400, Some("invalid_hmac")));
    }
    let (_, hmac) = hmac_for(&keys(44, 1, server.clock.now().day()), &[], 4);
    let (status, body) = certify(&server, &token, &hmac).await;
    assert_eq!((status, body["status"].as_str()), (429, Some("too_many_attempts")), "{body}");
}

async fn device_answers_have_one_size_and_chaff_touches_nothing(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let (code, _) = issue(&portal, "short").await;
    let (_, hmac) = hmac_for(&keys(45, 1, server.clock.now().day()), &[], 5);

    let request = json!({ "code": code, "padding": "" });
    let (chaff_status, chaff, chaff_size, chaff_headers) = device(&server, "/v1/verify", &request, true).await;
    let (status, real, size, headers) = device(&server, "/v1/verify", &request, false).await;
    assert_eq!((chaff_status, chaff_size, &chaff_headers), (status, size, &headers), "chaff looks like a success");
    assert_eq!(size, 512);
    assert_eq!(chaff["token"].as_str().map(str::len), real["token"].as_str().map(str::len));
    // The chaff did not claim the code: the real request did.
    let (status, _, size, _) = device(&server, "/v1/verify", &request, false).await;
    assert_eq!((status, size), (409, 512));
    let (status, _, size, _) = device(&server, "/v1/verify", &json!({ "code": "x" }), false).await;
    assert_eq!((status, size), (400, 512));

    let token = real["token"].as_str().expect("token");
    let request = json!({ "token": token, "upload_hmac": hmac, "padding": "" });
    let (chaff_status, chaff, chaff_size, chaff_headers) = device(&server, "/v1/certificate", &request, true).await;
    let (status, real, size, headers) = device(&server, "/v1/certificate", &request, false).await;
    assert_eq!((chaff_status, chaff_size, &chaff_headers), (status, size, &headers));
    assert_eq!(chaff["certificate"].as_str().map(str::len), Some(202));
    assert_eq!(real["certificate"].as_str().map(str::len), Some(202));
    let (_, other_hmac) = hmac_for(&keys(45, 1, server.clock.now().day()), &[], 6);
    let other = json!({ "token": token, "upload_hmac": other_hmac, "padding": "" });
    let (status, _, size, _) = device(&server, "/v1/certificate", &other, false).await;
    assert_eq!((status, size), (409, 512));

    // Only real requests were counted.
    let stats = portal.get("/portal/stats").await.expect("the portal answers");
    let today = between(&stats.body, "<th scope=\"row\">2026-05-10</th>", "</tr>").expect("row");
    assert_eq!(today.matches("<td>1</td>").count(), 3, "{today}");
}

async fn the_daily_quota_stops_issuing_and_staff_can_expire_codes(db: Db) {
    let server = TestServer::start_custom(db, true, |_, a| a.settings.daily_code_quota = 2).await;
    let portal = admin(&server).await;
    // Bad input issues nothing (and uses none of the quota).
    for (field, value) in [("date", "2026-05-11"), ("date", "2026-04-20"), ("date", "soon"), ("kind", "medium")] {
        let mut form = vec![("kind", "short"), ("report_type", "1"), ("day_kind", "2"), ("date", TEST_DATE)];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let page = portal.post("/portal/codes", &form).await.expect("the portal answers");
        assert_eq!(page.status, 400, "{field}={value}");
        assert!(page.body.contains("No code was issued"));
    }

    let (code, handle) = issue(&portal, "short").await;
    // The code was shown once, after a redirect: showing the page again
    // issues nothing and shows no code (issue 21 item 19).
    let again = portal.get("/portal/codes/issued").await.expect("the portal answers");
    assert_eq!(again.status, 404, "{}", again.body);
    assert!(!again.body.contains(&code) && again.body.contains("shown only once"), "{}", again.body);
    issue(&portal, "long").await;
    let refused = portal
        .post("/portal/codes", &[("kind", "short"), ("report_type", "1"), ("day_kind", "2"), ("date", TEST_DATE)])
        .await
        .expect("the portal answers");
    assert_eq!(refused.status, 429);
    assert!(refused.body.contains("quota of 2 codes is used up"), "{}", refused.body);

    let expired = portal.post("/portal/codes/expire", &[("handle", &handle)]).await.expect("the portal answers");
    assert_eq!((expired.status, expired.location.as_deref()), (303, Some("/portal/codes")), "{}", expired.body);
    let page = portal.get("/portal/codes").await.expect("the portal answers");
    assert!(page.body.contains(&format!("Code {handle} has expired")), "said once after the redirect: {}", page.body);
    let again = portal.get("/portal/codes").await.expect("the portal answers");
    assert!(!again.body.contains("has expired; it can no longer"), "a reload says it no more");
    assert_eq!(verify(&server, &code).await.1["status"], "code_expired");
    assert_eq!(
        portal.post("/portal/codes/expire", &[("handle", &handle)]).await.expect("the portal answers").status,
        409,
        "only once"
    );
    let audit = portal.get("/portal/audit").await.expect("the portal answers").body;
    assert!(audit.contains("code expired") && audit.contains(&handle), "{audit}");
}

async fn roles_are_enforced_and_nobody_grants_above_their_own(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let admin = admin(&server).await;
    // An admin creates accounts; each gets a one-time password.
    let mut passwords = std::collections::BTreeMap::new();
    for (name, roles) in [("ivy", vec!["issuer"]), ("otto", vec!["auditor"]), ("ada", vec!["admin", "issuer"])] {
        let mut form = vec![("username", name)];
        let boxes: Vec<String> = roles.iter().map(|r| format!("role_{r}")).collect();
        form.extend(boxes.iter().map(|b| (b.as_str(), "on")));
        let page = admin.post("/portal/staff", &form).await.expect("the portal answers");
        assert_eq!((page.status, page.location.as_deref()), (303, Some("/portal/staff")), "{}", page.body);
        let page = admin.get("/portal/staff").await.expect("the portal answers");
        let password = between(&page.body, "id=\"one-time-password\">", "<").expect("one-time password").to_owned();
        passwords.insert(name, password);
    }
    let login = |name: &'static str| {
        let password = passwords[name].clone();
        let base = server.base.clone();
        async move {
            let portal = Portal::new(&base).expect("portal client");
            let answer = portal.login(name, &password).await.expect("the portal answers");
            assert_eq!(answer.location.as_deref(), Some("/portal/password"), "a one-time password must be changed");
            let changed = portal
                .post(
                    "/portal/password",
                    &[("current", &password), ("new", "a long new password"), ("repeat", "a long new password")],
                )
                .await
                .expect("the portal answers");
            assert_eq!((changed.status, changed.location.as_deref()), (303, Some("/portal")), "{}", changed.body);
            portal.get("/portal").await.expect("the portal answers");
            portal
        }
    };
    let ivy = login("ivy").await;
    assert_eq!(
        ivy.get("/portal/staff").await.expect("the portal answers").status,
        403,
        "an issuer cannot manage staff"
    );
    assert_eq!(
        ivy.post("/portal/staff", &[("username", "eve"), ("role_admin", "on")])
            .await
            .expect("the portal answers")
            .status,
        403
    );
    assert_eq!(ivy.get("/portal/audit").await.expect("the portal answers").status, 403);
    assert_eq!(ivy.get("/portal/policy").await.expect("the portal answers").status, 403);
    assert_eq!(ivy.get("/portal/venues").await.expect("the portal answers").status, 403);
    issue(&ivy, "short").await;

    let otto = login("otto").await;
    assert_eq!(
        otto.get("/portal/codes").await.expect("the portal answers").status,
        403,
        "an auditor cannot issue codes"
    );
    let page = otto
        .post("/portal/codes", &[("kind", "short"), ("report_type", "1"), ("day_kind", "2"), ("date", TEST_DATE)])
        .await
        .expect("the portal answers");
    assert_eq!(page.status, 403);
    assert!(page.body.contains("does not have the issuer role"));
    assert_eq!(otto.get("/portal/audit").await.expect("the portal answers").status, 200);

    // Ada is an admin without the tracer and auditor roles: she cannot
    // grant them, nor touch an account that holds them.
    let ada = login("ada").await;
    assert_eq!(
        ada.post("/portal/staff", &[("username", "tom"), ("role_tracer", "on")])
            .await
            .expect("the portal answers")
            .status,
        403
    );
    assert_eq!(
        ada.post("/portal/staff", &[("username", "ian"), ("role_issuer", "on")])
            .await
            .expect("the portal answers")
            .status,
        303
    );
    let otto_id = staff_id(&server, "otto").await;
    let page =
        ada.post("/portal/staff/roles", &[("id", &otto_id), ("role_issuer", "on")]).await.expect("the portal answers");
    assert_eq!(page.status, 403, "otto holds auditor, which ada does not");
    assert_eq!(
        ada.post("/portal/staff/status", &[("id", &otto_id), ("disabled", "1")])
            .await
            .expect("the portal answers")
            .status,
        403
    );
    let ivy_id = staff_id(&server, "ivy").await;
    assert_eq!(
        ada.post("/portal/staff/roles", &[("id", &ivy_id), ("role_admin", "on")])
            .await
            .expect("the portal answers")
            .status,
        303
    );
    // Nobody changes their own account here.
    let ada_id = staff_id(&server, "ada").await;
    assert_eq!(
        ada.post("/portal/staff/status", &[("id", &ada_id), ("disabled", "1")])
            .await
            .expect("the portal answers")
            .status,
        403
    );

    // Disabling an account ends its sessions at once.
    assert_eq!(
        admin
            .post("/portal/staff/status", &[("id", &otto_id), ("disabled", "1")])
            .await
            .expect("the portal answers")
            .status,
        303
    );
    assert_eq!(
        otto.get("/portal/audit").await.expect("the portal answers").location.as_deref(),
        Some("/portal/login?ended=1")
    );
    let audit = admin.get("/portal/audit").await.expect("the portal answers").body;
    for action in ["staff created", "roles changed", "staff disabled", "password changed", "code issued"] {
        assert!(audit.contains(action), "{action} is audited");
    }
}

async fn staff_id(server: &TestServer, name: &str) -> String {
    let store = &server.authority_state().store;
    store.staff_by_name(name).await.expect("db").expect("account").id.to_string()
}

async fn forms_without_a_valid_csrf_token_change_nothing(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let form = [("kind", "short"), ("report_type", "1"), ("day_kind", "2"), ("date", TEST_DATE)];
    let missing = portal.post_raw("/portal/codes", &form).await.expect("the portal answers");
    assert_eq!(missing.status, 403);
    assert!(missing.body.contains("nothing was changed"));
    let mut wrong = vec![("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")];
    wrong.extend_from_slice(&form);
    assert_eq!(portal.post_raw("/portal/codes", &wrong).await.expect("the portal answers").status, 403);
    // Another session's token does not work either.
    let other = admin_session_csrf(&server).await;
    let mut foreign = vec![("csrf", other.as_str())];
    foreign.extend_from_slice(&form);
    assert_eq!(portal.post_raw("/portal/codes", &foreign).await.expect("the portal answers").status, 403);
    assert_eq!(
        portal.post_raw("/portal/logout", &[]).await.expect("the portal answers").status,
        403,
        "logout is a form too"
    );
    let codes = server.authority_state().store.recent_codes(10).await.expect("db");
    assert!(codes.is_empty(), "no code was issued");

    // The login form needs its own cookie: a cross-site login post fails.
    let stranger = Portal::new(&server.base).expect("portal client");
    let answer = stranger
        .post_raw("/portal/login", &[("csrf", "x"), ("username", "admin"), ("password", ADMIN_PASSWORD)])
        .await
        .expect("the portal answers");
    assert_eq!(answer.status, 403);
    assert!(stranger.cookie("gl_session").is_none());
    // A pair the attacker made up (cookie `x`, field `x`) is refused too,
    // and so is a well-formed token not made by this server or expired
    // (issue 19 item 11).
    let jarless = reqwest::Client::new();
    let shown = stranger.get("/portal/login").await.expect("the portal answers");
    let real = between(&shown.body, "name=\"csrf\" value=\"", "\"").expect("token").to_owned();
    let mut forged_tag = greenlight_protocol::codec::from_base64url(&real).expect("base64url");
    let last = forged_tag.len() - 1;
    forged_tag[last] ^= 1;
    let forged_tag = to_base64url(&forged_tag);
    for made_up in ["x", forged_tag.as_str()] {
        let answer = jarless
            .post(format!("{}/portal/login", server.base))
            .header("cookie", format!("__Host-gl_login={made_up}"))
            .form(&[("csrf", made_up), ("username", "admin"), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .expect("the portal answers");
        assert_eq!(answer.status(), 403, "a made-up login pair {made_up:?} was accepted");
    }
    let page = jarless.get(format!("{}/portal/login", server.base)).send().await.expect("login page");
    let login_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .find(|c| c.contains("gl_login="))
        .expect("the login page sets its cookie");
    assert!(
        login_cookie.starts_with("__Host-gl_login=")
            && login_cookie.contains("Path=/;")
            && login_cookie.contains("Secure")
            && !login_cookie.contains("Domain"),
        "{login_cookie}"
    );
    // With the token the same form works.
    assert_eq!(portal.post("/portal/codes", &form).await.expect("the portal answers").status, 303);
    // A real token, once its hour is over, is refused.
    server.clock.advance(3601);
    let stale = jarless
        .post(format!("{}/portal/login", server.base))
        .header("cookie", format!("__Host-gl_login={real}"))
        .form(&[("csrf", real.as_str()), ("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("the portal answers");
    assert_eq!(stale.status(), 403, "a login form older than an hour is refused");
}

async fn admin_session_csrf(server: &TestServer) -> String {
    let other = admin(server).await;
    let token = other.csrf();
    assert!(!token.is_empty());
    token
}

async fn sessions_end_when_idle_too_old_or_logged_out(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let cookie = portal.cookie("gl_session").expect("session cookie");
    assert_eq!(portal.get("/portal").await.expect("the portal answers").status, 200);

    // Cookie attributes: HttpOnly, SameSite=Strict; not Secure on loopback.
    let probe = Portal::new(&server.base).expect("portal client");
    let form = probe.get("/portal/login").await.expect("the portal answers");
    let token = between(&form.body, "name=\"csrf\" value=\"", "\"").expect("token").to_owned();
    let response = probe
        .http()
        .post(format!("{}/portal/login", server.base))
        .header("cookie", format!("__Host-gl_login={token}"))
        .form(&[("csrf", token.as_str()), ("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("login");
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect::<Vec<_>>();
    let session = set.iter().find(|c| c.starts_with("gl_session=")).expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict") && !session.contains("Secure"),
        "{session}"
    );

    // 29 minutes idle is fine; 30 more ends the session.
    server.clock.advance(29 * 60);
    assert_eq!(portal.get("/portal").await.expect("the portal answers").status, 200);
    server.clock.advance(30 * 60);
    let ended = portal.get("/portal").await.expect("the portal answers");
    assert_eq!(ended.location.as_deref(), Some("/portal/login?ended=1"));
    assert!(
        portal.get("/portal/login?ended=1").await.expect("the portal answers").body.contains("Your session has ended")
    );

    // Active, a session still ends 12 hours after login.
    let portal = admin(&server).await;
    for _ in 0..24 {
        server.clock.advance(29 * 60);
        assert_eq!(portal.get("/portal").await.expect("the portal answers").status, 200);
    }
    server.clock.advance(29 * 60);
    assert_eq!(portal.get("/portal").await.expect("the portal answers").status, 303);

    // Logout ends it for good: the old cookie is worthless.
    let portal = admin(&server).await;
    let cookie_before = portal.cookie("gl_session").expect("cookie");
    let out = portal.post("/portal/logout", &[]).await.expect("the portal answers");
    assert_eq!(out.location.as_deref(), Some("/portal/login"));
    let replay = Portal::new(&server.base).expect("portal client");
    replay.set_cookie("gl_session", &cookie_before);
    assert_eq!(replay.get("/portal").await.expect("the portal answers").status, 303);
    replay.set_cookie("gl_session", &cookie);
    assert_eq!(replay.get("/portal").await.expect("the portal answers").status, 303);
}

async fn wrong_passwords_lock_an_account(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = Portal::new(&server.base).expect("portal client");
    for _ in 0..5 {
        let answer = portal.login("admin", "not the password").await.expect("the portal answers");
        assert_eq!(answer.status, 401);
        assert!(answer.body.contains("Wrong user name or password"));
    }
    let answer = portal.login("admin", ADMIN_PASSWORD).await.expect("the portal answers");
    assert_eq!(answer.status, 401, "locked, even with the right password");
    assert!(answer.body.contains("locked for 15 minutes"));
    assert_eq!(portal.login("nobody", "whatever").await.expect("the portal answers").status, 401);
    server.clock.advance(15 * 60);
    assert_eq!(portal.login("admin", ADMIN_PASSWORD).await.expect("the portal answers").status, 303);
    let audit = portal.get("/portal/audit").await.expect("the portal answers").body;
    assert!(audit.contains("login failed") && audit.contains("wrong password") && audit.contains("unknown account"));
    assert!(!audit.contains("not the password"), "typed passwords are never logged");
}

/// A venue with printed daily posters sealed to the server's authority.
struct Venue {
    master: VenueMasterSecret,
    log: Vec<PosterEpoch>,
    rng: ChaCha20Rng,
}

impl Venue {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        Venue { master: VenueMasterSecret::generate(&mut rng), log: Vec::new(), rng }
    }

    fn poster(&mut self, server: &TestServer, day: DayNumber) -> Poster {
        let epoch = Epoch::new(day.start(), 24 * 60).expect("epoch");
        let public = server.authority_state().keys.trace.public_key();
        let opened = self.master.open_epoch(epoch, &public, &mut self.rng).expect("opens");
        self.log.push(opened);
        let info = VenueInfo { name: "Café Aurora".into(), address: "Main St 5".into(), kind: VenueKind::Restaurant };
        self.master.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster")
    }

    /// The owner's tool: checks the authority's request, releases.
    fn release(&self, server: &TestServer, request: &[u8]) -> String {
        let request =
            ReleaseRequest::verify(request, &authority_key(server, Purpose::Tracing)).expect("a genuine request");
        to_base64url(&self.master.release(&request, &self.log).expect("release"))
    }
}

/// Opens the case's request, checks it with the owner, returns the request.
async fn sign_request(portal: &Portal, case: &str) -> Vec<u8> {
    let page = portal.post(&format!("{case}/request"), &[]).await.expect("the portal answers");
    assert_eq!(page.status, 303, "{}", page.body);
    portal.download(&format!("{case}/request.bin")).await.expect("download")
}

async fn a_revealed_check_in_is_traced_with_the_owners_release(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let yesterday = server.clock.now().day().minus(1);
    let mut venue = Venue::new(7);
    let poster = venue.poster(&server, yesterday);
    let arrival = yesterday.start().plus(18 * 3600);
    let departure = yesterday.start().plus(20 * 3600);

    // A visitor checked in; another person (the case) reveals the same epoch.
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let visitor_key = CheckInDayKey::generate(yesterday, &mut rng);
    let visitor = poster.check_in(&visitor_key, arrival.plus(3600), departure.plus(3600), &mut rng).expect("check in");
    let revealed = RevealedCheckIn { poster: poster.clone(), arrival, departure }.to_bytes();
    let (code, _) = issue(&portal, "short").await;
    let (status, body) = report(&server, &code, &keys(46, 2, server.clock.now().day()), &[revealed]).await;
    assert_eq!(status, 200, "{body}");

    // The tracer sees it in the queue and opens a case.
    let queue = portal.get("/portal/venues").await.expect("the portal answers");
    assert!(queue.body.contains("Café Aurora") && queue.body.contains("18:00 – 20:00"), "{}", queue.body);
    let venue_hex = hex::encode(poster.venue_key().as_bytes());
    let opened = portal.post("/portal/venues/open", &[("venue", &venue_hex)]).await.expect("the portal answers");
    assert_eq!(opened.status, 303, "{}", opened.body);
    let case = opened.location.expect("case page");
    assert!(
        !portal.get("/portal/venues").await.expect("the portal answers").body.contains("Open a case for Café Aurora"),
        "reviewed"
    );

    let request = sign_request(&portal, &case).await;
    let bundle = venue.release(&server, &request);

    // A release whose owner share is wrong (here: another epoch's) fails.
    let epoch = *poster.poster_epoch();
    let mut body = vec![1u8];
    body.extend_from_slice(poster.venue_key().as_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&epoch.to_bytes());
    let other = Epoch::new(yesterday.minus(1).start(), 24 * 60).expect("epoch");
    body.extend_from_slice(venue.master.owner_share(&other).to_bytes().as_ref());
    let forged = greenlight_protocol::signing::seal_file(RELEASE_BUNDLE_MAGIC, &body, &venue.master.signing_key());
    let message = "A visitor later tested positive. Watch for symptoms until 2026-05-23.";
    let page = portal
        .post(&format!("{case}/publish"), &[("bundle", &to_base64url(&forged)), ("message", message)])
        .await
        .expect("the portal answers");
    assert_eq!(page.status, 400);
    assert!(page.body.contains("wrong or forged"), "{}", page.body);
    let page = portal
        .post(&format!("{case}/publish"), &[("bundle", "garbage"), ("message", message)])
        .await
        .expect("the portal answers");
    assert_eq!(page.status, 400);
    let stranger = Venue::new(9);
    let mut stranger = stranger;
    stranger.poster(&server, yesterday);
    let foreign = greenlight_protocol::signing::seal_file(RELEASE_BUNDLE_MAGIC, &body, &stranger.master.signing_key());
    let page = portal
        .post(&format!("{case}/publish"), &[("bundle", &to_base64url(&foreign)), ("message", message)])
        .await
        .expect("the portal answers");
    assert_eq!(page.status, 400, "signed by another key than the venue's");
    assert!(listed(&server, FileKind::TraceBatch).await.is_empty(), "nothing published");

    // The genuine release publishes one entry.
    let page = portal
        .post(&format!("{case}/publish"), &[("bundle", &bundle), ("message", message)])
        .await
        .expect("the portal answers");
    // Redirect-after-POST (issue 21 item 19): the case page says it once.
    assert_eq!((page.status, page.location.as_deref()), (303, Some(case.as_str())), "{}", page.body);
    let page = portal.get(&case).await.expect("the portal answers");
    assert!(page.body.contains("published in trace batch 1"));
    assert!(page.body.contains("Published: trace batch 1"), "{}", page.body);
    let reload = portal.get(&case).await.expect("the portal answers");
    assert!(!reload.body.contains("Published: trace batch 1"), "a reload repeats nothing");
    let files = listed(&server, FileKind::TraceBatch).await;
    assert_eq!(files.len(), 1);
    let batch =
        TraceBatch::verify(&files[0], &authority_key(&server, Purpose::Tracing)).expect("signed by the authority");
    assert_eq!(batch.entries.len(), 1);
    // The other visitor's phone finds it, with the overlap and the message.
    let found = VenueMatcher::new(&[visitor_key.public()], vec![visitor]).match_entries(&batch.entries);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].overlap_minutes, 60);
    assert_eq!(found[0].message, message);
    let again = portal
        .post(&format!("{case}/publish"), &[("bundle", &bundle), ("message", message)])
        .await
        .expect("the portal answers");
    assert_eq!(again.status, 409, "a case is published once");
    // The case is closed: the visit it was opened from, and its review, are
    // gone from the authority's database (issue 19 item 1).
    let rows = server.dump_everything().await;
    assert!(
        !rows.iter().any(|r| r.starts_with("authority_revealed:") || r.starts_with("checkin_reviews:")),
        "{rows:?}"
    );
    let audit = portal.get("/portal/audit").await.expect("the portal answers").body;
    assert!(
        audit.contains("venue case opened")
            && audit.contains("release request signed")
            && audit.contains("trace published")
    );
}

async fn a_paper_guest_list_is_traced_the_same_way(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let today = server.clock.now().day();
    let mut venue = Venue::new(10);
    let posters: Vec<Poster> = (2..4).map(|n| venue.poster(&server, today.minus(n))).collect();
    let text = posters.iter().map(Poster::to_text).collect::<Vec<_>>().join("\n");

    let refused =
        portal.post("/portal/venues/paper", &[("epochs", "GL1:not-a-poster")]).await.expect("the portal answers");
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("line 1"));
    // Posters of two venues do not make one case.
    let mut elsewhere = Venue::new(11);
    let foreign = elsewhere.poster(&server, today.minus(2)).to_text();
    let refused = portal
        .post("/portal/venues/paper", &[("epochs", &format!("{text}\n{foreign}"))])
        .await
        .expect("the portal answers");
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("another venue"), "{}", refused.body);

    let opened = portal.post("/portal/venues/paper", &[("epochs", &text)]).await.expect("the portal answers");
    assert_eq!(opened.status, 303, "{}", opened.body);
    let case = opened.location.expect("case");
    let page = portal.get(&case).await.expect("the portal answers");
    assert!(page.body.contains("a paper guest list") && page.body.contains("Café Aurora"));
    let request = sign_request(&portal, &case).await;
    let bundle = venue.release(&server, &request);
    let page = portal
        .post(&format!("{case}/publish"), &[("bundle", &bundle), ("message", "Guests of 7 and 8 May: get tested.")])
        .await
        .expect("the portal answers");
    assert_eq!(page.status, 303, "{}", page.body);
    let files = listed(&server, FileKind::TraceBatch).await;
    let batch = TraceBatch::verify(&files[0], &authority_key(&server, Purpose::Tracing)).expect("signed");
    assert_eq!(batch.entries.len(), 2, "one entry per epoch on the list");
    for poster in &posters {
        let entry = batch.entries.iter().find(|e| e.epoch == poster.epoch()).expect("entry");
        assert_eq!((entry.window_start, entry.window_end), (poster.epoch().start(), poster.epoch().end()));
        assert_eq!(
            entry.open_message(poster.poster_epoch()).expect("visitors read it"),
            "Guests of 7 and 8 May: get tested."
        );
    }
}

/// Posts the policy form for its preview (which publishes nothing).
async fn preview_policy(portal: &Portal, changes: &[(&'static str, &'static str)]) -> common::Page {
    let form = common::policy_form(changes);
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    portal.post("/portal/policy/preview", &fields).await.expect("the portal answers")
}

/// Previews the policy and confirms it as the preview's "Sign and
/// publish" button does; the answer to the confirmation.
async fn post_policy(portal: &Portal, changes: &[(&'static str, &'static str)]) -> common::Page {
    let preview = preview_policy(portal, changes).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    let confirm = preview.between("name=\"confirm\" value=\"", "\"").expect("a Sign and publish button").to_owned();
    let mut form = common::policy_form(changes);
    form.push(("confirm", confirm));
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    portal.post("/portal/policy", &fields).await.expect("the portal answers")
}

async fn policy_versions_are_checked_signed_published_and_kept(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let page = portal.get("/portal/policy").await.expect("the portal answers");
    assert!(page.body.contains("value=\"63\""), "prefilled with the recommended policy");
    // Before any policy is published the page says what phones use.
    assert!(page.body.contains("every phone uses the built-in default policy"), "{}", page.body);

    for (changes, field) in [
        (vec![("yellow_days", "20")], "yellow_days"),
        (vec![("t1", "60")], "t1"),
        (vec![("red_days", "0")], "red_days"),
        (vec![("w2", "ten")], "w2"),
        (vec![("stale_hours", "400")], "stale_hours"),
    ] {
        let page = preview_policy(&portal, &changes).await;
        assert_eq!(page.status, 400, "{changes:?}");
        assert!(page.body.contains(&format!("id=\"{field}-error\"")), "{field} is marked");
        assert!(page.body.contains("aria-invalid=\"true\""));
        let typed = changes[0].1;
        assert!(page.body.contains(&format!("value=\"{typed}\"")), "what was typed is kept: {typed}");
    }
    assert!(listed(&server, FileKind::ColorPolicy).await.is_empty(), "nothing invalid was published");

    let page = post_policy(&portal, &[("red_days", "7")]).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/portal/policy")), "{}", page.body);
    let shown = portal.get("/portal/policy").await.expect("the portal answers").body;
    assert!(shown.contains("Policy 1 is signed and listed"), "the notice follows the redirect");
    let again = portal.get("/portal/policy").await.expect("the portal answers").body;
    assert!(!again.contains("Policy 1 is signed and listed"), "and is shown once");
    server.clock.advance(60);
    let page = post_policy(&portal, &[("red_days", "8"), ("stale_hours", "24")]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let files = listed(&server, FileKind::ColorPolicy).await;
    assert_eq!(files.len(), 2, "every version is kept");
    let policies: Vec<ColorPolicy> = files
        .iter()
        .map(|f| ColorPolicy::verify(f, &authority_key(&server, Purpose::Policy)).expect("signed"))
        .collect();
    assert_eq!((policies[0].sequence(), policies[0].params().red_days), (1, 7));
    assert_eq!(
        (policies[1].sequence(), policies[1].params().red_days, policies[1].params().stale_after_hours),
        (2, 8, 24)
    );
    assert!(policies[1].supersedes(&policies[0]));
    // The portal shows the newest and offers each signed version.
    let page = portal.get("/portal/policy").await.expect("the portal answers");
    assert!(page.body.contains("value=\"24\""), "the form starts from the policy in force");
    assert!(page.body.contains("In force: policy 2"), "{}", page.body);
    let bytes = portal.download("/portal/policy/1").await.expect("download");
    assert_eq!(bytes, files[0]);
    // Retention keeps policies listed: phones that join later need them.
    server.clock.advance(30 * 86_400);
    greenlight_server::app::run_retention(server.state()).await;
    assert_eq!(listed(&server, FileKind::ColorPolicy).await.len(), 2);
    let portal = admin(&server).await;
    let audit = portal.get("/portal/audit").await.expect("the portal answers").body;
    assert_eq!(audit.matches("policy published").count(), 2);
}

/// Issue 22 item 5: the form sets a minimum overlap per kind of venue; a
/// policy that tells kinds apart is signed as format version 2 and the
/// preview says what changes for visitors of each kind.
async fn the_policy_form_sets_each_venue_kinds_overlap(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let page = portal.get("/portal/policy").await.expect("the portal answers");
    assert!(page.body.contains("name=\"min_venue_overlap_transit\""), "one field per kind");
    let page = preview_policy(&portal, &[("min_venue_overlap_shop", "-1")]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("id=\"min_venue_overlap_shop-error\""), "the field is marked");
    let changes = [("min_venue_overlap_shop", "0"), ("min_venue_overlap_restaurant", "30")];
    let preview = preview_policy(&portal, &changes).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(
        preview.body.contains("A visit to a venue of kind shop no longer turns a phone yellow, however long"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("A visit to a venue of kind restaurant overlapping a reported one by 30 minutes"));
    let page = post_policy(&portal, &changes).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let files = listed(&server, FileKind::ColorPolicy).await;
    let policy = ColorPolicy::verify(&files[0], &authority_key(&server, Purpose::Policy)).expect("signed");
    assert_eq!(policy.format_version(), 2);
    assert_eq!(policy.venue_overlap_minutes(VenueKind::Shop), None);
    assert_eq!(policy.venue_overlap_minutes(VenueKind::Restaurant), Some(30));
    let recommended = ColorPolicy::recommended(1, policy.params().issued_at);
    assert_eq!(policy.venue_overlap_minutes(VenueKind::Transit), recommended.venue_overlap_minutes(VenueKind::Transit));
    let page = portal.get("/portal/policy").await.expect("the portal answers").body;
    assert!(page.contains("A visit to a venue of kind shop never turns a phone yellow, however long."), "{page}");
}

/// Issue 21 item 20: the form's values are published only through the
/// preview's confirmation, for exactly the values previewed, against the
/// version in force when they were previewed.
async fn a_policy_is_published_only_after_its_preview_is_confirmed(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let preview = preview_policy(&portal, &[("min_weighted_minutes", "10")]).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(
        preview.body.contains("A contact of 10 minutes in one day at about 5 m (signal loss 62 dB) now turns a phone yellow (before: 15 minutes)."),
        "{}",
        preview.body
    );
    assert!(listed(&server, FileKind::ColorPolicy).await.is_empty(), "a preview publishes nothing");
    let tag = preview.between("name=\"confirm\" value=\"", "\"").expect("a Sign and publish button").to_owned();

    let post = |changes: Vec<(&'static str, &'static str)>, confirm: Option<String>| {
        let portal = &portal;
        async move {
            let mut form = common::policy_form(&changes);
            if let Some(confirm) = confirm {
                form.push(("confirm", confirm));
            }
            let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            portal.post("/portal/policy", &fields).await.expect("the portal answers")
        }
    };
    // The form posted straight to "publish", without a preview: the
    // preview is shown instead, and nothing is published.
    let page = post(vec![("min_weighted_minutes", "10")], None).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(page.body.contains("Nothing was published") && page.body.contains("now turns a phone yellow"));
    // The preview's confirmation for other values than previewed.
    let page = post(vec![("min_weighted_minutes", "5")], Some(tag.clone())).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(listed(&server, FileKind::ColorPolicy).await.is_empty(), "nothing unconfirmed was published");

    // Another admin's version lands between the preview and the confirmation.
    let page = post_policy(&portal, &[("red_days", "7")]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = post(vec![("min_weighted_minutes", "10")], Some(tag)).await;
    assert_eq!(page.status, 409, "a preview made against another version is stale: {}", page.body);
    assert!(page.body.contains("changed since the preview"), "{}", page.body);
    assert_eq!(listed(&server, FileKind::ColorPolicy).await.len(), 1);

    // Confirmed as previewed: published.
    let page = post_policy(&portal, &[("red_days", "7"), ("min_weighted_minutes", "10")]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let files = listed(&server, FileKind::ColorPolicy).await;
    let newest = ColorPolicy::verify(&files[1], &authority_key(&server, Purpose::Policy)).expect("signed");
    assert_eq!(newest.params().min_weighted_minutes_per_day, 10);
}

async fn the_database_holds_no_code_token_or_patient_data(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let (short, _) = issue(&portal, "short").await;
    let (long, _) = issue(&portal, "long").await;
    let token = verify(&server, &short).await.1["token"].as_str().expect("token").to_owned();
    // Every table and column, found by asking the database (not a list).
    let dump = server.dump_everything().await;
    for table in ["upload_codes", "verification_tokens", "staff", "staff_sessions", "audit_log"] {
        assert!(dump.iter().any(|r| r.starts_with(&format!("{table}:"))), "{table} is in the dump");
    }
    let rows = dump.join("\n").to_lowercase();
    // Each secret in every encoding a column could hold it in: as typed, as
    // its normal form, its bytes in hex, base64url, and the bytes a
    // base64url text stands for, in hex.
    let encodings = |text: &str| {
        let mut all = vec![text.to_owned(), hex::encode(text.as_bytes()), to_base64url(text.as_bytes())];
        if let Ok(bytes) = greenlight_protocol::codec::from_base64url(text) {
            all.push(hex::encode(bytes));
        }
        all.into_iter().map(|e| e.to_lowercase()).collect::<Vec<_>>()
    };
    let session = portal.cookie("gl_session").expect("cookie");
    for secret in
        [short.replace(' ', ""), long.replace('-', ""), long.clone(), token.clone(), ADMIN_PASSWORD.to_owned(), session]
    {
        for encoded in encodings(&secret) {
            assert!(!rows.contains(&encoded), "{secret} is stored ({encoded}):\n{rows}");
        }
    }
    let audit: Vec<&str> = rows.lines().filter(|r| r.starts_with("audit_log:")).collect();
    assert!(
        audit.iter().all(|r| !r.contains(TEST_DATE) && !r.contains("20582")),
        "no diagnosis date in the audit log: {audit:?}"
    );
}

async fn only_x_chaff_1_is_chaff_and_other_values_touch_nothing(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let (code, _) = issue(&portal, "long").await;
    let (_, hmac) = hmac_for(&keys(46, 1, server.clock.now().day()), &[], 6);
    let send = |path: &'static str, body: Value, values: &'static [&'static str]| {
        let mut request = server.client.post(format!("{}{path}", server.base)).json(&body);
        for value in values {
            request = request.header("X-Chaff", *value);
        }
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let bytes = response.bytes().await.expect("body");
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null), bytes.len())
        }
    };
    let invalid: [&'static [&'static str]; 5] = [&["0"], &["true"], &[""], &["2"], &["1", "1"]];
    let request = json!({ "code": code, "padding": "" });
    for values in invalid {
        let (status, answer, size) = send("/v1/verify", request.clone(), values).await;
        assert_eq!(
            (status, answer["status"].as_str(), size),
            (400, Some("invalid_chaff"), 512),
            "{values:?}: {answer}"
        );
    }
    // None of them claimed the code.
    let (status, verified) = verify(&server, &code).await;
    assert_eq!(status, 200, "{verified}");
    let token = verified["token"].as_str().expect("token");
    let request = json!({ "token": token, "upload_hmac": hmac, "padding": "" });
    for values in invalid {
        let (status, answer, size) = send("/v1/certificate", request.clone(), values).await;
        assert_eq!(
            (status, answer["status"].as_str(), size),
            (400, Some("invalid_chaff"), 512),
            "{values:?}: {answer}"
        );
    }
    // None of them used the token (nor counted against it).
    let (status, certified) = certify(&server, token, &hmac).await;
    assert_eq!(status, 200, "{certified}");
}

async fn device_requests_must_be_sent_as_json(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let (code, _) = issue(&portal, "short").await;
    let (_, hmac) = hmac_for(&keys(47, 1, server.clock.now().day()), &[], 7);
    let send = |path: &'static str, body: Value, content_type: Option<&'static str>, chaff: bool| {
        let mut request = server.client.post(format!("{}{path}", server.base));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if chaff {
            request = request.header("X-Chaff", "1");
        }
        let request = request.body(serde_json::to_vec(&body).expect("json"));
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let bytes = response.bytes().await.expect("body");
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null), bytes.len())
        }
    };
    // A cross-site form (text/plain, urlencoded, multipart) cannot claim a
    // code or spend the short-code budget; neither can chaff without JSON.
    let refused = [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data")];
    let request = json!({ "code": code, "padding": "" });
    for content_type in refused {
        for chaff in [false, true] {
            let (status, answer, size) = send("/v1/verify", request.clone(), content_type, chaff).await;
            assert_eq!(
                (status, answer["status"].as_str(), size),
                (415, Some("unsupported_media_type"), 512),
                "{content_type:?}, chaff {chaff}: {answer}"
            );
        }
    }
    let wrong = json!({ "code": "00000000", "padding": "" });
    for _ in 0..3 {
        assert_eq!(send("/v1/verify", wrong.clone(), Some("text/plain"), false).await.0, 415);
    }
    let now = server.authority_state().now_i64();
    let failures = server
        .authority_state()
        .store
        .counter(now - now.rem_euclid(3600), greenlight_server::authority::store::counter::SHORT_FAILURES)
        .await
        .expect("counter");
    assert_eq!(failures, 0, "refused forms spend nothing of the short-code budget");
    // The code is still there, for JSON with a charset.
    let (status, verified, _) = send("/v1/verify", request, Some("application/json; charset=utf-8"), false).await;
    assert_eq!(status, 200, "{verified}");
    let token = verified["token"].as_str().expect("token").to_owned();
    let request = json!({ "token": token, "upload_hmac": hmac, "padding": "" });
    for content_type in refused {
        let (status, answer, size) = send("/v1/certificate", request.clone(), content_type, false).await;
        assert_eq!((status, answer["status"].as_str(), size), (415, Some("unsupported_media_type"), 512), "{answer}");
    }
    let (status, certified, _) = send("/v1/certificate", request, Some("application/json"), false).await;
    assert_eq!(status, 200, "{certified}");
}

async fn verify_with_id(server: &TestServer, code: &str, request_id: &[u8; 32]) -> (u16, Value) {
    let body = json!({ "code": code, "request_id": to_base64url(request_id), "padding": "" });
    let (status, body, _, _) = device(server, "/v1/verify", &body, false).await;
    (status, body)
}

fn certificate_id(server: &TestServer, text: &str) -> [u8; 16] {
    let verified = greenlight_protocol::certificate::Certificate::verify_text(
        text,
        &authority_key(server, Purpose::Certificate),
        server.clock.now(),
    )
    .expect("a genuine certificate");
    verified.certificate().certificate_id().0
}

/// Issue 19 item 6: the phone never receives an answer, sends the same
/// request again, and gets what the lost answer held; the same upload under
/// two certificates is stored once; nobody else can use the retry.
async fn a_lost_answer_burns_no_code(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let today = server.clock.now().day();
    let uploaded = keys(47, 2, today);
    let (hmac_key, hmac) = hmac_for(&uploaded, &[], 21);

    // The answer of /v1/verify is lost: the same request gets the same token.
    let (code, _) = issue(&portal, "short").await;
    let request_id = [7u8; 32];
    let (status, first) = verify_with_id(&server, &code, &request_id).await;
    assert_eq!(status, 200, "{first}");
    server.clock.advance(60);
    let (status, again) = verify_with_id(&server, &code, &request_id).await;
    assert_eq!(status, 200, "the retry gets its token: {again}");
    assert_eq!(again["token"], first["token"]);
    assert_eq!(again["date"], first["date"]);
    // Whoever else holds the code gets nothing, with or without an id.
    let (status, body) = verify_with_id(&server, &code, &[8u8; 32]).await;
    assert_eq!((status, body["status"].as_str()), (409, Some("code_used")), "{body}");
    let (status, body) = verify(&server, &code).await;
    assert_eq!((status, body["status"].as_str()), (409, Some("code_used")), "{body}");
    let bad = json!({ "code": code, "request_id": "short", "padding": "" });
    let (status, body, _, _) = device(&server, "/v1/verify", &bad, false).await;
    assert_eq!((status, body["status"].as_str()), (400, Some("invalid_request_id")), "{body}");

    // The answer of /v1/certificate is lost: the same token and upload get a
    // certificate with the same id; publishing with both stores it once.
    let token = first["token"].as_str().expect("token");
    let (status, certified) = certify(&server, token, &hmac).await;
    assert_eq!(status, 200, "{certified}");
    server.clock.advance(60);
    let (status, recertified) = certify(&server, token, &hmac).await;
    assert_eq!(status, 200, "the retry gets its certificate: {recertified}");
    let [first_certificate, second_certificate] =
        [&certified, &recertified].map(|c| c["certificate"].as_str().expect("certificate").to_owned());
    assert_eq!(certificate_id(&server, &first_certificate), certificate_id(&server, &second_certificate));
    let (status, body, _) = server.post(&publish_body(&uploaded, &[], &first_certificate, &hmac_key)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("accepted")), "{body}");
    let (status, body, _) = server.post(&publish_body(&uploaded, &[], &second_certificate, &hmac_key)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("already_accepted")), "{body}");

    // A retry after the token's lifetime gets nothing.
    server.clock.advance(25 * 3600);
    let (status, body) = verify_with_id(&server, &code, &request_id).await;
    assert_eq!((status, body["status"].as_str()), (409, Some("code_used")), "{body}");
    let (status, body) = certify(&server, token, &hmac).await;
    assert_eq!((status, body["status"].as_str()), (403, Some("token_expired")), "{body}");
}

/// Issue 19 item 1: a revealed visit the tracer dismisses is deleted at
/// once, not kept until the key server forgets it, and the key server
/// handing it over again does not bring it back.
async fn a_dismissed_visit_leaves_the_authoritys_database_for_good(db: Db) {
    let server = TestServer::start_with_authority(db).await;
    let portal = admin(&server).await;
    let yesterday = server.clock.now().day().minus(1);
    let mut venue = Venue::new(11);
    let poster = venue.poster(&server, yesterday);
    let arrival = yesterday.start().plus(9 * 3600);
    let revealed = RevealedCheckIn { poster, arrival, departure: arrival.plus(2700) }.to_bytes();
    let (code, _) = issue(&portal, "short").await;
    let (status, body) =
        report(&server, &code, &keys(48, 2, server.clock.now().day()), std::slice::from_ref(&revealed)).await;
    assert_eq!(status, 200, "{body}");
    let stored = |rows: &[String]| {
        let hex = hex::encode(&revealed);
        rows.iter().any(|r| r.starts_with("authority_revealed:") && r.contains(&hex))
    };

    let queue = portal.get("/portal/venues").await.expect("the portal answers").body;
    assert!(queue.contains("09:00 – 09:45"), "{queue}");
    assert!(stored(&server.dump_everything().await), "queued");
    let id = between(&queue, "name=\"checkin\" value=\"", "\"").expect("a dismiss form");
    let page = portal.post("/portal/venues/dismiss", &[("checkin", id)]).await.expect("the portal answers");
    assert!(page.body.contains("The check-in was dismissed"), "{}", page.body);
    let rows = server.dump_everything().await;
    assert!(!stored(&rows), "a dismissed visit is deleted: {rows:?}");
    assert!(!rows.iter().any(|r| r.starts_with("checkin_reviews:")), "{rows:?}");

    // The key server still holds it and hands the hour over again: the
    // queue does not take it back.
    let queue = portal.get("/portal/venues").await.expect("the portal answers").body;
    assert!(!queue.contains("09:00 – 09:45"), "{queue}");
    assert!(!stored(&server.dump_everything().await), "not queued again");
    let held = server.dump_everything().await;
    assert!(held.iter().any(|r| r.starts_with("revealed_checkins:")), "the key server keeps it for phones: {held:?}");
}
