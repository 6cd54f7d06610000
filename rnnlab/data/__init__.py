"""The data: datasets loaded as tensors (sets), images read as sequences (views), batches in either layout (sequences).

Submodules load on first use (rnnlab.lazy); the common names are exported here.
"""

from rnnlab.lazy import submodules

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
