"""Which number format the matrix products run in: fp32, or bf16 under autocast.

A BERT step is mostly matrix products. CPUs with native bf16 units (AVX512-BF16, AMX)
multiply bf16 matrices several times faster than fp32 ones, and GPUs from Ampere on do
the same with tensor cores. ``torch.autocast`` runs the products (linear layers, matmul,
attention) in the low-precision format while the weights, the optimizer state and the
losses stay fp32; in minBERT the residual stream stays fp32 too (a bf16 product added to
the fp32 stream promotes to fp32 before each LayerNorm).

``precision`` is one of:

* ``"auto"`` - bf16 on a CPU whose matrix units do bf16 natively (asked of torch's own CPU
  capability checks, never guessed from the CPU's name), fp32 on other CPUs and on MPS;
  on CUDA bf16 from compute capability 8 (Ampere) on, fp16 with a GradScaler below it
  (Colab's T4: bf16 there is emulated and slow);
* ``"fp32"`` - no autocast anywhere (the reference the parity tests use);
* ``"bf16"`` - bf16 autocast wherever the device runs it, even if emulated (slow).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

PRECISIONS = ("auto", "fp32", "bf16")
NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX tiles), by torch's own checks."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast_dtype(device: torch.device | str, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None means fp32 (no autocast)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose one of {', '.join(PRECISIONS)}.")
    device = torch.device(device)
    if precision == "fp32" or device.type not in ("cpu", "cuda"):
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cpu":
        return torch.bfloat16 if native_bf16_cpu() else None
    # CUDA: torch.cuda.is_bf16_supported() also says True on a T4 (7.5), where bf16 is emulated; ask the hardware
    native = torch.version.hip or torch.cuda.get_device_properties(device).major >= 8
    return torch.bfloat16 if native else torch.float16


def autocast(device: torch.device | str, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype`` on ``device``, or a context that does nothing for fp32 (None)."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def name(dtype: torch.dtype | None) -> str:
    """``"fp32"``, ``"bf16"`` or ``"fp16"``: what a run records as the precision it used."""
    return NAMES[dtype]
