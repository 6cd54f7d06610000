"""playground: what a request may ask, strictly (Starlette's TestClient on the real app): whole numbers in ASCII
digits only, nothing quietly wrapped, defaulted or renamed, and one name for a class's number and its name across
the API (as `rnnlab predict --json` names them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from rnnlab.playground.request import MAX_FILE
from tests.test_playground import as_data_url, client, drawn_seven, png, run_dir  # noqa: F401

assert run_dir  # the fixture the client's fixture uses


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("class=%E2%91%A0", "class: expected a whole number >= 0, got '①'"),  # str.isdigit() is true of these
        ("index=%C2%B2", "index: expected a whole number >= 0, got '²'"),
        ("class=3&nth=%D9%A3", "nth: expected a whole number >= 0, got '٣'"),  # int() reads this one as 3
        ("index=1_0", "index: expected a whole number"),
        ("index=%201", "index: expected a whole number"),
        ("index=-1", "index: expected a whole number >= 0, got '-1'"),
        ("index=1&class=3", "not both"),
        ("nth=2", "give class=C with it"),
    ],
)
def test_a_sample_query_takes_only_ascii_whole_numbers_and_one_way_to_pick(
    client: TestClient,  # noqa: F811
    query: str,
    says: str,
) -> None:
    response = client.get(f"/api/sample?{query}")
    assert response.status_code == 400 and list(response.json()) == ["error"], response.text
    assert says in response.json()["error"], response.json()


def test_nth_past_a_classs_images_is_refused_not_wrapped(client: TestClient) -> None:  # noqa: F811
    response = client.get("/api/sample?class=3&nth=100000")
    assert response.status_code == 404, response.text
    assert "nth: the test set has" in response.json()["error"] and "got 100000" in response.json()["error"]
    assert client.get("/api/sample?class=3&nth=%2B1").status_code == 200  # a sign is allowed


def test_class_is_the_number_and_class_name_the_name_everywhere(client: TestClient) -> None:  # noqa: F811
    sample = client.get("/api/sample?class=3").json()
    assert sample == {"index": sample["index"], "class": 3, "class_name": "3"}
    answer = client.post("/api/read", json={"sample": sample["index"]}).json()
    assert answer["sample"] == sample
    assert answer["prediction"] == client.get("/api/info").json()["classes"][answer["class"]]  # predict's names


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"sample": 0, "engine": ""}, "engine: expected an engine's name, got ''"),
        ({"pixels": [[1e300] * 8] * 8}, "pixels: 1e+300 is out of range; expected numbers in [0, 1] or [0, 255]"),
        ({"pixels": [[-1] * 8] * 8}, "pixels: -1 is out of range"),
        ({"sample": -1}, "sample: the test set has images 0 to"),
    ],
)
def test_a_read_names_the_field_sent_and_its_real_rule(
    client: TestClient,  # noqa: F811
    body: dict[str, object],
    says: str,
) -> None:
    response = client.post("/api/read", json=body)
    assert response.status_code in (400, 404) and says in response.json()["error"], response.json()


def test_a_body_too_large_is_named_in_megabytes(client: TestClient) -> None:  # noqa: F811
    response = client.post("/api/read", content=b"{}", headers={"content-length": str(12_979_133)})
    assert response.status_code == 413
    assert response.json()["error"] == (
        "the request is 13.0 MB; the playground takes up to 8.4 MB (a picture file of up to 6.3 MB, sent as base64)"
    )
    assert client.get("/api/info").json()["max_upload_bytes"] == MAX_FILE  # what the page checks a file against


def test_a_blank_picture_at_the_models_own_size_is_refused(client: TestClient, tmp_path: Path) -> None:  # noqa: F811
    from PIL import Image

    response = client.post("/api/read", json={"image": as_data_url(png(Image.new("L", (8, 8), 0)))})
    assert response.status_code == 400 and "holds no digit" in response.json()["error"], response.text
    assert client.post("/api/read", json={"image": as_data_url(png(drawn_seven()))}).status_code == 200


# ---- the command's lines ------------------------------------------------------------------------------------------


def test_open_with_no_browser_and_a_host_of_every_address_each_say_so(
    run_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket
    import webbrowser

    from typer.testing import CliRunner

    from rnnlab.cli import app as cli
    from rnnlab.playground import serve

    monkeypatch.setattr(webbrowser, "open", lambda url: False)  # no DISPLAY, no browser: webbrowser says False
    monkeypatch.setattr(serve, "serve", lambda pg, sock, say, *args, **kwargs: say(serve.url_of(sock)))
    result = CliRunner().invoke(cli, ["playground", str(run_dir), "--port", "0", "--host", "0.0.0.0", "--open"])
    assert result.exit_code == 0, result.output
    warnings = result.stderr.splitlines()
    assert len(warnings) == 2, result.stderr
    assert f"at http://{socket.gethostname()}:" in warnings[0] and "(every address of this machine)" in warnings[0]
    assert warnings[1].startswith("rnnlab: warning: --open: no web browser could be opened here; open http://")


def test_help_speaks_of_the_playground_not_of_training() -> None:
    from typer.testing import CliRunner

    from rnnlab.cli import app as cli

    text = " ".join(CliRunner().invoke(cli, ["playground", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "the page switches among those that run here" in text and "0 = PyTorch's default." in text
    assert "--zoneout" not in text and "training takes" not in text
    assert "auto (cuda when present). [default: cpu]" in text and "Where the net computes" in text
