//! `feishu`: a Feishu (Lark) app's event subscription, with an encrypt key set.
//!
//! With an encrypt key, Feishu sends every event as `{"encrypt": base64}`: a 16-byte IV, then
//! AES-256-CBC (PKCS#7) of the event JSON under SHA-256 of the encrypt key. Events also carry
//! `X-Lark-Request-Timestamp`, `X-Lark-Request-Nonce` and `X-Lark-Signature`, the hex SHA-256 of
//! timestamp + nonce + encrypt key + body (a keyed hash, not an HMAC: Feishu's scheme). The
//! `url_verification` handshake comes without those headers; for it, decrypting under the key
//! and the verification token inside are the proof. Every event, signed or not, must carry the
//! app's verification token (v1 `token`, v2 `header.token`).
//!
//! A person's text message (`im.message.receive_v1`) is a message. The answer needs a tenant
//! access token (from the app id and secret) and replies to the message
//! (`/open-apis/im/v1/messages/{message_id}/reply`). Feishu answers `{"code": 0}` on success;
//! any other code is a refusal, 99991400 its rate limit (HTTP 429, or 400 from older APIs, the
//! wait in `x-ogw-ratelimit-reset`).

use super::crypto::{self, Response};
use super::{Inbound, Outbound, Refused, Request, SendError, fresh, header, retry_after};
use crate::message::{Message, User};
use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use serde_json::{Value, json};
use std::time::Duration;
use zeroize::Zeroizing;

/// How far `X-Lark-Request-Timestamp` may be from now.
const WINDOW: i64 = 300;

/// Feishu's code for "request trigger frequency limit".
const RATE_LIMITED: i64 = 99991400;

/// Feishu's codes for an access token it does not take (99991663 for a tenant token that
/// expired or was revoked; 99991668, invalid for the call), with HTTP 400 or 200.
const TOKEN_REFUSED: [i64; 2] = [99991663, 99991668];

/// A kept tenant token is renewed when it has less than this left.
const TOKEN_MARGIN: Duration = Duration::from_secs(30 * 60);

pub fn inbound(request: &Request<'_>) -> Result<Inbound, Refused> {
    let encrypt_key = request.secrets.get("encrypt_key")?;
    let lark =
        ["x-lark-request-timestamp", "x-lark-request-nonce", "x-lark-signature"].map(|n| header(request.headers, n));
    let signed = match lark {
        [Some(timestamp), Some(nonce), Some(signature)] => {
            fresh(timestamp, request.now, WINDOW)?;
            let expected = crypto::sha256(&[timestamp.as_bytes(), nonce.as_bytes(), encrypt_key, request.body]);
            if !crypto::equal(&expected, &hex::decode(signature).unwrap_or_default()) {
                return Err(Refused::Unauthorized("the `X-Lark-Signature` does not match".into()));
            }
            true
        }
        [None, None, None] => false,
        _ => {
            return Err(Refused::Unauthorized(
                "only some of the `X-Lark-Request-*` and `X-Lark-Signature` headers".into(),
            ));
        }
    };

    // Before the token inside is checked, an unsigned body that cannot be read proves nothing.
    let unreadable = |why: String| if signed { Refused::Malformed(why) } else { Refused::Unauthorized(why) };
    let envelope: Value =
        serde_json::from_slice(request.body).map_err(|e| unreadable(format!("the body is not JSON: {e}")))?;
    let Some(encrypted) = envelope["encrypt"].as_str() else {
        return Err(Refused::Unauthorized("an unencrypted body, but the channel has an encrypt key".into()));
    };
    let plain = decrypt(encrypt_key, encrypted).map_err(|why| unreadable(why.into()))?;
    let event: Value =
        serde_json::from_slice(&plain).map_err(|e| unreadable(format!("the decrypted event is not JSON: {e}")))?;
    let token = event["header"]["token"].as_str().or(event["token"].as_str()).unwrap_or("");
    if token.is_empty() || !crypto::equal(token.as_bytes(), request.secrets.get("verification_token")?) {
        return Err(Refused::Unauthorized("the verification token does not match".into()));
    }

    if event["type"] == "url_verification" {
        let challenge = event["challenge"]
            .as_str()
            .ok_or_else(|| Refused::Malformed("the `url_verification` has no `challenge`".into()))?;
        return Ok(Inbound::Handshake(json!({ "challenge": challenge })));
    }
    if !signed {
        return Err(Refused::Unauthorized(
            "an event without `X-Lark-Signature` (only the handshake comes unsigned)".into(),
        ));
    }
    let event_type = event["header"]["event_type"].as_str().unwrap_or("");
    if event["schema"] != "2.0" || event_type != "im.message.receive_v1" {
        return Ok(Inbound::Ignored(format!("a `{event_type}` event (schema {})", event["schema"])));
    }
    message(request, &event)
}

/// The event JSON inside an `encrypt` envelope.
fn decrypt(encrypt_key: &[u8], encrypted: &str) -> Result<Vec<u8>, &'static str> {
    let key = Zeroizing::new(crypto::sha256(&[encrypt_key]));
    let data = STANDARD.decode(encrypted).map_err(|_| "the `encrypt` is not base64")?;
    if data.len() < 32 {
        return Err("the `encrypt` is shorter than an IV and a block");
    }
    let (iv, ciphertext) = data.split_at(16);
    cbc::Decryptor::<Aes256>::new_from_slices(key.as_slice(), iv)
        .map_err(|_| "the `encrypt` IV is not 16 bytes")?
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| "the `encrypt` does not decrypt under the encrypt key")
}

/// `im.message.receive_v1`: a person's text message; an app's, or another type, is ignored.
fn message(request: &Request<'_>, event: &Value) -> Result<Inbound, Refused> {
    let body = &event["event"];
    if body["sender"]["sender_type"] == "app" {
        return Ok(Inbound::Ignored("a message from an app".into()));
    }
    let message = &body["message"];
    let message_type = message["message_type"].as_str().unwrap_or("");
    if message_type != "text" {
        return Ok(Inbound::Ignored(format!("a `{message_type}` message")));
    }
    let text = |value: &Value, what: &str| {
        value.as_str().map(String::from).ok_or_else(|| Refused::Malformed(format!("the event has no `{what}`")))
    };
    // `content` is itself JSON, in a string: `{"text": "..."}`.
    let content: Value = message["content"]
        .as_str()
        .and_then(|c| serde_json::from_str(c).ok())
        .ok_or_else(|| Refused::Malformed("the message's `content` is not a JSON string".into()))?;
    let chat_id = text(&message["chat_id"], "message.chat_id")?;
    let message_id = text(&message["message_id"], "message.message_id")?;
    let thread =
        [&message["thread_id"], &message["root_id"]].into_iter().filter_map(Value::as_str).find(|t| !t.is_empty());
    let message = Message {
        channel: request.channel.to_string(),
        kind: "feishu".into(),
        event_id: text(&event["header"]["event_id"], "header.event_id")?,
        conversation: chat_id.clone(),
        thread: thread.map(String::from),
        user: User { id: text(&body["sender"]["sender_id"]["open_id"], "sender.sender_id.open_id")?, name: None },
        text: text(&content["text"], "content.text")?,
        attachments: Vec::new(),
        raw: json!({ "message_id": message_id, "chat_id": chat_id }),
        reply: json!({ "message_id": message_id, "chat_id": chat_id }),
    };
    Ok(Inbound::Message(Box::new(message), None))
}

pub async fn answer(out: &Outbound<'_>, message: &Message, text: &str) -> Result<(), SendError> {
    let message_id = message.reply["message_id"]
        .as_str()
        .ok_or_else(|| crypto::permanent("the message has no `reply.message_id`"))?;
    let url = crypto::endpoint(out.api, &["open-apis", "im", "v1", "messages", message_id, "reply"])?;
    let body = json!({ "msg_type": "text", "content": json!({ "text": text }).to_string() });
    authorized(out, &url, &body.to_string()).await
}

/// Posts `text` to chat `conversation` (`POST /open-apis/im/v1/messages?receive_id_type=chat_id`);
/// with `thread`, as a reply to that message (Feishu's threads hang off a message).
pub async fn post(out: &Outbound<'_>, conversation: &str, thread: Option<&str>, text: &str) -> Result<(), SendError> {
    let content = json!({ "text": text }).to_string();
    let (url, body) = match thread {
        Some(root) => (
            crypto::endpoint(out.api, &["open-apis", "im", "v1", "messages", root, "reply"])?,
            json!({ "msg_type": "text", "content": content }),
        ),
        None => {
            let mut url = url::Url::parse(&crypto::endpoint(out.api, &["open-apis", "im", "v1", "messages"])?)
                .map_err(|e| crypto::permanent(e.to_string()))?;
            url.query_pairs_mut().append_pair("receive_id_type", "chat_id");
            (url.into(), json!({ "receive_id": conversation, "msg_type": "text", "content": content }))
        }
    };
    authorized(out, &url, &body.to_string()).await
}

/// POSTs `body` to `url` with the app's tenant token. A token Feishu no longer takes (it
/// expired early, or was revoked) is dropped and the call made once more with a new one.
async fn authorized(out: &Outbound<'_>, url: &str, body: &str) -> Result<(), SendError> {
    let call =
        |token: Zeroizing<String>| crypto::send_json(out.http.post(url).bearer_auth(token.as_str()), body.to_string());
    let response = call(tenant_access_token(out).await?).await?;
    if !response.json["code"].as_i64().is_some_and(|code| TOKEN_REFUSED.contains(&code)) {
        return verdict(response).map(drop);
    }
    if let Some(kept) = out.token {
        kept.forget();
    }
    verdict(call(tenant_access_token(out).await?).await?).map(drop)
}

/// The app's tenant access token: the channel's kept one, unless it has less than
/// [`TOKEN_MARGIN`] left, else a new one (Feishu grants two hours, and a new one in the last
/// 30 minutes), which is kept.
async fn tenant_access_token(out: &Outbound<'_>) -> Result<Zeroizing<String>, SendError> {
    if let Some(token) = out.token.and_then(|kept| kept.get(TOKEN_MARGIN)) {
        return Ok(token);
    }
    let app_id = crypto::secret_text(out.secrets, "app_id")?;
    let app_secret = crypto::secret_text(out.secrets, "app_secret")?;
    let url = crypto::endpoint(out.api, &["open-apis", "auth", "v3", "tenant_access_token", "internal"])?;
    let body = json!({ "app_id": app_id, "app_secret": app_secret }).to_string();
    let granted = verdict(crypto::send_json(out.http.post(url), body).await?)?;
    let token = granted["tenant_access_token"]
        .as_str()
        .map(|t| Zeroizing::new(t.to_string()))
        .ok_or_else(|| crypto::permanent("feishu granted no `tenant_access_token`"))?;
    if let (Some(kept), Some(seconds)) = (out.token, granted["expire"].as_u64()) {
        kept.keep(&token, Duration::from_secs(seconds));
    }
    Ok(token)
}

/// Feishu's verdict on a call: its body's `code`, 0 for success.
fn verdict(response: Response) -> Result<Value, SendError> {
    let wait = retry_after(&response.headers).or_else(|| {
        let reset = response.headers.get("x-ogw-ratelimit-reset")?.to_str().ok()?.trim().parse::<u64>().ok()?;
        Some(Duration::from_secs(reset))
    });
    let code = response.json["code"].as_i64();
    if code == Some(RATE_LIMITED) {
        return Err(crypto::declined("feishu", "request trigger frequency limit (99991400)", true, wait));
    }
    let body = response.success(|_| wait)?;
    if code != Some(0) {
        let why = format!("code {}: {}", json!(code), body["msg"].as_str().unwrap_or(""));
        return Err(crypto::declined("feishu", &why, false, None));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::crypto::testing::{self, Server, reply};
    use cbc::cipher::BlockModeEncrypt;
    use http::Method;

    const KEY: &str = "test key";
    const TOKEN: &str = "v-token";
    const NOW: i64 = 1_700_000_000;

    fn secrets() -> crate::kinds::Secrets {
        testing::secrets(&[
            ("encrypt_key", KEY),
            ("verification_token", TOKEN),
            ("app_id", "cli_1"),
            ("app_secret", "sec_1"),
        ])
    }

    fn encrypt(key: &str, plain: &str) -> String {
        let key = crypto::sha256(&[key.as_bytes()]);
        let iv = [9u8; 16];
        let ciphertext =
            cbc::Encryptor::<Aes256>::new_from_slices(&key, &iv).unwrap().encrypt_padded_vec::<Pkcs7>(plain.as_bytes());
        STANDARD.encode([&iv[..], &ciphertext].concat())
    }

    fn envelope(event: &Value) -> String {
        json!({ "encrypt": encrypt(KEY, &event.to_string()) }).to_string()
    }

    fn signed(ts: i64, body: &str) -> http::HeaderMap {
        let ts = ts.to_string();
        let signature = hex::encode(crypto::sha256(&[ts.as_bytes(), b"n0nce", KEY.as_bytes(), body.as_bytes()]));
        testing::headers(&[
            ("x-lark-request-timestamp", &ts),
            ("x-lark-request-nonce", "n0nce"),
            ("x-lark-signature", &signature),
        ])
    }

    fn run(headers: &http::HeaderMap, body: &str, now: i64) -> Result<Inbound, Refused> {
        let secrets = secrets();
        inbound(&testing::request(headers, body.as_bytes(), &secrets, now))
    }

    fn unauthorized(result: Result<Inbound, Refused>) {
        assert!(matches!(result, Err(Refused::Unauthorized(_))), "{result:?}");
    }

    fn received(sender_type: &str, message: Value) -> Value {
        json!({
            "schema": "2.0",
            "header": { "event_id": "ev_1", "token": TOKEN, "event_type": "im.message.receive_v1", "app_id": "cli_1" },
            "event": {
                "sender": { "sender_id": { "open_id": "ou_1", "user_id": "u1" }, "sender_type": sender_type },
                "message": message,
            },
        })
    }

    fn text_message(text: &str) -> Value {
        json!({
            "message_id": "om_1", "root_id": "om_0", "chat_id": "oc_1", "chat_type": "group",
            "message_type": "text", "content": json!({ "text": text }).to_string(),
        })
    }

    const CHALLENGE: &str = r#"{"challenge":"ajls384kdjx98XX","token":"v-token","type":"url_verification"}"#;

    #[test]
    fn feishus_documented_example_decrypts() {
        let plain = decrypt(KEY.as_bytes(), "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").unwrap();
        assert_eq!(plain, b"hello world");
        assert!(decrypt(b"other key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").is_err());
    }

    #[test]
    fn the_unsigned_url_verification_is_answered_when_its_token_matches() {
        let body = envelope(&serde_json::from_str(CHALLENGE).unwrap());
        match run(&http::HeaderMap::new(), &body, NOW) {
            Ok(Inbound::Handshake(answer)) => assert_eq!(answer, json!({ "challenge": "ajls384kdjx98XX" })),
            other => panic!("{other:?}"),
        }
        let wrong = envelope(&serde_json::from_str(&CHALLENGE.replace("v-token", "v-tokem")).unwrap());
        unauthorized(run(&http::HeaderMap::new(), &wrong, NOW));
        // Unencrypted, it proves nothing.
        unauthorized(run(&http::HeaderMap::new(), CHALLENGE, NOW));
        // Encrypted under another key, it does not decrypt.
        let other = json!({ "encrypt": encrypt("other key", CHALLENGE) }).to_string();
        unauthorized(run(&http::HeaderMap::new(), &other, NOW));
    }

    #[test]
    fn a_signed_text_message_is_read() {
        let body = envelope(&received("user", text_message("@_user_1 hello")));
        match run(&signed(NOW, &body), &body, NOW) {
            Ok(Inbound::Message(message, None)) => assert_eq!(
                *message,
                Message {
                    channel: "chan".into(),
                    kind: "feishu".into(),
                    event_id: "ev_1".into(),
                    conversation: "oc_1".into(),
                    thread: Some("om_0".into()),
                    user: User { id: "ou_1".into(), name: None },
                    text: "@_user_1 hello".into(),
                    attachments: vec![],
                    raw: json!({ "message_id": "om_1", "chat_id": "oc_1" }),
                    reply: json!({ "message_id": "om_1", "chat_id": "oc_1" }),
                }
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_does_not_verify_is_refused() {
        let body = envelope(&received("user", text_message("hi")));
        let mut wrong = signed(NOW, &body);
        wrong.insert("x-lark-request-nonce", "other".parse().unwrap());
        unauthorized(run(&wrong, &body, NOW));
        let altered = envelope(&received("user", text_message("ho")));
        unauthorized(run(&signed(NOW, &body), &altered, NOW));
        unauthorized(run(&signed(NOW - 301, &body), &body, NOW));
        unauthorized(run(&signed(NOW + 301, &body), &body, NOW));
        // An event needs the signature headers, all three.
        unauthorized(run(&http::HeaderMap::new(), &body, NOW));
        let mut partial = signed(NOW, &body);
        partial.remove("x-lark-signature");
        unauthorized(run(&partial, &body, NOW));
        // Signed, but with another verification token inside.
        let mut event = received("user", text_message("hi"));
        event["header"]["token"] = json!("v-other");
        let body = envelope(&event);
        unauthorized(run(&signed(NOW, &body), &body, NOW));
        // Signed, but not encrypted.
        let plain = received("user", text_message("hi")).to_string();
        unauthorized(run(&signed(NOW, &plain), &plain, NOW));
    }

    #[test]
    fn apps_other_types_and_other_events_are_ignored() {
        let mut image = text_message("");
        image["message_type"] = json!("image");
        let mut other = received("user", text_message("hi"));
        other["header"]["event_type"] = json!("im.chat.member.bot.added_v1");
        for event in [received("app", text_message("mine")), received("user", image), other] {
            let body = envelope(&event);
            assert!(matches!(run(&signed(NOW, &body), &body, NOW), Ok(Inbound::Ignored(_))), "{event}");
        }
    }

    #[test]
    fn a_signed_body_that_cannot_be_read_is_malformed() {
        let mut no_content = text_message("");
        no_content["content"] = json!("not json");
        for body in [
            r#"{"encrypt":"%%%"}"#.to_string(),
            json!({ "encrypt": encrypt(KEY, "not json") }).to_string(),
            envelope(&received("user", no_content)),
        ] {
            let result = run(&signed(NOW, &body), &body, NOW);
            assert!(matches!(result, Err(Refused::Malformed(_))), "{body}: {result:?}");
        }
    }

    /// A received message to answer, with event id `id`.
    fn to_answer(id: &str) -> Message {
        Message {
            channel: "chan".into(),
            kind: "feishu".into(),
            event_id: id.into(),
            conversation: "oc_1".into(),
            thread: None,
            user: User::default(),
            text: "q".into(),
            attachments: vec![],
            raw: json!({}),
            reply: json!({ "message_id": "om_1", "chat_id": "oc_1" }),
        }
    }

    async fn answer_at(server: &Server) -> Result<(), SendError> {
        let secrets = secrets();
        let http = reqwest::Client::new();
        answer(&testing::outbound(&http, &server.url, &secrets), &to_answer("ev_1"), "the \"answer\"").await
    }

    fn granted() -> testing::Reply {
        reply(200, &[], json!({ "code": 0, "msg": "ok", "tenant_access_token": "t-abc", "expire": 7200 }))
    }

    #[tokio::test]
    async fn the_answer_gets_a_tenant_token_then_replies_to_the_message() {
        let server =
            Server::start(vec![granted(), reply(200, &[], json!({ "code": 0, "msg": "success", "data": {} }))]).await;
        answer_at(&server).await.unwrap();
        let recorded = server.recorded();
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[0].method, Method::POST);
        assert_eq!(recorded[0].path, "/open-apis/auth/v3/tenant_access_token/internal");
        assert_eq!(recorded[0].json, json!({ "app_id": "cli_1", "app_secret": "sec_1" }));
        assert_eq!(recorded[1].method, Method::POST);
        assert_eq!(recorded[1].path, "/open-apis/im/v1/messages/om_1/reply");
        assert_eq!(testing::header(&recorded[1], "authorization"), "Bearer t-abc");
        assert_eq!(testing::header(&recorded[1], "content-type"), "application/json; charset=utf-8");
        assert_eq!(recorded[1].json, json!({ "msg_type": "text", "content": r#"{"text":"the \"answer\""}"# }));
    }

    #[tokio::test]
    async fn the_rate_limit_is_retryable_whatever_its_status_and_other_codes_are_not() {
        let limited = json!({ "code": 99991400, "msg": "request trigger frequency limit" });
        let server = Server::start(vec![
            granted(),
            reply(429, &[("x-ogw-ratelimit-reset", "52")], limited.clone()),
            granted(),
            reply(400, &[("x-ogw-ratelimit-reset", "7")], limited),
            granted(),
            reply(200, &[], json!({ "code": 230002, "msg": "The bot is not in the chat." })),
            reply(200, &[], json!({ "code": 10014, "msg": "app secret invalid" })),
        ])
        .await;
        let error = answer_at(&server).await.unwrap_err();
        assert!(!error.permanent);
        assert_eq!(error.retry_after, Some(Duration::from_secs(52)));
        let error = answer_at(&server).await.unwrap_err();
        assert!(!error.permanent);
        assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
        let error = answer_at(&server).await.unwrap_err();
        assert!(error.permanent);
        assert!(error.error.contains("230002"), "{}", error.error);
        let error = answer_at(&server).await.unwrap_err();
        assert!(error.permanent);
        assert!(error.error.contains("app secret invalid"), "{}", error.error);
        assert_eq!(server.recorded().len(), 7);
    }

    #[tokio::test]
    async fn the_tenant_token_is_kept_between_answers_and_renewed_when_refused() {
        let sent = || reply(200, &[], json!({ "code": 0, "msg": "success", "data": {} }));
        let refused = json!({ "code": 99991663, "msg": "Invalid access token for authorization." });
        let renewed =
            reply(200, &[], json!({ "code": 0, "msg": "ok", "tenant_access_token": "t-new", "expire": 7200 }));
        let server =
            Server::start(vec![granted(), sent(), sent(), reply(400, &[], refused), renewed, sent(), sent()]).await;
        let (secrets, http, kept) = (secrets(), reqwest::Client::new(), crate::kinds::TokenCache::default());
        let out = Outbound { token: Some(&kept), ..testing::outbound(&http, &server.url, &secrets) };
        for n in 0..4 {
            answer(&out, &to_answer(&format!("ev_{n}")), "a").await.unwrap();
        }
        let paths: Vec<(String, String)> = server
            .recorded()
            .iter()
            .map(|r| (r.path.rsplit('/').next().unwrap().to_string(), testing::header(r, "authorization").to_string()))
            .collect();
        let pair = |path: &str, auth: &str| (path.to_string(), auth.to_string());
        assert_eq!(
            paths,
            [
                pair("internal", ""),
                pair("reply", "Bearer t-abc"),
                pair("reply", "Bearer t-abc"),
                pair("reply", "Bearer t-abc"),
                pair("internal", ""),
                pair("reply", "Bearer t-new"),
                pair("reply", "Bearer t-new"),
            ],
            "one token for many answers; a refused one is renewed and the answer sent once more"
        );
    }
}
