//! `webhook`: any system that speaks Standard Webhooks (<https://www.standardwebhooks.com>).
//!
//! Each request carries `webhook-id` (the event's id, the same on a redelivery),
//! `webhook-timestamp` (seconds) and `webhook-signature`: space-separated `v1,<base64>` entries,
//! each an HMAC-SHA256 of `{id}.{timestamp}.{body}` under the shared secret (`whsec_` and the
//! base64 key). Any `v1` entry that matches passes (a sender rotating its secret signs with both);
//! other versions are skipped. The body is `{"text", "conversation"?, "thread"?, "user"?,
//! "attachments"?}`.
//!
//! The answer goes to the channel's `callback` URL, signed the same way, so the receiver checks
//! it with the same secret; its `webhook-id` is `{event_id}.answer`, so a retried answer is the
//! same event to the receiver and is deduplicated there.

use super::crypto::{self, Response};
use super::{Inbound, Outbound, Refused, Request, SendError, fresh};
use crate::message::{Message, User};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// How far a `webhook-timestamp` may be from now (the specification's tolerance).
const WINDOW: i64 = 300;

/// The signature of `body` as `id` at `timestamp` under `secret` (the `whsec_` text; the prefix
/// is optional), as one `webhook-signature` entry: `v1,<base64>`. A secret that is not base64 is
/// used as it is (such a signature verifies nowhere, [`inbound`] and [`answer`] refuse that
/// secret).
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = key(secret).unwrap_or_else(|| Zeroizing::new(secret.to_vec()));
    signature(&key, id, &timestamp.to_string(), body)
}

fn signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let tag = crypto::hmac_sha256(key, &signed_content(id, timestamp, body));
    format!("v1,{}", STANDARD.encode(tag))
}

fn signed_content<'a>(id: &'a str, timestamp: &'a str, body: &'a [u8]) -> [&'a [u8]; 5] {
    [id.as_bytes(), b".", timestamp.as_bytes(), b".", body]
}

/// The HMAC key of a `whsec_` secret: the base64 after the prefix.
fn key(secret: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let encoded = secret.strip_prefix(b"whsec_").unwrap_or(secret);
    STANDARD.decode(encoded).ok().filter(|k| !k.is_empty()).map(Zeroizing::new)
}

const BAD_SECRET: &str = "the `signing_secret` is not a `whsec_` base64 key";

/// The body a sender posts.
#[derive(Deserialize)]
struct Body {
    text: String,
    conversation: Option<String>,
    thread: Option<String>,
    user: Option<Sender>,
    #[serde(default)]
    attachments: Vec<Value>,
}

/// `"user"`: an object, or just an id.
#[derive(Deserialize)]
#[serde(untagged)]
enum Sender {
    Id(String),
    User(User),
}

pub fn inbound(request: &Request<'_>) -> Result<Inbound, Refused> {
    let id = crypto::required(request.headers, "webhook-id")?;
    let timestamp = crypto::required(request.headers, "webhook-timestamp")?;
    let signatures = crypto::required(request.headers, "webhook-signature")?;
    fresh(timestamp, request.now, WINDOW)?;
    let key = key(request.secrets.get("signing_secret")?).ok_or_else(|| Refused::Unauthorized(BAD_SECRET.into()))?;
    let content = signed_content(id, timestamp, request.body);
    let verified = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|tag| STANDARD.decode(tag).ok())
        .any(|tag| crypto::hmac_sha256_verify(&key, &content, &tag));
    if !verified {
        return Err(Refused::Unauthorized("no `v1` entry of the `webhook-signature` matches".into()));
    }

    let raw: Value =
        serde_json::from_slice(request.body).map_err(|e| Refused::Malformed(format!("the body is not JSON: {e}")))?;
    let body = Body::deserialize(&raw).map_err(|e| Refused::Malformed(format!("the body is not a message: {e}")))?;
    let user = match body.user {
        Some(Sender::Id(id)) => User { id, name: None },
        Some(Sender::User(user)) => user,
        None => User::default(),
    };
    let message = Message {
        channel: request.channel.to_string(),
        kind: "webhook".into(),
        event_id: id.to_string(),
        conversation: body.conversation.unwrap_or_else(|| "default".into()),
        thread: body.thread,
        user,
        text: body.text,
        attachments: body.attachments,
        raw,
        // The answer needs only the message's own fields.
        reply: Value::Null,
    };
    Ok(Inbound::Message(Box::new(message), None))
}

pub async fn answer(out: &Outbound<'_>, message: &Message, text: &str) -> Result<(), SendError> {
    let callback = out.callback.ok_or_else(|| crypto::permanent("the channel has no `callback` URL"))?;
    url::Url::parse(callback).map_err(|_| crypto::permanent("the channel's `callback` is not a URL"))?;
    let secret =
        out.secrets.get("signing_secret").map_err(|_| crypto::permanent("the channel has no `signing_secret`"))?;
    let key = key(secret).ok_or_else(|| crypto::permanent(BAD_SECRET))?;

    let id = format!("{}.answer", message.event_id);
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| crypto::permanent("the clock is before 1970"))?
        .as_secs()
        .to_string();
    let body = json!({
        "event_id": message.event_id,
        "conversation": message.conversation,
        "thread": message.thread,
        "text": text,
    })
    .to_string();
    let signature = signature(&key, &id, &timestamp, body.as_bytes());
    let request = out
        .http
        .post(callback)
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp)
        .header("webhook-signature", signature);
    let response: Response = crypto::send_json(request, body).await?;
    response.success(|_| None).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::crypto::testing::{self, Server, reply};
    use http::Method;
    use std::time::Duration;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const NOW: i64 = 1_700_000_000;

    fn signed(id: &str, timestamp: i64, body: &str, secret: &str) -> http::HeaderMap {
        let ts = timestamp.to_string();
        let sig = sign(secret.as_bytes(), id, timestamp, body.as_bytes());
        testing::headers(&[("webhook-id", id), ("webhook-timestamp", &ts), ("webhook-signature", &sig)])
    }

    fn run(headers: &http::HeaderMap, body: &str, now: i64) -> Result<Inbound, Refused> {
        let secrets = testing::secrets(&[("signing_secret", SECRET)]);
        inbound(&testing::request(headers, body.as_bytes(), &secrets, now))
    }

    fn message(inbound: Result<Inbound, Refused>) -> Message {
        match inbound {
            Ok(Inbound::Message(message, None)) => *message,
            other => panic!("not a message without ack: {other:?}"),
        }
    }

    fn unauthorized(result: Result<Inbound, Refused>) {
        assert!(matches!(result, Err(Refused::Unauthorized(_))), "{result:?}");
    }

    #[test]
    fn the_published_vector_signs() {
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let expected = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        assert_eq!(sign(SECRET.as_bytes(), "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body), expected);
        let bare = SECRET.trim_start_matches("whsec_");
        assert_eq!(sign(bare.as_bytes(), "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body), expected);
    }

    #[test]
    fn a_signed_message_is_read() {
        let body = r#"{"text":"hi","conversation":"c1","thread":"t1","user":{"id":"u1","name":"Ann"},"attachments":[{"url":"x"}]}"#;
        let message = message(run(&signed("msg_1", NOW, body, SECRET), body, NOW));
        assert_eq!(
            message,
            Message {
                channel: "chan".into(),
                kind: "webhook".into(),
                event_id: "msg_1".into(),
                conversation: "c1".into(),
                thread: Some("t1".into()),
                user: User { id: "u1".into(), name: Some("Ann".into()) },
                text: "hi".into(),
                attachments: vec![json!({"url": "x"})],
                raw: serde_json::from_str(body).unwrap(),
                reply: Value::Null,
            }
        );
    }

    #[test]
    fn optional_fields_default_and_a_user_may_be_an_id() {
        let body = r#"{"text":"yo","user":"u2"}"#;
        let message = message(run(&signed("msg_2", NOW, body, SECRET), body, NOW));
        assert_eq!(message.conversation, "default");
        assert_eq!(message.thread, None);
        assert_eq!(message.user, User { id: "u2".into(), name: None });
        assert!(message.attachments.is_empty());
    }

    #[test]
    fn any_v1_entry_may_match_and_other_versions_are_skipped() {
        let body = r#"{"text":"hi"}"#;
        let good = sign(SECRET.as_bytes(), "msg_3", NOW, body.as_bytes());
        let wrong = sign(b"whsec_AAAAAAAAAAAAAAAAAAAAAAAA", "msg_3", NOW, body.as_bytes());
        let tag = good.trim_start_matches("v1,");
        let ts = NOW.to_string();
        let with = |sig: &str| {
            testing::headers(&[("webhook-id", "msg_3"), ("webhook-timestamp", &ts), ("webhook-signature", sig)])
        };
        message(run(&with(&format!("v1a,xyz {wrong} {good}")), body, NOW));
        unauthorized(run(&with(&format!("v2,{tag}")), body, NOW));
        unauthorized(run(&with(&wrong), body, NOW));
    }

    #[test]
    fn what_does_not_verify_is_refused() {
        let body = r#"{"text":"hi"}"#;
        unauthorized(run(&signed("msg_4", NOW, body, "whsec_AAAAAAAAAAAAAAAAAAAAAAAA"), body, NOW));
        unauthorized(run(&signed("msg_4", NOW, body, SECRET), r#"{"text":"ho"}"#, NOW));
        unauthorized(run(&signed("msg_4", NOW - 301, body, SECRET), body, NOW));
        unauthorized(run(&signed("msg_4", NOW + 301, body, SECRET), body, NOW));
        message(run(&signed("msg_4", NOW - 299, body, SECRET), body, NOW));
        let mut headers = signed("msg_4", NOW, body, SECRET);
        headers.insert("webhook-id", "msg_5".parse().unwrap());
        unauthorized(run(&headers, body, NOW));
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let mut headers = signed("msg_4", NOW, body, SECRET);
            headers.remove(name);
            unauthorized(run(&headers, body, NOW));
        }
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused() {
        let body = r#"{"text":"hi"}"#;
        let secrets = testing::secrets(&[("signing_secret", "whsec_not base64!")]);
        let headers = signed("msg_6", NOW, body, "whsec_not base64!");
        let result = inbound(&testing::request(&headers, body.as_bytes(), &secrets, NOW));
        assert_eq!(result.unwrap_err(), Refused::Unauthorized(BAD_SECRET.into()));
    }

    #[test]
    fn a_signed_body_that_is_not_a_message_is_malformed() {
        for body in ["not json", r#"{"conversation":"c"}"#, r#"{"text":5}"#, r#"{"text":"a","user":7}"#] {
            let result = run(&signed("msg_7", NOW, body, SECRET), body, NOW);
            assert!(matches!(result, Err(Refused::Malformed(_))), "{body}: {result:?}");
        }
    }

    fn sent(thread: Option<&str>) -> Message {
        Message {
            channel: "chan".into(),
            kind: "webhook".into(),
            event_id: "msg_8".into(),
            conversation: "c1".into(),
            thread: thread.map(String::from),
            user: User::default(),
            text: "question".into(),
            attachments: vec![],
            raw: json!({}),
            reply: Value::Null,
        }
    }

    #[tokio::test]
    async fn the_answer_is_posted_to_the_callback_signed() {
        let server = Server::start(vec![reply(204, &[], Value::Null)]).await;
        let secrets = testing::secrets(&[("signing_secret", SECRET)]);
        let http = reqwest::Client::new();
        let callback = format!("{}/answers/in", server.url);
        let out = Outbound { http: &http, api: "", secrets: &secrets, callback: Some(&callback), token: None };
        answer(&out, &sent(Some("t1")), "the answer").await.unwrap();

        let recorded = server.recorded();
        assert_eq!(recorded.len(), 1);
        let request = &recorded[0];
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.path, "/answers/in");
        assert!(testing::header(request, "content-type").starts_with("application/json"));
        assert_eq!(testing::header(request, "webhook-id"), "msg_8.answer");
        assert_eq!(
            request.json,
            json!({"event_id": "msg_8", "conversation": "c1", "thread": "t1", "text": "the answer"})
        );
        // The receiver verifies it as any inbound request: same secret, same scheme.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let receiver = testing::request(&request.headers, &request.bytes, &secrets, now);
        match inbound(&receiver) {
            Ok(Inbound::Message(message, None)) => assert_eq!(message.event_id, "msg_8.answer"),
            other => panic!("the answer does not verify: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_429_is_retryable_after_its_retry_after() {
        let server = Server::start(vec![reply(429, &[("retry-after", "3")], json!({}))]).await;
        let secrets = testing::secrets(&[("signing_secret", SECRET)]);
        let http = reqwest::Client::new();
        let out = Outbound { http: &http, api: "", secrets: &secrets, callback: Some(&server.url), token: None };
        let error = answer(&out, &sent(None), "x").await.unwrap_err();
        assert!(!error.permanent, "{error:?}");
        assert_eq!(error.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(server.recorded()[0].json["thread"], Value::Null);
    }

    #[tokio::test]
    async fn without_a_callback_the_answer_fails_for_good() {
        let secrets = testing::secrets(&[("signing_secret", SECRET)]);
        let http = reqwest::Client::new();
        let out = testing::outbound(&http, "", &secrets);
        let error = answer(&out, &sent(None), "x").await.unwrap_err();
        assert!(error.permanent);
        assert_eq!(error.error, "the channel has no `callback` URL");
    }
}
