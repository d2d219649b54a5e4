"""How a model version's artifact is laid out, signed and read, whole or in pieces.

An artifact is an HMAC-SHA256 signature, then the body it signs. The body of format 2 is a
header (:data:`MAGIC`, then the length of the first pickle), the pickled payload with the model
lacking the parts only UMAP's exact transform reads (a model names them in its
``EXACT_TRANSFORM_PARTS``), then those parts pickled on their own. A worker that scores with the
fast scorer reads the artifact in pieces, checks the signature over every piece and keeps only
the first pickle: at a million customers about 30 MB of a 220 MB artifact, which it never holds
whole nor unpickles. Format 1 (one pickle of everything, the body of artifacts written before)
is still read, always whole.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import pickle
import sys
from collections.abc import Callable
from typing import Any

from pipeline.errors import PipelineInputError

SIGNATURE_BYTES = hashlib.sha256().digest_size
MAGIC = b"INSART02"
HEADER_BYTES = len(MAGIC) + 8
FORMAT_WHOLE, FORMAT_SPLIT = 1, 2


def write_body(payload: dict[str, Any], write: Callable[[Any], object]) -> None:
    """Pickle ``payload`` (its ``model`` split from its exact-transform parts) through
    ``write`` as a format-2 body; the exact parts are pickled in the pieces pickle writes."""
    model, exact_parts = split_exact_parts(payload.get("model"))
    first = pickle.dumps({**payload, "model": model, "format": FORMAT_SPLIT},
                         protocol=pickle.HIGHEST_PROTOCOL)
    write(MAGIC + len(first).to_bytes(8, "big"))
    write(first)
    del first
    pickle.dump(exact_parts, _Writer(write), protocol=pickle.HIGHEST_PROTOCOL)


def exact_part_names(model: Any) -> tuple[str, ...]:
    """What ``model`` holds for UMAP's exact transform alone (its ``EXACT_TRANSFORM_PARTS``)."""
    return getattr(type(model), "EXACT_TRANSFORM_PARTS", ())


def split_exact_parts(model: Any) -> tuple[Any, dict[str, Any]]:
    """``model`` without its exact-transform parts (a shallow copy), and those parts by name."""
    parts = {name: model.__dict__[name] for name in exact_part_names(model)
             if name in vars(model)}
    if not parts:
        return model, {}
    lighter = copy.copy(model)
    for name in parts:
        del lighter.__dict__[name]
    return lighter, parts


def load_body(body: memoryview, *, exact: bool = True) -> dict[str, Any]:
    """The payload of a checked body (format 1 or 2); ``exact``: with the model's exact-transform
    parts (a body read without them must be loaded with ``exact=False``)."""
    if bytes(body[:len(MAGIC)]) != MAGIC:
        return _checked(_unpickle(body), FORMAT_WHOLE)
    end = HEADER_BYTES + int.from_bytes(body[len(MAGIC):HEADER_BYTES], "big")
    payload = _checked(_unpickle(body[HEADER_BYTES:end]), FORMAT_SPLIT)
    parts = _unpickle(body[end:]) if exact else {}
    if parts:
        vars(payload["model"]).update(parts)
    return payload


def check_signature(artifact: bytes | bytearray | memoryview, mac: hmac.HMAC) -> None:
    """Refuse (PipelineInputError) an ``artifact`` whose signature (its first bytes) is not
    ``mac``'s digest of the body after it; one of no body has none."""
    signature = bytes(artifact[:SIGNATURE_BYTES]) if len(artifact) > SIGNATURE_BYTES else b""
    if not hmac.compare_digest(signature, mac.digest()):
        raise PipelineInputError(
            "model artifact refused: its signature does not match this installation's "
            "artifact key (written elsewhere or altered); refit to make a new model version"
        )


def new_mac(key: bytes) -> hmac.HMAC:
    if len(key) < 32:
        raise PipelineInputError("the model artifact key must be at least 32 bytes")
    return hmac.new(key, digestmod=hashlib.sha256)


class ArtifactReader:
    """An artifact fed in pieces (:meth:`feed`), in order, and checked when done (:meth:`body`).
    Every byte goes through the signature; with ``exact=False`` only the signature and the
    body's first pickle are kept (the whole body of a format-1 artifact)."""

    def __init__(self, key: bytes, *, exact: bool = True) -> None:
        self.mac, self.exact = new_mac(key), exact
        self.kept = bytearray()
        self.seen = 0
        self.keep = sys.maxsize  # how many of the artifact's first bytes are kept
        self.header_read = exact

    def feed(self, piece: bytes | bytearray | memoryview) -> None:
        view = memoryview(piece).cast("B")
        start, self.seen = self.seen, self.seen + len(view)
        self.mac.update(view[max(0, SIGNATURE_BYTES - start):])
        if start < self.keep:
            self.kept += view[:self.keep - start]
        if not self.header_read and len(self.kept) >= SIGNATURE_BYTES + HEADER_BYTES:
            self._read_header()

    def body(self) -> memoryview:
        """The checked body kept (PipelineInputError if the signature does not match)."""
        check_signature(self.kept, self.mac)
        return memoryview(self.kept)[SIGNATURE_BYTES:]

    def _read_header(self) -> None:
        self.header_read = True
        head = self.kept[SIGNATURE_BYTES:SIGNATURE_BYTES + HEADER_BYTES]
        if bytes(head[:len(MAGIC)]) != MAGIC:
            return
        self.keep = SIGNATURE_BYTES + HEADER_BYTES + int.from_bytes(head[len(MAGIC):], "big")
        del self.kept[self.keep:]


class _Writer:
    """A file for pickle whose ``write`` is ``write``."""

    def __init__(self, write: Callable[[Any], object]) -> None:
        self.write = write


def _unpickle(data: memoryview) -> Any:
    try:
        return pickle.loads(data)  # signed by this installation: checked before this call
    except Exception as exc:
        raise PipelineInputError(f"not a model artifact ({exc})") from exc


def _checked(payload: Any, expected: int) -> dict[str, Any]:
    found = payload.get("format") if isinstance(payload, dict) else None
    if found != expected:
        raise PipelineInputError(
            f"model artifact format {found!r} is not supported (expected {expected})"
        )
    payload.pop("format")
    return payload
