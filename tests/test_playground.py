"""playground: the JSON API (Starlette's TestClient on the real app), its numbers against `rnnlab predict --json`,
every bad request a 4xx JSON error, and the command on a real uvicorn server (a free port, Ctrl-C in one line)."""

from __future__ import annotations

import base64
import io
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from starlette.testclient import TestClient
from typer.testing import CliRunner

from rnnlab.cli import app as cli
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.look.loaded import load
from rnnlab.playground.answer import Playground, Samples
from rnnlab.playground.app import build_app
from rnnlab.playground.request import MAX_BODY
from rnnlab.train.loop import fit
from tests.conftest import assert_close, assert_one_error_line

TINY = RunConfig(  # two layers, so that a layer can be chosen; digits: offline, seconds to train
    ModelConfig(input_size=8, hidden=(32,), layers=2, dropout=0.0),
    DataConfig(dataset="digits"),
    TrainConfig(epochs=6, batch_size=128, lr=1e-2),
    RuntimeConfig(device="cpu"),
)
KEYS = ("prediction", "class", "probabilities", "after_each_step", "probabilities_after_each_step")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pg-run")
    fit(TINY, out)
    return out


@pytest.fixture(scope="module")
def client(run_dir: Path) -> TestClient:
    loaded = load(run_dir)
    return TestClient(build_app(Playground(loaded, Samples("digits", None))))


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_seven() -> Image.Image:
    """A 7 as a learner draws one: white strokes on a black 280x280 canvas."""
    picture = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(picture).line([(70, 60), (210, 60), (150, 140), (110, 230)], fill=255, width=22)
    return picture


def as_data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_info_names_the_model_its_engines_and_its_test_digits(client: TestClient) -> None:
    info = client.get("/api/info").json()
    assert info["model"] == {
        "cell": "lstm",
        "layers": 2,
        "hidden": [32, 32],
        "bidirectional": False,
        "readout": "last",
        "gates": ["input", "forget", "candidate", "output"],
    }
    assert (info["dataset"], info["view"], info["steps"], info["image_size"]) == ("digits", "rows", 8, [8, 8])
    assert info["classes"] == [str(k) for k in range(10)] and info["engine"] == "cudnn"
    assert all(info["engines"][e]["runs"] for e in ("cudnn", "unrolled", "bptt"))
    assert not info["engines"]["triton"]["runs"] and info["engines"]["triton"]["reason"]  # interpreted on a CPU
    assert info["samples"] == {"available": True, "reason": None}


def test_a_drawn_digit_gets_exactly_what_predict_json_prints(client: TestClient, run_dir: Path, tmp_path: Path) -> None:
    data = png(drawn_seven())
    (tmp_path / "seven.png").write_bytes(data)
    result = CliRunner().invoke(cli, ["predict", str(run_dir), str(tmp_path / "seven.png"), "--json"])
    assert result.exit_code == 0, result.output
    [expected] = json.loads(result.stdout)["images"]
    answer = client.post("/api/read", json={"image": as_data_url(data)}).json()
    assert {k: answer[k] for k in KEYS} == {k: expected[k] for k in KEYS}  # ==: the same numbers, not close ones
    bare = client.post("/api/read", json={"image": base64.b64encode(data).decode()}).json()
    assert bare["probabilities_after_each_step"] == expected["probabilities_after_each_step"]


def test_a_test_digit_is_the_data_sets_own_image(client: TestClient, run_dir: Path, tmp_path: Path) -> None:
    samples = Samples("digits", None)
    images, labels = samples.load()
    k = samples.pick(None, 3, nth=1)
    assert labels[k] == 3 and k == int(np.nonzero(labels == 3)[0][1])
    np.save(tmp_path / "sample.npy", images[k])
    result = CliRunner().invoke(cli, ["predict", str(run_dir), str(tmp_path / "sample.npy"), "--json"])
    [expected] = json.loads(result.stdout)["images"]
    answer = client.post("/api/read", json={"sample": k}).json()
    assert {key: answer[key] for key in KEYS} == {key: expected[key] for key in KEYS}
    assert answer["sample"] == {"index": k, "class": 3, "class_name": "3"}
    picked = client.get("/api/sample", params={"class": 3, "nth": 1}).json()
    assert picked == {"index": k, "class": 3, "class_name": "3"}
    pixels = client.post("/api/read", json={"pixels": images[k].tolist()}).json()
    assert pixels["probabilities"] == expected["probabilities"]


def test_the_answer_holds_every_step_of_every_layer(client: TestClient) -> None:
    answer = client.post("/api/read", json={"sample": 0}).json()
    T, U = 8, 32
    assert len(answer["probabilities_after_each_step"]) == T
    assert np.array(answer["image"]).shape == (8, 8) and 0 <= np.min(answer["image"]) <= np.max(answer["image"]) <= 1
    assert answer["order"]["view"] == "rows" and answer["order"]["step_of"][3] == [3] * 8
    assert [layer["layer"] for layer in answer["layers"]] == [1, 2]
    for layer in answer["layers"]:
        [d] = layer["directions"]
        assert d["direction"] == "forward" and list(d["gates"]) == ["input", "forget", "candidate", "output"]
        for values in (d["h"], d["c"], *d["gates"].values()):
            assert np.array(values).shape == (T, U)
        assert np.min(d["gates"]["forget"]) >= 0 and np.max(d["gates"]["forget"]) <= 1
    one = client.post("/api/read", json={"sample": 0, "layer": 1}).json()
    assert [layer["layer"] for layer in one["layers"]] == [1] and one["layers"][0] == answer["layers"][0]


def test_every_engine_that_runs_here_gives_the_same_numbers(client: TestClient) -> None:
    import torch

    body = {"image": as_data_url(png(drawn_seven()))}
    answers = {e: client.post("/api/read", json={**body, "engine": e}).json() for e in ("cudnn", "unrolled", "bptt")}
    for engine, answer in answers.items():
        assert answer["engine"] == engine
        assert_close(
            torch.tensor(answer["probabilities_after_each_step"]),
            torch.tensor(answers["cudnn"]["probabilities_after_each_step"]),
            atol=1e-6,
            rtol=1e-5,
            what=f"{engine} against cudnn",
        )
        assert answer["layers"] == answers["cudnn"]["layers"]  # the trace: the reference steps on one set of weights
    assert client.get("/api/info").json()["engine"] == "cudnn"


def _big_picture() -> str:
    return as_data_url(png(Image.new("L", (2500, 2000), 0)))  # 5,000,000 pixels in a few kB of PNG


BAD = [
    ("not json", b"{nope", 400, "not JSON"),
    ("a list", b"[1, 2]", 400, "JSON object"),
    ("no image", {"engine": "cudnn"}, 400, "exactly one of"),
    ("two images", {"sample": 0, "pixels": [[0]]}, 400, "exactly one of"),
    ("unknown field", {"sample": 0, "path": "/etc/passwd"}, 400, "unknown field 'path'"),
    ("a text file", {"image": base64.b64encode(b"just some text, not a picture").decode()}, 415, "not an image"),
    ("not base64", {"image": "/etc/passwd"}, 400, "not base64"),
    ("an empty file", {"image": ""}, 400, "empty file"),
    ("a number as image", {"image": 7}, 400, "base64"),
    ("too large", "BIG", 413, "larger than the playground reads"),
    ("blank canvas", {"image": as_data_url(png(Image.new("L", (280, 280), 0)))}, 400, "holds no digit"),
    ("damaged png", {"image": as_data_url(png(drawn_seven())[:200])}, 400, "damaged"),
    ("pixels of another size", {"pixels": [[0.5] * 28] * 28}, 400, "8 rows of 8"),
    ("pixels not numbers", {"pixels": [["a"] * 8] * 8}, 400, "expected numbers"),
    (
        "pixels NaN",
        b'{"pixels": [[NaN, 0, 0, 0, 0, 0, 0, 0]' + b", [0, 0, 0, 0, 0, 0, 0, 1]" * 7 + b"]}",
        400,
        "got nan",
    ),
    ("pixels out of range", {"pixels": [[300.0] * 8] + [[0.0] * 8] * 7}, 400, "300.0 is out of range"),
    ("sample not a number", {"sample": "3"}, 400, "whole number"),
    ("sample out of range", {"sample": 10**6}, 404, "the test set has images 0 to"),
    ("unknown engine", {"sample": 0, "engine": "warp"}, 400, "unknown engine 'warp'"),
    ("engine not here", {"sample": 0, "engine": "triton"}, 400, "triton cannot read this model here"),
    ("layer 3 of 2", {"sample": 0, "layer": 3}, 400, "a layer from 1 to 2"),
    ("layer true", {"sample": 0, "layer": True}, 400, "a layer from 1 to 2"),
]


@pytest.mark.parametrize(("what", "body", "status", "says"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_request_is_a_4xx_json_error_and_the_server_keeps_serving(
    client: TestClient, what: str, body: object, status: int, says: str
) -> None:
    if body == "BIG":
        body = {"image": _big_picture()}
    sent = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = client.post("/api/read", **sent)
    assert response.status_code == status, response.text
    assert list(response.json()) == ["error"] and says in response.json()["error"], response.json()
    assert client.post("/api/read", json={"sample": 1}).status_code == 200


def test_a_body_past_the_cap_is_refused(client: TestClient) -> None:
    response = client.post("/api/read", content=b"x" * (MAX_BODY + 1))
    assert response.status_code == 413 and "8.4 MB" in response.json()["error"]


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/api/sample?index=abc", 400, "whole number"),
        ("/api/sample?index=-1", 400, "whole number"),
        ("/api/sample?class=11", 404, "no image of class 11"),
        ("/api/sample?file=/etc/passwd", 400, "unknown parameter 'file'"),
        ("/api/nothing", 404, "no such page"),
        ("/static/../answer.py", 404, "no such page"),
        ("/static/%2e%2e/answer.py", 404, "no such page"),
        ("/static/..%2f..%2fconfig/commands.py", 404, "no such page"),
    ],
)
def test_no_request_reaches_a_file_outside_the_page(client: TestClient, url: str, status: int, says: str) -> None:
    response = client.get(url)
    assert response.status_code == status and says in response.json()["error"], (url, response.text)


def test_the_page_and_its_files_ship_in_the_package(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="draw"' in page.text
    for name in ("api.js", "draw.js", "charts.js", "app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200, name
        assert f"/static/{name}" in page.text
    everything = page.text + "".join(client.get(f"/static/{n}").text for n in ("api.js", "app.js", "charts.js"))
    assert "http://" not in everything and "https://" not in everything  # nothing from a CDN: it works offline
    assert client.get("/api/read").status_code == 405 and "error" in client.get("/api/read").json()


def test_without_the_test_set_the_picker_says_why(run_dir: Path, tmp_path: Path) -> None:
    loaded = load(run_dir)
    client = TestClient(build_app(Playground(loaded, Samples("mnist", str(tmp_path)))))
    info = client.get("/api/info").json()
    assert not info["samples"]["available"] and str(tmp_path) in info["samples"]["reason"]
    for response in (client.get("/api/sample?index=0"), client.post("/api/read", json={"sample": 0})):
        assert response.status_code == 404 and "no test digits here" in response.json()["error"]


# ---- the command ------------------------------------------------------------------------------------------------


def test_a_run_that_cannot_be_loaded_is_one_line_before_anything_serves(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["playground", str(tmp_path / "no-such-run"), "--port", "0"])
    assert_one_error_line(result, "no-such-run")
    assert_one_error_line(CliRunner().invoke(cli, ["playground", str(tmp_path), "--port", "70000"]), "--port")


def test_without_the_extra_one_line_says_how_to_install_it(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed: its import fails
    result = CliRunner().invoke(cli, ["playground", str(run_dir), "--port", "0"])
    assert_one_error_line(result, "pip install 'rnnlab[playground]'")


def test_help_imports_neither_torch_nor_the_web_server() -> None:
    code = (
        "import sys; from rnnlab.cli import app; sys.argv = ['rnnlab', 'playground', '--help']\n"
        "try: app()\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('torch', 'starlette', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_a_real_server_on_a_free_port_answers_and_stops_on_ctrl_c_in_one_line(run_dir: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "rnnlab", "playground", str(run_dir), "--port", "0", "--host", "0.0.0.0", "--open"]
    opened = tmp_path / "opened.txt"  # --open: the browser Python's webbrowser starts ($BROWSER) is handed the URL
    browser = f"{sys.executable} -c \"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])\" %s"
    env = {**os.environ, "COLUMNS": "300", "BROWSER": browser}
    server = subprocess.Popen(  # Ctrl-C heard as in a terminal, even where the suite's own SIGINT is ignored
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_sigint_default
    )
    try:
        assert server.stdout is not None
        assert select.select([server.stdout], [], [], 120)[0], "no URL on stdout in 120 s"  # a hung start fails
        line = server.stdout.readline()
        assert line.startswith("rnnlab playground: http://127.0.0.1:"), line
        url = line.split()[2]
        info = json.loads(urllib.request.urlopen(url + "api/info", timeout=10).read())
        assert info["model"]["layers"] == 2
        request = urllib.request.Request(
            url + "api/read",
            json.dumps({"image": as_data_url(png(drawn_seven()))}).encode(),
            {"Content-Type": "application/json"},  # the guard takes JSON only
            method="POST",
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
        assert len(answer["probabilities_after_each_step"]) == 8
        for _ in range(200):
            if opened.exists() and opened.read_text():
                break
            time.sleep(0.05)
        assert opened.read_text() == url
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=15)
    finally:
        server.kill()
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 2, stderr  # the warning for --host 0.0.0.0, and Ctrl-C's line
    assert (
        lines[0].startswith("rnnlab: warning: --host 0.0.0.0: anyone who can reach port") and "Traceback" not in stderr
    )
    assert lines[1] == "rnnlab: stopped: by SIGINT (Ctrl-C)" and server.returncode == 130
