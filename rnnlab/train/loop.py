"""fit(): the training loop, with checkpoints, exact resume, torchrun, signals and NaN handling.

Exact resume: the checkpoint records the epoch, the batch within it, the step, the RNG state and the epoch's
running sums; each epoch's sample order is a function of (seed, epoch) alone. So on CPU a resumed run computes
exactly what an uninterrupted one would have. Rank 0 alone reports, logs and writes files.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch.utils.data.distributed import DistributedSampler

from rnnlab.cells import get_engine
from rnnlab.config import RunConfig, TrainConfig
from rnnlab.data import SequenceData, batches, load_sequences
from rnnlab.errors import Stopped, UserError
from rnnlab.model.classifier import build_model
from rnnlab.runs.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.runs.folder import MetricsLog, remove_stale_temporaries, write_config
from rnnlab.train.device import configure_torch, resolve_device
from rnnlab.train.distributed import DistInfo, all_reduce_sum, any_rank, init_distributed
from rnnlab.train.evaluation import EvalResult, evaluate
from rnnlab.train.optim import lr_at, make_optimizer, set_lr
from rnnlab.train.state import TrainState, payload, restore


class Reporter(Protocol):
    """What the loop tells the outside world (the CLI draws a progress bar from it)."""

    def start(self, total_steps: int, done_steps: int, description: str) -> None: ...
    def step(self, step: int, stats: dict[str, float]) -> None: ...
    def epoch(self, record: dict[str, Any]) -> None: ...
    def finish(self) -> None: ...


class NullReporter:
    def start(self, total_steps: int, done_steps: int, description: str) -> None: ...
    def step(self, step: int, stats: dict[str, float]) -> None: ...
    def epoch(self, record: dict[str, Any]) -> None: ...
    def finish(self) -> None: ...


class Interrupted(Stopped):
    """SIGINT/SIGTERM: a checkpoint was written and the run can be resumed."""

    def __init__(self, signame: str, run_dir: Path, step: int) -> None:
        resume = f"`rnnlab train --resume {run_dir}`"
        super().__init__(f"by {signame} at step {step}; checkpoint saved; continue with {resume}")
        self.exit_code = 143 if signame == "SIGTERM" else 130
        self.step = step


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    steps: int
    val: EvalResult
    test: EvalResult
    best_val_accuracy: float
    seconds: float
    history: list[dict[str, Any]]
    model: torch.nn.Module  # the trained model, as this process holds it


@contextlib.contextmanager
def stop_signals() -> Iterator[dict[str, str]]:
    """Turn SIGINT/SIGTERM into a flag the loop checks after each step (main thread only)."""
    caught: dict[str, str] = {}
    handler = lambda signum, frame: caught.setdefault("name", signal.Signals(signum).name)  # noqa: E731
    old = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield caught
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def fit(
    cfg: RunConfig,
    run_dir: Path,
    reporter: Reporter | None = None,
    resume: bool = False,
    data: SequenceData | None = None,
) -> TrainResult:
    tc = cfg.train
    device = resolve_device(tc.device)
    info = init_distributed(device.type)
    device = resolve_device(tc.device, info)
    reporter = reporter if reporter is not None and info.is_main else NullReporter()
    configure_torch(tc, device)
    get_engine(tc.engine, device)
    data = data or load_sequences(cfg.data)
    if data.input_size != cfg.model.input_size:
        raise UserError(
            f"the model reads {cfg.model.input_size} features per step but --sequence {cfg.data.sequence} "
            f"gives {data.input_size}; build the model config from the data (rnnlab train does)"
        )
    model = build_model(cfg.model, tc.engine, cfg.data.layout, seed=tc.seed).to(device)
    opt = make_optimizer(model.parameters(), tc)
    st = TrainState()
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(run_dir)
        if not resume:  # every run folder says what was trained, whoever called fit
            write_config(run_dir, cfg)
    log = MetricsLog(run_dir / "metrics.jsonl", enabled=info.is_main)
    torch.manual_seed(tc.seed + info.rank)  # dropout masks; parameters were seeded above
    if resume:
        restore(load_checkpoint(run_dir / "checkpoint.pt"), model, opt, st, device)
        log.truncate_after(st.step)
    net = torch.nn.parallel.DistributedDataParallel(model) if info.active else model

    x, y = data.train
    sampler = DistributedSampler(
        range(len(y)), num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=tc.seed
    )
    per_epoch = math.ceil(len(sampler) / tc.batch_size)
    total = min(tc.max_steps or 10**12, tc.epochs * per_epoch)

    def save(name: str = "checkpoint.pt") -> None:
        if info.is_main:
            save_checkpoint(run_dir / name, payload(cfg, model, opt, st, device, data.preprocessing))

    def score(split: str) -> EvalResult:
        xs, ys = getattr(data, split)
        lengths = data.lengths_of(split)
        return evaluate(model, xs, ys, tc.batch_size, cfg.data.layout, device, data.num_classes, info, tc.bf16, lengths)

    def validate(kind: str, seconds: float) -> dict[str, Any]:
        sums = all_reduce_sum(torch.tensor(st.epoch_sums, dtype=torch.float64, device=device), info).tolist()
        val = score("val")
        record = {
            "kind": kind,
            "epoch": st.epoch,
            "step": st.step,
            "train_loss": sums[0] / max(sums[2], 1),
            "train_accuracy": sums[1] / max(sums[2], 1),
            "val_loss": val.loss,
            "val_accuracy": val.accuracy,
            "seconds": seconds,
            "samples_per_s": sums[2] / seconds if seconds else 0.0,
            "skipped": st.skipped,
        }
        log.write(record)
        reporter.epoch(record)
        return record

    reporter.start(
        total, st.step, f"{cfg.model.cell} x{cfg.model.layers} on {cfg.data.dataset} ({tc.engine}, {device})"
    )
    began = time.perf_counter()
    # the rate's clock: when this process began the log window, and how many of its samples were done by then
    # (a resumed window already holds samples from before the interruption; they must not count as fast)
    window_clock = (began, st.window_sums[2])
    with stop_signals() as caught:
        while st.epoch < tc.epochs and st.step < total:
            sampler.set_epoch(st.epoch)
            order = torch.tensor(list(sampler))
            epoch_began = time.perf_counter()
            batch_iter = batches(
                x, y, tc.batch_size, cfg.data.layout, order, st.batch_in_epoch, device, data.lengths_of("train")
            )
            for xb, yb, lb in batch_iter:
                lr = lr_at(st.step, total, tc)
                set_lr(opt, lr)
                stop = _train_step(net, opt, xb, yb, lb, tc, info, device, st, "name" in caught)
                st.batch_in_epoch, st.step = st.batch_in_epoch + 1, st.step + 1
                stats = {"lr": lr, **_window_stats(st.window_sums, window_clock)}
                reporter.step(st.step, stats)
                if st.step % tc.log_every == 0:
                    log.write({"kind": "step", "epoch": st.epoch, "step": st.step, **stats})
                    st.window_sums, window_clock = [0.0, 0.0, 0.0], (time.perf_counter(), 0.0)
                if stop:
                    save()
                    raise Interrupted(caught.get("name", "SIGTERM"), run_dir, st.step)
                if tc.checkpoint_every and st.step % tc.checkpoint_every == 0:
                    save()
                if st.step >= total:
                    break
            if st.batch_in_epoch >= per_epoch:  # the epoch is complete
                record = validate("epoch", time.perf_counter() - epoch_began)
                st.epoch, st.batch_in_epoch, st.epoch_sums = st.epoch + 1, 0, [0.0, 0.0, 0.0]
                st.history.append(record)
                if record["val_accuracy"] > st.best_val_accuracy:
                    st.best_val_accuracy = record["val_accuracy"]
                    save("best.pt")
                save()
            else:  # stopped by --max-steps inside an epoch
                st.history.append(validate("final", time.perf_counter() - epoch_began))
                save()
    reporter.finish()
    val, test = score("val"), score("test")
    log.write(
        {"kind": "test", "epoch": st.epoch, "step": st.step, "test_loss": test.loss, "test_accuracy": test.accuracy}
    )
    if not (run_dir / "best.pt").exists():
        save("best.pt")
    seconds = time.perf_counter() - began
    return TrainResult(run_dir, st.step, val, test, st.best_val_accuracy, seconds, st.history, model)


def _train_step(
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    xb: torch.Tensor,
    yb: torch.Tensor,
    lb: torch.Tensor | None,
    tc: TrainConfig,
    info: DistInfo,
    device: torch.device,
    st: TrainState,
    stop_requested: bool,
) -> bool:
    """One optimiser step; adds the batch's loss sum, hits and samples to the epoch's and the log window's sums.

    Returns whether any rank asked to stop (a signal): that question rides on the same collective as the
    NaN check, so a step under torchrun makes one all-reduce besides DDP's own.
    """
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=tc.bf16):
        logits = net(xb, lb)
    loss = F.cross_entropy(logits.float(), yb)
    hits_t = (logits.argmax(1) == yb).sum()
    value, hits = torch.stack((loss.detach(), hits_t.to(loss.dtype))).tolist()  # one host sync for both
    nonfinite, stop = any_rank((not math.isfinite(value), stop_requested), info, device)
    if nonfinite:
        if tc.on_nan == "stop":
            raise UserError(
                f"the loss became {value} at step {st.step + 1}; stopped, the last good checkpoint is kept. "
                "Try a lower --lr or --clip 1.0, or --on-nan skip"
            )
        opt.zero_grad(set_to_none=True)
        st.skipped += 1
        return stop
    loss.backward()
    if tc.clip:
        torch.nn.utils.clip_grad_norm_(net.parameters(), tc.clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    stats = (value * len(yb), hits, float(len(yb)))
    st.epoch_sums = [a + b for a, b in zip(st.epoch_sums, stats)]
    st.window_sums = [a + b for a, b in zip(st.window_sums, stats)]
    return stop


def _window_stats(sums: list[float], clock: tuple[float, float]) -> dict[str, float]:
    n = max(sums[2], 1.0)
    began, samples_before = clock
    return {
        "loss": sums[0] / n,
        "accuracy": sums[1] / n,
        "samples_per_s": (sums[2] - samples_before) / max(time.perf_counter() - began, 1e-9),
    }
