"""How live the playground feels: a drawn digit's full answer, request to response, on a real server; the page's paint.

    python scripts/bench_playground.py RUN [RUN...] [--digits 40] [--threads 2] [--out playground.json]
    python scripts/bench_playground.py --quick     # a tiny digits model trained here: the script's own test

Each run is served by `rnnlab playground RUN --port 0` in a process of its own, held to ``--threads`` CPU cores
(sched_setaffinity, and PyTorch's threads); the digits are drawn here as a learner draws them (white strokes on a
280x280 black canvas, sent as a PNG data URL, as the page sends its canvas), and each POST /api/read asks for the
full answer: every step's probabilities, and every layer's states and gates. Timed: from sending the request to
the last byte of the response, after warm-up requests. Where chromium, chromedriver and selenium are at hand, the
page is opened afresh a few times and its first paint, first contentful paint and the moment it has the model's
description (``rnnPage.readyAt``) are read from the browser's Performance API. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import random
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def drawn_digits(n: int, seed: int = 0) -> list[str]:
    """``n`` digits drawn in PIL's font with a thick pen, of random size and place, as PNG data URLs."""
    from PIL import Image, ImageDraw, ImageFont

    rng = random.Random(seed)
    pictures = []
    for k in range(n):
        size = rng.randint(150, 220)
        font = ImageFont.load_default(size=size)
        canvas = Image.new("L", (280, 280), 0)
        at = (rng.randint(40, 110), rng.randint(-30, 20))
        ImageDraw.Draw(canvas).text(at, str(k % 10), fill=255, font=font, stroke_width=size // 16, stroke_fill=255)
        buffer = io.BytesIO()
        canvas.save(buffer, format="PNG")
        pictures.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    return pictures


def server_cores(threads: int) -> list[int]:
    """The cores the server is held to: the first ``threads`` of this process's (fewer on a smaller machine)."""
    return sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, "sched_getaffinity") else []


def start_server(run: str, threads: int) -> tuple[subprocess.Popen[str], str]:
    cores = server_cores(threads)
    command = [sys.executable, "-m", "rnnlab", "playground", run, "--port", "0", "--threads", str(threads)]

    def pin() -> None:
        if cores:
            os.sched_setaffinity(0, cores)

    env = {**os.environ, "COLUMNS": "400"}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=pin, env=env, cwd=ROOT)
    assert server.stdout is not None
    if not select.select([server.stdout], [], [], 300)[0]:  # a server that never starts must not hang the bench
        server.kill()
        raise SystemExit("the server printed no URL in 300 s")
    line = server.stdout.readline()
    if not line.startswith("rnnlab playground: http"):
        server.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return server, line.split()[2]


def post(url: str, body: bytes) -> tuple[float, int, dict[str, Any]]:
    request = urllib.request.Request(url + "api/read", body, {"Content-Type": "application/json"}, method="POST")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        data = response.read()
    elapsed = time.perf_counter() - started
    return 1000 * elapsed, len(data), json.loads(data)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_reads(url: str, pictures: list[str], warmup: int, layer: str) -> dict[str, Any]:
    bodies = [json.dumps({"image": p, "layer": layer if layer == "all" else int(layer)}).encode() for p in pictures]
    for body in bodies[:warmup]:
        post(url, body)
    times, sizes, computes = [], [], []
    for body in bodies:
        ms, size, answer = post(url, body)
        times.append(ms)
        sizes.append(size)
        computes.append(answer["compute_ms"])
    return {
        "digits": len(times),
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(quantile(times, 0.9), 2),
        "min_ms": round(min(times), 2),
        "compute_median_ms": round(statistics.median(computes), 2),
        "response_kib": round(statistics.median(sizes) / 1024, 1),
    }


def measure_paint(url: str, opens: int) -> dict[str, Any] | None:
    """First paint, first contentful paint and ready (the model described) of the page opened afresh, in ms."""
    chromium, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return None
    if not (chromium and driver_path):
        return None
    rows = []
    for _ in range(opens):
        options = webdriver.ChromeOptions()
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ):
            options.add_argument(arg)
        options.binary_location = chromium
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        try:
            driver.get(url)
            WebDriverWait(driver, 30).until(lambda d: d.execute_script("return !!(window.rnnPage && rnnPage.readyAt)"))
            paints = driver.execute_script(
                "return Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]))"
            )
            ready = driver.execute_script("return rnnPage.readyAt")
        finally:
            driver.quit()
        rows.append((paints.get("first-paint"), paints.get("first-contentful-paint"), ready))
    return {
        "opens": opens,
        "first_paint_ms": round(statistics.median(r[0] for r in rows if r[0] is not None), 1),
        "first_contentful_paint_ms": round(statistics.median(r[1] for r in rows if r[1] is not None), 1),
        "ready_ms": round(statistics.median(r[2] for r in rows), 1),
    }


def quick_run(folder: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "rnnlab", "train", "--dataset", "digits", "--hidden", "16", "--layers", "2",
         "--epochs", "1", "--device", "cpu", "--out", str(folder)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="run folders (the default model: `rnnlab train`'s, MNIST rows)")
    parser.add_argument("--digits", type=int, default=40, help="drawn digits timed per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU cores (and PyTorch threads) of the server")
    parser.add_argument("--opens", type=int, default=3, help="fresh page loads for the paint times (0: none)")
    parser.add_argument(
        "--layer",
        default="all",
        help="whose states and gates: all (the full answer), last, or a number (what the page asks of a model "
        "past 100 steps: the layer it shows)",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny digits model trained here, few digits")
    parser.add_argument("--out", type=Path, default=Path("playground_bench.json"))
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory()
    runs = list(args.runs)
    if args.quick:
        runs = runs or [quick_run(Path(scratch.name) / "tiny")]
        args.digits, args.warmup, args.opens = min(args.digits, 5), 1, min(args.opens, 1)
    if not runs:
        parser.error("give a run folder (or --quick)")
    pictures = drawn_digits(args.digits)
    rows = []
    for run in runs:
        server, url = start_server(run, args.threads)
        try:
            info = json.loads(urllib.request.urlopen(url + "api/info", timeout=30).read())
            row = {"run": run, "model": info["describe"], "view": info["view"], "steps": info["steps"]}
            layer = args.layer if args.layer != "last" else str(info["model"]["layers"])
            row.update(layer=layer, **measure_reads(url, pictures, args.warmup, layer))
            row["paint"] = measure_paint(url, args.opens) if args.opens else None
            rows.append(row)
        finally:
            server.terminate()
            server.wait(30)
    import torch

    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores_of_machine": os.cpu_count(),
        "server_cores": len(server_cores(args.threads)) or args.threads,  # what it had, not what was asked
        "command": " ".join(["python", "scripts/bench_playground.py", *sys.argv[1:]]),
    }
    print(
        f"{'model':<58} {'steps':>5} {'layer':>5} {'median':>8} {'p90':>8} {'compute':>8} {'KiB':>6} "
        f"{'paint':>6} {'ready':>6}"
    )
    for r in rows:
        paint = r["paint"] or {}
        print(
            f"{r['model'][-58:]:<58} {r['steps']:>5} {r['layer']:>5} {r['median_ms']:>6.1f}ms {r['p90_ms']:>6.1f}ms "
            f"{r['compute_median_ms']:>6.1f}ms {r['response_kib']:>6.0f} {paint.get('first_paint_ms', '-'):>6} "
            f"{paint.get('ready_ms', '-'):>6}"
        )
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {args.out}")
    scratch.cleanup()


if __name__ == "__main__":
    main()
