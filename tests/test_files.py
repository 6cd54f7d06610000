"""Atomic writes: an interrupted write leaves the old file, and written files get the permissions open() gives."""

import os

import pytest

from rnnlab.runs.files import atomic_write_bytes, atomic_write_text


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path) -> None:
    p = tmp_path / "c.pt"
    p.write_bytes(b"old")

    def explode(f) -> None:
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(p, explode)
    assert p.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["c.pt"]  # no temporary left behind


def test_a_stop_inside_torch_save_is_the_stop_not_the_zip_writers_error_on_closing(tmp_path) -> None:
    """A second Ctrl-C landing inside torch.save: its zip writer, closed on the way out, fails on the half-written
    file ('unexpected pos'); that error must not hide the stop (it ended a run in a traceback, exit 1)."""
    import torch

    from rnnlab.train.signals import StopNow

    p = tmp_path / "checkpoint.pt"
    p.write_bytes(b"old")
    calls = 0

    class StoppedMidway:  # the file torch.save writes to, where a signal lands in its third write
        def __init__(self, f) -> None:
            self.f = f

        def write(self, data: bytes) -> int:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise StopNow("SIGINT", second=True)
            return self.f.write(data)

        def flush(self) -> None:
            self.f.flush()

    def interrupted(f) -> None:
        torch.save({"w": torch.zeros(1000), "v": torch.ones(1000)}, StoppedMidway(f))

    with pytest.raises(StopNow):
        atomic_write_bytes(p, interrupted)
    assert calls >= 3
    assert p.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_files_written_atomically_get_the_umasks_permissions_or_keep_their_own(tmp_path) -> None:
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "config.json"
        atomic_write_text(fresh, "{}")
        assert fresh.stat().st_mode & 0o777 == 0o644  # as open() gives, not mkstemp's 0o600
        fresh.chmod(0o640)
        atomic_write_text(fresh, "{}\n")
        assert fresh.stat().st_mode & 0o777 == 0o640 and fresh.read_text() == "{}\n"
    finally:
        os.umask(umask)


def test_json_text_writes_what_strict_parsers_read() -> None:
    from rnnlab.text import json_text

    text = json_text({"loss": float("nan"), "rows": [float("inf"), -float("inf"), 1.5, (2, "a")], "ok": True})
    assert text == '{"loss": null, "rows": [null, null, 1.5, [2, "a"]], "ok": true}'
