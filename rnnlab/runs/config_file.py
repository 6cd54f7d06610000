"""config.json: the run as it now stands (its config), what made it, its resumes, and its status.

One reader checks every value (a hand-edited file fails in one line naming the file and the setting): the config
against the flags' own declarations, and what made the run, its resumes and its status against RECORD_FIELDS,
after the file's size and nesting were bounded (reading); one writer replaces the file atomically.
The status (running, finished, stopped, failed) is what `rnnlab runs` lists.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rnnlab import reading
from rnnlab.config import RunConfig, flag_for, flagged_fields
from rnnlab.config.run import RUN_RECORD, SECTIONS
from rnnlab.errors import UserError, flag_name
from rnnlab.runs.files import atomic_write_text
from rnnlab.runs.folder import RunFolder
from rnnlab.text import short_repr
from rnnlab.version import __version__

STATES = ("running", "finished", "stopped", "failed")
MAX_BYTES = 1 << 20  # a config.json is a few KiB; a hundred resumes add a few more
MAX_PID = 2**31 - 1  # a pid_t
# what each record beside the config holds: key -> the types its value may have (a key may be absent)
TEXT, WHOLE, NOTHING = (str,), (int,), (type(None),)
MADE_BY: dict[str, tuple[type, ...]] = {
    k: TEXT + NOTHING for k in ("rnnlab", "torch", "python", "command", "at", "host")
}
RECORD_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "made_by": MADE_BY,
    "status": {"state": TEXT, "since": TEXT, "pid": WHOLE + NOTHING, "host": TEXT + NOTHING, "detail": TEXT,
               "step": WHOLE},
    "resume": {"at": TEXT, "step": WHOLE, "epoch": WHOLE, "changes": (dict,), "made_by": (dict,)},
}  # fmt: skip


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def made_by(command: str | None = None) -> dict[str, Any]:
    """Who wrote a run file: rnnlab's and torch's versions, Python's, the command line, the time and the host."""
    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = None
    argv = [_program(a) if i == 0 else a for i, a in enumerate(sys.argv)]
    return {
        "rnnlab": __version__,
        "torch": torch_version,
        "python": platform.python_version(),
        "command": command or shlex.join(argv),
        "at": now(),
        "host": socket.gethostname(),
    }


def _program(argv0: str) -> str:
    """The program as its user typed it: ``rnnlab`` for ``python -m rnnlab`` too (whose argv[0] is the package's
    ``__main__.py``, a name no one can run)."""
    name = Path(argv0).name
    return "rnnlab" if name == "__main__.py" and Path(argv0).parent.name == "rnnlab" else name


@dataclass(frozen=True)
class RunFile:
    config: RunConfig
    made_by: dict[str, Any] = field(default_factory=made_by)
    resumes: list[dict[str, Any]] = field(default_factory=list)  # each: at, step, epoch, changes, made_by
    status: dict[str, Any] = field(default_factory=dict)  # state, since, pid, host, detail

    def to_dict(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "made_by": self.made_by, "resumes": self.resumes, "status": self.status}

    def with_status(self, state: str, detail: str = "", step: int | None = None) -> RunFile:
        assert state in STATES, state
        status = {"state": state, "since": now(), "pid": os.getpid(), "host": socket.gethostname(), "detail": detail}
        if step is not None:
            status["step"] = step  # the run's step when this was written (a stop falls between log lines)
        return replace(self, status=status)


def read_run_file(run: Path, what: str = "RUN") -> RunFile:
    """RUN/config.json, checked; ``what`` names the argument that gave the folder, for the error."""
    f = RunFolder(run).config
    if not f.is_file():
        hint = "give a run folder written by `rnnlab train`"
        raise UserError(f"{what}: {run} has no {f.name}; {hint}" if run.is_dir() else f"{what}: {run} is not a folder")
    try:
        raw = reading.loads(reading.read_bounded(f, MAX_BYTES, "config.json"))
    except OSError as exc:
        raise UserError(f"cannot read {f}: {exc}") from None
    except ValueError as exc:
        raise UserError(f"{f} is not valid JSON ({exc}); restore it, or start the run again with --force") from None
    if not isinstance(raw, dict):
        raise UserError(f"{f}: expected an object of settings, got {type(raw).__name__}")
    extra = {k: raw.pop(k, None) for k in RUN_RECORD}
    try:
        cfg = RunConfig.from_dict(raw)
        made, resumes, status = (_checked(key, extra[key]) for key in RUN_RECORD)
    except ValueError as exc:
        raise UserError(f"{f}: {exc}") from None
    return RunFile(cfg, made, resumes, status)


def _checked(key: str, value: Any) -> Any:
    """made_by, resumes or status as read, each value of the type RECORD_FIELDS gives it; raises ValueError."""
    if key == "resumes":
        if value is not None and not isinstance(value, list):
            raise ValueError("resumes: expected a list")
        for k, entry in enumerate(value or []):
            _fields(f"resumes[{k}]", entry, RECORD_FIELDS["resume"])
            _fields(f"resumes[{k}].made_by", entry.get("made_by", {}), MADE_BY)
        return value or []
    _fields(key, value or {}, RECORD_FIELDS[key])
    if key == "status" and value:
        if value.get("state", "running") not in STATES:
            raise ValueError(f"status.state: expected one of {', '.join(STATES)}, got {short_repr(value['state'])}")
        if value.get("pid") is not None and not 0 < value["pid"] <= MAX_PID:
            raise ValueError(f"status.pid: expected a process id, got {value['pid']}")
    return value or {}


def _fields(key: str, value: Any, kinds: dict[str, tuple[type, ...]]) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{key}: expected an object")
    for name, kind in kinds.items():
        if name not in value:
            continue
        got = value[name]
        if isinstance(got, bool) or not isinstance(got, kind):
            raise ValueError(f"{key}.{name}: expected {_kind_name(kind)}, got {type(got).__name__}")
        if isinstance(got, int) and not 0 <= got < 2**63:
            raise ValueError(f"{key}.{name}: expected a whole number >= 0 that fits 64 bits")


def _kind_name(kind: tuple[type, ...]) -> str:
    names = {str: "text", int: "a whole number", dict: "an object", type(None): "nothing"}
    return " or ".join(names[k] for k in kind)


def read_config(run: Path, what: str = "RUN") -> RunConfig:
    return read_run_file(run, what).config


def write_run_file(run: Path, record: RunFile) -> None:
    atomic_write_text(RunFolder(run).config, json.dumps(record.to_dict(), indent=2) + "\n")


def write_config(run: Path, cfg: RunConfig) -> None:
    """config.json for a run made outside `rnnlab train` (tests, scripts): the config and who made it."""
    write_run_file(run, RunFile(cfg))


def state_of(record: RunFile) -> str:
    """The status as it is now: a run marked running whose process is gone was stopped (killed)."""
    state = record.status.get("state", "")
    if state != "running":
        return state or "unknown"
    pid, host = record.status.get("pid"), record.status.get("host")
    if host != socket.gethostname() or not isinstance(pid, int):
        return "running"  # another machine's process: take its word
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "stopped"
    except PermissionError:
        pass
    return "running"


def refuse_if_trained_now(run: Path, record: RunFile | None, flag: str) -> None:
    """A run a process on this machine is training right now is neither resumed nor replaced under it (its writes
    and ours would interleave). ``record`` None: read it here, and a folder without a readable one is not live."""
    if record is None:
        try:
            record = read_run_file(run)
        except UserError:
            return
    if state_of(record) == "running" and record.status.get("host") == socket.gethostname():
        pid = record.status.get("pid")
        raise UserError(f"{flag}: {run} is being trained right now by process {pid}; stop that first")


def config_changes(old: RunConfig, new: RunConfig) -> dict[str, list[Any]]:
    """What a resume changes, as {"--flag": [old, new]}; a change no running run can take is refused."""
    changes, refused = {}, []
    for section, cls in SECTIONS.items():
        for f in flagged_fields(cls):
            before, after = getattr(getattr(old, section), f.name), getattr(getattr(new, section), f.name)
            if before == after:
                continue
            changes[flag_name(f.name)] = [_plain(before), _plain(after)]
            if not flag_for(f).resumable:
                refused.append(flag_name(f.name))
    if refused:
        raise UserError(f"--resume: {', '.join(refused)} cannot change for a run in progress; start a new run instead")
    return changes


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
