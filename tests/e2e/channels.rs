//! The channel gateway as a service sees it: the real `monstrum serve`, requests signed by each
//! service's own scheme (signed here with the crypto crates, independently of the gateway's
//! code), and answers received by local stand-ins of the services' APIs, which the channels'
//! `api` points at (the same code talks to the real services at their public URLs).

use crate::common::chat_services::ChatService;
use crate::common::{Ws, events, text};
use crate::serve::start;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TELEGRAM_SECRET: &str = "tg-secret-token-1";
const WEBHOOK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const FEISHU_KEY: &str = "feishu encrypt key";
const FEISHU_TOKEN: &str = "feishu-verification-token";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn discord_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
}

/// A workspace with two bots on the scripted model, a workflow for `/deploy`, and channels of
/// every kind whose `api` is `service`.
fn workspace(service: &ChatService) -> Ws {
    workspace_on(service, None)
}

/// [`workspace`] on the store at `db` (SQLite in the workspace when `None`).
fn workspace_on(service: &ChatService, db: Option<String>) -> Ws {
    let ws = Ws { db, ..Ws::new() };
    ws.write("scripts/ops.yaml", "- text: hello from ops\n");
    ws.write(
        "bots/ops.yaml",
        "name: ops\nmodel: { provider: scripted, script: scripts/ops.yaml }\npersonality: You answer people in chat.\n",
    );
    ws.write("bots/deployer.yaml", "name: deployer\nmodel: { provider: scripted, script: scripts/ops.yaml }\n");
    ws.write(
        "workflows/deploy.yaml",
        r#"name: deploy
bot: deployer
inputs:
  message: { type: object }
steps:
  - id: plan
    tool: core.echo
    with: { text: "deploying {{ inputs.message.text | replace('/deploy ', '') }} for {{ inputs.message.user.id }}" }
outputs:
  reply: "{{ steps.plan.output.text }}"
"#,
    );
    ws.write(
        "workflows/slow.yaml",
        r#"name: slow
bot: deployer
inputs:
  message: { type: object }
steps:
  - { id: wait, tool: core.wait, with: { seconds: 1.5 } }
  - { id: done, needs: [wait], tool: core.echo, with: { text: "slow answer" } }
outputs:
  reply: "{{ steps.done.output.text }}"
"#,
    );
    ws.write(
        "workflows/long.yaml",
        r#"name: long
bot: deployer
inputs:
  message: { type: object }
steps:
  - { id: wait, tool: core.wait, with: { seconds: 4 } }
  - { id: done, needs: [wait], tool: core.echo, with: { text: "done at last" } }
outputs:
  reply: "{{ steps.done.output.text }}"
"#,
    );
    let api = &service.url;
    ws.write(
        "channels/ops-slack.yaml",
        &format!(
            r#"name: ops-slack
kind: slack
secrets: {{ signing_secret: slack-signing, bot_token: slack-bot }}
api: {api}
routes:
  - if: "message.text is startingwith('/deploy')"
    bot: deployer
    workflow: workflows/deploy.yaml
  - if: "message.text == 'ignore me'"
    bot: nobody-answers-this
  - if: "message.text == 'take your time'"
    bot: deployer
    workflow: workflows/long.yaml
  - if: "message.conversation == 'C-OPS'"
    bot: ops
"#
        ),
    );
    ws.write(
        "channels/tg.yaml",
        &format!("name: tg\nkind: telegram\nsecrets: {{ secret_token: tg-secret, bot_token: tg-bot }}\napi: {api}\nroutes:\n  - bot: ops\n"),
    );
    ws.write(
        "channels/disc.yaml",
        &format!("name: disc\nkind: discord\nsecrets: {{ public_key: discord-key }}\napi: {api}\nroutes:\n  - bot: deployer\n    workflow: workflows/slow.yaml\n"),
    );
    ws.write(
        "channels/lark.yaml",
        &format!("name: lark\nkind: feishu\nsecrets: {{ encrypt_key: lark-encrypt, verification_token: lark-token, app_id: lark-app, app_secret: lark-secret }}\napi: {api}\nroutes:\n  - bot: ops\n"),
    );
    ws.write(
        "channels/hook.yaml",
        &format!("name: hook\nkind: webhook\nsecrets: {{ signing_secret: hook-secret }}\ncallback: {api}/answers\nroutes:\n  - bot: deployer\n    workflow: workflows/deploy.yaml\n"),
    );
    ws.write(
        "bots/nobody-answers-this.yaml",
        "name: nobody-answers-this\nmodel: { provider: scripted, script: scripts/ops.yaml }\n",
    );
    ws.vault_set("slack-signing", SLACK_SECRET);
    ws.vault_set("slack-bot", "xoxb-test-bot-token");
    ws.vault_set("tg-secret", TELEGRAM_SECRET);
    ws.vault_set("tg-bot", "123456:telegram-bot-token");
    ws.vault_set("discord-key", &hex::encode(discord_key().verifying_key().to_bytes()));
    ws.vault_set("lark-encrypt", FEISHU_KEY);
    ws.vault_set("lark-token", FEISHU_TOKEN);
    ws.vault_set("lark-app", "cli_test_app");
    ws.vault_set("lark-secret", "lark-app-secret");
    ws.vault_set("hook-secret", WEBHOOK_SECRET);
    ws
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

/// A Slack Events API request, signed as Slack signs (v0, at `ts`).
fn slack(base: &str, body: &Value, ts: i64, retry: Option<u32>) -> reqwest::blocking::Response {
    let body = body.to_string();
    let signature =
        format!("v0={}", hex::encode(hmac256(SLACK_SECRET.as_bytes(), format!("v0:{ts}:{body}").as_bytes())));
    let mut request = client()
        .post(format!("{base}/hooks/ops-slack"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", signature)
        .body(body);
    if let Some(n) = retry {
        request = request.header("x-slack-retry-num", n.to_string()).header("x-slack-retry-reason", "http_timeout");
    }
    request.send().unwrap()
}

fn slack_message(event_id: &str, channel: &str, text: &str) -> Value {
    json!({
        "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id, "event_time": now(),
        "event": { "type": "message", "channel": channel, "user": "U2CERLKJA", "text": text, "ts": "1700000000.000100", "channel_type": "channel" }
    })
}

/// The channel's deliveries as `monstrum channel list --json` shows them.
fn deliveries(ws: &Ws, channel: &str) -> Vec<Value> {
    let listed = events(&ws.run(&["--json", "channel", "list", "--deliveries", "50"]));
    let one =
        listed.iter().find(|c| c["name"] == channel).unwrap_or_else(|| panic!("no channel {channel}: {listed:?}"));
    one["deliveries"].as_array().cloned().unwrap_or_default()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn slack_messages_are_verified_routed_answered_in_the_thread_and_run_once() {
    let service = ChatService::start();
    let ws = workspace(&service);
    let (mut server, base) = start(&ws);

    // The URL handshake is answered.
    let challenge = slack(
        &base,
        &json!({ "type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "token": "x" }),
        now(),
        None,
    );
    assert_eq!(challenge.status(), 200);
    assert_eq!(challenge.json::<Value>().unwrap()["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");

    // Forged, altered, stale and future requests get 401 and run nothing.
    let message = slack_message("Ev1", "C-OPS", "what is up?");
    let forged = client()
        .post(format!("{base}/hooks/ops-slack"))
        .header("x-slack-request-timestamp", now().to_string())
        .header(
            "x-slack-signature",
            format!("v0={}", hex::encode(hmac256(b"not the secret", message.to_string().as_bytes()))),
        )
        .body(message.to_string())
        .send()
        .unwrap();
    assert_eq!(forged.status(), 401);
    let ts = now();
    let signed_other = format!(
        "v0={}",
        hex::encode(hmac256(
            SLACK_SECRET.as_bytes(),
            format!("v0:{ts}:{}", slack_message("Ev1", "C-OPS", "hi")).as_bytes()
        ))
    );
    let altered = client()
        .post(format!("{base}/hooks/ops-slack"))
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", signed_other)
        .body(message.to_string())
        .send()
        .unwrap();
    assert_eq!(altered.status(), 401, "a body other than the one signed");
    assert_eq!(slack(&base, &message, now() - 301, None).status(), 401, "a replay past Slack's 300 s window");
    assert_eq!(slack(&base, &message, now() + 400, None).status(), 401, "a timestamp from the future");
    assert_eq!(client().post(format!("{base}/hooks/nowhere")).body("{}").send().unwrap().status(), 404);
    assert!(deliveries(&ws, "ops-slack").is_empty(), "nothing that failed to verify was recorded");

    // A good one is acknowledged at once; the bot's answer goes to the thread by chat.postMessage.
    let acked = slack(&base, &message, now(), None);
    assert_eq!(acked.status(), 200);
    let posted = service.wait_for(1);
    let post = &posted[0];
    assert_eq!((post.method.as_str(), post.path.as_str()), ("POST", "/api/chat.postMessage"));
    assert_eq!(post.header("authorization"), Some("Bearer xoxb-test-bot-token"));
    let body = post.json();
    assert_eq!(body["channel"], "C-OPS");
    assert_eq!(body["text"], "hello from ops");
    assert_eq!(body["thread_ts"], "1700000000.000100", "answered in the message's thread");

    // Slack's redelivery of the same event (and a second copy at once) runs nothing again.
    assert_eq!(slack(&base, &message, now(), Some(1)).status(), 200);
    assert_eq!(slack(&base, &message, now(), Some(2)).status(), 200);

    // The first matching route wins: /deploy goes to the deploy workflow, as the deployer.
    assert_eq!(slack(&base, &slack_message("Ev2", "C-OTHER", "/deploy web-1"), now(), None).status(), 200);
    let posted = service.wait_for(2);
    assert_eq!(posted[1].json()["text"], "deploying web-1 for U2CERLKJA");

    // A message no route matches is acknowledged, audited and dropped.
    assert_eq!(slack(&base, &slack_message("Ev3", "C-ELSEWHERE", "hello?"), now(), None).status(), 200);
    wait_until("the dropped delivery", || deliveries(&ws, "ops-slack").iter().any(|d| d["event_id"] == "Ev3"));

    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(service.received().len(), 2, "each message answered once: {:#?}", service.received());
    let recorded = deliveries(&ws, "ops-slack");
    let status =
        |id: &str| recorded.iter().find(|d| d["event_id"] == id).map(|d| d["status"].as_str().unwrap().to_string());
    assert_eq!(recorded.len(), 3, "{recorded:#?}");
    assert_eq!(status("Ev1").as_deref(), Some("answered"));
    assert_eq!(status("Ev2").as_deref(), Some("answered"));
    assert_eq!(status("Ev3").as_deref(), Some("dropped"));

    let audit = events(&ws.run(&["--json", "audit", "list", "--kind", "channel"]));
    let decisions: Vec<_> = audit.iter().map(|r| (r["decision"].as_str().unwrap(), r["bot"].as_str())).collect();
    assert!(decisions.contains(&("routed", Some("ops"))), "{audit:#?}");
    assert!(decisions.contains(&("routed", Some("deployer"))), "{audit:#?}");
    assert!(decisions.contains(&("dropped", None)), "{audit:#?}");
    assert_eq!(audit.len(), 3, "a redelivery is not audited again: {audit:#?}");

    // The run had the unified message and the conversation's memory partition.
    let run = recorded.iter().find(|d| d["event_id"] == "Ev1").unwrap()["run"].as_str().unwrap().to_string();
    let shown: Value = serde_json::from_slice(&ws.run(&["runs", "show", &run, "--json"]).stdout).unwrap();
    let details = &shown["details"];
    assert_eq!(details["conversation"], "ops-slack/C-OPS", "{details}");
    assert_eq!(details["started_by"], "ops-slack/U2CERLKJA", "{details}");
    let given = &details["inputs"]["message"];
    assert_eq!(
        (given["text"].as_str(), given["kind"].as_str(), given["event_id"].as_str()),
        (Some("what is up?"), Some("slack"), Some("Ev1"))
    );
    assert!(given.get("reply").is_none(), "what the answer needs is not the run's: {given}");

    // A long run says it is working on it first, in the thread, then answers there.
    assert_eq!(slack(&base, &slack_message("Ev4", "C-OPS", "take your time"), now(), None).status(), 200);
    let got = service.wait_for(3);
    assert_eq!(
        (got[2].json()["text"].as_str(), got[2].json()["thread_ts"].as_str()),
        (Some("done at last"), Some("1700000000.000100"))
    );
    let note =
        service.notes().into_iter().find(|n| n.json()["text"] == "Working on it…").expect("a note before the answer");
    assert_eq!(note.json()["thread_ts"], "1700000000.000100");
    // Answered, and recorded so, before the kill (a kill between an answer and its record
    // sends it again after the restart: at least once).
    wait_until("every answer recorded", || {
        deliveries(&ws, "ops-slack").iter().all(|d| d["status"] == "answered" || d["status"] == "dropped")
    });

    // A redelivery after a restart is still recognised.
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, base) = start(&ws);
    assert_eq!(slack(&base, &message, now(), Some(3)).status(), 200);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(service.received().len(), 3, "not run again after the restart");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Senders that hang up as soon as they have sent, as a service timing out does: whatever the
/// gateway recorded it also started (a delivery recorded but never run would be taken for done
/// when the service sends it again), so every recorded message is answered.
#[test]
fn a_sender_that_hangs_up_at_once_leaves_no_delivery_recorded_but_not_run() {
    use std::io::Write as _;
    let service = ChatService::start();
    let ws = workspace(&service);
    let (mut server, base) = start(&ws);
    let addr = base.trim_start_matches("http://").to_string();
    for n in 0..20 {
        let body = slack_message(&format!("EvH{n}"), "C-OPS", "what is up?").to_string();
        let ts = now();
        let signature = hex::encode(hmac256(SLACK_SECRET.as_bytes(), format!("v0:{ts}:{body}").as_bytes()));
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            tcp,
            "POST /hooks/ops-slack HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nx-slack-request-timestamp: {ts}\r\nx-slack-signature: v0={signature}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        drop(tcp);
    }
    // Give the gateway the time of a few commits, then every recorded message must get its run
    // and its answer (a delivery stays `routed` until then).
    std::thread::sleep(Duration::from_millis(500));
    wait_until("every recorded message answered", || {
        deliveries(&ws, "ops-slack").iter().all(|d| d["status"] == "answered" && d["run"].is_string())
    });
    let recorded = deliveries(&ws, "ops-slack").len();
    assert!(recorded > 0, "the messages were read before the hang-ups were");
    assert_eq!(service.received().len(), recorded, "one answer per recorded message");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Many events at once, each sent three times by concurrent senders, as a service retrying under
/// load would: every one is acknowledged, recorded once and audited once, and the trail's chain
/// is intact (the deliveries are committed in groups with whatever else the store writes).
fn concurrent_redeliveries_are_recorded_and_audited_once(db: Option<String>) {
    let service = ChatService::start();
    let ws = workspace_on(&service, db);
    let (mut server, base) = start(&ws);
    let events_sent = 60;
    std::thread::scope(|scope| {
        for sender in 0..6 {
            let base = &base;
            scope.spawn(move || {
                for copy in 0..3 {
                    for n in (0..events_sent).filter(|n| n % 2 == sender % 2) {
                        let message = slack_message(&format!("EvC{n}"), "C-ELSEWHERE", "no route matches this");
                        let retry = (copy > 0).then_some(copy);
                        assert_eq!(slack(base, &message, now(), retry).status(), 200, "EvC{n}, copy {copy}");
                    }
                }
            });
        }
    });
    let recorded = events(&ws.run(&["--json", "channel", "list", "--deliveries", "500"]));
    let recorded =
        recorded.iter().find(|c| c["name"] == "ops-slack").unwrap()["deliveries"].as_array().unwrap().clone();
    let mut ids: Vec<&str> = recorded.iter().map(|d| d["event_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((recorded.len(), ids.len()), (events_sent, events_sent), "{recorded:#?}");
    assert!(recorded.iter().all(|d| d["status"] == "dropped"), "{recorded:#?}");
    let audit = events(&ws.run(&["--json", "audit", "list", "--kind", "channel"]));
    assert_eq!(audit.len(), events_sent, "one record per event, none per redelivery");
    let verified = events(&ws.run(&["--json", "audit", "verify"]));
    let verdict = verified.iter().find(|e| e["type"] == "audit_verify").expect("a verdict");
    assert_eq!(verdict["intact"], true, "{verified:#?}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn concurrent_redeliveries_are_recorded_and_audited_once_on_sqlite() {
    concurrent_redeliveries_are_recorded_and_audited_once(None);
}

#[test]
fn concurrent_redeliveries_are_recorded_and_audited_once_on_postgresql() {
    let Some(db) = crate::common::postgres_database() else { return };
    concurrent_redeliveries_are_recorded_and_audited_once(Some(db));
}

#[test]
fn telegram_discord_feishu_and_webhook_messages_are_answered_by_their_own_routes() {
    let service = ChatService::start();
    let ws = workspace(&service);
    let (mut server, base) = start(&ws);
    let http = client();

    // Telegram: the secret-token header, then sendMessage in the chat, replying to the message.
    let update = json!({ "update_id": 10001, "message": { "message_id": 42, "date": now(),
        "from": { "id": 7, "is_bot": false, "first_name": "Ann", "username": "ann" },
        "chat": { "id": -1001234567890i64, "type": "supergroup" }, "text": "status?" } });
    let wrong = http
        .post(format!("{base}/hooks/tg"))
        .header("x-telegram-bot-api-secret-token", "guess")
        .json(&update)
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let missing = http.post(format!("{base}/hooks/tg")).json(&update).send().unwrap();
    assert_eq!(missing.status(), 401);
    // The first answer is refused with Telegram's 429; the gateway waits retry_after and tries again.
    service.queue("/sendMessage", 429, &[], json!({ "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": { "retry_after": 1 } }));
    let ok = http
        .post(format!("{base}/hooks/tg"))
        .header("x-telegram-bot-api-secret-token", TELEGRAM_SECRET)
        .json(&update)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let got = service.wait_for(2);
    assert_eq!(got[0].path, "/bot123456:telegram-bot-token/sendMessage");
    assert_eq!(got[1].path, got[0].path, "sent again after the 429");
    let sent = got[1].json();
    assert_eq!(sent["chat_id"], json!(-1001234567890i64));
    assert_eq!(sent["text"], "hello from ops");
    assert_eq!(sent["reply_parameters"]["message_id"], 42);
    wait_until("telegram answered", || deliveries(&ws, "tg").first().is_some_and(|d| d["status"] == "answered"));
    assert_eq!(deliveries(&ws, "tg")[0]["event_id"], "10001");

    // Discord: PING answered; a command deferred at once (type 5) and the answer edited in
    // when the (slow) run ends.
    let discord = |body: &Value, key: &ed25519_dalek::SigningKey| {
        use ed25519_dalek::Signer as _;
        let ts = now().to_string();
        let body = body.to_string();
        let signature = key.sign(format!("{ts}{body}").as_bytes());
        http.post(format!("{base}/hooks/disc"))
            .header("x-signature-ed25519", hex::encode(signature.to_bytes()))
            .header("x-signature-timestamp", ts)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
    };
    let ping =
        discord(&json!({ "id": "1", "application_id": "A1", "type": 1, "token": "t", "version": 1 }), &discord_key());
    assert_eq!(ping.json::<Value>().unwrap(), json!({ "type": 1 }));
    let command = json!({ "id": "1200000000000000001", "application_id": "987654321", "type": 2, "token": "interaction-token-abc",
        "version": 1, "channel_id": "555", "member": { "user": { "id": "42", "username": "ann" } },
        "data": { "id": "c1", "name": "deploy", "type": 1, "options": [{ "name": "service", "type": 3, "value": "web" }] } });
    let forged = discord(&command, &ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]));
    assert_eq!(forged.status(), 401);
    let before = service.received().len();
    let deferred = discord(&command, &discord_key());
    assert_eq!(deferred.json::<Value>().unwrap(), json!({ "type": 5 }), "deferred at once");
    assert_eq!(service.received().len(), before, "the answer comes after the acknowledgement, when the run ends");
    let got = service.wait_for(before + 1);
    let edit = &got[before];
    assert_eq!(
        (edit.method.as_str(), edit.path.as_str()),
        ("PATCH", "/webhooks/987654321/interaction-token-abc/messages/@original")
    );
    assert_eq!(edit.json()["content"], "slow answer");

    // Feishu: the encrypted challenge, then an encrypted, signed message answered by reply.
    let encrypt = |plain: &Value| {
        use aes::cipher::{BlockModeEncrypt, KeyIvInit};
        let key = Sha256::digest(FEISHU_KEY.as_bytes());
        let iv = [3u8; 16];
        let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key[..], &iv)
            .unwrap()
            .encrypt_padded_vec::<aes::cipher::block_padding::Pkcs7>(plain.to_string().as_bytes());
        json!({ "encrypt": base64::engine::general_purpose::STANDARD.encode([iv.as_slice(), &ct].concat()) })
    };
    let challenge =
        encrypt(&json!({ "challenge": "ajls384kdjx98XX", "token": FEISHU_TOKEN, "type": "url_verification" }));
    let answered = http.post(format!("{base}/hooks/lark")).json(&challenge).send().unwrap();
    assert_eq!(answered.json::<Value>().unwrap()["challenge"], "ajls384kdjx98XX");
    let wrong_token = encrypt(&json!({ "challenge": "x", "token": "not-it", "type": "url_verification" }));
    assert_eq!(http.post(format!("{base}/hooks/lark")).json(&wrong_token).send().unwrap().status(), 401);
    let event = encrypt(&json!({ "schema": "2.0",
        "header": { "event_id": "f7984f25108f8137722bb63cee927e66", "event_type": "im.message.receive_v1", "token": FEISHU_TOKEN, "app_id": "cli_test_app", "create_time": "1700000000000" },
        "event": { "sender": { "sender_id": { "open_id": "ou_ann" }, "sender_type": "user" },
                   "message": { "message_id": "om_question", "chat_id": "oc_chat", "chat_type": "group", "message_type": "text", "content": "{\"text\":\"status?\"}" } } }));
    let body = event.to_string();
    let (ts, nonce) = (now().to_string(), "n0nce");
    let signature = hex::encode(Sha256::digest(format!("{ts}{nonce}{FEISHU_KEY}{body}").as_bytes()));
    let post = |signature: &str| {
        http.post(format!("{base}/hooks/lark"))
            .header("x-lark-request-timestamp", &ts)
            .header("x-lark-request-nonce", nonce)
            .header("x-lark-signature", signature)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .unwrap()
    };
    assert_eq!(post(&"0".repeat(64)).status(), 401);
    let before = service.received().len();
    assert_eq!(post(&signature).status(), 200);
    let got = service.wait_for(before + 2);
    assert_eq!(got[before].path, "/open-apis/auth/v3/tenant_access_token/internal");
    assert_eq!(got[before].json(), json!({ "app_id": "cli_test_app", "app_secret": "lark-app-secret" }));
    let reply = &got[before + 1];
    assert_eq!(reply.path, "/open-apis/im/v1/messages/om_question/reply");
    assert_eq!(reply.header("authorization"), Some("Bearer t-test-tenant-token"));
    assert_eq!(reply.json()["msg_type"], "text");
    assert_eq!(
        serde_json::from_str::<Value>(reply.json()["content"].as_str().unwrap()).unwrap()["text"],
        "hello from ops"
    );

    // A Standard Webhooks sender: verified, run, and answered at the callback, signed the same way.
    let key = base64::engine::general_purpose::STANDARD.decode(WEBHOOK_SECRET.trim_start_matches("whsec_")).unwrap();
    let body = json!({ "text": "/deploy api", "conversation": "ci", "user": { "id": "ci-bot" } }).to_string();
    let ts = now();
    let sig = base64::engine::general_purpose::STANDARD.encode(hmac256(&key, format!("msg_1.{ts}.{body}").as_bytes()));
    let send = |sig: &str, id: &str| {
        http.post(format!("{base}/hooks/hook"))
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", format!("v1,{sig}"))
            .body(body.clone())
            .send()
            .unwrap()
    };
    assert_eq!(send(&sig, "msg_other").status(), 401, "the id is signed too");
    let before = service.received().len();
    assert_eq!(send(&sig, "msg_1").status(), 200);
    let got = service.wait_for(before + 1);
    let answer = &got[before];
    assert_eq!(answer.path, "/answers");
    assert_eq!(answer.json()["text"], "deploying api for ci-bot");
    let (id, at) = (answer.header("webhook-id").unwrap(), answer.header("webhook-timestamp").unwrap());
    let expected = base64::engine::general_purpose::STANDARD
        .encode(hmac256(&key, &[format!("{id}.{at}.").as_bytes(), &answer.body].concat()));
    assert!(
        answer.header("webhook-signature").unwrap().split(' ').any(|s| s == format!("v1,{expected}")),
        "the answer is signed"
    );

    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn channel_files_are_validated_against_the_workspace_and_the_vault() {
    let service = ChatService::start();
    let ws = workspace(&service);
    let ok = ws.run(&["validate", "channels/ops-slack.yaml"]);
    assert!(ok.status.success(), "{}", text(&ok));
    ws.write(
        "channels/broken.yaml",
        "name: broken\nkind: slack\nsecrets: { signing_secret: not-in-vault, bot_token: slack-bot }\nroutes:\n  - if: \"message.text ==\"\n    bot: ghost\n  - bot: ops\n    workflow: workflows/missing.yaml\n  - bot: ops\n    workflow: workflows/deploy.yaml\n",
    );
    let out = ws.run(&["--json", "validate", "channels/broken.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let problems = events(&out);
    let found = |code: &str, line: u64, needle: &str| {
        problems
            .iter()
            .any(|p| p["code"] == code && p["line"] == line && p["message"].as_str().unwrap().contains(needle))
    };
    assert!(found("E013", 3, "not-in-vault"), "{problems:#?}");
    assert!(found("E006", 5, "does not parse"), "{problems:#?}");
    assert!(found("E013", 6, "ghost"), "{problems:#?}");
    assert!(found("E013", 8, "missing.yaml"), "{problems:#?}");
    assert!(found("E013", 10, "runs as bot `deployer`"), "{problems:#?}");

    // `channel list` shows the served channels and why the broken one is not served.
    let listed = events(&ws.run(&["--json", "channel", "list"]));
    let broken = listed.iter().find(|c| c["name"] == "broken").unwrap();
    assert!(broken["problem"].as_str().unwrap().contains("does not validate"), "{broken}");
    let slack = listed.iter().find(|c| c["name"] == "ops-slack").unwrap();
    assert_eq!((slack["kind"].as_str(), slack["hook"].as_str()), (Some("slack"), Some("/hooks/ops-slack")));
    assert!(slack["problem"].is_null());
}

#[test]
fn a_bots_send_is_a_governed_tool_scoped_to_its_conversations() {
    let service = ChatService::start();
    let ws = workspace(&service);
    // Discord's send needs the bot token (its answers use the interaction's token).
    let disc = std::fs::read_to_string(ws.path().join("channels/disc.yaml")).unwrap();
    ws.write(
        "channels/disc.yaml",
        &disc.replace("public_key: discord-key", "public_key: discord-key, bot_token: discord-bot"),
    );
    ws.vault_set("discord-bot", "discord-bot-token");
    ws.write(
        "bots/notifier.yaml",
        r#"name: notifier
resources:
  - channel: ops-slack
    tools: [send]
    scope: { conversations: ["C-ALERTS*"] }
  - channel: disc
    tools: [send]
    scope: { conversations: ["555"] }
  - channel: lark
    tools: [send]
    scope: { conversations: ["oc_*"] }
"#,
    );
    ws.write(
        "workflows/notify.yaml",
        r#"name: notify
bot: notifier
steps:
  - { id: slack, tool: ops-slack.send, with: { conversation: C-ALERTS-1, text: "disk 91% on web-1", thread: "1700000000.000100" } }
  - { id: discord, needs: [slack], tool: disc.send, with: { conversation: "555", text: "disk 91% on web-1" } }
  - { id: lark, needs: [discord], tool: lark.send, with: { conversation: oc_chat, text: "disk 91% on web-1" } }
"#,
    );
    let out = ws.run(&["--json", "run", "workflows/notify.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    let got = service.wait_for(4);
    assert_eq!(got[0].path, "/api/chat.postMessage");
    assert_eq!(got[0].header("authorization"), Some("Bearer xoxb-test-bot-token"));
    assert_eq!(
        got[0].json(),
        json!({ "channel": "C-ALERTS-1", "text": "disk 91% on web-1", "thread_ts": "1700000000.000100" })
    );
    assert_eq!((got[1].method.as_str(), got[1].path.as_str()), ("POST", "/channels/555/messages"));
    assert_eq!(got[1].header("authorization"), Some("Bot discord-bot-token"));
    assert_eq!(got[1].json()["content"], "disk 91% on web-1");
    assert_eq!(got[2].path, "/open-apis/auth/v3/tenant_access_token/internal");
    assert_eq!(got[3].path, "/open-apis/im/v1/messages");
    assert_eq!(got[3].json()["receive_id"], "oc_chat");

    // A conversation outside the binding's scope is refused by the gate: nothing is posted.
    ws.write(
        "workflows/leak.yaml",
        "name: leak\nbot: notifier\nsteps:\n  - { id: leak, tool: ops-slack.send, with: { conversation: C-EXECUTIVES, text: \"the secret plan\" } }\n",
    );
    let out = ws.run(&["--json", "run", "workflows/leak.yaml"]);
    assert!(!out.status.success(), "{}", text(&out));
    let refused = events(&out);
    let call = refused.iter().find(|e| e["type"] == "tool_call").expect("a tool_call event");
    assert_eq!(call["decision"], "denied", "{call}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(service.received().len(), 4, "nothing was posted for the refused call");
    let audit = events(&ws.run(&["--json", "audit", "list", "--tool", "ops-slack.send", "--decision", "denied"]));
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert!(
        !text(&ws.run(&["--json", "audit", "list"])).contains("xoxb-test-bot-token"),
        "no secret in the audit trail"
    );

    // A bot not bound to the channel is not shown its send at all.
    ws.write("workflows/unbound.yaml", "name: unbound\nbot: ops\nsteps:\n  - { id: s, tool: ops-slack.send, with: { conversation: C-ALERTS-1, text: hi } }\n");
    let out = ws.run(&["--json", "run", "workflows/unbound.yaml"]);
    assert!(!out.status.success());
    assert_eq!(service.received().len(), 4);
}

#[test]
fn a_server_killed_between_the_acknowledgement_and_the_answer_answers_after_its_restart() {
    let service = ChatService::start();
    let ws = workspace(&service);
    let (mut server, base) = start(&ws);
    let command = json!({ "id": "1200000000000000077", "application_id": "987654321", "type": 2, "token": "interaction-token-kill",
        "version": 1, "channel_id": "555", "member": { "user": { "id": "42", "username": "ann" } },
        "data": { "id": "c1", "name": "deploy", "type": 1 } });
    use ed25519_dalek::Signer as _;
    let ts = now().to_string();
    let body = command.to_string();
    let signature = discord_key().sign(format!("{ts}{body}").as_bytes());
    let acked = client()
        .post(format!("{base}/hooks/disc"))
        .header("x-signature-ed25519", hex::encode(signature.to_bytes()))
        .header("x-signature-timestamp", &ts)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(acked.json::<Value>().unwrap(), json!({ "type": 5 }));
    // The slow workflow's run is under way (its wait takes 1.5 s): kill the server now.
    wait_until("the run is recorded", || deliveries(&ws, "disc").first().is_some_and(|d| d["run"].is_string()));
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(service.received().is_empty(), "not answered before the kill");
    assert_eq!(deliveries(&ws, "disc")[0]["status"], "routed");

    let (mut server, _) = start(&ws);
    let got = service.wait_for(1);
    assert_eq!(got[0].path, "/webhooks/987654321/interaction-token-kill/messages/@original");
    assert_eq!(got[0].json()["content"], "slow answer");
    wait_until("answered", || deliveries(&ws, "disc")[0]["status"] == "answered");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(service.received().len(), 1, "answered once");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A workflow whose gate only the boss may open (not who asked): asked for in the conversation.
fn gated(ws: &Ws, channel_route: &str) {
    ws.write(
        "workflows/release.yaml",
        r#"name: release
bot: deployer
inputs:
  message: { type: object }
steps:
  - id: gate
    approval:
      message: "Release {{ inputs.message.text }}?"
      approvers: [ops-slack/U-BOSS, tg/99]
      self_approval: false
  - { id: go, needs: [gate], tool: core.echo, with: { text: released } }
outputs:
  reply: "{{ steps.gate.output.decision }} by {{ steps.gate.output.by }}"
"#,
    );
    let path = ws.path().join(channel_route);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen("routes:\n", "routes:\n  - if: \"message.text is startingwith('/release')\"\n    bot: deployer\n    workflow: workflows/release.yaml\n", 1);
    std::fs::write(path, text).unwrap();
}

/// A click on a Slack button, as Slack posts it (form-encoded `payload`, signed).
fn slack_click(base: &str, service: &ChatService, user: &str, value: &str, n: u32) -> reqwest::blocking::Response {
    let payload = json!({ "type": "block_actions", "user": { "id": user }, "trigger_id": format!("t{n}"),
        "response_url": format!("{}/respond/{n}", service.url),
        "actions": [{ "action_id": "monstrum_approve", "type": "button", "value": value }] });
    let body: String =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish();
    let ts = now();
    let signature =
        format!("v0={}", hex::encode(hmac256(SLACK_SECRET.as_bytes(), format!("v0:{ts}:{body}").as_bytes())));
    client()
        .post(format!("{base}/hooks/ops-slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .unwrap()
}

#[test]
fn an_approval_gate_is_decided_from_the_channel_with_the_rules_of_the_command_line() {
    let service = ChatService::start();
    let ws = workspace(&service);
    gated(&ws, "channels/ops-slack.yaml");
    gated(&ws, "channels/tg.yaml");
    let (mut server, base) = start(&ws);

    // Slack: the question comes with buttons in the message's thread.
    assert_eq!(slack(&base, &slack_message("EvR1", "C-OPS", "/release v2"), now(), None).status(), 200);
    let asked = &service.wait_for(1)[0];
    assert_eq!(asked.path, "/api/chat.postMessage");
    let blocks = &asked.json()["blocks"];
    assert!(asked.json()["text"].as_str().unwrap().contains("Release /release v2?"), "{}", asked.json());
    let approve = blocks[1]["elements"][0]["value"].as_str().unwrap().to_string();
    let reject = blocks[1]["elements"][1]["value"].as_str().unwrap().to_string();
    assert!(approve.starts_with("a ") && approve.ends_with(" gate") && reject.starts_with("r "), "{blocks}");

    // Who asked may not approve (self_approval: false), nor may anyone not listed: told so alone.
    assert_eq!(slack_click(&base, &service, "U2CERLKJA", &approve, 1).status(), 200);
    assert_eq!(slack_click(&base, &service, "U-STRANGER", &approve, 2).status(), 200);
    let got = service.wait_for(3);
    let told: Vec<_> = got[1..3].iter().map(|r| (r.path.clone(), r.json())).collect();
    for (path, body) in &told {
        assert!(path.starts_with("/respond/"), "{told:?}");
        assert_eq!(body["response_type"], "ephemeral", "{told:?}");
        assert!(body["text"].as_str().unwrap().starts_with("Not decided"), "{told:?}");
    }
    // A forged click (not signed by Slack) is refused.
    let forged = client()
        .post(format!("{base}/hooks/ops-slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", now().to_string())
        .header("x-slack-signature", "v0=00")
        .body(format!("payload={approve}"))
        .send()
        .unwrap();
    assert_eq!(forged.status(), 401);
    let run = approve.split(' ').nth(1).unwrap().to_string();
    let shown: Value = serde_json::from_slice(&ws.run(&["runs", "show", &run, "--json"]).stdout).unwrap();
    assert_eq!(shown["details"]["status"], "waiting", "still waiting: {shown}");

    // The boss approves: the question is replaced, the run goes on and its answer comes.
    assert_eq!(slack_click(&base, &service, "U-BOSS", &approve, 3).status(), 200);
    let got = service.wait_for(5);
    let replaced = got.iter().find(|r| r.path == "/respond/3").expect("the outcome at the response URL");
    assert_eq!(replaced.json()["replace_original"], true);
    assert!(replaced.json()["text"].as_str().unwrap().contains("Approved by ops-slack/U-BOSS"), "{}", replaced.json());
    let answer = got.iter().rev().find(|r| r.path == "/api/chat.postMessage").unwrap();
    assert_eq!(answer.json()["text"], "approved by ops-slack/U-BOSS");
    // A second click on the decided gate decides nothing.
    assert_eq!(slack_click(&base, &service, "U-BOSS", &reject, 4).status(), 200);
    let got = service.wait_for(6);
    assert!(got[5].json()["text"].as_str().unwrap().contains("already decided"), "{}", got[5].json());
    let approvals = events(&ws.run(&["--json", "audit", "list", "--kind", "approval"]));
    assert!(approvals.iter().any(|a| a["decision"] == "approved"), "{approvals:#?}");

    // Telegram: an inline keyboard; the click is answered and the question replaced.
    let before = service.received().len();
    let update = json!({ "update_id": 20001, "message": { "message_id": 50, "date": now(),
        "from": { "id": 7, "is_bot": false, "first_name": "Ann" }, "chat": { "id": 4242, "type": "group" }, "text": "/release v3" } });
    let http = client();
    let post = |body: &Value| {
        http.post(format!("{base}/hooks/tg"))
            .header("x-telegram-bot-api-secret-token", TELEGRAM_SECRET)
            .json(body)
            .send()
            .unwrap()
    };
    assert_eq!(post(&update).status(), 200);
    let asked = service.wait_for(before + 1)[before].json();
    let keyboard = &asked["reply_markup"]["inline_keyboard"][0];
    let data = keyboard[1]["callback_data"].as_str().unwrap().to_string();
    assert!(data.starts_with("r "), "{asked}");
    let click = json!({ "update_id": 20002, "callback_query": { "id": "cbq-1", "from": { "id": 99, "is_bot": false, "first_name": "Boss" },
        "message": { "message_id": 51, "chat": { "id": 4242 } }, "data": data } });
    assert_eq!(post(&click).status(), 200);
    let got = service.wait_for(before + 4);
    let paths: Vec<_> = got[before + 1..].iter().map(|r| r.path.rsplit('/').next().unwrap().to_string()).collect();
    assert!(
        paths.contains(&"answerCallbackQuery".to_string()) && paths.contains(&"editMessageText".to_string()),
        "{paths:?}"
    );
    let answer = got[before + 1..].iter().find(|r| r.path.ends_with("/sendMessage")).unwrap();
    assert_eq!(answer.json()["text"], "rejected by tg/99");
    server.kill().unwrap();
    server.wait().unwrap();
}
