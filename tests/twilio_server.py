"""A Twilio-compatible HTTP server on 127.0.0.1, so SMS code can run the real client in tests.

Only ``POST /2010-04-01/Accounts/<AccountSid>/Messages.json`` is implemented;
replies carry Twilio's JSON shapes, status codes and error codes, so the
``twilio`` package parses them exactly as it would parse the real API.

Pointing the real client at it (checked against twilio 9.13)::

    client = twilio.rest.Client(server.account_sid, server.auth_token)
    client.api.base_url = server.url      # Domain.absolute_url joins base_url + uri
    client.edge = client.region = None    # else TWILIO_EDGE/TWILIO_REGION from the
                                          # environment rewrite the host name

or simply ``twilio_client(server, timeout=...)``, which does both.  The timeout
belongs to the HTTP client: ``TwilioHttpClient(timeout=seconds)``.

What the client raises (the SMS backend has to catch both kinds):

* an HTTP error reply (4xx/5xx) -> ``twilio.base.exceptions.TwilioRestException``
  with ``.status`` (HTTP status), ``.code`` (Twilio error code from the JSON),
  ``.msg`` ("Unable to create record: <message>"), ``.uri``, ``.method``.
* no reply within the timeout -> ``requests.exceptions.ReadTimeout`` (a
  ``requests.exceptions.Timeout``, *not* a ``ConnectionError``); twilio does not
  wrap it.  A dropped connection or closed port -> ``requests.exceptions.ConnectionError``.
  Both derive from ``requests.exceptions.RequestException``.

Order of checks for each request: record it, sleep ``delay``, authentication
(401/20003), a queued ``fail_next`` reply, method and path (405/20004,
404/20404), then the form: To, From/MessagingServiceSid, Body, then the 'To'
number (magic test numbers, E.164).  As on the real API, a request may carry
both ``From`` and ``MessagingServiceSid``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

API_VERSION = "2010-04-01"
MESSAGES_PATH = re.compile(rf"/{API_VERSION}/Accounts/([^/]+)/Messages\.json")
E164 = re.compile(r"\+[1-9]\d{6,14}")
SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")

#: Twilio's magic 'To' numbers and the errors the real API gives for them.
MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550009": (21614, "'To' number {to} is not a valid mobile number"),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated "
        "by the 'To' number: {to}.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it, whether or not it was accepted."""

    method: str
    path: str
    user: str | None
    form: dict[str, str]
    headers: dict[str, str]


class TwilioError(Exception):
    """An error reply, raised inside the handler and sent as Twilio's error JSON."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops bursts of connections, which then
    # wait a whole second for the SYN to be retried.
    request_queue_size = 128


def num_segments(body: str) -> int:
    """SMS parts: 160/153 characters for plain text, 70/67 for anything else (UCS-2)."""
    single, multi = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else math.ceil(len(body) / multi)


class TwilioServer:
    """A threaded fake of Twilio's Messages API for one account.

    Knobs, settable at any time: ``fail_auth`` (answer everything 401/20003),
    ``delay`` (seconds to wait before answering; ``stop()`` cuts it short),
    ``fail_next(status, code, message)`` (queue one error reply).
    """

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        self.account_sid = account_sid or "AC" + uuid.uuid4().hex
        self.auth_token = auth_token or uuid.uuid4().hex
        self.fail_auth = False
        self.delay = 0.0
        self._failures: deque[TwilioError] = deque()
        self._requests: list[RecordedRequest] = []
        self._messages: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ``client.api.base_url``."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def start(self) -> TwilioServer:
        self._stopping.clear()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests still inside ``delay`` are dropped without a reply."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> TwilioServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- knobs and records -----------------------------------------------

    def fail_next(self, status: int, code: int, message: str) -> None:
        """Answer the next authenticated request with this error instead."""
        with self._lock:
            self._failures.append(TwilioError(status, code, message))

    def forget(self) -> None:
        """Drop every request, message and pending failure: a fresh server, same port."""
        with self._lock:
            self._requests.clear()
            self._messages.clear()
            self._failures.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """A snapshot of every accepted message resource (as sent back), oldest first."""
        with self._lock:
            return list(self._messages)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` requests have arrived (they are recorded before ``delay``)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(f"expected {count} request(s), got {len(self._requests)}")
            return list(self._requests)

    # -- request handling ------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()

    def _respond(self, request: RecordedRequest, password: str | None) -> tuple[int, dict]:
        """Status and JSON body for ``request``; error replies raise TwilioError."""
        if self.fail_auth or (request.user, password) != (self.account_sid, self.auth_token):
            raise TwilioError(401, 20003, "Authentication Error - invalid username")
        with self._lock:
            if self._failures:
                raise self._failures.popleft()
        match = MESSAGES_PATH.fullmatch(request.path)
        if match and request.method != "POST":
            raise TwilioError(405, 20004, "Method not allowed")
        if not match or match.group(1) != self.account_sid:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        return 201, self._create_message(request.form)

    def _create_message(self, form: dict[str, str]) -> dict[str, Any]:
        to, sender, body = form.get("To"), form.get("From"), form.get("Body")
        service = form.get("MessagingServiceSid")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if service and not SERVICE_SID.fullmatch(service):
            raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        if to in MAGIC_TO:
            code, text = MAGIC_TO[to]
            raise TwilioError(400, code, text.format(to=to))
        if not E164.fullmatch(to):
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(timezone.utc))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        message = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": now,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": str(num_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
        with self._lock:
            self._messages.append(message)
        return message


def _basic_auth(header: str | None) -> tuple[str | None, str | None]:
    """(user, password) from an ``Authorization: Basic`` header, or (None, None)."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return (user, password) if sep else (None, None)


def _handler_for(server: TwilioServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            form: dict[str, str] = {}
            if self.headers.get_content_type() == "application/x-www-form-urlencoded":
                form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            user, password = _basic_auth(self.headers.get("Authorization"))
            request = RecordedRequest(
                method=self.command,
                path=self.path.partition("?")[0],
                user=user,
                form=form,
                headers=dict(self.headers.items()),
            )
            server._record(request)
            # Event.wait, not time.sleep: stop() wakes it, so shutdown never waits on it.
            if server.delay and server._stopping.wait(server.delay):
                self.close_connection = True
                return
            try:
                status, reply = server._respond(request, password)
            except TwilioError as error:
                status, reply = error.status, error.body()
            self._send_json(status, reply)

        def _send_json(self, status: int, reply: dict[str, Any]) -> None:
            data = json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Twilio-Request-Id", "RQ" + uuid.uuid4().hex)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timed out) before the reply

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; server.requests has everything

    return Handler


def twilio_client(server: TwilioServer, timeout: float | None = None, **client_kwargs: Any):
    """A real ``twilio.rest.Client`` for ``server``'s account, talking to ``server``."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    kwargs = {"username": server.account_sid, "password": server.auth_token, **client_kwargs}
    client = Client(http_client=TwilioHttpClient(timeout=timeout), **kwargs)
    client.api.base_url = server.url
    client.edge = client.region = None
    return client
