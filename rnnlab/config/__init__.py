"""Configuration, declared once: every flag is a dataclass field here, with its help, panel, choices and range.

Config flows one way: flags -> these frozen dataclasses -> the library. No torch is imported here, so the CLI can
build its help from these fields in a fraction of a second.
"""

from rnnlab.config.flags import Flag, Range, flag_for, flag_of, flagged_fields, option, parse_sizes, validate
from rnnlab.config.run import (
    DATASETS,
    IMAGE_SIZES,
    NUM_CLASSES,
    SEQUENCES,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    model_for,
    sequence_shape,
)
from rnnlab.config.runtime import RuntimeConfig

__all__ = [
    "DATASETS",
    "IMAGE_SIZES",
    "NUM_CLASSES",
    "SEQUENCES",
    "DataConfig",
    "Flag",
    "ModelConfig",
    "Range",
    "RunConfig",
    "RuntimeConfig",
    "TrainConfig",
    "flag_for",
    "flag_of",
    "flagged_fields",
    "model_for",
    "option",
    "parse_sizes",
    "sequence_shape",
    "validate",
]
