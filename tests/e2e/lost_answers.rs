//! Lost answers with the real binaries (issue 19 item 6): `greenlight
//! report` against `greenlight-server` run as a key server and a separate
//! health authority, each behind a proxy that hangs up instead of
//! answering — after the server has acted — the first requests to one
//! step. Each time the resident's report goes through, and the code is
//! still used only once.

mod common;

use common::{Deployment, Resident, Server, now, run, staff_portal};
use greenlight_client::os_rng;
use greenlight_testkit::{CodeKind, LosingProxy};

/// A resident whose phone talks to the key server at `server_url` and the
/// authority at `authority_url`, with a daily key of two days ago to report.
fn resident(name: &str, server: &Server, server_url: &str, authority_url: &str) -> Resident {
    let resident = Resident { dir: common::Dir::new(name) };
    resident.ok(&[
        "init",
        "--server",
        server_url,
        "--server-key",
        &server.export_key,
        "--authority-key",
        &server.authority_key,
        "--authority-url",
        authority_url,
    ]);
    let mut phone = greenlight_client::open(&resident.dir.0).expect("the resident's store");
    phone.daily_key(now().day().minus(2), &mut os_rng()).expect("a daily key");
    resident
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_goes_through_when_each_step_loses_its_first_answers() {
    let server = Server::deploy(Deployment::Split).await;
    let portal = staff_portal(&server.authority_url).await;
    let today = now().day().iso_date().to_string();

    for (name, path, lose, at_authority) in [
        ("verify-lost", "/v1/verify", 1, true),
        ("certificate-lost", "/v1/certificate", 2, true),
        ("publish-lost", "/v1/publish", 1, false),
    ] {
        let upstream = if at_authority { &server.authority_url } else { &server.url };
        let proxy = LosingProxy::start(upstream.clone(), path, lose).await;
        let (server_url, authority_url) = if at_authority {
            (server.url.clone(), proxy.base.clone())
        } else {
            (proxy.base.clone(), server.authority_url.clone())
        };
        let phone = resident(name, &server, &server_url, &authority_url);
        let code = portal.issue_code(CodeKind::Short, &today).await.expect("the portal shows the code").code;

        let said = phone.ok(&["report", "--code", &code, "--reveal", "none"]);
        assert!(!said.is_empty());
        assert_eq!(proxy.sent(), lose + 1, "{name}: {path} was sent again after its lost answers");
        assert_eq!(phone.status()["color"], "red", "{name}: the report is recorded: {said}");

        // The code was used once: another phone that has it is refused.
        let other = resident(&format!("{name}-other"), &server, &server.url, &server.authority_url);
        let again = run(&mut other.command(&["report", "--code", &code, "--reveal", "none"]));
        let said = String::from_utf8_lossy(&again.stderr);
        assert!(!again.status.success() && said.contains("already been used"), "{name}: {said}");
    }
}
