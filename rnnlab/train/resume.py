"""--resume: a run's checkpoint.pt (and best.pt) back into the trainer, each value checked, and the check that the
run has steps left to train.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from rnnlab.errors import UserError
from rnnlab.runs.checkpoint import config_of, load_checkpoint, load_weights
from rnnlab.train.results import patience_spent
from rnnlab.train.state import CHECKS, expect, restore

if TYPE_CHECKING:
    from rnnlab.train.parts import TrainerParts


def resume_into(t: TrainerParts) -> None:
    """Continue the run in run_dir: its checkpoint back into the model, optimiser and state, its records noted."""
    t.writer.open_resumed()
    ckpt_path = t.folder.checkpoint
    if not ckpt_path.is_file():
        raise UserError(
            f"--resume: {t.run_dir} has no checkpoint.pt yet (one is written at each epoch's end, or every "
            "N steps with --checkpoint-every); start the run again with --force"
        )
    ckpt = load_checkpoint(ckpt_path)
    config_of(ckpt)  # a damaged config inside it is named now, not met later
    processes = ckpt.get("world_size", 1)
    if processes != t.info.world_size:
        raise UserError(
            f"--resume: {t.run_dir} was trained by {processes} process(es), this is {t.info.world_size}; "
            f"resume it with --nproc {processes} (each process's place in an epoch depends on how many there are)"
        )
    restore(ckpt, t.model, t.opt, t.st, t.device, t.info.rank)
    t.saved_step = t.st.step
    if t.folder.best.is_file():
        try:
            best = load_checkpoint(t.folder.best)
        except UserError as exc:
            raise UserError(
                f"{exc}. A resume carries best.pt on: move it aside to resume without it (the best so far is "
                "then picked from the rest of the run)"
            ) from None
        epoch, step = (expect(best, key, *CHECKS[key]) for key in ("epoch", "step"))
        load_weights(copy.deepcopy(t.model), best.get("model", {}), best["path"])  # another model: say now
        t.best = (epoch, step, best["model"])
    st = t.st
    _check_left_to_do(t)
    t.writer.resuming_at(st.epoch, st.step)
    t.reporter.notice(
        f"resuming {t.run_dir} at epoch {st.epoch + 1}/{t.cfg.train.epochs}, batch {st.batch_in_epoch} "
        f"of {t.per_epoch}: step {st.step} of {t.total}"
    )


def _check_left_to_do(t: TrainerParts) -> None:
    """A resume with no step left (or a run --patience ended) would only score the test set again: refuse it,
    unless the run was stopped while scoring its last step (then scoring is what is left)."""
    st, tc = t.st, t.cfg.train
    spent = patience_spent(st.history, tc.patience)
    if spent and t.writer.finished:
        raise UserError(
            f"--resume: {t.run_dir} {spent.split(':')[0]} (--patience {tc.patience}); to train on, give a "
            "larger --patience, or --patience 0 for none"
        )
    if st.step < t.total:
        return
    lowered = st.step > t.total or bool({"--epochs", "--max-steps"} & set(t.writer.changes))
    if t.writer.finished or lowered:
        done = "has finished" if t.writer.finished else "has already trained"
        steps_bound = bool(tc.max_steps) and tc.max_steps < tc.epochs * t.per_epoch
        more = f"--max-steps above {st.step}" if steps_bound else f"--epochs above {st.epoch}"
        raise UserError(f"--resume: {t.run_dir} {done} {st.epoch} epoch(s), {st.step} steps; to train on, give {more}")
