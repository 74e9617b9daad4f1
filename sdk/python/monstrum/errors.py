"""The error the client raises for an error answer of the server."""

from __future__ import annotations

import json
from typing import Any

import httpx

from .models import Diagnostic

__all__ = ["MonstrumError"]


class MonstrumError(Exception):
    """An error answer of `monstrum serve`: ``{"error": {"code", "message", "diagnostics"?}}``.

    ``status`` is the HTTP status (401, 403, 404, 409, 422, …); ``code`` is the server's stable
    code (``unauthorized``, ``forbidden``, ``not_found``, ``invalid``, ``conflict``,
    ``too_large``, ``unavailable``, ``internal``); ``diagnostics`` lists the problems of a workflow
    that does not validate (empty otherwise).
    """

    status: int
    code: str
    message: str
    diagnostics: list[Diagnostic]

    def __init__(self, status: int, code: str, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.diagnostics = list(diagnostics or [])
        super().__init__(f"{status} {code}: {message}")

    @classmethod
    def from_response(cls, response: httpx.Response) -> MonstrumError:
        """The error an answer carries (its body must have been read)."""
        return cls.from_answer(response.status_code, response.reason_phrase, response.content)

    @classmethod
    def from_answer(cls, status: int, reason: str, body: bytes) -> MonstrumError:
        """The error an answer with ``status`` and ``body`` carries."""
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = None
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict):
            return cls(
                status,
                str(error.get("code") or _fallback_code(status)),
                str(error.get("message") or reason),
                [Diagnostic.from_json(d) for d in error.get("diagnostics") or []],
            )
        # Not the server's JSON (a proxy in front of it, say): the status and the text.
        text = body.decode("utf-8", "replace").strip()
        return cls(status, _fallback_code(status), text[:500] or reason)

    def __repr__(self) -> str:
        return f"MonstrumError(status={self.status!r}, code={self.code!r}, message={self.message!r})"


def _fallback_code(status: int) -> str:
    return {
        400: "invalid",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        413: "too_large",
        415: "invalid",
        422: "invalid",
        503: "unavailable",
    }.get(status, "internal" if status >= 500 else "http_error")
