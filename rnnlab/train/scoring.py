"""What the trainer measures: the validation record of each epoch, best.pt kept at the best of them, and the final
scores of the last and the best parameters on validation and test.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from rnnlab.runs.best import is_best
from rnnlab.runs.evaluation import EvalResult, evaluate
from rnnlab.runtime.distributed import all_reduce_sum
from rnnlab.train.results import Scored

if TYPE_CHECKING:
    from rnnlab.train.parts import TrainerParts


def score(t: TrainerParts, split: str, model: torch.nn.Module | None = None) -> EvalResult:
    """``split`` of the trainer's data under the model (or ``model``), in training's batches, over every rank."""
    xs, ys = getattr(t.data, split)
    tc, data = t.cfg.train, t.data
    return evaluate(
        model or t.model, xs, ys, tc.batch_size, t.cfg.data.layout, t.device, data.num_classes,
        t.info, tc.bf16, data.lengths_of(split),
    )  # fmt: skip


def validation_record(t: TrainerParts, kind: str, seconds: float) -> dict[str, Any]:
    """The metrics.jsonl record of an epoch (``kind`` epoch) or of where --max-steps ended one (final)."""
    st = t.st
    summed = all_reduce_sum(torch.tensor(st.epoch_sums, dtype=torch.float64, device=t.device), t.info)
    sums: list[float] = summed.tolist()
    val = score(t, "val")
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


def keep_if_best(t: TrainerParts, record: dict[str, Any]) -> bool:
    """best.pt is the parameters of the best validation (runs.best), whether measured at an epoch's end or where
    --max-steps ended the run inside one."""
    st = t.st
    if not is_best(record["val_accuracy"], st.best_val_accuracy):
        return False
    st.best_val_accuracy = record["val_accuracy"]
    t.save(best=True)
    state = {k: v.detach().to("cpu", copy=True) for k, v in t.model.state_dict().items()}
    t.best = (st.epoch, st.step, state)
    return True


def final_scores(t: TrainerParts) -> tuple[Scored, Scored]:
    """The last parameters and the best validation's, each on validation and test, logged as test records."""
    st = t.st
    last = Scored("last", st.epoch, st.step, score(t, "val"), score(t, "test"))
    if t.best is None:  # no epoch finished (--max-steps inside the first): best.pt is the last
        t.save(best=True)
        best = replace(last, which="best")
    elif t.best[1] == st.step:
        best = replace(last, which="best")
    else:
        model = copy.deepcopy(t.model)
        model.load_state_dict(t.best[2])
        best = Scored("best", t.best[0], t.best[1], score(t, "val", model), score(t, "test", model))
    for scored in (best, last):
        t.writer.log({"kind": "test", "which": scored.which, "epoch": scored.epoch, "step": scored.step,
                   "test_loss": scored.test.loss, "test_accuracy": scored.test.accuracy})  # fmt: skip
    return last, best
