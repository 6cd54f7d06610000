"""Proof that an exported file is the same model: the file in its own runtime (onnxruntime, torch.export.load, a
fresh model from the safetensors file) against the run's model, on the run's test set where its data is at hand,
else on a sample of random images; every sample once, in batches of 1, 7 and up to ``batch_size`` (the batch axis
is dynamic).

The same model means the same prediction for every sample and logits within float32 rounding (torch.testing's
float32 tolerance: |diff| <= 1e-5 + 1.3e-6 |logit|). The accuracy is reported beside `rnnlab eval`'s on the same
samples.
Legend: N samples, T time steps, I input features, C classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from rnnlab.data import SequenceData, load_sequences
from rnnlab.data.sets import dataset_at_hand
from rnnlab.errors import UserError
from rnnlab.export.formats import Format
from rnnlab.export.plain import PlainClassifier
from rnnlab.runs.run import Run

ATOL, RTOL = 1e-5, 1.3e-6  # torch.testing.assert_close's float32 tolerance
SAMPLE = 64  # random images where the data is absent


@dataclass(frozen=True)
class CheckResult:
    runtime: str  # what ran the file
    where: str  # "the test set" or "a sample of 64 random images"
    samples: int
    batches: tuple[int, ...]  # the distinct batch sizes run
    max_diff: float  # the largest |logit difference|
    out_of_tolerance: int  # logits beyond float32 rounding, NaN or infinite ones included
    nonfinite: int  # the file's logits that are NaN or infinite
    differing: int  # samples whose prediction differs
    accuracy: float | None  # the exported file's, where there are labels
    eval_accuracy: float | None  # rnnlab eval's, on the same samples
    plain_accuracy: float | None = None  # a zoneout model's weights in PyTorch's own layers (another model)

    @property
    def same(self) -> bool:
        return self.differing == 0 and self.out_of_tolerance == 0 and self.nonfinite == 0

    def summary(self) -> str:
        """'onnxruntime on the test set (360 samples, batches of 1, 7, 352): max |logit diff| 2.4e-07, all 360
        predictions the same'."""
        batches = ", ".join(map(str, self.batches))
        verdict = (
            f"all {self.samples:,} predictions the same"
            if self.differing == 0
            else f"{self.differing:,} of {self.samples:,} predictions differ"
        )
        tolerance = "" if not self.out_of_tolerance else f", {self.out_of_tolerance:,} logits beyond float32 rounding"
        if self.nonfinite:
            tolerance += f" ({self.nonfinite:,} NaN or infinite)"
        return (
            f"{self.runtime} on {self.where} ({self.samples:,} samples, batches of {batches}): max |logit diff| "
            f"{self.max_diff:.2e}{tolerance}, {verdict}"
        )


def sizes(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of batches covering n samples: 1, then 7, then up to ``batch_size`` each."""
    start = 0
    for size in (1, 7):
        if start < n:
            yield start, min(start + size, n)
            start = min(start + size, n)
    while start < n:
        yield start, min(start + batch_size, n)
        start += batch_size


def check_inputs(run: Run, data_dir: str | None) -> tuple[Tensor, SequenceData | None, str]:
    """(x (N, T, I), the data they are the test set of or None, where they come from): the test set at full
    length, or random images."""
    cfg = run.config.data
    where = data_dir or cfg.data_dir
    if dataset_at_hand(cfg.dataset, where):
        data = load_sequences(replace(cfg, data_dir=where, lengths="full", train_subset=0))
        return data.test[0], data, "the test set" + (" at full length" if cfg.lengths != "full" else "")
    images = torch.rand((SAMPLE, *run.preprocessing.image_size), generator=torch.Generator().manual_seed(0))
    return run.preprocessing.to_sequences(images), None, f"a sample of {SAMPLE} random images ({cfg.dataset} absent)"


def reference_logits(run: Run, x: Tensor) -> Tensor:  # (B, C)
    """The run's model as rnnlab computes it (its engine, its layout) on batch-major ``x`` (B, T, I)."""
    model = run.model
    with torch.no_grad():
        return model(x if model.layout == "batch" else x.transpose(0, 1)).cpu()


def compare(
    run: Run, file_logits: Callable[[Tensor], Tensor], x: Tensor, batch_size: int
) -> tuple[Tensor, Tensor, list[int]]:
    """The file's and the run's logits on every sample of ``x``, and the batch sizes run."""
    got, want, seen = [], [], []
    for start, stop in sizes(len(x), batch_size):
        xb = x[start:stop].float().contiguous()
        got.append(file_logits(xb).float())
        want.append(reference_logits(run, xb))
        seen.append(stop - start)
    return torch.cat(got), torch.cat(want), seen


def check_export(run: Run, fmt: Format, path: Path, data_dir: str | None = None, batch_size: int = 1000) -> CheckResult:
    """``path`` (``run`` exported in ``fmt``) run in its own runtime against ``run`` itself."""
    x, data, where = check_inputs(run, data_dir)
    got, want, seen = compare(run, fmt.runner(path), x, batch_size)
    if got.shape != want.shape:
        raise UserError(
            f"--check: {path} gives logits of shape {tuple(got.shape)}; the model's are {tuple(want.shape)}"
        )
    diff = (got.double() - want.double()).abs()
    beyond = int((~(diff <= ATOL + RTOL * want.double().abs())).sum())  # NaN compares false: it is beyond too
    nonfinite = int((~got.isfinite()).sum())  # argmax takes NaN as the largest: never the same model
    differing = int((got.argmax(1) != want.argmax(1)).sum())
    accuracy = eval_accuracy = plain_accuracy = None
    if data is not None:
        accuracy = float((got.argmax(1) == data.test[1]).double().mean())
        eval_accuracy = run.evaluate("test", batch_size, data=data).accuracy  # what `rnnlab eval` prints
        plain_accuracy = _plain_accuracy(run, x, data.test[1], batch_size)
    return CheckResult(
        fmt.runtime,
        where,
        len(x),
        tuple(dict.fromkeys(seen)),
        float(diff.max()) if diff.numel() else 0.0,
        beyond,
        nonfinite,
        differing,
        accuracy,
        eval_accuracy,
        plain_accuracy,
    )


def _plain_accuracy(run: Run, x: Tensor, y: Tensor, batch_size: int) -> float | None:
    """For a zoneout model, what its file's weights score in PyTorch's own layers (no zoneout rule): the number
    that shows plain PyTorch computes another model from them; None for any other model (there it is the same)."""
    if "zoneout" not in run.config.model.regularisers:
        return None
    plain = PlainClassifier(run.model.cpu().float().eval()).eval()  # the export's layers, not its rule
    with torch.no_grad():
        right = sum(int((plain(x[a:b].float()).argmax(1) == y[a:b]).sum()) for a, b in sizes(len(x), batch_size))
    return right / len(x)
