"""First load of the editor to its sign-in form, through chromedriver: six loads of the page
in one headless Chromium; for each, when the form was seen (performance.now(), polled, so an
upper bound) and when the last byte of the page's files arrived. Used by benches/editor.sh."""
import json
import sys

import httpx

driver, page, profile = sys.argv[1], sys.argv[2], sys.argv[3]
args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}"]
caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}}
session = httpx.post(f"{driver}/session", json=caps, timeout=60).json()["value"]["sessionId"]
base = f"{driver}/session/{session}"


def script(js):
    return httpx.post(f"{base}/execute/sync", json={"script": js, "args": []}, timeout=60).json()["value"]


loads = []
for i in range(6):
    httpx.post(f"{base}/url", json={"url": "about:blank"}, timeout=60)
    httpx.post(f"{base}/url", json={"url": f"{page}?n={i}"}, timeout=60)
    seen = None
    for _ in range(400):
        seen = script("return document.querySelector('#sign-in') ? performance.now() : null")
        if seen is not None:
            break
    last_byte = script("const e = performance.getEntriesByType('resource')"
                       ".concat(performance.getEntriesByType('navigation'));"
                       " return Math.max(...e.map(x => x.responseEnd))")
    loads.append({"sign_in_seen_ms": round(seen), "last_byte_ms": round(last_byte)})
httpx.delete(base)
print(json.dumps({"case": "first_load", "loads": loads}))
