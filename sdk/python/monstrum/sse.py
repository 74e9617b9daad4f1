"""Server-sent events read from a streaming httpx response (the part of the WHATWG
event-stream format `monstrum serve` uses: ``id:``, ``data:``, ``event:``, ``:`` comments)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterator

import httpx

__all__ = ["ServerSentEvent", "iter_sse"]


@dataclass(frozen=True)
class ServerSentEvent:
    """One event as sent: its ``id`` (``None`` when it had none), ``event`` name and ``data``."""

    id: str | None
    event: str
    data: str

    def json(self) -> object:
        return json.loads(self.data)


def iter_sse(response: httpx.Response, deadline: float | None = None) -> Iterator[ServerSentEvent]:
    """The events of ``response`` until the server closes the stream.

    With ``deadline`` (a ``time.monotonic()`` value), raises ``TimeoutError`` once it has passed;
    the keep-alive comments the server sends make sure that is checked while nothing happens.
    """
    event_id: str | None = None
    name = ""
    data: list[str] = []
    for line in response.iter_lines():
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("the event stream did not end in time")
        if line == "":
            if data:
                yield ServerSentEvent(id=event_id, event=name or "message", data="\n".join(data))
            event_id, name, data = None, "", []
            continue
        if line.startswith(":"):
            continue  # a comment: the keep-alive
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "id":
            if "\0" not in value:
                event_id = value
        elif field == "event":
            name = value
        # `retry:` and unknown fields are ignored, as the format says.
    # An event the stream did not end with a blank line is incomplete: dropped, as the format says.
