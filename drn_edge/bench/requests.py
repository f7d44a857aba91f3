"""What each of drn-bench's three jobs is asked to do: frozen requests, checked when made.

Every message names the drn-bench flag the value comes from, so the CLI only parses and prints,
and a request built in Python fails with the same words.
"""
from __future__ import annotations

from dataclasses import dataclass

from drn_edge.checks import choice, hxw, items, number, whole
from drn_edge.errors import BenchError
from drn_edge.rain import LEVEL_NAMES
from drn_edge.runtime.frame_policy import OVERLOAD_POLICIES

__all__ = ["BenchRequest", "VideoBenchRequest", "StreamBenchRequest", "DEFAULT_SIZE"]

DEFAULT_SIZE = (360, 640)  # frame size of dynamic engines when --size is not given


def _common(req) -> None:
    # lazy: pulls in numpy, which importing this module does not
    from drn_edge.runtime.engine import BACKENDS
    from drn_edge.runtime.frames import DEFAULT_MAX_PIXELS

    if hasattr(req, "engines"):  # the streams bench runs one engine
        items(req, "engines", "--engine", error=BenchError)
    choice(req.backend, BACKENDS, "--backend", BenchError)
    hxw(req.height, req.width, "--size", BenchError)
    if req.height * req.width > DEFAULT_MAX_PIXELS:  # every engine would refuse it, after minutes of set-up
        raise BenchError(f"--size {req.height}x{req.width} is {req.height * req.width:,} pixels, more than an engine "
                         f"takes by default ({DEFAULT_MAX_PIXELS:,}); bench at most 2048x2048, e.g. --size 1080x1920")
    whole(req.threads, "--threads", 1, optional=True, error=BenchError)


VIDEO_BENCH_BYTES = 4 << 30  # what drn-bench video may hold of frames (clean, rainy, one output per row)


@dataclass(frozen=True)
class BenchRequest:
    """drn-bench frames: latency, batch throughput, fidelity drop and the detection check of engines side by side."""

    engines: tuple[str, ...]
    backend: str = "auto"
    height: int = DEFAULT_SIZE[0]
    width: int = DEFAULT_SIZE[1]
    frames: int = 30
    warmup: int = 5
    warmup_seconds: float = 1.0
    fps: float | None = 30.0               # deadline for miss counting (None: no deadline)
    pytorch_baseline: bool = True
    checkpoint: str | None = None
    eval_dir: str | None = None
    pairs: tuple[str, ...] = ()
    fidelity: bool = True
    progress: bool = True
    threads: int | None = None
    batch: int = 1
    detector: object = None                # a Detector (drn_edge.detection): the downstream detection check
    detect_frames: tuple[str, ...] = ()
    detect_max_frames: int = 24
    labels: str | None = None

    def __post_init__(self) -> None:
        items(self, "pairs", "--pairs", error=BenchError)
        items(self, "detect_frames", "--detect-frames", error=BenchError)
        _common(self)
        whole(self.frames, "--frames", 1, error=BenchError)
        whole(self.warmup, "--warmup", 0, error=BenchError)
        number(self.warmup_seconds, "--warmup-seconds", low=0, error=BenchError)
        number(self.fps, "--fps", above=0, optional=True, error=BenchError)
        whole(self.batch, "--batch", 1, 256, error=BenchError)
        whole(self.detect_max_frames, "--detect-max-frames", 1, error=BenchError)
        if not (self.engines or self.pytorch_baseline):
            raise BenchError("nothing to measure: give --engine FILE (or --compare) or drop --no-pytorch")


@dataclass(frozen=True)
class VideoBenchRequest:
    """drn-bench video: moving rain over a clean clip; per-frame fidelity and flicker (warping error) per engine."""

    clip: str                              # a file, or a live source (camera index, /dev/videoN, URL, GStreamer)
    engines: tuple[str, ...] = ()
    backend: str = "auto"
    height: int = DEFAULT_SIZE[0]
    width: int = DEFAULT_SIZE[1]
    frames: int = 60
    level: str = "medium"
    generator: str = "streaks"
    seed: int = 0
    threads: int | None = None
    pytorch_baseline: bool = True
    checkpoint: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        # lazy: pulls in OpenCV, which importing this module does not
        from drn_edge.rain.family import GENERATORS

        _common(self)
        whole(self.frames, "--frames", 2, 10_000, error=BenchError)
        rows = 2 + len(self.engines) + int(self.pytorch_baseline)
        held = self.frames * self.height * self.width * 3 * rows
        if held > VIDEO_BENCH_BYTES:  # it held ~20 MB per 720p frame and accepted 10,000 frames
            raise BenchError(f"--frames {self.frames} at --size {self.height}x{self.width} with {rows - 2} row(s) would "
                             f"hold {held / 2**30:.1f} GiB of frames (at most {VIDEO_BENCH_BYTES / 2**30:.0f}); lower "
                             "--frames or --size")
        choice(self.level, LEVEL_NAMES, "--rain", BenchError)
        choice(self.generator, GENERATORS, "--rain-generator", BenchError)
        whole(self.seed, "--seed", 0, error=BenchError)
        if not (self.engines or self.pytorch_baseline):
            raise BenchError("nothing to measure: give --engine FILE (or --compare) or drop --no-pytorch")


MAX_FPS = 1000.0
MAX_SECONDS = 86400.0


@dataclass(frozen=True)
class StreamBenchRequest:
    """drn-bench streams: N free-running cameras at --fps each for --seconds into one engine (StreamRunner)."""

    engine: str
    cameras: int = 4
    fps: float = 30.0                      # each camera's frame rate
    seconds: float = 10.0
    height: int = DEFAULT_SIZE[0]
    width: int = DEFAULT_SIZE[1]
    backend: str = "auto"
    threads: int | None = None
    policy: str = "drop-oldest"
    queue_size: int = 2
    max_batch: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        _common(self)
        whole(self.cameras, "--cameras", 1, 64, error=BenchError)
        # Bounded so that fps x seconds stays a frame count a machine can offer (1e308 s overflowed; 1e-9 fps
        # gave a table of nan): a camera offers 0.1-1000 frames a second, a run lasts at most a day.
        if not 0.1 <= number(self.fps, "--fps", above=0, error=BenchError) <= MAX_FPS:
            raise BenchError(f"--fps must be from 0.1 to {MAX_FPS:g} frames a second, got {self.fps:g}")
        if not 0 < number(self.seconds, "--seconds", above=0, error=BenchError) <= MAX_SECONDS:
            raise BenchError(f"--seconds must be above 0 and at most {MAX_SECONDS:g} (a day), got {self.seconds:g}")
        choice(self.policy, OVERLOAD_POLICIES, "--policy", BenchError)
        whole(self.queue_size, "--queue", 1, 64, error=BenchError)
        whole(self.max_batch, "--max-batch", 1, optional=True, error=BenchError)
