"""`rnnlab playground RUN`: the app served by uvicorn on a socket bound here (so a port of 0 is a free one, known
before the first request), the page's address handed to ``say`` once it serves (the CLI prints it, and opens a
browser on it when asked). The app is served behind its guard (the host names of the address bound, the page's
own origin, JSON only), and uvicorn answers 503 to connections past MAX_CONNECTIONS (each may hold a request of up
to 8 MiB while it arrives).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rnnlab.errors import UserError
from rnnlab.playground.answer import Playground, Samples
from rnnlab.playground.guard import LOOPBACK, Guard, allowed_hosts

if TYPE_CHECKING:
    import uvicorn

LOCAL = LOOPBACK
MAX_CONNECTIONS = 16  # open at once (a browser opens up to six to a page); past it uvicorn answers 503


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on ``host:port`` (0: a free port), or one line saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"--host {host} --port {port}: cannot serve there ({exc.strerror or exc})") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def shared_url(sock: socket.socket) -> str:
    """The address others would type: this machine's name where ``sock`` is bound to every address (0.0.0.0, ::),
    else the address bound."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        return f"http://{socket.gethostname()}:{port}/ (every address of this machine)"
    return url_of(sock)


def make_server(playground: Playground, host: str = "127.0.0.1") -> uvicorn.Server:
    """A uvicorn server of the playground's app behind its guard for ``host`` (the --host it is bound to), quiet
    but for errors (run it with ``.run(sockets=[sock])``)."""
    import uvicorn

    config = uvicorn.Config(
        guarded_app(playground, host),
        log_level="warning",
        access_log=False,
        lifespan="off",
        limit_concurrency=MAX_CONNECTIONS,
    )
    return uvicorn.Server(config)


def guarded_app(playground: Playground, host: str) -> Guard:
    """The playground's app as it is served on ``host``: behind the guard of that host's names."""
    from rnnlab.playground.app import build_app

    return Guard(build_app(playground), allowed_hosts(host))


def serve(
    playground: Playground,
    sock: socket.socket,
    say: Callable[[str], None],
    host: str | None = None,
) -> None:
    """Serve until Ctrl-C (uvicorn shuts down, then the KeyboardInterrupt reaches the CLI's one line); ``say`` is
    handed the page's address once it serves (the CLI prints it, and opens a browser where --open asks); ``host``:
    the --host ``sock`` was bound to (None: its address, which loses a host name given there)."""
    server = make_server(playground, sock.getsockname()[0] if host is None else host)
    url = url_of(sock)

    def when_serving() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.02)
        if server.started:
            say(url)

    threading.Thread(target=when_serving, daemon=True).start()
    server.run(sockets=[sock])


def open_playground(run: str, engine: str | None, device: str, data_dir: str | None) -> Playground:
    """The run loaded (a run that cannot be is one line, before anything serves) with its test digits' folder."""
    from rnnlab.look.loaded import load

    loaded = load(run, engine, device, data_dir)
    return Playground(loaded, Samples(loaded.preprocessing.dataset, data_dir or loaded.config.data.data_dir))
