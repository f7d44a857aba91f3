"""What an export cost: each artifact's fidelity on held-out frames against the model's own FP32 output (and,
after pruning, against the unpruned checkpoint), printed by drn-export and kept in its sidecar."""
from __future__ import annotations

from pathlib import Path

from drn_edge.onnx_spec import ExportSpec

__all__ = ["export_frames", "fidelity_report", "format_fidelity"]


def export_frames(spec: ExportSpec) -> list:
    """Held-out frames under medium rain, at the export size when it is fixed (evaluation.eval_frames' one builder)."""
    # lazy: pulls in numpy, which importing this module does not
    from drn_edge.evaluation.eval_frames import heldout_sources, rain_frames

    if spec.fixed:
        return rain_frames(heldout_sources(), ("medium",), size=(spec.height, spec.width))
    return rain_frames(heldout_sources(max_side=640), ("medium",))


def fidelity_report(model, artifacts: dict[str, Path], frames: list, source_model=None) -> list[dict]:
    """Per artifact on held-out medium rain: PSNR/SSIM vs clean, PSNR vs the exported model's own FP32 output,
    and, when the model was pruned, the drop against the unpruned source checkpoint as well. `frames`:
    export_frames(spec), built once by the caller."""
    # lazy: pulls in OpenCV, which importing this module does not
    from drn_edge.evaluation.fidelity import evaluate, torch_derain
    from drn_edge.runtime import DerainEngine

    table, refs = evaluate(torch_derain(model), frames)
    base = table["medium"]
    source_psnr = evaluate(torch_derain(source_model), frames)[0]["medium"]["psnr"] if source_model else base["psnr"]
    rows = []
    if source_model is not None:
        rows.append({"artifact": "source-fp32", "psnr": source_psnr, "ssim": None, "psnr_vs_fp32": None,
                     "rainy_psnr": base["rainy_psnr"], "drop_db": None, "drop_vs_source_db": 0.0})
    rows.append({"artifact": "pytorch-fp32", "psnr": base["psnr"], "ssim": base["ssim"], "psnr_vs_fp32": None,
                 "rainy_psnr": base["rainy_psnr"], "drop_db": 0.0, "drop_vs_source_db": source_psnr - base["psnr"]})
    for label, path in artifacts.items():
        with DerainEngine(path, backend="onnxruntime-cpu", color="rgb") as engine:
            row = evaluate(engine.derain_rgb, frames, refs)[0]["medium"]
        rows.append({"artifact": label, "psnr": row["psnr"], "ssim": row["ssim"], "psnr_vs_fp32": row["psnr_vs_fp32"],
                     "drop_db": base["psnr"] - row["psnr"], "drop_vs_source_db": source_psnr - row["psnr"]})
    return rows


def format_fidelity(rows: list[dict]) -> str:
    pruned = rows[0]["artifact"] == "source-fp32"
    lines = ["fidelity on held-out frames (the held-out photos; drn-eval --road for road frames), medium rain "
             f"(rainy input: {rows[0]['rainy_psnr']:.2f} dB PSNR vs clean)",
             f"{'artifact':<16}{'PSNR dB':>9}{'SSIM':>8}{'drop dB':>9}" + (f"{'vs source':>11}" if pruned else "")
             + f"{'vs FP32 dB':>12}"]
    for r in rows:
        vs = "ref" if r["psnr_vs_fp32"] is None else f"{r['psnr_vs_fp32']:.2f}"
        ssim = "-" if r["ssim"] is None else f"{r['ssim']:.4f}"
        drop = "-" if r["drop_db"] is None else f"{r['drop_db']:.2f}"
        line = f"{r['artifact']:<16}{r['psnr']:>9.2f}{ssim:>8}{drop:>9}"
        if pruned:
            line += f"{r['drop_vs_source_db']:>11.2f}"
        lines.append(line + f"{vs:>12}")
    if pruned:
        lines.append("('drop': against the pruned model's own FP32; 'vs source': against the unpruned checkpoint)")
    return "\n".join(lines)
