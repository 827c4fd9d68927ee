"""Security claims of the email flow: enumeration, CSRF, redirects, Host header, bad input."""

from __future__ import annotations

import re

import pytest
from factors import PHONE, make_user
from werkzeug.middleware.proxy_fix import ProxyFix

from conftest import (
    CSRF_FIELD,
    add_user,
    auth_methods,
    code_in,
    csrf_token,
    request_login,
    session_row,
    submit_code,
    token_in,
)


def _normalised(response, email: str) -> tuple:
    body = CSRF_FIELD.sub('name="csrf_token" type="hidden" value="CSRF"', response.get_data(True))
    body = body.replace(email, "EMAIL")
    headers = sorted((k, v) for k, v in response.headers.items() if k != "Set-Cookie")
    return response.status_code, headers, body


def test_known_and_unknown_addresses_get_identical_responses(app, user):
    known, unknown = app.test_client(), app.test_client()
    pairs = [(known, "alice@example.com"), (unknown, "alicf@example.com")]
    steps = [
        lambda c, e: c.get("/auth/login"),
        lambda c, e: request_login(c, e),
        lambda c, e: c.get("/auth/login/code"),
        lambda c, e: submit_code(c, "000000"),
    ]
    for step in steps:
        first, second = (_normalised(step(c, e), e) for c, e in pairs)
        assert first == second


def test_unknown_address_is_limited_like_a_known_one(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IDENTIFIER="2/minute")
    from conftest import add_user

    add_user(app, "alice@example.com")
    for email in ("alice@example.com", "nobody@example.com"):
        client = app.test_client()
        codes = [request_login(client, email).status_code for _ in range(3)]
        assert codes == [302, 302, 429]


def test_post_without_csrf_token_is_refused_with_a_page(client, user, outbox):
    response = client.post("/auth/login", data={"email": "alice@example.com"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert outbox == []


def test_forged_csrf_token_is_refused(client, user, outbox):
    data = {"email": "alice@example.com", "csrf_token": "forged.token.value"}
    assert client.post("/auth/login", data=data).status_code == 400
    assert outbox == []


def test_csrf_token_from_another_session_is_refused(app, user, outbox):
    attacker, victim = app.test_client(), app.test_client()
    stolen = csrf_token(attacker)
    victim.get("/auth/login")
    response = victim.post("/auth/login", data={"email": "alice@example.com", "csrf_token": stolen})
    assert response.status_code == 400


def test_logout_needs_csrf(client, user, outbox):
    request_login(client, "alice@example.com")
    submit_code(client, code_in(outbox[0]))
    assert client.post("/auth/logout").status_code == 400
    assert "signed in: alice@example.com" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/private",
        "https://evil.example/",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "private",
        "x" * 5000,
    ],
)
def test_next_never_leaves_the_site(client, user, outbox, target):
    request_login(client, "alice@example.com", next_url=target)
    response = submit_code(client, code_in(outbox[0]))
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_on_own_path_with_query_is_kept(client, user, outbox):
    request_login(client, "alice@example.com", next_url="/private?tab=2")
    assert submit_code(client, code_in(outbox[0])).headers["Location"] == "/private?tab=2"


def test_links_ignore_a_forged_host_header(client, user, outbox):
    forged = {"Host": "evil.example"}
    page = client.get("/auth/login", headers=forged).get_data(as_text=True)
    data = {"email": "alice@example.com", "csrf_token": CSRF_FIELD.search(page).group(1)}
    response = client.post("/auth/login", data=data, headers=forged)
    assert response.status_code == 302
    (message,) = outbox
    assert "evil.example" not in message.text + message.html
    assert "https://app.example.com/auth/login/link?token=" in message.text


def test_links_fall_back_to_server_name(make_app):
    app = make_app(PASSWORDLESS_BASE_URL=None, SERVER_NAME="login.example.org")
    add_user(app, "alice@example.com")
    client = app.test_client()
    request_login(client, "alice@example.com")
    text = app.extensions["passwordless"].outbox[0].text
    assert "http://login.example.org/auth/login/link?token=" in text


def test_server_name_links_keep_the_application_root_once(make_app):
    app = make_app(
        PASSWORDLESS_BASE_URL=None, SERVER_NAME="login.example.org", APPLICATION_ROOT="/app"
    )
    add_user(app, "alice@example.com")
    client = app.test_client()  # its requests come under /app too
    assert request_login(client, "alice@example.com").headers["Location"] == "/app/auth/login/code"
    (message,) = app.extensions["passwordless"].outbox
    assert "http://login.example.org/app/auth/login/link?token=" in message.text


def _behind_proxy_fix(app):
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)
    return app


def _urls(message) -> list[str]:
    return re.findall(r"https?://\S+", message.text + (message.html or ""))


def test_a_forwarded_prefix_cannot_move_links_to_another_host(make_app):
    app = _behind_proxy_fix(make_app(PASSWORDLESS_EMAIL_UNKNOWN_ACCOUNTS=True))
    make_user(app, phone=PHONE)
    outbox = app.extensions["passwordless"].outbox
    client = app.test_client()
    # A prefix that is a path gets through (one that is not is refused: see below).
    hostile = {"X-Forwarded-Prefix": "/@evil.com", "X-Forwarded-Host": "evil.com"}

    def post(path, **data):
        page = client.get(path, headers=hostile).get_data(as_text=True)
        data["csrf_token"] = CSRF_FIELD.search(page).group(1)
        return client.post(path, data=data, headers=hostile)

    assert post("/auth/login", email="alice@example.com").status_code == 302
    assert post("/auth/reset", email="alice@example.com").status_code == 302
    assert post("/auth/reset", email="nobody@example.com").status_code == 302
    assert post("/auth/login/sms", phone=PHONE).status_code == 302
    login, reset, unknown, sms = outbox
    assert (login.template, reset.template, unknown.template) == (
        "login",
        "reset",
        "unknown_account",
    )
    for message in (login, reset, unknown):
        assert "evil.com" not in message.text + message.html
        assert _urls(message)
        assert all(url.startswith("https://app.example.com/auth/") for url in _urls(message))
    assert "https://app.example.com/auth/login/link?token=" in login.text
    assert "https://app.example.com/auth/reset/confirm?token=" in reset.text
    assert sms.text.endswith(f"\n@app.example.com #{code_in(sms)}")


def test_links_keep_the_base_urls_path_without_doubling_the_mount(make_app):
    """Mounted at /app (the proxy says so), with the base URL saying /app too."""
    app = _behind_proxy_fix(make_app(PASSWORDLESS_BASE_URL="https://example.com/app/"))
    add_user(app, "alice@example.com")
    client = app.test_client()
    mounted = {"X-Forwarded-Prefix": "/app"}
    page = client.get("/auth/login", headers=mounted).get_data(as_text=True)
    assert 'action="/app/auth/login"' in page
    data = {"email": "alice@example.com", "csrf_token": CSRF_FIELD.search(page).group(1)}
    assert client.post("/auth/login", data=data, headers=mounted).status_code == 302
    (message,) = app.extensions["passwordless"].outbox
    assert re.search(
        r"^https://example\.com/app/auth/login/link\?token=[\w-]{43}$", message.text, re.M
    )


def test_the_issues_prefix_without_its_slash_is_refused_and_sends_nothing(make_app):
    """The reproduction in issue 11: ``X-Forwarded-Prefix: @evil.com`` on POST /auth/reset."""
    app = _behind_proxy_fix(make_app())
    make_user(app)
    client = app.test_client()
    token = csrf_token(client, "/auth/reset")
    data = {"email": "alice@example.com", "csrf_token": token}
    response = client.post("/auth/reset", data=data, headers={"X-Forwarded-Prefix": "@evil.com"})
    assert response.status_code == 400
    assert app.extensions["passwordless"].outbox == []


@pytest.mark.parametrize("path", ["/auth/account", "/auth/account/devices", "/private"])
def test_a_forged_scheme_on_a_protected_page_is_refused_not_a_500(make_app, path):
    """Signed out, a protected page sends the browser to sign in with its own URL
    as ``next``; ``X-Forwarded-Proto: http://[`` made that URL unbuildable (the
    header fuzz found it on the account page), our page or the host's."""
    app = _behind_proxy_fix(make_app())
    response = app.test_client().get(path, headers={"X-Forwarded-Proto": "http://["})
    assert response.status_code == 400
    normal = app.test_client().get(path, headers={"X-Forwarded-Proto": "https"})
    assert normal.status_code == 302 and "/auth/login" in normal.headers["Location"]


def test_server_name_links_ignore_the_script_root(make_app):
    app = make_app(PASSWORDLESS_BASE_URL=None, SERVER_NAME="login.example.org")
    _behind_proxy_fix(app)
    add_user(app, "alice@example.com")
    client = app.test_client()
    hostile = {"X-Forwarded-Prefix": "/@evil.com"}
    page = client.get("/auth/login", headers=hostile).get_data(as_text=True)
    data = {"email": "alice@example.com", "csrf_token": CSRF_FIELD.search(page).group(1)}
    assert client.post("/auth/login", data=data, headers=hostile).status_code == 302
    (message,) = app.extensions["passwordless"].outbox
    assert "evil.com" not in message.text
    assert "http://login.example.org/auth/login/link?token=" in message.text


@pytest.mark.parametrize(
    "link",
    [
        "https://app.example.com@evil.com/auth/login/link?token=x",
        "https://evil.com/auth/login/link?token=x",
        "http://app.example.com/auth/login/link?token=x",
        "https://app.example.com:444/auth/login",
        "//evil.com/auth/login",
    ],
)
def test_a_message_linking_off_the_configured_origin_is_never_sent(app, caplog, link):
    from flask_passwordless.delivery import render_email, send
    from flask_passwordless.errors import DeliveryFailed

    with app.test_request_context():
        message = render_email("unknown_account", "alice@example.com", login_url=link)
        send(message, background=True)
        with pytest.raises(DeliveryFailed):
            send(message, background=False)
    app.extensions["passwordless"].dispatcher.wait()
    assert app.extensions["passwordless"].outbox == []
    assert "links off PASSWORDLESS_BASE_URL" in caplog.text
    assert "token=x" not in caplog.text


def test_only_values_named_as_links_are_checked(app):
    """A device description comes from the request: it must not be able to stop a message."""
    from flask_passwordless.delivery import render_email, send

    with app.test_request_context():
        message = render_email(
            "new_device", "alice@example.com", device="https://evil.com/", ip="", when=""
        )
        send(message, background=False)
    assert len(app.extensions["passwordless"].outbox) == 1


def test_a_message_linking_to_the_configured_origin_is_sent(make_app):
    app = make_app(PASSWORDLESS_BASE_URL="https://example.com/app")
    from flask_passwordless.delivery import render_email, send

    with app.test_request_context():
        link = "https://EXAMPLE.com/app/auth/login"
        send(render_email("unknown_account", "alice@example.com", login_url=link), background=False)
    assert len(app.extensions["passwordless"].outbox) == 1


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Enter your email address."),
        ("   ", "Enter your email address."),
        ("not-an-email", "not valid"),
        ("a@b", "not valid"),
        ("x" * 10_000 + "@example.com", "too long"),
        ("alice@example.com\x00", "not valid"),
    ],
)
def test_bad_addresses_get_a_message_on_the_form(client, outbox, email, message):
    response = client.post("/auth/login", data={"email": email, "csrf_token": csrf_token(client)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in html
    assert 'aria-describedby="email-error"' in html
    assert outbox == []


@pytest.mark.parametrize(
    ("code", "message"),
    [("", "Enter the code"), ("abcdef", "6 digits"), ("12345", "6 digits"), ("٣٣٣٣٣٣", "6 digits")],
)
def test_bad_codes_get_a_message_and_cost_no_try(app, client, user, outbox, code, message):
    request_login(client, "alice@example.com")
    response = submit_code(client, code)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert app.extensions["passwordless"].models.Secret.query.one().attempts == 0


@pytest.mark.parametrize("token", ["", "short", "x" * 10_000, "%00" * 43, "a" * 43, "<script>"])
def test_malformed_links_get_the_clear_page(client, token):
    response = client.get(f"/auth/login/link?token={token}", follow_redirects=True)
    assert response.status_code == 400
    assert "no longer works" in response.get_data(as_text=True)


def test_confirm_without_token_is_a_clear_400(client):
    response = client.post("/auth/login/link", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 400


def test_signed_in_session_is_fresh_and_drops_earlier_state(app, client, user, outbox):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    request_login(client, "alice@example.com")
    submit_code(client, code_in(outbox[0]))
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_fresh"] is True
        assert session["_passwordless_session"][0] == session_row(app, client).id
    assert auth_methods(app, client) == ["email"]


def test_session_holds_the_rotating_auth_id_not_the_primary_key(app, client, user, outbox):
    request_login(client, "alice@example.com")
    submit_code(client, code_in(outbox[0]))
    with client.session_transaction() as session:
        assert session["_user_id"] == user.auth_id
        assert session["_user_id"] != str(user.id)


def test_auth_pages_cannot_be_framed_or_cached(client):
    response = client.get("/auth/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_send_limit_answers_429_with_a_page_and_retry_after(make_app):
    app = make_app(PASSWORDLESS_LIMIT_SEND_PER_IP="2/minute")
    client = app.test_client()
    for _ in range(2):
        request_login(client, f"someone{_}@example.com")
    response = request_login(client, "third@example.com")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in response.get_data(as_text=True)


def test_token_never_appears_in_a_page(app, user, outbox):
    client = app.test_client()
    request_login(client, "alice@example.com")
    token = token_in(outbox[0])
    code = code_in(outbox[0])
    page = client.get("/auth/login/code").get_data(as_text=True)
    assert token not in page and code not in CSRF_FIELD.sub("", page)


def test_forms_work_over_https_where_the_csrf_check_needs_a_referer(app, user, outbox):
    """Browsers send only the origin as Referer (strict-origin): enough for the check."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    token = csrf_token(client)
    response = client.post(
        "/auth/login",
        data={"email": "alice@example.com", "csrf_token": token},
        headers={"Referer": "https://localhost"},
    )
    assert response.status_code == 302
    page = client.get("/auth/login")
    assert page.headers["Referrer-Policy"] == "strict-origin"


def test_our_csrf_protection_leaves_the_hosts_other_views_alone(app):
    @app.post("/api/ping")
    def ping():
        return "pong"

    assert app.test_client().post("/api/ping").get_data(as_text=True) == "pong"
    assert app.test_client().post("/auth/logout").status_code == 400


def test_messages_keep_their_secrets_out_of_repr(app, user, outbox):
    request_login(app.test_client(), "alice@example.com")
    shown = repr(outbox[0])
    assert token_in(outbox[0]) not in shown and code_in(outbox[0]) not in shown


def test_an_issued_secrets_repr_hides_its_token_and_code(app):
    with app.test_request_context():
        issued = app.extensions["passwordless"].secrets.issue("login", "alice@example.com")
    shown = repr(issued)
    assert issued.token not in shown and issued.code not in shown
    assert shown == f"Issued(id={issued.id})"
