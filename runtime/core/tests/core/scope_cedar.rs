//! The scope engine against Cedar: random bindings and calls decided both ways must agree.
//!
//! Cedar (`cedar-policy`) is the reference for the match kinds it can express with the same
//! meaning (see `support/cedar.rs` for the translation). Where our engine is stricter on purpose
//! (path tricks, look-alike text, `*` not crossing `/`), the cases are written by hand below and
//! only our engine's denial is asserted.
//!
//! The seed is fixed; `MONSTRUM_SCOPE_SEED=<64 hex digits>` runs another one and
//! `MONSTRUM_SCOPE_CASES=<n>` another number of bindings (each with 4 to 11 calls; the default,
//! 400, takes a few seconds in debug). The bench runs a million calls in release:
//! `cargo bench -p monstrum-core --bench scope -- --figures`.

use crate::cedar;

use cedar::{Binding, Dim, Gen, Tally};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Value, json};
use std::cell::RefCell;

const DEFAULT_SEED: [u8; 32] = *b"monstrum scope engine vs. cedar!";

fn seed() -> Vec<u8> {
    match std::env::var("MONSTRUM_SCOPE_SEED") {
        Ok(hex) => hex::decode(hex.trim()).expect("MONSTRUM_SCOPE_SEED is 64 hex digits"),
        Err(_) => DEFAULT_SEED.to_vec(),
    }
}

#[test]
fn random_bindings_and_calls_are_decided_as_cedar_decides() {
    let bindings: u32 = std::env::var("MONSTRUM_SCOPE_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(400);
    let config = Config { cases: bindings, failure_persistence: None, max_shrink_iters: 2000, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed()));
    let tally = RefCell::new(Tally::default());
    let result = runner.run(&cedar::case(4..12), |(binding, calls)| {
        let mut one = Tally::default();
        one.run(&binding, &calls);
        let mut all = tally.borrow_mut();
        all.decisions += one.decisions;
        all.allowed += one.allowed;
        match one.disagreements.first() {
            Some(d) => Err(TestCaseError::fail(d.clone())),
            None => Ok(()),
        }
    });
    let tally = tally.into_inner();
    if let Err(e) = result {
        panic!("the scope engine and Cedar disagree (after shrinking):\n{e}");
    }
    // The comparison means something only if both outcomes are frequent.
    let share = tally.allowed as f64 / tally.decisions as f64;
    println!("{} decisions, {:.1}% allowed", tally.decisions, share * 100.0);
    assert!(tally.decisions >= u64::from(bindings) * 4, "too few decisions: {tally:?}");
    assert!((0.15..=0.85).contains(&share), "allowed share {share} is too lopsided to compare much");
}

/// A fixed binding with every translated kind, to see the translation itself at work.
fn every_kind() -> Binding {
    Binding {
        dims: vec![
            Dim::new(Gen::Glob, "/repo", json!(["acme/public-*", "*.internal"])),
            Dim::new(Gen::ExactStr, "/branch", json!(["main", "develop", 7])),
            Dim::new(Gen::Prefix, "/o/path", json!(["logs/a*b"])),
            Dim::new(Gen::Max, "/n", json!([100])),
            Dim::new(Gen::Min, "/n", json!([-3])),
            Dim::new(Gen::Cidr, "/ip", json!(["10.0.0.0/8", "192.168.1.7"])),
        ],
    }
}

#[test]
fn the_translation_decides_known_calls_as_the_engine_does() {
    let b = every_kind();
    let ours = b.scope().unwrap();
    let cedar = b.cedar();
    let base =
        json!({"repo": "acme/public-site", "branch": "main", "o": {"path": "logs/a*b/x"}, "n": 100, "ip": "10.9.8.7"});
    let with = |pointer: &str, v: Value| {
        let mut call = base.clone();
        *call.pointer_mut(pointer).unwrap() = v;
        call
    };
    let allowed = [
        base.clone(),
        with("/repo", json!("web-1.internal")),
        with("/branch", json!(["main", "develop", "main"])),
        with("/branch", json!(7)),
        with("/n", json!(-3)),
        with("/ip", json!("192.168.1.7")),
        with("/ip", json!("10.1.0.0/16")),
    ];
    let denied = [
        with("/repo", json!("acme/private")),
        with("/branch", json!("feature")),
        with("/branch", json!(["main", "feature"])),
        with("/branch", json!([])),
        with("/branch", json!("7")),
        with("/o/path", json!("logs/aXb")),
        with("/o", json!("logs/a*b")),
        with("/n", json!(101)),
        with("/n", json!(-4)),
        with("/n", json!(true)),
        with("/ip", json!("192.168.1.8")),
        with("/ip", json!("10.0.0.0/7")),
        with("/ip", json!("no-address")),
        json!({"repo": "acme/public-site", "branch": "main", "o": {"path": "logs/a*b"}, "n": 1}),
    ];
    for call in &allowed {
        assert!(ours.check(call).is_ok(), "ours should allow {call}: {:?}", ours.check(call));
        assert!(cedar.decide(call), "Cedar should allow {call}\n{}", b.policy_text());
    }
    for call in &denied {
        assert!(ours.check(call).is_err(), "ours should deny {call}");
        assert!(!cedar.decide(call), "Cedar should deny {call}\n{}", b.policy_text());
    }
    // A dimension without values allows nothing, on both sides.
    let mut empty = every_kind();
    empty.dims[3].values.clear();
    assert!(empty.scope().unwrap().check(&base).is_err());
    assert!(!empty.cedar().decide(&base));
    assert!(empty.policy_text().contains("false"), "{}", empty.policy_text());
}

/// Values where our engine is stricter than Cedar's `like` on purpose: kept out of the
/// differential, and our engine must deny each.
#[test]
fn values_our_engine_refuses_on_purpose_are_denied() {
    let cases: &[(Gen, Value, &str)] = &[
        (Gen::Glob, json!(["*"]), ".."),
        (Gen::Glob, json!(["docs/*"]), "docs/.."),
        (Gen::Glob, json!(["docs/**"]), "docs/../etc/passwd"),
        (Gen::Glob, json!(["acme/*"]), "acme/x/y"),
        (Gen::Glob, json!(["a*"]), "a//b"),
        (Gen::Glob, json!(["a*"]), "a%2e%2e"),
        (Gen::Glob, json!(["a*"]), "a\\b"),
        (Gen::Glob, json!(["a*"]), "a\u{1}"),
        (Gen::Glob, json!(["*"]), "\u{ff41}"),
        (Gen::Glob, json!(["a*"]), "a\u{200b}"),
        (Gen::Prefix, json!(["docs/"]), "docs/../etc"),
        (Gen::Prefix, json!(["docs/"]), "docs/%2e%2e/etc"),
        (Gen::Prefix, json!(["docs/"]), "docs//etc"),
        (Gen::Prefix, json!(["docs"]), "docs\\..\\etc"),
        (Gen::Prefix, json!([""]), "a\u{7f}"),
        (Gen::Prefix, json!([""]), "\u{fb01}le"),
    ];
    for (generator, values, value) in cases {
        let b = Binding { dims: vec![Dim::new(*generator, "/p", values.clone())] };
        let call = json!({ "p": value });
        assert!(b.scope().unwrap().check(&call).is_err(), "{generator:?} {values} must deny {value:?}");
        // Cedar allows it: the difference is in the semantics, not in the translation.
        assert!(b.cedar().decide(&call), "Cedar should allow {value:?} for {values}\n{}", b.policy_text());
    }
}

/// Values where our engine is more lenient than Cedar by design: decimal strings are numbers, and
/// an IPv4-mapped IPv6 address is its IPv4 address.
#[test]
fn values_our_engine_reads_more_broadly_than_cedar() {
    let cases: &[(Gen, Value, Value)] = &[
        (Gen::Max, json!([10]), json!("5")),
        (Gen::Min, json!([10]), json!("1000000000000000000000")),
        (Gen::Cidr, json!(["10.0.0.0/8"]), json!("::ffff:10.0.0.1")),
    ];
    for (generator, values, value) in cases {
        let b = Binding { dims: vec![Dim::new(*generator, "/p", values.clone())] };
        let call = json!({ "p": value });
        assert!(b.scope().unwrap().check(&call).is_ok(), "{generator:?} {values} allows {value}");
        assert!(!b.cedar().decide(&call), "Cedar denies {value} for {values}");
    }
}
