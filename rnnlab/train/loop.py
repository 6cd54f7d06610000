"""fit(): the training loop, with checkpoints, exact resume, torchrun, signals, early stopping and NaN handling.

Exact resume: the checkpoint records the epoch, the batch within it, the step, the RNG state and the epoch's
running sums; each epoch's sample order is a function of (seed, epoch) alone. So on CPU a resumed run computes
exactly what an uninterrupted one would have. Rank 0 alone reports, logs and writes files, and it writes nothing
of a new run before the first step has been taken (runs.folder.begin_run).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data.distributed import DistributedSampler

import rnnlab.train.step as stepping
from rnnlab.cells import get_engine
from rnnlab.config import RunConfig, flag_of, flagged_fields
from rnnlab.config.run import SECTIONS
from rnnlab.data import SequenceData, batches, load_sequences
from rnnlab.errors import Stopped, UserError, flag_name
from rnnlab.model.classifier import build_model
from rnnlab.runs.checkpoint import config_of, load_checkpoint, save_checkpoint
from rnnlab.runs.config_file import RunFile, made_by, now, read_run_file, state_of, write_run_file
from rnnlab.runs.folder import begin_run, remove_stale_temporaries
from rnnlab.runs.metrics import MetricsLog
from rnnlab.train.device import configure_torch, resolve_device
from rnnlab.train.distributed import all_reduce_sum, init_distributed
from rnnlab.train.evaluation import EvalResult, evaluate
from rnnlab.train.loggers import check_loggers, epoch_figure, make_loggers
from rnnlab.train.memory import check_fits, out_of_memory
from rnnlab.train.optim import lr_at, make_optimizer, set_lr
from rnnlab.train.signals import StopNow, ignoring_signals, stop_requests
from rnnlab.train.state import TrainState, payload, restore


class Reporter(Protocol):
    """What the loop tells the outside world (the CLI draws a progress bar from it)."""

    def start(self, total_steps: int, done_steps: int, epochs: int, description: str) -> None: ...
    def step(self, step: int, stats: dict[str, float]) -> None: ...
    def epoch(self, record: dict[str, Any], new_best: bool) -> None: ...
    def notice(self, message: str) -> None: ...
    def finish(self) -> None: ...


class NullReporter:
    def start(self, total_steps: int, done_steps: int, epochs: int, description: str) -> None: ...
    def step(self, step: int, stats: dict[str, float]) -> None: ...
    def epoch(self, record: dict[str, Any], new_best: bool) -> None: ...
    def notice(self, message: str) -> None: ...
    def finish(self) -> None: ...


class Interrupted(Stopped):
    """SIGINT/SIGTERM stopped the run; the message says what was kept and how to go on."""

    def __init__(self, signame: str, detail: str, step: int) -> None:
        super().__init__(f"by {signame} {detail}")
        self.exit_code = 143 if signame == "SIGTERM" else 130
        self.step = step


@dataclass(frozen=True)
class Scored:
    """A set of parameters and what it scores: the last (checkpoint.pt) or the best validation's (best.pt)."""

    which: str  # "last" or "best"
    epoch: int  # epochs completed when they were saved
    step: int
    val: EvalResult
    test: EvalResult


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    steps: int
    first_step: int  # the step this session began at (0, or where it resumed)
    seconds: float  # training in this session, per-epoch validation included
    eval_seconds: float  # the final scoring of the last and the best parameters
    history: list[dict[str, Any]]
    model: torch.nn.Module  # the trained model, as this process holds it
    last: Scored
    best: Scored
    stopped_early: str = ""  # why --patience ended the run, if it did

    @property
    def val(self) -> EvalResult:
        return self.last.val

    @property
    def test(self) -> EvalResult:
        return self.last.test

    @property
    def best_val_accuracy(self) -> float:
        return self.best.val.accuracy


def fit(
    cfg: RunConfig,
    run_dir: Path,
    reporter: Reporter | None = None,
    resume: bool = False,
    data: SequenceData | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (``resume``: continue the run there from its checkpoint.pt); ``command``
    is recorded in every file it writes (default: this process's command line)."""
    return Trainer(cfg, Path(run_dir), reporter, resume, data, command).run()


class Trainer:
    def __init__(
        self,
        cfg: RunConfig,
        run_dir: Path,
        reporter: Reporter | None,
        resume: bool,
        data: SequenceData | None,
        command: str | None,
    ) -> None:
        tc = cfg.train
        self.made_by = made_by(command)
        self.cfg, self.run_dir, self.resume = cfg, run_dir, resume
        self.info = init_distributed(resolve_device(tc.device).type)
        self.device = resolve_device(tc.device, self.info)
        self.reporter: Reporter = reporter if reporter is not None and self.info.is_main else NullReporter()
        configure_torch(tc, self.device)
        get_engine(tc.engine, self.device)
        self.data = data or load_sequences(cfg.data)
        if self.data.input_size != cfg.model.input_size:
            raise UserError(
                f"the model reads {cfg.model.input_size} features per step but --sequence {cfg.data.sequence} "
                f"gives {self.data.input_size}; build the model config from the data (rnnlab train does)"
            )
        check_fits(cfg, self.device)
        check_loggers(tc.logger)
        with out_of_memory(self.device):
            self.model = build_model(cfg.model, tc.engine, cfg.data.layout, seed=tc.seed).to(self.device)
        self.opt = make_optimizer(self.model.parameters(), tc)
        torch.manual_seed(tc.seed + self.info.rank)  # dropout masks; the parameters were seeded on their own
        self.st = TrainState()
        self.net = torch.nn.parallel.DistributedDataParallel(self.model) if self.info.active else self.model
        self.sampler = DistributedSampler(
            range(len(self.data.train[1])), self.info.world_size, self.info.rank, shuffle=True, seed=tc.seed
        )
        self.per_epoch = math.ceil(len(self.sampler) / tc.batch_size)
        self.total = min(tc.max_steps or 10**12, tc.epochs * self.per_epoch)
        self.begun = False  # whether the run folder exists for this run (a new one: after its first step)
        self.saved_step: int | None = None  # the step of the last checkpoint.pt on disk
        self.best: tuple[int, int, dict[str, torch.Tensor]] | None = None  # (epoch, step, state) of best.pt
        self.log = MetricsLog(run_dir / "metrics.jsonl", enabled=self.info.is_main)
        self.loggers: list[Any] = []
        self.record: RunFile | None = None

    # ---- the run folder -------------------------------------------------------------------------------------------

    def _write_status(self, state: str, detail: str = "") -> None:
        if self.info.is_main and self.begun and self.record is not None:
            self.record = self.record.with_status(state, detail)
            write_run_file(self.run_dir, self.record)

    def _note_end(self, state: str, detail: str) -> None:
        """The status of a run that ends badly; the error that ended it is what the user must see, so a status
        that cannot be written (the disk that just filled up) gives way to it."""
        with contextlib.suppress(UserError):
            self._write_status(state, detail)

    def _begin_new(self) -> None:
        """After the first step: only now does the run folder (and a run it replaces) change."""
        if self.info.is_main:
            begin_run(self.run_dir)
            self.record = RunFile(self.cfg, self.made_by)
        self.begun = True
        self._write_status("running")
        self._open_loggers(None)

    def _open_resumed(self) -> None:
        if self.info.is_main:
            self.record = read_run_file(self.run_dir, "--resume")
            state = state_of(self.record)
            if state == "running":
                owner = f"process {self.record.status.get('pid')} on {self.record.status.get('host')}"
                raise UserError(f"--resume: {self.run_dir} is being trained right now by {owner}; stop that first")
            changes = config_changes(self.record.config, self.cfg)
        ckpt_path = self.run_dir / "checkpoint.pt"
        if not ckpt_path.is_file():
            raise UserError(
                f"--resume: {self.run_dir} has no checkpoint.pt yet (one is written at each epoch's end, or every "
                "N steps with --checkpoint-every); start the run again with --force"
            )
        ckpt = load_checkpoint(ckpt_path)
        config_of(ckpt)  # a damaged config inside it is named now, not met later
        restore(ckpt, self.model, self.opt, self.st, self.device)
        self.saved_step = self.st.step
        best = self.run_dir / "best.pt"
        if best.is_file():
            ckpt = load_checkpoint(best)
            self.best = (ckpt["epoch"], ckpt["step"], ckpt["model"])
        if self.info.is_main:
            remove_stale_temporaries(self.run_dir)
            for damage in self.log.keep_up_to(self.st.step):
                self.reporter.notice(f"{damage.describe(self.log.path)}: dropped")
            resumes = [*self.record.resumes, {"at": now(), "epoch": self.st.epoch, "step": self.st.step,
                                              "changes": changes, "made_by": self.made_by}]  # fmt: skip
            self.record = replace(self.record, config=self.cfg, resumes=resumes)
        self.begun = True
        self._write_status("running")
        self._open_loggers(self.st.step)
        st = self.st
        self.reporter.notice(
            f"resuming {self.run_dir} at epoch {st.epoch + 1}/{self.cfg.train.epochs}, batch {st.batch_in_epoch} "
            f"of {self.per_epoch}: step {st.step} of {self.total}"
        )

    def _open_loggers(self, resume_step: int | None) -> None:
        if self.info.is_main:
            self.loggers = make_loggers(self.cfg.train.logger, self.run_dir, resume_step)

    def _log(self, record: dict[str, Any]) -> None:
        self.log.write(record)
        for logger in self.loggers:
            logger.record(record)

    def save(self, name: str = "checkpoint.pt") -> None:
        if self.info.is_main:
            body = payload(self.cfg, self.model, self.opt, self.st, self.device, self.data.preprocessing)
            save_checkpoint(self.run_dir / name, {**body, "made_by": self.made_by})
        if name == "checkpoint.pt":
            self.saved_step = self.st.step

    # ---- training ---------------------------------------------------------------------------------------------------

    def score(self, split: str, model: torch.nn.Module | None = None) -> EvalResult:
        xs, ys = getattr(self.data, split)
        tc, data = self.cfg.train, self.data
        return evaluate(
            model or self.model, xs, ys, tc.batch_size, self.cfg.data.layout, self.device, data.num_classes,
            self.info, tc.bf16, data.lengths_of(split),
        )  # fmt: skip

    def validate(self, kind: str, seconds: float) -> dict[str, Any]:
        st = self.st
        sums = all_reduce_sum(torch.tensor(st.epoch_sums, dtype=torch.float64, device=self.device), self.info)
        sums = sums.tolist()
        val = self.score("val")
        return {
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

    def run(self) -> TrainResult:
        began = time.perf_counter()
        first_step = self.st.step
        with stop_requests(self.reporter.notice) as stops:
            try:
                if self.resume:
                    self._open_resumed()
                    first_step = self.st.step
                desc = f"{self.cfg.model.cell} x{self.cfg.model.layers} on {self.cfg.data.dataset}"
                self.reporter.start(
                    self.total, self.st.step, self.cfg.train.epochs, f"{desc} ({self.cfg.train.engine}, {self.device})"
                )
                stopped_early = self._train(stops)
                trained = time.perf_counter() - began
                stops.phase = "final"
                self.reporter.finish()
                scored_at = time.perf_counter()
                last, best = self._final_scores()
                result = TrainResult(
                    self.run_dir, self.st.step, first_step, trained, time.perf_counter() - scored_at,
                    list(self.st.history), self.model, last, best, stopped_early,
                )  # fmt: skip
                self._write_status("finished", stopped_early)
                return result
            except StopNow as stop:
                with ignoring_signals():
                    raise self._stopped_now(stop, stops.phase) from None
            except Interrupted as stop:
                with ignoring_signals():
                    self._note_end("stopped", str(stop))
                raise
            except Exception as exc:
                self._note_end("failed", str(exc) if isinstance(exc, UserError) else type(exc).__name__)
                raise
            except KeyboardInterrupt:  # where no handler of ours ran (not the main thread)
                self._note_end("stopped", "by SIGINT")
                raise
            finally:
                self.reporter.finish()
                for logger in self.loggers:
                    logger.close()

    def _train(self, stops: Any) -> str:
        """The epochs; returns why --patience stopped them ("" if it did not)."""
        tc, st, data = self.cfg.train, self.st, self.data
        x, y = data.train
        began = time.perf_counter()
        # the rate's clock: when this process began the log window, and how many of its samples were done by then
        # (a resumed window already holds samples from before the interruption; they must not count as fast)
        window_clock = (began, st.window_sums[2])
        stopped_early = self._patience_spent()
        while st.epoch < tc.epochs and st.step < self.total and not stopped_early:
            self.sampler.set_epoch(st.epoch)
            order = torch.tensor(list(self.sampler))
            epoch_began = time.perf_counter()
            lengths = data.lengths_of("train")
            batch_iter = batches(
                x, y, tc.batch_size, self.cfg.data.layout, order, st.batch_in_epoch, self.device, lengths
            )
            for xb, yb, lb in batch_iter:
                lr = lr_at(st.step, self.total, tc)
                set_lr(self.opt, lr)
                with out_of_memory(self.device):
                    stop = stepping.train_step(
                        self.net, self.opt, xb, yb, lb, tc, self.info, self.device, st, stops.requested
                    )
                st.batch_in_epoch, st.step = st.batch_in_epoch + 1, st.step + 1
                if not self.begun:
                    self._begin_new()
                stats = {"lr": lr, **stepping.window_stats(st.window_sums, window_clock)}
                window = st.step % tc.log_every or tc.log_every  # steps the bar's loss averages
                self.reporter.step(st.step, {**stats, "epoch": st.epoch + 1, "window": window})
                if st.step % tc.log_every == 0:
                    self._log({"kind": "step", "epoch": st.epoch, "step": st.step, **stats})
                    st.window_sums, window_clock = [0.0, 0.0, 0.0], (time.perf_counter(), 0.0)
                if stop:
                    self.save()
                    hint = self._resume_hint(f"at step {st.step}; checkpoint saved")
                    raise Interrupted(stops.name or "SIGTERM", hint, st.step)
                if tc.checkpoint_every and st.step % tc.checkpoint_every == 0:
                    self.save()
                if st.step >= self.total:
                    break
            if st.batch_in_epoch >= self.per_epoch:  # the epoch is complete
                record = self.validate("epoch", time.perf_counter() - epoch_began)
                st.epoch, st.batch_in_epoch, st.epoch_sums = st.epoch + 1, 0, [0.0, 0.0, 0.0]
                st.history.append(record)
                self._log(record)
                new_best = record["val_accuracy"] > st.best_val_accuracy
                if new_best:
                    st.best_val_accuracy = record["val_accuracy"]
                    self.save("best.pt")
                    state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                    self.best = (st.epoch, st.step, state)
                self.reporter.epoch(record, new_best)
                self.save()
                if any(logger.draws for logger in self.loggers):
                    figure = epoch_figure(self.model, self.data)
                    for logger in self.loggers:
                        logger.figure("validation sample 0: P(class) after each step", figure, st.step)
                stopped_early = self._patience_spent()
            else:  # stopped by --max-steps inside an epoch
                record = self.validate("final", time.perf_counter() - epoch_began)
                st.history.append(record)
                self._log(record)
                self.reporter.epoch(record, False)
                self.save()
        if stopped_early:
            self.reporter.notice(stopped_early)
        return stopped_early

    def _patience_spent(self) -> str:
        patience, epochs = self.cfg.train.patience, [r for r in self.st.history if r["kind"] == "epoch"]
        if not patience or not epochs:
            return ""
        best = max(range(len(epochs)), key=lambda k: (epochs[k]["val_accuracy"], -k))
        waited = len(epochs) - 1 - best
        if waited < patience:
            return ""
        best_acc = 100 * epochs[best]["val_accuracy"]
        return (
            f"stopped early after epoch {len(epochs)}: validation accuracy has not improved for {waited} epochs "
            f"(--patience {patience}); the best, {best_acc:.2f}% after epoch {best + 1}, is in best.pt"
        )

    def _final_scores(self) -> tuple[Scored, Scored]:
        """The last parameters and the best validation's, each on validation and test, logged as test records."""
        st = self.st
        last = Scored("last", st.epoch, st.step, self.score("val"), self.score("test"))
        if self.best is None:  # no epoch finished (--max-steps inside the first): best.pt is the last
            self.save("best.pt")
            best = replace(last, which="best")
        elif self.best[1] == st.step:
            best = replace(last, which="best")
        else:
            model = copy.deepcopy(self.model)
            model.load_state_dict(self.best[2])
            best = Scored("best", self.best[0], self.best[1], self.score("val", model), self.score("test", model))
        for scored in (best, last):
            self._log({"kind": "test", "which": scored.which, "epoch": scored.epoch, "step": scored.step,
                       "test_loss": scored.test.loss, "test_accuracy": scored.test.accuracy})  # fmt: skip
        return last, best

    def _resume_hint(self, what: str) -> str:
        return f"{what}; continue with `rnnlab train --resume {self.run_dir}`"

    def _stopped_now(self, stop: StopNow, phase: str) -> Stopped:
        st, how = self.st, f"({'a second signal' if stop.second else 'stop now'})"
        if phase == "final":
            detail = (
                f"during the final evaluation; checkpoint.pt holds all {st.step} steps: score it with "
                f"`rnnlab eval {self.run_dir}`"
            )
        elif not self.begun:
            detail = f"{how} before the first step; nothing was written"
        elif self.saved_step is None:
            detail = f"{how} at step {st.step}; no checkpoint had been written yet: start again with --force"
        else:
            kept = f"{how} at step {st.step}; the last checkpoint, of step {self.saved_step}, is kept"
            detail = self._resume_hint(kept)
        self._note_end("stopped", detail)
        return Interrupted(stop.signame, detail, st.step)


def config_changes(old: RunConfig, new: RunConfig) -> dict[str, list[Any]]:
    """What a resume changes, as {"--flag": [old, new]}; a change no running run can take is refused."""
    changes, refused = {}, []
    for section, cls in SECTIONS.items():
        for f in flagged_fields(cls):
            before, after = getattr(getattr(old, section), f.name), getattr(getattr(new, section), f.name)
            if before == after:
                continue
            changes[flag_name(f.name)] = [_plain(before), _plain(after)]
            if not flag_of(f).resumable:
                refused.append(flag_name(f.name))
    if refused:
        raise UserError(f"--resume: {', '.join(refused)} cannot change for a run in progress; start a new run instead")
    return changes


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
