"""A trained run in a file that runs without rnnlab: ONNX (onnx), a torch.export program (program), a pickle-free
safetensors checkpoint (safetensors); what each file says about the model and its input (metadata); the plain
module they are made from (plain); the formats by name (formats); the proof that each file is the same model
(check); and the one export call, which moves the file onto its path only once written and checked (write).

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab.export import check, formats, metadata, onnx, plain, program, safetensors, write  # noqa: F401


__getattr__, __dir__ = submodules(
    __name__, ("check", "formats", "metadata", "onnx", "plain", "program", "safetensors", "write")
)
