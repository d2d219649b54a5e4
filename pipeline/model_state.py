"""A fitted, versioned model and the directory that keeps it between command-line calls."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import PipelineInputError

FORMAT_VERSION = 1
SIGNATURE_BYTES = hashlib.sha256().digest_size
STATE_FILE = "state.json"
LABELS_FILE = "labels.csv"
EVENTS_FILE = "events.csv"


@dataclass
class ModelState:
    """A fitted, versioned model: the segmentation model with the thresholds, cluster names and
    colours it implies. Scheduled runs score with it; a refit makes version + 1."""

    version: int
    fitted_as_of: dt.date
    parameters: dict
    thresholds: dict
    clusters: list[dict]
    metrics: dict
    model: Any = None

    def to_bytes(self, key: bytes) -> bytes:
        """The artifact stored with the version: an HMAC-SHA256 of the pickled payload under
        ``key``, then the payload (with a format number)."""
        return bytes(self.to_buffer(key))

    def to_buffer(self, key: bytes) -> memoryview:
        """:meth:`to_bytes` without a copy: the payload is pickled after room for the
        signature, which is written in place."""
        artifact = io.BytesIO()
        artifact.write(bytes(SIGNATURE_BYTES))
        signature = self.write_signed(artifact.write, key)
        view = artifact.getbuffer()
        view[:SIGNATURE_BYTES] = signature
        return view

    def write_signed(self, write: Callable[[Any], object], key: bytes) -> bytes:
        """Pickle the payload through ``write``, in the pieces pickle writes, and return the
        signature that goes before it (:meth:`to_bytes` is the signature, then those pieces):
        a store can take an artifact of hundreds of megabytes without holding it whole."""
        mac = _mac(key)

        class Signed:
            def write(self, data) -> None:
                mac.update(data)
                write(data)

        payload = {f.name: getattr(self, f.name) for f in fields(self)}
        payload["format"] = FORMAT_VERSION
        pickle.dump(payload, Signed(), protocol=pickle.HIGHEST_PROTOCOL)
        return mac.digest()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, key: bytes) -> ModelState:
        """Load an artifact written by :meth:`to_bytes` with the same ``key``.

        The signature is checked before anything is unpickled: an artifact written or changed
        by anyone without the key is refused (PipelineInputError), never loaded. The payload is
        read in place (a view, not a copy: an artifact is hundreds of megabytes).
        """
        view = memoryview(data)
        signature, body = view[:SIGNATURE_BYTES], view[SIGNATURE_BYTES:]
        if len(data) <= SIGNATURE_BYTES or not hmac.compare_digest(
            signature, _signature(key, body)
        ):
            raise PipelineInputError(
                "model artifact refused: its signature does not match this installation's "
                "artifact key (written elsewhere or altered); refit to make a new model version"
            )
        try:
            payload = pickle.loads(body)  # signed by us: see the check above
        except Exception as exc:
            raise PipelineInputError(f"not a model artifact ({exc})") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            found = payload.get("format") if isinstance(payload, dict) else None
            raise PipelineInputError(
                f"model artifact format {found!r} is not supported (expected {FORMAT_VERSION})"
            )
        payload.pop("format")
        return cls(**payload)

    def stable_ids(self, model_labels: np.ndarray) -> np.ndarray:
        """The stable cluster ids of the model's labels."""
        lookup = {int(r["model_cluster"]): int(r["cluster"]) for r in self.clusters}
        return pd.Series(np.asarray(model_labels)).map(lookup).to_numpy(dtype="int64")

    def summary(self) -> dict:
        """JSON-safe description (everything but the fitted model)."""
        return {
            "version": self.version,
            "fitted_as_of": self.fitted_as_of.isoformat(),
            "parameters": self.parameters,
            "thresholds": self.thresholds,
            "clusters": self.clusters,
            "metrics": self.metrics,
        }


def _signature(key: bytes, body: bytes | memoryview) -> bytes:
    mac = _mac(key)
    mac.update(body)
    return mac.digest()


def _mac(key: bytes) -> hmac.HMAC:
    if len(key) < 32:
        raise PipelineInputError("the model artifact key must be at least 32 bytes")
    return hmac.new(key, digestmod=hashlib.sha256)


def save_state_dir(
    directory: str | Path, state: ModelState, labels: pd.DataFrame,
    events: pd.DataFrame | None = None, *, key: bytes,
) -> Path:
    """Keep the model version and the latest membership in ``directory`` (created if needed):
    ``model-vNNNN.bin`` (every version), ``state.json`` (the current one, readable),
    ``labels.csv`` (the latest labels) and ``events.csv`` (the latest run's events)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_file = f"model-v{state.version:04d}.bin"
    (directory / model_file).write_bytes(state.to_buffer(key))
    labels.to_csv(directory / LABELS_FILE, index_label="customer_id")
    if events is not None:
        table = events.assign(details=[json.dumps(d, sort_keys=True) for d in events["details"]])
        table.to_csv(directory / EVENTS_FILE, index=False)
    description = {**state.summary(), "model_file": model_file}
    (directory / STATE_FILE).write_text(json.dumps(description, indent=2, default=str) + "\n")
    return directory


def load_state_dir(
    directory: str | Path, *, key: bytes
) -> tuple[ModelState | None, pd.DataFrame | None]:
    """The current model version and latest labels kept in ``directory`` (None, None if empty);
    the model file must carry ``key``'s signature."""
    directory = Path(directory)
    pointer = directory / STATE_FILE
    if not pointer.exists():
        return None, None
    try:
        model_file = json.loads(pointer.read_text())["model_file"]
        state = ModelState.from_bytes((directory / model_file).read_bytes(), key)
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineInputError(f"{directory}: not a readable state directory ({exc})") from exc
    labels_path = directory / LABELS_FILE
    labels = None
    if labels_path.exists():
        labels = pd.read_csv(labels_path, index_col="customer_id")
        labels["is_insiders"] = labels["is_insiders"].astype(bool)
    return state, labels
