"""SSE fan-out: N subscribers on one run's event stream; how much longer the run takes per step.

    python3 benches/serve/fanout.py URL TOKEN WORKFLOW STEPS SUBSCRIBERS [SERVER_PID]

WORKFLOW starts with a step `hold` (core.wait) that gives the subscribers time to connect, then a
chain of STEPS core.echo steps. Each case runs it with no subscriber and with SUBSCRIBERS streams
opened on it while `hold` waits; the chain's time comes from the store (the last step's
finished_at - hold's finished_at), so what is measured is what the subscribers cost the run, not
their reading. A subscriber that connected after `hold` ended is counted as late. With the
server's pid, also the server's CPU time (user + system) per run, alone and with subscribers.
One JSON line.
"""

import asyncio
import json
import os
import sys
import time

import httpx


def cpu_ms(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def run_once(client: httpx.AsyncClient, workflow: str, subscribers: int, pid: int | None) -> dict:
    cpu0 = cpu_ms(pid)
    r = await client.post("/api/runs", json={"workflow": workflow})
    r.raise_for_status()
    run = r.json()["run"]
    got = [0] * subscribers
    connected = [0.0] * subscribers

    async def follow(i: int) -> None:
        async with client.stream("GET", f"/api/runs/{run}/events", timeout=None) as s:
            connected[i] = time.time() * 1000
            async for line in s.aiter_lines():
                if line.startswith("data: "):
                    got[i] += 1

    await asyncio.gather(*(follow(i) for i in range(subscribers)))
    while True:
        d = (await client.get(f"/api/runs/{run}")).json()
        if d["run"]["status"] != "running":
            break
        await asyncio.sleep(0.05)
    steps = {s["step_key"]: s for s in d["steps"]}
    hold_end = steps["hold"]["finished_at"]
    last = max(s["finished_at"] for s in d["steps"])
    return {
        "server_cpu_ms": cpu_ms(pid) - cpu0,
        "chain_ms": last - hold_end,
        "late": sum(c > hold_end for c in connected),
        "events_min": min(got) if got else 0,
    }


async def main() -> None:
    url, token, workflow, steps, subs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    pid = int(sys.argv[6]) if len(sys.argv) > 6 else None
    limits = httpx.Limits(max_connections=subs + 16, max_keepalive_connections=subs + 16)
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {token}"}, limits=limits, timeout=120) as c:
        alone = [await run_once(c, workflow, 0, pid) for _ in range(3)]
        crowd = [await run_once(c, workflow, subs, pid) for _ in range(3)]
    a = min(x["chain_ms"] for x in alone)
    b = min(x["chain_ms"] for x in crowd)
    print(json.dumps({
        "case": "sse_fanout", "steps": steps, "subscribers": subs,
        "chain_ms_alone": [x["chain_ms"] for x in alone],
        "chain_ms_with_subscribers": [x["chain_ms"] for x in crowd],
        "added_us_per_step": round((b - a) * 1000 / steps, 1),
        "late_subscribers": max(x["late"] for x in crowd),
        "server_cpu_ms_alone": [round(x["server_cpu_ms"]) for x in alone],
        "server_cpu_ms_with_subscribers": [round(x["server_cpu_ms"]) for x in crowd],
        "events_per_subscriber_min": min(x["events_min"] for x in crowd),
    }))


asyncio.run(main())
