"""What happens to a frame that fails, is late, or finds its queue full: one vocabulary for the engine and the runner.

Each word means the same wherever it is accepted:
  raise        the caller gets the error (DerainEngine: the call raises)
  passthrough  the input frame is returned / delivered raw, counted as passed through
  drop         the frame is not delivered, counted as dropped (StreamRunner)
  stop         the stream ends, its waiting frames are counted dropped, close() raises (StreamRunner)
  drop-oldest  a full stream queue drops its oldest waiting frame (StreamRunner overload)
A frame delivered raw carries why: one of RAW_REASONS.
"""
from __future__ import annotations

from drn_edge.errors import EngineError, InferenceError

__all__ = ["ENGINE_ON_ERROR", "RUNNER_ON_ERROR", "OVERLOAD_POLICIES", "RAW_REASONS", "check_choice", "as_inference_error"]

ENGINE_ON_ERROR = ("raise", "passthrough")            # DerainEngine(on_error=...): a failed or late frame
RUNNER_ON_ERROR = ("passthrough", "drop", "stop")     # StreamRunner(on_error=...): a failed or late batch
OVERLOAD_POLICIES = ("drop-oldest", "passthrough")    # add_stream(policy=...): a full per-stream queue
RAW_REASONS = ("overload", "error", "timeout")        # StreamResult.reason of a frame delivered raw


def check_choice(value, allowed: tuple[str, ...], what: str) -> str:
    """`value` if it is one of `allowed`, else one EngineError naming the parameter and the choices."""
    if not isinstance(value, str) or value not in allowed:
        raise EngineError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def as_inference_error(exc: BaseException) -> InferenceError:
    """The one rule for what a failed inference call becomes: an InferenceError (FrameTimeout among them) stays
    itself; anything else a backend raised is wrapped, naming its type, with the original kept as the cause."""
    if isinstance(exc, InferenceError):
        return exc
    wrapped = InferenceError(f"inference failed: {type(exc).__name__}: {exc}")
    wrapped.__cause__ = exc
    return wrapped
