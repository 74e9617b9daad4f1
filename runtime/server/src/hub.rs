//! Live events: each run the server drives has a log of its events (the `--json` objects, each
//! serialized once), and the workspace has one log of all of them. A run only ever appends to a
//! log and wakes whoever waits; subscribers read at their own pace, so a slow one never slows a
//! run. A log keeps its newest [`RUN_LOG_CAP`] events; a subscriber that fell further behind is
//! told (`lagged`) and goes on from the oldest kept.

use monstrum_core::events::Event;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Events kept per run.
pub const RUN_LOG_CAP: usize = 65_536;
/// Events kept in the workspace-wide log.
pub const ALL_LOG_CAP: usize = 16_384;
/// Run logs kept; the oldest finished ones are dropped first.
const RUN_LOGS_KEPT: usize = 1_024;

/// One numbered event: `id` counts from 1 in its log.
#[derive(Clone, Debug)]
pub struct Numbered {
    pub id: u64,
    pub json: Arc<str>,
    /// A `run_finished` event.
    pub finishes: bool,
}

struct Inner {
    /// Id of `events[0]`.
    first: u64,
    events: VecDeque<Numbered>,
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
        Log {
            inner: Mutex::new(Inner { first: 1, events: VecDeque::new() }),
            cap,
            mark: watch::channel(Mark::default()).0,
        }
    }

    fn push(&self, json: Arc<str>, finishes: bool) {
        let id = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let id = inner.first + inner.events.len() as u64;
            inner.events.push_back(Numbered { id, json, finishes });
            if inner.events.len() > self.cap {
                inner.events.pop_front();
                inner.first += 1;
            }
            id
        };
        self.mark.send_modify(|m| m.last = id);
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
        inner.events.back().is_some_and(|e| e.id == id && e.finishes)
    }

    /// Whether its run has ended, as things stand (its newest event is that end).
    fn ended(&self) -> bool {
        let mark = self.mark();
        self.ends_at(mark.last, mark)
    }

    /// Up to `max` events after `after`.
    pub fn read(&self, after: u64, max: usize) -> Next {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if after + 1 < inner.first {
            return Next::Lagged { missed: inner.first - after - 1, resume_after: inner.first - 1 };
        }
        let skip = (after + 1 - inner.first) as usize;
        Next::Events(inner.events.iter().skip(skip).take(max).cloned().collect())
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
}

impl Default for Hub {
    fn default() -> Self {
        Hub { runs: Arc::default(), all: Arc::new(Log::new(ALL_LOG_CAP)) }
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
        log.push(json.clone(), finishes);
        self.all.push(json, finishes);
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
        runs.entry(run.to_string()).or_insert_with(|| Arc::new(Log::new(RUN_LOG_CAP))).clone()
    }

    /// The log of a run this server has events of.
    pub fn run(&self, run: &str) -> Option<Arc<Log>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).get(run).cloned()
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
        let log = Log::new(3);
        for i in 0..5 {
            log.push(format!("{{\"n\":{i}}}").into(), false);
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
