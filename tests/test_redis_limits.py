"""Rate limits kept in Redis are shared by every app process that points at it."""

from __future__ import annotations

import uuid

import pytest

from conftest import REDIS_URL, request_login, skip_tier


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
