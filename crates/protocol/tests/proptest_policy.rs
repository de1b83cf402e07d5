//! Property tests for the color policy and the color function: the policy
//! codec round-trips and refuses every damaged file without panicking, and
//! the color function is total, deterministic and monotone.

use greenlight_protocol::color::{BleContact, Color, ColorDecision, ColorInputs, Diagnosis, VenueExposure, decide};
use greenlight_protocol::policy::{
    ColorPolicy, POLICY_BODY_LEN, POLICY_BODY_LEN_V1, POLICY_MAGIC, PolicyParams, VenueOverlaps,
};
use greenlight_protocol::report::{ReportType, TransmissionRisk};
use greenlight_protocol::signing::{SigningKey, TrustedKeys, seal_file};
use greenlight_protocol::time::{DAY_SECONDS, DayNumber, UnixTime};
use greenlight_protocol::venue::VenueKind;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

/// 2026-05-10: realistic inputs cluster around this day.
const BASE_DAY: u32 = 20_583;

fn valid_params() -> impl Strategy<Value = PolicyParams> {
    (
        any::<u32>(),
        any::<u64>(),
        btree_set(any::<u8>(), 3),
        [0u16..=1000, 0u16..=1000, 0u16..=1000, 0u16..=1000],
        1u16..=u16::MAX,
        0u8..=8,
        // One value for every kind (format version 1 unless 0) or one per
        // kind, "never" (0) included.
        prop_oneof![
            any::<u16>().prop_map(VenueOverlaps::uniform),
            proptest::array::uniform9(prop_oneof![Just(0u16), any::<u16>()]).prop_map(VenueOverlaps::from_wire_order),
        ],
        (1u8..=14).prop_flat_map(|lookback| (Just(lookback), 1u8..=lookback)),
        1u8..=28,
        1u16..=336,
    )
        .prop_map(
            |(sequence, issued_at, thresholds, weights, min_minutes, min_risk, min_venue, days, red, stale)| {
                let mut t = thresholds.into_iter();
                let mut next = || t.next().expect("three distinct thresholds");
                let attenuation_thresholds_db = [next(), next(), next()];
                PolicyParams {
                    sequence,
                    issued_at: UnixTime(issued_at),
                    attenuation_thresholds_db,
                    bucket_weights_percent: weights,
                    min_weighted_minutes_per_day: min_minutes,
                    min_transmission_risk: min_risk,
                    min_venue_overlap_minutes: min_venue,
                    yellow_days: days.1,
                    red_days: red,
                    stale_after_hours: stale,
                    lookback_days: days.0,
                }
            },
        )
}

fn valid_policy() -> impl Strategy<Value = ColorPolicy> {
    valid_params().prop_map(|p| ColorPolicy::new(p).expect("the strategy makes valid policies"))
}

fn report_type() -> impl Strategy<Value = ReportType> {
    prop_oneof![Just(ReportType::ConfirmedTest), Just(ReportType::ClinicalDiagnosis)]
}

fn risk() -> impl Strategy<Value = TransmissionRisk> {
    (0u8..=8).prop_map(|level| TransmissionRisk::new(level).expect("0..=8 is valid"))
}

/// Inputs anywhere in the representable range, to look for panics.
fn wild_inputs() -> impl Strategy<Value = ColorInputs> {
    let contact = (any::<u32>(), any::<u8>(), any::<u32>(), risk()).prop_map(|(d, a, s, r)| BleContact {
        day: DayNumber(d),
        attenuation_db: a,
        seconds: s,
        transmission_risk: r,
    });
    let venue = (any::<u32>(), any::<u64>(), any::<u64>(), any::<u16>()).prop_map(|(d, s, e, o)| VenueExposure {
        day: DayNumber(d),
        start: UnixTime(s),
        end: UnixTime(e),
        overlap_minutes: o,
        kind: VenueKind::ALL[usize::from(o) % VenueKind::ALL.len()],
    });
    let diagnosis = (any::<u32>(), report_type()).prop_map(|(d, report_type)| Diagnosis {
        day: DayNumber(d),
        report_type,
        symptom_onset: false,
    });
    (
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        proptest::option::of(diagnosis),
        vec(contact, 0..8),
        vec(venue, 0..4),
    )
        .prop_map(|(now, last_sync, diagnosis, ble, venues)| ColorInputs {
            now: UnixTime(now),
            last_sync: last_sync.map(UnixTime),
            diagnosis,
            ble,
            venues,
        })
}

fn day_near_base() -> impl Strategy<Value = DayNumber> {
    (BASE_DAY - 20..=BASE_DAY + 2).prop_map(DayNumber)
}

fn realistic_contact() -> impl Strategy<Value = BleContact> {
    (day_near_base(), any::<u8>(), 0u32..5000, risk()).prop_map(|(day, a, s, r)| BleContact {
        day,
        attenuation_db: a,
        seconds: s,
        transmission_risk: r,
    })
}

fn realistic_venue() -> impl Strategy<Value = VenueExposure> {
    (day_near_base(), 0..DAY_SECONDS, 0u64..10_000, 0u16..120, proptest::sample::select(&VenueKind::ALL[..])).prop_map(
        |(day, offset, len, overlap, kind)| {
            let start = day.start().plus(offset);
            VenueExposure { day, start, end: start.plus(len), overlap_minutes: overlap, kind }
        },
    )
}

/// Inputs around [`BASE_DAY`], where the thresholds actually bite.
fn realistic_inputs() -> impl Strategy<Value = ColorInputs> {
    let diagnosis = ((BASE_DAY - 30..=BASE_DAY + 2).prop_map(DayNumber), report_type())
        .prop_map(|(day, report_type)| Diagnosis { day, report_type, symptom_onset: false });
    (
        0..DAY_SECONDS,
        proptest::option::of(-400_000i64..1000),
        proptest::option::of(diagnosis),
        vec(realistic_contact(), 0..12),
        vec(realistic_venue(), 0..4),
    )
        .prop_map(|(offset, sync, diagnosis, ble, venues)| {
            let now = DayNumber(BASE_DAY).start().plus(offset);
            let last_sync = sync
                .map(|delta| if delta < 0 { now.minus(delta.unsigned_abs()) } else { now.plus(delta.unsigned_abs()) });
            ColorInputs { now, last_sync, diagnosis, ble, venues }
        })
}

/// The decision's invariants that hold for every input.
fn check_invariants(d: &ColorDecision) {
    match d.color {
        Color::Stale => {
            assert!(d.stale);
            assert_eq!(d.until, None);
        }
        Color::Green => {
            assert!(!d.stale, "a green is never stale");
            assert!(d.until.is_some());
        }
        Color::Yellow | Color::Red => assert!(d.until.is_some()),
    }
}

/// A body that decoded to `policy` is its one encoding (protocol §13.2).
fn is_its_encoding(policy: &ColorPolicy, body: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(policy.encode_body(), body);
    Ok(())
}

/// Random fields behind a version byte, at that version's length.
fn random_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (Just(1u8), vec(any::<u8>(), POLICY_BODY_LEN_V1 - 1)),
        (Just(2u8), vec(any::<u8>(), POLICY_BODY_LEN - 1))
    ]
    .prop_map(|(version, tail)| std::iter::once(version).chain(tail).collect())
}

proptest! {
    #[test]
    fn policy_body_round_trips(policy in valid_policy()) {
        let body = policy.encode_body();
        let len = if policy.format_version() == 1 { POLICY_BODY_LEN_V1 } else { POLICY_BODY_LEN };
        prop_assert_eq!(body.len(), len);
        prop_assert_eq!(ColorPolicy::decode_body(&body), Ok(policy));
        prop_assert_eq!(ColorPolicy::new(*policy.params()), Ok(policy));
        // Version 1 exactly when every kind shares one overlap that alerts.
        let uniform = policy.params().min_venue_overlap_minutes.as_uniform();
        prop_assert_eq!(policy.format_version() == 1, uniform.is_some_and(|m| m > 0));
    }

    #[test]
    fn any_body_decodes_to_one_meaning_or_an_error(body in random_body()) {
        // Either refused, or the encoding of a valid policy.
        if let Ok(policy) = ColorPolicy::decode_body(&body) {
            is_its_encoding(&policy, &body)?;
        }
    }

    #[test]
    fn a_changed_byte_gives_another_valid_policy_or_an_error(
        policy in valid_policy(),
        at in any::<proptest::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut body = policy.encode_body();
        let at = at.index(body.len());
        let version = body[0];
        body[at] = value;
        match ColorPolicy::decode_body(&body) {
            Ok(changed) => {
                is_its_encoding(&changed, &body)?;
                prop_assert!(changed.params().validate().is_ok());
            }
            Err(_) if at == 0 => prop_assert_ne!(value, version),
            Err(_) => {}
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..200),
        random_fields in random_body(),
        (policy, changes) in (valid_policy(), vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4)),
    ) {
        let key = SigningKey::from_bytes(&[3; 32]);
        let trusted = TrustedKeys::from_keys([key.verifying_key()]);
        let _ = ColorPolicy::decode_body(&bytes);
        prop_assert!(ColorPolicy::verify(&bytes, &trusted).is_err());
        // Past the version and length checks to the fields and their
        // ranges: random fields behind version 1 or 2, and a valid policy
        // with a few bytes after the version changed. Each body is also
        // sealed with a trusted key, so that verify parses it, and must
        // decode exactly as the bare body.
        let mut changed = policy.encode_body();
        for (at, value) in changes {
            let at = 1 + at.index(changed.len() - 1);
            changed[at] = value;
        }
        for body in [bytes, random_fields, changed] {
            let decoded = ColorPolicy::decode_body(&body);
            let verified = ColorPolicy::verify(&seal_file(&POLICY_MAGIC, &body, &key), &trusted);
            prop_assert_eq!(&verified, &decoded);
            if let Ok(policy) = decoded {
                is_its_encoding(&policy, &body)?;
                prop_assert!(policy.params().validate().is_ok());
            }
        }
    }

    #[test]
    fn decide_is_total_and_deterministic(policy in valid_policy(), inputs in wild_inputs()) {
        let first = decide(&policy, &inputs);
        prop_assert_eq!(&decide(&policy, &inputs.clone()), &first);
        prop_assert_eq!(first.policy_sequence, policy.sequence());
        check_invariants(&first);
        prop_assert!(!first.to_string().is_empty());
    }

    #[test]
    fn input_order_does_not_matter(policy in valid_policy(), inputs in realistic_inputs()) {
        let mut reversed = inputs.clone();
        reversed.ble.reverse();
        reversed.venues.reverse();
        prop_assert_eq!(decide(&policy, &reversed), decide(&policy, &inputs));
    }

    #[test]
    fn adding_an_exposure_never_turns_yellow_into_green(
        policy in valid_policy(),
        inputs in realistic_inputs(),
        contact in realistic_contact(),
        venue in realistic_venue(),
    ) {
        let before = decide(&policy, &inputs);
        check_invariants(&before);
        let mut more = inputs.clone();
        more.ble.push(contact);
        let with_contact = decide(&policy, &more);
        more.venues.push(venue);
        let with_both = decide(&policy, &more);
        for after in [&with_contact, &with_both] {
            check_invariants(after);
            match before.color {
                Color::Red => prop_assert_eq!(after.color, Color::Red),
                Color::Yellow => {
                    prop_assert_eq!(after.color, Color::Yellow);
                    prop_assert!(after.until >= before.until, "yellow never gets shorter");
                }
                Color::Green | Color::Stale => {
                    prop_assert!(after.color == before.color || after.color == Color::Yellow);
                }
            }
            prop_assert_eq!(after.stale, before.stale);
        }
    }

    #[test]
    fn a_color_holds_until_its_until(policy in valid_policy(), inputs in realistic_inputs()) {
        // Without inputs dated after now, the color is the same one second
        // before `until` and different at `until`.
        let mut inputs = inputs;
        let now = inputs.now;
        inputs.ble.retain(|c| c.day <= now.day());
        inputs.venues.retain(|v| v.day <= now.day() && v.start <= now);
        let decision = decide(&policy, &inputs);
        if let Some(until) = decision.until {
            prop_assert!(until > now);
            let at = |t: UnixTime| decide(&policy, &ColorInputs { now: t, ..inputs.clone() });
            prop_assert_eq!(at(until.minus(1)).color, decision.color);
            prop_assert_ne!(at(until).color, decision.color);
        }
    }
}

proptest! {
    // Each case verifies about a thousand damaged files.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_damaged_signed_policy_is_refused(
        policy in valid_policy(),
        seed in any::<[u8; 32]>(),
        extra in any::<u8>(),
    ) {
        let key = SigningKey::from_bytes(&seed);
        let trusted = TrustedKeys::from_keys([key.verifying_key()]);
        let file = policy.sign(&key);
        prop_assert_eq!(ColorPolicy::verify(&file, &trusted), Ok(policy));
        for len in 0..file.len() {
            prop_assert!(ColorPolicy::verify(&file[..len], &trusted).is_err(), "truncated to {}", len);
        }
        for at in 0..=file.len() {
            let mut extended = file.clone();
            extended.insert(at, extra);
            prop_assert!(ColorPolicy::verify(&extended, &trusted).is_err(), "byte inserted at {}", at);
        }
        for bit in 0..file.len() * 8 {
            let mut flipped = file.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(ColorPolicy::verify(&flipped, &trusted).is_err(), "bit {} flipped", bit);
        }
    }
}
