"""A fitted, versioned model and the directory that keeps it between command-line calls."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import artifact
from pipeline.artifact import SIGNATURE_BYTES, new_mac
from pipeline.errors import PipelineInputError

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
        buffer = io.BytesIO()
        buffer.write(bytes(SIGNATURE_BYTES))
        signature = self.write_signed(buffer.write, key)
        view = buffer.getbuffer()
        view[:SIGNATURE_BYTES] = signature
        return view

    def write_signed(self, write: Callable[[Any], object], key: bytes) -> bytes:
        """Write the body through ``write``, in the pieces pickle writes, and return the
        signature that goes before it (:meth:`to_bytes` is the signature, then those pieces):
        a store can take an artifact of hundreds of megabytes without holding it whole. The
        body's layout: :mod:`pipeline.artifact`."""
        mac = new_mac(key)

        def signed(data) -> None:
            mac.update(data)
            write(data)

        artifact.write_body({f.name: getattr(self, f.name) for f in fields(self)}, signed)
        return mac.digest()

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, key: bytes, *,
                   exact: bool = True) -> ModelState:
        """Load an artifact written by :meth:`to_bytes` with the same ``key``; ``exact=False``:
        without the parts of the model only UMAP's exact transform reads.

        The signature is checked before anything is unpickled: an artifact written or changed
        by anyone without the key is refused (PipelineInputError), never loaded. The payload is
        read in place (a view, not a copy: an artifact is hundreds of megabytes).
        """
        view = memoryview(data).cast("B")
        mac = new_mac(key)
        mac.update(view[SIGNATURE_BYTES:])
        artifact.check_signature(view, mac)
        return cls(**artifact.load_body(view[SIGNATURE_BYTES:], exact=exact))

    @classmethod
    def from_pieces(cls, pieces: Iterable[bytes | bytearray | memoryview], key: bytes, *,
                    exact: bool = True) -> ModelState:
        """:meth:`from_bytes` of the artifact given in ``pieces``, in order; with
        ``exact=False`` only the part scoring reads is kept as they arrive."""
        reader = artifact.ArtifactReader(key, exact=exact)
        for piece in pieces:
            reader.feed(piece)
        return cls(**artifact.load_body(reader.body(), exact=exact))

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
