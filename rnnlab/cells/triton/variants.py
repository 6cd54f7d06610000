"""Which kernel variant the triton engine runs for a shape, and how it is launched: the rule, in one place.

- ``persistent``: one launch walks the whole sequence. Each program keeps its slice of W_hh (the gate rows of its
  UNITS hidden units; in the backward the columns) on chip for every step, and the programs of a batch group meet
  at a grid barrier after each step (a counter with release/acquire atomics). Chosen on a CUDA GPU when the slice
  fits ``ON_CHIP_BYTES`` (what compiles without spills; ``scripts/triton_report.py`` shows it) and the unit
  programs fit the SM count. At launch the grid is sized from the compiled kernel's occupancy (``fit_grid``:
  how many of its programs one SM holds, by registers, shared memory and threads), so that it is co-resident;
  the launch is cooperative, so a grid that cannot be resident fails instead of hanging.
- ``stepwise``: the same kernels launched once per step, W_hh streamed from L2 in K chunks: any H, any grid.
  Chosen on a GPU where the persistent rule refuses (the slice is too large, or H/UNITS programs exceed the SMs).
- ``interpreted``: TRITON_INTERPRET=1 (no CUDA): the persistent kernels' code, slice resident, one launch per
  step, since the interpreter runs programs one after another and a spin barrier would never open.

Nothing falls back silently: the engine runs exactly ``plan(...)``, and ``Plan.describe()`` names it.
Legend: B batch, H hidden units, U units per program, BB batch rows per tile, K the recurrent dot's reduction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

UNITS = 16  # hidden units per program: 4*16 = 64 gate rows, the M of one warpgroup's wgmma
BLOCK_B = 16  # batch rows per tile: the smallest N/M a tl.dot takes
STREAM_K = 32  # K chunk of the stepwise variant, which streams W_hh
# The largest W_hh slice a program keeps resident, per kind of recurrent dot: what compiles for sm_90 and sm_80
# with no spills and within sm_80's shared memory (scripts/triton_report.py --all shows the next size up failing:
# the backward spills at tf32 H=512, ieee H=256 and bf16 H=512; fp64 H=256 needs 168 KiB of shared memory).
# IEEE fp32 has no tensor-core path: its FMA dot holds whole operand rows in registers.
ON_CHIP_BYTES = {"tf32": 64 * 1024, "bf16": 32 * 1024, "fp64": 64 * 1024, "ieee": 32 * 1024}
NUM_WARPS = 8  # 4 leave the resident kernels at 255 registers, and spilling, at the larger slices
MAXNREG = 255  # lets ptxas use every register a thread can have: without it, it spills at 64-168 now and then
# Polls of the grid barrier before a program gives up and the launch fails (kernels.step_done): a poll is an L2
# atomic of about half a microsecond, so about 2 s, against a few microseconds for a step's honest wait.
SPIN_LIMIT = 1 << 22


@dataclass(frozen=True)
class Plan:
    variant: str  # "persistent", "stepwise" or "interpreted"
    units: int  # U hidden units per program
    block_b: int  # BB batch rows per tile
    block_k: int  # K of one dot: H padded to a power of two (resident) or STREAM_K (streamed)
    rows: int  # batch rows per batch group (a multiple of BB)
    grid: tuple[int, int]  # (unit programs, batch groups)
    resident: bool  # the W_hh slice stays on chip for the whole launch
    grid_sync: bool  # one launch per sequence, a barrier between steps
    precision: str  # tl.dot's input_precision: tf32, ieee, or bf16-interpreted
    num_warps: int
    num_stages: int  # software pipelining of the batch-tile loop (resident) or the K loop (streamed)
    slice_bytes: int  # the W_hh slice one program holds
    kind: str  # what the dot runs on: tf32, ieee (fp32 FMA), bf16 or fp64
    why: str | None = None  # why the persistent variant was refused, where it was
    spin_limit: int = SPIN_LIMIT  # polls of the grid barrier before the launch fails instead of hanging
    sms: int = 0  # the SMs the grid was planned for
    per_sm: int = 0  # programs of the compiled kernel one SM holds (fit_grid); 0: not yet measured, 1 assumed

    def meta(self) -> dict[str, Any]:
        """The kernels' compile-time arguments."""
        return {
            "UNITS": self.units,
            "BLOCK_B": self.block_b,
            "BLOCK_K": self.block_k,
            "RESIDENT": self.resident,
            "GRID_SYNC": self.grid_sync,
            "PRECISION": self.precision,
            "SPIN_LIMIT": self.spin_limit,
        }

    def options(self) -> dict[str, Any]:
        """Triton's compile options; a grid that meets at barriers is launched cooperatively, so that CUDA refuses
        a grid whose programs cannot all be resident at once instead of letting it spin forever."""
        opts: dict[str, Any] = {"num_warps": self.num_warps, "num_stages": self.num_stages, "maxnreg": MAXNREG}
        if self.grid_sync:
            opts["launch_cooperative_grid"] = True
        return opts

    def describe(self) -> str:
        n_u, n_b = self.grid
        programs = f"{n_u * n_b} programs ({n_u} x {self.units} units, {n_b} x {self.rows} rows)"
        if self.per_sm:
            programs += f", {self.per_sm} per SM"
        elif self.grid_sync and self.variant == "persistent":
            programs += ", the grid sized again at launch from the compiled kernel"
        where = f"W_hh on chip, {self.slice_bytes // 1024} KiB/program" if self.resident else "W_hh streamed from L2"
        if self.variant == "interpreted":
            where = "the persistent kernels' code on CPU (TRITON_INTERPRET=1)"
        launches = "one launch per sequence" if self.grid_sync else "one launch per step"
        why = f" ({self.why})" if self.why else ""
        return f"{self.variant}: {where}, {programs}, {launches}, {self.kind} dot{why}"


def next_pow2(n: int) -> int:
    return 1 << (max(n, 1) - 1).bit_length()


def operand_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype in (torch.bfloat16, torch.float64) else torch.float32


def precision(dtype: torch.dtype, interpreted: bool) -> str:
    """fp32: TF32 where PyTorch allows it for cuDNN (its default), else IEEE; bf16 and fp64 ignore the setting."""
    if dtype == torch.bfloat16:
        return "bf16-interpreted" if interpreted else "ieee"
    if dtype == torch.float32 and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "ieee"


def dot_kind(dtype: torch.dtype, dot: str) -> str:
    """What the recurrent dot runs on: "tf32", "ieee" (fp32 FMA), "bf16" or "fp64" (keys of ON_CHIP_BYTES)."""
    if dtype in (torch.bfloat16, torch.float64):
        return "bf16" if dtype == torch.bfloat16 else "fp64"
    return dot


def slice_bytes(hidden: int, dtype: torch.dtype) -> int:
    """Bytes of one program's W_hh slice: 4 row slots (GRU's fourth masked) x UNITS x H padded, operand dtype."""
    return 4 * UNITS * max(16, next_pow2(hidden)) * operand_dtype(dtype).itemsize


def persistent_refusal(hidden: int, dtype: torch.dtype, dot: str, sms: int) -> str | None:
    """Why the persistent variant cannot run for this H, dtype and dot precision with ``sms`` SMs, or None."""
    need, room = slice_bytes(hidden, dtype), ON_CHIP_BYTES[dot_kind(dtype, dot)]
    if need > room:
        return f"W_hh slice {need // 1024} KiB > {room // 1024} KiB on chip for {dot_kind(dtype, dot)}"
    n_u = -(-hidden // UNITS)
    if n_u > sms:
        return f"{n_u} unit programs > {sms} SMs"
    return None


def plan(cell: str, batch: int, hidden: int, dtype: torch.dtype, device: torch.device, interpreted: bool) -> Plan:
    """The variant for a layer of ``hidden`` units run on ``batch`` rows in ``dtype``; see the module docstring.

    ``cell`` does not change the rule: the GRU's slice has the LSTM's four row slots."""
    if interpreted:
        return make_plan("interpreted", batch, hidden, dtype, sms=0, interpreted=True)
    if device.type != "cuda":
        raise ValueError(f"the compiled Triton kernels need a CUDA device, not {device}")
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    refused = REFUSED.get(str(device)) or persistent_refusal(hidden, dtype, precision(dtype, False), sms)
    return make_plan("persistent" if refused is None else "stepwise", batch, hidden, dtype, sms, False, refused)


def make_plan(
    name: str,
    batch: int,
    hidden: int,
    dtype: torch.dtype,
    sms: int,
    interpreted: bool,
    why: str | None = None,
    dot: str | None = None,
) -> Plan:
    """The launch of variant ``name``; ``why`` the persistent variant was refused; ``dot`` overrides the input
    precision (ahead-of-time compiles choose it rather than read PyTorch's TF32 setting)."""
    hp = max(16, next_pow2(hidden))
    n_u = -(-hidden // UNITS)
    tiles = -(-batch // BLOCK_B)
    common: dict[str, Any] = {"units": UNITS, "block_b": BLOCK_B, "num_warps": NUM_WARPS, "why": why, "sms": sms}
    common["precision"] = dot or precision(dtype, interpreted)
    common["slice_bytes"] = slice_bytes(hidden, dtype)
    common["kind"] = dot_kind(dtype, "ieee" if common["precision"] == "bf16-interpreted" else common["precision"])
    if name == "interpreted":
        return Plan(name, block_k=hp, rows=BLOCK_B, grid=(n_u, tiles), resident=True, grid_sync=False, num_stages=1,
                    **common)  # fmt: skip
    if name == "persistent":
        rows, grid = _groups(batch, n_u, sms)
        return Plan(name, block_k=hp, rows=rows, grid=grid, resident=True, grid_sync=True, num_stages=1, **common)
    return Plan(grid=(n_u, tiles), **_stepwise(hp), **common)


def _groups(batch: int, n_u: int, programs: int) -> tuple[int, tuple[int, int]]:
    """Batch rows per group and the grid: as many batch groups of n_u programs as ``programs`` co-resident ones
    hold (at least one), each a whole number of tiles."""
    tiles = -(-batch // BLOCK_B)
    n_b = max(1, min(tiles, programs // n_u))
    rows = -(-tiles // n_b) * BLOCK_B
    return rows, (n_u, -(-batch // rows))


@dataclass(frozen=True)
class SMLimits:
    """What one SM holds at once, by CUDA's occupancy rules (the device's own figures)."""

    registers: int  # 32-bit registers
    shared: int  # bytes of shared memory
    threads: int
    blocks: int = 32  # resident blocks (sm_80 and sm_90)
    reserved_shared: int = 1024  # bytes CUDA keeps of each block's shared memory (sm_80 and later)


SM_90 = SMLimits(registers=65536, shared=233472, threads=2048)  # H100, H200: 228 KiB of shared memory
SM_80 = SMLimits(registers=65536, shared=167936, threads=2048)  # A100: 164 KiB


def sm_limits(device: torch.device) -> SMLimits | None:
    """The device's SM, where this torch reports it (None: the grid stays at one program per SM)."""
    props = torch.cuda.get_device_properties(device)
    names = ("regs_per_multiprocessor", "shared_memory_per_multiprocessor", "max_threads_per_multi_processor")
    figures = [getattr(props, name, 0) for name in names]
    return SMLimits(*map(int, figures)) if all(figures) else None


def programs_per_sm(registers: int, shared: int, num_warps: int, sm: SMLimits) -> int:
    """How many programs of a compiled kernel one SM holds at once, by CUDA's occupancy rules (cuda_occupancy.h):
    registers go to each warp in units of 256 from four quarter-SM register files, shared memory in units of 128
    bytes plus the block's reserve; the least of what registers, shared memory, threads and blocks allow."""
    per_warp = -(-registers * 32 // 256) * 256
    warps = 4 * ((sm.registers // 4) // per_warp) if per_warp else sm.threads // 32
    by_registers = warps // num_warps
    by_shared = sm.shared // (-(-shared // 128) * 128 + sm.reserved_shared)
    by_threads = sm.threads // (32 * num_warps)
    return max(0, min(by_registers, by_shared, by_threads, sm.blocks))


def fit_grid(p: Plan, batch: int, per_sm: int) -> Plan:
    """A persistent plan with its grid sized for a compiled kernel of which one SM holds ``per_sm`` programs:
    the batch split into as many groups as ``sms * per_sm`` co-resident programs allow; stepwise where not even
    one group's unit programs fit."""
    n_u, programs = p.grid[0], p.sms * per_sm
    if n_u > programs:
        why = f"the compiled kernel fits {per_sm} program(s) per SM: {n_u} unit programs > {programs}"
        return replace(p, grid=(n_u, -(-batch // BLOCK_B)), why=why, per_sm=per_sm, **_stepwise(p.block_k))
    rows, grid = _groups(batch, n_u, programs)
    return replace(p, rows=rows, grid=grid, per_sm=per_sm)


def _stepwise(block_k: int) -> dict[str, Any]:
    """What makes a launch the stepwise variant: W_hh streamed in K chunks, one launch per step, one tile a group."""
    return {"variant": "stepwise", "block_k": min(block_k, STREAM_K), "rows": BLOCK_B, "resident": False,
            "grid_sync": False, "num_stages": 2}  # fmt: skip


# device -> why its cooperative launch was refused: later plans on it are stepwise from the start, and say why
REFUSED: dict[str, str] = {}


def stepwise_instead(p: Plan, batch: int, device: torch.device, why: str) -> Plan:
    """The stepwise launch of the same layer, where the persistent one could not run; remembered for ``device``."""
    REFUSED[str(device)] = why
    return replace(p, grid=(p.grid[0], -(-batch // BLOCK_B)), why=why, per_sm=0, **_stepwise(p.block_k))
