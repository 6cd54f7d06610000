"""playground in a real browser: Debian's chromium, driven by Selenium through chromedriver, on a real uvicorn server.

A stroke drawn on the canvas, the prediction the page shows against the API's for the same picture, the step
slider, play, the engine and layer switches, a test digit, a bad upload and a blank canvas. Skips with its reason
where chromium, chromedriver or selenium is absent (`.ci/run` installs them: apt-get install chromium
chromium-driver). RNNLAB_PLAYGROUND_RUN: a run to serve instead of the tiny one trained here (the README's picture
is this test's screenshot of an MNIST run, written where RNNLAB_PLAYGROUND_SCREENSHOT says).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rnnlab.look.loaded import load
from rnnlab.playground.answer import Playground, Samples
from rnnlab.train.loop import fit
from tests.conftest import serving
from tests.test_playground import TINY

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - the dev extra installs it
    webdriver = None  # type: ignore[assignment]

WHY = (
    "no selenium (pip install -e '.[dev]')"
    if webdriver is None
    else "no chromium and chromedriver (apt-get install chromium chromium-driver)"
    if not (CHROMIUM and DRIVER)
    else ""
)
WIDTH, HEIGHT = 1280, 900


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if WHY:
        pytest.skip(WHY)
    run = os.environ.get("RNNLAB_PLAYGROUND_RUN")
    if not run:
        run = str(tmp_path_factory.mktemp("pg-browser-run"))
        fit(TINY, Path(run))
    loaded = load(run)
    playground = Playground(loaded, Samples(loaded.preprocessing.dataset, loaded.config.data.data_dir))
    with serving(playground) as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM or ""  # the page at 1280x900: below, the viewport set exactly
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    driver.get(server)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return !!(rnnPage.info)"))
    yield driver
    driver.quit()


def api(server: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        server + "api/read", json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    return dict(json.loads(urllib.request.urlopen(request, timeout=30).read()))


def answered(driver: Any, act: Any) -> None:
    """Do ``act`` and wait for the page to show the answer to the request it made (or an error)."""
    before = driver.execute_script("return rnnPage.asked")
    act()
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return (document.body.dataset.answered === String(rnnPage.asked) && rnnPage.asked > arguments[0])"
            " || document.getElementById('message').className === 'error'",
            before,
        )
    )


STROKE = [(-70, -80), (-20, -82), (40, -84), (75, -85), (55, -30), (30, 20), (10, 70), (0, 100)]  # a 7


def draw_stroke(driver: Any, touch: bool = False) -> None:
    """One stroke across the canvas, with the mouse or (``touch``) a finger."""
    canvas = driver.find_element(By.ID, "draw")
    (x0, y0), rest = STROKE[0], STROKE[1:]
    if touch:
        finger = ActionBuilder(driver, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
        finger.pointer_action.move_to(canvas, x0, y0).pointer_down()
        for x, y in rest:
            finger.pointer_action.move_to(canvas, x, y)
        finger.pointer_action.pointer_up()
        finger.perform()
        return
    chain = ActionChains(driver).move_to_element_with_offset(canvas, x0, y0).click_and_hold()
    for x, y in rest:
        chain.move_to_element_with_offset(canvas, x, y)
    chain.release().perform()


def shown(driver: Any) -> tuple[str, str]:
    return driver.find_element(By.ID, "shown-class").text, driver.find_element(By.ID, "verdict").text


def screenshot(driver: Any, name: str, tmp: Path) -> Path:
    """The whole page at the window's width, into the test's folder."""
    path = tmp / f"{name}.png"
    height = max(HEIGHT, driver.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": WIDTH, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": HEIGHT})
    return path


def test_a_stroke_gets_the_apis_prediction(page: Any, server: str, tmp_path: Path) -> None:
    assert not any(page.find_element(By.ID, k).is_enabled() for k in ("play", "step"))  # nothing to play yet
    answered(page, lambda: draw_stroke(page))
    assert all(page.find_element(By.ID, k).is_enabled() for k in ("play", "step"))
    picture = page.execute_script("return document.getElementById('draw').toDataURL('image/png')")
    truth = api(server, {"image": picture})
    info = page.execute_script("return rnnPage.info")
    name, verdict = shown(page)
    assert name == info["classes"][truth["class"]]
    assert f"({100 * truth['probabilities'][truth['class']]:.1f}%)" in verdict
    answer = page.execute_script("return rnnPage.answer")
    assert answer["probabilities_after_each_step"] == truth["probabilities_after_each_step"]
    assert page.find_element(By.ID, "step-text").text == f"step {info['steps']} of {info['steps']}"
    assert page.find_element(By.ID, "message").text == ""
    screenshot(page, "drawn", tmp_path)


def test_the_slider_and_play_walk_the_steps(page: Any, tmp_path: Path) -> None:
    steps = page.execute_script("return rnnPage.info.steps")
    probs = page.execute_script("return rnnPage.answer.probabilities_after_each_step")
    classes = page.execute_script("return rnnPage.info.classes")
    slider = page.find_element(By.ID, "step")
    slider.send_keys(Keys.HOME, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert page.find_element(By.ID, "step-text").text == f"step 3 of {steps}"
    name, verdict = shown(page)
    assert verdict.startswith("After step 3") and name == classes[max(range(len(probs[2])), key=probs[2].__getitem__)]
    slider.send_keys(*[Keys.ARROW_RIGHT] * (round(0.7 * steps) - 3))  # most of the way: the README's picture
    assert page.find_element(By.ID, "step-text").text == f"step {round(0.7 * steps)} of {steps}"
    path = screenshot(page, "reading", tmp_path)
    if os.environ.get("RNNLAB_PLAYGROUND_SCREENSHOT"):
        shutil.copy(path, os.environ["RNNLAB_PLAYGROUND_SCREENSHOT"])
    page.find_element(By.ID, "play").click()
    WebDriverWait(page, 20).until(lambda d: d.find_element(By.ID, "play").text == "▶ Play")
    assert page.find_element(By.ID, "step-text").text == f"step {steps} of {steps}"


def test_switching_engines_gives_the_same_numbers(page: Any) -> None:
    before = page.execute_script("return rnnPage.answer.probabilities")
    engines = Select(page.find_element(By.ID, "engine"))
    assert not page.find_element(By.CSS_SELECTOR, "#engine option[value=triton]").is_enabled()  # interpreted on a CPU
    answered(page, lambda: engines.select_by_value("unrolled"))
    assert "(unrolled)" in page.find_element(By.ID, "timing").text
    after = page.execute_script("return rnnPage.answer.probabilities")
    assert max(abs(a - b) for a, b in zip(after, before)) < 1e-6
    answered(page, lambda: engines.select_by_value("cudnn"))


def test_a_layers_states_and_gates_are_drawn(page: Any) -> None:
    Select(page.find_element(By.ID, "layer")).select_by_value("1")
    titles = [h.text.split()[0] for h in page.find_elements(By.CSS_SELECTOR, "#maps h3")]
    assert titles == ["hidden", "cell", "input", "forget", "candidate", "output"]
    drawn = page.execute_script(
        "return [...document.querySelectorAll('#maps canvas')].map(c => {"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " return new Set(Array.from({length: 500}, (_, k) => d[4 * Math.floor(k * d.length / 2000)])).size; })"
    )
    assert all(n > 3 for n in drawn), drawn  # every map holds many colours, not one blank fill


def test_a_test_digit_by_class(page: Any, server: str) -> None:
    Select(page.find_element(By.ID, "sample-class")).select_by_value("4")
    answered(page, lambda: page.find_element(By.ID, "sample-next").click())
    index = int(page.find_element(By.ID, "sample-index").get_attribute("value"))
    truth = json.loads(urllib.request.urlopen(server + "api/sample?class=4&nth=0", timeout=10).read())
    assert index == truth["index"]
    assert page.execute_script("return rnnPage.answer.sample") == {"index": index, "class": 4, "class_name": "4"}
    box, message = page.find_element(By.ID, "sample-index"), page.find_element(By.ID, "message")
    for typed, says in (("2.5", "got 2.5"), ("", "the box is empty")):
        box.clear()
        box.send_keys(typed)
        page.find_element(By.ID, "sample-show").click()
        assert message.get_attribute("class") == "error" and says in message.text, message.text
    box.clear()
    box.send_keys("3")  # by index, the page names its true class too
    answered(page, lambda: page.find_element(By.ID, "sample-show").click())
    label = page.execute_script("return rnnPage.answer.sample.class_name")
    assert page.find_element(By.ID, "source").text == f"— test digit 3 (a {label})"


def test_a_bad_file_and_a_blank_canvas_say_so_and_the_page_goes_on(page: Any, server: str, tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("these are notes, not a picture")
    answered(page, lambda: page.find_element(By.ID, "upload").send_keys(str(bad)))
    message = page.find_element(By.ID, "message")
    assert message.get_attribute("class") == "error" and message.text.startswith("notes.png: "), message.text
    assert "not an image" in message.text
    source = page.find_element(By.ID, "source").text  # the answer still shown is marked as another input's
    assert source.startswith("— not notes.png: still ") and "stale" in page.find_element(
        By.TAG_NAME, "body"
    ).get_attribute("class")
    big = tmp_path / "photo.png"  # past the cap: named by the file's own size, before it is sent
    with big.open("wb") as f:
        f.truncate(page.execute_script("return rnnPage.info.max_upload_bytes") + 1)
    page.find_element(By.ID, "upload").send_keys(str(big))
    assert message.text.startswith("photo.png: 6.3 MB; the playground takes pictures up to 6.3 MB"), message.text
    screenshot(page, "bad-upload", tmp_path)
    page.find_element(By.ID, "clear").click()
    answered(page, lambda: page.find_element(By.ID, "read").click())
    assert message.get_attribute("class") == "error" and "holds no digit" in message.text, message.text
    page.find_element(By.ID, "clear").click()
    answered(page, lambda: draw_stroke(page, touch=True))  # a finger draws as the mouse does
    assert message.text == "" and page.execute_script("return rnnPage.answer.prediction")
    assert "stale" not in page.find_element(By.TAG_NAME, "body").get_attribute("class")
    picture = page.execute_script("return document.getElementById('draw').toDataURL('image/png')")
    assert (
        page.execute_script("return rnnPage.answer.probabilities") == api(server, {"image": picture})["probabilities"]
    )


@pytest.mark.parametrize("width", [800, 400])
def test_a_narrow_window_shows_every_column_without_scrolling_sideways(page: Any, width: int) -> None:
    metrics = {"height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "width": width})
    try:
        wide = page.execute_script("return document.documentElement.scrollWidth")
        right = page.execute_script("return document.getElementById('inside').getBoundingClientRect().right")
    finally:
        page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "width": WIDTH})
    assert wide <= width and right <= width, (wide, right)
