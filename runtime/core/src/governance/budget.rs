//! Budgets: tokens and money per bot per period, per run, and per delegation share.
//!
//! A model request reserves its estimate on every account it is charged to (its bot, every
//! delegator on the chain, every delegation share) before it is sent, and is settled with the
//! real usage after. The reservation is written first and the sums read after, so two requests
//! racing for the last of a budget cannot both pass: whichever sums last sees both.

use crate::store::{Store, now_ms};
use chrono::{Datelike, Duration, TimeZone, Utc};
use monstrum_model::{Limits, Period};
use std::sync::{Arc, Mutex};

/// An account with limits.
#[derive(Clone, Debug)]
pub struct Account {
    /// `bot:<name>` or `delegation:<id>`.
    pub key: String,
    /// How it reads in a denial (`bot ops per month`).
    pub label: String,
    pub limits: Limits,
    /// Only usage at or after this time counts (the period's start).
    pub since: i64,
    /// Only usage in this run counts.
    pub run: Option<String>,
}

impl Account {
    /// Whether `used` (tokens, micro-dollars) is over the limits, and by what.
    pub fn over(&self, used: (i64, i64)) -> Option<String> {
        if let Some(t) = self.limits.tokens
            && used.0 > t as i64
        {
            return Some(format!("{}: {} of {} tokens", self.label, used.0, t));
        }
        if let Some(usd) = self.limits.usd
            && used.1 > to_micro(usd)
        {
            return Some(format!("{}: ${:.4} of ${:.2}", self.label, used.1 as f64 / 1e6, usd));
        }
        None
    }
}

/// Dollars to micro-dollars.
pub fn to_micro(usd: f64) -> i64 {
    (usd * 1_000_000.0).round() as i64
}

/// The start of the period containing now, in ms.
pub fn period_start(period: Period) -> i64 {
    let now = Utc::now();
    let day = Utc.with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0).single().unwrap_or(now);
    let start = match period {
        Period::Day => day,
        Period::Week => day - Duration::days(i64::from(now.weekday().num_days_from_monday())),
        Period::Month => Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().unwrap_or(day),
    };
    start.timestamp_millis()
}

/// One account's share of a reservation.
#[derive(Clone)]
pub struct Row {
    reservation: String,
    account: String,
    run: String,
    at: i64,
    tokens: i64,
    micro_usd: i64,
}

/// Where usage is kept.
#[derive(Clone)]
pub enum Ledger {
    Store(Store),
    /// For engines without a store.
    Memory(Arc<Mutex<Vec<Row>>>),
}

impl Ledger {
    /// A ledger in memory.
    pub fn in_memory() -> Ledger {
        Ledger::Memory(Arc::default())
    }

    /// Reserves (tokens, micro-dollars) on `accounts`, or says which limit it would exceed.
    /// `Err(Err(_))` is a ledger failure, which the caller must treat as a denial.
    pub async fn reserve(
        &self,
        accounts: &[Account],
        charged: &[String],
        run: &str,
        tokens: i64,
        micro_usd: i64,
    ) -> Result<String, Result<String, String>> {
        let id = uuid::Uuid::new_v4().to_string();
        let at = now_ms();
        self.insert(&id, charged, run, at, tokens, micro_usd).await.map_err(Err)?;
        for account in accounts {
            let used = match self.used(account).await {
                Ok(u) => u,
                Err(e) => {
                    let _ = self.release(&id).await;
                    return Err(Err(e));
                }
            };
            if let Some(over) = account.over(used) {
                self.release(&id).await.map_err(Err)?;
                return Err(Ok(over));
            }
        }
        Ok(id)
    }

    async fn insert(
        &self,
        id: &str,
        charged: &[String],
        run: &str,
        at: i64,
        tokens: i64,
        micro: i64,
    ) -> Result<(), String> {
        match self {
            Ledger::Store(s) => s.reserve_budget(id, charged, run, at, tokens, micro).await.map_err(|e| e.to_string()),
            Ledger::Memory(rows) => {
                let mut rows = rows.lock().map_err(|_| "budget ledger poisoned")?;
                rows.extend(charged.iter().map(|account| Row {
                    reservation: id.to_string(),
                    account: account.clone(),
                    run: run.to_string(),
                    at,
                    tokens,
                    micro_usd: micro,
                }));
                Ok(())
            }
        }
    }

    /// What `account` has used in its window.
    pub async fn used(&self, account: &Account) -> Result<(i64, i64), String> {
        match self {
            Ledger::Store(s) => {
                s.budget_used(&account.key, account.since, account.run.as_deref()).await.map_err(|e| e.to_string())
            }
            Ledger::Memory(rows) => {
                let rows = rows.lock().map_err(|_| "budget ledger poisoned")?;
                Ok(rows
                    .iter()
                    .filter(|r| {
                        r.account == account.key
                            && r.at >= account.since
                            && account.run.as_ref().is_none_or(|run| *run == r.run)
                    })
                    .fold((0, 0), |(t, u), r| (t + r.tokens, u + r.micro_usd)))
            }
        }
    }

    /// Replaces a reservation's estimate with the real usage.
    pub async fn settle(&self, id: &str, tokens: i64, micro_usd: i64) -> Result<(), String> {
        match self {
            Ledger::Store(s) => s.settle_budget(id, tokens, micro_usd).await.map_err(|e| e.to_string()),
            Ledger::Memory(rows) => {
                let mut rows = rows.lock().map_err(|_| "budget ledger poisoned")?;
                for r in rows.iter_mut().filter(|r| r.reservation == id) {
                    r.tokens = tokens;
                    r.micro_usd = micro_usd;
                }
                Ok(())
            }
        }
    }

    async fn release(&self, id: &str) -> Result<(), String> {
        match self {
            Ledger::Store(s) => s.release_budget(id).await.map_err(|e| e.to_string()),
            Ledger::Memory(rows) => {
                rows.lock().map_err(|_| "budget ledger poisoned")?.retain(|r| r.reservation != id);
                Ok(())
            }
        }
    }
}
