"""drn-rain: draw the project's rain over your own clean images or a clip (seeded), to make test sets."""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from drn_edge.checks import missing
from drn_edge.cli import friendly_errors
from drn_edge.errors import DrnEdgeError, ImageError
from drn_edge.rain import LEVEL_NAMES


def build_parser() -> argparse.ArgumentParser:
    # lazy: keeps `--help` and argument errors instant; this loads OpenCV
    from drn_edge.rain.family import GENERATORS

    p = argparse.ArgumentParser(prog="drn-rain", description=(
        "Rain over clean images (a folder of rainy copies) or over a clean video (moving rain, a rainy clip). "
        "Example: drn-rain clean.mp4 --out rainy.mp4 --level high --generator windshield"))
    p.add_argument("inputs", nargs="+", help="clean image files, folders of images, or one video file")
    p.add_argument("--out", required=True, help="output folder for images, or output video file for a video (required)")
    p.add_argument("--level", default="medium", choices=LEVEL_NAMES, help="rain level (default: %(default)s)")
    p.add_argument("--generator", default="preset", choices=("preset",) + GENERATORS,
                   help="rain model: the tuned low/medium/high preset or one member of the rain family; moving rain "
                        "for a video uses the family (default: %(default)s, streaks for video)")
    p.add_argument("--seed", type=int, default=0, help="rain seed; the same seed gives the same rain (default: %(default)s)")
    p.add_argument("--max-frames", type=int, help="a video: stop after this many frames (default: all)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs; inputs never (default: off)")
    return p


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import cv2

    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge import imageio

    # lazy: keeps `--help` and argument errors instant; this loads OpenCV
    from drn_edge.rain.preset import synthesize
    from drn_edge.runtime.apply import check_video_output, plan_images

    if args.seed < 0 or (args.max_frames is not None and args.max_frames < 1):
        raise DrnEdgeError("--seed must be >= 0 and --max-frames at least 1")
    first = Path(args.inputs[0])
    if len(args.inputs) == 1 and first.suffix.lower() in imageio.VIDEO_SUFFIXES:
        if not first.is_file():
            raise ImageError(f"video '{first}' {missing(first)}")
        out = check_video_output(args.out, first, args.overwrite)
        return _video(first, out, args)
    job = plan_images(args.inputs, args.out, "", args.overwrite)
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.runtime.frames import DEFAULT_MAX_PIXELS

    for i, (src, dst) in enumerate(job.pairs):
        rgb = imageio.read_rgb(src, max_pixels=DEFAULT_MAX_PIXELS)
        rainy = synthesize(rgb, args.level, seed=args.seed * 100003 + i, generator=args.generator)
        imageio.write_image(dst, cv2.cvtColor(rainy, cv2.COLOR_RGB2BGR))
    print(f"rained {len(job.pairs)} image(s) at {args.level} ({args.generator}, seed {args.seed}) -> {args.out}")
    return 0


def _video(src: Path, out: Path, args) -> int:
    import cv2

    # lazy: keeps `--help` and argument errors instant; this loads OpenCV
    from drn_edge.rain.video import rain_clip
    from drn_edge.runtime.apply import capture_rate_and_count
    from drn_edge.runtime.streaming import frames_of
    from drn_edge.runtime.video_out import VideoFile

    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise ImageError(f"cannot open video '{src}'")
    fps, _ = capture_rate_and_count(cap, f"video '{src}'")
    frames = (cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames_of(cap))
    if args.max_frames:
        frames = itertools.islice(frames, args.max_frames)
    generator = "streaks" if args.generator == "preset" else args.generator
    try:
        with VideoFile(out, fps, source=f"video '{src}'") as video:
            for rainy in rain_clip(frames, args.level, generator, args.seed):
                video.write(cv2.cvtColor(rainy, cv2.COLOR_RGB2BGR))
            n = video.commit()
    finally:
        cap.release()
    print(f"rained {n} frame(s) of '{src}' with moving {args.level} {generator} rain (seed {args.seed}) -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
