"""The looking-inside commands: how a trained net reads one digit (visualize), what it says of a user's own images
(predict), and a model's shapes (inspect)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TypedDict

import typer

from rnnlab import look, model, runs, runtime
from rnnlab.cli.look_tables import parameter_table, prediction_tables, shape_table, step_table
from rnnlab.cli.options import RUN_HELP, Default, Flags, Out, Run, takes
from rnnlab.cli.progress import counting
from rnnlab.cli.tables import console, err_console, error_line
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, model_for
from rnnlab.config.commands import EvalConfig, OnARun
from rnnlab.errors import UserError
from rnnlab.text import json_text, visible


class _TakesArgs(TypedDict):
    only: tuple[str, ...]
    defaults: dict[str, Default]


# The flags of a command that uses a trained run: how and where it runs, and where its data is.
ON_A_RUN: _TakesArgs = {
    "only": ("engine", "device", "threads", "data_dir"),
    "defaults": {"engine": Default(None, "the one it trained with"), "device": Default("cpu")},
}


# Whose states and gates visualize and predict draw.
Layer = Annotated[
    int | None, typer.Option(help="Whose states and gates to draw, counted from 1 \\[default: the last layer].")
]


@takes(EvalConfig, RuntimeConfig, DataConfig, only=("split", *ON_A_RUN["only"]), defaults=ON_A_RUN["defaults"])
def visualize_command(
    flags: Flags,
    run: Run,
    index: Annotated[int | None, typer.Option(help="Sample of the split \\[default: 0, or the first --digit].")] = None,
    digit: Annotated[int | None, typer.Option(help="Show the first sample of this class.")] = None,
    layer: Layer = None,
    confusion: Annotated[
        bool,
        typer.Option(
            "--confusion",
            help="Also draw the test set's confusion matrix (confusion_test.png): the model runs on every test "
            "sample, with a progress bar.",
        ),
    ] = False,
    out: Out = None,
) -> None:
    """Draw how the net reads one digit: the image beside the steps, the class probabilities after each step, the
    hidden (and cell) states and the gate activations of one layer in each direction, and the training curves;
    with --confusion, the test set's confusion matrix. Prints the per-step prediction (a long sequence's
    summarised; every step in the JSON file written) and the paths it wrote."""
    split = flags.build(EvalConfig).split
    flags.check(RuntimeConfig)  # a bad --device or --engine, before the checkpoint loads
    on = flags.view(OnARun)
    runtime.device.set_threads(on.threads)
    device = runtime.device.resolve_device(on.device)
    with console.status("loading the run and its data"):
        opened = look.visualize.open_run(run, on.engine, on.data_dir, device)
    with console.status("computing and drawing"):
        picture = look.visualize.draw_sample(opened, out, index, digit, split, layer)
    for warning in picture.warnings:
        error_line(warning, "warning")
    paths = list(picture.paths)
    if confusion:
        total = opened.test_samples
        err_console.print(f"confusion matrix: the model on each of the {total:,} test samples", highlight=False)
        with counting(total, 0, "confusion matrix") as advance:
            paths.append(look.visualize.draw_confusion(opened, picture.folder, advance))
    probs = picture.probs
    shown, summary = look.probe.shown_steps(probs.argmax(1).tolist())
    what = f"{split} sample {picture.index}"
    console.print(step_table(probs, picture.label, what, picture.step_note, shown, summary))
    for path in paths:
        console.print(visible(path), highlight=False, soft_wrap=True)


IMAGES_HELP = (
    "PNG or JPEG files of digits, any size, light or dark background: each is prepared as MNIST's digits were (the "
    "digit's box scaled to 20 of 28 pixels, centred by its centre of mass; for a digits model, filling the 8x8 "
    "field); one already at the model's image size is taken as it is. Or .npy arrays: (H, W) or (N, H, W) at the "
    "model's image size, light on dark, values in [0, 1] or [0, 255]."
)


FIGURE_HELP = (
    "Also write each image's per-step figures into this folder, as visualize draws them, named after the image: "
    "seven.png -> seven_steps.png (P(class) after each step beside what the model read), "
    "seven_layerK_hidden_states.png, seven_layerK_cell_states.png (LSTM) and seven_layerK_gates.png (of --layer); "
    "a stack's stack.npy -> stack_0_steps.png...; two images of one name and different extensions keep them "
    "(seven.gif, seven.tiff -> seven-gif_steps.png, seven-tiff_steps.png), and two of the same name are numbered."
)


@takes(RuntimeConfig, DataConfig, **ON_A_RUN)
def predict_command(
    flags: Flags,
    run: Run,
    images: Annotated[list[Path], typer.Argument(help=IMAGES_HELP, metavar="IMAGE", show_default=False)],
    figure: Annotated[Path | None, typer.Option(help=FIGURE_HELP, metavar="DIR")] = None,
    layer: Layer = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables (every step's numbers).")
    ] = False,
) -> None:
    """Run a trained model on your own images: the class probabilities, and per image the prediction after each
    step. Needs no dataset: the checkpoint carries its preprocessing (--data-dir only upgrades an older
    checkpoint that lacks it). An image that cannot be read gets one error line; the others still run."""
    flags.check(RuntimeConfig)  # a bad --device or --engine, before the checkpoint loads
    on = flags.view(OnARun)
    runtime.device.set_threads(on.threads)
    loaded = look.loaded.load(run, on.engine, runtime.device.resolve_device(on.device), on.data_dir)
    if layer is not None:
        look.visualize.check_layer(layer, loaded.config.model.layers)
    chunked = look.predict.read_chunked(loaded.preprocessing, images)
    names = look.predict.FigureNames(group[0].file for group in chunked.groups if len(group))
    shown: list[look.predict.Prediction] = []  # the first TABLE_ROWS, for the tables
    paths: list[Path] = []
    if figure:
        runs.folder.output_folder(figure, "--figure")  # refused before anything is printed
    if as_json:  # one JSON object, written as the chunks come: a stack of any length in bounded memory
        head = json_text({"checkpoint": str(loaded.path), "engine": loaded.model.engine})
        sys.stdout.write(head[:-1] + ', "images": [')
    with counting(chunked.total, look.predict.CHUNK) as advance:
        for k, chunk in enumerate(chunked.run(loaded.model, loaded.preprocessing)):
            if figure:
                paths += look.predict.write_figures(
                    chunk, figure, loaded.describe(), loaded.preprocessing, names, loaded.model, layer
                )
            if as_json:
                sys.stdout.write(("" if k == 0 else ", ") + ", ".join(json_text(p.to_dict()) for p in chunk))
            shown += chunk[: max(TABLE_ROWS - len(shown), 0)]
            advance(len(chunk))
    if as_json:
        sys.stdout.write(
            f'], "figures": {json_text([str(p) for p in paths])}, "errors": {json_text(chunked.errors)}}}\n'
        )
    elif shown:
        more = chunked.total - len(shown)
        for table in prediction_tables(shown, loaded.describe(), look.predict.step_runs, more, console.width):
            console.print(table)
        for path in paths[:TABLE_ROWS]:
            console.print(visible(path), highlight=False, soft_wrap=True)
        if len(paths) > TABLE_ROWS:
            console.print(f"and {len(paths) - TABLE_ROWS:,} more figures in {visible(figure)}", highlight=False)
    for message in chunked.errors:
        error_line(message)
    if chunked.errors:
        raise typer.Exit(2)


TABLE_ROWS = 200  # images a table lists; --json has every one


@takes(
    ModelConfig,
    DataConfig,
    only=("cell", "layers", "hidden", "dropout", "bidirectional", "proj", "readout", "dataset", "sequence", "layout"),
)
def inspect_command(
    flags: Flags,
    run: Annotated[
        str | None, typer.Argument(help=f"{RUN_HELP} Without one: the model the flags describe.", metavar="RUN")
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
        model_cfg = RunConfig(model_for(data_cfg, **flags.of(ModelConfig)), data_cfg).model  # the dataset's defaults
    steps, _ = data_cfg.shape
    runtime.free_memory.check_model_fits(
        model_cfg, runtime.device.resolve_device("cpu"), run or "inspect", (batch_size, steps)
    )
    net = model.classifier.build_model(model_cfg, layout=data_cfg.layout, seed=0)
    walk = look.probe.shape_walk(net, batch_size, steps)
    console.print(shape_table(walk, f"{data_cfg.dataset} {data_cfg.sequence}, B={batch_size}"))
    console.print(parameter_table(net))


COMMANDS = {"visualize": visualize_command, "predict": predict_command, "inspect": inspect_command}
