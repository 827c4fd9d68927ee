"""How a host app meets the extension: overrides, reuse of its extensions, CLI, decorator."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from factors import make_user
from flask import Flask, render_template_string
from flask_limiter import Limiter
from flask_login import LoginManager, current_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from apps import DeliveringClient, User, create_app, db
from conftest import code_in, request_login, submit_code
from flask_passwordless import Passwordless, PasswordlessUserMixin, UserAdapter, auth_required
from flask_passwordless.clock import utcnow
from flask_passwordless.models import new_auth_id


def test_host_template_overrides_a_page(make_app, tmp_path):
    (tmp_path / "passwordless").mkdir()
    (tmp_path / "passwordless" / "login.html").write_text(
        '{% extends "passwordless/base.html" %}{% block page_title %}Welcome back{% endblock %}'
        "{% block passwordless %}<p>Our own sign-in page</p>{% endblock %}"
    )
    app = make_app(template_folder=str(tmp_path))
    html = app.test_client().get("/auth/login").get_data(as_text=True)
    assert "Our own sign-in page" in html
    assert "<title>Welcome back · Test App</title>" in html


def test_host_layout_wraps_every_page(make_app, tmp_path):
    (tmp_path / "site.html").write_text(
        "<!doctype html><html lang=en><head><title>{% block title %}{% endblock %}</title>"
        "{% block head %}{% endblock %}</head><body><nav>HOST NAV</nav>"
        "{% block content %}{% endblock %}</body></html>"
    )
    app = make_app(template_folder=str(tmp_path), PASSWORDLESS_BASE_TEMPLATE="site.html")
    html = app.test_client().get("/auth/login").get_data(as_text=True)
    assert "<nav>HOST NAV</nav>" in html and 'name="email"' in html
    assert "passwordless.css" in html


def test_host_email_template_override(make_app, tmp_path):
    (tmp_path / "passwordless" / "email").mkdir(parents=True)
    (tmp_path / "passwordless" / "email" / "unknown_account.txt").write_text(
        '{% set subject = "Who are you?" %}No account for {{ email }}.'
    )
    app = make_app(template_folder=str(tmp_path))
    request_login(app.test_client(), "nobody@example.com")
    [message] = app.extensions["passwordless"].outbox
    assert (message.subject, message.text) == (
        "Who are you?",
        "No account for nobody@example.com.\n",
    )


def test_host_extensions_are_reused_not_replaced(tmp_path):
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="k",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'h.db'}",
        RATELIMIT_STORAGE_URI="memory://",
    )
    host_db = SQLAlchemy(app)

    class Member(host_db.Model, PasswordlessUserMixin):
        id = host_db.Column(host_db.Integer, primary_key=True)

    manager = LoginManager(app)
    manager.login_view = "host_login"
    csrf = CSRFProtect(app)
    limiter = Limiter(lambda: "x", app=app)
    Passwordless(app, db=host_db, user_model=Member)
    assert app.login_manager is manager
    assert app.extensions["csrf"] is csrf
    assert app.extensions["passwordless"].limiter is limiter
    assert manager.login_view == "host_login"
    assert "mail" in app.extensions


def test_extension_works_with_two_apps_at_once(make_app):
    first, second = make_app(PASSWORDLESS_SITE_NAME="First"), create_app("sqlite://")
    assert "First" in first.test_client().get("/auth/login").get_data(as_text=True)
    assert "Test App" in second.test_client().get("/auth/login").get_data(as_text=True)


def test_url_prefix_is_configurable(make_app):
    app = make_app(PASSWORDLESS_URL_PREFIX="/account")
    assert app.test_client().get("/account/login").status_code == 200
    assert app.test_client().get("/auth/login").status_code == 404


def test_cleanup_removes_used_and_expired_secrets_in_batches(app, user):
    state = app.extensions["passwordless"]
    Secret = state.models.Secret
    with app.app_context():
        now = utcnow()
        rows = [
            Secret(
                purpose="login",
                identifier=f"u{n}@example.com",
                code_hash="0" * 64,
                created_at=now,
                expires_at=now + timedelta(minutes=-1 if n % 3 == 0 else 10),
                consumed_at=now if n % 3 == 1 else None,
                attempts=0,
            )
            for n in range(30)
        ]
        db.session.add_all(rows)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["passwordless", "cleanup", "--batch-size", "7"])
    assert result.exit_code == 0
    assert "Removed 20 used or expired secrets." in result.output
    with app.app_context():
        left = Secret.query.all()
        assert len(left) == 10
        assert all(row.consumed_at is None and row.expires_at > now for row in left)


def _signed_in(app, client, email="alice@example.com"):
    request_login(client, email)
    submit_code(client, code_in(app.extensions["passwordless"].outbox[-1]))


@pytest.fixture
def guarded(app):
    @app.route("/recent")
    @auth_required(within=timedelta(minutes=10))
    def recent():
        return "recent enough"

    @app.route("/by-sms")
    @auth_required(methods=["sms"])
    def by_sms():
        return "proved sms"

    return app


def test_auth_required_within_sends_stale_sessions_to_sign_in_again(guarded, clock, user):
    client = guarded.test_client()
    _signed_in(guarded, client)
    assert client.get("/recent").get_data(as_text=True) == "recent enough"
    clock.advance(minutes=11)
    response = client.get("/recent")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/recent"
    _signed_in(guarded, client)
    assert client.get("/recent").status_code == 200


def test_auth_required_methods_checks_what_the_session_proved(guarded, user):
    client = guarded.test_client()
    _signed_in(guarded, client)
    assert client.get("/by-sms").status_code == 302


def test_auth_required_bare_is_login_required(guarded, user):
    client = guarded.test_client()
    assert client.get("/private").status_code == 302
    _signed_in(guarded, client)
    assert client.get("/private").status_code == 200


def test_user_model_keeps_auth_id_unique(app):
    with app.app_context():
        first, second = User(email="a@example.com"), User(email="b@example.com")
        db.session.add_all([first, second])
        db.session.commit()
        assert first.auth_id != second.auth_id and len(first.auth_id) >= 32


def test_code_length_is_configurable_within_bounds(make_app):
    app = make_app(PASSWORDLESS_CODE_LENGTH=8)
    from conftest import add_user

    add_user(app, "alice@example.com")
    client = app.test_client()
    request_login(client, "alice@example.com")
    message = app.extensions["passwordless"].outbox[0]
    code = code_in(message)
    assert len(code) == 8
    assert submit_code(client, code).status_code == 302
    with pytest.raises(ValueError, match="between 6 and 10"):
        create_app("sqlite://", PASSWORDLESS_CODE_LENGTH=4)


def test_revoke_devices_command_forgets_every_device_of_an_account(app):
    from factors import PHONE, make_user, pass_second_factor, password_login, sign_out

    make_user(app, phone=PHONE, two_factor=True)
    client = app.test_client()
    password_login(client)
    pass_second_factor(app, client, remember=True)
    sign_out(client)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["passwordless", "revoke-devices", "Alice@example.com"])
    assert "Revoked 1 devices of Alice@example.com." in result.output
    assert password_login(client).headers["Location"] == "/auth/two-factor"
    missing = runner.invoke(args=["passwordless", "revoke-devices", "nobody@example.com"])
    assert missing.exit_code != 0 and "No account" in missing.output
    cleanup = runner.invoke(args=["passwordless", "cleanup"])
    assert "Removed 1 expired or revoked devices." in cleanup.output


def _host_app(tmp_path, **config):
    """A host app with its own SQLAlchemy and models, on a SQLite file of its own."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="k",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'host.db'}",
        PASSWORDLESS_BASE_URL="https://app.example.com",
        PASSWORDLESS_MAIL_BACKEND="memory",
        RATELIMIT_STORAGE_URI="memory://",
        **config,
    )
    return app, SQLAlchemy(app)


def test_host_model_with_its_own_columns_signs_in_through_an_adapter(tmp_path):
    """The README's promise: a model without the mixin, an adapter subclass overriding
    the methods that touch it, and the email sign-in works end to end."""
    app, host_db = _host_app(tmp_path)

    class Person(host_db.Model):
        id = host_db.Column(host_db.Integer, primary_key=True)
        email_address = host_db.Column(host_db.String(320), unique=True)
        session_key = host_db.Column(host_db.String(64), unique=True)
        is_active = is_authenticated = True
        is_anonymous = False

        def get_id(self):
            return self.session_key

    class PersonAdapter(UserAdapter):
        def load_user(self, auth_id):
            return Person.query.filter_by(session_key=auth_id).one_or_none()

        def find_by_email(self, email):
            return Person.query.filter_by(email_address=email).one_or_none()

        def create_user(self, email):
            person = Person(email_address=email, session_key=new_auth_id())
            host_db.session.add(person)
            host_db.session.commit()
            return person

        def email_of(self, user):
            return user.email_address

        def rotate_auth_id(self, user):
            user.session_key = new_auth_id()
            host_db.session.commit()

    Passwordless(app, db=host_db, adapter=PersonAdapter(host_db, Person))
    app.test_client_class = DeliveringClient
    with app.app_context():
        host_db.create_all()
        host_db.session.add(Person(email_address="ann@example.com", session_key="s1"))
        host_db.session.commit()
    client = app.test_client()
    request_login(client, "ann@example.com")
    assert (
        submit_code(client, code_in(app.extensions["passwordless"].outbox[-1])).status_code == 302
    )
    with client.session_transaction() as session:
        assert session["_user_id"] == "s1"
    # Features whose columns the model lacks are absent, and cannot be half-stored.
    adapter = app.extensions["passwordless"].adapter
    with app.app_context():
        ann = adapter.find_by_email("ann@example.com")
        assert adapter.phone_of(ann) is None and not adapter.two_factor_enabled(ann)
        with pytest.raises(NotImplementedError, match="two_factor_enabled"):
            adapter.set_two_factor(ann, True)


def test_the_site_name_defaults_to_the_base_url_host_not_the_import_name(make_app):
    app = make_app(
        PASSWORDLESS_SITE_NAME=None,
        PASSWORDLESS_BASE_URL="https://www.example.com",
        PASSWORDLESS_REGISTER_UNKNOWN=True,
    )
    request_login(app.test_client(), "new@example.com")
    (message,) = app.extensions["passwordless"].outbox
    assert "example.com" in message.subject and "www." not in message.subject
    assert "apps" not in message.subject  # the import name of the tests' host app
    with app.test_request_context():
        assert render_template_string("{{ passwordless_site_name }}") == "example.com"


def test_a_site_name_that_is_set_wins(make_app):
    app = make_app(PASSWORDLESS_SITE_NAME="Zanzibar Quill", PASSWORDLESS_REGISTER_UNKNOWN=True)
    request_login(app.test_client(), "alice@example.com")
    assert "Zanzibar Quill" in app.extensions["passwordless"].outbox[0].subject


def _email_override(tmp_path, *names):
    folder = tmp_path / "passwordless" / "email"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_text(
            '{% set subject = "Welcome to the Guild" %}Join us: {{ link }}'
            if name.endswith(".txt")
            else "<h1>Welcome to the Guild</h1><a href='{{ link }}'>join</a>"
        )


def test_overriding_only_the_text_email_sends_text_only(make_app, tmp_path):
    """Our stock HTML part would contradict the host's new subject and words."""
    _email_override(tmp_path, "register.txt")
    app = make_app(template_folder=str(tmp_path), PASSWORDLESS_REGISTER_UNKNOWN=True)
    request_login(app.test_client(), "new@example.com")
    (message,) = app.extensions["passwordless"].outbox
    assert message.subject == "Welcome to the Guild"
    assert message.text.startswith("Join us: https://app.example.com/auth/login/link?token=")
    assert message.html is None


def test_overriding_both_parts_of_an_email_sends_both(make_app, tmp_path):
    _email_override(tmp_path, "register.txt", "register.html")
    app = make_app(template_folder=str(tmp_path), PASSWORDLESS_REGISTER_UNKNOWN=True)
    request_login(app.test_client(), "new@example.com")
    (message,) = app.extensions["passwordless"].outbox
    assert "<h1>Welcome to the Guild</h1>" in message.html


def test_stock_emails_have_both_parts(make_app):
    app = make_app(PASSWORDLESS_REGISTER_UNKNOWN=True)
    request_login(app.test_client(), "new@example.com")
    (message,) = app.extensions["passwordless"].outbox
    assert message.html and "Finish signing up" in message.subject


def test_an_adapter_that_reads_the_session_row_itself_still_signs_in(make_app):
    """``load_user_and_session`` overridden to return the session model's object (its
    ``auth`` a record, not the JSON text the built-in statement reads)."""

    class OwnRead(UserAdapter):
        def load_user_and_session(self, auth_id, session_id):
            user = self.load_user(auth_id)
            row = db.session.get(self.db_models.Session, session_id)
            return (user, row) if user is not None and row is not None else None

    app = make_app()
    adapter = OwnRead(db, User)
    adapter.db_models = app.extensions["passwordless"].models
    app.extensions["passwordless"].adapter = adapter
    make_user(app)
    client = app.test_client()
    request_login(client, "alice@example.com")
    submit_code(client, code_in(app.extensions["passwordless"].outbox[-1]))
    assert client.get("/private").status_code == 200
    assert client.get("/auth/account/sessions").status_code == 200


def test_an_adapter_with_its_own_lookups_keeps_them_at_a_password_and_app_sign_in(make_app, clock):
    """The password's POST and the second step read the user with their
    authenticators in one statement built on the stock lookups; an adapter's own
    ``find_by_email`` and ``get_by_key`` are used instead, and the authenticators are
    read apart."""
    from factors import password_login
    from test_authenticators import add_app, app_code

    from conftest import csrf_token

    asked = []

    class OwnKey(UserAdapter):
        def get_by_key(self, key):
            asked.append(key)
            return db.session.get(User, int(key))

        def find_by_email(self, email):
            asked.append(email)
            return db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()

    app = make_app()
    app.extensions["passwordless"].adapter = OwnKey(db, User)
    user = make_user(app)
    client = app.test_client()
    password_login(client)
    secret, _ = add_app(client, clock)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    asked.clear()
    assert password_login(client).headers["Location"] == "/auth/two-factor"
    clock.advance(seconds=30)
    data = {"code": app_code(secret, clock), "csrf_token": csrf_token(client, "/auth/two-factor")}
    assert client.post("/auth/two-factor", data=data).headers["Location"] == "/"
    assert asked == ["alice@example.com", str(user.id)]
    assert client.get("/private").status_code == 200


def _password_host_app(tmp_path):
    """``_host_app`` with password sign-in on (a cheap hash), and the per-address
    limit on failed checks out of the way, so that the lockout is what answers."""
    return _host_app(
        tmp_path,
        PASSWORDLESS_PASSWORD_LOGIN=True,
        PASSWORDLESS_PASSWORD_HASH="scrypt:1024:8:1",
        PASSWORDLESS_LIMIT_FAILED_CHECKS_PER_IDENTIFIER="1000/minute",
    )


def _locked_after_six_wrong_passwords(app, *emails):
    """Each address, known or not, gets the wrong-password page six times (the free
    failures), then the lockout."""
    from factors import password_login

    for email in emails:
        client = app.test_client()
        statuses = [password_login(client, email, "wrong guess!").status_code for _ in range(7)]
        assert statuses == [200] * 6 + [429], email


def _serve_password_and_app(app, host_db, model, clock):
    """The extension on a host app of ``_host_app`` with ``model`` as its users, its
    tables made, and a protected page that names who is signed in."""
    Passwordless(app, db=host_db, user_model=model)
    app.extensions["passwordless"].clock = clock
    app.test_client_class = DeliveringClient

    @app.get("/private")
    @auth_required
    def private():
        return f"private page of {current_user.email}"

    with app.app_context():
        host_db.create_all()


def test_a_model_with_a_collection_it_loads_by_a_join_signs_in_with_password_and_app(
    tmp_path, clock
):
    """A host's ``lazy="joined"`` collection repeats each row of a joined read once per
    related row: the reads of the user with their authenticators load it lazily
    instead, and the lookups by address take each user once."""
    from factors import PASSWORD, password_login, sign_out
    from sqlalchemy.orm import relationship
    from test_authenticators import add_app, app_code

    from conftest import csrf_token
    from flask_passwordless.passwords import hash_password

    app, host_db = _password_host_app(tmp_path)

    class Member(host_db.Model, PasswordlessUserMixin):
        id = host_db.Column(host_db.Integer, primary_key=True)
        roles = relationship("Role", lazy="joined")

    class Role(host_db.Model):
        id = host_db.Column(host_db.Integer, primary_key=True)
        member_id = host_db.Column(host_db.ForeignKey("member.id"))

    _serve_password_and_app(app, host_db, Member, clock)
    with app.app_context():
        member = Member(email="alice@example.com", password_hash=hash_password(PASSWORD))
        member.roles = [Role(), Role()]
        host_db.session.add(member)
        host_db.session.commit()
    client = app.test_client()
    assert password_login(client).status_code == 302
    secret, _ = add_app(client, clock)
    sign_out(client)
    assert password_login(client).headers["Location"] == "/auth/two-factor"
    clock.advance(seconds=30)
    data = {"code": app_code(secret, clock), "csrf_token": csrf_token(client, "/auth/two-factor")}
    assert client.post("/auth/two-factor", data=data).status_code == 302
    assert client.get("/private").status_code == 200
    sign_out(client)
    assert request_login(client, "alice@example.com").status_code == 302  # by address
    assert app.extensions["passwordless"].outbox[-1].template == "login"


def test_a_model_with_a_text_key_signs_in_with_password_and_app(tmp_path, clock):
    """The joined reads of a user with their authenticators match rows by the key as
    text: with a text primary key (a UUID) the second step reads them in its join,
    the password's POST apart, and each user's app signs in only that user."""
    import uuid

    from factors import PASSWORD, password_login, sign_out
    from test_authenticators import add_app, app_code, second_step

    from flask_passwordless.passwords import hash_password

    app, host_db = _password_host_app(tmp_path)

    class Member(host_db.Model, PasswordlessUserMixin):
        id = host_db.Column(host_db.String(36), primary_key=True, default=lambda: str(uuid.uuid4()))

    _serve_password_and_app(app, host_db, Member, clock)
    with app.app_context():
        for email in ("alice@example.com", "bob@example.com"):
            host_db.session.add(Member(email=email, password_hash=hash_password(PASSWORD)))
        host_db.session.commit()
    secrets = {}
    for email in ("alice@example.com", "bob@example.com"):
        client = app.test_client()
        assert password_login(client, email).status_code == 302
        secrets[email], _ = add_app(client, clock)
        sign_out(client)
    client = app.test_client()
    assert password_login(client).headers["Location"] == "/auth/two-factor"
    clock.advance(seconds=30)
    refused = second_step(client, app_code(secrets["bob@example.com"], clock))
    assert refused.status_code == 200 and "not right" in refused.get_data(as_text=True)
    assert second_step(client, app_code(secrets["alice@example.com"], clock)).status_code == 302
    assert client.get("/private").get_data(as_text=True) == "private page of alice@example.com"


def test_a_subclass_model_answers_unknown_addresses_as_known_ones(tmp_path, clock):
    """A user model that is a subclass in one table: the password's read of an
    address keeps its one row for an address it does not find (the subclass's
    discriminator goes into the join, never a WHERE that would drop the row), so an
    unknown address, or one of a sibling class, gets the same page and lockout as a
    wrong password."""
    from factors import PASSWORD, password_login

    from flask_passwordless.passwords import hash_password

    app, host_db = _password_host_app(tmp_path)

    class Person(host_db.Model, PasswordlessUserMixin):
        id = host_db.Column(host_db.Integer, primary_key=True)
        kind = host_db.Column(host_db.String(10))
        __mapper_args__ = {"polymorphic_on": kind, "polymorphic_identity": "person"}

    class Member(Person):
        __mapper_args__ = {"polymorphic_identity": "member"}

    _serve_password_and_app(app, host_db, Member, clock)
    with app.app_context():
        for model, email in ((Person, "guest@example.com"), (Member, "alice@example.com")):
            host_db.session.add(model(email=email, password_hash=hash_password(PASSWORD)))
        host_db.session.commit()
    _locked_after_six_wrong_passwords(
        app, "alice@example.com", "guest@example.com", "nobody@example.com"
    )
    assert password_login(app.test_client(), "guest@example.com").status_code == 429
    clock.advance(seconds=2)
    assert password_login(app.test_client(), "guest@example.com").status_code == 200
    assert password_login(app.test_client(), "alice@example.com").status_code == 302


def test_a_host_hook_that_filters_every_read_of_its_users_keeps_the_lockout(tmp_path, clock):
    """A host that hides soft-deleted users with a WHERE on every read (a
    ``do_orm_execute`` hook) filters away the joined read's driving row for an
    address it does not find: the password's POST then reads apart, and an unknown
    or hidden address still gets the wrong-password page, then the lockout."""
    from factors import PASSWORD, password_login

    from flask_passwordless.passwords import hash_password

    app, host_db = _password_host_app(tmp_path)

    class Member(host_db.Model, PasswordlessUserMixin):
        id = host_db.Column(host_db.Integer, primary_key=True)
        deleted = host_db.Column(host_db.Boolean, default=False)

    with app.app_context():

        @sa.event.listens_for(host_db.session, "do_orm_execute")
        def hide_deleted(execution):
            if execution.is_select and sa.inspect(Member) in execution.all_mappers:
                execution.statement = execution.statement.where(Member.deleted.is_(False))

    _serve_password_and_app(app, host_db, Member, clock)
    with app.app_context():
        for email, deleted in (("alice@example.com", False), ("gone@example.com", True)):
            member = Member(email=email, password_hash=hash_password(PASSWORD), deleted=deleted)
            host_db.session.add(member)
        host_db.session.commit()
    _locked_after_six_wrong_passwords(
        app, "alice@example.com", "gone@example.com", "nobody@example.com"
    )
    clock.advance(seconds=2)
    assert password_login(app.test_client(), "gone@example.com").status_code == 200
    assert password_login(app.test_client(), "alice@example.com").status_code == 302
