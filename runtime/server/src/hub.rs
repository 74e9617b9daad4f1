//! Live events: each run the server drives has a log of its events (the `--json` objects, each
//! serialized once), and the workspace has one log of all of them. A run only ever appends to a
//! log and wakes whoever waits; subscribers read at their own pace, so a slow one never slows a
//! run. A log keeps its newest [`RUN_LOG_CAP`] events; a subscriber that fell further behind
//! reads the older ones from the store, where the server writes every run's events (`persist`),
//! off the run's path. A run's log shows an event once it is stored, so an id a subscriber saw
//! survives a crash; a log made for a run whose events are already stored (it ran before a
//! restart) numbers on after them: the writer looks that up before it stores the log's first.

use crate::persist::{Pending, Persist};
use monstrum_core::events::Event;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::watch;

/// Events kept per run.
pub const RUN_LOG_CAP: usize = 65_536;
/// Events kept in the workspace-wide log.
pub const ALL_LOG_CAP: usize = 16_384;
/// Run logs kept; the oldest finished ones are dropped first.
const RUN_LOGS_KEPT: usize = 1_024;

/// One numbered event: `id` counts from 1 over all of its run's events.
#[derive(Clone, Debug)]
pub struct Numbered {
    pub id: u64,
    pub json: Arc<str>,
    /// A `run_finished` event.
    pub finishes: bool,
}

struct Inner {
    /// The log's own number of `events[0]` (its first event is 1).
    first: u64,
    /// The events, numbered the log's own way (`id` plus `base` is the run's).
    events: VecDeque<Numbered>,
    /// How many of the run's events were stored before this log began: 0 for a log that is not
    /// stored, and unknown (nothing shown yet) until the writer has looked.
    base: Option<u64>,
}

/// Where a log stands: the newest event's id, and the newest id when its run was last taken up
/// again (a resume), so that a `run_finished` before that is not the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub last: u64,
    pub reopened: u64,
}

/// An append-only log of events with a bounded memory.
pub struct Log {
    inner: Mutex<Inner>,
    cap: usize,
    mark: watch::Sender<Mark>,
    /// Where its events are stored (a run's log, when the hub has a store): then an event is
    /// shown (the mark moves) once it is stored.
    persist: Option<Persist>,
}

/// What a subscriber reads next.
pub enum Next {
    /// Events after its cursor, in order.
    Events(Vec<Numbered>),
    /// It fell behind: this many events are gone; it goes on from the oldest kept.
    Lagged { missed: u64, resume_after: u64 },
}

impl Log {
    pub fn new(cap: usize) -> Log {
        Log::with(cap, None)
    }

    fn with(cap: usize, persist: Option<Persist>) -> Log {
        Log {
            inner: Mutex::new(Inner { first: 1, events: VecDeque::new(), base: persist.is_none().then_some(0) }),
            cap,
            mark: watch::channel(Mark::default()).0,
            persist,
        }
    }

    /// Appends an event. A stored log hands it to the writer under the lock, so that the
    /// writer gets a run's events in the order of their numbers.
    fn push(self: &Arc<Self>, run: &str, json: Arc<str>, finishes: bool) {
        let number = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let id = inner.first + inner.events.len() as u64;
            inner.events.push_back(Numbered { id, json: json.clone(), finishes });
            if inner.events.len() > self.cap {
                inner.events.pop_front();
                inner.first += 1;
            }
            if let Some(persist) = &self.persist
                && persist.send(Pending { log: self.clone(), run: run.to_string(), id, json }).is_ok()
            {
                return;
            }
            // Not stored (a log of its own, or the writer is gone as the server stops): shown
            // now, numbered from the base if the writer found one.
            *inner.base.get_or_insert(0) + id
        };
        self.stored(number);
    }

    /// Event `id` (and every one before it) is stored: subscribers may see it.
    pub(crate) fn stored(&self, id: u64) {
        self.mark.send_modify(|m| m.last = m.last.max(id));
    }

    /// See [`Inner::base`].
    pub(crate) fn base(&self) -> Option<u64> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).base
    }

    /// The writer found `base` of the run's events stored before this log began.
    pub(crate) fn set_base(&self, base: u64) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).base.get_or_insert(base);
    }

    /// The run is taken up again: what it told so far is not its end.
    fn reopen(&self) {
        self.mark.send_modify(|m| m.reopened = m.last);
    }

    /// The run was not taken up after all (its resume failed at once).
    fn settle(&self) {
        self.mark.send_modify(|m| m.reopened = 0);
    }

    /// The id of the newest event (0 if none).
    pub fn last_id(&self) -> u64 {
        self.mark.borrow().last
    }

    /// Where the log stands now.
    pub fn mark(&self) -> Mark {
        *self.mark.borrow()
    }

    /// Whether event `id` is the run's end as things stand: a `run_finished` that is the newest
    /// event, with no resume after it.
    pub fn ends_at(&self, id: u64, mark: Mark) -> bool {
        if id == 0 || mark.last != id || mark.reopened >= id {
            return false;
        }
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(base) = inner.base else { return false };
        let index = id.checked_sub(base + inner.first);
        index.and_then(|i| inner.events.get(i as usize)).is_some_and(|e| e.finishes)
    }

    /// Whether its run has ended, as things stand (its newest event is that end).
    fn ended(&self) -> bool {
        let mark = self.mark();
        self.ends_at(mark.last, mark)
    }

    /// Up to `max` events after `after` (of those stored, for a stored log).
    pub fn read(&self, after: u64, max: usize) -> Next {
        let shown = self.mark.borrow().last;
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(base) = inner.base else { return Next::Events(Vec::new()) };
        let first = base + inner.first;
        if after + 1 < first {
            return Next::Lagged { missed: first - after - 1, resume_after: first - 1 };
        }
        let skip = (after + 1 - first) as usize;
        let events = inner.events.iter().skip(skip).take(max).map(|e| Numbered { id: e.id + base, ..e.clone() });
        Next::Events(events.take_while(|e| e.id <= shown).collect())
    }

    /// Waits until the log is no longer at `seen` (an event came, or its run was taken up or
    /// settled).
    pub async fn changed(&self, seen: Mark) {
        let mut rx = self.mark.subscribe();
        let _ = rx.wait_for(|m| *m != seen).await;
    }
}

/// Every log of the server.
#[derive(Clone)]
pub struct Hub {
    runs: Arc<Mutex<HashMap<String, Arc<Log>>>>,
    all: Arc<Log>,
    /// The writer of run events, once the store is open (`persist_to`).
    persist: Arc<OnceLock<Persist>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { runs: Arc::default(), all: Arc::new(Log::new(ALL_LOG_CAP)), persist: Arc::default() }
    }
}

impl Hub {
    /// Appends an event to its run's log and to the workspace's.
    pub fn publish(&self, event: &Event) {
        let Ok(json) = serde_json::to_string(event) else { return };
        let json: Arc<str> = json.into();
        let (run, finishes) = match event {
            Event::RunFinished { run, .. } => (run, true),
            Event::RunStarted { run, .. }
            | Event::StepStarted { run, .. }
            | Event::StepFinished { run, .. }
            | Event::StepSkipped { run, .. }
            | Event::StepFailed { run, .. }
            | Event::StepProgress { run, .. }
            | Event::ApprovalRequested { run, .. }
            | Event::ApprovalDecided { run, .. }
            | Event::LlmRequest { run, .. }
            | Event::ToolCall { run, .. } => (run, false),
        };
        let log = self.log_of(run);
        log.push(run, json.clone(), finishes);
        self.all.push(run, json, finishes);
    }

    /// From now on, the events of runs are written to `store`, and a run's log shows each one
    /// once it is (the workspace-wide log is not stored: it streams from now).
    pub fn persist_to(&self, store: monstrum_core::store::Store) {
        let _ = self.persist.set(Persist::spawn(store));
    }

    /// The log of a run, made before the server drives it, so that a subscriber who asks at once
    /// follows it rather than being told from the store.
    pub fn open(&self, run: &str) -> Arc<Log> {
        let log = self.log_of(run);
        log.reopen();
        log
    }

    /// A run this server meant to drive did not go on (its resume failed at once): whoever
    /// follows it stops at its last `run_finished`.
    pub fn settle(&self, run: &str) {
        if let Some(log) = self.run(run) {
            log.settle();
        }
    }

    /// The log of `run`, made if there is none; to keep [`RUN_LOGS_KEPT`], logs of runs that
    /// ended go first.
    fn log_of(&self, run: &str) -> Arc<Log> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        if !runs.contains_key(run) && runs.len() >= RUN_LOGS_KEPT {
            let done: Vec<String> = runs.iter().filter(|(_, log)| log.ended()).map(|(k, _)| k.clone()).collect();
            for k in done.into_iter().take(runs.len() + 1 - RUN_LOGS_KEPT) {
                runs.remove(&k);
            }
        }
        runs.entry(run.to_string())
            .or_insert_with(|| Arc::new(Log::with(RUN_LOG_CAP, self.persist.get().cloned())))
            .clone()
    }

    /// The log of a run this server has events of.
    pub fn run(&self, run: &str) -> Option<Arc<Log>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).get(run).cloned()
    }

    /// Appends an event of the workspace, not of a run (such as a change to an MCP server's
    /// tools), to the workspace's log alone.
    pub fn announce(&self, event: &serde_json::Value) {
        self.all.push("", event.to_string().into(), false);
    }

    /// The workspace-wide log.
    pub fn all(&self) -> Arc<Log> {
        self.all.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(run: &str, step: &str) -> Event {
        Event::StepStarted { run: run.into(), step: step.into(), attempt: 1 }
    }

    #[test]
    fn a_log_numbers_events_and_tells_a_subscriber_that_fell_behind() {
        let log = Arc::new(Log::new(3));
        for i in 0..5 {
            log.push("r", format!("{{\"n\":{i}}}").into(), false);
        }
        assert_eq!(log.last_id(), 5);
        match log.read(0, 10) {
            Next::Lagged { missed, resume_after } => assert_eq!((missed, resume_after), (2, 2)),
            Next::Events(_) => panic!("events 1 and 2 are gone"),
        }
        let Next::Events(events) = log.read(2, 10) else { panic!("3..5 are kept") };
        assert_eq!(events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(&*events[0].json, "{\"n\":2}");
        let Next::Events(events) = log.read(5, 10) else { panic!() };
        assert!(events.is_empty());
    }

    #[test]
    fn the_hub_keeps_a_log_per_run_and_one_for_all() {
        let hub = Hub::default();
        hub.publish(&event("a", "x"));
        hub.publish(&event("b", "y"));
        hub.publish(&Event::RunFinished {
            run: "a".into(),
            status: "succeeded".into(),
            outputs: serde_json::Value::Null,
            error: None,
        });
        let Next::Events(a) = hub.run("a").unwrap().read(0, 10) else { panic!() };
        assert_eq!(a.len(), 2);
        assert!(a[1].finishes && !a[0].finishes);
        let Next::Events(all) = hub.all().read(0, 10) else { panic!() };
        assert_eq!(all.len(), 3);
        assert!(hub.run("c").is_none());
    }
}
