"""playground security: only the picture formats the page promises are opened (never EPS, which Pillow hands to
Ghostscript); a request of another site's name (DNS rebinding), of another page (Origin) or not sent as JSON (a
"simple" cross-site POST) is refused before the app sees it; a slow parse leaves the server answering, and
uvicorn refuses connections past its limit (503)."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import EpsImagePlugin, Image, ImageDraw
from starlette.testclient import TestClient

from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.look.loaded import load
from rnnlab.playground.answer import Playground, Samples
from rnnlab.playground.guard import PICTURE_FORMATS, allowed_hosts
from rnnlab.playground.request import Refused, read_request
from rnnlab.playground.serve import MAX_CONNECTIONS, guarded_app, make_server
from rnnlab.train.loop import fit
from tests.conftest import serving

TINY = RunConfig(  # the smallest model that serves: one epoch of digits, seconds
    ModelConfig(input_size=8, hidden=(8,), layers=1, dropout=0.0),
    DataConfig(dataset="digits"),
    TrainConfig(epochs=1, batch_size=256, lr=1e-2),
    RuntimeConfig(device="cpu"),
)
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n%%EndComments\nnewpath 0 0 moveto 8 8 lineto stroke\n"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Playground:
    out = tmp_path_factory.mktemp("pg-security-run")
    fit(TINY, out)
    return Playground(load(out), Samples("digits", None))


def served(playground: Playground, host: str = "127.0.0.1", port: int = 8765) -> TestClient:
    """The app exactly as `rnnlab playground --host HOST` serves it, asked as a browser at HOST:PORT asks."""
    shown = f"[{host}]" if ":" in host else host
    return TestClient(guarded_app(playground, host), base_url=f"http://{shown}:{port}")


def drawn(fmt: str) -> str:
    picture = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(picture).line([(16, 8), (48, 8), (28, 56)], fill=255, width=8)
    buffer = io.BytesIO()
    (picture.convert("RGB") if fmt == "JPEG" else picture).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


# A: picture formats


@pytest.mark.parametrize("fmt", PICTURE_FORMATS)
def test_every_promised_format_is_read(fmt: str) -> None:
    asked = read_request({"image": drawn(fmt)}, (8, 8), 1)
    assert asked.value.format == fmt and asked.value.size == (64, 64)


def test_eps_is_refused_and_ghostscript_never_runs(playground: Playground, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[object] = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: ran.append(a))
    response = served(playground).post("/api/read", json={"image": base64.b64encode(EPS).decode()})
    assert response.status_code == 415 and list(response.json()) == ["error"], response.text
    assert "PNG, JPEG, GIF, BMP or WEBP" in response.json()["error"] and not ran


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM"])
def test_a_format_pillow_reads_but_the_page_does_not_promise_is_refused(fmt: str) -> None:
    with pytest.raises(Refused) as refused:
        read_request({"image": drawn(fmt)}, (8, 8), 1)
    assert refused.value.status == 415


# B: Host, Origin, Content-Type


def test_a_cross_site_simple_post_is_refused(playground: Playground) -> None:
    client, body = served(playground), json.dumps({"sample": 0})
    evil = client.post(
        "/api/read", content=body, headers={"Content-Type": "text/plain", "Origin": "http://evil.example"}
    )
    assert evil.status_code == 403 and "http://evil.example" in evil.json()["error"], evil.text
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        response = client.post("/api/read", content=body, headers={"Content-Type": kind} if kind else {})
        assert response.status_code == 415 and "application/json" in response.json()["error"], (kind, response.text)
    for origin in ("null", "http://127.0.0.1:8766", "https://127.0.0.1:8765"):
        response = client.post("/api/read", content=body, headers={**JSON, "Origin": origin})
        assert response.status_code == 403, (origin, response.text)
    cross = client.get("/api/info", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and "another site" in cross.json()["error"]


def test_the_pages_own_requests_are_answered(playground: Playground) -> None:
    client = served(playground)
    own = {**JSON, "Origin": "http://127.0.0.1:8765", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/read", content=json.dumps({"sample": 0}), headers=own).status_code == 200
    charset = {"Content-Type": "application/json; charset=utf-8"}
    assert client.post("/api/read", content=json.dumps({"sample": 0}), headers=charset).status_code == 200
    assert client.get("/", headers={"Sec-Fetch-Site": "none"}).status_code == 200  # typed in the address bar
    assert client.get("/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # a link from elsewhere
    assert client.get("/api/info", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200


@pytest.mark.parametrize("url", ["/api/info", "/", "/static/app.js"])
def test_another_sites_name_is_refused_dns_rebinding(playground: Playground, url: str) -> None:
    client = served(playground)
    response = client.get(url, headers={"Host": "evil.example:8765"})
    assert response.status_code == 400 and "'evil.example'" in response.json()["error"], response.text
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST", "127.0.0.1"):
        assert client.get(url, headers={"Host": host}).status_code == 200, host


def test_bound_to_every_interface_any_address_and_this_machines_name_are_answered(playground: Playground) -> None:
    client = served(playground, "0.0.0.0")
    for host in ("192.168.1.20:8765", "[fe80::1]:8765", f"{socket.gethostname()}:8765", "localhost:8765"):
        assert client.get("/api/info", headers={"Host": host}).status_code == 200, host
    assert client.get("/api/info", headers={"Host": "evil.example:8765"}).status_code == 400


def test_the_hosts_a_bound_address_answers_to() -> None:
    assert allowed_hosts("127.0.0.1") == allowed_hosts("::1") == frozenset({"localhost"})
    assert "my-box.lan" in allowed_hosts("my-box.lan")
    assert socket.gethostname().lower() in allowed_hosts("0.0.0.0") and "evil.example" not in allowed_hosts("::")


# E: the event loop and the number of connections


@pytest.fixture
def live(playground: Playground) -> Iterator[str]:
    with serving(playground) as url:
        yield url


def test_a_slow_parse_does_not_stop_the_server_answering(live: str, monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release, left = threading.Event(), threading.Event(), threading.Event()

    def slow(*args: Any) -> Any:
        entered.set()
        release.wait(2)  # a big picture's decode, holding whichever thread runs it
        left.set()
        return read_request(*args)

    monkeypatch.setattr("rnnlab.playground.app.read_request", slow)
    statuses: list[int] = []
    request = urllib.request.Request(live + "api/read", json.dumps({"sample": 0}).encode(), JSON, method="POST")
    poster = threading.Thread(target=lambda: statuses.append(urllib.request.urlopen(request, timeout=10).status))
    poster.start()
    assert entered.wait(5)
    info = json.loads(urllib.request.urlopen(live + "api/info", timeout=10).read())
    answered_while_parsing = not left.is_set()
    release.set()
    poster.join(10)
    assert answered_while_parsing and info["steps"] == 8 and statuses == [200]


def test_connections_past_the_limit_get_503(live: str, playground: Playground) -> None:
    assert make_server(playground).config.limit_concurrency == MAX_CONNECTIONS == 16
    host, port = live.split("//")[1].rstrip("/").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.1)  # uvicorn counts them as they are accepted
        with pytest.raises(urllib.error.HTTPError) as busy:
            urllib.request.urlopen(live + "api/info", timeout=10)
        assert busy.value.code == 503
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.1)
    assert urllib.request.urlopen(live + "api/info", timeout=10).status == 200
