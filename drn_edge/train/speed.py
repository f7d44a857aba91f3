"""How a training step runs on this machine: precision, memory layout and compilation, chosen once and logged.

Measured on the 2-core development machines (drn_base, batch 8, crop 128): bf16 autocast gives 1.5-1.75x
where the CPU has bf16 instructions (AMX on Intel Xeon, AVX512-BF16 on AMD EPYC), channels_last 1.1-1.25x,
and ``torch.compile`` on top of both 2.3x in all (compiling takes 40-90 s once). Without bf16 instructions
autocast emulates bf16 and is slower, so 'auto' keeps fp32 there. The loss and the optimizer stay in fp32:
only the convolutions run in bf16 (bf16 inference matched fp32 to 56 dB PSNR).

One exception to channels_last: on CPU, a bf16 *dilated* convolution in channels_last returns NaN weight gradients
or crashes the process once its feature map is about 32 px or more (PyTorch 2.13's oneDNN; measured on the AMD
EPYC development machine: every dilation 2-8, side 28 fine, 31-32 and up broken; fp32, or the contiguous layout, are
fine). drn_base's dilated bottleneck is at 1/8 of the crop, so `drn-train --crop 256` diverged at step 2. Those
convolutions run in the contiguous layout (and torch.compile is told to keep the layouts it is given); at 1/8
resolution that costs nothing measurable (drn_base, crop 160, compiled: 0.70 s a step before, 0.73 s after, one
thread beside two training runs).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["PRECISIONS", "StepPlan", "bf16_hardware", "choose_step_plan"]

PRECISIONS = ("auto", "fp32", "bf16")
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bf16_hardware(device: torch.device) -> str | None:
    """What makes bf16 fast here ('CUDA bf16', 'amx_bf16', 'avx512_bf16'), or None."""
    if device.type == "cuda":
        return "CUDA bf16" if torch.cuda.is_bf16_supported() else None
    flags = _cpu_flags()
    return next((f for f in _BF16_CPU_FLAGS if f in flags), None)


@dataclass(frozen=True)
class StepPlan:
    """The chosen way to run a step; `note` says what was found and why this was chosen."""

    precision: str       # fp32 | bf16
    channels_last: bool
    compile: bool
    note: str

    def autocast(self, device: torch.device):
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def layout(self, t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=torch.channels_last) if self.channels_last else t

    def prepare(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The model in the chosen layout, and the callable a step runs (compiled or not)."""
        cpu_bf16 = _dilated_convs_need_contiguous(self.precision, device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
            if cpu_bf16:
                _dilated_convs_contiguous(model)
        if self.compile and cpu_bf16:
            import torch._inductor.config as inductor_config

            inductor_config.layout_optimization = False  # else it puts the dilated convolutions back in channels_last
        return torch.compile(model) if self.compile else model


def _dilated_convs_need_contiguous(precision: str, device: torch.device) -> bool:
    """bf16 on CPU: where oneDNN's channels_last dilated convolution breaks (the module docstring)."""
    return precision == "bf16" and device.type == "cpu"


def _dilated_convs_contiguous(model: torch.nn.Module) -> None:
    """Run every dilated convolution in the contiguous layout (its weight and its input): the bf16 channels_last
    oneDNN bug of the module docstring. A convolution takes channels_last if its weight or its input has it."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and max(module.dilation) > 1:
            module.weight.data = module.weight.data.contiguous()
            module.register_forward_pre_hook(_contiguous_input)


def _contiguous_input(_module: torch.nn.Module, args: tuple) -> tuple:
    return (args[0].contiguous(), *args[1:])


def choose_step_plan(precision: str, compile: bool, device: torch.device) -> StepPlan:
    """'auto' takes bf16 only where the hardware has it; an explicit 'bf16' without it is honoured with a note."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    hw = bf16_hardware(device)
    if precision == "auto":
        chosen = "bf16" if hw else "fp32"
        why = f"found {hw}" if hw else "no bf16 instructions found (no amx_bf16/avx512_bf16), bf16 would be emulated"
    else:
        chosen = precision
        why = "asked for" + ("" if chosen == "fp32" or hw else "; no bf16 instructions found: expect it to be slow")
    layout = "channels_last" + (" (dilated convolutions contiguous)" if _dilated_convs_need_contiguous(chosen, device) else "")
    note = (f"training step: {chosen} autocast ({why}), {layout}, "
            f"{'torch.compile (the first steps compile, ~1 min)' if compile else 'eager (--compile for ~1.4x more)'}")
    if chosen == "fp32":
        note = note.replace("fp32 autocast", "fp32")
    return StepPlan(chosen, True, compile, note)
