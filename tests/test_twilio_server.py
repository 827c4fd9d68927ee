"""The fake Twilio server, driven by the REAL ``twilio`` client.

These pin down what the project's SMS backend will see from the client:
``TwilioRestException`` (``.status``, ``.code``) for error replies, and
``requests.exceptions.ReadTimeout`` (not wrapped by twilio) when the server
does not answer within ``TwilioHttpClient(timeout=...)``.
"""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest
import requests
import twilio.rest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio_server import TwilioServer, twilio_client

FROM = "+15005550006"
TO = "+14155552671"
SERVICE = "MG" + "0123456789abcdef" * 2
#: Generous bound for any single call; a test hitting it has hung.
TIMEOUT = 5.0


@pytest.fixture
def server():
    with TwilioServer() as server:
        yield server


@pytest.fixture
def rest(server):
    """The real client, configured the documented way: only base_url changes."""
    client = twilio.rest.Client(server.account_sid, server.auth_token)
    client.api.base_url = server.url
    client.edge = client.region = None
    client.http_client.timeout = TIMEOUT
    return client


def send_error(client, **kwargs) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        client.messages.create(**kwargs)
    return info.value


def test_send_with_from_number(server, rest):
    message = rest.messages.create(to=TO, from_=FROM, body="Your code is 123456")

    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{server.account_sid}/Messages.json"
    assert request.form == {"To": TO, "From": FROM, "Body": "Your code is 123456"}
    assert request.user == server.account_sid
    credentials = f"{server.account_sid}:{server.auth_token}".encode()
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(credentials).decode()

    (resource,) = server.messages
    assert message.sid == resource["sid"] and message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert (message.status, message.to, message.from_) == ("queued", TO, FROM)
    assert message.body == "Your code is 123456"
    assert message.account_sid == server.account_sid
    assert message.messaging_service_sid is None
    assert message.num_segments == "1" and message.direction == "outbound-api"
    # Dates go over the wire in RFC 2822, which the client parses into datetimes.
    assert parsedate_to_datetime(resource["date_created"]).tzinfo is not None
    assert isinstance(message.date_created, datetime)


def test_send_with_messaging_service(server, rest):
    message = rest.messages.create(to=TO, messaging_service_sid=SERVICE, body="hello")

    assert server.requests[0].form == {"To": TO, "MessagingServiceSid": SERVICE, "Body": "hello"}
    assert message.from_ is None
    assert message.messaging_service_sid == SERVICE
    assert (message.sid, message.status, message.to, message.body) == (
        server.messages[0]["sid"],
        "queued",
        TO,
        "hello",
    )


def test_long_and_unicode_bodies_count_segments(rest):
    assert rest.messages.create(to=TO, from_=FROM, body="x" * 161).num_segments == "2"
    assert rest.messages.create(to=TO, from_=FROM, body="é" * 71).num_segments == "2"


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", 21211),
        ("+15005550009", 21614),
        ("+15005550003", 21408),
        ("+15005550004", 21610),
        ("4155552671", 21211),  # not E.164: no '+'
        ("+0123456789", 21211),  # country code cannot start with 0
        ("+1234", 21211),  # too short
    ],
)
def test_refused_to_numbers(server, rest, to, code):
    error = send_error(rest, to=to, from_=FROM, body="hi")

    assert (error.status, error.code) == (400, code)
    assert error.method == "POST"
    assert error.msg.startswith("Unable to create record: ")
    assert server.messages == [] and len(server.requests) == 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "", "from_": FROM, "body": "hi"}, 21604),
        ({"to": TO, "body": "hi"}, 21603),
        ({"to": TO, "from_": FROM}, 21602),
        ({"to": TO, "messaging_service_sid": "MGnope", "body": "hi"}, 21701),
    ],
)
def test_missing_fields(rest, kwargs, code):
    error = send_error(rest, **kwargs)
    assert (error.status, error.code) == (400, code)


def test_wrong_token_is_an_authentication_error(server):
    client = twilio_client(server, timeout=TIMEOUT, password="not-the-token")

    error = send_error(client, to=TO, from_=FROM, body="hi")

    assert (error.status, error.code) == (401, 20003)
    assert server.requests[0].user == server.account_sid
    assert server.messages == []


def test_fail_auth_refuses_good_credentials(server, rest):
    server.fail_auth = True
    assert send_error(rest, to=TO, from_=FROM, body="hi").code == 20003


def test_account_sid_in_path_must_match_credentials(server):
    other = "AC" + "f" * 32
    client = twilio_client(server, timeout=TIMEOUT, account_sid=other)

    error = send_error(client, to=TO, from_=FROM, body="hi")

    assert (error.status, error.code) == (404, 20404)
    assert server.requests[0].path == f"/2010-04-01/Accounts/{other}/Messages.json"


def test_other_paths_are_not_found(server, rest):
    with pytest.raises(TwilioRestException) as info:
        rest.api.v2010.accounts(server.account_sid).fetch()
    assert (info.value.status, info.value.code) == (404, 20404)


def test_fail_next_answers_once(server, rest):
    server.fail_next(503, 20500, "Internal Server Error")

    error = send_error(rest, to=TO, from_=FROM, body="hi")

    assert (error.status, error.code) == (503, 20500)
    assert rest.messages.create(to=TO, from_=FROM, body="hi").status == "queued"
    assert len(server.requests) == 2 and len(server.messages) == 1


def test_slow_server_raises_requests_read_timeout(server):
    """The backend must catch this: twilio lets the requests exception through."""
    server.delay = 2.0
    client = twilio_client(server, timeout=0.2)

    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout) as info:
        client.messages.create(to=TO, from_=FROM, body="hi")

    assert type(info.value) is requests.exceptions.ReadTimeout
    assert isinstance(info.value, requests.exceptions.Timeout)
    assert not isinstance(info.value, (TwilioException, requests.exceptions.ConnectionError))
    assert time.monotonic() - started < 1.5
    assert len(server.requests) == 1 and server.messages == []


def test_stop_does_not_wait_for_a_delayed_request(server):
    """A request sleeping in ``delay`` is dropped at stop(): the client sees ConnectionError."""
    server.delay = 30.0
    client = twilio_client(server, timeout=TIMEOUT)
    errors: list[Exception] = []

    def send() -> None:
        try:
            client.messages.create(to=TO, from_=FROM, body="hi")
        except Exception as error:
            errors.append(error)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    server.wait_for_requests(1, timeout=TIMEOUT)

    started = time.monotonic()
    server.stop()
    thread.join(timeout=TIMEOUT)

    assert time.monotonic() - started < 2.0 and not thread.is_alive()
    assert [type(error) for error in errors] == [requests.exceptions.ConnectionError]


def test_concurrent_sends_are_all_recorded(server, rest):
    with ThreadPoolExecutor(max_workers=8) as pool:
        sids = list(
            pool.map(lambda i: rest.messages.create(to=TO, from_=FROM, body=f"m{i}").sid, range(40))
        )

    assert len(set(sids)) == 40
    assert sorted(m["sid"] for m in server.messages) == sorted(sids)
    assert len(server.requests) == 40
