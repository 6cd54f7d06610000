"""The ``triton`` engine: fused Triton kernels (``kernels``) and the autograd Functions launching them (``engine``)."""
