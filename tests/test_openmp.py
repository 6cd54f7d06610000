"""libgomp's spin: set by the `rnnlab` command before torch loads, never over a choice the user made."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnnlab.runtime.openmp import SPIN_COUNT, wait_briefly


def test_a_short_spin_is_set_where_nothing_says_how_openmp_waits() -> None:
    env = {"PATH": "/bin"}
    assert wait_briefly(env) and env["GOMP_SPINCOUNT"] == SPIN_COUNT == "1000"


@pytest.mark.parametrize("theirs", [{"GOMP_SPINCOUNT": "300000"}, {"OMP_WAIT_POLICY": "ACTIVE"}])
def test_the_users_own_setting_is_kept(theirs: dict[str, str]) -> None:
    env = dict(theirs)
    assert not wait_briefly(env) and env == theirs


def test_the_command_sets_it_before_anything_imports_torch() -> None:
    probe = (
        "import os, sys\n"
        "seen = []\n"
        "class Watch:\n"  # notes the environment at the moment torch is first imported
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' and not seen: seen.append(os.environ.get('GOMP_SPINCOUNT'))\n"
        "sys.meta_path.insert(0, Watch())\n"
        "sys.argv = ['rnnlab', 'inspect', '--hidden', '8', '--layers', '1']\n"
        "from rnnlab.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('torch first imported with GOMP_SPINCOUNT =', seen)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch first imported with GOMP_SPINCOUNT = ['1000']" in done.stdout, done.stdout[-2000:]
