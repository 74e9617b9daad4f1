"""A 500-step workflow in the editor, through chromedriver: the time from opening its page to
all 500 nodes drawn (laid out by rust-sugiyama in the page, checked by the model in the page),
five times; then the frame times while a node is dragged across the canvas (requestAnimationFrame
intervals during 120 pointer moves over 2 s; a frame over 20 ms is a dropped one at 60 Hz, with its jitter). Used by
benches/editor.sh, which writes workflows/big.yaml and makes the token."""
import json
import statistics
import sys

import httpx

driver, page, profile, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1400,1000", f"--user-data-dir={profile}"]
caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}}
session = httpx.post(f"{driver}/session", json=caps, timeout=60).json()["value"]["sessionId"]
base = f"{driver}/session/{session}"


def script(js, *args):
    return httpx.post(f"{base}/execute/sync", json={"script": js, "args": list(args)}, timeout=120).json()["value"]


httpx.post(f"{base}/url", json={"url": page}, timeout=60)
script("sessionStorage.setItem('monstrum.token', arguments[0])", token)

opens = []
for i in range(5):
    httpx.post(f"{base}/url", json={"url": "about:blank"}, timeout=60)
    httpx.post(f"{base}/url", json={"url": f"{page}?n={i}#/workflows/big"}, timeout=60)
    drawn = None
    for _ in range(2000):
        drawn = script("return document.querySelectorAll('#canvas g.node').length >= 500 ? performance.now() : null")
        if drawn is not None:
            break
    opens.append(round(drawn))

# Drag the first node across the canvas, recording frame intervals meanwhile.
script("""window.__frames = []; let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t; if (window.__frames.length < 100000) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);""")
x, y = script("const r = document.querySelector('#canvas g.node rect').getBoundingClientRect();"
              " return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)]")
moves = [{"type": "pointerMove", "origin": "viewport", "x": x, "y": y}, {"type": "pointerDown", "button": 0}]
moves += [{"type": "pointerMove", "origin": "pointer", "x": 4, "y": 2, "duration": 16} for _ in range(120)]
moves += [{"type": "pointerUp", "button": 0}]
script("window.__frames = []")
answer = httpx.post(f"{base}/actions", json={"actions": [{"type": "pointer", "id": "mouse",
                                                          "parameters": {"pointerType": "mouse"}, "actions": moves}]},
                    timeout=120).json()
if answer.get("value"):
    sys.exit(f"the drag was refused: {answer['value']}")
frames = script("return window.__frames")[1:]
moved = script("return document.querySelector('#canvas g.node').getAttribute('transform')")
httpx.delete(base)
frames.sort()
print(json.dumps({"case": "big_graph", "steps": 500, "open_to_drawn_ms": opens}))
print(json.dumps({"case": "drag_frames", "frames": len(frames),
                  "p50_ms": round(statistics.median(frames), 1),
                  "p95_ms": round(frames[int(len(frames) * 0.95) - 1], 1),
                  "max_ms": round(frames[-1], 1),
                  "over_20_ms": sum(1 for f in frames if f > 20),
                  "node_now": moved}))
