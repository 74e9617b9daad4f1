//! `slack`: a Slack app's slash commands and its Events API subscription.
//!
//! Slack signs every request with the app's signing secret: `X-Slack-Signature` is
//! `v0=` and the hex of HMAC-SHA256 over `v0:{X-Slack-Request-Timestamp}:{body}`, and the
//! timestamp must be within five minutes (Slack's own advice against replays). A slash command
//! comes form-encoded; an event comes as JSON, the first one being the `url_verification`
//! handshake whose `challenge` is echoed back.
//!
//! A slash command is answered through its `response_url` (no token needed, valid for 30
//! minutes); an event in the thread of the message it is about, with `chat.postMessage` and the
//! bot token. Slack reports most refusals as HTTP 200 with `{"ok": false, "error": ...}`.

use super::crypto::{self, Response};
use super::{Inbound, Outbound, Refused, Request, SendError, fresh, header, retry_after};
use crate::message::{Message, User};
use serde_json::{Map, Value, json};

/// How far `X-Slack-Request-Timestamp` may be from now.
const WINDOW: i64 = 300;

pub fn inbound(request: &Request<'_>) -> Result<Inbound, Refused> {
    let timestamp = crypto::required(request.headers, "x-slack-request-timestamp")?;
    let signature = crypto::required(request.headers, "x-slack-signature")?;
    fresh(timestamp, request.now, WINDOW)?;
    let tag = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| Refused::Unauthorized("the `X-Slack-Signature` is not `v0=` and hex".into()))?;
    let secret = request.secrets.get("signing_secret")?;
    if !crypto::hmac_sha256_verify(secret, &[b"v0:", timestamp.as_bytes(), b":", request.body], &tag) {
        return Err(Refused::Unauthorized("the `X-Slack-Signature` does not match".into()));
    }

    let form = header(request.headers, "content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if form { slash_command(request) } else { event(request) }
}

/// A slash command: form fields (`command`, `text`, `user_id`, `channel_id`, `response_url`,
/// `trigger_id`, ...). The legacy verification `token` among them is dropped, and the
/// `response_url` (whoever holds it can post to the channel) is kept for the answer only.
fn slash_command(request: &Request<'_>) -> Result<Inbound, Refused> {
    let mut fields: Map<String, Value> = url::form_urlencoded::parse(request.body)
        .filter(|(name, _)| name != "token")
        .map(|(name, value)| (name.into_owned(), Value::String(value.into_owned())))
        .collect();
    let response_url = fields.remove("response_url");
    let field = |name: &str| fields.get(name).and_then(Value::as_str);
    let Some(command) = field("command") else {
        // Interactivity (buttons, modals) posts a form too, with only a `payload`.
        return interaction(field("payload"));
    };
    let required = |name: &str| {
        field(name).map(String::from).ok_or_else(|| Refused::Malformed(format!("the slash command has no `{name}`")))
    };
    let conversation = required("channel_id")?;
    let message = Message {
        channel: request.channel.to_string(),
        kind: "slack".into(),
        event_id: required("trigger_id")?,
        reply: json!({ "response_url": response_url, "channel": conversation }),
        conversation,
        thread: None,
        user: User { id: required("user_id")?, name: field("user_name").map(String::from) },
        text: format!("{command} {}", field("text").unwrap_or("")).trim().to_string(),
        attachments: Vec::new(),
        raw: Value::Object(fields),
    };
    Ok(Inbound::Message(Box::new(message), None))
}

/// An Events API request: the `url_verification` handshake, or an `event_callback` of which
/// people's `message` and `app_mention` events are messages.
fn event(request: &Request<'_>) -> Result<Inbound, Refused> {
    let body: Value = serde_json::from_slice(request.body)
        .map_err(|e| Refused::Malformed(format!("the body is neither a form nor JSON: {e}")))?;
    match body["type"].as_str() {
        Some("url_verification") => {
            let challenge = body["challenge"]
                .as_str()
                .ok_or_else(|| Refused::Malformed("the `url_verification` has no `challenge`".into()))?;
            Ok(Inbound::Handshake(json!({ "challenge": challenge })))
        }
        Some("event_callback") => {
            let event = &body["event"];
            let kind = event["type"].as_str().unwrap_or("");
            if kind != "message" && kind != "app_mention" {
                return Ok(Inbound::Ignored(format!("a `{kind}` event")));
            }
            // A bot's message (the app's own answer among them) or an edit, a join, a deletion.
            if event.get("bot_id").is_some() || event.get("subtype").is_some() {
                return Ok(Inbound::Ignored("a bot's message or a message with a `subtype`".into()));
            }
            let text = |field: &str| {
                event[field]
                    .as_str()
                    .map(String::from)
                    .ok_or_else(|| Refused::Malformed(format!("the event has no `{field}`")))
            };
            let event_id = body["event_id"]
                .as_str()
                .ok_or_else(|| Refused::Malformed("the `event_callback` has no `event_id`".into()))?;
            let thread = event["thread_ts"].as_str().map(String::from);
            let place = json!({ "channel": event["channel"], "ts": event["ts"], "thread_ts": thread });
            let message = Message {
                channel: request.channel.to_string(),
                kind: "slack".into(),
                event_id: event_id.to_string(),
                conversation: text("channel")?,
                thread: thread.clone(),
                user: User { id: text("user")?, name: None },
                text: event["text"].as_str().unwrap_or("").to_string(),
                attachments: Vec::new(),
                raw: place.clone(),
                reply: place,
            };
            Ok(Inbound::Message(Box::new(message), None))
        }
        other => Ok(Inbound::Ignored(format!("a `{}` request", other.unwrap_or("untyped")))),
    }
}

/// An interactive payload: a click on an approval's button (`block_actions` whose action is
/// one of ours); anything else (a modal, another app's button) is ignored.
fn interaction(payload: Option<&str>) -> Result<Inbound, Refused> {
    let Some(payload) = payload else {
        return Ok(Inbound::Ignored("a form with neither `command` nor `payload`".into()));
    };
    let payload: Value =
        serde_json::from_str(payload).map_err(|e| Refused::Malformed(format!("the `payload` is not JSON: {e}")))?;
    let action = &payload["actions"][0];
    let token = action["value"].as_str().filter(|_| payload["type"] == "block_actions");
    let Some((approve, run, step)) = token.and_then(super::parse_decision_token) else {
        return Ok(Inbound::Ignored("an interactive payload that is not an approval's button".into()));
    };
    let user =
        payload["user"]["id"].as_str().ok_or_else(|| Refused::Malformed("the payload has no `user.id`".into()))?;
    Ok(Inbound::Decision(super::Decision {
        run,
        step,
        approve,
        user: user.to_string(),
        reply: json!({ "response_url": payload["response_url"] }),
    }))
}

pub async fn answer(out: &Outbound<'_>, message: &Message, text: &str) -> Result<(), SendError> {
    post(out, message, json!({ "text": text })).await
}

/// Asks for a decision: the text, and Approve and Reject buttons (Block Kit).
pub async fn ask(out: &Outbound<'_>, message: &Message, text: &str, run: &str, step: &str) -> Result<(), SendError> {
    let button = |label: &str, approve: bool, style: &str| {
        json!({ "type": "button", "text": { "type": "plain_text", "text": label }, "style": style,
                "action_id": if approve { "monstrum_approve" } else { "monstrum_reject" },
                "value": super::decision_token(approve, run, step) })
    };
    let blocks = json!([
        { "type": "section", "text": { "type": "mrkdwn", "text": text } },
        { "type": "actions", "elements": [button("Approve", true, "primary"), button("Reject", false, "danger")] }
    ]);
    post(out, message, json!({ "text": text, "blocks": blocks })).await
}

/// Tells the clicker the outcome: the question is replaced (its buttons go) when decided; a
/// refusal is shown to the clicker alone.
pub async fn decided(
    out: &Outbound<'_>,
    decision: &super::Decision,
    outcome: &str,
    done: bool,
) -> Result<(), SendError> {
    let Some(response_url) = decision.reply["response_url"].as_str() else { return Ok(()) };
    url::Url::parse(response_url).map_err(|_| crypto::permanent("the `response_url` is not a URL"))?;
    let body = if done {
        json!({ "text": outcome, "replace_original": true })
    } else {
        json!({ "text": outcome, "response_type": "ephemeral", "replace_original": false })
    };
    ok(crypto::send_json(out.http.post(response_url), body.to_string()).await?)
}

/// Posts `body` (a `text`, maybe `blocks`) where `message` came from: its `response_url`, else
/// `chat.postMessage` in its thread. A `response_url` lasts 30 minutes and five uses: one Slack
/// no longer takes (404, `expired_url`, `used_url`) gives way to `chat.postMessage` in the
/// channel, so a long run is still answered.
async fn post(out: &Outbound<'_>, message: &Message, mut body: Value) -> Result<(), SendError> {
    if let Some(response_url) = message.reply["response_url"].as_str() {
        url::Url::parse(response_url).map_err(|_| crypto::permanent("the `response_url` is not a URL"))?;
        let mut once = body.clone();
        once["response_type"] = json!("in_channel");
        let response = crypto::send_json(out.http.post(response_url), once.to_string()).await?;
        let spent = response.status == http::StatusCode::NOT_FOUND
            || ["expired_url", "used_url"].iter().any(|why| response.text.contains(why));
        if !spent {
            return ok(response);
        }
        tracing::info!("slack: a response_url was spent (expired or used up); answering with chat.postMessage");
    }
    let token = crypto::secret_text(out.secrets, "bot_token")?;
    let url = crypto::endpoint(out.api, &["api", "chat.postMessage"])?;
    body["channel"] = json!(message.conversation);
    // In the message's thread, or one started on the message itself.
    if let Some(thread) = message.thread.as_deref().or(message.reply["ts"].as_str()) {
        body["thread_ts"] = json!(thread);
    }
    ok(crypto::send_json(out.http.post(url).bearer_auth(token), body.to_string()).await?)
}

/// Slack's verdict: an HTTP error, or `"ok": false` in a 200 (retryable only when `ratelimited`).
fn ok(response: Response) -> Result<(), SendError> {
    let wait = retry_after(&response.headers);
    let body = response.success(|_| None)?;
    if body["ok"] == json!(false) {
        let error = body["error"].as_str().unwrap_or("no `error` given");
        return Err(crypto::declined("slack", error, error == "ratelimited", wait));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::crypto::testing::{self, Server, reply};
    use http::Method;
    use std::time::Duration;

    /// Slack's worked example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1531420618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const FORM: &str = "application/x-www-form-urlencoded";

    fn headers(ts: i64, signature: &str, content_type: &str) -> http::HeaderMap {
        let ts = ts.to_string();
        testing::headers(&[
            ("x-slack-request-timestamp", &ts),
            ("x-slack-signature", signature),
            ("content-type", content_type),
        ])
    }

    fn signed(ts: i64, body: &str, content_type: &str) -> http::HeaderMap {
        let tag = crypto::hmac_sha256(SECRET.as_bytes(), &[format!("v0:{ts}:").as_bytes(), body.as_bytes()]);
        headers(ts, &format!("v0={}", hex::encode(tag)), content_type)
    }

    fn run(headers: &http::HeaderMap, body: &str, now: i64) -> Result<Inbound, Refused> {
        let secrets = testing::secrets(&[("signing_secret", SECRET), ("bot_token", "xoxb-1")]);
        inbound(&testing::request(headers, body.as_bytes(), &secrets, now))
    }

    fn message(result: Result<Inbound, Refused>) -> Message {
        match result {
            Ok(Inbound::Message(message, None)) => *message,
            other => panic!("not a message without ack: {other:?}"),
        }
    }

    fn unauthorized(result: Result<Inbound, Refused>) {
        assert!(matches!(result, Err(Refused::Unauthorized(_))), "{result:?}");
    }

    fn ignored(result: Result<Inbound, Refused>) {
        assert!(matches!(result, Ok(Inbound::Ignored(_))), "{result:?}");
    }

    #[test]
    fn slacks_documented_example_verifies_and_is_a_slash_command() {
        let message = message(run(&headers(TS, SIGNATURE, FORM), BODY, TS + 10));
        let response_url = "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN";
        assert_eq!(message.reply, json!({ "response_url": response_url, "channel": "G8PSS9T3V" }));
        assert_eq!(
            message,
            Message {
                channel: "chan".into(),
                kind: "slack".into(),
                event_id: "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c".into(),
                conversation: "G8PSS9T3V".into(),
                thread: None,
                user: User { id: "U2CERLKJA".into(), name: Some("roadrunner".into()) },
                text: "/webhook-collect".into(),
                attachments: vec![],
                raw: json!({
                    "team_id": "T1DC2JH3J", "team_domain": "testteamnow", "channel_id": "G8PSS9T3V",
                    "channel_name": "foobar", "user_id": "U2CERLKJA", "user_name": "roadrunner",
                    "command": "/webhook-collect", "text": "",
                    "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
                }),
                reply: message.reply.clone(),
            }
        );
    }

    #[test]
    fn a_command_with_text_reads_as_one_line() {
        let body = "command=%2Fask&text=what+is+up&user_id=U1&channel_id=C1&trigger_id=T.1&response_url=x";
        let message = message(run(&signed(TS, body, "application/x-www-form-urlencoded; charset=utf-8"), body, TS));
        assert_eq!(message.text, "/ask what is up");
        assert_eq!(message.user, User { id: "U1".into(), name: None });
    }

    #[test]
    fn what_does_not_verify_is_refused() {
        let wrong = SIGNATURE.replace("a2114d", "a2114e");
        unauthorized(run(&headers(TS, &wrong, FORM), BODY, TS));
        unauthorized(run(&headers(TS, SIGNATURE, FORM), &BODY.replace("roadrunner", "coyote"), TS));
        unauthorized(run(&headers(TS, SIGNATURE, FORM), BODY, TS + 301));
        unauthorized(run(&headers(TS, SIGNATURE, FORM), BODY, TS - 301));
        unauthorized(run(&headers(TS + 1, SIGNATURE, FORM), BODY, TS));
        unauthorized(run(&headers(TS, SIGNATURE.trim_start_matches("v0="), FORM), BODY, TS));
        for name in ["x-slack-request-timestamp", "x-slack-signature"] {
            let mut headers = headers(TS, SIGNATURE, FORM);
            headers.remove(name);
            unauthorized(run(&headers, BODY, TS));
        }
    }

    #[test]
    fn the_url_verification_is_answered_with_its_challenge() {
        let body = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        match run(&signed(TS, body, "application/json"), body, TS) {
            Ok(Inbound::Handshake(answer)) => {
                assert_eq!(answer, json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_persons_message_event_is_a_message() {
        let body = json!({
            "type": "event_callback", "event_id": "Ev1",
            "event": {"type": "app_mention", "user": "U2", "text": "<@B1> hello", "ts": "1.5", "channel": "C9", "thread_ts": "1.1"},
        })
        .to_string();
        let message = message(run(&signed(TS, &body, "application/json"), &body, TS));
        assert_eq!(message.event_id, "Ev1");
        assert_eq!(message.conversation, "C9");
        assert_eq!(message.thread.as_deref(), Some("1.1"));
        assert_eq!(message.user, User { id: "U2".into(), name: None });
        assert_eq!(message.text, "<@B1> hello");
        assert_eq!(message.raw, json!({"channel": "C9", "ts": "1.5", "thread_ts": "1.1"}));
        assert_eq!(message.reply, message.raw);
    }

    #[test]
    fn bots_edits_and_other_events_are_ignored() {
        for event in [
            json!({"type": "message", "bot_id": "B1", "text": "mine", "channel": "C", "ts": "1"}),
            json!({"type": "message", "subtype": "message_changed", "channel": "C", "ts": "1"}),
            json!({"type": "reaction_added", "user": "U", "reaction": "+1"}),
        ] {
            let body = json!({"type": "event_callback", "event_id": "Ev2", "event": event}).to_string();
            ignored(run(&signed(TS, &body, "application/json"), &body, TS));
        }
        let body = "payload=%7B%7D";
        ignored(run(&signed(TS, body, FORM), body, TS));
    }

    #[test]
    fn a_signed_body_that_cannot_be_read_is_malformed() {
        for (body, content_type) in [
            ("not json", "application/json"),
            (r#"{"type":"event_callback","event":{"type":"message","user":"U","channel":"C"}}"#, "application/json"),
            ("command=%2Fx&user_id=U", FORM),
        ] {
            let result = run(&signed(TS, body, content_type), body, TS);
            assert!(matches!(result, Err(Refused::Malformed(_))), "{body}: {result:?}");
        }
    }

    fn event_message(reply: Value, thread: Option<&str>) -> Message {
        Message {
            channel: "chan".into(),
            kind: "slack".into(),
            event_id: "Ev1".into(),
            conversation: "C9".into(),
            thread: thread.map(String::from),
            user: User::default(),
            text: "q".into(),
            attachments: vec![],
            raw: json!({}),
            reply,
        }
    }

    async fn answer_with(server: &Server, message: &Message) -> Result<(), SendError> {
        let secrets = testing::secrets(&[("signing_secret", SECRET), ("bot_token", "xoxb-test")]);
        let http = reqwest::Client::new();
        answer(&testing::outbound(&http, &server.url, &secrets), message, "the answer").await
    }

    #[tokio::test]
    async fn an_event_is_answered_with_chat_post_message_in_its_thread() {
        let server =
            Server::start(vec![reply(200, &[], json!({"ok": true})), reply(200, &[], json!({"ok": true}))]).await;
        answer_with(&server, &event_message(json!({"channel": "C9", "ts": "1.5", "thread_ts": null}), None))
            .await
            .unwrap();
        answer_with(&server, &event_message(json!({"channel": "C9", "ts": "1.5", "thread_ts": "1.1"}), Some("1.1")))
            .await
            .unwrap();
        let recorded = server.recorded();
        assert_eq!(recorded.len(), 2);
        for (request, thread) in recorded.iter().zip(["1.5", "1.1"]) {
            assert_eq!(request.method, Method::POST);
            assert_eq!(request.path, "/api/chat.postMessage");
            assert_eq!(testing::header(request, "authorization"), "Bearer xoxb-test");
            assert_eq!(testing::header(request, "content-type"), "application/json; charset=utf-8");
            assert_eq!(request.json, json!({"channel": "C9", "text": "the answer", "thread_ts": thread}));
        }
    }

    #[tokio::test]
    async fn a_slash_command_is_answered_through_its_response_url() {
        let server = Server::start(vec![reply(200, &[], json!({"ok": true}))]).await;
        let reply = json!({"response_url": format!("{}/commands/T1/2/abc", server.url), "channel": "C9"});
        answer_with(&server, &event_message(reply, None)).await.unwrap();
        let recorded = server.recorded();
        assert_eq!(recorded[0].method, Method::POST);
        assert_eq!(recorded[0].path, "/commands/T1/2/abc");
        assert_eq!(testing::header(&recorded[0], "authorization"), "");
        assert_eq!(recorded[0].json, json!({"text": "the answer", "response_type": "in_channel"}));
    }

    #[tokio::test]
    async fn a_spent_response_url_gives_way_to_chat_post_message_in_the_channel() {
        for spent in [reply(404, &[], json!("expired_url")), reply(200, &[], json!("used_url"))] {
            let server = Server::start(vec![spent, reply(200, &[], json!({"ok": true}))]).await;
            let reply = json!({"response_url": format!("{}/commands/T1/2/abc", server.url), "channel": "C9"});
            let mut message = event_message(reply, None);
            message.conversation = "C9".into();
            answer_with(&server, &message).await.unwrap();
            let recorded = server.recorded();
            assert_eq!(recorded.len(), 2);
            assert_eq!(recorded[1].path, "/api/chat.postMessage");
            assert_eq!(testing::header(&recorded[1], "authorization"), "Bearer xoxb-test");
            assert_eq!(recorded[1].json, json!({"channel": "C9", "text": "the answer"}));
        }
    }

    #[tokio::test]
    async fn rate_limits_are_retryable_and_other_refusals_are_not() {
        let server = Server::start(vec![
            reply(429, &[("retry-after", "30")], json!({"ok": false, "error": "ratelimited"})),
            reply(200, &[], json!({"ok": false, "error": "ratelimited"})),
            reply(200, &[], json!({"ok": false, "error": "channel_not_found"})),
            reply(500, &[], json!({})),
        ])
        .await;
        let message = event_message(json!({"ts": "1.5"}), None);
        let error = answer_with(&server, &message).await.unwrap_err();
        assert!(!error.permanent);
        assert_eq!(error.retry_after, Some(Duration::from_secs(30)));
        assert!(!answer_with(&server, &message).await.unwrap_err().permanent);
        let error = answer_with(&server, &message).await.unwrap_err();
        assert!(error.permanent);
        assert!(error.error.contains("channel_not_found"), "{}", error.error);
        assert!(!answer_with(&server, &message).await.unwrap_err().permanent);
    }
}
