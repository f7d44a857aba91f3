"""drn-derain: derain images, folders of images, a video file or a camera with an exported engine."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import imageio
from . import friendly_errors



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drn-derain", description=(
        "Derain images, folders, a video file or a camera. "
        "Example: drn-derain --engine drn_export/drn.int8.onnx rainy.mp4 --out clean.mp4 --side-by-side"))
    p.add_argument("inputs", nargs="*", help="image files, folders of images, or one video file")
    p.add_argument("--camera", type=int, help="read from this camera index instead of files")
    p.add_argument("--max-frames", type=int, help="stop after this many frames (camera or video)")
    p.add_argument("--engine", default="drn_export/drn.onnx", help="engine file: .onnx or .plan (default: %(default)s)")
    p.add_argument("--backend", default="auto", help="auto, tensorrt, onnxruntime-trt, onnxruntime-cuda, onnxruntime-cpu")
    p.add_argument("--out", required=True, help="output folder for images, or output video file for a video/camera")
    p.add_argument("--side-by-side", action="store_true", help="write input | output panels")
    p.add_argument("--show-rain", action="store_true", help="with --side-by-side, add the removed rain layer as a third panel")
    p.add_argument("--resize", action="store_true", help="resize frames to a fixed-size engine's size and back")
    return p


def _panel(frame, out, show_rain: bool):
    import numpy as np

    panels = [frame, out]
    if show_rain:
        rain = np.clip((frame.astype(np.int16) - out.astype(np.int16)) * 3, 0, 255).astype(np.uint8)
        panels.append(rain)
    return np.hstack(panels)


def _image_files(inputs: list[str]) -> list[Path]:
    from ..errors import ImageError
    from ..imageio import IMAGE_SUFFIXES

    files = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageError(f"folder '{p}' has no images ({', '.join(IMAGE_SUFFIXES)})")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ImageError(f"input '{p}' does not exist")
    return files


def _progress(total, desc):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 5)


def derain_images(engine, files: list[Path], out_dir: Path, side_by_side: bool, show_rain: bool) -> int:
    import cv2

    from .._atomic import write_bytes
    from ..errors import ImageError

    out_dir.mkdir(parents=True, exist_ok=True)
    with _progress(len(files), "derain") as bar:
        for f in files:
            frame = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if frame is None:
                raise ImageError(f"cannot decode image '{f}'")
            out = engine(frame)
            img = _panel(frame, out, show_rain) if side_by_side else out
            suffix = f.suffix.lower() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff") else ".png"
            ok, data = cv2.imencode(suffix, img)
            if not ok:
                raise ImageError(f"cannot encode output for '{f}'")
            write_bytes(out_dir / (f.stem + suffix), data.tobytes())
            bar.update(1)
    return len(files)


def derain_video(engine, capture, out_path: Path, side_by_side: bool, show_rain: bool, max_frames: int | None,
                 source: str) -> int:
    """Frames of `capture` -> `out_path` with the input's fps and (where OpenCV can write it) its codec."""
    import cv2

    from ..errors import OutputError
    from ..errors import ImageError

    if not capture.isOpened():
        raise ImageError(f"cannot open {source}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames:
        total = min(total or max_frames, max_frames)
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)) or cv2.VideoWriter_fourcc(*"mp4v")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    writer, count = None, 0
    try:
        with _progress(total, "derain") as bar:
            while max_frames is None or count < max_frames:
                ok, frame = capture.read()
                if not ok:
                    break
                out = engine(frame)
                img = _panel(frame, out, show_rain) if side_by_side else out
                if writer is None:
                    h, w = img.shape[:2]
                    writer = cv2.VideoWriter(str(tmp), fourcc, fps, (w, h))
                    if not writer.isOpened():  # the input's codec cannot be written here: fall back, and say so
                        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                        print(f"note: cannot write the input codec {_fourcc_text(fourcc)!r}; writing mp4v", file=sys.stderr)
                    if not writer.isOpened():
                        raise OutputError(f"cannot write video '{out_path}'; use a .mp4 or .avi output name")
                writer.write(img)
                count += 1
                bar.update(1)
        if writer is None:
            raise ImageError(f"{source} has no readable frames")
        writer.release()
        os.replace(tmp, out_path)
    finally:
        if writer is not None:
            writer.release()
        capture.release()
        if tmp.exists():
            tmp.unlink()
    return count


def _fourcc_text(code: int) -> str:
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import cv2

    from ..errors import ImageError
    from ..runtime import DerainEngine

    if args.camera is None and not args.inputs:
        raise ImageError("give image/video inputs or --camera N")
    out = Path(args.out)
    with DerainEngine(args.engine, backend=args.backend, resize=args.resize) as engine:
        if args.camera is not None:
            n = derain_video(engine, cv2.VideoCapture(args.camera), out, args.side_by_side, args.show_rain,
                             args.max_frames, f"camera {args.camera}")
        elif len(args.inputs) == 1 and Path(args.inputs[0]).suffix.lower() in imageio.VIDEO_SUFFIXES:
            src = Path(args.inputs[0])
            if not src.is_file():
                raise ImageError(f"video '{src}' does not exist")
            n = derain_video(engine, cv2.VideoCapture(str(src)), out, args.side_by_side, args.show_rain,
                             args.max_frames, f"video '{src}'")
        else:
            n = derain_images(engine, _image_files(args.inputs), out, args.side_by_side, args.show_rain)
        print(f"derained {n} frame(s) with {engine.backend_name} -> {out}"
              + (f" ({engine.stats.passthrough} passed through)" if engine.stats.passthrough else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
