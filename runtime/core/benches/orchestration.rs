//! Orchestration overhead of the engine on large DAGs of `core.echo` (issue 2).
//!
//! Three shapes, each a DAG of `core.echo` steps:
//! - `chain`:   s0 -> s1 -> ... -> s(n-1)
//! - `fan`:     one root, n-2 parallel middles, one sink that needs every middle
//! - `lattice`: a rows x cols grid where (r, c) needs (r-1, c) and (r, c-1)
//!
//! Each runs in memory (`store: None`) and durably (a fresh SQLite file per run). Only the
//! engine is timed (`Engine::start` until the run has ended and, when durable, is committed);
//! loading the YAML (parse + validation), `Plan::new` and opening the store are timed apart,
//! as the fixed costs of a cold run.
//!
//! Two modes:
//! - `cargo bench -p monstrum-core --bench orchestration`: criterion benchmarks, few samples.
//! - `cargo bench -p monstrum-core --bench orchestration -- --figures` (or `MONSTRUM_BENCH_JSON=1`):
//!   no criterion; prints a table and one JSON line per shape/mode/size, which
//!   `benches/compare.sh` reads.
//!
//! `MONSTRUM_BENCH_THREADS` sets the number of tokio worker threads (default: the number of
//! cores, as `monstrum run` uses). See `benches/README.md` for what the figures mean.

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use monstrum_core::events::EventSink;
use monstrum_core::governance::Gate;
use monstrum_core::store::Store;
use monstrum_core::workflow::{Engine, Plan, RunStatus, StartRun};
use monstrum_core::workspace::{Config, Workspace};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Steps run at once in the workflows of this benchmark.
const MAX_PARALLEL: usize = 64;
/// Goal of issue 2: in-memory overhead per step.
const GOAL_US_PER_STEP: f64 = 5.0;
/// Goal of issue 2: durable throughput.
const GOAL_DURABLE_STEPS_PER_SEC: f64 = 5_000.0;
/// Stack of the thread that loads workflows (see `main`).
const LOAD_STACK: usize = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Chain,
    Fan,
    Lattice,
}

const SHAPES: [Shape; 3] = [Shape::Chain, Shape::Fan, Shape::Lattice];

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Chain => "chain",
            Shape::Fan => "fan",
            Shape::Lattice => "lattice",
        }
    }

    /// The workflow text with `steps` steps (the lattice uses the most square grid of exactly
    /// `steps` cells).
    fn yaml(self, steps: usize) -> String {
        assert!(steps >= 3, "a shape needs at least 3 steps");
        let mut y = String::with_capacity(steps * 64);
        writeln!(y, "name: bench-{}-{steps}\nmax_parallel: {MAX_PARALLEL}\nsteps:", self.name()).unwrap();
        match self {
            Shape::Chain => {
                writeln!(y, "  - {{ id: s0, tool: core.echo, with: {{ i: 0 }} }}").unwrap();
                for i in 1..steps {
                    writeln!(y, "  - {{ id: s{i}, needs: [s{}], tool: core.echo, with: {{ i: {i} }} }}", i - 1)
                        .unwrap();
                }
            }
            Shape::Fan => {
                writeln!(y, "  - {{ id: root, tool: core.echo, with: {{ i: 0 }} }}").unwrap();
                for i in 0..steps - 2 {
                    writeln!(y, "  - {{ id: m{i}, needs: [root], tool: core.echo, with: {{ i: {} }} }}", i + 1)
                        .unwrap();
                }
                let needs: Vec<String> = (0..steps - 2).map(|i| format!("m{i}")).collect();
                writeln!(
                    y,
                    "  - {{ id: sink, needs: [{}], tool: core.echo, with: {{ i: {} }} }}",
                    needs.join(", "),
                    steps - 1
                )
                .unwrap();
            }
            Shape::Lattice => {
                let (rows, cols) = grid(steps);
                for r in 0..rows {
                    for c in 0..cols {
                        let mut needs = Vec::new();
                        if r > 0 {
                            needs.push(format!("r{}c{c}", r - 1));
                        }
                        if c > 0 {
                            needs.push(format!("r{r}c{}", c - 1));
                        }
                        writeln!(
                            y,
                            "  - {{ id: r{r}c{c}, needs: [{}], tool: core.echo, with: {{ i: {} }} }}",
                            needs.join(", "),
                            r * cols + c
                        )
                        .unwrap();
                    }
                }
            }
        }
        y
    }

    fn describe(self, steps: usize) -> String {
        match self {
            Shape::Chain => format!("chain of {steps}"),
            Shape::Fan => format!("1 -> {} -> 1", steps - 2),
            Shape::Lattice => {
                let (r, c) = grid(steps);
                format!("{r} x {c} grid")
            }
        }
    }
}

/// The most square rows x cols == n (rows <= cols).
fn grid(n: usize) -> (usize, usize) {
    let rows = (1..=n.isqrt()).rev().find(|r| n.is_multiple_of(*r)).unwrap_or(1);
    (rows, n / rows)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// No store; the run is driven by `Runtime::block_on` on the calling thread, as
    /// `monstrum run` drives it (every step is a task on a worker thread).
    Memory,
    /// No store; the run is driven from inside a runtime task, as a server or worker would.
    MemoryTask,
    /// A fresh SQLite file per run; driven like `Memory`.
    Durable,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Memory => "memory",
            Mode::MemoryTask => "memory/task",
            Mode::Durable => "durable",
        }
    }
}

/// A workflow loaded once and run many times.
struct Loaded {
    plan: Arc<Plan>,
    source: String,
    steps: usize,
}

/// Loads (parse + validation) and plans; returns the median times of both (of 3 tries, 1 at
/// 100,000 steps and more).
fn load(shape: Shape, steps: usize) -> (Loaded, Duration, Duration) {
    let source = shape.yaml(steps);
    let tries = if steps >= 100_000 { 1 } else { 3 };
    let (mut parses, mut plans) = (Vec::new(), Vec::new());
    let mut plan = None;
    for _ in 0..tries {
        let t = Instant::now();
        let workflow = match monstrum_model::load_workflow(&source).ok() {
            Ok(w) => w,
            Err(problems) => panic!("the generated {} workflow is invalid: {problems:?}", shape.name()),
        };
        parses.push(t.elapsed());
        assert_eq!(workflow.steps.len(), steps);
        let t = Instant::now();
        plan = Some(Plan::new(workflow));
        plans.push(t.elapsed());
    }
    parses.sort();
    plans.sort();
    let plan = plan.expect("loaded");
    (Loaded { plan, source, steps }, parses[tries / 2], plans[tries / 2])
}

fn runtime() -> Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("MONSTRUM_BENCH_THREADS").ok().and_then(|v| v.parse().ok()) {
        builder.worker_threads(n);
    }
    builder.enable_all().build().expect("a tokio runtime")
}

/// The figures of one run.
struct Timed {
    engine: Duration,
    store_open: Duration,
}

/// Runs the workflow once; in durable mode on a fresh SQLite file in a fresh temporary folder.
async fn run_once(w: &Loaded, mode: Mode, scratch: &Path) -> Timed {
    let dir = tempfile::tempdir_in(scratch).expect("a temporary folder");
    let (store, store_open) = match mode {
        Mode::Memory | Mode::MemoryTask => (None, Duration::ZERO),
        Mode::Durable => {
            let t = Instant::now();
            let store =
                Store::open(&Store::sqlite_url(&dir.path().join("monstrum.db"))).await.expect("the store opens");
            (Some(store), t.elapsed())
        }
    };
    let engine = Arc::new(Engine {
        store,
        workspace: Arc::new(Workspace {
            root: dir.path().to_path_buf(),
            config: Config::default(),
            mcp: Default::default(),
        }),
        events: EventSink::none(),
        gate: Gate::builtin(),
        cancels: Default::default(),
    });
    let run = StartRun {
        plan: w.plan.clone(),
        source: w.source.clone(),
        file: PathBuf::from("bench.yaml"),
        inputs: serde_json::json!({}),
        started_by: "bench".into(),
        parent: None,
        depth: 0,
        conversation: None,
    };
    let t = Instant::now();
    let outcome = if mode == Mode::MemoryTask {
        let e = engine.clone();
        tokio::spawn(async move { e.start(run).await }).await.expect("no panic")
    } else {
        engine.start(run).await
    }
    .expect("the run starts");
    let elapsed = t.elapsed();
    assert_eq!(outcome.status, RunStatus::Succeeded, "the run failed: {:?}", outcome.error);
    drop(engine);
    Timed { engine: elapsed, store_open }
}

fn scratch_dir() -> PathBuf {
    std::env::var_os("MONSTRUM_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir)
}

// ---------------------------------------------------------------- criterion

/// One criterion group timing the engine on `workflows` in `mode`.
fn engine_group(
    c: &mut Criterion,
    rt: &Runtime,
    scratch: &Path,
    mode: Mode,
    name: &str,
    seconds: u64,
    workflows: &[&(Shape, Loaded)],
) {
    let mut group = c.benchmark_group(name);
    group.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(seconds));
    for (shape, w) in workflows {
        group.throughput(Throughput::Elements(w.steps as u64));
        group.bench_with_input(BenchmarkId::new(shape.name(), w.steps), w, |b, w| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += run_once(w, mode, scratch).await.engine;
                    }
                    total
                })
            })
        });
    }
    group.finish();
}

fn criterion_benches(c: &mut Criterion, rt: &Runtime) {
    let scratch = scratch_dir();
    let mut loaded = Vec::new();
    for shape in SHAPES {
        for steps in [1_000, 10_000] {
            loaded.push((shape, load(shape, steps).0));
        }
    }

    let all: Vec<_> = loaded.iter().collect();
    let big: Vec<_> = loaded.iter().filter(|(_, w)| w.steps == 10_000).collect();
    engine_group(c, rt, &scratch, Mode::Memory, "memory", 3, &all);
    engine_group(c, rt, &scratch, Mode::Durable, "durable", 15, &big);

    let mut group = c.benchmark_group("load");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    for (shape, w) in loaded.iter().filter(|(_, w)| w.steps == 10_000) {
        group.throughput(Throughput::Elements(w.steps as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("{}/parse+validate+plan", shape.name()), w.steps),
            w,
            |b, w| {
                b.iter_with_large_drop(|| {
                    let workflow = monstrum_model::load_workflow(&w.source).ok().expect("valid");
                    Plan::new(workflow)
                })
            },
        );
    }
    group.finish();
}

// ---------------------------------------------------------------- figures

struct Figure {
    shape: Shape,
    mode: Mode,
    steps: usize,
    runs: usize,
    /// Median over the runs.
    us_per_step: f64,
    /// Best run.
    min_us_per_step: f64,
    store_open_ms: f64,
}

impl Figure {
    fn steps_per_sec(&self) -> f64 {
        1e6 / self.us_per_step
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Runs `w` once to warm up, then until `budget` has passed (at least 3, at most 15 runs).
fn measure(rt: &Runtime, w: &Loaded, shape: Shape, mode: Mode, scratch: &Path, budget: Duration) -> Figure {
    rt.block_on(async {
        let warm = run_once(w, mode, scratch).await;
        let (min_runs, max_runs) = if warm.engine > Duration::from_secs(5) { (1, 1) } else { (3, 15) };
        let mut per_step = Vec::new();
        let mut opens = Vec::new();
        let start = Instant::now();
        while per_step.len() < max_runs && (per_step.len() < min_runs || start.elapsed() < budget) {
            let t = run_once(w, mode, scratch).await;
            per_step.push(t.engine.as_secs_f64() * 1e6 / w.steps as f64);
            opens.push(t.store_open.as_secs_f64() * 1e3);
        }
        Figure {
            shape,
            mode,
            steps: w.steps,
            runs: per_step.len(),
            min_us_per_step: per_step.iter().copied().fold(f64::INFINITY, f64::min),
            us_per_step: median(per_step),
            store_open_ms: median(opens),
        }
    })
}

fn figures(rt: &Runtime) {
    let scratch = scratch_dir();
    let threads = std::env::var("MONSTRUM_BENCH_THREADS")
        .unwrap_or_else(|_| std::thread::available_parallelism().map_or("?".into(), |n| n.to_string()));
    println!(
        "# Monstrum orchestration overhead: core.echo DAGs, max_parallel {MAX_PARALLEL}, {threads} tokio worker threads"
    );
    println!(
        "# engine time only (Engine::start until the run ended; durable: committed to a fresh SQLite file in {})",
        scratch.display()
    );
    println!("# median of the runs; 'growth' = us/step at this size / us/step at the previous size (1.00 = linear)");
    println!();

    // MONSTRUM_BENCH_ONLY=chain,fan/durable runs only those shapes (or shape/mode pairs).
    let only: Option<Vec<String>> = std::env::var("MONSTRUM_BENCH_ONLY")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').map(str::to_string).collect());
    let mut all: Vec<Figure> = Vec::new();
    let mut loads: Vec<(Shape, usize, Duration, Duration)> = Vec::new();
    println!(
        "{:<8} {:<11} {:>7} {:<18} {:>5} {:>10} {:>10} {:>12} {:>7}  goal",
        "shape", "mode", "steps", "form", "runs", "us/step", "min", "steps/s", "growth"
    );
    for shape in SHAPES {
        // Each size is loaded once per shape and run in every mode.
        let mut cache: Vec<Loaded> = Vec::new();
        for mode in [Mode::Memory, Mode::MemoryTask, Mode::Durable] {
            let mut sizes = vec![1_000, 10_000];
            if shape == Shape::Chain && mode != Mode::Durable {
                sizes.push(100_000);
            }
            let key = format!("{}/{}", shape.name(), mode.name());
            if only.as_ref().is_some_and(|o| !o.iter().any(|o| key == *o || key.starts_with(&format!("{o}/")))) {
                continue;
            }
            let mut previous: Option<f64> = None;
            for steps in sizes {
                if steps == 100_000 {
                    // Only if it stays well under a minute: projected from 10,000.
                    let projected = previous.unwrap_or(f64::INFINITY) * steps as f64 * 5.0 / 1e6;
                    if projected > 60.0 {
                        println!("# skipped {} {} {steps}: projected {projected:.0} s", shape.name(), mode.name());
                        continue;
                    }
                }
                if !cache.iter().any(|w| w.steps == steps) {
                    let (w, parse, planning) = load(shape, steps);
                    loads.push((shape, steps, parse, planning));
                    cache.push(w);
                }
                let w = cache.iter().find(|w| w.steps == steps).expect("loaded");
                let budget = if steps >= 100_000 { Duration::from_secs(3) } else { Duration::from_secs(2) };
                let f = measure(rt, w, shape, mode, &scratch, budget);
                let growth = previous.map_or(String::from("-"), |p| format!("{:.2}", f.us_per_step / p));
                let goal = match mode {
                    Mode::Memory | Mode::MemoryTask => verdict(f.us_per_step <= GOAL_US_PER_STEP, "<= 5 us/step"),
                    Mode::Durable => verdict(f.steps_per_sec() >= GOAL_DURABLE_STEPS_PER_SEC, ">= 5,000 steps/s"),
                };
                println!(
                    "{:<8} {:<11} {:>7} {:<18} {:>5} {:>10.2} {:>10.2} {:>12.0} {:>7}  {goal}",
                    shape.name(),
                    mode.name(),
                    steps,
                    shape.describe(steps),
                    f.runs,
                    f.us_per_step,
                    f.min_us_per_step,
                    f.steps_per_sec(),
                    growth
                );
                previous = Some(f.us_per_step);
                all.push(f);
            }
        }
    }

    println!();
    println!("# cold-run fixed costs (not in the figures above)");
    for (shape, steps, parse, planning) in &loads {
        println!(
            "{:<8} {:>7} steps: load_workflow (parse + validate) {:>8.2} ms ({:>6.2} us/step), Plan::new {:>7.2} ms ({:>5.2} us/step)",
            shape.name(),
            steps,
            parse.as_secs_f64() * 1e3,
            parse.as_secs_f64() * 1e6 / *steps as f64,
            planning.as_secs_f64() * 1e3,
            planning.as_secs_f64() * 1e6 / *steps as f64,
        );
    }
    let opens: Vec<f64> = all.iter().filter(|f| f.mode == Mode::Durable).map(|f| f.store_open_ms).collect();
    if !opens.is_empty() {
        println!(
            "store: Store::open of a fresh SQLite file (create + migrate), median {:.2} ms",
            median(opens.clone())
        );
    }

    println!();
    for f in &all {
        println!(
            "{{\"shape\":\"{}\",\"mode\":\"{}\",\"steps\":{},\"runs\":{},\"us_per_step\":{:.4},\"min_us_per_step\":{:.4},\"steps_per_sec\":{:.1}}}",
            f.shape.name(),
            f.mode.name(),
            f.steps,
            f.runs,
            f.us_per_step,
            f.min_us_per_step,
            f.steps_per_sec()
        );
    }
    for (shape, steps, parse, planning) in &loads {
        for (mode, d) in [("load", parse), ("plan", planning)] {
            let us = d.as_secs_f64() * 1e6 / *steps as f64;
            println!(
                "{{\"shape\":\"{}\",\"mode\":\"{mode}\",\"steps\":{steps},\"runs\":1,\"us_per_step\":{us:.4},\"min_us_per_step\":{us:.4},\"steps_per_sec\":{:.1}}}",
                shape.name(),
                1e6 / us
            );
        }
    }
    if !opens.is_empty() {
        println!("{{\"mode\":\"store_open\",\"ms\":{:.3}}}", median(opens));
    }
}

fn verdict(ok: bool, goal: &str) -> String {
    format!("{} {goal}", if ok { "ok  " } else { "MISS" })
}

/// `--runs SHAPE STEPS MODE K`: loads the workflow once and runs it K times, for counting
/// instructions (`benches/instructions.sh` subtracts K = 1 from K = 2: one run, without loading).
fn runs(args: &[String], rt: &Runtime) {
    let usage = "--runs chain|fan|lattice STEPS memory|durable K";
    let shape = SHAPES.into_iter().find(|s| Some(s.name()) == args.first().map(String::as_str)).expect(usage);
    let steps: usize = args.get(1).and_then(|n| n.parse().ok()).expect(usage);
    let mode = [Mode::Memory, Mode::Durable].into_iter().find(|m| Some(m.name()) == args.get(2).map(String::as_str));
    let k: usize = args.get(3).and_then(|n| n.parse().ok()).expect(usage);
    let (w, _, _) = load(shape, steps);
    let scratch = scratch_dir();
    for _ in 0..k {
        rt.block_on(run_once(&w, mode.expect(usage), &scratch));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        let rest = args[i + 1..].to_vec();
        return runs(&rest, &runtime());
    }
    let json = std::env::var("MONSTRUM_BENCH_JSON").is_ok_and(|v| !v.is_empty() && v != "0");
    let figures_mode = json || std::env::args().any(|a| a == "--figures");
    // The loading happens on this thread. Its large stack is a margin only: the cycle check
    // used to be recursive (petgraph's `tarjan_scc`) and overflowed 8 MiB on a ~87,000-step
    // chain; it is iterative now.
    let main = std::thread::Builder::new()
        .name("bench".into())
        .stack_size(LOAD_STACK)
        .spawn(move || {
            let rt = runtime();
            if figures_mode {
                figures(&rt);
            } else {
                let mut c = Criterion::default().configure_from_args();
                criterion_benches(&mut c, &rt);
                c.final_summary();
            }
        })
        .expect("the bench thread starts");
    if main.join().is_err() {
        std::process::exit(101);
    }
}
