//! `discord`: a Discord application's interactions endpoint (slash commands).
//!
//! Discord signs each interaction with the application's Ed25519 key: `X-Signature-Ed25519` is
//! the hex signature over `X-Signature-Timestamp` followed by the body, checked against the
//! public key the developer portal shows (hex). Discord sends deliberately bad signatures to an
//! endpoint and expects 401 for them. A PING (type 1) is the handshake, answered `{"type": 1}`.
//! An application command (type 2) must be acknowledged within 3 seconds, so it is acknowledged
//! at once as deferred (type 5, "thinking...") and the answer replaces that placeholder later.
//!
//! The answer edits the original response through the interaction's webhook,
//! `PATCH /webhooks/{application_id}/{token}/messages/@original` (no bot token: the interaction
//! token, valid 15 minutes, is the credential and is part of the path, so no error carries the
//! URL). A 429 carries `{"retry_after": seconds}` (a float).

use super::crypto;
use super::{Inbound, Outbound, Refused, Request, SendError, fresh};
use crate::message::{Message, User};
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};

/// How far `X-Signature-Timestamp` may be from now.
const WINDOW: i64 = 300;

/// The most a message's `content` may hold.
const MAX_CONTENT: usize = 2000;

/// What Discord asks every HTTP API client to identify as (`DiscordBot ($url, $version)`).
const USER_AGENT: &str = concat!("DiscordBot (monstrum, ", env!("CARGO_PKG_VERSION"), ")");

pub fn inbound(request: &Request<'_>) -> Result<Inbound, Refused> {
    let signature = crypto::required(request.headers, "x-signature-ed25519")?;
    let timestamp = crypto::required(request.headers, "x-signature-timestamp")?;
    fresh(timestamp, request.now, WINDOW)?;
    let key = public_key(request.secrets.get("public_key")?)?;
    let signature = hex::decode(signature)
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or_else(|| Refused::Unauthorized("the `X-Signature-Ed25519` is not a hex Ed25519 signature".into()))?;
    let signed = [timestamp.as_bytes(), request.body].concat();
    key.verify_strict(&signed, &signature)
        .map_err(|_| Refused::Unauthorized("the `X-Signature-Ed25519` does not verify".into()))?;

    let interaction: Value = serde_json::from_slice(request.body)
        .map_err(|e| Refused::Malformed(format!("the interaction is not JSON: {e}")))?;
    match interaction["type"].as_u64() {
        Some(1) => Ok(Inbound::Handshake(json!({ "type": 1 }))),
        Some(2) => command(request, &interaction),
        Some(3) => component(&interaction),
        other => Ok(Inbound::Ignored(format!("an interaction of type {}", json!(other)))),
    }
}

/// The application's key, as the developer portal shows it (64 hex digits).
fn public_key(secret: &[u8]) -> Result<VerifyingKey, Refused> {
    hex::decode(secret)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
        .ok_or_else(|| Refused::Unauthorized("the `public_key` secret is not a hex Ed25519 public key".into()))
}

/// An application command: `/name` and its options' values, as one line.
fn command(request: &Request<'_>, interaction: &Value) -> Result<Inbound, Refused> {
    let text = |value: &Value, what: &str| {
        value.as_str().map(String::from).ok_or_else(|| Refused::Malformed(format!("the interaction has no `{what}`")))
    };
    // In a server the invoker is `member.user`; in a DM, `user`.
    let user = match &interaction["member"]["user"] {
        Value::Object(_) => &interaction["member"]["user"],
        _ => &interaction["user"],
    };
    let channel = match &interaction["channel_id"] {
        Value::String(_) => &interaction["channel_id"],
        _ => &interaction["channel"]["id"],
    };
    let mut line = format!("/{}", text(&interaction["data"]["name"], "data.name")?);
    for word in options(&interaction["data"]["options"]) {
        line.push(' ');
        line.push_str(&word);
    }
    let name = user["global_name"].as_str().or(user["username"].as_str());
    let id = text(&interaction["id"], "id")?;
    let application_id = text(&interaction["application_id"], "application_id")?;
    let message = Message {
        channel: request.channel.to_string(),
        kind: "discord".into(),
        event_id: id.clone(),
        conversation: text(channel, "channel_id")?,
        thread: None,
        user: User { id: text(&user["id"], "user.id")?, name: name.map(String::from) },
        text: line,
        attachments: Vec::new(),
        // The interaction token lets whoever holds it post as the app for 15 minutes: the
        // answer's only.
        raw: json!({ "application_id": application_id, "interaction_id": id, "guild_id": interaction["guild_id"] }),
        reply: json!({
            "application_id": application_id,
            "token": text(&interaction["token"], "token")?,
            "interaction_id": id,
        }),
    };
    Ok(Inbound::Message(Box::new(message), Some(json!({ "type": 5 }))))
}

/// The words of a command's options, depth first: a value as it is typed (a string bare, a
/// number or a boolean as JSON); a subcommand or a group by its name, then its own options.
fn options(list: &Value) -> Vec<String> {
    let mut words = Vec::new();
    for option in list.as_array().into_iter().flatten() {
        match &option["value"] {
            Value::String(value) => words.push(value.clone()),
            Value::Null => {
                words.extend(option["name"].as_str().map(String::from));
                words.extend(options(&option["options"]));
            }
            value => words.push(value.to_string()),
        }
    }
    words
}

/// A message component interaction: a click on an approval's button (another button is ignored).
fn component(interaction: &Value) -> Result<Inbound, Refused> {
    let Some((approve, run, step)) = interaction["data"]["custom_id"].as_str().and_then(super::parse_decision_token)
    else {
        return Ok(Inbound::Ignored("a component that is not an approval's button".into()));
    };
    let user = interaction["member"]["user"]["id"]
        .as_str()
        .or(interaction["user"]["id"].as_str())
        .ok_or_else(|| Refused::Malformed("the interaction has no user".into()))?;
    Ok(Inbound::Decision(super::Decision { run, step, approve, user: user.to_string(), reply: Value::Null }))
}

/// Asks for a decision: the deferred response edited to the text and two buttons.
pub async fn ask(out: &Outbound<'_>, message: &Message, text: &str, run: &str, step: &str) -> Result<(), SendError> {
    let button = |label: &str, approve: bool, style: u8| json!({ "type": 2, "style": style, "label": label, "custom_id": super::decision_token(approve, run, step) });
    let components = json!([{ "type": 1, "components": [button("Approve", true, 3), button("Reject", false, 4)] }]);
    edit_original(out, message, text, components).await
}

pub async fn answer(out: &Outbound<'_>, message: &Message, text: &str) -> Result<(), SendError> {
    // The answer replaces whatever the deferred response showed, buttons included.
    edit_original(out, message, text, json!([])).await
}

async fn edit_original(out: &Outbound<'_>, message: &Message, text: &str, components: Value) -> Result<(), SendError> {
    let field = |name: &str| {
        message.reply[name].as_str().ok_or_else(|| crypto::permanent(format!("the message has no `reply.{name}`")))
    };
    let url =
        crypto::endpoint(out.api, &["webhooks", field("application_id")?, field("token")?, "messages", "@original"])?;
    let content: String = text.chars().take(MAX_CONTENT).collect();
    let body = json!({ "content": content, "components": components });
    let request = out.http.patch(url).header(reqwest::header::USER_AGENT, USER_AGENT);
    let response = crypto::send_json(request, body.to_string()).await?;
    // An interaction token lasts 15 minutes: past that Discord refuses it (401, or 404 for the
    // unknown webhook), and the answer goes to the channel with the bot's token, if it has one.
    let expired = [http::StatusCode::UNAUTHORIZED, http::StatusCode::NOT_FOUND].contains(&response.status);
    if !(expired && out.secrets.0.contains_key("bot_token")) {
        return response.success(|error| crypto::seconds(&error["retry_after"])).map(drop);
    }
    tracing::info!("discord: an interaction token expired; answering in the channel with the bot's token");
    to_channel(out, &message.conversation, body).await
}

/// Posts `text` to channel `conversation` with the bot's token (`POST /channels/{id}/messages`):
/// a message nobody asked for, so no interaction token; a thread is a channel of its own in
/// Discord, so `thread` (when given) is where it goes.
pub async fn post(out: &Outbound<'_>, conversation: &str, thread: Option<&str>, text: &str) -> Result<(), SendError> {
    let content: String = text.chars().take(MAX_CONTENT).collect();
    to_channel(out, thread.unwrap_or(conversation), json!({ "content": content })).await
}

/// Posts the message `body` to channel `id` with the bot's token.
async fn to_channel(out: &Outbound<'_>, id: &str, body: Value) -> Result<(), SendError> {
    let token = crypto::secret_text(out.secrets, "bot_token")?;
    let url = crypto::endpoint(out.api, &["channels", id, "messages"])?;
    let request = out
        .http
        .post(url)
        .header(reqwest::header::USER_AGENT, USER_AGENT)
        .header(reqwest::header::AUTHORIZATION, format!("Bot {token}"));
    let response = crypto::send_json(request, body.to_string()).await?;
    response.success(|error| crypto::seconds(&error["retry_after"])).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::crypto::testing::{self, Server, reply};
    use ed25519_dalek::{Signer, SigningKey};
    use http::Method;
    use std::time::Duration;

    const NOW: i64 = 1_700_000_000;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn signed_by(key: &SigningKey, ts: i64, body: &str) -> http::HeaderMap {
        let ts = ts.to_string();
        let signature = hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
        testing::headers(&[("x-signature-ed25519", &signature), ("x-signature-timestamp", &ts)])
    }

    fn run(headers: &http::HeaderMap, body: &str, now: i64) -> Result<Inbound, Refused> {
        let public = hex::encode(key().verifying_key().to_bytes());
        let secrets = testing::secrets(&[("public_key", &public)]);
        inbound(&testing::request(headers, body.as_bytes(), &secrets, now))
    }

    fn unauthorized(result: Result<Inbound, Refused>) {
        assert!(matches!(result, Err(Refused::Unauthorized(_))), "{result:?}");
    }

    const PING: &str = r#"{"id":"1","application_id":"A1","type":1,"token":"tok","version":1}"#;

    #[test]
    fn a_ping_is_answered_with_a_pong() {
        match run(&signed_by(&key(), NOW, PING), PING, NOW) {
            Ok(Inbound::Handshake(answer)) => assert_eq!(answer, json!({ "type": 1 })),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_command_in_a_server_is_a_message_acknowledged_as_deferred() {
        let body = json!({
            "id": "I1", "application_id": "A1", "type": 2, "token": "itok", "channel_id": "C1", "guild_id": "G1",
            "member": { "user": { "id": "U1", "username": "ann", "global_name": "Ann A." } },
            "data": { "name": "ask", "options": [
                { "name": "mode", "type": 1, "options": [
                    { "name": "q", "type": 3, "value": "why is the sky blue" },
                    { "name": "n", "type": 4, "value": 3 },
                    { "name": "loud", "type": 5, "value": true },
                ] },
            ] },
        })
        .to_string();
        match run(&signed_by(&key(), NOW, &body), &body, NOW) {
            Ok(Inbound::Message(message, Some(ack))) => {
                assert_eq!(ack, json!({ "type": 5 }));
                assert_eq!(
                    *message,
                    Message {
                        channel: "chan".into(),
                        kind: "discord".into(),
                        event_id: "I1".into(),
                        conversation: "C1".into(),
                        thread: None,
                        user: User { id: "U1".into(), name: Some("Ann A.".into()) },
                        text: "/ask mode why is the sky blue 3 true".into(),
                        attachments: vec![],
                        raw: json!({ "application_id": "A1", "interaction_id": "I1", "guild_id": "G1" }),
                        reply: json!({ "application_id": "A1", "token": "itok", "interaction_id": "I1" }),
                    }
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_command_in_a_dm_has_a_user_and_a_channel_object() {
        let body = json!({
            "id": "I2", "application_id": "A1", "type": 2, "token": "t",
            "channel": { "id": "D1", "type": 1 }, "user": { "id": "U2", "username": "bo", "global_name": null },
            "data": { "name": "ping" },
        })
        .to_string();
        match run(&signed_by(&key(), NOW, &body), &body, NOW) {
            Ok(Inbound::Message(message, Some(_))) => {
                assert_eq!(message.conversation, "D1");
                assert_eq!(message.user, User { id: "U2".into(), name: Some("bo".into()) });
                assert_eq!(message.text, "/ping");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_does_not_verify_is_refused() {
        let other = SigningKey::from_bytes(&[8u8; 32]);
        unauthorized(run(&signed_by(&other, NOW, PING), PING, NOW));
        unauthorized(run(&signed_by(&key(), NOW, PING), &PING.replace("\"1\"", "\"2\""), NOW));
        unauthorized(run(&signed_by(&key(), NOW - 301, PING), PING, NOW));
        unauthorized(run(&signed_by(&key(), NOW + 301, PING), PING, NOW));
        let mut headers = signed_by(&key(), NOW, PING);
        headers.insert("x-signature-timestamp", (NOW + 1).to_string().parse().unwrap());
        unauthorized(run(&headers, PING, NOW));
        headers.insert("x-signature-ed25519", "zz".parse().unwrap());
        unauthorized(run(&headers, PING, NOW));
        for name in ["x-signature-ed25519", "x-signature-timestamp"] {
            let mut headers = signed_by(&key(), NOW, PING);
            headers.remove(name);
            unauthorized(run(&headers, PING, NOW));
        }
        let secrets = testing::secrets(&[("public_key", "not hex")]);
        let headers = signed_by(&key(), NOW, PING);
        unauthorized(inbound(&testing::request(&headers, PING.as_bytes(), &secrets, NOW)));
    }

    #[test]
    fn other_interactions_are_ignored_and_unreadable_ones_malformed() {
        let component = r#"{"id":"3","application_id":"A1","type":3,"token":"t","data":{"custom_id":"b"}}"#;
        assert!(matches!(run(&signed_by(&key(), NOW, component), component, NOW), Ok(Inbound::Ignored(_))));
        for body in ["not json", r#"{"id":"4","type":2,"token":"t","data":{"name":"x"}}"#] {
            let result = run(&signed_by(&key(), NOW, body), body, NOW);
            assert!(matches!(result, Err(Refused::Malformed(_))), "{body}: {result:?}");
        }
    }

    fn to_answer() -> Message {
        Message {
            channel: "chan".into(),
            kind: "discord".into(),
            event_id: "I1".into(),
            conversation: "C1".into(),
            thread: None,
            user: User::default(),
            text: "/ask".into(),
            attachments: vec![],
            raw: json!({}),
            reply: json!({ "application_id": "A1", "token": "itok.secret", "interaction_id": "I1" }),
        }
    }

    async fn answer_at(server: &Server, text: &str) -> Result<(), SendError> {
        let secrets = testing::secrets(&[]);
        let http = reqwest::Client::new();
        answer(&testing::outbound(&http, &server.url, &secrets), &to_answer(), text).await
    }

    #[tokio::test]
    async fn an_expired_interaction_token_gives_way_to_the_bot_token_or_is_reported() {
        let expired = || reply(401, &[], json!({ "message": "Invalid Webhook Token", "code": 50027 }));
        let server = Server::start(vec![expired(), reply(200, &[], json!({ "id": "M2" })), expired()]).await;
        let http = reqwest::Client::new();
        let with_bot = testing::secrets(&[("bot_token", "bot-secret")]);
        answer(&testing::outbound(&http, &server.url, &with_bot), &to_answer(), "late").await.unwrap();
        let recorded = server.recorded();
        assert_eq!((recorded[1].method.clone(), recorded[1].path.as_str()), (Method::POST, "/channels/C1/messages"));
        assert_eq!(testing::header(&recorded[1], "authorization"), "Bot bot-secret");
        assert_eq!(recorded[1].json, json!({ "content": "late", "components": [] }));
        // Without a bot token, the refusal is the answer's error (recorded, never silent).
        let error = answer_at(&server, "late").await.unwrap_err();
        assert!(error.permanent && error.error.contains("Invalid Webhook Token"), "{}", error.error);
    }

    #[tokio::test]
    async fn the_answer_edits_the_deferred_response_within_2000_characters() {
        let server = Server::start(vec![reply(200, &[], json!({ "id": "M1" }))]).await;
        answer_at(&server, &"é".repeat(2500)).await.unwrap();
        let recorded = server.recorded();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].method, Method::PATCH);
        assert_eq!(recorded[0].path, "/webhooks/A1/itok.secret/messages/@original");
        assert!(testing::header(&recorded[0], "content-type").starts_with("application/json"));
        assert!(testing::header(&recorded[0], "user-agent").starts_with("DiscordBot ("));
        assert_eq!(testing::header(&recorded[0], "authorization"), "");
        assert_eq!(
            recorded[0].json,
            json!({ "content": "é".repeat(2000), "components": [] }),
            "the buttons of a question go"
        );
    }

    #[tokio::test]
    async fn a_429_waits_its_retry_after_and_an_unknown_webhook_is_permanent() {
        let server = Server::start(vec![
            reply(429, &[], json!({ "message": "You are being rate limited.", "retry_after": 1.5, "global": false })),
            reply(404, &[], json!({ "message": "Unknown Webhook", "code": 10015 })),
        ])
        .await;
        let error = answer_at(&server, "x").await.unwrap_err();
        assert!(!error.permanent);
        assert_eq!(error.retry_after, Some(Duration::from_millis(1500)));
        let error = answer_at(&server, "x").await.unwrap_err();
        assert!(error.permanent);
        assert!(!error.error.contains("itok.secret"), "{}", error.error);
    }
}
