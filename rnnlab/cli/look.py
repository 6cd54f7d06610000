"""The looking-inside commands: how a trained net reads one digit (visualize), and a model's shapes (inspect)."""

from __future__ import annotations

from typing import Annotated

import typer

from rnnlab import look, model, runs, train
from rnnlab.cli.options import RUN_HELP, Default, Flags, Out, Run, Split, takes
from rnnlab.cli.tables import console, parameter_table, shape_table, step_table
from rnnlab.config import DataConfig, ModelConfig, TrainConfig, model_for
from rnnlab.errors import UserError


@takes(
    TrainConfig,
    DataConfig,
    only=("engine", "device", "data_dir"),
    defaults={"engine": Default(None, "the one it trained with"), "device": Default("cpu")},
)
def visualize_command(
    flags: Flags,
    run: Run,
    index: Annotated[int | None, typer.Option(help="Sample of the split \\[default: 0, or the first --digit].")] = None,
    digit: Annotated[int | None, typer.Option(help="Show the first sample of this class.")] = None,
    split: Split = "test",
    layer: Annotated[
        int | None,
        typer.Option(help="Whose states and gates to draw, counted from 1 \\[default: the last layer]."),
    ] = None,
    out: Out = None,
) -> None:
    """Draw how the net reads one digit: the image, class probabilities after each step, the hidden (and cell)
    states and the gate activations of one layer in each direction, training curves and the test confusion matrix.
    Prints the per-step prediction (a long sequence's summarised; every step in the JSON file written) and the
    paths it wrote."""
    if split not in ("test", "val", "train"):
        raise UserError(f"--split: unknown split {split!r}; choose test, val or train")
    TrainConfig(**flags.of(TrainConfig, typed_only=True))  # names a bad --device or --engine
    device = train.device.resolve_device(flags.values["device"])
    with console.status("computing and drawing"):
        picture = look.visualize.visualize_run(
            run, out, index, digit, split, flags.values["engine"], flags.values["data_dir"], device, layer
        )
    probs = picture.probs
    shown, summary = look.probe.shown_steps(probs.argmax(1).tolist())
    what = f"{split} sample {picture.index}"
    console.print(step_table(probs, picture.label, what, picture.step_note, shown, summary))
    for path in picture.paths:
        console.print(str(path), highlight=False, soft_wrap=True)


@takes(
    ModelConfig,
    DataConfig,
    only=("cell", "layers", "hidden", "dropout", "bidirectional", "proj", "readout", "dataset", "sequence", "layout"),
)
def inspect_command(
    flags: Flags,
    run: Annotated[
        str | None, typer.Argument(help=f"{RUN_HELP} Without one: the model the flags describe.", metavar="[RUN]")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Samples in the batch walked through the model.")] = 128,
) -> None:
    """Print the path a batch takes through the model, every tensor's shape, and every parameter."""
    if batch_size <= 0:
        raise UserError(f"--batch-size: must be > 0, got {batch_size}")
    if run is not None:
        typed = flags.typed()
        if typed:
            raise UserError(
                f"{', '.join(typed)}: {run} fixes the model and its data; drop {'them' if len(typed) > 1 else 'it'}, "
                "or inspect without a run"
            )
        cfg = runs.checkpoint.config_of(runs.checkpoint.load_checkpoint(run))
        model_cfg, data_cfg = cfg.model, cfg.data
    else:
        data_cfg = DataConfig(**flags.of(DataConfig))
        model_cfg = model_for(data_cfg, **flags.of(ModelConfig))
    net = model.classifier.build_model(model_cfg, layout=data_cfg.layout, seed=0)
    steps, _ = data_cfg.shape
    walk = look.probe.shape_walk(net, batch_size, steps)
    console.print(shape_table(walk, f"{data_cfg.dataset} {data_cfg.sequence}, B={batch_size}"))
    console.print(parameter_table(net))


COMMANDS = {"visualize": visualize_command, "inspect": inspect_command}
