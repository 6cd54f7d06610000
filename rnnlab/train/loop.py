"""fit(): the training loop, with checkpoints, exact resume, torchrun, signals, early stopping and NaN handling.

Exact resume: the checkpoint records the epoch, the batch within it, the step, the RNG state and the epoch's
running sums; each epoch's sample order is a function of (seed, epoch) alone. So on CPU a resumed run computes
exactly what an uninterrupted one would have. Rank 0 alone reports, logs and writes files, and it writes nothing
of a new run before the first step has been taken (runs.writer.RunWriter.begin).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data.distributed import DistributedSampler

import rnnlab.train.step as stepping
from rnnlab.cells import get_engine
from rnnlab.config import RunConfig
from rnnlab.data import SequenceData, batches, load_sequences
from rnnlab.errors import Stopped, UserError
from rnnlab.model.classifier import SequenceClassifier, build_model
from rnnlab.runs.checkpoint import config_of, load_checkpoint, load_weights, save_checkpoint
from rnnlab.runs.config_file import made_by
from rnnlab.runs.evaluation import EvalResult, evaluate
from rnnlab.runs.folder import RunFolder
from rnnlab.runs.loggers import check_loggers
from rnnlab.runs.writer import RunWriter
from rnnlab.runtime.device import configure_torch, resolve_device
from rnnlab.runtime.distributed import all_reduce_sum, init_distributed
from rnnlab.train.memory import check_fits, out_of_memory
from rnnlab.train.optim import lr_at, make_optimizer, set_lr
from rnnlab.train.results import Interrupted, NullReporter, Reporter, Scored, TrainResult, patience_spent
from rnnlab.train.signals import StopNow, ignoring_signals, stop_requests
from rnnlab.train.state import CHECKS, TrainState, expect, gather_rng_states, payload, restore

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
    """Train ``cfg`` into ``run_dir`` (``resume``: continue the run there from its checkpoint.pt); ``command``
    is recorded in every file it writes (default: this process's command line). A run already in ``run_dir`` is
    replaced only with ``force``, and only once the new one has taken its first step. ``epoch_figure`` draws
    the figure that loggers able to show one (TensorBoard) get at each epoch's end, e.g.
    ``rnnlab.look.epoch.epoch_figure``; without it they get none."""
    return Trainer(cfg, Path(run_dir), reporter, resume, data, command, force, epoch_figure).run()


class Trainer:
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
        tc = cfg.train
        self.epoch_figure = epoch_figure
        self.made_by = made_by(command)
        self.cfg, self.run_dir, self.resume = cfg, run_dir, resume
        self.folder = RunFolder(run_dir)
        self.info = init_distributed(resolve_device(tc.device).type)
        self.device = resolve_device(tc.device, self.info)
        self.reporter: Reporter = reporter if reporter is not None and self.info.is_main else NullReporter()
        configure_torch(tc, self.device)
        get_engine(tc.engine, self.device).check_model(cfg.model.cell, cfg.data.lengths == "random")
        check_fits(cfg, self.device)  # what needs the config alone is checked before the data loads
        check_loggers(tc.logger)
        self.data = data or load_sequences(cfg.data)
        if self.data.input_size != cfg.model.input_size:
            raise UserError(
                f"the model reads {cfg.model.input_size} features per step but --sequence {cfg.data.sequence} "
                f"gives {self.data.input_size}; build the model config from the data: "
                "rnnlab.model_for(data_config, ...)"
            )
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
        self.saved_step: int | None = None  # the step of the last checkpoint.pt on disk
        self.best: tuple[int, int, dict[str, torch.Tensor]] | None = None  # best.pt's epoch, step, state (on CPU)
        self.book = RunWriter(
            run_dir, cfg, self.made_by, self.info.is_main, self.reporter.notice, force, lambda: self.st.step
        )

    def _resume(self) -> None:
        """Continue the run in run_dir: its checkpoint back into the model, optimiser and state, its records noted."""
        self.book.open_resumed()
        ckpt_path = self.folder.checkpoint
        if not ckpt_path.is_file():
            raise UserError(
                f"--resume: {self.run_dir} has no checkpoint.pt yet (one is written at each epoch's end, or every "
                "N steps with --checkpoint-every); start the run again with --force"
            )
        ckpt = load_checkpoint(ckpt_path)
        config_of(ckpt)  # a damaged config inside it is named now, not met later
        processes = ckpt.get("world_size", 1)
        if processes != self.info.world_size:
            raise UserError(
                f"--resume: {self.run_dir} was trained by {processes} process(es), this is {self.info.world_size}; "
                f"resume it with --nproc {processes} (each process's place in an epoch depends on how many there are)"
            )
        restore(ckpt, self.model, self.opt, self.st, self.device, self.info.rank)
        self.saved_step = self.st.step
        if self.folder.best.is_file():
            try:
                best = load_checkpoint(self.folder.best)
            except UserError as exc:
                raise UserError(
                    f"{exc}. A resume carries best.pt on: move it aside to resume without it (the best so far is "
                    "then picked from the rest of the run)"
                ) from None
            epoch, step = (expect(best, key, *CHECKS[key]) for key in ("epoch", "step"))
            load_weights(copy.deepcopy(self.model), best.get("model", {}), best["path"])  # another model: say now
            self.best = (epoch, step, best["model"])
        st = self.st
        self._check_left_to_do()
        self.book.resuming_at(st.epoch, st.step)
        self.reporter.notice(
            f"resuming {self.run_dir} at epoch {st.epoch + 1}/{self.cfg.train.epochs}, batch {st.batch_in_epoch} "
            f"of {self.per_epoch}: step {st.step} of {self.total}"
        )

    def _check_left_to_do(self) -> None:
        """A resume with no step left (or a run --patience ended) would only score the test set again: refuse it,
        unless the run was stopped while scoring its last step (then scoring is what is left)."""
        st, tc = self.st, self.cfg.train
        spent = patience_spent(st.history, tc.patience)
        if spent and self.book.finished:
            raise UserError(
                f"--resume: {self.run_dir} {spent.split(':')[0]} (--patience {tc.patience}); to train on, give a "
                "larger --patience, or --patience 0 for none"
            )
        if st.step < self.total:
            return
        lowered = st.step > self.total or bool({"--epochs", "--max-steps"} & set(self.book.changes))
        if self.book.finished or lowered:
            done = "has finished" if self.book.finished else "has already trained"
            steps_bound = bool(tc.max_steps) and tc.max_steps < tc.epochs * self.per_epoch
            more = f"--max-steps above {st.step}" if steps_bound else f"--epochs above {st.epoch}"
            raise UserError(
                f"--resume: {self.run_dir} {done} {st.epoch} epoch(s), {st.step} steps; to train on, give {more}"
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
        """`lstm x2 on mnist (cudnn, cpu)`, naming the kernel variant of an engine that has several."""
        m, tc = self.cfg.model, self.cfg.train
        dtype = torch.bfloat16 if tc.bf16 else torch.float32
        engine = get_engine(tc.engine)
        variants = {engine.variant(m.cell, tc.batch_size, h, dtype, self.device) for h in set(m.hidden_sizes)}
        named = "; ".join(sorted(v for v in variants if v))
        how = f"{tc.engine}: {named}" if named else tc.engine
        return f"{m.cell} x{m.layers} on {self.cfg.data.dataset} ({how}, {self.device})"

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
                    self._resume()
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
                last, best = self._final_scores()
                result = TrainResult(
                    self.run_dir, self.st.step, first_step, trained, time.perf_counter() - scored_at,
                    list(self.st.history), self.model, last, best, stopped_early,
                )  # fmt: skip
                self.book.status("finished", stopped_early)
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
                self.book.note_end("failed", str(failure))
                raise failure from None
            except Interrupted as stop:
                with ignoring_signals():
                    self.book.note_end("stopped", str(stop))
                raise
            except Exception as exc:
                self.book.note_end("failed", str(exc) if isinstance(exc, UserError) else type(exc).__name__)
                raise
            except KeyboardInterrupt:  # where no handler of ours ran (not the main thread)
                self.book.note_end("stopped", "by SIGINT")
                raise
            finally:
                self.reporter.finish()
                self.book.close()

    def _train(self, stops: Any) -> str:
        """The epochs; returns why --patience stopped them ("" if it did not)."""
        tc, st, data = self.cfg.train, self.st, self.data
        x, y = data.train
        began = time.perf_counter()
        # the rate's clock: when this process began the log window, and how many of its samples were done by then
        # (a resumed window already holds samples from before the interruption; they must not count as fast)
        window_clock = (began, st.window_sums[2])
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
                if not self.book.begun:  # the first step is taken: only now does the run folder change
                    # a signal during the first step counts now (one process; ranks agree only through `stop`)
                    if stop or (stops.requested and not self.info.active):
                        raise Interrupted(
                            stops.name or "SIGTERM", "before the first step ended; nothing was written", st.step
                        )
                    self.book.begin()
                stats = {"lr": lr, **stepping.window_stats(st.window_sums, window_clock)}
                window = st.step % tc.log_every or tc.log_every  # steps the bar's loss averages
                self.reporter.step(st.step, {**stats, "epoch": st.epoch + 1, "window": window})
                if st.step % tc.log_every == 0:
                    self.book.log({"kind": "step", "epoch": st.epoch, "step": st.step, **stats})
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
                self.book.log(record)
                self.reporter.epoch(record, self._keep_if_best(record))
                self.save()
                if self.book.draws and self.epoch_figure is not None:
                    self.book.figure(self.epoch_figure(self.model, self.data), st.step)
                stopped_early = patience_spent(self.st.history, self.cfg.train.patience)
            else:  # stopped by --max-steps inside an epoch
                record = self.validate("final", time.perf_counter() - epoch_began)
                st.history.append(record)
                self.book.log(record)
                self.reporter.epoch(record, self._keep_if_best(record))
                self.save()
        if stopped_early:
            self.reporter.notice(stopped_early)
        return stopped_early

    def _keep_if_best(self, record: dict[str, Any]) -> bool:
        """best.pt is the parameters of the best validation, whether measured at an epoch's end or where
        --max-steps ended the run inside one."""
        st = self.st
        if not record["val_accuracy"] > st.best_val_accuracy:
            return False
        st.best_val_accuracy = record["val_accuracy"]
        self.save(best=True)
        state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        self.best = (st.epoch, st.step, state)
        return True

    def _final_scores(self) -> tuple[Scored, Scored]:
        """The last parameters and the best validation's, each on validation and test, logged as test records."""
        st = self.st
        last = Scored("last", st.epoch, st.step, self.score("val"), self.score("test"))
        if self.best is None:  # no epoch finished (--max-steps inside the first): best.pt is the last
            self.save(best=True)
            best = replace(last, which="best")
        elif self.best[1] == st.step:
            best = replace(last, which="best")
        else:
            model = copy.deepcopy(self.model)
            model.load_state_dict(self.best[2])
            best = Scored("best", self.best[0], self.best[1], self.score("val", model), self.score("test", model))
        for scored in (best, last):
            self.book.log({"kind": "test", "which": scored.which, "epoch": scored.epoch, "step": scored.step,
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
        elif not self.book.begun:
            detail = f"{how} before the first step; nothing was written"
        elif self.saved_step is None:
            detail = f"{how} at step {st.step}; no checkpoint had been written yet: start again with --force"
        else:
            kept = f"{how} at step {st.step}; the last checkpoint, of step {self.saved_step}, is kept"
            detail = self._resume_hint(kept)
        self.book.note_end("stopped", detail)
        return Interrupted(stop.signame, detail, st.step)
