//! Memory's figures (issue 11): `memory.get`, `memory.set` and `memory.search` with 100,000
//! entries, on SQLite (a file, as a workspace has it) and on PostgreSQL (MONSTRUM_TEST_POSTGRES,
//! default postgres://postgres@127.0.0.1:5432/test; a fresh database is made and dropped).
//!
//! The entries belong to one bot, spread over the four kinds of partition (half global, the
//! rest over 50 conversations, 20 instances and a run); each value is a sentence drawn from a
//! vocabulary of 2,000 words, so a query's words match a realistic share of them. Latencies
//! are of `Memory::call`, the call the gate makes once it has allowed one: median and 95th
//! percentile over many calls.
//!
//! `cargo bench -p monstrum-core --bench memory [-- N]`

use monstrum_core::memory::{CallContext, Memory, Reach};
use monstrum_core::store::Store;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const BOT: &str = "ops";

/// A small deterministic generator (xorshift), so every run fills the same entries.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn word(i: usize) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ten", "ra", "vo", "si", "dun", "pe", "gar", "no", "bi", "tu", "shen", "al", "or", "ex",
        "zu", "hy", "qua",
    ];
    format!("{}{}{}", SYLLABLES[i % 20], SYLLABLES[(i / 20) % 20], SYLLABLES[(i / 400) % 20])
}

fn sentence(rng: &mut Rng) -> String {
    (0..12).map(|_| word(rng.below(2_000))).collect::<Vec<_>>().join(" ")
}

fn partition(i: usize) -> String {
    match i % 4 {
        0 | 1 => "global".into(),
        2 => format!("channel:ops-slack/C{}", i % 50),
        _ if i % 8 == 3 => format!("resource:db-{}", i % 20),
        _ => "task:bench-run".into(),
    }
}

fn figures(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!("{name:<44} median {:>9.1} µs   p95 {:>9.1} µs   ({} calls)", at(0.5), at(0.95), samples.len());
}

async fn bench(label: &str, url: &str, n: usize) {
    let store = Store::open(url).await.expect("store");
    let memory = Memory::Store(store);
    let cx = CallContext {
        run: "bench-run",
        conversation: Some("ops-slack/C7"),
        instances: (0..20).map(|i| format!("db-{i}")).collect(),
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    println!("\n{label}: {n} entries");
    let filled = Instant::now();
    let mut sets = Vec::with_capacity(n);
    for i in 0..n {
        let args = json!({ "key": format!("note-{i}"), "value": sentence(&mut rng) });
        let t = Instant::now();
        memory.call("memory.set", BOT, &Reach::One(partition(i)), &args).await.expect("set");
        sets.push(t.elapsed());
    }
    println!("filled in {:.1} s", filled.elapsed().as_secs_f64());
    figures("memory.set, new key (while filling)", sets);
    if url.starts_with("postgres") {
        // Right after a bulk load PostgreSQL has no statistics yet, and plans a search by
        // (bot, part) rather than by the GIN index, until autovacuum analyzes the table (a
        // minute or so later). Both are shown: a few searches before, then after ANALYZE.
        let mut before = Vec::new();
        for _ in 0..5 {
            let args = json!({ "query": format!("{} {}", word(rng.below(2_000)), word(rng.below(2_000))) });
            let t = Instant::now();
            memory.call("memory.search", BOT, &Reach::One("global".into()), &args).await.expect("search");
            before.push(t.elapsed());
        }
        figures("memory.search, 2 words, before ANALYZE", before);
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        sqlx::raw_sql("ANALYZE memory").execute(&pool).await.expect("analyze");
        println!("analyzed, as autovacuum does after a bulk load");
    }
    let calls = 2_000;
    let mut gets = Vec::with_capacity(calls);
    for _ in 0..calls {
        let i = rng.below(n);
        let args = json!({ "key": format!("note-{i}") });
        let t = Instant::now();
        let got = memory.call("memory.get", BOT, &Reach::One(partition(i)), &args).await.expect("get");
        gets.push(t.elapsed());
        assert_eq!(got["found"], true);
    }
    figures("memory.get", gets);
    let mut sets = Vec::with_capacity(calls);
    for _ in 0..calls {
        let i = rng.below(n);
        let args = json!({ "key": format!("note-{i}"), "value": sentence(&mut rng) });
        let t = Instant::now();
        memory.call("memory.set", BOT, &Reach::One(partition(i)), &args).await.expect("set");
        sets.push(t.elapsed());
    }
    figures("memory.set, overwrite", sets);
    for (name, words, reach) in [
        ("memory.search, 2 words, global", 2, Reach::One("global".into())),
        ("memory.search, 2 words, every partition", 2, Reach::All(cx.all())),
        ("memory.search, a 12-word prompt, every part.", 12, Reach::All(cx.all())),
    ] {
        let mut searches = Vec::with_capacity(500);
        let mut found = 0;
        for _ in 0..500 {
            let query: Vec<String> = (0..words).map(|_| word(rng.below(2_000))).collect();
            let args = json!({ "query": query.join(" ") });
            let t = Instant::now();
            let hits: Value = memory.call("memory.search", BOT, &reach, &args).await.expect("search");
            searches.push(t.elapsed());
            found += hits["results"].as_array().map_or(0, Vec::len);
        }
        figures(name, searches);
        println!("{:<44} {:.1} results a search (limit 10)", "", found as f64 / 500.0);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = Store::sqlite_url(&dir.path().join("monstrum.db"));
    bench("SQLite (FTS5)", &url, n).await;

    let base =
        std::env::var("MONSTRUM_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let db = format!("monstrum_bench_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&base).await;
    let Ok(admin) = admin else {
        println!("\nPostgreSQL at {base} is unreachable: no PostgreSQL figures");
        return;
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&admin).await.expect("create db");
    let root = base.rsplit_once('/').map_or(base.as_str(), |(root, _)| root);
    bench("PostgreSQL (tsvector, GIN)", &format!("{root}/{db}"), n).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {db} WITH (FORCE)"))).execute(&admin).await.ok();
}
