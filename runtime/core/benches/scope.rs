//! Cost of one scope decision beside Cedar, and a long differential run against it.
//!
//! One tool with ten dimensions on ten parameters (3 `glob`, 2 `exact`, 2 `prefix`, `max`, `min`,
//! `cidr`), written once as a binding of our scope engine and once as one Cedar policy (see
//! `tests/support/cedar.rs`). Measured, for an allowed call and for a call denied by the tenth
//! dimension (so that all ten are evaluated):
//! - our engine: `ToolScope::check(&arguments)`;
//! - Cedar: `Authorizer::is_authorized` on a request built beforehand;
//! - Cedar including building the request and its context from the same JSON arguments.
//!
//! Two modes:
//! - `cargo bench -p monstrum-core --bench scope`: criterion groups.
//! - `cargo bench -p monstrum-core --bench scope -- --figures`: no criterion; prints the table, then
//!   decides `MONSTRUM_BENCH_DIFF_CASES` (default 1,000,000) random calls both ways and prints
//!   how many disagreed (the process fails if any did).

#[path = "../tests/core/cedar.rs"]
mod cedar;

use cedar::{Binding, CedarScope, Dim, Gen, Tally};
use criterion::{BenchmarkId, Criterion};
use monstrum_core::governance::scope::ToolScope;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Goal of the issue: nanoseconds per decision of a 10-dimension binding.
const GOAL_NS: f64 = 200.0;
/// Goal of the issue: how many times faster than Cedar.
const GOAL_RATIO: f64 = 10.0;
/// Random calls decided both ways in `--figures` mode.
const DIFF_CASES: u64 = 1_000_000;

fn binding() -> Binding {
    Binding {
        dims: vec![
            Dim::new(Gen::Glob, "/repo", json!(["acme/public-*", "acme/docs-*", "oss/*-mirror"])),
            Dim::new(Gen::Glob, "/host", json!(["web-*.internal", "api-*.internal"])),
            Dim::new(Gen::Glob, "/file", json!(["reports/*.csv", "reports/*.json"])),
            Dim::new(Gen::ExactStr, "/branch", json!(["main", "develop", "release"])),
            Dim::new(Gen::ExactInt, "/project", json!([101, 202, 303])),
            Dim::new(Gen::Prefix, "/path", json!(["/var/log/", "/srv/app/logs/"])),
            Dim::new(Gen::Prefix, "/url", json!(["https://api.example.com/v1/", "https://status.example.com/"])),
            Dim::new(Gen::Max, "/amount", json!([1000])),
            Dim::new(Gen::Min, "/timeout", json!([5])),
            Dim::new(Gen::Cidr, "/ip", json!(["10.0.0.0/8", "192.168.0.0/16"])),
        ],
    }
}

fn allowed_call() -> Value {
    json!({
        "repo": "acme/public-site",
        "host": "web-3.internal",
        "file": "reports/2026-q3.json",
        "branch": "release",
        "project": 303,
        "path": "/srv/app/logs/app.log",
        "url": "https://status.example.com/incidents",
        "amount": 250,
        "timeout": 30,
        "ip": "192.168.4.20",
        "body": "text the scope does not check",
    })
}

fn denied_call() -> Value {
    let mut call = allowed_call();
    call["ip"] = json!("172.16.0.1");
    call
}

struct Subjects {
    scope: ToolScope,
    cedar: CedarScope,
    allowed: Value,
    denied: Value,
}

impl Subjects {
    fn new() -> Subjects {
        let b = binding();
        let s = Subjects {
            scope: b.scope().expect("the binding compiles"),
            cedar: b.cedar(),
            allowed: allowed_call(),
            denied: denied_call(),
        };
        // Both sides decide the two calls as intended before anything is timed.
        assert_eq!(s.scope.len(), 10);
        assert!(s.scope.check(&s.allowed).is_ok(), "{:?}", s.scope.check(&s.allowed));
        assert_eq!(s.scope.check(&s.denied).unwrap_err().dimension(), "d9", "denied by the tenth dimension");
        assert!(s.cedar.decide(&s.allowed), "Cedar allows the allowed call\n{}", b.policy_text());
        assert!(!s.cedar.decide(&s.denied), "Cedar denies the denied call");
        s
    }

    fn call(&self, allowed: bool) -> &Value {
        if allowed { &self.allowed } else { &self.denied }
    }
}

// ---------------------------------------------------------------- figures

/// Median nanoseconds per call of `f`, over 9 samples of about 100 ms each.
fn ns_per(mut f: impl FnMut()) -> f64 {
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed() > Duration::from_millis(20) {
            break;
        }
        iters *= 2;
    }
    iters *= 5;
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn figures() {
    let s = Subjects::new();
    let b = binding();
    let mut rows: Vec<(String, f64, Option<f64>)> = Vec::new();
    for allowed in [true, false] {
        let which = if allowed { "allowed" } else { "denied at dimension 10" };
        let call = s.call(allowed);
        let request = s.cedar.request(call).unwrap();
        let ours = ns_per(|| {
            black_box(s.scope.check(black_box(call)).is_ok());
        });
        let cedar = ns_per(|| {
            black_box(s.cedar.allows(black_box(&request)));
        });
        let cedar_json = ns_per(|| {
            black_box(s.cedar.decide(black_box(call)));
        });
        rows.push((format!("ours: ToolScope::check, {which}"), ours, None));
        rows.push((format!("Cedar: is_authorized, request prebuilt, {which}"), cedar, Some(cedar / ours)));
        rows.push((format!("Cedar: request from JSON + is_authorized, {which}"), cedar_json, Some(cedar_json / ours)));
    }
    let compile = ns_per(|| {
        black_box(b.scope().unwrap());
    });
    let parse = ns_per(|| {
        black_box(b.cedar());
    });

    println!(
        "# scope decision: one tool, 10 dimensions (3 glob, 2 exact, 2 prefix, max, min, cidr); median of 9 samples"
    );
    println!("{:<66} {:>12} {:>14} {:>8}", "what", "ns/decision", "decisions/s", "x ours");
    for (what, ns, ratio) in &rows {
        let ratio = ratio.map_or("1.0".to_string(), |r| format!("{r:.1}"));
        println!("{what:<66} {ns:>12.1} {:>14.0} {ratio:>8}", 1e9 / ns);
    }
    println!();
    println!("# once per binding (not per decision)");
    println!("{:<66} {:>12.1} us", "ours: ToolScope::compile", compile / 1e3);
    println!("{:<66} {:>12.1} us", "Cedar: parse the policy into a PolicySet", parse / 1e3);
    println!();
    let worst = rows.iter().filter(|r| r.2.is_none()).map(|r| r.1).fold(0.0, f64::max);
    let ratio_min = rows.iter().filter(|r| r.0.contains("prebuilt")).filter_map(|r| r.2).fold(f64::INFINITY, f64::min);
    println!(
        "{} (slowest of ours: {worst:.1} ns)",
        verdict(worst <= GOAL_NS, &format!("<= {GOAL_NS} ns per decision"))
    );
    println!(
        "{} (smallest ratio against Cedar with the request prebuilt: {ratio_min:.1}x)",
        verdict(ratio_min >= GOAL_RATIO, &format!(">= {GOAL_RATIO}x faster than Cedar"))
    );
    for (what, ns, _) in &rows {
        println!("{{\"what\":\"{what}\",\"ns_per_decision\":{ns:.2}}}");
    }
    println!();
    if !differential() {
        std::process::exit(1);
    }
}

fn verdict(ok: bool, goal: &str) -> String {
    format!("{} {goal}", if ok { "ok  " } else { "MISS" })
}

/// Decides random calls both ways; `false` when any disagreed.
fn differential() -> bool {
    let cases: u64 = std::env::var("MONSTRUM_BENCH_DIFF_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(DIFF_CASES);
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = cedar::case(1..16);
    let mut tally = Tally::default();
    let mut bindings = 0u64;
    let (mut generating, mut deciding) = (Duration::ZERO, Duration::ZERO);
    while tally.decisions < cases {
        let t = Instant::now();
        let (b, calls) = strategy.new_tree(&mut runner).expect("a random case").current();
        generating += t.elapsed();
        let t = Instant::now();
        tally.run(&b, &calls);
        deciding += t.elapsed();
        bindings += 1;
    }
    println!("# differential: random bindings (1-5 dimensions) and calls, decided by ours and by Cedar");
    println!(
        "{} decisions on {bindings} bindings, {:.1}% allowed, {} disagreements",
        tally.decisions,
        tally.allowed as f64 * 100.0 / tally.decisions as f64,
        tally.disagreements.len()
    );
    println!(
        "time: {:.1} s generating, {:.1} s compiling/parsing and deciding both ways ({:.0} cases/s, {:.0} cases/s overall)",
        generating.as_secs_f64(),
        deciding.as_secs_f64(),
        tally.decisions as f64 / deciding.as_secs_f64(),
        tally.decisions as f64 / (generating + deciding).as_secs_f64()
    );
    for d in tally.disagreements.iter().take(5) {
        println!("DISAGREEMENT\n{d}\n");
    }
    tally.disagreements.is_empty()
}

// ---------------------------------------------------------------- criterion

fn criterion_benches(c: &mut Criterion) {
    let s = Subjects::new();
    let mut g = c.benchmark_group("scope/10-dimensions");
    for allowed in [true, false] {
        let which = if allowed { "allowed" } else { "denied" };
        let call = s.call(allowed);
        let request = s.cedar.request(call).unwrap();
        g.bench_function(BenchmarkId::new("ours", which), |bench| {
            bench.iter(|| s.scope.check(black_box(call)).is_ok())
        });
        g.bench_function(BenchmarkId::new("cedar", which), |bench| bench.iter(|| s.cedar.allows(black_box(&request))));
        g.bench_function(BenchmarkId::new("cedar+request", which), |bench| {
            bench.iter(|| s.cedar.decide(black_box(call)))
        });
    }
    g.finish();
    let b = binding();
    let mut g = c.benchmark_group("scope/compile");
    g.bench_function("ours", |bench| bench.iter(|| b.scope().unwrap()));
    g.bench_function("cedar", |bench| bench.iter(|| b.cedar()));
    g.finish();
}

/// `--repeat N [allowed|denied]`: N allowed and N denied decisions (or only one kind) and nothing else, for counting instructions
/// (`valgrind --tool=callgrind --toggle-collect='*ToolScope*check*'`), which unlike time does not
/// depend on what else the machine is doing.
fn repeat(n: u64, which: Option<&str>) {
    let s = Subjects::new();
    for _ in 0..n {
        if which != Some("denied") {
            black_box(s.scope.check(black_box(&s.allowed)).is_ok());
        }
        if which != Some("allowed") {
            black_box(s.scope.check(black_box(&s.denied)).is_ok());
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--repeat") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).expect("--repeat N [allowed|denied]");
        repeat(n, args.get(i + 2).map(String::as_str));
    } else if args.iter().any(|a| a == "--figures") {
        figures();
    } else {
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c);
        c.final_summary();
    }
}
