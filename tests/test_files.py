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
