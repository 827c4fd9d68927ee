"""Rate limits kept in Redis are shared by every app process that points at it."""

from __future__ import annotations

import uuid

import pytest
from factors import PHONE

from conftest import REDIS_URL, add_user, client_from, csrf_token, request_login, skip_tier


@pytest.fixture
def redis_url():
    if not REDIS_URL:
        skip_tier("PASSWORDLESS_TEST_REDIS_URL is not set")
    return REDIS_URL


def test_two_app_instances_share_one_send_budget(make_app, redis_url):
    # A fresh key prefix per run, so earlier runs' counters do not count.
    shared = {
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER": "3/minute",
    }
    first, second = make_app(**shared), make_app(**shared)
    statuses = [
        request_login(app.test_client(), "alice@example.com").status_code
        for app in (first, second, first, second)
    ]
    assert statuses == [302, 302, 302, 429]


def _shared(redis_url, **config):
    return {
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        **config,
    }


def test_send_budgets_per_network_and_in_total_are_shared_through_redis(make_app, redis_url):
    shared = _shared(
        redis_url,
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;2/day",
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER_TOTAL="100/minute;3/day",
    )
    first, second = make_app(**shared), make_app(**shared)
    add_user(first, "alice@example.com")

    def ask(app, address):
        return request_login(client_from(app, address), "alice@example.com")

    attacker = [ask(app, "127.0.2.3").status_code for app in (first, second, first)]
    assert attacker == [302, 302, 429]  # one network's budget, counted in Redis
    assert ask(second, "127.0.1.2").status_code == 302  # the owner's network is untouched
    refused = ask(first, "127.0.3.4")  # the cap of all networks, counted in Redis too
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 86_000  # read back from Redis


def test_the_per_number_sms_cap_is_shared_through_redis(make_app, redis_url):
    shared = _shared(redis_url, PASSWORDLESS_SMS_DAILY_LIMIT_PER_NUMBER=1)
    first, second = make_app(**shared), make_app(**shared)
    add_user(first, "alice@example.com", phone=PHONE)
    for app in (first, second):
        client = client_from(app, "127.0.1.2")
        token = csrf_token(client, "/auth/login/sms")
        client.post("/auth/login/sms", data={"phone": PHONE, "csrf_token": token})
    texts = [
        m for app in (first, second) for m in app.extensions["passwordless"].outbox if m.to == PHONE
    ]
    assert len(texts) == 1
