"""A real HTTP receiver for webhook tests, on 127.0.0.1 in a thread of the test process.

Every request is verified with ``standardwebhooks.Webhook(secret).verify``; the receiver
answers 503 to its first ``fail_first`` requests, sleeps ``delay`` seconds before answering
and records what it accepted by ``webhook-id``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Receiver:
    secret: str
    fail_first: int = 0
    delay: float = 0.0
    requests: int = 0
    accepted: list[tuple[str, dict]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def ids(self) -> list[str]:
        with self.lock:
            return [message_id for message_id, _ in self.accepted]

    def wait_for(self, n: int, timeout: float = 30.0) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.accepted) >= n:
                    return list(self.accepted)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.accepted)} of {n} deliveries after {timeout} s "
                             f"({self.requests} requests, rejected: {self.rejected})")

    def handle(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.requests += 1
            if self.requests <= self.fail_first:
                return 503, "down for maintenance"
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            with self.lock:
                self.rejected.append(str(exc))
            return 400, f"bad signature: {exc}"
        with self.lock:
            self.accepted.append((headers["webhook-id"], payload))
        return 200, "ok"


def start_receiver(secret: str, **options) -> Receiver:
    """A receiver listening on a free port of 127.0.0.1; call ``stop_receiver`` after."""
    receiver = Receiver(secret, **options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status, text = receiver.handle(body, {k.lower(): v for k, v in self.headers.items()})
            data = text.encode()
            self.send_response(status)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args) -> None:
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def stop_receiver(receiver: Receiver) -> None:
    receiver.server.shutdown()
    receiver.server.server_close()


def fake_result(entered: list[int], exited: list[int], *, fingerprint: str = "test"):
    """A ``pipeline.run.RunResult`` stand-in with these changes (no model refit, no labels)."""
    # pandas only where a fake run is built, not for the receiver
    import pandas as pd

    from pipeline.columns import FEATURE_COLUMNS

    labels = pd.DataFrame(
        {"cluster": [], "is_insiders": [], **{c: [] for c in FEATURE_COLUMNS},
         "embedding_x": [], "embedding_y": []},
        index=pd.Index([], name="customer_id", dtype="int64"),
    )
    events = pd.DataFrame(
        [{"customer_id": c, "kind": "entered", "cause": "feature", "reason": "spent more",
          "details": {}} for c in entered]
        + [{"customer_id": c, "kind": "exited", "cause": "feature", "reason": "spent less",
            "details": {}} for c in exited],
        columns=["customer_id", "kind", "cause", "reason", "details"],
    )
    state = SimpleNamespace(version=1)
    return SimpleNamespace(
        labels=labels, clusters=pd.DataFrame(), events=events, state=state, refitted=False,
        metrics={"n_customers": 20000, "n_insiders": 2000}, report={},
        data_fingerprint=fingerprint, cleaning={},
    )
