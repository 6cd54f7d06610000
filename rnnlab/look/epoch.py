"""The figure a run's loggers show at each epoch's end: how early in the sequence the net makes up its mind."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from rnnlab.data.sequences import SequenceData
    from rnnlab.model.classifier import SequenceClassifier


def epoch_figure(model: SequenceClassifier, data: SequenceData) -> Figure:
    """The class probabilities after each step for the first validation sample, as the model stands now: the
    picture that shows, epoch after epoch, how early in the sequence the net makes up its mind.

    Its imports (matplotlib among them) are made here: the CLI hands this function to every run, and a run whose
    loggers draw nothing should not pay for them at start."""
    from rnnlab.look import probe, step_figures
    from rnnlab.look.visualize import step_note

    (x, y), lengths = data.val, data.lengths_of("val")
    seq = x[0] if lengths is None else x[0, : int(lengths[0])]
    device = next(model.parameters()).device
    was_training = model.training
    try:
        probs = probe.step_probabilities(model, seq.to(device)).cpu().numpy()
    finally:
        model.train(was_training)
    note = step_note(model.cfg.bidirectional, model.cfg.readout)
    return step_figures.step_heatmap_figure(probs, int(y[0]), note, data.preprocessing.class_names)
