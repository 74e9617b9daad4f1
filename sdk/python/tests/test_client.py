"""The SDK against a real `monstrum serve`: a temporary workspace, tokens made with the binary's
own `token create`, the server on a free loopback port, killed at the end. No mocks.

The binary is $MONSTRUM_BIN (default /work/main/target/debug/monstrum).
"""

from __future__ import annotations

import hashlib
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from monstrum import (
    Cancellation,
    Client,
    Decision,
    Event,
    MonstrumError,
    RunDetail,
    SavedWorkflow,
)

HELLO = """\
name: hello
inputs:
  who: { type: string, default: world }
steps:
  - { id: greet, tool: core.echo, with: { text: "hello {{ inputs.who }}" } }
  - { id: pause, needs: [greet], tool: core.wait, with: { seconds: 0.1 } }
  - { id: done, needs: [pause], tool: core.echo, with: { ok: true } }
outputs:
  text: "{{ steps.greet.output.text }}"
"""

GATED = """\
name: gated
steps:
  - { id: check, tool: core.echo, with: { healthy: false } }
  - id: gate
    needs: [check]
    approval: { message: "restart?", self_approval: false }
  - { id: restart, needs: [gate], tool: core.echo, with: { by: "{{ steps.gate.by }}" } }
"""

# Does not validate: line 5 needs a step that does not exist.
BROKEN = """\
name: broken
steps:
  - id: a
    tool: core.echo
    needs: [ghost]
"""

# A run that stays in its `nap` step long enough to be cancelled there.
SLOW = """\
name: slow
steps:
  - { id: first, tool: core.echo, with: { go: true } }
  - { id: nap, needs: [first], tool: core.wait, with: { seconds: 30 } }
  - { id: after, needs: [nap], tool: core.echo, with: { never: true } }
"""

# Three texts of a workflow saved through the API: v2 changes `a` and adds `b`, v3 adds `c`.
NOTES_V1 = """\
name: notes
steps:
  - { id: a, tool: core.echo, with: { x: 1 } }
"""
NOTES_V2 = """\
name: notes
steps:
  - { id: a, tool: core.echo, with: { x: 2 } }
  - { id: b, needs: [a], tool: core.echo, with: { y: true } }
outputs:
  x: "{{ steps.a.output.x }}"
"""
NOTES_V3 = NOTES_V2.replace("outputs:", "  - { id: c, needs: [b], tool: core.echo }\noutputs:")

# The fixture's workflows (others are created through the API by the tests).
FIXTURE_WORKFLOWS = ["broken", "gated", "hello", "slow"]

BOT = """\
name: helper
description: reads issues
model: { provider: scripted, script: scripts/none.yaml }
"""

SECRET_VALUE = "s3cr3t-value-from-the-python-sdk-42"


@dataclass
class Server:
    url: str
    workspace: Path
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]
    stderr: list[str] = field(default_factory=list)

    def client(self, who: str) -> Client:
        return Client(self.url, token=self.tokens[who], timeout=30.0)


def _binary() -> str:
    path = os.environ.get("MONSTRUM_BIN", "/work/main/target/debug/monstrum")
    path = os.path.abspath(path)  # the commands below run in the workspace
    if not os.access(path, os.X_OK):
        pytest.fail(f"no monstrum binary at {path} (build it, or set MONSTRUM_BIN)")
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MONSTRUM_DB", None)  # the workspace's own SQLite store
    env["USER"] = "tester"
    return env


def _token(binary: str, workspace: Path, role: str, name: str) -> str:
    out = subprocess.run(
        [binary, "token", "create", "--role", role, "--name", name],
        cwd=workspace,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"token create: {out.stdout}\n{out.stderr}"
    token = out.stdout.strip().splitlines()[-1].strip()
    assert token.startswith("mst_"), f"the token is the last line: {out.stdout}"
    return token


def start_server(binary: str, workspace: Path) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    """`monstrum serve` on a free loopback port in `workspace`: the process, its URL, and the
    lines of its stderr (read to their end in a thread, so the server never blocks on it)."""
    process = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0"],
        cwd=workspace,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    lines: list[str] = []
    found: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            if "listening on " in line:
                found.put(line.split("listening on ", 1)[1].split()[0])

    threading.Thread(target=drain, daemon=True).start()
    try:
        url = found.get(timeout=60)
    except queue.Empty:
        process.kill()
        pytest.fail("monstrum serve did not say where it listens:\n" + "\n".join(lines))
    assert url.startswith("http://127.0.0.1:"), url
    return process, url, lines


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = _binary()
    workspace = tmp_path_factory.mktemp("workspace")
    for rel, text in [
        ("workflows/hello.yaml", HELLO),
        ("workflows/gated.yaml", GATED),
        ("workflows/broken.yaml", BROKEN),
        ("workflows/slow.yaml", SLOW),
        ("bots/helper.yaml", BOT),
    ]:
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    tokens = {
        "ada": _token(binary, workspace, "admin", "ada"),
        "erin": _token(binary, workspace, "editor", "erin"),
        "bob": _token(binary, workspace, "approver", "bob"),
        "vic": _token(binary, workspace, "viewer", "vic"),
    }
    process, url, lines = start_server(binary, workspace)
    try:
        yield Server(url=url, workspace=workspace, tokens=tokens, process=process, stderr=lines)
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def admin(server: Server) -> Iterator[Client]:
    with server.client("ada") as c:
        yield c


@pytest.fixture(scope="session")
def editor(server: Server) -> Iterator[Client]:
    with server.client("erin") as c:
        yield c


@pytest.fixture(scope="session")
def approver(server: Server) -> Iterator[Client]:
    with server.client("bob") as c:
        yield c


@pytest.fixture(scope="session")
def viewer(server: Server) -> Iterator[Client]:
    with server.client("vic") as c:
        yield c


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


# -- runs and their events --------------------------------------------------------------------


def test_health_needs_no_token(server: Server) -> None:
    with Client(server.url) as anonymous:
        assert anonymous.health() == {"status": "ok"}
        assert anonymous.openapi()["openapi"].startswith("3.1")
        with pytest.raises(MonstrumError) as e:
            anonymous.runs()
        assert (e.value.status, e.value.code) == (401, "unauthorized")


def test_a_run_is_streamed_to_run_finished(editor: Client, viewer: Client) -> None:
    run = editor.start_run("hello", inputs={"who": "team"})
    assert isinstance(run, str) and len(run) >= 6

    events = list(viewer.events(run, timeout=60))
    kinds = types(events)
    assert kinds[0] == "run_started", kinds
    assert kinds[-1] == "run_finished", kinds
    assert kinds.count("step_finished") == 3, kinds
    assert kinds.count("tool_call") == 3, "every call passes the gate"
    assert all(isinstance(e, dict) and e["run"] == run for e in events)
    ids = [e.id for e in events if e.id is not None]
    assert len(ids) == len(events), "every event has an id"
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    finished = events[-1]
    assert finished["status"] == "succeeded", finished
    assert finished["outputs"] == {"text": "hello team"}, finished
    greeted = next(e for e in events if e.type == "step_finished" and e["step"] == "greet")
    assert greeted["output"] == {"text": "hello team"}

    detail = viewer.run(run)
    assert isinstance(detail, RunDetail)
    assert (detail.id, detail.status, detail.outputs) == (run, "succeeded", {"text": "hello team"})
    assert detail.run.workflow == "hello"
    assert detail.run.started_by == "erin"
    assert detail.run.inputs == {"who": "team"}
    assert [s.step_key for s in detail.steps] == ["greet", "pause", "done"]
    assert all(s.status == "succeeded" for s in detail.steps)
    assert detail.step("done").output == {"ok": True}
    assert detail.waiting == []

    # The run is listed, newest first, and wait() on an ended run answers at once.
    assert run in [r.id for r in viewer.runs(limit=20)]
    assert viewer.runs(limit=1)[0].id == run
    assert viewer.wait(run, timeout=30).status == "succeeded"

    # Its calls are in the audit trail, and the chain holds.
    records = viewer.audit(run=run)
    assert len(records) >= 3, records
    assert {r.run for r in records} == {run}
    assert {r.tool for r in records if r.kind == "tool_call"} == {"core.echo", "core.wait"}
    assert all(len(r.hash) == 64 for r in records)
    assert len(viewer.audit(run=run, kind="tool_call", limit=2)) == 2
    verified = viewer.verify_audit()
    assert verified.intact, verified
    assert verified.records >= len(records) and verified.problems == []


def test_last_event_id_gives_only_the_later_events(editor: Client, viewer: Client) -> None:
    run = editor.start_run("hello")
    everything = list(viewer.events(run, timeout=60))
    assert everything[-1]["outputs"] == {"text": "hello world"}, "the input's default"
    assert len(everything) > 4

    last_two = list(viewer.events(run, last_event_id=everything[-2].id, timeout=30))
    assert types(last_two) == ["run_finished"]
    assert last_two[0] == everything[-1] and last_two[0].id == everything[-1].id

    cut = everything[3].id
    assert cut is not None
    rest = list(viewer.events(run, last_event_id=cut, timeout=30))
    assert rest == everything[4:]
    assert [e.id for e in rest] == [e.id for e in everything[4:]]
    assert all(e.id is not None and e.id > cut for e in rest)


def test_runs_and_audit_are_read_a_page_at_a_time(editor: Client, viewer: Client) -> None:
    for _ in range(5):
        editor.wait(editor.start_run("hello"), timeout=60)
    newest = viewer.runs(limit=1000)
    assert len(newest) >= 5
    first, second = viewer.runs(limit=2), viewer.runs(limit=2, cursor=newest[1])
    assert [r.id for r in first + second] == [r.id for r in newest[:4]]
    with pytest.raises(MonstrumError) as e:
        viewer.runs(cursor="no-such-run")
    assert e.value.status == 404

    records = viewer.audit(limit=10000)
    page = viewer.audit(limit=3)
    before = viewer.audit(limit=3, cursor=page[0].seq)
    assert [r.seq for r in before + page] == [r.seq for r in records[-6:]]


def test_every_event_of_the_server_from_its_start(editor: Client, viewer: Client) -> None:
    run = editor.start_run("hello", inputs={"who": "everyone"})
    editor.wait(run, timeout=60)
    seen: list[Event] = []
    stream = viewer.all_events(last_event_id=0)
    for event in stream:  # never ends: stop at this run's end
        if event.get("run") == run:
            seen.append(event)
            if event.type == "run_finished":
                break
    stream.close()
    assert types(seen)[0] == "run_started" and seen[-1]["outputs"] == {"text": "hello everyone"}, seen


def test_wait_and_resume_from_a_step(editor: Client, viewer: Client) -> None:
    run = editor.start_run("hello", inputs={"who": "again"}, conversation="ops-slack/C024BE91L")
    first = editor.wait(run, timeout=60)
    assert first.status == "succeeded"
    assert viewer.run(run).run.conversation == "ops-slack/C024BE91L"
    before = list(viewer.events(run, timeout=30))
    assert types(before).count("run_finished") == 1

    assert editor.resume(first, from_step="pause") == run
    # Right after the 202, a stream from the start follows the resumed run: it goes past the
    # earlier run_finished to the new one.
    everything = list(viewer.events(run, timeout=60))
    assert everything[: len(before)] == before
    rerun = everything[len(before) :]
    kinds = types(rerun)
    assert kinds and kinds[0] == "run_started" and rerun[0]["resumed"] is True, types(everything)
    assert kinds[-1] == "run_finished" and rerun[-1]["status"] == "succeeded", kinds
    assert {e["step"] for e in rerun if e.type == "step_finished"} == {"pause", "done"}, "greet is kept"
    # last_event_id gives the same tail.
    assert list(viewer.events(run, last_event_id=before[-1].id, timeout=30)) == rerun

    # wait() right after resume() waits for the resumed run too.
    middle = viewer.run(run)
    assert editor.resume(run, from_step="done") == run
    after = editor.wait(run, timeout=60)
    assert after.status == "succeeded" and after.outputs == {"text": "hello again"}
    assert after.step("done").finished_at > middle.step("done").finished_at, "done ran again"
    assert after.step("pause").finished_at == middle.step("pause").finished_at, "pause is kept"
    assert types(list(viewer.events(run, timeout=30))).count("run_finished") == 3

    with pytest.raises(MonstrumError) as e:
        editor.resume(run, from_step="no-such-step")
    assert (e.value.status, e.value.code) == (404, "not_found")
    with pytest.raises(MonstrumError) as e:
        viewer.resume(run)
    assert e.value.status == 403


# -- approval gates ---------------------------------------------------------------------------


def test_a_gate_without_self_approval_refuses_the_starter_and_takes_an_approver(
    editor: Client, approver: Client, viewer: Client
) -> None:
    run = editor.start_run("gated")
    first = list(editor.events(run, timeout=60))
    kinds = types(first)
    assert "approval_requested" in kinds, kinds
    asked = next(e for e in first if e.type == "approval_requested")
    assert (asked["step"], asked["message"]) == ("gate", "restart?")
    assert first[-1].type == "run_finished" and first[-1]["status"] == "waiting", first[-1]

    waiting = viewer.wait(run, timeout=30)
    assert waiting.status == "waiting"
    assert [(g.step_id, g.self_approval) for g in waiting.waiting] == [("gate", False)]
    pending = [a for a in viewer.approvals() if a.run_id == run]
    assert [(a.step_id, a.message, a.decision) for a in pending] == [("gate", "restart?", None)]

    # The token that started the run may not approve its gate; a viewer may not decide at all.
    with pytest.raises(MonstrumError) as refused:
        editor.approve(run, "gate", comment="mine")
    assert (refused.value.status, refused.value.code) == (403, "forbidden")
    assert "self-approval" in refused.value.message, refused.value.message
    with pytest.raises(MonstrumError) as refused:
        viewer.approve(run, "gate")
    assert refused.value.status == 403
    assert viewer.run(run).status == "waiting", "nothing moved"

    # wait(through_gates=True) keeps waiting while the gate is open.
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        viewer.wait(run, through_gates=True, timeout=1.0)
    assert time.monotonic() - started < 10

    decided = approver.approve(run, "gate", comment="go")
    assert decided == Decision(run=run, step="gate", decision="approved", by="bob")
    with pytest.raises(MonstrumError) as twice:
        approver.reject(run, "gate")
    assert (twice.value.status, twice.value.code) == (409, "conflict")

    # The stream goes on after the waiting run_finished's id.
    rest = list(viewer.events(run, last_event_id=first[-1].id, timeout=60))
    kinds = types(rest)
    assert kinds[0] == "approval_decided", kinds
    assert (rest[0]["approved"], rest[0]["by"], rest[0]["comment"]) == (True, "bob", "go")
    assert rest[-1].type == "run_finished" and rest[-1]["status"] == "succeeded", rest[-1]

    final = viewer.wait(run, through_gates=True, timeout=60)
    assert final.status == "succeeded"
    assert final.step("restart").output == {"by": "bob"}
    assert final.step("gate").output["decision"] == "approved"
    assert run not in [a.run_id for a in viewer.approvals()]
    approvals = viewer.audit(run=run, kind="approval")
    assert any(r.decision == "approved" for r in approvals), approvals


def test_a_rejected_gate_skips_what_needs_it(editor: Client, approver: Client, viewer: Client) -> None:
    run = editor.start_run("gated")
    assert editor.wait(run, timeout=60).status == "waiting"
    decided = approver.reject(run, "gate", comment="not now")
    assert (decided.decision, decided.by) == ("rejected", "bob")
    final = viewer.wait(run, through_gates=True, timeout=60)
    assert final.step("gate").status == "rejected"
    assert final.step("restart").status == "skipped"


# -- roles and bad input ----------------------------------------------------------------------


def test_a_viewer_cannot_start_a_run(server: Server, viewer: Client, approver: Client, editor: Client) -> None:
    before = len(viewer.runs(limit=1000))
    with pytest.raises(MonstrumError) as e:
        viewer.start_run("hello")
    assert (e.value.status, e.value.code) == (403, "forbidden")
    assert e.value.message
    with pytest.raises(MonstrumError) as e:
        approver.start_run("hello")
    assert e.value.status == 403
    with pytest.raises(MonstrumError) as e:
        editor.secrets()
    assert e.value.status == 403, "the vault is the admin's"
    with Client(server.url, token="mst_forged") as forged:
        with pytest.raises(MonstrumError) as e:
            forged.start_run("hello")
        assert (e.value.status, e.value.code) == (401, "unauthorized")
    assert len(viewer.runs(limit=1000)) == before, "no run was started"


def test_bad_input_is_refused_with_the_servers_error(editor: Client, viewer: Client) -> None:
    before = len(viewer.runs(limit=1000))
    with pytest.raises(MonstrumError) as e:
        editor.start_run("no-such-workflow")
    assert (e.value.status, e.value.code) == (404, "not_found")
    assert "no-such-workflow" in e.value.message
    with pytest.raises(MonstrumError) as e:
        editor.start_run("../../etc/passwd")
    assert (e.value.status, e.value.code) == (400, "invalid")
    with pytest.raises(MonstrumError) as e:
        editor.start_run("hello", inputs={"unknown": 1})
    assert (e.value.status, e.value.code) == (422, "invalid")
    for conversation in ["no-slash", "ops slack/C1", "ops-slack/", "ops-slack/a b"]:
        with pytest.raises(MonstrumError) as e:
            editor.start_run("hello", conversation=conversation)
        assert (e.value.status, e.value.code) == (400, "invalid"), conversation
        assert "CHANNEL/CONVERSATION" in e.value.message

    # A workflow file that does not validate: 422 with its diagnostics.
    with pytest.raises(MonstrumError) as e:
        editor.start_run("broken")
    assert (e.value.status, e.value.code) == (422, "invalid")
    assert [(d.code, d.line, d.column) for d in e.value.diagnostics] == [("E004", 5, 13)]
    assert len(viewer.runs(limit=1000)) == before, "no run was started"

    with pytest.raises(MonstrumError) as e:
        viewer.run("0000000000")
    assert (e.value.status, e.value.code) == (404, "not_found")
    with pytest.raises(MonstrumError) as e:
        next(iter(viewer.events("0000000000")))
    assert e.value.status == 404
    with pytest.raises(MonstrumError) as e:
        viewer.runs(limit=0)
    assert (e.value.status, e.value.code) == (400, "invalid")
    with pytest.raises(MonstrumError) as e:
        viewer.workflow("nope")
    assert e.value.status == 404
    with pytest.raises(MonstrumError) as e:
        viewer.approve("0000000000", "gate")
    assert e.value.status == 403, "the role is checked first"


def test_validate_gives_line_numbers(viewer: Client) -> None:
    syntax = viewer.validate("name: [x\nsteps: []\n")
    assert syntax.valid is False
    assert syntax.diagnostics and all(isinstance(d.line, int) for d in syntax.diagnostics), syntax
    assert syntax.diagnostics[0].code == "E001" and syntax.diagnostics[0].line == 2, syntax

    unknown = viewer.validate(BROKEN)
    assert unknown.valid is False
    assert [(d.code, d.line, d.column, d.path) for d in unknown.diagnostics] == [
        ("E004", 5, 13, "steps[0].needs[0]")
    ]
    assert "ghost" in unknown.diagnostics[0].message

    good = viewer.validate(HELLO)
    assert (good.valid, good.diagnostics) == (True, [])


def test_workflows_bots_and_plugins(viewer: Client) -> None:
    listed = viewer.workflows()
    names = [w.name for w in listed]
    assert names == sorted(names), names
    assert [(w.name, w.file) for w in listed if w.name in FIXTURE_WORKFLOWS] == [
        (name, f"workflows/{name}.yaml") for name in FIXTURE_WORKFLOWS
    ]
    hello = viewer.workflow("hello")
    assert (hello.name, hello.text, hello.valid, hello.diagnostics) == ("hello", HELLO, True, [])
    assert hello.version is None, "a file never saved is no saved version"
    broken = viewer.workflow("broken")
    assert broken.valid is False and [d.line for d in broken.diagnostics] == [5]

    assert [(b.name, b.description) for b in viewer.bots()] == [("helper", "reads issues")]
    helper = viewer.bot("helper")
    assert helper.name == "helper" and helper.bot["name"] == "helper"
    assert "core.echo" in [t.name for t in helper.tools], helper.tools
    assert all(isinstance(t.parameters, dict) for t in helper.tools)
    with pytest.raises(MonstrumError) as e:
        viewer.bot("ghost")
    assert e.value.status == 404

    plugins = viewer.plugins()
    assert plugins, "the built-in plugins are listed"
    assert all(p.name and p.version and p.source in ("builtin", "installed", "dev") for p in plugins)
    one = viewer.plugin(plugins[0].name)
    assert (one.name, one.version, one.manifest["name"]) == (plugins[0].name, plugins[0].version, plugins[0].name)
    with pytest.raises(MonstrumError) as e:
        viewer.plugin("no-such-plugin")
    assert e.value.status == 404


# -- workflow versions ------------------------------------------------------------------------


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_workflow_versions_save_diff_and_rollback(server: Server, editor: Client, viewer: Client) -> None:
    file = server.workspace / "workflows" / "notes.yaml"
    created = editor.create_workflow("notes", NOTES_V1, message="first")
    assert created == SavedWorkflow(workflow="notes", version=1, hash=sha256(NOTES_V1), created=True)
    assert file.read_text() == NOTES_V1
    notes = viewer.workflow("notes")
    assert (notes.text, notes.valid, notes.version) == (NOTES_V1, True, 1)
    assert "notes" in [w.name for w in viewer.workflows()]
    with pytest.raises(MonstrumError) as e:
        editor.create_workflow("notes", NOTES_V2)
    assert (e.value.status, e.value.code) == (409, "conflict")
    assert file.read_text() == NOTES_V1

    # A save without If-Match, then one based on the head.
    saved = editor.save_workflow("notes", NOTES_V2, message="x is 2, and b")
    assert saved == SavedWorkflow(workflow="notes", version=2, hash=sha256(NOTES_V2), created=True)
    head = viewer.workflow("notes")
    assert (head.text, head.version) == (NOTES_V2, 2)
    saved = editor.save_workflow("notes", NOTES_V3, message="and c", if_match=head.version)
    assert (saved.version, saved.created) == (3, True)
    assert file.read_text() == NOTES_V3

    # A save based on a version that is no longer the head: 412, and the file is unchanged.
    with pytest.raises(MonstrumError) as e:
        editor.save_workflow("notes", NOTES_V1, message="stale", if_match=2)
    assert (e.value.status, e.value.code) == (412, "conflict"), e.value
    assert file.read_text() == NOTES_V3
    assert (viewer.workflow("notes").text, viewer.workflow("notes").version) == (NOTES_V3, 3)

    # A text that does not validate: 422 with its diagnostics, nothing written.
    invalid = BROKEN.replace("name: broken", "name: notes")
    with pytest.raises(MonstrumError) as e:
        editor.save_workflow("notes", invalid, if_match=3)
    assert (e.value.status, e.value.code) == (422, "invalid"), e.value
    assert [(d.code, d.line, d.column, d.path) for d in e.value.diagnostics] == [
        ("E004", 5, 13, "steps[0].needs[0]")
    ]
    assert file.read_text() == NOTES_V3
    # The head's own text again stores nothing.
    assert editor.save_workflow("notes", NOTES_V3, if_match=3) == SavedWorkflow(
        workflow="notes", version=3, hash=sha256(NOTES_V3), created=False
    )

    # Every version, newest first, the token's name as author.
    versions = viewer.versions("notes")
    assert [(v.workflow, v.version, v.author, v.message) for v in versions] == [
        ("notes", 3, "erin", "and c"),
        ("notes", 2, "erin", "x is 2, and b"),
        ("notes", 1, "erin", "first"),
    ]
    assert [v.hash for v in versions] == [sha256(NOTES_V3), sha256(NOTES_V2), sha256(NOTES_V1)]
    assert all(v.created_at > 0 for v in versions)
    assert [v.created_at for v in versions] == sorted((v.created_at for v in versions), reverse=True)

    # The diff names the steps added, removed and changed.
    d = viewer.diff("notes", 1, 2)
    assert (d.added, d.removed, d.changed) == (["b"], [], ["a"])
    assert d.text.startswith("--- notes v1\n+++ notes v2\n"), d.text
    assert "-  - { id: a, tool: core.echo, with: { x: 1 } }\n" in d.text, d.text
    assert "+  - { id: a, tool: core.echo, with: { x: 2 } }\n" in d.text, d.text
    d = viewer.diff("notes", 3, 1)
    assert (d.added, d.removed, d.changed) == ([], ["b", "c"], ["a"])
    assert viewer.diff("notes", 2, 3).added == ["c"]
    with pytest.raises(MonstrumError) as e:
        viewer.diff("notes", 1, 99)
    assert (e.value.status, e.value.code) == (404, "not_found")

    # A rollback writes the old text as a new version; the versions between are kept.
    rolled = editor.rollback("notes", 1)
    assert rolled == SavedWorkflow(workflow="notes", version=4, hash=sha256(NOTES_V1), created=True)
    assert file.read_text() == NOTES_V1
    assert viewer.workflow("notes").version == 4
    newest = viewer.versions("notes")
    assert [v.version for v in newest] == [4, 3, 2, 1]
    assert (newest[0].author, newest[0].message) == ("erin", "rollback to version 1")
    assert viewer.diff("notes", 3, 4).removed == ["b", "c"]
    with pytest.raises(MonstrumError) as e:
        editor.rollback("notes", 99)
    assert (e.value.status, e.value.code) == (404, "not_found")
    assert [v.version for v in viewer.versions("notes")] == [4, 3, 2, 1]

    # A run records the version it ran.
    editor.save_workflow("notes", NOTES_V2, message="b again", if_match=4)
    run = editor.start_run("notes")
    detail = editor.wait(run, timeout=60)
    assert (detail.status, detail.outputs) == ("succeeded", {"x": 2})
    assert detail.run.workflow_version == 5
    assert next(r for r in viewer.runs(limit=20) if r.id == run).workflow_version == 5
    unsaved = editor.start_run("hello")
    assert editor.wait(unsaved, timeout=60).run.workflow_version is None, "hello was never saved"


def test_save_refuses_what_it_cannot_do(server: Server, editor: Client, viewer: Client, approver: Client) -> None:
    with pytest.raises(MonstrumError) as e:
        editor.create_workflow("drafted", BROKEN.replace("name: broken", "name: drafted"))
    assert (e.value.status, e.value.code) == (422, "invalid")
    assert [d.code for d in e.value.diagnostics] == ["E004"]
    assert not (server.workspace / "workflows" / "drafted.yaml").exists(), "nothing was written"
    assert "drafted" not in [w.name for w in viewer.workflows()]
    with pytest.raises(MonstrumError) as e:
        editor.save_workflow("no-such-workflow", HELLO)
    assert (e.value.status, e.value.code) == (404, "not_found")
    with pytest.raises(MonstrumError) as e:
        editor.create_workflow("../escape", HELLO)
    assert (e.value.status, e.value.code) == (400, "invalid")
    with pytest.raises(MonstrumError) as e:
        editor.request("PUT", "/api/workflows/hello", json_body={"text": HELLO}, headers={"if-match": '"x"'})
    assert (e.value.status, e.value.code) == (400, "invalid"), "If-Match is a version number"
    with pytest.raises(TypeError):
        editor.save_workflow("hello", HELLO, if_match="3")  # type: ignore[arg-type]

    # Viewers and approvers read versions but save nothing.
    for who in (viewer, approver):
        with pytest.raises(MonstrumError) as e:
            who.save_workflow("hello", HELLO.replace("world", "viewer"))
        assert (e.value.status, e.value.code) == (403, "forbidden")
        with pytest.raises(MonstrumError) as e:
            who.create_workflow("viewers-own", HELLO)
        assert e.value.status == 403
        with pytest.raises(MonstrumError) as e:
            who.rollback("hello", 1)
        assert e.value.status == 403
    assert viewer.workflow("hello").text == HELLO
    assert "viewers-own" not in [w.name for w in viewer.workflows()]


def test_a_file_edited_by_hand_is_kept_as_a_version(server: Server, editor: Client, viewer: Client) -> None:
    file = server.workspace / "workflows" / "memo.yaml"
    editor.create_workflow("memo", NOTES_V1.replace("name: notes", "name: memo"))
    by_hand = NOTES_V2.replace("name: notes", "name: memo")
    file.write_text(by_hand)
    assert viewer.workflow("memo").version is None, "the file is no saved version any more"

    # A save based on version 1 is refused: the file is not version 1 any more. Its text is kept.
    with pytest.raises(MonstrumError) as e:
        editor.save_workflow("memo", NOTES_V3.replace("name: notes", "name: memo"), if_match=1)
    assert e.value.status == 412
    assert file.read_text() == by_hand
    found = viewer.versions("memo")[0]
    assert (found.version, found.author, found.hash) == (2, "(file on disk)", sha256(by_hand))
    assert viewer.workflow("memo").version == 2

    saved = editor.save_workflow("memo", NOTES_V3.replace("name: notes", "name: memo"), if_match=2)
    assert (saved.version, saved.created) == (3, True)
    assert [(v.version, v.author) for v in viewer.versions("memo")] == [
        (3, "erin"),
        (2, "(file on disk)"),
        (1, "erin"),
    ]


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_stops_a_running_run(editor: Client, viewer: Client, approver: Client) -> None:
    run = editor.start_run("slow")
    stream = viewer.events(run, timeout=60)
    for event in stream:  # until the 30 s step is under way
        if event.type == "tool_call" and event["step"] == "nap":
            break
    stream.close()
    assert viewer.run(run).status == "running"

    with pytest.raises(MonstrumError) as e:
        viewer.cancel(run)
    assert (e.value.status, e.value.code) == (403, "forbidden")
    with pytest.raises(MonstrumError) as e:
        approver.cancel(run)
    assert e.value.status == 403
    assert viewer.run(run).status == "running", "nothing moved"

    asked = time.monotonic()
    assert editor.cancel(run) == Cancellation(run=run, outcome="stopping")
    final = viewer.wait(run, timeout=20)
    assert time.monotonic() - asked < 10, "the 30 s step was dropped where it was"
    assert (final.status, final.error) == ("cancelled", "cancelled by erin")
    assert final.run.finished
    assert final.step("first").status == "succeeded"
    assert (final.step("nap").status, final.step("nap").error) == ("cancelled", "cancelled by erin")
    with pytest.raises(KeyError):
        final.step("after")  # never started
    events = list(viewer.events(run, timeout=30))
    assert events[-1].type == "run_finished", types(events)
    assert (events[-1]["status"], events[-1]["error"]) == ("cancelled", "cancelled by erin")
    assert "after" not in {e.get("step") for e in events}

    # Audited, with who asked.
    records = viewer.audit(run=run, kind="cancellation")
    assert len(records) == 1 and records[0].reason == "cancelled by erin", records

    # It has ended: a second cancel is a conflict, and it is not resumed.
    with pytest.raises(MonstrumError) as e:
        editor.cancel(run)
    assert (e.value.status, e.value.code) == (409, "conflict")
    with pytest.raises(MonstrumError) as e:
        editor.resume(run)
    assert (e.value.status, e.value.code) == (409, "conflict")
    with pytest.raises(MonstrumError) as e:
        editor.cancel("0000000000")
    assert (e.value.status, e.value.code) == (404, "not_found")


def test_cancel_closes_a_run_waiting_at_a_gate(editor: Client, approver: Client, viewer: Client) -> None:
    run = editor.start_run("gated")
    assert editor.wait(run, timeout=60).status == "waiting"
    # Nobody drives a run waiting at a gate: it is closed at once.
    assert editor.cancel(run) == Cancellation(run=run, outcome="closed")
    final = viewer.wait(run, through_gates=True, timeout=30)
    assert (final.status, final.error, final.waiting) == ("cancelled", "cancelled by erin", [])
    assert final.step("gate").status == "cancelled"
    assert run not in [a.run_id for a in viewer.approvals()]
    with pytest.raises(MonstrumError) as e:
        approver.approve(run, "gate")
    assert (e.value.status, e.value.code) == (409, "conflict")
    with pytest.raises(MonstrumError) as e:
        editor.cancel(run)
    assert e.value.status == 409


# -- the vault --------------------------------------------------------------------------------


def test_a_secret_is_listed_by_name_and_never_answered(server: Server, admin: Client) -> None:
    admin.set_secret("sdk-token", SECRET_VALUE)
    entries = admin.secrets()
    named = [s for s in entries if s.name == "sdk-token"]
    assert len(named) == 1 and named[0].updated_at > 0, entries
    assert SECRET_VALUE not in repr(entries)

    with pytest.raises(MonstrumError) as e:
        admin.set_secret("Bad Name", "x")
    assert (e.value.status, e.value.code) == (400, "invalid")
    assert SECRET_VALUE not in str(e.value)

    # A run, so the runs, events and audit trail have something in them too.
    run = admin.start_run("hello")
    admin.wait(run, timeout=60)
    for path in [
        "/api/vault",
        "/api/audit",
        "/api/audit/verify",
        "/api/runs",
        f"/api/runs/{run}",
        f"/api/runs/{run}/events",
        "/api/approvals",
        "/api/workflows",
        "/api/bots",
        "/api/bots/helper",
        "/api/plugins",
        "/api/openapi.json",
    ]:
        answer = admin.request("GET", path).text
        assert SECRET_VALUE not in answer, f"{path} tells the secret"
    # And none of the workspace's files keep it in plaintext.
    for file in server.workspace.rglob("*"):
        if file.is_file():
            assert SECRET_VALUE.encode() not in file.read_bytes(), f"{file} holds the secret"


def test_a_refused_write_does_not_spoil_the_next_request(server: Server) -> None:
    # The server refuses a token or a role before it reads the request's body, and then closes
    # the connection when the body had not arrived yet, without `Connection: close`: a request
    # sent next on that connection fails ("Server disconnected without sending a response"). The
    # client drops the connection of an error answer to a request with a body.
    streams: list[object] = []

    def remember(response: httpx.Response) -> None:
        streams.append(response.extensions.get("network_stream"))

    with httpx.Client(event_hooks={"response": [remember]}) as http:
        with Client(server.url, token=server.tokens["vic"], http_client=http) as viewer:
            viewer.workflows()
            viewer.workflow("hello")
            assert streams[0] is not None and streams[1] is streams[0], "keep-alive"
            with pytest.raises(MonstrumError) as e:
                viewer.workflow("nope")
            assert e.value.status == 404 and streams[2] is streams[0], "a GET's error keeps it"
            for i in range(30):
                with pytest.raises(MonstrumError) as e:
                    viewer.save_workflow("hello", HELLO, message=f"try {i}")
                assert (e.value.status, e.value.code) == (403, "forbidden")
                refused = streams[-1]
                assert viewer.validate(HELLO).valid
                assert streams[-1] is not refused, "a new connection after the refusal"
                with pytest.raises(MonstrumError) as e:
                    viewer.rollback("hello", 1)
                assert e.value.status == 403 and "viewer" in e.value.message
                assert "hello" in [w.name for w in viewer.workflows()]


def test_transport_errors_are_httpx_errors() -> None:
    # A port nothing listens on: httpx's own error, not a MonstrumError.
    with Client("http://127.0.0.1:9", token="mst_x", timeout=5) as nowhere:
        with pytest.raises(httpx.TransportError):
            nowhere.workflows()
