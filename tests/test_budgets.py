"""Someone who knows an address or a number, but holds neither the mailbox nor the
phone, cannot stop its owner from signing in or resetting (issue 11, item 2).

The owner and the attacker sit in different client networks (127.0.1.x and
127.0.2.x are different /24s): send budgets are counted per address and network,
requests from another browser never retire the owner's secrets, wrong codes at
another account's phone check count against that account, and the SMS cap is
shared out per number before the whole app's cap is touched.
"""

from __future__ import annotations

import re

import pytest
from factors import PASSWORD, PHONE, count, last, make_user, password_login

from conftest import (
    client_from,
    code_in,
    confirm_link,
    csrf_token,
    request_login,
    signed_in_as,
    submit_code,
    token_in,
)

OWNER = "127.0.1.2"
ATTACKER = "127.0.2.3"
NEW_PASSWORD = "a brand new long passphrase"


@pytest.fixture
def database_url(tmp_path):
    """These are about limits and who may retire what, not databases: SQLite only."""
    return f"sqlite:///{tmp_path / 'budgets.db'}"


def ask_reset(client, email="alice@example.com"):
    return client.post("/auth/reset", data={"email": email, "csrf_token": csrf_token(client)})


def reset_link_works(app, token, client=None):
    client = client or app.test_client()
    page = client.get(f"/auth/reset/confirm?token={token}", follow_redirects=True)
    if page.status_code != 200:
        return False
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(True))
    data = {"token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    done = client.post("/auth/reset/confirm", data={**data, "csrf_token": csrf.group(1)})
    return done.status_code == 302


def ask_sms(client, phone=PHONE):
    data = {"phone": phone, "csrf_token": csrf_token(client, "/auth/login/sms")}
    return client.post("/auth/login/sms", data=data)


def add_phone(client, phone=PHONE):
    token = csrf_token(client, "/auth/account/phone")
    return client.post("/auth/account/phone", data={"phone": phone, "csrf_token": token})


def confirm_phone(client, code):
    token = csrf_token(client, "/auth/account/phone")
    return client.post("/auth/account/phone/verify", data={"code": code, "csrf_token": token})


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


def texts_to(app, number):
    return [
        m for m in app.extensions["passwordless"].outbox if m.channel == "sms" and m.to == number
    ]


# -- send budgets: per address and client network, with a larger cap across networks


def test_requests_from_another_network_do_not_spend_the_owners_sign_in_budget(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;5/day")
    make_user(app)
    attacker = client_from(app, ATTACKER)
    statuses = [request_login(attacker, "alice@example.com").status_code for _ in range(8)]
    assert statuses == [302] * 5 + [429] * 3
    owner = client_from(app, OWNER)
    assert request_login(owner, "alice@example.com").status_code == 302
    assert submit_code(owner, code_in(last(app, "email"))).status_code == 302
    assert signed_in_as(owner) == "alice@example.com"


def test_sign_in_requests_do_not_spend_the_reset_budget(make_app):
    """Sign-in and reset have budgets of their own: even from the owner's own network
    (a shared office or café), spent sign-in requests leave the reset open."""
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;3/day")
    make_user(app)
    neighbour = client_from(app, OWNER)
    for _ in range(4):
        request_login(neighbour, "alice@example.com")
    assert request_login(neighbour, "alice@example.com").status_code == 429
    owner = client_from(app, OWNER)
    assert ask_reset(owner).status_code == 302
    assert last(app, "email").template == "reset"


def test_reset_requests_from_another_network_leave_the_owners_reset_open(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;3/day")
    make_user(app)
    attacker = client_from(app, ATTACKER)
    assert [ask_reset(attacker).status_code for _ in range(4)] == [302, 302, 302, 429]
    owner = client_from(app, OWNER)
    assert ask_reset(owner).status_code == 302
    assert reset_link_works(app, token_in(last(app, "email")), owner)


def test_sms_requests_from_another_network_leave_the_owners_sms_sign_in_open(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;3/day")
    make_user(app, phone=PHONE)
    attacker = client_from(app, ATTACKER)
    assert [ask_sms(attacker).status_code for _ in range(4)] == [302, 302, 302, 429]
    owner = client_from(app, OWNER)
    assert ask_sms(owner).status_code == 302
    assert submit_code(owner, code_in(last(app, "sms"))).status_code == 302


def test_adding_the_number_elsewhere_does_not_spend_its_sms_sign_in_budget(make_app):
    """Another account's phone page texts the same number from the same network:
    the owner's SMS sign-in has a budget of its own."""
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;2/day")
    make_user(app, phone=PHONE)
    make_user(app, "mallory@example.com")
    mallory = client_from(app, OWNER)
    password_login(mallory, "mallory@example.com")
    assert [add_phone(mallory).status_code for _ in range(3)] == [302, 302, 429]
    owner = client_from(app, OWNER)
    assert ask_sms(owner).status_code == 302
    assert submit_code(owner, code_in(last(app, "sms"))).status_code == 302


def test_all_networks_together_have_a_larger_cap_per_address(make_app):
    app = make_app(
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;4/day",
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER_TOTAL="100/minute;10/day",
    )
    make_user(app)
    statuses = []
    for network in range(3, 6):  # three /24s, five tries each
        client = client_from(app, f"127.0.{network}.9")
        statuses += [request_login(client, "alice@example.com").status_code for _ in range(5)]
    # 4 from each network, and the cross-network cap stops the third network at 2.
    assert statuses == [302] * 4 + [429] + [302] * 4 + [429] + [302] * 2 + [429] * 3
    assert count(app, "email") == 10


def test_requests_refused_in_one_network_do_not_spend_the_cap_of_all(make_app):
    app = make_app(
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;2/day",
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER_TOTAL="100/minute;3/day",
    )
    make_user(app)
    attacker = client_from(app, ATTACKER)
    assert [request_login(attacker, "alice@example.com").status_code for _ in range(6)] == [
        302,
        302,
        429,
        429,
        429,
        429,
    ]
    assert request_login(client_from(app, OWNER), "alice@example.com").status_code == 302


def test_ipv6_clients_share_a_send_budget_per_48(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;2/day")
    make_user(app)
    for address in ("2001:db8:1:2::5", "2001:db8:1:2::9"):
        assert request_login(client_from(app, address), "alice@example.com").status_code == 302
    same_48 = client_from(app, "2001:db8:1:3::1")
    assert request_login(same_48, "alice@example.com").status_code == 429
    other_48 = client_from(app, "2001:db8:2:1::1")
    assert request_login(other_48, "alice@example.com").status_code == 302


def test_client_network_prefixes_are_configurable(make_app):
    app = make_app(
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;1/day",
        PASSWORDLESS_CLIENT_NETWORK_PREFIXES=(32, 128),
    )
    make_user(app)
    assert request_login(client_from(app, "127.0.1.2"), "alice@example.com").status_code == 302
    assert request_login(client_from(app, "127.0.1.3"), "alice@example.com").status_code == 302
    assert request_login(client_from(app, "127.0.1.3"), "alice@example.com").status_code == 429


@pytest.mark.parametrize("address", ["", "not-an-address", "fe80::1%eth0", "::ffff:127.0.1.2"])
def test_odd_client_addresses_are_limited_without_errors(make_app, address):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;1/day")
    make_user(app)
    client = client_from(app, address)
    assert request_login(client, "alice@example.com").status_code == 302
    assert request_login(client, "alice@example.com").status_code == 429


def test_an_ipv4_mapped_client_counts_as_its_ipv4_network(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;1/day")
    make_user(app)
    assert (
        request_login(client_from(app, "::ffff:127.0.1.2"), "alice@example.com").status_code == 302
    )
    assert request_login(client_from(app, "127.0.1.9"), "alice@example.com").status_code == 429


# -- per-IP limits group IPv6 clients by /64


def test_per_ip_limits_count_an_ipv6_64_as_one_client(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IP="2/minute")
    statuses = [
        request_login(client_from(app, address), f"user{n}@example.com").status_code
        for n, address in enumerate(["2001:db8:1:2::5", "2001:db8:1:2::9", "2001:db8:1:2::a"])
    ]
    assert statuses == [302, 302, 429]
    other_64 = client_from(app, "2001:db8:1:3::1")
    assert request_login(other_64, "someone@example.com").status_code == 302


def test_the_ipv6_client_prefix_is_configurable(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IP="1/minute", PASSWORDLESS_IPV6_CLIENT_PREFIX=128)
    for n, address in enumerate(["2001:db8:1:2::5", "2001:db8:1:2::9"]):
        assert request_login(client_from(app, address), f"u{n}@example.com").status_code == 302


def test_per_ip_limits_still_count_each_ipv4_address(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IP="1/minute")
    for n, address in enumerate(["127.0.1.2", "127.0.1.3"]):
        assert request_login(client_from(app, address), f"u{n}@example.com").status_code == 302


# -- another browser never retires the owner's outstanding link or code


def test_a_sign_in_request_from_another_browser_keeps_the_owners_code(app):
    make_user(app)
    owner, attacker = client_from(app, OWNER), client_from(app, ATTACKER)
    request_login(owner, "alice@example.com")
    mine = last(app, "email")
    request_login(attacker, "alice@example.com")
    assert submit_code(owner, code_in(mine)).status_code == 302
    assert signed_in_as(owner) == "alice@example.com"


def test_sign_in_requests_from_another_browser_keep_the_owners_link(app):
    make_user(app)
    owner, attacker = client_from(app, OWNER), client_from(app, ATTACKER)
    request_login(owner, "alice@example.com")
    mine = last(app, "email")
    for _ in range(3):
        request_login(attacker, "alice@example.com")
    laptop = client_from(app, OWNER)
    assert confirm_link(laptop, token_in(mine)).status_code == 302
    assert signed_in_as(laptop) == "alice@example.com"


def test_the_attackers_own_code_does_not_work_in_the_owners_browser(app):
    """Live secrets add no guessing surface: a code only works where it was asked for."""
    make_user(app)
    owner, attacker = client_from(app, OWNER), client_from(app, ATTACKER)
    request_login(owner, "alice@example.com")
    request_login(attacker, "alice@example.com")
    theirs = code_in(last(app, "email"))
    assert "not right" in submit_code(owner, theirs).get_data(as_text=True)


def test_an_sms_request_from_another_browser_keeps_the_owners_code(app):
    make_user(app, phone=PHONE)
    owner, attacker = client_from(app, OWNER), client_from(app, ATTACKER)
    ask_sms(owner)
    mine = last(app, "sms")
    ask_sms(attacker)
    assert submit_code(owner, code_in(mine)).status_code == 302
    assert signed_in_as(owner) == "alice@example.com"


def test_a_reset_request_from_another_browser_keeps_the_owners_reset_link(app):
    make_user(app)
    owner, attacker = client_from(app, OWNER), client_from(app, ATTACKER)
    ask_reset(owner)
    mine = token_in(last(app, "email"))
    ask_reset(attacker)
    assert reset_link_works(app, mine)


def test_a_reset_request_in_the_same_browser_retires_its_earlier_link(app):
    make_user(app)
    owner = client_from(app, OWNER)
    ask_reset(owner)
    first = token_in(last(app, "email"))
    ask_reset(owner)
    assert not reset_link_works(app, first)
    assert reset_link_works(app, token_in(last(app, "email")))


def test_another_accounts_phone_check_keeps_the_owners_verification_code(app):
    make_user(app)
    make_user(app, "mallory@example.com")
    owner, mallory = client_from(app, OWNER), client_from(app, ATTACKER)
    password_login(owner)
    password_login(mallory, "mallory@example.com")
    add_phone(owner)
    mine = last(app, "sms")
    add_phone(mallory)
    assert confirm_phone(owner, code_in(mine)).headers["Location"] == "/auth/account/phone"
    assert "is verified" in owner.get("/auth/account/phone").get_data(as_text=True)


def test_a_reset_retires_every_outstanding_secret_wherever_it_was_asked(app):
    make_user(app, phone=PHONE)
    owner, attacker = client_from(app, OWNER), client_from(app, ATTACKER)
    request_login(attacker, "alice@example.com")
    theirs = token_in(last(app, "email"))
    ask_sms(attacker)
    sms_code = code_in(last(app, "sms"))
    ask_reset(attacker)
    their_reset = token_in(last(app, "email"))
    request_login(owner, "alice@example.com")
    mine = token_in(last(app, "email"))
    ask_reset(owner)
    assert reset_link_works(app, token_in(last(app, "email")))
    assert confirm_link(app.test_client(), theirs).status_code == 400
    assert confirm_link(app.test_client(), mine).status_code == 400
    assert not reset_link_works(app, their_reset)
    assert "no longer works" in submit_code(attacker, sms_code).get_data(as_text=True)


# -- wrong codes at another account's phone check count against that account


def test_wrong_phone_checks_by_another_account_do_not_lock_the_owners_sms_sign_in(app, clock):
    make_user(app, phone=PHONE)
    make_user(app, "mallory@example.com")
    mallory = client_from(app, ATTACKER)
    password_login(mallory, "mallory@example.com")
    for _ in range(2):  # two codes, five wrong tries and two more
        add_phone(mallory)
        code = code_in(last(app, "sms"))
        for _ in range(5 if count(app, "sms") == 1 else 2):
            confirm_phone(mallory, wrong(code))
    owner = client_from(app, OWNER)
    ask_sms(owner)
    assert submit_code(owner, code_in(last(app, "sms"))).status_code == 302
    assert signed_in_as(owner) == "alice@example.com"


def test_failed_phone_checks_are_limited_per_account_not_per_number(make_app):
    app = make_app(
        PASSWORDLESS_LIMIT_FAILED_CHECKS_PER_IDENTIFIER="3/minute",
        PASSWORDLESS_LOCKOUT_FREE_FAILURES=1000,
    )
    make_user(app, phone=PHONE)
    make_user(app, "mallory@example.com")
    mallory = client_from(app, ATTACKER)
    password_login(mallory, "mallory@example.com")
    add_phone(mallory)
    code = code_in(last(app, "sms"))
    statuses = [confirm_phone(mallory, wrong(code)).status_code for _ in range(4)]
    assert statuses[-1] == 429  # the account's own failures are still limited
    owner = client_from(app, OWNER)
    ask_sms(owner)
    assert submit_code(owner, code_in(last(app, "sms"))).status_code == 302


def test_wrong_phone_checks_still_lock_the_account_that_makes_them(app, clock):
    make_user(app)
    mallory = client_from(app, ATTACKER)
    password_login(mallory)
    add_phone(mallory)
    code = code_in(last(app, "sms"))
    for _ in range(4):
        confirm_phone(mallory, wrong(code))
    add_phone(mallory)
    code = code_in(last(app, "sms"))
    confirm_phone(mallory, wrong(code))
    confirm_phone(mallory, wrong(code))  # the sixth failure: a wait
    assert confirm_phone(mallory, code).status_code == 429


# -- the daily SMS cap is shared out per number before the app's cap is spent


def test_texts_to_one_number_cannot_spend_the_whole_apps_sms_cap(make_app):
    app = make_app(PASSWORDLESS_SMS_DAILY_LIMIT=2, PASSWORDLESS_SMS_DAILY_LIMIT_PER_NUMBER=1)
    mallory_phone = "+14155550100"
    make_user(app, "mallory@example.com", phone=mallory_phone)
    make_user(app, phone=PHONE, two_factor=True)
    mallory = client_from(app, ATTACKER)
    for _ in range(2):
        assert ask_sms(mallory, mallory_phone).status_code == 302
    assert len(texts_to(app, mallory_phone)) == 1
    owner = client_from(app, OWNER)
    assert password_login(owner).headers["Location"] == "/auth/two-factor"
    [text] = texts_to(app, PHONE)
    data = {"code": code_in(text), "csrf_token": csrf_token(owner)}
    assert owner.post("/auth/two-factor", data=data).status_code == 302
    assert signed_in_as(owner) == "alice@example.com"


def test_texts_asked_for_elsewhere_do_not_spend_the_owners_share_of_the_cap(make_app):
    app = make_app(PASSWORDLESS_SMS_DAILY_LIMIT_PER_NUMBER=2)
    make_user(app, phone=PHONE)
    attacker = client_from(app, ATTACKER)
    for _ in range(3):
        ask_sms(attacker)
    assert len(texts_to(app, PHONE)) == 2
    owner = client_from(app, OWNER)
    ask_sms(owner)
    assert len(texts_to(app, PHONE)) == 3
    assert submit_code(owner, code_in(last(app, "sms"))).status_code == 302


def test_the_per_number_sms_cap_holds_without_an_app_wide_cap(make_app):
    app = make_app(PASSWORDLESS_SMS_DAILY_LIMIT_PER_NUMBER=2)
    make_user(app, phone=PHONE)
    client = client_from(app, OWNER)
    pages = {
        (ask_sms(client).status_code, client.get("/auth/login/code").status_code) for _ in range(3)
    }
    assert pages == {(302, 200)}  # the page does not say that no text went out
    assert len(texts_to(app, PHONE)) == 2


# -- Retry-After says the real wait


def test_retry_after_says_the_day_when_the_daily_send_budget_is_spent(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="3/minute;3/day")
    make_user(app)
    client = client_from(app, OWNER)
    for _ in range(3):
        request_login(client, "alice@example.com")
    refused = request_login(client, "alice@example.com")
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 86_000 < wait <= 86_401
    assert "24 hours" in refused.get_data(as_text=True)


def test_retry_after_says_the_minute_while_only_the_minute_is_spent(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="2/minute;20/day")
    make_user(app)
    client = client_from(app, OWNER)
    for _ in range(2):
        request_login(client, "alice@example.com")
    refused = request_login(client, "alice@example.com")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 61


@pytest.mark.parametrize("key_prefix", [None, "host-prefix"])
def test_retry_after_of_a_per_ip_limit_says_the_day_when_its_day_is_spent(make_app, key_prefix):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IP="2/minute;2/day", RATELIMIT_KEY_PREFIX=key_prefix)
    client = client_from(app, OWNER)
    for n in range(2):
        request_login(client, f"u{n}@example.com")
    refused = request_login(client, "u3@example.com")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 86_000


def test_retry_after_of_the_cross_network_cap_says_its_own_wait(make_app):
    app = make_app(
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;1/day",
        PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER_TOTAL="100/minute;1/day",
    )
    make_user(app)
    request_login(client_from(app, ATTACKER), "alice@example.com")
    refused = request_login(client_from(app, OWNER), "alice@example.com")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 86_000


def test_the_rate_limited_signal_fires_for_send_budgets(make_app):
    from flask_passwordless import rate_limited

    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="100/minute;1/day")
    make_user(app)
    client = client_from(app, OWNER)
    seen = []
    with rate_limited.connected_to(lambda s, **kw: seen.append(kw), app):
        request_login(client, "alice@example.com")
        request_login(client, "alice@example.com")
    assert [kw["endpoint"] for kw in seen] == ["passwordless.login"]
    assert seen[0]["limit"] == "1 per 1 day"


def test_a_password_sign_in_is_unaffected(app):
    make_user(app)
    assert password_login(client_from(app, OWNER), password=PASSWORD).status_code == 302


def test_the_per_number_sms_share_is_off_with_the_built_in_limits(make_app):
    app = make_app(PASSWORDLESS_SMS_DAILY_LIMIT_PER_NUMBER=1, PASSWORDLESS_LIMITER_ENABLED=False)
    make_user(app, phone=PHONE)
    client = client_from(app, OWNER)
    for _ in range(2):
        ask_sms(client)
    assert len(texts_to(app, PHONE)) == 2
