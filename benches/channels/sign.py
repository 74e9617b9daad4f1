"""Pre-signs N webhook requests for benches/channels.sh, one per line, each a distinct event (so
that every acknowledged request must be a new delivery in the store): Slack-signed (v0 HMAC) or
Standard-Webhooks-signed, with the current time (both kinds take 300 s).

    python3 sign.py slack|webhook SECRET N OUT

A line is `header<TAB>value<TAB>header<TAB>value...<TAB><TAB>body`."""
import base64, hashlib, hmac, json, sys, time

kind, secret, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ts = str(int(time.time()))
with open(out, "w") as f:
    for i in range(n):
        if kind == "slack":
            body = json.dumps({"type": "event_callback", "event_id": f"Ev{i:09d}", "team_id": "T1",
                               "event": {"type": "message", "channel": "C-BENCH", "user": f"U{i % 97}",
                                         "text": f"message {i}", "ts": f"1700000000.{i:06d}"}},
                              separators=(",", ":"))
            sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
            headers = ["X-Slack-Request-Timestamp", ts, "X-Slack-Signature", sig]
        else:
            body = json.dumps({"text": f"message {i}", "conversation": "bench", "user": {"id": f"u{i % 97}"}},
                              separators=(",", ":"))
            key = base64.b64decode(secret.removeprefix("whsec_"))
            msg_id = f"msg_{i:09d}"
            sig = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()).decode()
            headers = ["webhook-id", msg_id, "webhook-timestamp", ts, "webhook-signature", "v1," + sig]
        f.write("\t".join(headers + ["Content-Type", "application/json", "", body]) + "\n")
