"""The answers of `monstrum serve`, as typed dataclasses.

Every model is built with ``from_json`` from the server's JSON object. Fields the server adds
later are kept in ``raw`` (the whole object as received), and a field it leaves out is ``None``,
so a newer server does not break an older client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

JSON = Any
"""Any value JSON can hold."""

__all__ = [
    "JSON",
    "Event",
    "Diagnostic",
    "Validation",
    "WorkflowSummary",
    "Workflow",
    "SavedWorkflow",
    "WorkflowVersion",
    "WorkflowDiff",
    "Run",
    "Step",
    "Approval",
    "RunDetail",
    "Decision",
    "Cancellation",
    "AuditRecord",
    "AuditVerification",
    "BotSummary",
    "Tool",
    "Bot",
    "Plugin",
    "Secret",
]


def _obj(data: Any) -> dict[str, Any]:
    return dict(data) if isinstance(data, Mapping) else {}


def _list(data: Any) -> list[Any]:
    return list(data) if isinstance(data, list) else []


def _int_or_none(data: Any) -> int | None:
    return data if isinstance(data, int) and not isinstance(data, bool) else None


class Event(dict[str, Any]):
    """One event of a run, as ``monstrum run --json`` prints it: a dict with ``"type"``.

    ``id`` is the server-sent event's id (``None`` for ``lagged``, which has none); pass the
    last one seen as ``last_event_id=`` to go on after it.
    """

    id: int | None

    def __init__(self, data: Mapping[str, Any], id: int | None = None) -> None:
        super().__init__(data)
        self.id = id

    @property
    def type(self) -> str:
        """``run_started``, ``step_finished``, ``tool_call``, ``approval_requested``, ``run_finished``, …"""
        value = self.get("type")
        return value if isinstance(value, str) else ""

    def __repr__(self) -> str:
        return f"Event(id={self.id!r}, {dict.__repr__(self)})"


@dataclass(frozen=True)
class Diagnostic:
    """A problem in a workflow file, where it is (``line`` and ``column`` count from 1)."""

    code: str
    message: str
    path: str
    line: int | None
    column: int | None
    help: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Diagnostic:
        d = _obj(data)
        return cls(
            code=str(d.get("code", "")),
            message=str(d.get("message", "")),
            path=str(d.get("path", "")),
            line=d.get("line"),
            column=d.get("column"),
            help=d.get("help"),
            raw=d,
        )

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}: " if self.line is not None else ""
        return f"{where}{self.code} {self.message}"


@dataclass(frozen=True)
class Validation:
    """What ``monstrum validate`` says of a workflow's YAML."""

    valid: bool
    diagnostics: list[Diagnostic]

    @classmethod
    def from_json(cls, data: Any) -> Validation:
        d = _obj(data)
        return cls(
            valid=bool(d.get("valid")),
            diagnostics=[Diagnostic.from_json(x) for x in _list(d.get("diagnostics"))],
        )


@dataclass(frozen=True)
class WorkflowSummary:
    """A workflow in the list: its name and its file, relative to the workspace."""

    name: str
    file: str

    @classmethod
    def from_json(cls, data: Any) -> WorkflowSummary:
        d = _obj(data)
        return cls(name=str(d.get("name", "")), file=str(d.get("file", "")))


@dataclass(frozen=True)
class Workflow:
    """One workflow: its text and what the checks say of it.

    ``version`` is the saved version the file's text is: what :meth:`Client.save_workflow` takes
    as ``if_match``. ``None`` when the file was never saved, or was edited by hand since.
    """

    name: str
    file: str
    text: str
    valid: bool
    diagnostics: list[Diagnostic]
    version: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> Workflow:
        d = _obj(data)
        return cls(
            name=str(d.get("name", "")),
            file=str(d.get("file", "")),
            text=str(d.get("text", "")),
            valid=bool(d.get("valid")),
            diagnostics=[Diagnostic.from_json(x) for x in _list(d.get("diagnostics"))],
            version=_int_or_none(d.get("version")),
        )


@dataclass(frozen=True)
class SavedWorkflow:
    """What a save (create, save, rollback) stored: the workflow's new head.

    ``created`` is false when the text was the head already (no new version was stored).
    """

    workflow: str
    version: int
    hash: str
    """SHA-256 of the text, hex."""
    created: bool

    @classmethod
    def from_json(cls, data: Any) -> SavedWorkflow:
        d = _obj(data)
        return cls(
            workflow=str(d.get("workflow", "")),
            version=int(d.get("version") or 0),
            hash=str(d.get("hash", "")),
            created=bool(d.get("created")),
        )


@dataclass(frozen=True)
class WorkflowVersion:
    """A stored version of a workflow (without its text: :meth:`Client.diff` compares two).

    ``author`` is the token's name that saved it (``(file on disk)`` for a file found edited by
    hand before a save replaced it); ``created_at`` is Unix milliseconds.
    """

    workflow: str
    version: int
    hash: str
    author: str
    message: str
    created_at: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> WorkflowVersion:
        d = _obj(data)
        return cls(
            workflow=str(d.get("workflow", "")),
            version=int(d.get("version") or 0),
            hash=str(d.get("hash", "")),
            author=str(d.get("author", "")),
            message=str(d.get("message") or ""),
            created_at=int(d.get("created_at") or 0),
            raw=d,
        )


@dataclass(frozen=True)
class WorkflowDiff:
    """Two versions of a workflow compared: the unified diff of their texts, and the ids of the
    steps added, removed and changed."""

    text: str
    added: list[str]
    removed: list[str]
    changed: list[str]

    @classmethod
    def from_json(cls, data: Any) -> WorkflowDiff:
        d = _obj(data)
        return cls(
            text=str(d.get("text", "")),
            added=[str(x) for x in _list(d.get("added"))],
            removed=[str(x) for x in _list(d.get("removed"))],
            changed=[str(x) for x in _list(d.get("changed"))],
        )


@dataclass(frozen=True)
class Run:
    """A run as recorded (``monstrum runs show --json``). Times are Unix milliseconds."""

    id: str
    workflow: str
    status: str
    """``running``, ``waiting``, ``succeeded``, ``failed``, ``cancelled``, …"""
    inputs: dict[str, Any]
    outputs: JSON
    error: str | None
    started_by: str | None
    file: str | None
    parent_run: str | None
    parent_step: str | None
    created_at: int | None
    updated_at: int | None
    finished_at: int | None
    workflow_version: int | None = None
    """The saved version of its workflow it ran (``None`` if the text it ran was never saved)."""
    conversation: str | None = None
    """The conversation it ran for (``CHANNEL/CONVERSATION``): its bots' ``channel:`` memory."""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Run:
        d = _obj(data)
        return cls(
            id=str(d.get("id", "")),
            workflow=str(d.get("workflow", "")),
            status=str(d.get("status", "")),
            inputs=_obj(d.get("inputs")),
            outputs=d.get("outputs"),
            error=d.get("error"),
            started_by=d.get("started_by"),
            file=d.get("file"),
            parent_run=d.get("parent_run"),
            parent_step=d.get("parent_step"),
            created_at=d.get("created_at"),
            updated_at=d.get("updated_at"),
            finished_at=d.get("finished_at"),
            workflow_version=_int_or_none(d.get("workflow_version")),
            conversation=d.get("conversation"),
            raw=d,
        )

    @property
    def finished(self) -> bool:
        """Whether the run has ended (neither running nor waiting at a gate): ``succeeded``,
        ``failed``, ``cancelled``, …"""
        return self.status not in ("running", "waiting")


@dataclass(frozen=True)
class Step:
    """A step of a run as recorded."""

    run_id: str
    step_key: str
    step_id: str
    status: str
    attempts: int
    output: JSON
    error: str | None
    started_at: int | None
    finished_at: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Step:
        d = _obj(data)
        return cls(
            run_id=str(d.get("run_id", "")),
            step_key=str(d.get("step_key", "")),
            step_id=str(d.get("step_id", d.get("step_key", ""))),
            status=str(d.get("status", "")),
            attempts=int(d.get("attempts") or 0),
            output=d.get("output"),
            error=d.get("error"),
            started_at=d.get("started_at"),
            finished_at=d.get("finished_at"),
            raw=d,
        )


@dataclass(frozen=True)
class Approval:
    """An approval gate: waiting (``decision`` is ``None``) or decided."""

    run_id: str
    step_id: str
    message: str
    approvers: list[str]
    self_approval: bool
    requested_at: int | None
    expires_at: int | None
    decision: str | None
    decided_by: str | None
    comment: str | None
    decided_at: int | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Approval:
        d = _obj(data)
        return cls(
            run_id=str(d.get("run_id", "")),
            step_id=str(d.get("step_id", "")),
            message=str(d.get("message") or ""),
            approvers=[str(a) for a in _list(d.get("approvers"))],
            self_approval=bool(d.get("self_approval", True)),
            requested_at=d.get("requested_at"),
            expires_at=d.get("expires_at"),
            decision=d.get("decision"),
            decided_by=d.get("decided_by"),
            comment=d.get("comment"),
            decided_at=d.get("decided_at"),
            raw=d,
        )


@dataclass(frozen=True)
class RunDetail:
    """A run with its steps, its open gates and its model requests (``GET /api/runs/{id}``)."""

    run: Run
    steps: list[Step]
    waiting: list[Approval]
    llm_requests: list[dict[str, Any]]

    @classmethod
    def from_json(cls, data: Any) -> RunDetail:
        d = _obj(data)
        return cls(
            run=Run.from_json(d.get("run")),
            steps=[Step.from_json(x) for x in _list(d.get("steps"))],
            waiting=[Approval.from_json(x) for x in _list(d.get("waiting"))],
            llm_requests=[_obj(x) for x in _list(d.get("llm_requests"))],
        )

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def outputs(self) -> JSON:
        return self.run.outputs

    @property
    def error(self) -> str | None:
        return self.run.error

    def step(self, key: str) -> Step:
        """The step named ``key``; ``KeyError`` if the run has none (yet)."""
        for s in self.steps:
            if s.step_key == key or s.step_id == key:
                return s
        raise KeyError(key)


@dataclass(frozen=True)
class Decision:
    """A decision taken on a gate."""

    run: str
    step: str
    decision: str
    """``approved`` or ``rejected``."""
    by: str

    @classmethod
    def from_json(cls, data: Any) -> Decision:
        d = _obj(data)
        return cls(
            run=str(d.get("run", "")),
            step=str(d.get("step", "")),
            decision=str(d.get("decision", "")),
            by=str(d.get("by", "")),
        )


@dataclass(frozen=True)
class Cancellation:
    """What a cancel did to a run.

    ``outcome`` is ``stopping`` (this server drives the run and stops it now), ``closed``
    (nobody drove it: it is cancelled) or ``requested`` (another process drives it and stops it
    when it next renews its lease).
    """

    run: str
    outcome: str

    @classmethod
    def from_json(cls, data: Any) -> Cancellation:
        d = _obj(data)
        return cls(run=str(d.get("run", "")), outcome=str(d.get("outcome", "")))


@dataclass(frozen=True)
class AuditRecord:
    """An audit record: what was called, by whom, the gate's decision and why, the hash chain."""

    seq: int
    at: int
    kind: str
    run: str | None
    step: str | None
    bot: str | None
    tool: str | None
    decision: str | None
    reason: str | None
    detail: str | None
    """JSON text (arguments redacted)."""
    prev: str
    hash: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> AuditRecord:
        d = _obj(data)
        return cls(
            seq=int(d.get("seq") or 0),
            at=int(d.get("at") or 0),
            kind=str(d.get("kind", "")),
            run=d.get("run"),
            step=d.get("step"),
            bot=d.get("bot"),
            tool=d.get("tool"),
            decision=d.get("decision"),
            reason=d.get("reason"),
            detail=d.get("detail"),
            prev=str(d.get("prev", "")),
            hash=str(d.get("hash", "")),
            raw=d,
        )


@dataclass(frozen=True)
class AuditVerification:
    """The audit trail's hash chain, checked."""

    records: int
    intact: bool
    problems: list[Any]

    @classmethod
    def from_json(cls, data: Any) -> AuditVerification:
        d = _obj(data)
        return cls(
            records=int(d.get("records") or 0),
            intact=bool(d.get("intact")),
            problems=_list(d.get("problems")),
        )


@dataclass(frozen=True)
class BotSummary:
    """A bot in the list."""

    name: str
    description: str | None

    @classmethod
    def from_json(cls, data: Any) -> BotSummary:
        d = _obj(data)
        return cls(name=str(d.get("name", "")), description=d.get("description"))


@dataclass(frozen=True)
class Tool:
    """A tool a bot sees, with the JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    @classmethod
    def from_json(cls, data: Any) -> Tool:
        d = _obj(data)
        return cls(
            name=str(d.get("name", "")),
            description=str(d.get("description") or ""),
            parameters=_obj(d.get("parameters")),
        )


@dataclass(frozen=True)
class Bot:
    """One bot: its file as loaded, the tools the gate offers it, and why none if it is faulty."""

    name: str
    bot: dict[str, Any]
    tools: list[Tool]
    problem: str | None

    @classmethod
    def from_json(cls, data: Any) -> Bot:
        d = _obj(data)
        return cls(
            name=str(d.get("name", "")),
            bot=_obj(d.get("bot")),
            tools=[Tool.from_json(t) for t in _list(d.get("tools"))],
            problem=d.get("problem"),
        )


@dataclass(frozen=True)
class Plugin:
    """A plugin the workspace can use, with its manifest."""

    name: str
    version: str
    source: str
    """``builtin``, ``installed`` or ``dev``."""
    manifest: dict[str, Any]

    @classmethod
    def from_json(cls, data: Any) -> Plugin:
        d = _obj(data)
        return cls(
            name=str(d.get("name", "")),
            version=str(d.get("version", "")),
            source=str(d.get("source", "")),
            manifest=_obj(d.get("manifest")),
        )


@dataclass(frozen=True)
class Secret:
    """A vault entry: its name and when it was last set (Unix ms). Never its value."""

    name: str
    updated_at: int

    @classmethod
    def from_json(cls, data: Any) -> Secret:
        d = _obj(data)
        return cls(name=str(d.get("name", "")), updated_at=int(d.get("updated_at") or 0))
