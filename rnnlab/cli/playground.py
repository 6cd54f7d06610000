"""The playground command: a local web page where a learner draws a digit and watches a trained net read it."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from typing import Any

from rnnlab import playground, runtime
from rnnlab.cli.look import ON_A_RUN
from rnnlab.cli.options import Default, Flags, Run, takes
from rnnlab.cli.tables import console, error_line
from rnnlab.config import DataConfig, RuntimeConfig
from rnnlab.config.commands import OnARun, PlaygroundConfig
from rnnlab.errors import UserError

INSTALL = "the playground needs its web server: pip install 'rnnlab[playground]' (Starlette and uvicorn)"


@takes(
    PlaygroundConfig,
    RuntimeConfig,
    DataConfig,
    only=("host", "port", "open", *ON_A_RUN["only"]),
    defaults={
        **ON_A_RUN["defaults"],
        "engine": Default(
            None,
            "the one it trained with",
            "How the recurrent layers compute at first (the same parameters, the same numbers); the page switches "
            "among those that run here.",
        ),
        "device": Default("cpu", None, "Where the net computes: cpu, cuda, or auto (cuda when present)."),
        "threads": Default(0, None, "CPU threads for PyTorch, up to 1024; 0 = PyTorch's default."),
    },
)
def playground_command(flags: Flags, run: Run) -> None:
    """Serve a page where you draw a digit (or upload one, or pick a test digit) and watch the net read it step by
    step: what it reads, P(class) after each step, and one layer's hidden state, cell state and gates, under any
    engine this machine runs. Prints the page's address; Ctrl-C stops it. Binds to this machine only unless --host
    says otherwise. The numbers are `rnnlab predict`'s; nothing you send is stored."""
    where = flags.build(PlaygroundConfig)
    flags.check(RuntimeConfig)
    on = flags.view(OnARun)
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UserError(INSTALL) from None
    sock = playground.serve.bind(where.host, where.port)  # a port in use: one line, before the run loads
    try:
        runtime.device.set_threads(on.threads)
        with console.status("loading the run"):
            pg = playground.serve.open_playground(run, on.engine, on.device, on.data_dir)
        if where.host not in playground.serve.LOCAL:
            error_line(
                f"--host {where.host}: anyone who can reach port {sock.getsockname()[1]} of this machine can use "
                f"the page, at {playground.serve.shared_url(sock)} (it reads the run and the test digits, and "
                "stores nothing sent to it)",
                "warning",
            )
        playground.serve.serve(pg, sock, _say(pg.loaded.describe(), where.open), host=where.host)
    finally:
        sock.close()


def _say(what: str, open_browser: bool) -> Callable[[str], None]:
    """Once it serves: the address printed, then (--open) a browser opened on it, or one line saying none could be
    (webbrowser.open's False: no display, no browser installed)."""

    def say(url: str) -> None:
        console.print(f"rnnlab playground: {url}  (Ctrl-C stops it)", highlight=False, soft_wrap=True)  # one piece
        console.print(f"serving {what}", highlight=False)  # wrapped between words at the terminal's width
        if open_browser and not webbrowser.open(url):
            error_line(f"--open: no web browser could be opened here; open {url} in one yourself", "warning")

    return say


COMMANDS: dict[str, Callable[..., Any]] = {"playground": playground_command}
