"""Provenance sidecars: ARTIFACT.json names the artifact's sha256 and what made it. Torch-free (the runtime uses it)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from drn_edge.errors import EngineError
from drn_edge.outputs import loads_bounded, sha256_file, write_json

SIDECAR_FORMAT = "drn-edge-artifact/1"
INCOMPLETE_MARKER = ".drn-export-incomplete"  # present while drn-export writes a folder


def sidecar_path(artifact: str | os.PathLike) -> Path:
    return Path(str(artifact) + ".json")


def write_sidecar(artifact: str | os.PathLike, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ARTIFACT.json with the artifact's sha256 and size plus `meta`; return the full record."""
    artifact = Path(artifact)
    record = {"format": SIDECAR_FORMAT, "file": artifact.name, "sha256": sha256_file(artifact),
              "bytes": artifact.stat().st_size, **meta}
    write_json(sidecar_path(artifact), record)
    return record


def read_sidecar(artifact: str | os.PathLike, required: bool = True) -> dict[str, Any] | None:
    """The sidecar record, or None when absent and not required; malformed ones are an EngineError."""
    path = sidecar_path(artifact)
    if not path.is_file():
        if required:
            raise EngineError(
                f"'{artifact}' has no sidecar '{path.name}', so its origin cannot be checked; "
                "rebuild it with drn-export (which writes the sidecar), or keep the sidecar next to the file"
            )
        return None
    try:
        record = loads_bounded(path.read_bytes(), f"sidecar '{path}'")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EngineError(f"sidecar '{path}' is not valid JSON ({exc}); rebuild the artifact with drn-export") from None
    if not isinstance(record, dict) or record.get("format") != SIDECAR_FORMAT or not isinstance(record.get("sha256"), str):
        raise EngineError(f"sidecar '{path}' is not a drn-edge artifact sidecar; rebuild the artifact with drn-export")
    return record


def verify_artifact(artifact: str | os.PathLike, required: bool = True) -> dict[str, Any] | None:
    """Check ARTIFACT against its sidecar's sha256 before anything parses the artifact."""
    incomplete = (Path(artifact).parent / INCOMPLETE_MARKER).exists()
    try:
        record = read_sidecar(artifact, required)
    except EngineError:
        if incomplete:
            raise EngineError(f"'{artifact}' comes from an export that did not finish (interrupted?) and has no "
                              "sidecar; re-run drn-export for this folder") from None
        raise
    if record is None:
        if incomplete:
            raise EngineError(f"'{artifact}' comes from an export that did not finish (interrupted?) and has no "
                              "sidecar; re-run drn-export for this folder")
        return None
    actual = sha256_file(artifact)
    if actual != record["sha256"] and (Path(artifact).parent / INCOMPLETE_MARKER).exists():
        raise EngineError(f"'{artifact}' comes from an export that did not finish (interrupted?): its sidecar is from "
                          "another run. Re-run drn-export for this folder")
    if actual != record["sha256"]:
        raise EngineError(
            f"'{artifact}' does not match its sidecar: sha256 {actual[:16]}... != recorded {record['sha256'][:16]}...; "
            "the file was changed, truncated or replaced. Rebuild it with drn-export"
        )
    return record


def update_sidecar(artifact: str | os.PathLike, extra: dict[str, Any]) -> dict[str, Any]:
    """Add fields to an artifact's sidecar (e.g. its measured fidelity); the artifact itself must be unchanged."""
    record = verify_artifact(artifact, required=True)
    record.update(extra)
    write_json(sidecar_path(artifact), record)
    return record


def made_from_another(artifact: str | os.PathLike, source: str | os.PathLike) -> bool:
    """True when the artifact's sidecar names `source`'s file as its source but another sha256: the source was
    re-exported since, so the artifact is stale (drn-export flags it; drn-bench --compare refuses it)."""
    artifact, source = Path(artifact), Path(source)
    if artifact == source or not source.is_file():
        return False
    src = (read_sidecar(artifact, required=False) or {}).get("source", {})
    return src.get("file") == source.name and src.get("sha256") != sha256_file(source)
