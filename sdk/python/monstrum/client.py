"""The client of `monstrum serve` (docs/server.md): one method per route, typed answers, and the
event streams read as server-sent events."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Generator, Mapping, Union
from urllib.parse import quote

import httpx

from .errors import MonstrumError
from .models import (
    Approval,
    AuditRecord,
    AuditVerification,
    Bot,
    BotSummary,
    Cancellation,
    Decision,
    Event,
    Plugin,
    Run,
    RunDetail,
    SavedWorkflow,
    Secret,
    Validation,
    Workflow,
    WorkflowDiff,
    WorkflowSummary,
    WorkflowVersion,
)
from .sse import iter_sse

__all__ = ["Client", "RunLike", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:7410"
"""Where `monstrum serve` listens unless told otherwise."""

RunLike = Union[str, Run, RunDetail]
"""A run: its id (or a unique prefix of 6+ characters), or a run the client returned."""

_VERSION = "0.1.0"


def _run_id(run: RunLike) -> str:
    if isinstance(run, str):
        return run
    if isinstance(run, (Run, RunDetail)):
        return run.id
    raise TypeError(f"a run is its id (str), a Run or a RunDetail, not {type(run).__name__}")


def _seg(value: str) -> str:
    """One path segment, escaped (a name can never reach another route)."""
    return quote(value, safe="")


class Client:
    """A client of `monstrum serve`.

    >>> m = Client("http://127.0.0.1:7410", token="mst_...")
    >>> run = m.start_run("hello", inputs={"who": "team"})
    >>> m.wait(run).status
    'succeeded'

    ``url`` defaults to ``$MONSTRUM_URL`` or ``http://127.0.0.1:7410``, ``token`` to
    ``$MONSTRUM_TOKEN``. ``timeout`` bounds each plain request (the server answers within 30 s);
    ``stream_timeout`` is how long an event stream may stay silent (the server sends a
    keep-alive every 15 s, so a longer silence means it is gone). Pass ``http_client`` to use an
    ``httpx.Client`` of your own (proxies, TLS settings); it is not closed by :meth:`close`.

    Every error answer raises :class:`MonstrumError`; a server that cannot be reached raises
    httpx's own ``httpx.TransportError``.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        stream_timeout: float = 60.0,
        http_client: httpx.Client | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url: str = (url or os.environ.get("MONSTRUM_URL") or DEFAULT_URL).rstrip("/")
        token = token if token is not None else os.environ.get("MONSTRUM_TOKEN")
        self._headers: dict[str, str] = {"user-agent": f"monstrum-sdk-python/{_VERSION}"}
        if headers:
            self._headers.update(headers)
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._stream_timeout = stream_timeout
        self._owned = http_client is None
        self._http: httpx.Client = http_client if http_client is not None else httpx.Client(timeout=timeout)

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the connections (unless the ``httpx.Client`` was given)."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: str | bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Sends a request to ``path`` (``/api/...``) and returns the answer; raises
        :class:`MonstrumError` for an error answer. For routes this client has no method for.
        ``headers`` are added to the client's own (the token, the user agent)."""
        headers = {**self._headers, "accept": "application/json", **(headers or {})}
        if json_body is not None:
            content = json.dumps(json_body)
            content_type = "application/json"
        if content_type:
            headers["content-type"] = content_type
        query = {k: v for k, v in (params or {}).items() if v is not None}
        request = self._http.build_request(
            method, self.url + path, headers=headers, content=content, params=query, timeout=self._timeout
        )
        response = self._http.send(request, stream=True)
        try:
            if response.is_success:
                response.read()
                return response
            body = response.read() if content is None else _read_and_drop(response)
            raise MonstrumError.from_answer(response.status_code, response.reason_phrase, body)
        finally:
            response.close()

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    # -- health and the document ------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /health`` (no token needed): ``{"status": "ok"}``."""
        return dict(self._get("/health"))

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of every route."""
        return dict(self._get("/api/openapi.json"))

    # -- workflows ----------------------------------------------------------------------------

    def workflows(self) -> list[WorkflowSummary]:
        """The workflows of the workspace (``workflows/*.yaml``), by name."""
        return [WorkflowSummary.from_json(w) for w in self._get("/api/workflows")]

    def workflow(self, name: str) -> Workflow:
        """One workflow's text, its diagnostics and the saved version it is (``version``)."""
        return Workflow.from_json(self._get(f"/api/workflows/{_seg(name)}"))

    def create_workflow(self, name: str, text: str, message: str = "") -> SavedWorkflow:
        """Creates ``workflows/<name>.yaml`` with ``text`` as its version 1 (editor). A workflow
        of that name exists: 409; a text that does not validate: 422 with its ``diagnostics``,
        and nothing is written. The token's name is the version's author."""
        body = {"name": name, "text": text, "message": message}
        return SavedWorkflow.from_json(self.request("POST", "/api/workflows", json_body=body).json())

    def save_workflow(self, name: str, text: str, message: str = "", if_match: int | None = None) -> SavedWorkflow:
        """Saves ``text`` as the next version of an existing workflow and writes its file (editor).

        With ``if_match`` (the version the text is based on, e.g. :attr:`Workflow.version`),
        the save is refused with 412 unless that version is still the head, so that two editors
        cannot overwrite each other. A text that does not validate: 422 with its
        ``diagnostics``, and nothing is written. A text that is the head already stores nothing
        (``created`` false)."""
        headers = None if if_match is None else {"if-match": f'"{_version(if_match)}"'}
        response = self.request(
            "PUT", f"/api/workflows/{_seg(name)}", json_body={"text": text, "message": message}, headers=headers
        )
        return SavedWorkflow.from_json(response.json())

    def versions(self, name: str) -> list[WorkflowVersion]:
        """Every saved version of a workflow, newest first."""
        return [WorkflowVersion.from_json(v) for v in self._get(f"/api/workflows/{_seg(name)}/versions")]

    def diff(self, name: str, a: int, b: int) -> WorkflowDiff:
        """Versions ``a`` and ``b`` of a workflow compared: the unified diff from ``a`` to ``b`` and
        the steps added, removed and changed. An unknown version: 404."""
        params = {"from": _version(a), "to": _version(b)}
        return WorkflowDiff.from_json(self._get(f"/api/workflows/{_seg(name)}/diff", params))

    def rollback(self, name: str, version: int) -> SavedWorkflow:
        """Stores the text of ``version`` as the workflow's next version and writes its file
        (editor); the versions in between are kept."""
        path = f"/api/workflows/{_seg(name)}/rollback"
        return SavedWorkflow.from_json(self.request("POST", path, json_body={"version": _version(version)}).json())

    def validate(self, yaml_text: str) -> Validation:
        """Checks a workflow's YAML as ``monstrum validate`` does (nothing is stored)."""
        response = self.request(
            "POST", "/api/workflows/validate", content=yaml_text.encode("utf-8"), content_type="application/yaml"
        )
        return Validation.from_json(response.json())

    # -- runs ---------------------------------------------------------------------------------

    def runs(self, limit: int | None = None, cursor: RunLike | None = None) -> list[Run]:
        """The newest runs, newest first (``limit`` 1–1000, the server's default 50); with
        ``cursor`` (the last run of a page), the runs started before it."""
        params = {"limit": limit, "cursor": None if cursor is None else _run_id(cursor)}
        return [Run.from_json(r) for r in self._get("/api/runs", params)]

    def run(self, run: RunLike) -> RunDetail:
        """A run with its steps, open gates and model requests."""
        return RunDetail.from_json(self._get(f"/api/runs/{_seg(_run_id(run))}"))

    def start_run(
        self, workflow: str, inputs: Mapping[str, Any] | None = None, conversation: str | None = None
    ) -> str:
        """Starts a run of ``workflows/<workflow>.yaml`` (editor); returns its id at once. The
        server drives it: follow it with :meth:`events` or :meth:`wait`. ``conversation``
        (``CHANNEL/CONVERSATION``) runs it for a conversation: its bots' ``channel:`` memory."""
        body: dict[str, Any] = {"workflow": workflow, "inputs": dict(inputs or {})}
        if conversation is not None:
            body["conversation"] = conversation
        return str(self.request("POST", "/api/runs", json_body=body).json()["run"])

    def resume(self, run: RunLike, from_step: str | None = None) -> str:
        """Continues an interrupted run, or runs ``from_step`` and everything after it again
        (editor); returns the run's id."""
        body: dict[str, Any] = {} if from_step is None else {"from": from_step}
        return str(self.request("POST", f"/api/runs/{_seg(_run_id(run))}/resume", json_body=body).json()["run"])

    def cancel(self, run: RunLike) -> Cancellation:
        """Cancels a run (editor): its running steps stop and are recorded ``cancelled``, steps
        not started never start, its open gates close, and it ends ``cancelled`` (final: it is
        not resumed). ``outcome`` says how (see :class:`Cancellation`); a run that has ended
        already: 409."""
        return Cancellation.from_json(self.request("POST", f"/api/runs/{_seg(_run_id(run))}/cancel").json())

    # -- events -------------------------------------------------------------------------------

    def events(
        self, run: RunLike, *, last_event_id: int | None = None, timeout: float | None = None
    ) -> Generator[Event, None, None]:
        """A run's events, live: dicts with ``"type"`` (and the stream's ``.id``), from its first
        event or after ``last_event_id``. The iteration ends after ``run_finished``; a run
        waiting at a gate ends with ``run_finished`` and status ``waiting``: ask again with the
        last event's id to follow it after the decision.

        ``timeout`` bounds the whole stream (``TimeoutError``). The request is sent when the
        iteration starts, so an error (unknown run: 404) is raised by the first ``next()``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._stream(f"/api/runs/{_seg(_run_id(run))}/events", last_event_id, deadline)

    def all_events(self, *, last_event_id: int | None = None) -> Generator[Event, None, None]:
        """Every event of every run the server drives, from now (or after ``last_event_id``).
        It never ends: stop iterating (or ``close()`` the iterator) to hang up."""
        return self._stream("/api/events", last_event_id, None)

    def _stream(self, path: str, last_event_id: int | None, deadline: float | None) -> Generator[Event, None, None]:
        headers = dict(self._headers)
        headers["accept"] = "text/event-stream"
        if last_event_id is not None:
            headers["last-event-id"] = str(int(last_event_id))
        read = self._stream_timeout
        if deadline is not None:
            read = max(0.05, min(read, deadline - time.monotonic()))
        timeout = httpx.Timeout(self._timeout, read=read)
        try:
            with self._http.stream("GET", self.url + path, headers=headers, timeout=timeout) as response:
                if not response.is_success:
                    response.read()
                    raise MonstrumError.from_response(response)
                for sse in iter_sse(response, deadline):
                    yield _event(sse.id, sse.data)
        except httpx.ReadTimeout as e:
            if deadline is not None and time.monotonic() >= deadline - 0.01:
                raise TimeoutError("the event stream did not end in time") from e
            raise

    def wait(
        self,
        run: RunLike,
        *,
        timeout: float | None = None,
        through_gates: bool = False,
        last_event_id: int | None = None,
        poll_interval: float = 0.2,
    ) -> RunDetail:
        """Follows a run's events until its ``run_finished`` and returns the run as recorded.

        A run that stops at an approval gate is returned with status ``waiting``; with
        ``through_gates=True`` this goes on waiting (from the last event seen) until the run
        has ended. ``timeout`` (seconds) raises ``TimeoutError`` when it passes first. Called
        right after :meth:`resume`, it follows the resumed run to its new end.

        ``last_event_id`` follows only what comes after that event.
        """
        run_id = _run_id(run)
        deadline = None if timeout is None else time.monotonic() + timeout
        last: int | None = last_event_id
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"run {run_id} did not finish in {timeout} s")
            seen = False
            for event in self.events(run_id, last_event_id=last, timeout=remaining):
                seen = True
                if event.id is not None:
                    last = event.id
            detail = self.run(run_id)
            if detail.run.finished or (detail.status == "waiting" and not through_gates):
                return detail
            if not seen:
                # A run this server does not drive is told from the store: poll it.
                time.sleep(poll_interval)

    # -- approvals ----------------------------------------------------------------------------

    def approvals(self) -> list[Approval]:
        """Every gate waiting for a decision, oldest first."""
        return [Approval.from_json(a) for a in self._get("/api/approvals")]

    def decide(self, run: RunLike, step: str, approve: bool, comment: str | None = None) -> Decision:
        """Approves or rejects gate ``step`` of ``run`` (approver); the server continues the run.
        The token's name is who decided; a gate with ``self_approval: false`` refuses the token
        that started the run (403)."""
        body: dict[str, Any] = {"approve": bool(approve)}
        if comment is not None:
            body["comment"] = comment
        path = f"/api/runs/{_seg(_run_id(run))}/approvals/{_seg(step)}"
        return Decision.from_json(self.request("POST", path, json_body=body).json())

    def approve(self, run: RunLike, step: str, comment: str | None = None) -> Decision:
        """Approves gate ``step`` of ``run``."""
        return self.decide(run, step, True, comment)

    def reject(self, run: RunLike, step: str, comment: str | None = None) -> Decision:
        """Rejects gate ``step`` of ``run`` (the steps that need it are skipped)."""
        return self.decide(run, step, False, comment)

    # -- bots and plugins ---------------------------------------------------------------------

    def bots(self) -> list[BotSummary]:
        """The workspace's bots."""
        return [BotSummary.from_json(b) for b in self._get("/api/bots")]

    def bot(self, name: str) -> Bot:
        """One bot and the tools the gate offers it."""
        return Bot.from_json(self._get(f"/api/bots/{_seg(name)}"))

    def plugins(self) -> list[Plugin]:
        """The plugins the workspace can use, with their manifests."""
        return [Plugin.from_json(p) for p in self._get("/api/plugins")]

    def plugin(self, name: str) -> Plugin:
        """One plugin."""
        return Plugin.from_json(self._get(f"/api/plugins/{_seg(name)}"))

    # -- audit --------------------------------------------------------------------------------

    def audit(
        self,
        *,
        run: RunLike | None = None,
        bot: str | None = None,
        tool: str | None = None,
        decision: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        cursor: int | None = None,
    ) -> list[AuditRecord]:
        """Audit records, oldest first, filtered (``limit``: only the newest N, 1–10000);
        ``cursor`` (the ``seq`` of a page's first record) gives the page before it."""
        params = {
            "run": None if run is None else _run_id(run),
            "bot": bot,
            "tool": tool,
            "decision": decision,
            "kind": kind,
            "limit": limit,
            "cursor": cursor,
        }
        return [AuditRecord.from_json(r) for r in self._get("/api/audit", params)]

    def verify_audit(self) -> AuditVerification:
        """Checks the audit trail's whole hash chain."""
        return AuditVerification.from_json(self._get("/api/audit/verify"))

    # -- the vault ----------------------------------------------------------------------------

    def secrets(self) -> list[Secret]:
        """The vault's entry names and when each was set (admin); never a value."""
        return [Secret.from_json(s) for s in self._get("/api/vault")]

    def set_secret(self, name: str, value: str) -> None:
        """Stores a secret, encrypted (admin). No route ever returns it."""
        self.request("PUT", f"/api/vault/{_seg(name)}", json_body={"value": value})


def _read_and_drop(response: httpx.Response) -> bytes:
    """The body of an error answer to a request that carried a body, read so that its connection
    is not used again. The server may have answered before it read the request's body (a token or
    a role refused) and then close the connection without saying so (no ``Connection: close``):
    the next request sent on it would fail with "Server disconnected without sending a response".
    Closing the response before the end of the message has been read makes httpcore close the
    connection. An answer this cannot measure (no ``Content-Length``, or compressed) is read as
    usual."""
    length = response.headers.get("content-length", "").strip()
    if not length.isdigit() or response.headers.get("content-encoding", "identity").lower() != "identity":
        return response.read()
    want = int(length)
    body = bytearray()
    if want > 0:
        for chunk in response.iter_raw():
            body += chunk
            if len(body) >= want:
                break
    response.close()
    return bytes(body)


def _version(value: int) -> int:
    """A version number as sent (an ``int``; ``True`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a version is an int, not {type(value).__name__}")
    return value


def _event(event_id: str | None, data: str) -> Event:
    number = int(event_id) if event_id is not None and event_id.strip().isdigit() else None
    try:
        parsed: Any = json.loads(data)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        parsed = {"type": "message", "data": parsed if parsed is not None else data}
    return Event(parsed, number)
