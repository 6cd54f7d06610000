"""The numbers under the playground's page: a trained run read on one image, every step of it.

The prediction is `rnnlab predict`'s own (look.predict.run_images on the image read by data.images, so the
probabilities equal `predict --json`'s for the same picture); the states and gates are look.steps' trace (the
reference equations on the same parameters, whatever engine computed the prediction). Nothing a user sends is kept.
Legend: H/W the model's image height/width, T time steps, U hidden units.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnlab.cells import ENGINES, get_engine
from rnnlab.cells.reference import GATES
from rnnlab.data.images import read_images
from rnnlab.data.sets import dataset_at_hand, load_images, resolve_data_dir
from rnnlab.errors import UserError
from rnnlab.look.loaded import Loaded
from rnnlab.look.order import Reading
from rnnlab.look.predict import model_inputs, run_images
from rnnlab.look.probe import batched, step_note
from rnnlab.look.steps import trace_steps
from rnnlab.playground.request import MAX_FILE, ReadRequest, Refused, refused

GATE_NAMES = {
    "i": "input",
    "f": "forget",
    "g": "candidate",
    "o": "output",
    "r": "reset",
    "z": "update",
    "n": "candidate",
}
SHOWN = 4  # decimals of the states, gates and image sent for drawing (the probabilities are sent whole)
SCALES = {"digits": 16.0}  # the steps a dataset's pixels come in (the others: 255)


def engine_reasons(loaded: Loaded) -> dict[str, str | None]:
    """Every engine, with why it cannot read this model here (None: it can)."""
    cfg, device = loaded.config.model, loaded.device
    regularisers = ("zoneout",) if "zoneout" in cfg.regularisers else ()
    reasons: dict[str, str | None] = {}
    for name, engine in ENGINES.items():
        reason = engine.unavailable(device)
        if reason is None and engine.interpreted(device):
            reason = f"runs only interpreted on {device} (minutes a digit)"
        if reason is None:
            try:
                engine.check_model(cfg.cell, False, regularisers)
            except UserError as exc:
                reason = str(exc)
        reasons[name] = reason
    if reasons.get(loaded.model.engine):  # the engine it was opened with runs, even interpreted: it was asked for
        reasons[loaded.model.engine] = None
    return reasons


class Samples:
    """The test split's images in [0, 1] (loaded on first use), or why there are none."""

    def __init__(self, dataset: str, data_dir: str | None) -> None:
        self.dataset, self.data_dir = dataset, data_dir
        where = resolve_data_dir(data_dir)
        self.reason = None if dataset_at_hand(dataset, data_dir) else f"the {dataset} test set is not in {where}"
        self.images: np.ndarray | None = None  # (N, H, W) float32
        self.labels: np.ndarray | None = None
        self.lock = threading.Lock()

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        if self.reason:
            raise Refused(f"no test digits here: {self.reason}", 404)
        with self.lock:
            if self.images is None or self.labels is None:
                data = load_images(self.dataset, self.data_dir)
                scale = SCALES.get(self.dataset, 255.0)
                pixels = (data.test.images * data.std + data.mean).mul(scale).round().clamp(0, scale) / scale
                self.images, self.labels = pixels.numpy().astype(np.float32), data.test.labels.numpy()
            return self.images, self.labels

    def pick(self, index: int | None, label: int | None, nth: int = 0, field: str = "index") -> int:
        """A test image by its index (``field``: the request's name for it), or the ``nth`` of class ``label``."""
        images, labels = self.load()
        if label is not None:
            found = np.nonzero(labels == label)[0]
            if not len(found):
                raise Refused(f"class: the test set has no image of class {label}", 404)
            if not 0 <= nth < len(found):
                raise Refused(
                    f"nth: the test set has {len(found)} images of class {label} (0 to {len(found) - 1}); got {nth}",
                    404,
                )
            return int(found[nth])
        index = 0 if index is None else index
        if not 0 <= index < len(images):
            raise Refused(f"{field}: the test set has images 0 to {len(images) - 1}; got {index}", 404)
        return index


@dataclass
class Playground:
    """One run, read on images one request at a time (a lock: the engine is the model's, switched per request)."""

    loaded: Loaded
    samples: Samples

    def __post_init__(self) -> None:
        self.reasons = engine_reasons(self.loaded)
        self.default_engine = self.loaded.model.engine
        self.lock = threading.Lock()

    @property
    def size(self) -> tuple[int, int]:
        return self.loaded.preprocessing.image_size

    def info(self) -> dict[str, Any]:
        cfg, p = self.loaded.config, self.loaded.preprocessing
        steps, features = cfg.data.shape
        return {
            "run": str(self.loaded.path),
            "describe": self.loaded.describe(),
            "model": {
                "cell": cfg.model.cell,
                "layers": cfg.model.layers,
                "hidden": list(cfg.model.hidden_sizes),
                "bidirectional": cfg.model.bidirectional,
                "readout": cfg.model.readout,
                "gates": [GATE_NAMES[g] for g in GATES[cfg.model.cell]],
            },
            "dataset": p.dataset,
            "view": p.sequence,
            "steps": steps,
            "features": features,
            "image_size": list(p.image_size),
            "classes": list(self.class_names),
            "note": step_note(cfg.model.bidirectional, cfg.model.readout),
            "engine": self.default_engine,
            "engines": {name: {"runs": r is None, "reason": r} for name, r in self.reasons.items()},
            "samples": {"available": self.samples.reason is None, "reason": self.samples.reason},
            "max_upload_bytes": MAX_FILE,  # the page names a larger file's size before sending it
        }

    @property
    def class_names(self) -> tuple[str, ...]:
        names = self.loaded.preprocessing.class_names
        classes = self.loaded.config.model.num_classes
        return names if len(names) == classes else tuple(str(k) for k in range(classes))

    def sample(self, index: int | None, label: int | None, nth: int) -> dict[str, Any]:
        return self._sample(self.samples.pick(index, label, nth))

    def _sample(self, k: int) -> dict[str, Any]:
        """Test image ``k``: "class" its label's number and "class_name" its name, as predict's "class" and
        "prediction" are."""
        label = int(self.samples.load()[1][k])
        return {"index": k, "class": label, "class_name": self.class_names[label]}

    def read(self, request: ReadRequest) -> dict[str, Any]:
        """Every step's prediction, the image as read and the order it is read in, and the states and gates."""
        engine = self.default_engine if request.engine is None else request.engine
        if engine not in self.reasons:
            raise Refused(f"engine: unknown engine {engine[:40]!r}; choose one of {', '.join(self.reasons)}")
        if self.reasons[engine]:
            raise Refused(f"engine: {engine} cannot read this model here: {self.reasons[engine]}")
        source: Any = request.value
        if request.kind == "sample":
            source = self.samples.load()[0][self.samples.pick(request.value, None, field="sample")]
        elif request.kind == "pixels":
            source = np.asarray(request.value, dtype=np.float64)
        p = self.loaded.preprocessing
        try:
            images = list(read_images(source, p.dataset, p.image_size))
        except UserError as exc:
            raise refused(exc) from None
        started = time.perf_counter()
        with self.lock:
            model = self.loaded.model
            model.engine = get_engine(engine, self.loaded.device).name
            [prediction] = run_images(model, p, images)
            sequence = model_inputs(p, images)[1][0].to(self.loaded.device)
            trace = trace_steps(model, batched(model, sequence))
        answer = prediction.to_dict()
        answer.pop("source")
        reading = Reading.of(prediction.image.numpy(), p.sequence, p.permute_seed)
        layers = range(1, len(trace.layers) + 1) if request.layer is None else [request.layer]
        answer.update(
            engine=engine,
            image=_shown(prediction.image),
            order={"view": p.sequence, "text": reading.order, "step_of": reading.step_of.tolist()},
            layers=[_layer(trace.layer(k), k) for k in layers],
            compute_ms=round(1000 * (time.perf_counter() - started), 2),
        )
        if request.kind == "sample":
            answer["sample"] = self._sample(request.value)
        return answer


def _shown(t: torch.Tensor) -> Any:
    return t.double().round(decimals=SHOWN).tolist()


def _layer(directions: list[Any], k: int) -> dict[str, Any]:
    """One layer's directions: h, c (LSTM) and each gate by its name, each (T, U) for batch item 0."""
    return {
        "layer": k,
        "directions": [
            {
                "direction": d.direction,
                "h": _shown(d.h[:, 0]),
                "c": None if d.c is None else _shown(d.c[:, 0]),
                "gates": {GATE_NAMES[g]: _shown(v[:, 0]) for g, v in d.gates.items()},
            }
            for d in directions
        ],
    }
