"""Background delivery: messages go out on a small thread pool.

The page never waits for SMTP or Twilio, and answers in the same time
whether a message was sent or not. (An earlier design delivered from the
response's ``close()``, but Werkzeug's development server skips ``close()``
when the client resets the connection, silently losing messages.)

The queue is bounded: with a hung mail server and a flood of requests, an
unbounded one would hold every rendered message (and its link) in memory
until the process dies.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait


class Dispatcher:
    """A per-process pool, created on first use (so it is born after a fork)."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None], limit: int) -> bool:
        """Queue ``job`` unless ``limit`` jobs are waiting or running; False when refused."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="passwordless")
                self._pid = os.getpid()
                self._pending = set()
            if len(self._pending) >= limit:
                return False
            future = self._pool.submit(job)
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return True

    def has_room(self, limit: int) -> bool:
        """Whether one more job would be queued now (it may be gone by the next call)."""
        with self._lock:
            return self._pid != os.getpid() or len(self._pending) < limit

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait(self, timeout: float = 10.0) -> None:
        """Block until queued deliveries finish (tests, and graceful shutdown)."""
        with self._lock:
            pending = set(self._pending)
        wait(pending, timeout=timeout)
