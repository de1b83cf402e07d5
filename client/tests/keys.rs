//! One key per purpose, and keys that end (issue 18 item 16, protocol
//! §2.3), with the real key server and health authority and the client's
//! sync: a stolen online key cannot sign a policy, a rotated key overlaps
//! its successor so no phone goes dark, and a revoked key's policy (even
//! one numbered 2³²−1, which no honest policy could ever supersede) ends
//! with it.

mod common;

use common::Dir;
use greenlight_client::settings::Settings;
use greenlight_client::sync::{SyncError, sync};
use greenlight_protocol::index::FileKind;
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::signing::SigningKey;
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trust::Purpose;
use greenlight_server::authority::keys::rotate;
use greenlight_server::key_server::publisher::listing_span;
use greenlight_testkit::{TestClock, TestServer};

/// 2026-05-10 09:00 UTC.
const T0: u64 = 1_778_403_600;
const DAY: u64 = 86_400;

async fn server_at(t: u64) -> TestServer {
    TestServer::builder()
        .clock(TestClock::at(t))
        .authority("admin", "keys staff password")
        .start()
        .await
        .expect("server")
}

fn settings(server: &TestServer) -> Settings {
    Settings {
        server: server.base.clone(),
        authority: None,
        export_key: server.export_key().expect("export key"),
        authority_key: server.authority_keys().expect("an authority").signing,
    }
}

async fn sync_at(phone: &mut greenlight_client::Phone, server: &TestServer, now: u64) -> Result<(), SyncError> {
    sync(phone, &settings(server), &reqwest::Client::new(), UnixTime(now), &mut |_| {}).await.map(|_| ())
}

/// The authority's key of `purpose`, as a thief of its file would hold it.
fn stolen(server: &TestServer, purpose: Purpose) -> SigningKey {
    server.authority_state().expect("an authority").keys.for_purpose(purpose).clone()
}

/// Posts a signed file to the key server's authority endpoint; the status.
async fn post(server: &TestServer, bytes: Vec<u8>) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/v1/authority/files", server.base))
        .body(bytes)
        .send()
        .await
        .expect("the key server answers")
        .status()
        .as_u16()
}

fn policy(sequence: u32, key: &SigningKey) -> Vec<u8> {
    ColorPolicy::recommended(sequence, UnixTime(T0)).sign(key)
}

fn policy_in_use(phone: &greenlight_client::Phone) -> Option<u32> {
    phone.policy().expect("store").map(|p| p.sequence())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_authority_key_signs_only_its_own_files() {
    let server = server_at(T0).await;
    let dir = Dir::new("keys-purpose");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    sync_at(&mut phone, &server, T0 + 60).await.expect("sync");
    // The first sync brings the key set: one key per purpose, none of
    // them the root key the phone was set up with.
    let set = phone.key_set().expect("store").expect("the key set arrives with the first sync");
    let root = stolen(&server, Purpose::Root).verifying_key();
    for purpose in [Purpose::Certificate, Purpose::Policy, Purpose::Tracing] {
        let key = stolen(&server, purpose).verifying_key();
        assert_ne!(key, root, "{purpose} has its own key");
        assert!(set.listed(purpose).any(|e| e.key == key), "the set names the {purpose} key");
    }

    // A thief of the online certificate key signs a policy no later
    // policy could supersede: the key server refuses it, and so does the
    // root key's signature on one.
    let forever = policy(u32::MAX, &stolen(&server, Purpose::Certificate));
    assert_eq!(post(&server, forever.clone()).await, 401, "the certificate key signs no policy");
    assert_eq!(post(&server, policy(u32::MAX, &stolen(&server, Purpose::Root))).await, 401, "nor does the root key");
    // A compromised key server lists it anyway: the phone refuses it and
    // keeps what it had.
    let now = UnixTime(T0 + 120);
    let (start, end) = listing_span(FileKind::ColorPolicy, now);
    server
        .state()
        .publisher
        .publish_file(FileKind::ColorPolicy, u64::from(u32::MAX), start, end, forever, now)
        .await
        .expect("listed by force");
    server.state().publisher.rebuild_index(now).await.expect("index");
    let refused = sync_at(&mut phone, &server, T0 + 180).await.expect_err("the forged policy is refused");
    assert!(refused.to_string().contains("signature"), "{refused}");
    assert_eq!(policy_in_use(&phone), None, "the phone still uses its built-in policy");

    // The policy key signs policies.
    let other = server_at(T0).await;
    let dir = Dir::new("keys-purpose-policy");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    assert_eq!(post(&other, policy(1, &stolen(&other, Purpose::Policy))).await, 200);
    sync_at(&mut phone, &other, T0 + 60).await.expect("sync");
    assert_eq!(policy_in_use(&phone), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_overlaps_its_successor_then_ends() {
    let mut server = server_at(T0).await;
    let old = stolen(&server, Purpose::Policy);
    assert_eq!(post(&server, policy(1, &old)).await, 200);
    let dir = Dir::new("keys-rotation");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    sync_at(&mut phone, &server, T0 + 60).await.expect("sync");
    assert_eq!(policy_in_use(&phone), Some(1));

    // The operator rotates the policy key with a day of overlap and
    // restarts the server, which lists the new key set.
    let t1 = T0 + 3600;
    server.clock.set(t1);
    let rotated = rotate(server.data_dir(), Purpose::Policy, DAY, UnixTime(t1)).expect("rotated");
    server.restart().await.expect("restart");
    let new = stolen(&server, Purpose::Policy);
    assert_ne!(new.verifying_key(), old.verifying_key());
    assert_eq!(rotated.new_key, new.verifying_key());
    sync_at(&mut phone, &server, t1 + 60).await.expect("sync");
    assert_eq!(phone.key_set().expect("store").map(|s| s.sequence), Some(rotated.sequence));
    assert_eq!(policy_in_use(&phone), Some(1), "during the overlap the old key's policy holds: no phone goes dark");

    // The new key signs the next policy; phones take it.
    assert_eq!(post(&server, policy(2, &new)).await, 200);
    sync_at(&mut phone, &server, t1 + 120).await.expect("sync");
    assert_eq!(policy_in_use(&phone), Some(2));

    // After the overlap the old key signs nothing the key server lists,
    // and a phone set up now skips its listed policy instead of failing.
    let after = t1 + DAY + 60;
    server.clock.set(after);
    assert_eq!(post(&server, policy(3, &old)).await, 401, "the retired key signs nothing new");
    let dir = Dir::new("keys-rotation-late");
    let mut late = greenlight_client::open(&dir.0).expect("store");
    sync_at(&mut late, &server, after).await.expect("a retired key's file is skipped, not an error");
    assert_eq!(policy_in_use(&late), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_stolen_policy_key_ends_the_policy_it_signed() {
    let mut server = server_at(T0).await;
    // Someone who stole the policy key publishes a policy numbered so high
    // that no honest policy could ever supersede it.
    let thief = stolen(&server, Purpose::Policy);
    assert_eq!(post(&server, policy(u32::MAX, &thief)).await, 200, "the key was trusted when it was used");
    let dir = Dir::new("keys-revocation");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    sync_at(&mut phone, &server, T0 + 60).await.expect("sync");
    assert_eq!(policy_in_use(&phone), Some(u32::MAX));

    // The authority revokes the key (a rotation without overlap) and signs
    // an honest policy with its new key.
    let t1 = T0 + 3600;
    server.clock.set(t1);
    rotate(server.data_dir(), Purpose::Policy, 0, UnixTime(t1)).expect("revoked");
    server.restart().await.expect("restart");
    assert_eq!(post(&server, policy(2, &stolen(&server, Purpose::Policy))).await, 200);
    assert_eq!(post(&server, policy(7, &thief)).await, 401, "the revoked key signs nothing more");

    // One sync: the phone takes the new key set, drops the revoked key's
    // policy, fetches the listed policies again and keeps the honest one.
    sync_at(&mut phone, &server, t1 + 60).await.expect("sync");
    assert_eq!(policy_in_use(&phone), Some(2), "the stolen key's policy ended with the key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_export_key_reaches_phones_through_the_key_set() {
    let mut server = server_at(T0).await;
    let dir = Dir::new("keys-export");
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    sync_at(&mut phone, &server, T0 + 60).await.expect("sync");
    let old = server.export_key().expect("export key");
    // The operator replaces the key server's export key (the old file
    // moved away) and restarts: the combined server lists the new key in
    // the key set, the old one for the overlap.
    let t1 = T0 + 3600;
    server.clock.set(t1);
    std::fs::rename(server.data_dir().join("export-key"), server.data_dir().join("export-key.old")).expect("moved");
    server.restart().await.expect("restart");
    let new = server.export_key().expect("the new export key");
    assert_ne!(new, old);
    // The phone, set up with the old key, cannot verify the new index by
    // itself: it fetches the key set from GET /v1/trust and goes on.
    let stale = Settings { export_key: old, ..settings(&server) };
    sync(&mut phone, &stale, &reqwest::Client::new(), UnixTime(t1 + 60), &mut |_| {}).await.expect("synced");
    let set = phone.key_set().expect("store").expect("a key set");
    assert!(set.listed(Purpose::Export).any(|e| e.key == new && e.valid_at(UnixTime(t1 + 60))));
    assert!(
        set.listed(Purpose::Export).any(|e| e.key == old && e.not_after.0 == t1 + 48 * 3600),
        "the old export key ends after the overlap"
    );
    assert!(
        phone.status(UnixTime(t1 + 120)).expect("store").color == greenlight_protocol::color::Color::Green,
        "fresh, not stale"
    );
}
