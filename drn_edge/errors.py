"""Exception types: each says what was wrong and what to do about it."""
from __future__ import annotations


class DrnEdgeError(Exception):
    """Base class for every error drn-edge raises on purpose."""


class CheckpointError(DrnEdgeError):
    """A checkpoint is missing, corrupt, or does not match its config."""


class ConfigError(DrnEdgeError):
    """A model config is inconsistent (e.g. an unpool width differs from its pool)."""


class ImageError(DrnEdgeError, ValueError):
    """An image file or frame cannot be used (a ValueError too, so ``except ValueError`` catches a bad frame)."""


class DataError(DrnEdgeError):
    """A training or evaluation data folder is empty, unpaired or unreadable."""


class CalibrationError(DrnEdgeError):
    """The calibration set is empty, unreadable or unusable."""


class ExportError(DrnEdgeError):
    """An export request cannot be honoured as asked."""


class EngineError(DrnEdgeError):
    """An engine file cannot be loaded or trusted, or a frame does not fit it."""


class InferenceError(EngineError):
    """One inference call failed or returned unusable output (wrong shape, NaN): what passthrough covers."""


class FrameTimeout(InferenceError):
    """Inference did not finish within the engine's timeout_ms."""


class BenchError(DrnEdgeError):
    """A benchmark request cannot be run as asked."""


class OutputError(DrnEdgeError):
    """An output folder cannot be written (missing, read-only or full)."""


class MissingDependencyError(DrnEdgeError):
    """An optional package needed for this request is not installed."""

    def __init__(self, package: str, extra: str | None, purpose: str):
        how = f"pip install 'drn-edge[{extra}]'" if extra else f"pip install {package} (a drn-edge dependency)"
        super().__init__(f"{purpose} needs the '{package}' package, which is not installed. Install it with: {how}")
        self.package = package
        self.extra = extra
