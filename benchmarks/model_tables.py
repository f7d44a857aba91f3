"""The quality tables of README.md and docs/models.md, made from the outputs of benchmarks/eval_models.sh.

Usage: python benchmarks/model_tables.py [EVAL_DIR] [--write]
Prints every table; with --write, replaces each block between `<!-- tables:NAME -->` and `<!-- /tables:NAME -->` in
README.md and docs/models.md, so every number there comes from one drn-eval run (EVAL_DIR, default
benchmarks/results/eval). Tables: summary, sets, clean, int8, real, detection, targets, readme.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from script_cli import run_script

REPO = Path(__file__).resolve().parents[1]
MODELS = ("drn_base", "drn_edge")
LEVELS = ("low", "medium", "high")
CLEAN_NOTES = {"photos": "held-out photos", "evocargo": "snow, winter (the lane-marking frame)",
               "comma2k19": "overcast highway", "camvid": "Cambridge streets, 480x360 upscaled",
               "tusimple_lanenet": "sunny highway", "cityscapes_jetson": "German city",
               "bdd_hybridnets": "US dashcam, rain on the windshield", "mmdet3d_kitti_nuscenes": "Singapore, Karlsruhe"}
NEVER_TRAINED = ("particles", "dof")


def load(folder: Path) -> dict:
    out = {m: json.loads((folder / f"{m}.json").read_text())["tables"] for m in MODELS}
    for m in MODELS:
        f = folder / f"{m}-drn.int8.onnx.json"  # the main tables are the FP32 graph's
        if f.is_file():
            out[f"{m}/drn.int8.onnx"] = json.loads(f.read_text())["tables"]
        f = folder / f"{m}-native.json"  # clean CamVid at its own size (eval_models.sh's NATIVE)
        if f.is_file():
            size, rows = next((k.split()[1], v) for k, v in json.loads(f.read_text())["tables"].items()
                              if k.startswith("clean "))
            out[f"{m}/native"] = {f"{key} at its own size ({size})": x for key, x in rows.items() if key.endswith("/camvid")}
    return out


def clean_sets(r: dict, m: str) -> dict:
    """Every clean-frame row of model m: the 1280x720 table, then CamVid at its own size where it was measured."""
    return r[m]["clean 1280x720"] | r.get(f"{m}/native", {})


def _pairs(t: dict, name: str) -> dict:
    return next(iter(t[f"pairs ../shared/eval/{name}"].values()))


def _gain(row: dict, psnr: bool = False) -> str:
    return f"{row['gain_db']:+.2f}" + (f" ({row['psnr']:.2f})" if psnr else "")


def summary(r: dict) -> str:
    lines = ["| model | 720p low | 720p medium | 720p high | never-trained generators (particles / dof, 720p medium) "
             "| Rain100L | Rain200H | balanced score |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in MODELS:
        t, held = r[m], r[m]["held-out 1280x720"]
        gen = t["generators 1280x720 medium"]
        lines.append(f"| {m} | " + " | ".join(_gain(held[lv]) for lv in LEVELS)
                     + f" | {gen['particles/medium']['gain_db']:+.2f} / {gen['dof/medium']['gain_db']:+.2f}"
                     + f" | {_gain(_pairs(t, 'rain100l'))} | {_gain(_pairs(t, 'rain200h'))}"
                     + f" | {t['balanced score']['score']:+.2f} |")
    return "\n".join(lines)


def sets(r: dict) -> str:
    lines = ["| set | rain | n | PSNR rainy | " + " | ".join(MODELS) + " |", "|---|---|---:|---:|" + "---:|" * len(MODELS)]
    a = r[MODELS[0]]
    for size in ("640x360", "1280x720"):
        for lv in LEVELS:
            rows = [r[m][f"held-out {size}"][lv] for m in MODELS]
            lines.append(f"| held-out {size} | {lv} | {rows[0]['n']} | {rows[0]['rainy_psnr']:.2f} | "
                         + " | ".join(_gain(x, True) for x in rows) + " |")
    for name, row in a["generators 1280x720 medium"].items():
        gen = name.split("/")[0]
        label = f"{name} (never trained on)" if gen in NEVER_TRAINED else name
        lines.append(f"| generators 1280x720 | {label} | {row['n']} | {row['rainy_psnr']:.2f} | "
                     + " | ".join(_gain(r[m]["generators 1280x720 medium"][name]) for m in MODELS) + " |")
    for name, what in (("rain100l", "Rain100L (other people's light rain)"), ("rain200h", "Rain200H (other people's heavy rain)")):
        rows = [_pairs(r[m], name) for m in MODELS]
        lines.append(f"| {what} | native | {rows[0]['n']} | {rows[0]['rainy_psnr']:.2f} | "
                     + " | ".join(_gain(x, True) for x in rows) + " |")
    return "\n".join(lines)


def clean(r: dict) -> str:
    lines = ["| frames | conditions | n | " + " | ".join(f"{m} mean / worst" for m in MODELS) + " |",
             "|---|---|---:|" + "---:|" * len(MODELS)]
    for key, row in clean_sets(r, MODELS[0]).items():
        folder = key.split("/", 1)[1]
        own_size = " at its own size " in folder
        note = "Cambridge streets, 480x360 cropped, not resized" if own_size else CLEAN_NOTES.get(folder, "")
        cells = []
        for m in MODELS:
            x = clean_sets(r, m)[key]
            cells.append(f"{x['psnr']:.1f}" if x["n"] == 1 else f"{x['psnr']:.1f} / {x['psnr_min']:.1f}")
        lines.append(f"| {folder} | {note} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def int8_drops(r: dict) -> dict:
    """(model, size) -> {level: FP32 PSNR - INT8 PSNR}."""
    out = {}
    for m in MODELS:
        fp32, int8 = r[m], r.get(f"{m}/drn.int8.onnx")
        if not (fp32 and int8):
            continue
        for size in ("640x360", "1280x720"):
            out[(m, size)] = {lv: fp32[f"held-out {size}"][lv]["psnr"] - int8[f"held-out {size}"][lv]["psnr"] for lv in LEVELS}
    return out


def int8(r: dict) -> str:
    lines = ["| model | size | low | medium | high |", "|---|---|---:|---:|---:|"]
    for (m, size), drops in int8_drops(r).items():
        lines.append(f"| {m} | {size} | " + " | ".join(f"{drops[lv]:.2f}" for lv in LEVELS) + " |")
    return "\n".join(lines)


def real(r: dict) -> str:
    lines = ["| model | frames | mean change (grey levels) | share that is removal | most changed frame | "
             "streak-like pixels lose (x the rest) |", "|---|---:|---:|---:|---:|---:|"]
    for m in MODELS:
        x = r[m].get("real rain")
        if x:
            lines.append(f"| {m} | {x['n']} | {x['mean_change']:.2f} | {100 * x['removal_share']:.0f} % | "
                         f"{x['most_changed_frame']:.2f} | "
                         + (f"{x['streak_selectivity']:.1f}" if "streak_selectivity" in x else "n/a") + " |")
    return "\n".join(lines)


def detection_rows(folder: Path) -> dict[str, dict[str, tuple[str, str, str]]]:
    """model -> level -> (rainy AP@0.5, derained AP@0.5, change), from each model's detection markdown."""
    out: dict[str, dict[str, tuple[str, str, str]]] = {}
    for m in MODELS:
        f = folder / f"detection-{m}.md"
        rainy = {}
        for line in f.read_text().splitlines() if f.is_file() else []:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 7 or cells[0] in ("rain", "---"):
                continue
            if cells[2] == "rainy":
                rainy[cells[0]] = cells[3]
            elif cells[0] in rainy:
                out.setdefault(m, {})[cells[0]] = (rainy[cells[0]], cells[3], cells[5])
    return out


def detection(folder: Path) -> str:
    lines = ["| model | rain | rainy AP@0.5 | derained AP@0.5 | change |", "|---|---|---:|---:|---:|"]
    for m, levels in detection_rows(folder).items():
        lines += [f"| {m} | {lv} | {a} | {b} | {c} |" for lv, (a, b, c) in levels.items()]
    return "\n".join(lines)


def targets(r: dict) -> str:
    def both(fn) -> list[str]:
        return [fn(r[m]) for m in MODELS]

    drops = int8_drops(r)
    worst_drop = {m: max((max(d.values()) for (mm, _), d in drops.items() if mm == m), default=float("nan")) for m in MODELS}
    real_rain = both(lambda t: t.get("real rain", {}).get("mean_change", float("nan")))
    clean_rows = [(min(x["psnr"] for x in clean_sets(r, m).values()), min(x["psnr_min"] for x in clean_sets(r, m).values()))
                  for m in MODELS]
    r100 = both(lambda t: _pairs(t, "rain100l")["gain_db"])
    r200 = both(lambda t: _pairs(t, "rain200h")["gain_db"])
    gen = both(lambda t: min(t["generators 1280x720 medium"][f"{g}/medium"]["gain_db"] for g in NEVER_TRAINED))
    lines = ["| target | " + " | ".join(MODELS) + " |", "|---|" + "---:|" * len(MODELS),
             "| real rain: mean change at least 2 grey levels | " + " | ".join(f"{v:.2f}" for v in real_rain) + " |",
             "| Rain100L: at least +6 dB | " + " | ".join(f"{v:+.2f}" for v in r100) + " |",
             "| Rain200H: at least +6 dB | " + " | ".join(f"{v:+.2f}" for v in r200) + " |",
             "| never-trained generators, 720p medium: at least +6 dB (edge +4), worse of the two | "
             + " | ".join(f"{v:+.2f}" for v in gen) + " |",
             "| clean frames: at least 40 dB mean and 35 dB worst (lowest folder mean / lowest frame) | "
             + " | ".join(f"{a:.1f} / {b:.1f}" for a, b in clean_rows) + " |",
             "| INT8 drop at most 0.5 dB at every level (largest) | " + " | ".join(f"{worst_drop[m]:.2f}" for m in MODELS) + " |"]
    return "\n".join(lines)


def readme(r: dict, folder: Path) -> str:
    detect = detection_rows(folder)

    def cell(fn) -> str:
        return " | ".join(fn(r[m]) for m in MODELS)

    lines = ["| set | " + " | ".join(MODELS) + " |", "|---|" + "---:|" * len(MODELS),
             "| held-out road frames 1280x720, synthetic rain low / medium / high | "
             + cell(lambda t: " / ".join(f"{t['held-out 1280x720'][lv]['gain_db']:+.2f}" for lv in LEVELS)) + " |",
             "| rain generators never trained on (particles / dof, 720p medium) | "
             + cell(lambda t: " / ".join(f"{t['generators 1280x720 medium'][f'{g}/medium']['gain_db']:+.2f}"
                                         for g in NEVER_TRAINED)) + " |",
             "| Rain100L (other people's light rain, 20 pairs) | " + cell(lambda t: f"{_pairs(t, 'rain100l')['gain_db']:+.2f}") + " |",
             "| Rain200H (other people's heavy rain, 3 pairs) | " + cell(lambda t: f"{_pairs(t, 'rain200h')['gain_db']:+.2f}") + " |",
             "| real rain (`nturain_rb2`, 20 frames): mean change, grey levels | "
             + cell(lambda t: f"{t.get('real rain', {}).get('mean_change', float('nan')):.2f}") + " |",
             "| clean frames of 8 conditions at 1280x720, and CamVid at its own size: PSNR of output vs input, lowest / "
             "highest folder mean | " + " | ".join("{:.0f}-{:.0f} dB".format(min(x["psnr"] for x in clean_sets(r, m).values()),
                                                                 max(x["psnr"] for x in clean_sets(r, m).values()))
                                                   for m in MODELS) + " |",
             "| YOLOX-nano AP@0.5 on 12 CamVid frames, rainy -> derained (medium rain) | "
             + " | ".join("{} -> {}".format(*detect[m]["medium"][:2]) if "medium" in detect.get(m, {}) else ""
                          for m in MODELS) + " |"]
    return "\n".join(lines)


def write(blocks: dict[str, str]) -> None:
    """Fill every block between its markers (an empty block too: the earlier pattern needed a line between the
    markers, so blocks once left empty were never filled again, in silence). A block named nowhere is an error."""
    placed = set()
    for doc in (REPO / "README.md", REPO / "docs" / "models.md"):
        text = doc.read_text()
        for name, table in blocks.items():
            pattern = re.compile(rf"(<!-- tables:{name} -->\n)(?:.*?\n)?(<!-- /tables:{name} -->)", re.S)
            text, n = pattern.subn(lambda m, t=table: m.group(1) + t + "\n" + m.group(2), text)
            placed |= {name} if n else set()
        doc.write_text(text)
    if set(blocks) - placed:
        sys.exit(f"no <!-- tables:NAME --> markers for: {', '.join(sorted(set(blocks) - placed))}")


def main(argv: list[str]) -> None:
    args = [a for a in argv if a != "--write"]
    folder = Path(args[0]) if args else REPO / "benchmarks" / "results" / "eval"
    usage = "usage: python benchmarks/model_tables.py [EVAL_DIR] [--write]"
    if len(args) > 1:
        sys.exit(f"model_tables.py takes one EVAL_DIR, got {' '.join(args)}; {usage}")
    missing = [f"{m}.json" for m in MODELS if not (folder / f"{m}.json").is_file()]
    if missing:
        sys.exit(f"model_tables.py: {folder} lacks {', '.join(missing)} (written by bash benchmarks/eval_models.sh "
                 f"EVAL_DIR); {usage}")
    r = load(folder)
    blocks = {"summary": summary(r), "sets": sets(r), "clean": clean(r), "int8": int8(r), "real": real(r),
              "detection": detection(folder), "targets": targets(r), "readme": readme(r, folder)}
    for name, table in blocks.items():
        print(f"<!-- tables:{name} -->\n{table}\n")
    if "--write" in argv:
        write(blocks)


if __name__ == "__main__":
    run_script(main, __doc__)
