"""The test host app served over real HTTP on 127.0.0.1, for browser tests.

A threaded Werkzeug server runs in a background thread; the database is a
SQLite file (each request thread opens its own connection, so ``:memory:``
would give every thread an empty database).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from apps import create_app, db
from flask_passwordless import Message

#: How long to wait for a message that is delivered after its response.
MESSAGE_TIMEOUT = 5.0
POLL_INTERVAL = 0.02


@dataclass
class LiveServer:
    app: Flask
    url: str
    server: BaseWSGIServer

    @property
    def outbox(self) -> list[Message]:
        return self.app.extensions["passwordless"].outbox

    def wait_for_message(self, count: int = 1, timeout: float = MESSAGE_TIMEOUT) -> Message:
        """The ``count``-th message in the outbox, once it has been delivered.

        Delivery runs on a background thread, which can finish a moment
        after the browser has already seen the page: this waits for the
        message, bounded by ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while len(self.outbox) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} message(s) within {timeout}s, got {len(self.outbox)}"
                )
            time.sleep(POLL_INTERVAL)
        return self.outbox[count - 1]


@contextmanager
def live_server(
    tmp_path: Path, *, public_host: str = "127.0.0.1", **config: Any
) -> Iterator[LiveServer]:
    """Serve a fresh host app with its tables created; stop it afterwards.

    It listens on 127.0.0.1 only; ``public_host`` is the name in its URL
    ("localhost" for passkeys: a WebAuthn RP ID cannot be an IP address)."""
    app = create_app(f"sqlite:///{tmp_path / 'live.db'}", **config)
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://{public_host}:{server.server_port}"
    # Links in messages must point at this server; set before the first request.
    app.config["PASSWORDLESS_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=url, server=server)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
