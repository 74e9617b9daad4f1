//! The five kinds of channel, each in its own module: how a request from that service is
//! verified (its own signature scheme; a request that does not verify is refused and nothing
//! runs), what it means (a handshake answered at once, a message, or something ignored), and how
//! an answer goes back (the service's own route). No kind touches the store, the engine or a
//! route: `crate::hook` does, the same way for every kind.

pub mod crypto;
pub mod discord;
pub mod feishu;
pub mod slack;
pub mod telegram;
pub mod webhook;

use crate::message::Message;
use http::HeaderMap;
pub use monstrum_model::ChannelKind as Kind;
use std::collections::BTreeMap;
use std::time::Duration;
use zeroize::Zeroizing;

/// The service's API base URL when a channel file names none.
pub fn default_api(kind: Kind) -> &'static str {
    match kind {
        Kind::Slack => "https://slack.com",
        Kind::Telegram => "https://api.telegram.org",
        Kind::Discord => "https://discord.com/api/v10",
        Kind::Feishu => "https://open.feishu.cn",
        Kind::Webhook => "",
    }
}

/// Verifies and reads one request of a channel of `kind`.
pub fn inbound(kind: Kind, request: &Request<'_>) -> Result<Inbound, Refused> {
    match kind {
        Kind::Slack => slack::inbound(request),
        Kind::Telegram => telegram::inbound(request),
        Kind::Discord => discord::inbound(request),
        Kind::Feishu => feishu::inbound(request),
        Kind::Webhook => webhook::inbound(request),
    }
}

/// Sends `text` back to where `message` came from, by the kind's own route.
pub async fn answer(kind: Kind, out: &Outbound<'_>, message: &Message, text: &str) -> Result<(), SendError> {
    match kind {
        Kind::Slack => slack::answer(out, message, text).await,
        Kind::Telegram => telegram::answer(out, message, text).await,
        Kind::Discord => discord::answer(out, message, text).await,
        Kind::Feishu => feishu::answer(out, message, text).await,
        Kind::Webhook => webhook::answer(out, message, text).await,
    }
}

/// Posts `text` to `conversation` (in `thread`) of a channel of `kind`: a message nobody asked
/// for (a bot's `CHANNEL.send`). `key` is the call's idempotency key: a webhook receiver gets it
/// as the `webhook-id`, so a resent post dedupes.
pub async fn post(
    kind: Kind,
    out: &Outbound<'_>,
    conversation: &str,
    thread: Option<&str>,
    text: &str,
    key: &str,
) -> Result<(), SendError> {
    match kind {
        Kind::Discord => discord::post(out, conversation, thread, text).await,
        Kind::Feishu => feishu::post(out, conversation, thread, text).await,
        // Slack's, Telegram's and a webhook's answer is a post to a conversation already.
        Kind::Slack | Kind::Telegram | Kind::Webhook => {
            let mut reply = serde_json::json!({});
            if kind == Kind::Telegram
                && let Some(topic) = thread.and_then(|t| t.parse::<i64>().ok())
            {
                reply["message_thread_id"] = topic.into();
            }
            let message = Message {
                channel: String::new(),
                kind: kind.as_str().into(),
                event_id: key.to_string(),
                conversation: conversation.to_string(),
                thread: thread.map(str::to_string),
                user: Default::default(),
                text: String::new(),
                attachments: Vec::new(),
                raw: serde_json::Value::Null,
                reply,
            };
            answer(kind, out, &message, text).await
        }
    }
}

/// A channel's secrets, read from the vault, by role (`signing_secret`, `bot_token`, ...).
#[derive(Default)]
pub struct Secrets(pub BTreeMap<String, Zeroizing<Vec<u8>>>);

impl Secrets {
    /// The secret of `role`; a channel whose file lacks a role its kind needs does not load, so
    /// a missing one is an error here.
    pub fn get(&self, role: &str) -> Result<&[u8], Refused> {
        self.0
            .get(role)
            .map(|s| s.as_slice())
            .ok_or_else(|| Refused::Unauthorized(format!("the channel has no `{role}` secret")))
    }
}

/// One request to `/hooks/{channel}`, as the kind sees it.
pub struct Request<'a> {
    pub channel: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub secrets: &'a Secrets,
    /// Now, in seconds since the epoch (timestamps are checked against it).
    pub now: i64,
}

/// What a verified request is.
#[derive(Debug)]
pub enum Inbound {
    /// A handshake (Slack `url_verification`, Discord PING, Feishu `challenge`): this JSON is
    /// the answer, at once; nothing runs.
    Handshake(serde_json::Value),
    /// A message, and the body of the immediate acknowledgement (`None`: an empty 200).
    Message(Box<Message>, Option<serde_json::Value>),
    /// A person's click on an approval gate's button (Slack, Telegram, Discord): decided at once
    /// with the same rules as the command line (approvers, self-approval, expiry).
    Decision(Decision),
    /// Verified, but not a message for a bot (a bot's own message, an event kind not handled):
    /// acknowledged with an empty 200, nothing runs. Why, for the log.
    Ignored(String),
}

/// A click on an approval's button.
#[derive(Debug, PartialEq)]
pub struct Decision {
    pub run: String,
    pub step: String,
    pub approve: bool,
    /// Who clicked, by the service's id.
    pub user: String,
    /// What telling the clicker the outcome needs (Slack's `response_url`, Telegram's callback
    /// query id and message).
    pub reply: serde_json::Value,
}

/// The token an approval's button carries (Slack's `value`, Telegram's `callback_data`,
/// Discord's `custom_id`): `a RUN STEP` or `r RUN STEP`.
pub fn decision_token(approve: bool, run: &str, step: &str) -> String {
    format!("{} {run} {step}", if approve { "a" } else { "r" })
}

/// The (approve, run, step) of a button's token.
pub fn parse_decision_token(token: &str) -> Option<(bool, String, String)> {
    let mut parts = token.splitn(3, ' ');
    let approve = match parts.next()? {
        "a" => true,
        "r" => false,
        _ => return None,
    };
    let (run, step) = (parts.next()?, parts.next()?);
    (!run.is_empty() && !step.is_empty()).then(|| (approve, run.to_string(), step.to_string()))
}

/// Asks for a decision in the conversation `message` came from: `text`, with Approve and Reject
/// buttons where the kind has them (Slack, Telegram, Discord); elsewhere the text alone (it names
/// the command that decides).
pub async fn ask(
    kind: Kind,
    out: &Outbound<'_>,
    message: &Message,
    text: &str,
    run: &str,
    step: &str,
) -> Result<(), SendError> {
    match kind {
        Kind::Slack => slack::ask(out, message, text, run, step).await,
        Kind::Telegram => telegram::ask(out, message, text, run, step).await,
        Kind::Discord => discord::ask(out, message, text, run, step).await,
        Kind::Feishu | Kind::Webhook => answer(kind, out, message, text).await,
    }
}

/// The immediate answer to a click, once decided (`outcome`): Discord's replaces the question
/// (its buttons go); the other kinds acknowledge with an empty 200 and are told by [`decided`].
pub fn decision_ack(kind: Kind, outcome: &str, done: bool) -> Option<serde_json::Value> {
    match kind {
        Kind::Discord if done => {
            Some(serde_json::json!({ "type": 7, "data": { "content": outcome, "components": [] } }))
        }
        // Refused (not an approver, self-approval): only the clicker sees why.
        Kind::Discord => Some(serde_json::json!({ "type": 4, "data": { "content": outcome, "flags": 64 } })),
        _ => None,
    }
}

/// Tells the clicker the outcome of their click, after the acknowledgement.
pub async fn decided(
    kind: Kind,
    out: &Outbound<'_>,
    decision: &Decision,
    outcome: &str,
    done: bool,
) -> Result<(), SendError> {
    match kind {
        Kind::Slack => slack::decided(out, decision, outcome, done).await,
        Kind::Telegram => telegram::decided(out, decision, outcome, done).await,
        _ => Ok(()),
    }
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// It does not verify (signature, token, stale or future timestamp): 401, nothing runs.
    Unauthorized(String),
    /// It verifies but cannot be read: 400, nothing runs.
    Malformed(String),
}

/// What an answer is sent with.
pub struct Outbound<'a> {
    pub http: &'a reqwest::Client,
    /// The service's API base URL (the channel's `api`, else [`Kind::default_api`]), without a
    /// trailing `/`.
    pub api: &'a str,
    pub secrets: &'a Secrets,
    /// The channel's `callback` URL (kind `webhook`).
    pub callback: Option<&'a str>,
    /// Where the channel keeps its access token between answers (Feishu's tenant token); `None`:
    /// one is asked for each time.
    pub token: Option<&'a TokenCache>,
}

/// A channel's access token, kept in memory between answers until shortly before it expires (a
/// service limits how often one may be asked for), and dropped when the service refuses it.
#[derive(Default)]
pub struct TokenCache(std::sync::Mutex<Option<(Zeroizing<String>, std::time::Instant)>>);

impl TokenCache {
    /// The kept token, unless it expires within `margin`.
    pub fn get(&self, margin: Duration) -> Option<Zeroizing<String>> {
        let kept = self.0.lock().ok()?;
        let (token, expires) = kept.as_ref()?;
        (std::time::Instant::now() + margin < *expires).then(|| token.clone())
    }

    /// Keeps `token`, valid for `valid_for` from now.
    pub fn keep(&self, token: &Zeroizing<String>, valid_for: Duration) {
        if let Ok(mut kept) = self.0.lock() {
            *kept = Some((token.clone(), std::time::Instant::now() + valid_for));
        }
    }

    /// Drops the kept token.
    pub fn forget(&self) {
        if let Ok(mut kept) = self.0.lock() {
            *kept = None;
        }
    }
}

/// Why an answer was not delivered.
#[derive(Debug)]
pub struct SendError {
    pub error: String,
    /// The service asked to wait this long (429 `Retry-After`, Telegram's `retry_after`, ...).
    pub retry_after: Option<Duration>,
    /// Sending again cannot help (a 4xx other than 408 and 429, a refused token).
    pub permanent: bool,
}

impl SendError {
    /// The error of a response that was not a success: 429 and 5xx are worth another try.
    pub fn status(status: reqwest::StatusCode, retry_after: Option<Duration>, body: &str) -> SendError {
        let code = status.as_u16();
        SendError {
            error: format!("{status}: {}", body.chars().take(300).collect::<String>()),
            retry_after,
            permanent: (400..500).contains(&code) && code != 408 && code != 429,
        }
    }

    /// A request that did not get a response (refused connection, timeout): worth another try.
    pub fn transport(e: reqwest::Error) -> SendError {
        SendError { error: e.to_string(), retry_after: None, permanent: false }
    }
}

/// The header `name` as text, if present and visible ASCII.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A `Retry-After` header in seconds.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Checks a timestamp (seconds) against `now`: at most `window` seconds old or ahead.
pub fn fresh(timestamp: &str, now: i64, window: i64) -> Result<(), Refused> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Refused::Unauthorized(format!("the timestamp `{timestamp}` is not a number")))?;
    if (now - ts).abs() > window {
        return Err(Refused::Unauthorized(format!(
            "the timestamp is {}s from now (at most {window}s is taken): a replay or a wrong clock",
            now - ts
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_token_round_trips_and_nothing_else_parses() {
        let token = decision_token(true, "0b7f-run", "gate");
        assert_eq!(parse_decision_token(&token), Some((true, "0b7f-run".into(), "gate".into())));
        assert_eq!(parse_decision_token(&decision_token(false, "r", "s")), Some((false, "r".into(), "s".into())));
        for other in ["", "a", "a run", "x run step", "a  step", "approve run step"] {
            assert_eq!(parse_decision_token(other), None, "{other}");
        }
    }

    #[test]
    fn discord_is_answered_in_the_acknowledgement_of_a_click() {
        let done = decision_ack(Kind::Discord, "Approved", true).unwrap();
        assert_eq!(done["type"], 7, "the question is replaced");
        assert_eq!(done["data"]["components"], serde_json::json!([]));
        let refused = decision_ack(Kind::Discord, "Not decided", false).unwrap();
        assert_eq!(
            (refused["type"].as_u64(), refused["data"]["flags"].as_u64()),
            (Some(4), Some(64)),
            "only the clicker sees it"
        );
        assert_eq!(decision_ack(Kind::Slack, "Approved", true), None);
    }
}
