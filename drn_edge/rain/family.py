"""A randomized family of rain generators: what training samples from, and what evaluation holds out.

One preset rain model teaches a network that one look. Published synthetic sets differ a lot:
Rain100L/Rain800 have sparse thin streaks at one angle; Rain100H/Rain200H (Yang et al. 2017)
dense, wide, bright streaks in up to five directions; Rain1400 (Fu et al. 2017) 14 streak
orientations and lengths per photo; the heavy-rain sets (Li et al. 2019, "Heavy Rain Image
Restoration") add an atmospheric veil that accumulates with depth. Real camera frames add
splashes and drops on the lens or windscreen. So each training example draws its own rain:

``RainSpec`` (one draw, all sizes relative to the source frame, so a crop of a 1280 px frame gets
the same streaks as the whole frame):

- ``layers``: 1-4 depth layers. Depth d in [0, 1]: far (d=0) streaks are thin (1 px at 720p),
  short (~1 % of frame height), dense and faint; near (d=1) ones are wide (4 px), long (up to ~15 %
  of frame height), sparse, brighter and blurred (out of focus).
- ``angle`` (-35..35 deg from vertical) with per-layer wind spread (0..12 deg).
- ``coverage``: fraction of the frame a layer's streaks cover, 0.3-15 %, up to 40 % in heavy mode.
- ``veil``: haze opacity 0-0.45, uniform or varying over the frame (low-frequency field or stronger
  towards the top, where distance is larger on a road camera). Off unless asked for (``haze=True``):
  a model taught to remove a veil it cannot tell from scene brightness darkens every bright or
  low-contrast frame (measured: clean overcast/dusk/snow frames came back at 28-32 dB).
- ``splashes`` (small bright blobs on the lower half) and ``drops`` (lens drops: blurred, brightened
  discs), each in a minority of draws.
- ``blend``: screen (light streaks over bright scenes stay below white) or additive-clip (the
  Rain100/Rain200 convention).

Generators: ``streaks`` (the depth-layer model above), ``photoshop`` (the published recipe behind
Rain100/Rain200, light to heavy: drn_edge.rain.photoshop), ``drizzle`` (the same recipe where real rain
filmed from a car lies: dense, faint, short, soft streaks with fine drizzle), ``heavy`` (dense streaks),
``drops`` (lens drops + light streaks), ``long`` (sparse long thin streaks at one angle), ``night``
(streaks visible only where headlights and street lamps light them) and ``windshield`` (drops on the
glass and spray thrown up by other vehicles) are trained on. Two are never trained on and measure
generalization: ``particles`` (every drop its own anti-aliased segment with its own length, angle and
brightness, no convolution kernel) and ``dof`` (every drop placed in depth and defocused by a lens:
drn_edge.rain.depth_of_field).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from drn_edge.errors import DrnEdgeError
from drn_edge.rain.depth_of_field import render_depth_of_field
from drn_edge.rain.photoshop import render_layer as render_photoshop_layer
from drn_edge.rain.photoshop import sample_drizzle_layers, sample_photoshop_layers
from drn_edge.rain.streak import StreakLayer, line_kernel

__all__ = ["RainSpec", "StreakLayer", "TRAIN_GENERATORS", "HELDOUT_GENERATORS", "GENERATORS",
           "sample_spec", "render", "LEVEL_INTENSITY", "parse_rain_mix"]

TRAIN_GENERATORS = ("streaks", "photoshop", "heavy", "drops", "long", "night", "windshield", "drizzle")
# How often each generator is drawn in training: the recipe behind other people's rain (photoshop) and the look of
# real rain (drizzle) lead; the kernel streaks that the earlier models learned well follow.
TRAIN_WEIGHTS = (0.14, 0.26, 0.08, 0.06, 0.1, 0.08, 0.06, 0.22)
HELDOUT_GENERATORS = ("particles", "dof")
# Order fixes each generator's evaluation seed (evaluation.eval_frames.frame_seed): new generators go at the end.
GENERATORS = ("streaks", "photoshop", "heavy", "drops", "particles", "long", "night", "windshield", "drizzle", "dof")
assert set(GENERATORS) == set(TRAIN_GENERATORS + HELDOUT_GENERATORS)
# Evaluation presets of every generator: one intensity per named level (the `streaks` preset of
# drn_edge.rain.preset keeps its own tuned parameters).
LEVEL_INTENSITY = {"low": 0.15, "medium": 0.5, "high": 0.9}
REF_HEIGHT = 720.0  # widths are stated for a 720p frame
# Rain filmed from a moving car slants far more than wind alone makes it (nturain_rb2: about 45 degrees): this share
# of training draws takes any angle within 70 degrees of vertical.
WIDE_ANGLE_SHARE = 0.5


@dataclass(frozen=True)
class RainSpec:
    layers: tuple[StreakLayer, ...]
    veil: float = 0.0
    veil_mode: str = "uniform"  # uniform | field | top
    splashes: float = 0.0       # coverage of splash blobs
    drops: int = 0              # lens drops per 720p frame
    blend: str = "screen"       # screen | add
    style: str = "kernel"       # kernel | photoshop | particles | dof
    extra: dict = field(default_factory=dict, compare=False)


def _layer(rng: np.random.Generator, depth: float, angle: float, coverage: float, brightness: float) -> StreakLayer:
    return StreakLayer(
        depth=depth,
        width=float(np.clip(1 + 3 * depth + rng.normal(0, 0.3), 0.8, 4.5)),
        length=float(np.clip((0.01 + 0.14 * depth) * rng.uniform(0.6, 1.4), 0.006, 0.16)),
        angle=angle,
        coverage=coverage * (1.3 - 0.6 * depth),  # far layers are denser
        brightness=float(np.clip(brightness * (0.55 + 0.6 * depth), 0.05, 1.0)),
        blur=float(depth ** 2 * rng.uniform(0, 2.5)),
    )


def parse_rain_mix(text: str) -> tuple[float, ...] | None:
    """`--rain-mix`'s "NAME=W,NAME=W" as one weight per TRAIN_GENERATORS entry (unnamed ones 0, summing to 1);
    None for "" (the family's own TRAIN_WEIGHTS). The held-out generators cannot be named: they measure rain the
    model never saw."""
    if not text.strip():
        return None
    weights, named = dict.fromkeys(TRAIN_GENERATORS, 0.0), set()
    for item in text.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        if name in HELDOUT_GENERATORS:
            raise DrnEdgeError(f"--rain-mix: '{name}' is held out of training (drn-eval reports it as rain the model "
                               f"never saw); choose from {', '.join(TRAIN_GENERATORS)}")
        if name not in weights:
            raise DrnEdgeError(f"--rain-mix: unknown generator '{name}'; choose from {', '.join(TRAIN_GENERATORS)}")
        if name in named:
            raise DrnEdgeError(f"--rain-mix: '{name}' is named twice in '{text}'; give each generator once")
        named.add(name)
        try:
            weights[name] = float(value)
        except ValueError:
            raise DrnEdgeError(f"--rain-mix: '{item}' needs a weight, as in photoshop=0.5") from None
        if not weights[name] >= 0 or weights[name] == float("inf"):
            raise DrnEdgeError(f"--rain-mix: the weight of '{name}' must be a number >= 0, got {value}")
    total = sum(weights.values())
    if not total > 0:
        raise DrnEdgeError(f"--rain-mix: the weights add up to 0 in '{text}'; give at least one above 0")
    return tuple(w / total for w in weights.values())


def sample_spec(rng: np.random.Generator, generator: str | None = None, intensity: float | None = None,
                haze: bool = False, mix: tuple[float, ...] | None = None) -> RainSpec:
    """One random draw of the family (or of one `generator`); `intensity` in [0, 1] fixes the amount; `mix` (from
    parse_rain_mix) replaces TRAIN_WEIGHTS.

    Drawn intensities lean light (t = u ** 1.4): light rain is what a car sees most and what a
    model learns least from, since its L1 signal is small. `haze` adds the atmospheric veil to some
    draws (all `heavy` ones): an explicit option, off by default (see the module docstring).
    """
    gen = generator or str(rng.choice(TRAIN_GENERATORS, p=mix or TRAIN_WEIGHTS))
    if gen not in GENERATORS:
        raise ValueError(f"rain generator must be one of {GENERATORS}, got {gen!r}")
    t = float(rng.uniform(0, 1) ** 1.4 if intensity is None else intensity)
    angle = float(rng.uniform(-35, 35) if rng.random() < 0.7 else rng.uniform(-10, 10))
    if intensity is None and rng.random() < WIDE_ANGLE_SHARE:  # training draws only: evaluation rain keeps its seeds
        angle = float(rng.uniform(-70, 70))
    wind = float(rng.uniform(0, 12))
    n_layers = int(rng.integers(1, 5))
    heavy = gen == "heavy"
    cov = (0.003 + 0.12 * t ** 1.5) * (2.5 if heavy else 1.0)
    bright = 0.3 + 0.6 * t
    depths = np.sort(rng.uniform(0, 1, n_layers))
    layers = tuple(_layer(rng, float(d), angle + float(rng.uniform(-wind, wind)),
                          min(0.4, cov * rng.uniform(0.5, 1.5) / n_layers ** 0.5), bright * rng.uniform(0.8, 1.2))
                   for d in depths)
    extra: dict = {"generator": gen, "intensity": t}
    if gen == "long":
        layers = _long_layers(rng, t, angle)
    elif gen == "photoshop":
        layers = sample_photoshop_layers(rng, t, angle)
    elif gen == "drizzle":
        layers = sample_drizzle_layers(rng, t, angle)
    veil = 0.0
    if haze and (heavy or rng.random() < 0.35):
        veil = float(rng.uniform(0.05, 0.45 if heavy else 0.25) * (0.4 + t))
    veil_mode = str(rng.choice(["uniform", "field", "top"]))
    splashes = float(rng.uniform(0.001, 0.01) * t) if rng.random() < 0.25 else 0.0
    drops = int(rng.integers(3, 25)) if (gen == "drops" or rng.random() < 0.08) else 0
    if gen == "drops":
        layers = layers[:2]
    if gen == "night":
        extra["lights"] = int(rng.integers(2, 7))
    if gen == "windshield":
        layers = layers[:1]
        drops = int(rng.integers(10, 60))
        extra["spray"] = float(rng.uniform(0.06, 0.3) * (0.4 + t))
    style = {"photoshop": "photoshop", "drizzle": "photoshop", "particles": "particles", "dof": "dof"}.get(gen, "kernel")
    blend = "add" if rng.random() < 0.3 else "screen"
    return RainSpec(layers, min(veil, 0.5), veil_mode, splashes, drops, blend, style, extra)


def _long_layers(rng: np.random.Generator, t: float, angle: float) -> tuple[StreakLayer, ...]:
    """Rain100L-like: one or two sparse layers of long (8-30 % of frame height), thin streaks at one angle.

    Kept thin (0.8-2 px at 720p) on purpose: a run with 1-4 px streaks drawn in 30 % of examples gained a
    little on Rain100L but broke a steep lane marking again (long, straight, bright, a few px wide)."""
    out = []
    for _ in range(int(rng.integers(1, 3))):
        out.append(StreakLayer(depth=0.3, width=float(rng.uniform(0.8, 2.0)), length=float(rng.uniform(0.08, 0.3)),
                               angle=angle + float(rng.uniform(-2, 2)),
                               coverage=float((0.01 + 0.05 * t) * rng.uniform(0.6, 1.4)),
                               brightness=float(np.clip((0.35 + 0.5 * t) * rng.uniform(0.8, 1.2), 0.1, 1.0)),
                               blur=float(rng.uniform(0, 0.8))))
    return tuple(out)


# --------------------------------------------------------------------------- rendering
def _streaks_kernel(h: int, w: int, lay: StreakLayer, rng: np.random.Generator, s: float, frame_h: float) -> np.ndarray:
    kernel = line_kernel(lay.length * frame_h, lay.angle, lay.width * s)
    area = max(float((kernel > 0.2).sum()), 1.0)
    density = min(0.5, lay.coverage / area)
    seeds = (rng.random((h, w)) < density).astype(np.float32)
    seeds *= rng.uniform(0.5, 1.0, (h, w)).astype(np.float32)
    out = cv2.filter2D(seeds, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return np.clip(out, 0, 1)


def _streaks_particles(h: int, w: int, lay: StreakLayer, rng: np.random.Generator, s: float, frame_h: float) -> np.ndarray:
    """Each drop its own segment: length, angle and brightness vary per drop (held-out generator)."""
    mean_len = max(2.0, lay.length * frame_h)
    width = max(1, int(round(lay.width * s)))
    n = int(min(20000, lay.coverage * h * w / (mean_len * width)))
    out = np.zeros((h, w), np.float32)
    xs, ys = rng.uniform(-0.1 * w, 1.1 * w, n), rng.uniform(-0.1 * h, 1.1 * h, n)
    lens = mean_len * rng.lognormal(0, 0.35, n)
    angs = np.deg2rad(lay.angle + rng.normal(0, 4, n))
    vals = rng.uniform(0.4, 1.0, n)
    for x, y, ln, a, v in zip(xs, ys, lens, angs, vals):
        dx, dy = np.sin(a) * ln, np.cos(a) * ln
        cv2.line(out, (int(x * 16), int(y * 16)), (int((x + dx) * 16), int((y + dy) * 16)), float(v), width,
                 lineType=cv2.LINE_AA, shift=4)
    return np.clip(out, 0, 1)


_STREAK_RENDERERS = {"kernel": _streaks_kernel, "photoshop": render_photoshop_layer, "particles": _streaks_particles,
                     "dof": render_depth_of_field}


def veil_field(h: int, w: int, mode: str, rng: np.random.Generator) -> np.ndarray:
    if mode == "uniform":
        return np.ones((h, w), np.float32)
    if mode == "top":
        ramp = np.linspace(1.3, 0.5, h, dtype=np.float32)[:, None]
        return np.broadcast_to(ramp, (h, w)).copy()
    small = rng.uniform(0.4, 1.4, (4, 6)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def splash_layer(h: int, w: int, amount: float, rng: np.random.Generator, s: float) -> np.ndarray:
    seeds = (rng.random((h, w)) < amount / max(1.0, 4 * s * s)).astype(np.float32)
    seeds[: h // 2] = 0
    blob = cv2.GaussianBlur(seeds, (0, 0), max(0.8, 1.2 * s))
    return np.clip(blob / (blob.max() + 1e-6), 0, 1) * 0.8


def lens_drop_mask(h: int, w: int, count: int, rng: np.random.Generator, s: float) -> np.ndarray | None:
    """Soft HxWx1 mask of lens drops (None when none fell on this frame or crop)."""
    frame_area = (s * REF_HEIGHT) ** 2 * 16 / 9  # drops are counted per whole 16:9 frame; a crop gets its share
    count = int(rng.poisson(count * min(1.0, h * w / frame_area)))
    if count < 1:
        return None
    mask = np.zeros((h, w), np.float32)
    for _ in range(count):
        r = rng.uniform(4, 22) * s
        cv2.circle(mask, (int(rng.uniform(0, w) * 16), int(rng.uniform(0, h) * 16)), int(r * 16), 1.0, -1,
                   lineType=cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(mask, (0, 0), max(0.8, 1.5 * s))[..., None]


def apply_drops(img: np.ndarray, mask: np.ndarray, s: float) -> np.ndarray:
    """Behind a drop the scene is defocused and a little brighter."""
    drop = np.clip(cv2.GaussianBlur(img, (0, 0), max(2.0, 4 * s)) * 1.08 + 0.03, 0, 1)
    return img * (1 - mask) + drop * mask


def _lens_drops(img: np.ndarray, count: int, rng: np.random.Generator, s: float) -> np.ndarray:
    mask = lens_drop_mask(img.shape[0], img.shape[1], count, rng, s)
    return img if mask is None else apply_drops(img, mask, s)


def _light_field(h: int, w: int, count: int, rng: np.random.Generator, s: float) -> np.ndarray:
    """Where headlights and street lamps light the rain at night: a few soft pools, faint elsewhere."""
    field = np.full((h, w), 0.12, np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(count):
        cy, cx = rng.uniform(0.1 * h, 0.9 * h), rng.uniform(-0.1 * w, 1.1 * w)
        r = rng.uniform(60, 260) * s
        field += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)).astype(np.float32) * rng.uniform(0.6, 1.0)
    return np.clip(field, 0, 1)


def _spray(h: int, w: int, amount: float, rng: np.random.Generator, s: float) -> np.ndarray:
    """Spray thrown up by wheels: bright, blotchy mist low in the frame (a textured local veil, not a global one)."""
    noise = cv2.resize(rng.uniform(0, 1, (max(2, h // 24), max(2, w // 24))).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    noise = cv2.GaussianBlur(noise, (0, 0), max(1.0, 6 * s))
    low = np.clip(np.linspace(-0.6, 1.4, h, dtype=np.float32), 0, 1)[:, None]
    return np.clip(noise * low * amount, 0, 0.8)


def render(clean: np.ndarray, spec: RainSpec, rng: np.random.Generator, frame_height: float | None = None) -> np.ndarray:
    """Rainy version of a float32 HxWx3 image in [0, 1].

    `frame_height` is the height of the whole source frame when `clean` is a crop of it (streak
    lengths and widths follow the source frame, not the crop).
    """
    h, w = clean.shape[:2]
    fh = float(frame_height or h)
    s = fh / REF_HEIGHT
    img = _lens_drops(clean, spec.drops, rng, s) if spec.drops else clean
    layer = np.zeros((h, w), np.float32)
    renderer = _STREAK_RENDERERS[spec.style]
    for lay in spec.layers:
        st = renderer(h, w, lay, rng, s, fh) * lay.brightness
        if lay.blur * s > 0.5:
            st = cv2.GaussianBlur(st, (0, 0), lay.blur * s)
        layer = 1 - (1 - layer) * (1 - st)
    if spec.extra.get("lights"):
        layer = layer * _light_field(h, w, int(spec.extra["lights"]), rng, s)
    if spec.extra.get("spray"):
        layer = 1 - (1 - layer) * (1 - _spray(h, w, float(spec.extra["spray"]), rng, s))
    if spec.splashes:
        layer = 1 - (1 - layer) * (1 - splash_layer(h, w, spec.splashes, rng, s))
    tint = np.float32(rng.uniform(0.85, 1.0))
    if spec.blend == "add":
        out = img + layer[..., None] * tint
    else:
        out = 1 - (1 - img) * (1 - layer[..., None] * tint)
    if spec.veil > 0:
        v = np.clip(spec.veil * veil_field(h, w, spec.veil_mode, rng), 0, 0.9)[..., None]
        airlight = np.float32(rng.uniform(0.75, 1.0))
        out = out * (1 - v) + airlight * v
    return np.clip(out, 0, 1).astype(np.float32)
