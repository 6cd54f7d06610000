"""What the playground answers at all, checked before the app sees a request: the picture formats it opens, the
host names it answers to, the pages that may use its API, and the one way a request's body is sent.

A web page of another site can make the user's browser send requests here: a "simple" cross-site POST (text/plain,
a form) needs no permission, and a site whose name is re-pointed at this machine (DNS rebinding) is, to the
browser, the same origin as the server. So the server answers only to its own names, refuses a request that
another page's Origin or Sec-Fetch-Site says it made, and takes a POST only as application/json, which no page of
another origin can send without a CORS permission the playground never gives. Every refusal is a JSON error.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# What the page's upload and the API promise; Pillow's other formats stay closed (EPS would run Ghostscript, and
# every format opened is a parser a request can reach).
PICTURE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
EVERY_INTERFACE = ("0.0.0.0", "::", "")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def picture_formats() -> str:
    """The formats opened, as a sentence says them: "PNG, JPEG, GIF, BMP or WEBP"."""
    return f"{', '.join(PICTURE_FORMATS[:-1])} or {PICTURE_FORMATS[-1]}"


def allowed_hosts(bound: str) -> frozenset[str]:
    """The host names (beside any IP address) a server bound to ``bound`` answers to.

    An address typed as an address cannot be re-pointed, so any IP address in Host is answered (only one this
    machine has reaches it); names are the ones that can be: localhost, the name ``--host`` gave, and, bound to
    every interface, this machine's own name (the name others on the network use). Any other name is refused.
    """
    names = {"localhost"}
    bound = bound.strip("[]").lower()
    if bound not in LOOPBACK and bound not in EVERY_INTERFACE and not _is_address(bound):
        names.add(bound.rstrip("."))
    if bound in EVERY_INTERFACE:
        machine = socket.gethostname().lower().rstrip(".")
        if machine:
            short = machine.split(".")[0]
            names.update({machine, short, short + ".local"})
    return frozenset(names)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_name(netloc: str) -> str:
    """The host of a Host header or an origin's netloc, lower case, without its port or an IPv6 address's brackets."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    name, colon, port = netloc.rpartition(":")
    return (name if colon and port.isdigit() else netloc).rstrip(".")


def refusal(method: str, path: str, headers: Headers, hosts: frozenset[str]) -> tuple[str, int] | None:
    """Why a request is refused (its one line and status), or None where the app may answer it."""
    host = headers.get("host", "")
    name = _host_name(host)
    if not name or (name not in hosts and not _is_address(name)):
        return (
            f"the playground answers to {', '.join(sorted(hosts))} or an address of this machine, not {name[:60]!r} "
            "(a page of another site's name that reaches this machine is refused)",
            400,
        )
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme != "http" or parts.netloc.lower() != host.strip().lower():
            return f"a page of another site ({origin[:60]}) may not use the playground", 403
    if path.startswith("/api/") and headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "a page of another site may not use the playground's API", 403
    if method not in ("GET", "HEAD"):
        kind = headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind != "application/json":
            return f"the request must be sent as JSON (Content-Type: application/json), not {kind[:60] or 'none'}", 415
    return None


class Guard:
    """ASGI middleware: an HTTP request that ``refusal`` refuses is answered {"error": ...}; the rest reach ``app``."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = refusal(scope["method"], scope["path"], Headers(scope=scope), self.hosts)
            if refused is not None:
                await JSONResponse({"error": refused[0]}, status_code=refused[1])(scope, receive, send)
                return
        await self.app(scope, receive, send)
