"""`@tool` functions of a Python agent, offered over the agent link to a real `monstrum serve`
and called by a workflow's step through the gate: the function runs here, in this process, and
its result comes back as the step's output. A call outside the bot's scope never reaches it; a
key the server does not know is refused.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import anyio
import pytest

from monstrum import Client, MonstrumError
from monstrum.agent import Agent
from test_client import _binary, _env, _token, start_server

BOT = """\
name: shop
resources:
  - agent: py
    tools: [lookup_order]
    scope: { orders: ["A-*"] }
    rules: [{ tool: lookup_order, dimension: orders, param: /order_id, match: glob }]
"""

LOOKUP = """\
name: lookup
bot: shop
inputs:
  order: { type: string }
steps:
  - { id: find, tool: py.lookup_order, with: { order_id: "{{ inputs.order }}" } }
outputs:
  status: "{{ steps.find.output.status }}"
"""


def _run(binary: str, workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *args], cwd=workspace, env=_env(), capture_output=True, text=True, timeout=60)


def test_tool_functions_are_called_through_the_gate_over_the_agent_link(tmp_path: Path) -> None:
    binary = _binary()
    (tmp_path / "bots").mkdir()
    (tmp_path / "workflows").mkdir()
    (tmp_path / "bots/shop.yaml").write_text(BOT)
    (tmp_path / "workflows/lookup.yaml").write_text(LOOKUP)
    created = _run(binary, tmp_path, "agent-key", "create", "py")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    editor = _token(binary, tmp_path, "editor", "erin")
    process, url, _ = start_server(binary, tmp_path)

    agent = Agent(url, key=key)
    called: list[str] = []

    @agent.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        """Looks up an order in the shop's database."""
        called.append(order_id)
        return {"id": order_id, "status": "shipped"}

    failure: list[BaseException] = []

    def serve() -> None:
        try:
            anyio.run(agent.serve)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            failure.append(e)

    threading.Thread(target=serve, daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while True:
            listed = [json.loads(line) for line in _run(binary, tmp_path, "--json", "agents").stdout.splitlines()]
            py = next(a for a in listed if a["name"] == "py")
            if py["state"] == "connected":
                break
            assert not failure, failure
            assert time.monotonic() < deadline, f"the agent did not link: {py}"
            time.sleep(0.1)
        assert py["tools"] == [{"name": "lookup_order", "state": "approved"}]
        time.sleep(1.5)  # the server compiles its bots again for the new tools (every second)

        with Client(url, token=editor, timeout=30.0) as m:
            run = m.start_run("lookup", inputs={"order": "A-17"})
            events = list(m.events(run, timeout=60))
            finished = events[-1]
            assert finished["status"] == "succeeded", [dict(e) for e in events]
            assert finished["outputs"] == {"status": "shipped"}
            assert called == ["A-17"], "the function ran here, once"

            denied = m.start_run("lookup", inputs={"order": "B-3"})
            finished = list(m.events(denied, timeout=60))[-1]
            assert finished["status"] == "failed", finished
            assert "denied" in (finished.get("error") or ""), finished
            assert called == ["A-17"], "a call outside the scope never reached the function"
    finally:
        process.kill()
        process.wait(timeout=30)


def test_a_key_the_server_does_not_know_is_refused(tmp_path: Path) -> None:
    binary = _binary()
    process, url, _ = start_server(binary, tmp_path)
    try:
        agent = Agent(url, key="mak_forged")
        with pytest.raises(MonstrumError) as e:
            anyio.run(agent.serve)
        assert e.value.status == 401
        assert agent.links == 0
    finally:
        process.kill()
        process.wait(timeout=30)
