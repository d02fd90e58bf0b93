"""A server on the loopback address answers only requests addressed to it
by a loopback name. A web page the operator visits could otherwise read the
run through the operator's own browser: DNS rebinding points a name of the
page's own at 127.0.0.1, and the browser sends that name as Host. Bound to
any other address, the server is meant to be reached by names this bot
cannot know (a host name, a proxy's), and the check is off."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
App = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header, without its port ('[::1]:8080' -> '::1')."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class LoopbackHostsOnly:
    """ASGI middleware: 421 for a request whose Host is not a loopback name."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if not is_loopback(host_name(header)):
                await _refuse(send)
                return
        await self.app(scope, receive, send)


async def _refuse(send) -> None:
    body = json.dumps({"detail": "this server answers only to a loopback name (127.0.0.1, localhost, [::1])"})
    await send(
        {
            "type": "http.response.start",
            "status": 421,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
