"""Native tools of a Python agent, offered to Monstrum bots over the agent link.

    from monstrum.agent import Agent

    agent = Agent("http://127.0.0.1:7410", key="mak_...")   # monstrum agent-key create NAME

    @agent.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        "Looks up an order in the shop's database."
        return {"id": order_id, "status": "shipped"}

    agent.run()   # links out to /agent; reconnects with backoff; returns when the key is refused

The agent connects out (no port is opened here) over a WebSocket to `monstrum serve`'s `/agent`,
where it is an MCP server (the official `mcp` package's) of its `@tool` functions; the server
lists them as the tools of `agent:NAME`, which bots bind with `- agent: NAME`. Every call passes
Monstrum's gate (visibility, schema, scope, budget, audit) before it reaches a function here.

Needs the extra `agent`: `pip install "monstrum-sdk[agent]"` (mcp, websockets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import mcp_types as types
import websockets
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage
from websockets.asyncio.client import connect

from .errors import MonstrumError

F = TypeVar("F", bound=Callable[..., Any])

MAX_BACKOFF = 30.0


def link_url(server: str) -> str:
    """The WebSocket URL of `server`'s agent link."""
    base = server.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(http):
            return ws + base[len(http) :] + "/agent"
    if base.startswith(("ws://", "wss://")):
        return base + "/agent"
    raise MonstrumError(0, "invalid", f"{server!r} is not an http(s):// or ws(s):// URL")


class Agent:
    """A set of `@tool` functions and the link that offers them to a Monstrum server."""

    def __init__(self, server: str, key: str, name: str = "monstrum-python-agent") -> None:
        self.url = link_url(server)
        self._key = key
        self._mcp = MCPServer(name)
        self.links = 0  # how many times it has linked

    def tool(
        self, fn: F | None = None, *, name: str | None = None, description: str | None = None
    ) -> Any:
        """Registers a function as a tool (its name, docstring and type hints make its MCP
        description and input schema); usable as `@agent.tool` or `@agent.tool(name=...)`."""

        def register(f: F) -> F:
            self._mcp.add_tool(f, name=name, description=description)
            return f

        return register(fn) if fn is not None else register

    async def serve_once(self) -> None:
        """One link: connects, serves the tools until the link closes. Raises MonstrumError when
        the server refuses the key."""
        headers = {"Authorization": f"Bearer {self._key}"}
        try:
            socket = await connect(self.url, additional_headers=headers)
        except websockets.exceptions.InvalidStatus as e:
            status = e.response.status_code
            if status == 401:
                raise MonstrumError(401, "unauthorized", f"{self.url} refused the agent key (unknown or revoked)") from e
            raise
        self.links += 1
        async with socket:
            to_server_send, to_server = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            from_server, from_server_receive = anyio.create_memory_object_stream[SessionMessage](0)

            async def read() -> None:
                async with to_server_send:
                    try:
                        async for frame in socket:
                            try:
                                message = types.jsonrpc_message_adapter.validate_json(frame, by_name=False)
                            except Exception as exc:  # a frame that is not MCP: the server says so
                                await to_server_send.send(exc)
                                continue
                            await to_server_send.send(SessionMessage(message))
                    except websockets.exceptions.ConnectionClosed:
                        pass

            async def write() -> None:
                async with from_server_receive:
                    async for message in from_server_receive:
                        await socket.send(message.message.model_dump_json(by_alias=True, exclude_unset=True))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(read)
                tasks.start_soon(write)
                server = self._mcp._lowlevel_server
                await server.run(to_server, from_server, server.create_initialization_options())
                tasks.cancel_scope.cancel()

    async def serve(self) -> None:
        """Links, and links again when the link drops (1 s doubling to 30 s between attempts),
        until the key is refused (MonstrumError)."""
        backoff = 1.0
        while True:
            try:
                await self.serve_once()
                backoff = 1.0
            except MonstrumError:
                raise
            except (OSError, websockets.exceptions.WebSocketException):
                pass
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def run(self) -> None:
        """[`serve`][Agent.serve], blocking."""
        anyio.run(self.serve)
