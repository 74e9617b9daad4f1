//! `telegram`: a Telegram bot's webhook (Bot API `setWebhook`).
//!
//! Telegram signs nothing: the bot sets a `secret_token` with `setWebhook` and Telegram sends it
//! back in `X-Telegram-Bot-Api-Secret-Token` on every update, so the check is that header
//! against the secret, in constant time. There is no timestamp (a replay is caught downstream by
//! the `update_id`, the event id). An update is one of many kinds; a person's new `message` with
//! text (or a caption) is a message, anything else is acknowledged and ignored.
//!
//! The answer is `sendMessage` as a reply to the message (`reply_parameters`), in its forum
//! topic when it came from one. Refusals are `{"ok": false, "error_code", "description",
//! "parameters": {"retry_after"}}`. The bot token is part of the URL path, so no error carries
//! the URL.

use super::crypto;
use super::{Inbound, Outbound, Refused, Request, SendError};
use crate::message::{Message, User};
use serde_json::{Value, json};

pub fn inbound(request: &Request<'_>) -> Result<Inbound, Refused> {
    let given = crypto::required(request.headers, "x-telegram-bot-api-secret-token")?;
    if !crypto::equal(given.as_bytes(), request.secrets.get("secret_token")?) {
        return Err(Refused::Unauthorized("the `X-Telegram-Bot-Api-Secret-Token` does not match".into()));
    }

    let update: Value =
        serde_json::from_slice(request.body).map_err(|e| Refused::Malformed(format!("the update is not JSON: {e}")))?;
    let update_id =
        update["update_id"].as_i64().ok_or_else(|| Refused::Malformed("the update has no `update_id`".into()))?;
    if let Some(query) = update.get("callback_query") {
        return callback(query);
    }
    // Edits, channel posts, member changes, ...: not a new message from a person.
    let Some(message) = update.get("message") else {
        return Ok(Inbound::Ignored("an update that is not a new `message`".into()));
    };
    let Some(text) = message["text"].as_str().or(message["caption"].as_str()) else {
        return Ok(Inbound::Ignored("a message without text (a sticker, a join, ...)".into()));
    };
    let from = &message["from"];
    if from["is_bot"].as_bool() != Some(false) {
        return Ok(Inbound::Ignored("a message from a bot, or from no one".into()));
    }
    let number = |value: &Value, what: &str| {
        value.as_i64().ok_or_else(|| Refused::Malformed(format!("the message has no `{what}`")))
    };
    let chat_id = number(&message["chat"]["id"], "chat.id")?;
    let message_id = number(&message["message_id"], "message_id")?;
    let user_id = number(&from["id"], "from.id")?;
    let thread = message["message_thread_id"].as_i64();
    // Telegram also gives a reply in an ordinary group the `message_thread_id` of the message it
    // replies to, but `sendMessage` takes one only for a forum topic ("message thread not
    // found" otherwise): the answer keeps it only when `is_topic_message`.
    let topic = thread.filter(|_| message["is_topic_message"].as_bool() == Some(true));
    let reply = json!({ "chat_id": chat_id, "message_id": message_id, "message_thread_id": topic });
    let name = from["username"].as_str().or(from["first_name"].as_str());

    let message = Message {
        channel: request.channel.to_string(),
        kind: "telegram".into(),
        event_id: update_id.to_string(),
        conversation: chat_id.to_string(),
        thread: thread.map(|t| t.to_string()),
        user: User { id: user_id.to_string(), name: name.map(String::from) },
        text: text.to_string(),
        attachments: Vec::new(),
        raw: json!({ "chat_id": chat_id, "message_id": message_id, "message_thread_id": thread }),
        reply,
    };
    Ok(Inbound::Message(Box::new(message), None))
}

/// A `callback_query`: a click on an approval's inline button; another bot's button data is
/// ignored.
fn callback(query: &Value) -> Result<Inbound, Refused> {
    let Some((approve, run, step)) = query["data"].as_str().and_then(super::parse_decision_token) else {
        return Ok(Inbound::Ignored("a callback query that is not an approval's button".into()));
    };
    let user =
        query["from"]["id"].as_i64().ok_or_else(|| Refused::Malformed("the callback has no `from.id`".into()))?;
    let id = query["id"].as_str().ok_or_else(|| Refused::Malformed("the callback has no `id`".into()))?;
    let reply = json!({ "callback_query_id": id, "chat_id": query["message"]["chat"]["id"],
                        "message_id": query["message"]["message_id"] });
    Ok(Inbound::Decision(super::Decision { run, step, approve, user: user.to_string(), reply }))
}

/// Asks for a decision: the text with an inline keyboard of Approve and Reject (Telegram keeps
/// at most 64 bytes of `callback_data`: a longer step id gets the text alone, which names the
/// command).
pub async fn ask(out: &Outbound<'_>, message: &Message, text: &str, run: &str, step: &str) -> Result<(), SendError> {
    let (yes, no) = (super::decision_token(true, run, step), super::decision_token(false, run, step));
    if yes.len() > 64 {
        return answer(out, message, text).await;
    }
    let keyboard = json!({ "inline_keyboard": [[
        { "text": "Approve", "callback_data": yes }, { "text": "Reject", "callback_data": no }
    ]] });
    send_message(out, message, text, Some(keyboard)).await
}

/// Tells the clicker the outcome: a notice on their click (`answerCallbackQuery`), and, when
/// decided, the question replaced by the outcome (its keyboard goes).
pub async fn decided(
    out: &Outbound<'_>,
    decision: &super::Decision,
    outcome: &str,
    done: bool,
) -> Result<(), SendError> {
    let token = crypto::secret_text(out.secrets, "bot_token")?;
    let call = |method: &str, body: Value| {
        let url = crypto::endpoint(out.api, &[&format!("bot{token}"), method]);
        async move {
            let response = crypto::send_json(out.http.post(url?), body.to_string()).await?;
            response.success(|error| crypto::seconds(&error["parameters"]["retry_after"])).map(drop)
        }
    };
    let notice: String = outcome.chars().take(200).collect();
    call("answerCallbackQuery", json!({ "callback_query_id": decision.reply["callback_query_id"], "text": notice }))
        .await?;
    if done {
        let (chat_id, message_id) = (&decision.reply["chat_id"], &decision.reply["message_id"]);
        call("editMessageText", json!({ "chat_id": chat_id, "message_id": message_id, "text": outcome })).await?;
    }
    Ok(())
}

pub async fn answer(out: &Outbound<'_>, message: &Message, text: &str) -> Result<(), SendError> {
    send_message(out, message, text, None).await
}

async fn send_message(
    out: &Outbound<'_>,
    message: &Message,
    text: &str,
    markup: Option<Value>,
) -> Result<(), SendError> {
    let token = crypto::secret_text(out.secrets, "bot_token")?;
    let url = crypto::endpoint(out.api, &[&format!("bot{token}"), "sendMessage"])?;
    let reply = &message.reply;
    let chat_id = reply.get("chat_id").cloned().unwrap_or_else(|| json!(message.conversation));
    let mut body = json!({ "chat_id": chat_id, "text": text });
    if let Some(thread) = reply["message_thread_id"].as_i64() {
        body["message_thread_id"] = json!(thread);
    }
    if let Some(message_id) = reply["message_id"].as_i64() {
        body["reply_parameters"] = json!({ "message_id": message_id });
    }
    if let Some(markup) = markup {
        body["reply_markup"] = markup;
    }
    let response = crypto::send_json(out.http.post(url), body.to_string()).await?;
    let body = response.success(|error| crypto::seconds(&error["parameters"]["retry_after"]))?;
    if body["ok"] != json!(true) {
        let description = body["description"].as_str().unwrap_or("no `ok`");
        return Err(crypto::declined("telegram", description, false, None));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::crypto::testing::{self, Server, reply};
    use http::Method;
    use std::time::Duration;

    const SECRET: &str = "s3cr3t-Token_1";
    const BOT: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

    fn run(secret: Option<&str>, body: &Value) -> Result<Inbound, Refused> {
        let headers = match secret {
            Some(secret) => testing::headers(&[("x-telegram-bot-api-secret-token", secret)]),
            None => http::HeaderMap::new(),
        };
        let secrets = testing::secrets(&[("secret_token", SECRET), ("bot_token", BOT)]);
        let body = body.to_string();
        inbound(&testing::request(&headers, body.as_bytes(), &secrets, 0))
    }

    fn update(message: Value) -> Value {
        json!({ "update_id": 10001, "message": message })
    }

    fn person() -> Value {
        json!({ "id": 42, "is_bot": false, "first_name": "Ann", "username": "ann_a" })
    }

    #[test]
    fn a_message_in_a_forum_topic_is_read() {
        let body = update(json!({
            "message_id": 7, "message_thread_id": 3, "is_topic_message": true, "from": person(),
            "chat": { "id": -1001234, "type": "supergroup" }, "date": 1, "text": "hello bot",
        }));
        match run(Some(SECRET), &body) {
            Ok(Inbound::Message(message, None)) => assert_eq!(
                *message,
                Message {
                    channel: "chan".into(),
                    kind: "telegram".into(),
                    event_id: "10001".into(),
                    conversation: "-1001234".into(),
                    thread: Some("3".into()),
                    user: User { id: "42".into(), name: Some("ann_a".into()) },
                    text: "hello bot".into(),
                    attachments: vec![],
                    raw: json!({ "chat_id": -1001234, "message_id": 7, "message_thread_id": 3 }),
                    reply: json!({ "chat_id": -1001234, "message_id": 7, "message_thread_id": 3 }),
                }
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_caption_is_the_text_and_a_reply_thread_is_not_a_topic() {
        let from = json!({ "id": 5, "is_bot": false, "first_name": "Bo" });
        let body = update(json!({
            "message_id": 8, "message_thread_id": 6, "from": from, "chat": { "id": -100 }, "caption": "look",
        }));
        match run(Some(SECRET), &body) {
            Ok(Inbound::Message(message, None)) => {
                assert_eq!(message.text, "look");
                assert_eq!(message.user, User { id: "5".into(), name: Some("Bo".into()) });
                assert_eq!(message.thread.as_deref(), Some("6"));
                assert_eq!(message.raw["message_thread_id"], 6);
                assert_eq!(message.reply["message_thread_id"], Value::Null);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wrong_or_missing_secret_token_is_refused() {
        let body = update(json!({ "message_id": 7, "from": person(), "chat": { "id": 1 }, "text": "hi" }));
        assert!(matches!(run(Some("s3cr3t-Token_2"), &body), Err(Refused::Unauthorized(_))));
        assert!(matches!(run(Some("s3cr3t-Token_1x"), &body), Err(Refused::Unauthorized(_))));
        assert!(matches!(run(None, &body), Err(Refused::Unauthorized(_))));
    }

    #[test]
    fn bots_edits_and_messages_without_text_are_ignored() {
        let bot = json!({ "id": 9, "is_bot": true, "first_name": "B" });
        for body in [
            update(json!({ "message_id": 1, "from": bot, "chat": { "id": 1 }, "text": "mine" })),
            update(json!({ "message_id": 1, "from": person(), "chat": { "id": 1 }, "sticker": {} })),
            update(json!({ "message_id": 1, "sender_chat": { "id": 1 }, "chat": { "id": 1 }, "text": "x" })),
            json!({ "update_id": 2, "edited_message": { "message_id": 1, "from": person(), "chat": { "id": 1 }, "text": "x" } }),
        ] {
            assert!(matches!(run(Some(SECRET), &body), Ok(Inbound::Ignored(_))), "{body}");
        }
    }

    #[test]
    fn a_verified_update_that_cannot_be_read_is_malformed() {
        let headers = testing::headers(&[("x-telegram-bot-api-secret-token", SECRET)]);
        let secrets = testing::secrets(&[("secret_token", SECRET)]);
        let result = inbound(&testing::request(&headers, b"{not json", &secrets, 0));
        assert!(matches!(result, Err(Refused::Malformed(_))), "{result:?}");
        let no_chat = update(json!({ "message_id": 1, "from": person(), "text": "x" }));
        assert!(matches!(run(Some(SECRET), &no_chat), Err(Refused::Malformed(_))));
        assert!(matches!(run(Some(SECRET), &json!({ "message": {} })), Err(Refused::Malformed(_))));
    }

    fn to_answer(reply: Value) -> Message {
        Message {
            channel: "chan".into(),
            kind: "telegram".into(),
            event_id: "10001".into(),
            conversation: "-1001234".into(),
            thread: Some("3".into()),
            user: User::default(),
            text: "q".into(),
            attachments: vec![],
            raw: json!({}),
            reply,
        }
    }

    async fn answer_at(api: &str, reply: Value) -> Result<(), SendError> {
        let secrets = testing::secrets(&[("bot_token", BOT)]);
        let http = reqwest::Client::new();
        answer(&testing::outbound(&http, api, &secrets), &to_answer(reply), "the answer").await
    }

    #[tokio::test]
    async fn the_answer_is_send_message_replying_in_the_topic() {
        let server = Server::start(vec![
            reply(200, &[], json!({ "ok": true, "result": { "message_id": 8 } })),
            reply(200, &[], json!({ "ok": true, "result": { "message_id": 9 } })),
        ])
        .await;
        answer_at(&server.url, json!({ "chat_id": -1001234, "message_id": 7, "message_thread_id": 3 })).await.unwrap();
        answer_at(&server.url, json!({ "chat_id": -1001234, "message_id": 7, "message_thread_id": null }))
            .await
            .unwrap();
        let recorded = server.recorded();
        assert_eq!(recorded[0].method, Method::POST);
        assert_eq!(recorded[0].path, format!("/bot{BOT}/sendMessage"));
        assert!(testing::header(&recorded[0], "content-type").starts_with("application/json"));
        assert_eq!(
            recorded[0].json,
            json!({ "chat_id": -1001234, "text": "the answer", "message_thread_id": 3, "reply_parameters": { "message_id": 7 } })
        );
        assert_eq!(
            recorded[1].json,
            json!({ "chat_id": -1001234, "text": "the answer", "reply_parameters": { "message_id": 7 } })
        );
    }

    #[tokio::test]
    async fn a_429_waits_its_retry_after_and_a_400_is_permanent() {
        let server = Server::start(vec![
            reply(
                429,
                &[],
                json!({ "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 5", "parameters": { "retry_after": 5 } }),
            ),
            reply(400, &[], json!({ "ok": false, "error_code": 400, "description": "Bad Request: chat not found" })),
        ])
        .await;
        let reply = json!({ "chat_id": 1, "message_id": 7 });
        let error = answer_at(&server.url, reply.clone()).await.unwrap_err();
        assert!(!error.permanent);
        assert_eq!(error.retry_after, Some(Duration::from_secs(5)));
        let error = answer_at(&server.url, reply).await.unwrap_err();
        assert!(error.permanent);
        assert!(error.error.contains("chat not found"), "{}", error.error);
    }

    #[tokio::test]
    async fn a_transport_error_does_not_carry_the_token() {
        // Nothing listens on port 1: the connection is refused.
        let error = answer_at("http://127.0.0.1:1", json!({ "chat_id": 1 })).await.unwrap_err();
        assert!(!error.permanent);
        assert!(!error.error.contains("ABC-DEF"), "{}", error.error);
        assert!(!error.error.contains("127.0.0.1"), "{}", error.error);
    }
}
