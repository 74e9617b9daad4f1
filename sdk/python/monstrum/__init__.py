"""Python client of `monstrum serve`, the Monstrum workflow runtime's HTTP API.

    from monstrum import Client
    m = Client("http://127.0.0.1:7410", token="mst_...")
    run = m.start_run("hello", inputs={"who": "team"})
    for event in m.events(run):
        print(event["type"])
"""

from .client import DEFAULT_URL, Client, RunLike
from .errors import MonstrumError
from .models import (
    JSON,
    Approval,
    AuditRecord,
    AuditVerification,
    Bot,
    BotSummary,
    Cancellation,
    Decision,
    Diagnostic,
    Event,
    Plugin,
    Run,
    RunDetail,
    SavedWorkflow,
    Secret,
    Step,
    Tool,
    Validation,
    Workflow,
    WorkflowDiff,
    WorkflowSummary,
    WorkflowVersion,
)
from .sse import ServerSentEvent, iter_sse

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_URL",
    "JSON",
    "Approval",
    "AuditRecord",
    "AuditVerification",
    "Bot",
    "BotSummary",
    "Cancellation",
    "Client",
    "Decision",
    "Diagnostic",
    "Event",
    "MonstrumError",
    "Plugin",
    "Run",
    "RunDetail",
    "RunLike",
    "SavedWorkflow",
    "Secret",
    "ServerSentEvent",
    "Step",
    "Tool",
    "Validation",
    "Workflow",
    "WorkflowDiff",
    "WorkflowSummary",
    "WorkflowVersion",
    "iter_sse",
    "__version__",
]
