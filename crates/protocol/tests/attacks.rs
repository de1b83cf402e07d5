//! Attacks from the threat model (spec §15) at protocol level, and the
//! check that keeps `spec/attack-matrix.md` honest: every row names a test,
//! and every named test exists.

use greenlight_protocol::Error;
use greenlight_protocol::checkin::{CheckInDayKey, VenueMatcher};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trace::{TraceEntry, TraceSecret};
use greenlight_protocol::venue::{AuthorityShareKey, Epoch, Poster, VenueInfo, VenueKind, VenueMasterSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::path::Path;

const DAY: u64 = 86_400;
const T0: u64 = 20_000 * DAY;

/// A venue with the authority's trace key; its daily posters.
struct Venue {
    rng: ChaCha20Rng,
    authority: AuthorityShareKey,
    master: VenueMasterSecret,
    info: VenueInfo,
}

impl Venue {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let authority = AuthorityShareKey::generate(&mut rng);
        let master = VenueMasterSecret::generate(&mut rng);
        let info = VenueInfo { name: "Café Aurora".into(), address: "Main St 5".into(), kind: VenueKind::Restaurant };
        Venue { rng, authority, master, info }
    }

    fn poster(&mut self, start: u64) -> Poster {
        let epoch = Epoch::new(UnixTime(start), 24 * 60).expect("valid epoch");
        let opened = self.master.open_epoch(epoch, &self.authority.public_key(), &mut self.rng).expect("opens");
        self.master.poster(&self.info, &opened, epoch.start(), epoch.end()).expect("signs")
    }

    /// The published entry for `poster`'s epoch, made by both parties.
    fn trace(&mut self, poster: &Poster, message: &str) -> TraceEntry {
        let epoch = *poster.poster_epoch();
        let owner = self.master.owner_share(&epoch.epoch);
        let authority = self.authority.open_share(poster.venue_key(), &epoch).expect("share");
        let secret = TraceSecret::combine(&owner, &authority, &epoch).expect("secret");
        let start = UnixTime(poster.epoch().start().0 + 18 * 3600);
        TraceEntry::new(&secret, &epoch, start, start.plus(2 * 3600), message, &mut self.rng).expect("entry")
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// §15.10: someone who knows the venue (its name, its key, another day's
/// poster) learns nothing from a published entry: the entry names no venue,
/// its message opens only with the traced epoch's poster, and their own
/// check-ins match nothing.
#[test]
fn a_trace_entry_reveals_nothing_to_someone_who_was_not_there_then() {
    let mut venue = Venue::new(11);
    let monday = venue.poster(T0);
    let tuesday = venue.poster(T0 + DAY);
    let message = "A visitor later tested positive. Watch for symptoms until Friday.";
    let entry = venue.trace(&monday, message);
    let published = entry.to_bytes();

    for (what, secret) in [
        ("the venue's name", venue.info.name.as_bytes().to_vec()),
        ("the venue's address", venue.info.address.as_bytes().to_vec()),
        ("the venue's public key", monday.venue_key().as_bytes().to_vec()),
        ("the poster's trace key", monday.poster_epoch().trace_key.to_vec()),
        ("the poster's enc", monday.poster_epoch().share_enc.to_vec()),
        ("the message", message.as_bytes()[..16].to_vec()),
    ] {
        assert!(!contains(&published, &secret), "a published trace entry holds {what}");
    }
    assert_eq!(entry.open_message(tuesday.poster_epoch()), Err(Error::BadMac), "Tuesday's poster opens Monday's entry");
    assert_eq!(entry.open_message(monday.poster_epoch()).as_deref(), Ok(message));

    // A Tuesday visitor's check-in does not match the Monday entry.
    let key = CheckInDayKey::generate(tuesday.epoch().day(), &mut venue.rng);
    let arrival = UnixTime(T0 + DAY + 18 * 3600);
    let record = tuesday.check_in(&key, arrival, arrival.plus(7200), &mut venue.rng).expect("check in");
    assert!(VenueMatcher::new(&[key.public()], vec![record]).match_entries(&[entry]).is_empty());
}

/// The workspace root (this crate is `crates/protocol`).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("workspace root")
}

/// Every `path.rs::name` reference in a Markdown table row.
fn test_references(row: &str) -> Vec<(String, String)> {
    row.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|code| {
            let (path, name) = code.split_once(".rs::")?;
            let name = name.rsplit("::").next()?;
            Some((format!("{path}.rs"), name.to_owned()))
        })
        .collect()
}

/// The attack matrix cannot rot: each row of its table names at least one
/// test as `path/to/file.rs::test_name`, and that file defines that function
/// as a test the harness runs (see [`registered_test`]).
#[test]
fn every_row_of_the_attack_matrix_names_a_test_that_exists() {
    let path = root().join("spec/attack-matrix.md");
    let matrix = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows: Vec<&str> =
        matrix.lines().filter(|l| l.starts_with('|') && !l.starts_with("|--") && !l.starts_with("| attack")).collect();
    assert!(rows.len() >= 15, "the matrix lost rows: {} left", rows.len());
    let mut problems = Vec::new();
    for row in &rows {
        let references = test_references(row);
        if references.is_empty() {
            problems.push(format!("names no test: {row}"));
        }
        for (file, name) in references {
            let source = std::fs::read_to_string(root().join(&file)).unwrap_or_default();
            if let Err(problem) = registered_test(&source, &name) {
                problems.push(format!("{file}: {problem}"));
            }
        }
    }
    assert!(problems.is_empty(), "spec/attack-matrix.md:\n{}", problems.join("\n"));
}

/// Macros that register the functions they list as tests (the server
/// tests' `common::on_both_databases!(a, b, …)` runs each on SQLite and on
/// PostgreSQL).
const REGISTERING_MACROS: [&str; 1] = ["on_both_databases!("];

/// Whether `source` defines `fn name` as a test the harness runs: the
/// function carries a test attribute (`#[test]`, also inside `proptest!`,
/// or `#[tokio::test…]`) among the attributes directly above it, or it is
/// listed in a registering macro of the same file. A plain helper of that
/// name is not a test.
fn registered_test(source: &str, name: &str) -> Result<(), String> {
    let lines: Vec<&str> = source.lines().collect();
    let definitions: Vec<usize> = (0..lines.len()).filter(|&i| defines(lines[i], name)).collect();
    if definitions.is_empty() {
        return Err(format!("defines no `fn {name}`"));
    }
    let attributed = definitions.iter().any(|&i| {
        lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("#[") || l.starts_with("///") || l.starts_with("//"))
            .any(|l| l == "#[test]" || l.starts_with("#[tokio::test"))
    });
    let listed = REGISTERING_MACROS.iter().any(|mac| {
        source.match_indices(mac).any(|(at, _)| {
            let args = &source[at + mac.len()..];
            let args = &args[..args.find(')').unwrap_or(args.len())];
            args.split(',').any(|arg| arg.trim() == name)
        })
    });
    if attributed || listed {
        Ok(())
    } else {
        Err(format!(
            "`fn {name}` is not a test: no #[test] or #[tokio::test] on it, and no {REGISTERING_MACROS:?} lists it"
        ))
    }
}

/// Whether `line` starts the definition of `fn name` (`pub`, `async` and
/// the like before it, its parameters or generics after it).
fn defines(line: &str, name: &str) -> bool {
    let Some(at) = line.find(&format!("fn {name}")) else { return false };
    let before = line[..at].split_whitespace().all(|w| ["pub", "pub(crate)", "async", "const", "unsafe"].contains(&w));
    let after = line[at + 3 + name.len()..].chars().next();
    before && matches!(after, Some('(' | '<'))
}

#[test]
fn the_checker_accepts_only_functions_the_harness_runs() {
    let source = r#"
common::on_both_databases!(
    listed_on_both,
    another,
);

/// A test.
#[test]
fn plain_test() {}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow"]
async fn async_test() {}

proptest! {
    #[test]
    fn property(x in 0..3u8) { prop_assert!(x < 3); }
}

async fn listed_on_both(db: Db) {}

/// Looks like a test, is a helper.
fn plain_helper() {}

#[test]
fn between() {}
fn helper_after_a_test() {}

fn plain_test_helper() {}
async fn unlisted(db: Db) {}
"#;
    for name in ["plain_test", "async_test", "property", "listed_on_both"] {
        assert_eq!(registered_test(source, name), Ok(()), "{name}");
    }
    for name in ["plain_helper", "helper_after_a_test", "plain_test_helper", "unlisted"] {
        let problem = registered_test(source, name).expect_err(name);
        assert!(problem.contains("is not a test"), "{name}: {problem}");
    }
    // Listed but not defined, and neither.
    assert!(registered_test(source, "another").expect_err("another").contains("defines no"));
    assert!(registered_test(source, "missing").expect_err("missing").contains("defines no"));
    // A prefix of a test's name is not that test.
    assert!(registered_test(source, "plain").expect_err("plain").contains("defines no"));
}

#[test]
fn references_are_read_from_code_spans() {
    assert_eq!(
        test_references("| x | y | §1 | `a/b.rs::m::t1`, `c.rs::t2` and `not a test` |"),
        vec![("a/b.rs".to_owned(), "t1".to_owned()), ("c.rs".to_owned(), "t2".to_owned())]
    );
}
