"""The data: datasets loaded as tensors (sets), images read as sequences (views), batches in either layout (sequences).

Submodules load on first use (rnnlab.lazy); the common names are exported here.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab.data import preprocess, sequences, sets, views  # noqa: F401
    from rnnlab.data.preprocess import Preprocessing  # noqa: F401
    from rnnlab.data.sequences import SequenceData, batches, layout_shape, load_sequences, to_layout  # noqa: F401
    from rnnlab.data.sets import MNIST_FILES, ImageSet, dataset_at_hand, default_data_dir, load_images, resolve_data_dir  # noqa: F401
    from rnnlab.data.views import as_image, as_sequences, pixel_permutation  # noqa: F401


__getattr__, __dir__ = submodules(
    __name__,
    ("sets", "views", "sequences", "preprocess"),
    exports={
        "MNIST_FILES": "sets",
        "ImageSet": "sets",
        "dataset_at_hand": "sets",
        "default_data_dir": "sets",
        "load_images": "sets",
        "resolve_data_dir": "sets",
        "Preprocessing": "preprocess",
        "as_image": "views",
        "as_sequences": "views",
        "pixel_permutation": "views",
        "SequenceData": "sequences",
        "batches": "sequences",
        "layout_shape": "sequences",
        "load_sequences": "sequences",
        "to_layout": "sequences",
    },
)
