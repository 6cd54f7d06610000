"""fit(): the training loop, with checkpoints, exact resume, torchrun, signals, early stopping and NaN handling.

Exact resume: the checkpoint records the epoch, the batch within it, the step, the RNG state and the epoch's
running sums; each epoch's sample order is a function of (seed, epoch) alone. So on CPU a resumed run computes
exactly what an uninterrupted one would have. Rank 0 alone reports, logs and writes files, and it writes nothing
of a new run before the first step has been taken (runs.writer.RunWriter.begin).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

import rnnlab.train.step as stepping
from rnnlab.cells import get_engine
from rnnlab.config import RunConfig
from rnnlab.data import SequenceData, batches, load_sequences
from rnnlab.errors import Stopped, UserError
from rnnlab.model.classifier import SequenceClassifier, build_model
from rnnlab.runs.checkpoint import save_checkpoint
from rnnlab.runs.config_file import made_by
from rnnlab.runs.folder import RunFolder
from rnnlab.runs.loggers import check_loggers
from rnnlab.runs.writer import RunWriter
from rnnlab.runtime.device import configure_torch, resolve_device, training_threads
from rnnlab.runtime.distributed import init_distributed
from rnnlab.runtime.sharing import SharingWatch
from rnnlab.train.memory import check_fits, out_of_memory
from rnnlab.train.optim import lr_at, make_optimizer, set_lr
from rnnlab.train.parts import TrainerParts
from rnnlab.train.progress import ProgressBar
from rnnlab.train.results import Interrupted, NullReporter, Reporter, TrainResult, patience_spent
from rnnlab.train.resume import resume_into
from rnnlab.train.scoring import final_scores, keep_if_best, validation_record
from rnnlab.train.signals import StopNow, ignoring_signals, stop_requests
from rnnlab.train.state import TrainState, gather_rng_states, payload

EpochFigure = Callable[[SequenceClassifier, SequenceData], Any]  # the model as it stands, the data -> a figure


def fit(
    cfg: RunConfig,
    run_dir: Path,
    reporter: Reporter | None = None,
    resume: bool = False,
    data: SequenceData | None = None,
    command: str | None = None,
    force: bool = False,
    epoch_figure: EpochFigure | None = None,
) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (``resume``: continue the run there from its checkpoint.pt), showing a
    progress bar (``reporter``: what to tell instead; ``NullReporter()`` for nothing); ``command``
    is recorded in every file it writes (default: this process's command line). A run already in ``run_dir`` is
    replaced only with ``force``, and only once the new one has taken its first step. ``epoch_figure`` draws
    the figure that loggers able to show one (TensorBoard) get at each epoch's end, e.g.
    ``rnnlab.look.epoch.epoch_figure``; without it they get none."""
    shown = ProgressBar() if reporter is None else reporter
    threads = torch.get_num_threads()  # the process's, given back: a notebook's next cell keeps its own
    try:
        try:
            trainer = Trainer(cfg, Path(run_dir), shown, resume, data, command, force, epoch_figure)
        except BaseException:
            shown.finish()  # what it was doing when it failed is no longer shown
            raise
        return trainer.run()
    finally:
        torch.set_num_threads(threads)


class Trainer(TrainerParts):
    def __init__(
        self,
        cfg: RunConfig,
        run_dir: Path,
        reporter: Reporter | None,
        resume: bool,
        data: SequenceData | None,
        command: str | None,
        force: bool,
        epoch_figure: EpochFigure | None = None,
    ) -> None:
        tc, rt = cfg.train, cfg.runtime
        self.epoch_figure = epoch_figure
        self.made_by = made_by(command)
        self.cfg, self.run_dir, self.resume = cfg, run_dir, resume
        self.folder = RunFolder(run_dir)
        self.info = init_distributed(resolve_device(rt.device).type)
        self.device = resolve_device(rt.device, self.info)
        self.reporter: Reporter = reporter if reporter is not None and self.info.is_main else NullReporter()
        small = training_threads(cfg.model.cell, tc.batch_size, max(cfg.model.hidden_sizes))
        configure_torch(rt, self.device, small if self.device.type == "cpu" else 0)
        engine = get_engine(rt.engine, self.device)
        engine.check_model(cfg.model.cell, cfg.data.lengths == "random", cfg.model.regularisers)
        if tc.bf16 and self.device.type == "cpu":  # a GPU's bf16 is checked by scripts/gpu_check.py (command B)
            engine.check_bf16(cfg.model.cell, self.device)
        check_fits(cfg, self.device)  # what needs the config alone is checked before the data loads
        check_loggers(tc.logger)
        if data is None:
            self.reporter.doing(f"reading {cfg.data.dataset}")
        self.data = data or load_sequences(cfg.data)
        self.reporter.doing("building the model")
        if self.data.input_size != cfg.model.input_size:
            raise UserError(
                f"the model reads {cfg.model.input_size} features per step but --sequence {cfg.data.sequence} "
                f"gives {self.data.input_size}; build the model config from the data: "
                "rnnlab.model_for(data_config, ...)"
            )
        with out_of_memory(self.device):
            self.model = build_model(cfg.model, rt.engine, cfg.data.layout, seed=tc.seed).to(self.device)
        self.opt = make_optimizer(self.model.parameters(), tc)
        torch.manual_seed(tc.seed + self.info.rank)  # dropout masks; the parameters were seeded on their own
        self.st = TrainState()
        self.net = torch.nn.parallel.DistributedDataParallel(self.model) if self.info.active else self.model
        samples = cast("Dataset[int]", range(len(self.data.train[1])))  # a sampler reads only its len()
        self.sampler: DistributedSampler[int] = DistributedSampler(
            samples, self.info.world_size, self.info.rank, shuffle=True, seed=tc.seed
        )
        self.per_epoch = math.ceil(len(self.sampler) / tc.batch_size)
        self.total = min(tc.max_steps or 10**12, tc.epochs * self.per_epoch)
        self.saved_step: int | None = None  # the step of the last checkpoint.pt on disk
        self.best: tuple[int, int, dict[str, torch.Tensor]] | None = None  # best.pt's epoch, step, state (on CPU)
        self.writer = RunWriter(
            run_dir, cfg, self.made_by, self.info.is_main, self.reporter.notice, force, lambda: self.st.step
        )

    def save(self, best: bool = False) -> None:
        """checkpoint.pt, or best.pt with ``best``."""
        rngs = gather_rng_states(self.info, self.device)  # every rank's, so a resume draws what each would have
        if self.info.is_main:
            body = payload(self.cfg, self.model, self.opt, self.st, rngs, self.data.preprocessing)
            path = self.folder.best if best else self.folder.checkpoint
            save_checkpoint(path, {**body, "made_by": self.made_by, "world_size": self.info.world_size})
        if not best:
            self.saved_step = self.st.step

    # ---- training ---------------------------------------------------------------------------------------------------

    def _describe(self) -> str:
        """`lstm x2 on mnist (cudnn, cpu, 2 threads)`, naming the kernel variant of an engine that has several."""
        m, tc = self.cfg.model, self.cfg.train
        dtype = torch.bfloat16 if tc.bf16 else torch.float32
        engine = get_engine(self.cfg.runtime.engine)
        variants = {engine.variant(m.cell, tc.batch_size, h, dtype, self.device) for h in set(m.hidden_sizes)}
        named = "; ".join(sorted(v for v in variants if v))
        how = f"{engine.name}: {named}" if named else engine.name
        n = torch.get_num_threads()
        where = f"{self.device}, {n} thread{'s' if n != 1 else ''}" if self.device.type == "cpu" else str(self.device)
        return f"{m.cell} x{m.layers} on {self.cfg.data.dataset} ({how}, {where})"

    def run(self) -> TrainResult:
        began = time.perf_counter()
        first_step = self.st.step
        with stop_requests(self.reporter.notice) as stops:
            try:
                if self.resume:
                    self.reporter.doing(f"restoring {self.folder.checkpoint}")
                    resume_into(self)
                    first_step = self.st.step
                self.reporter.start(self.total, self.st.step, self.cfg.train.epochs, self._describe())
                stopped_early = self._train(stops)
                if stops.requested:  # it came after the last step's check (during the last validation)
                    hint = f"after the last step; checkpoint.pt holds all {self.st.step} steps: score it with"
                    raise Interrupted(stops.name or "SIGTERM", f"{hint} `rnnlab eval {self.run_dir}`", self.st.step)
                trained = time.perf_counter() - began
                stops.phase = "final"
                self.reporter.finish()
                scored_at = time.perf_counter()
                last, best = final_scores(self)
                result = TrainResult(
                    self.run_dir, self.st.step, first_step, trained, time.perf_counter() - scored_at,
                    list(self.st.history), self.model, last, best, stopped_early,
                )  # fmt: skip
                self.writer.status("finished", stopped_early)
                return result
            except StopNow as stop:
                with ignoring_signals():
                    raise self._stopped_now(stop, stops.phase) from None
            except stepping.NonFiniteLoss as exc:
                kept = (
                    f"checkpoint.pt (step {self.saved_step}) is kept"
                    if self.saved_step is not None
                    else "no checkpoint had been written yet"
                )
                failure = UserError(f"{exc}; stopped, {kept}. Try a lower --lr or --clip 1.0, or --on-nan skip")
                self.writer.note_end("failed", str(failure))
                raise failure from None
            except Interrupted as stop:
                with ignoring_signals():
                    self.writer.note_end("stopped", str(stop))
                raise
            except Exception as exc:
                self.writer.note_end("failed", str(exc) if isinstance(exc, UserError) else type(exc).__name__)
                raise
            except KeyboardInterrupt:  # where no handler of ours ran (not the main thread)
                self.writer.note_end("stopped", "by SIGINT")
                raise
            finally:
                self.reporter.finish()
                self.writer.close()

    def _train(self, stops: Any) -> str:
        """The epochs; returns why --patience stopped them ("" if it did not)."""
        tc, st, data = self.cfg.train, self.st, self.data
        x, y = data.train
        began = time.perf_counter()
        # the rate's clock: when this process began the log window, and how many of its samples were done by then
        # (a resumed window already holds samples from before the interruption; they must not count as fast)
        window_clock = (began, st.window_sums[2])
        sharing = SharingWatch(torch.get_num_threads()) if self.device.type == "cpu" else None
        stopped_early = patience_spent(self.st.history, self.cfg.train.patience)
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
                if not self.writer.begun:  # the first step is taken: only now does the run folder change
                    # a signal during the first step counts now (one process; ranks agree only through `stop`)
                    if stop or (stops.requested and not self.info.active):
                        raise Interrupted(
                            stops.name or "SIGTERM", "before the first step ended; nothing was written", st.step
                        )
                    self.writer.begin()
                stats = {"lr": lr, **stepping.window_stats(st.window_sums, window_clock)}
                window = st.step % tc.log_every or tc.log_every  # steps the bar's loss averages
                self.reporter.step(st.step, {**stats, "epoch": st.epoch + 1, "window": window})
                if sharing is not None and (busy := sharing.check()):
                    self.reporter.notice(busy)
                if st.step % tc.log_every == 0:
                    self.writer.log({"kind": "step", "epoch": st.epoch, "step": st.step, **stats})
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
                record = validation_record(self, "epoch", time.perf_counter() - epoch_began)
                st.epoch, st.batch_in_epoch, st.epoch_sums = st.epoch + 1, 0, [0.0, 0.0, 0.0]
                st.history.append(record)
                self.writer.log(record)
                self.reporter.epoch(record, keep_if_best(self, record))
                self.save()
                if self.writer.draws and self.epoch_figure is not None:
                    self.writer.figure(self.epoch_figure(self.model, self.data), st.step)
                stopped_early = patience_spent(self.st.history, self.cfg.train.patience)
            else:  # stopped by --max-steps inside an epoch
                record = validation_record(self, "final", time.perf_counter() - epoch_began)
                st.history.append(record)
                self.writer.log(record)
                self.reporter.epoch(record, keep_if_best(self, record))
                self.save()
        if stopped_early:
            self.reporter.notice(stopped_early)
        return stopped_early

    def _resume_hint(self, what: str) -> str:
        return f"{what}; continue with `rnnlab train --resume {self.run_dir}`"

    def _stopped_now(self, stop: StopNow, phase: str) -> Stopped:
        st, how = self.st, f"({'a second signal' if stop.second else 'stop now'})"
        if phase == "final":
            detail = (
                f"during the final evaluation; checkpoint.pt holds all {st.step} steps: score it with "
                f"`rnnlab eval {self.run_dir}`"
            )
        elif not self.writer.begun:
            detail = f"{how} before the first step; nothing was written"
        elif self.saved_step is None:
            detail = f"{how} at step {st.step}; no checkpoint had been written yet: start again with --force"
        else:
            kept = f"{how} at step {st.step}; the last checkpoint, of step {self.saved_step}, is kept"
            detail = self._resume_hint(kept)
        self.writer.note_end("stopped", detail)
        return Interrupted(stop.signame, detail, st.step)
