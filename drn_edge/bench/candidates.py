"""What a benchmark times: an engine file or the PyTorch eager baseline behind the same calls, and which FP32
checkpoint an engine is compared with."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drn_edge.artifacts import PRECISIONS, SHIPPED_MODELS, artifact_path, resolve_checkpoint
from drn_edge.errors import DrnEdgeError
from drn_edge.outputs import sha256_file
from drn_edge.runtime import DerainEngine
from drn_edge.sidecar import made_from_another, read_sidecar

__all__ = ["Candidate", "engine_candidate", "engine_candidates", "compare_engines", "common_size", "torch_candidate",
           "torch_available", "reference_checkpoint", "checkpoint_digest", "choose_reference"]


@dataclass
class Candidate:
    """One thing to time: an engine file or the PyTorch eager baseline, behind the same two calls."""

    label: str
    derain: Callable[[np.ndarray], np.ndarray]       # BGR uint8 frame -> BGR uint8 frame (end to end)
    prepare: Callable[[np.ndarray], object]           # frame -> graph input
    compute: Callable[[object], object]               # graph input -> graph output (engine only)
    derain_many: Callable[[list], list] | None = None  # a list of frames at once (batched where the engine can)
    compute_ms: Callable[[], float | None] = lambda: None  # device time of the last compute, when known
    split_ms: Callable[[], dict | None] = lambda: None     # h2d / compute / d2h of the last compute, when known
    info: dict = field(default_factory=dict)
    close: Callable[[], None] = lambda: None


def engine_candidate(path: str, backend: str, label: str | None = None, threads: int | None = None) -> Candidate:
    engine = DerainEngine(path, backend=backend, threads=threads)
    rec = read_sidecar(path, required=False) or {}
    info = {"path": str(path), "bytes": Path(path).stat().st_size, "backend": engine.backend_name,
            "precision": rec.get("precision", "unknown"), "io": engine.io.mode,
            "fixed_size": [engine.io.height, engine.io.width] if engine.io.height else None}
    return Candidate(
        label=label or f"{Path(path).name} [{engine.backend_name.split(':')[-1].replace('ExecutionProvider', '')}]",
        derain=engine, derain_many=engine,
        prepare=lambda f: engine.graph_input([f]).batch,
        compute=engine.run_graph,
        compute_ms=lambda: engine.last_compute_ms, split_ms=lambda: engine.last_split_ms,
        info=info, close=engine.close)


def engine_candidates(paths, backend: str, threads: int | None = None) -> list[Candidate]:
    """One candidate per engine file; when two share a file name, every label names the folder too."""
    names = [Path(p).name for p in paths]
    with_folder = len(set(names)) < len(names)
    out: list[Candidate] = []
    try:
        for p in paths:
            label = None
            if with_folder:
                label = f"{Path(p).parent.name}/{Path(p).name}"
            out.append(engine_candidate(p, backend, label, threads))
            if label:
                out[-1].label += " [" + out[-1].info["backend"].split(":")[-1].replace("ExecutionProvider", "") + "]"
    except BaseException:
        for c in out:
            c.close()
        raise
    return out


def common_size(candidates: list[Candidate], default: tuple[int, int]) -> tuple[int, int]:
    """The frame size every candidate can take: the fixed engines' one size, else `default`."""
    sizes = {tuple(c.info["fixed_size"]) for c in candidates if c.info.get("fixed_size")}
    if len(sizes) > 1:
        raise DrnEdgeError(f"engines were built for different sizes {sorted(sizes)}; compare engines of one size")
    return sizes.pop() if sizes else default


def torch_candidate(checkpoint: str | None, device: str = "cpu") -> Candidate:
    """PyTorch eager FP32: the baseline row and the FP32 reference outputs."""
    import torch

    # lazy: pulls in OpenCV, torch, which importing this module does not
    from drn_edge.evaluation.fidelity import rgb_to_tensor, torch_derain
    from drn_edge.model.checkpoint import load_model

    model = load_model(checkpoint).to(device)
    run_rgb = torch_derain(model, device)

    def compute(x):
        with torch.no_grad():
            y = model(x)
        if device != "cpu":
            torch.cuda.synchronize()
        return y

    return Candidate(label=f"pytorch-eager-fp32 [{device}]", derain=lambda f: run_rgb(f[..., ::-1])[..., ::-1],
                     prepare=lambda f: rgb_to_tensor(np.ascontiguousarray(f[..., ::-1]), device), compute=compute,
                     info={"path": checkpoint or "shipped", "backend": f"torch {torch.__version__}",
                           "precision": "fp32", "io": "float", "bytes": None})


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def reference_checkpoint(engine_path: str) -> str | None:
    """The FP32 checkpoint an engine came from, followed through its sidecars; None: the shipped one.

    An engine whose source checkpoint is neither beside it nor the shipped model has no known
    reference, and comparing it with the wrong model would mislead: that is an error.
    """
    path = Path(engine_path)
    for _ in range(4):
        rec = read_sidecar(path, required=False)
        if not rec or "source" not in rec:
            return None  # no provenance recorded: the shipped model is the only candidate
        src = rec["source"]
        candidate = path.parent / src.get("file", "")
        if src.get("kind") == "checkpoint":
            if candidate.is_file():
                if sha256_file(candidate) != src.get("sha256"):
                    raise DrnEdgeError(
                        f"'{candidate}' has changed since '{engine_path}' was exported from it (its sha256 differs): "
                        "the FP32 reference would be another model and the drop false; re-export, or pass "
                        "--checkpoint PATH of the exported weights")
                return str(candidate)
            for shipped in SHIPPED_MODELS.values():
                if shipped.is_file() and src.get("sha256") == sha256_file(shipped):
                    return str(shipped)
            raise DrnEdgeError(
                f"'{engine_path}' was exported from checkpoint '{src.get('file')}' (sha256 {str(src.get('sha256'))[:12]}...), "
                "which is neither next to it nor the shipped model; pass --checkpoint PATH for the FP32 reference, "
                "or --no-pytorch --no-fidelity")
        if not candidate.is_file():
            return None
        path = candidate
    return None


def checkpoint_digest(engine_path: str) -> str | None:
    """The sha256 of the checkpoint an engine was exported from, followed through its sidecars; None: unknown."""
    path = Path(engine_path)
    for _ in range(4):
        rec = read_sidecar(path, required=False)
        src = rec.get("source") if isinstance(rec, dict) else None
        if not isinstance(src, dict):
            return None
        if src.get("kind") == "checkpoint":
            return src.get("sha256")
        path = path.parent / str(src.get("file", ""))
        if not path.is_file():
            return None
    return None


def choose_reference(engines: list[str], checkpoint: str | None) -> str | None:
    """The one FP32 checkpoint every engine is compared with: --checkpoint, else the first engine's own. Engines
    from another model than the reference are refused (one was compared against another engine's model)."""
    ref = checkpoint or (reference_checkpoint(engines[0]) if engines else None)
    ref_path = resolve_checkpoint(ref)
    want = sha256_file(ref_path) if ref_path.is_file() else None
    for engine in engines:
        got = checkpoint_digest(engine)
        if want and got and got != want:
            raise DrnEdgeError(f"'{engine}' was exported from another checkpoint (sha256 {got[:12]}...) than the FP32 "
                               f"reference '{ref_path.name}' ({want[:12]}...); bench engines of one model together, "
                               "or pass --checkpoint with the weights they were exported from")
    return ref


def compare_engines(export_dir: str, precisions: str | None, backend: str) -> list[str]:
    """drn-bench --compare fp32,fp16,int8: each precision's artifact in export_dir (its plan first where TensorRT
    runs); a missing one names the drn-export command, a stale one (made from another drn.onnx) is refused."""
    engines = []
    named = [prec.strip() for prec in precisions.split(",")] if precisions else []
    twice = sorted({prec for prec in named if named.count(prec) > 1})
    if twice:
        raise DrnEdgeError(f"--compare names {', '.join(twice)} more than once; each precision is one row: "
                           f"--compare {','.join(dict.fromkeys(named))}")
    for prec in named:
        if prec not in PRECISIONS:
            raise DrnEdgeError(f"--compare takes {', '.join(PRECISIONS)}; got {prec!r}")
        plan = artifact_path(export_dir, prec, "plan")
        path = plan if plan.is_file() and backend in ("auto", "tensorrt") else artifact_path(export_dir, prec)
        if not path.is_file():
            raise DrnEdgeError(f"--compare {prec}: '{path}' not found; run drn-export --{prec} --out {export_dir} first"
                               if prec != "fp32" else f"'{path}' not found; run drn-export --out {export_dir} first")
        if made_from_another(path, artifact_path(export_dir, "fp32")):
            raise DrnEdgeError(f"'{path}' was made from another drn.onnx (stale); re-run drn-export for this folder")
        engines.append(str(path))
    return engines
