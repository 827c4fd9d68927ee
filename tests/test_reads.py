"""The adapter's reads outside the host's transaction (``flask_passwordless.reads``):
on PostgreSQL a signed-in page's read leaves no transaction open (no BEGIN, no
ROLLBACK), and the host's session works as before: what it loaded can be changed
and committed, and work the host has under way is never committed by a read."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from factors import PHONE, make_user, pass_second_factor, password_login
from flask import g
from flask_login import current_user
from psycopg.pq import TransactionStatus
from sqlalchemy.orm import Session

from apps import User, db
from conftest import csrf_token
from flask_passwordless.reads import reading

POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def host_app(make_app, **config):
    """The test host, with a view that renames the signed-in user and commits, and a
    hook that can change a row before any of our reads (``g`` is not yet set)."""
    app = make_app(PASSWORDLESS_LIMITER_ENABLED=False, **config)

    @app.post("/rename")
    def rename():
        expired = set(sa.inspect(current_user._get_current_object()).expired_attributes)
        current_user.email = "renamed@example.com"
        db.session.commit()
        return {"expired": sorted(expired)}

    @app.get("/phone")
    def phone():
        return {"phone": current_user.phone_number}

    @app.before_request
    def change_first():
        if app.config.get("CHANGE_FIRST"):
            db.session.execute(sa.update(User).values(phone_number="+14155550100"))

    return app


def signed_in(app):
    make_user(app)
    client = app.test_client()
    assert password_login(client).status_code == 302
    return client


def server_status_of_user_reads(app, request):
    """The server's transaction status right after each read of the users table."""
    seen: list[TransactionStatus] = []

    def record(conn, _cursor, statement, *_args):
        if statement.startswith("SELECT users.id"):
            seen.append(conn.connection.dbapi_connection.info.transaction_status)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "after_cursor_execute", record)
    try:
        response = request()
    finally:
        sa.event.remove(engine, "after_cursor_execute", record)
    return response, seen


@POSTGRES
@pytest.mark.parametrize("apart", [True, False])
def test_a_signed_in_pages_read_opens_no_transaction_on_postgresql(make_app, apart):
    app = host_app(make_app, PASSWORDLESS_READS_OUTSIDE_TRANSACTION=apart)
    client = signed_in(app)
    page, seen = server_status_of_user_reads(app, lambda: client.get("/private"))
    assert page.get_data(as_text=True) == "private page of alice@example.com"
    wanted = TransactionStatus.IDLE if apart else TransactionStatus.INTRANS
    assert seen == [wanted]


@POSTGRES
def test_the_password_and_second_step_reads_open_no_transaction_either(make_app):
    app = host_app(make_app)
    make_user(app, phone=PHONE, two_factor=True)
    client = app.test_client()
    moved, seen = server_status_of_user_reads(app, lambda: password_login(client))
    assert moved.headers["Location"] == "/auth/two-factor"
    assert seen == [TransactionStatus.IDLE]
    client.post("/auth/two-factor/resend", data={"method": "sms", "csrf_token": csrf_token(client)})
    done, seen = server_status_of_user_reads(app, lambda: pass_second_factor(app, client))
    assert done.status_code == 302
    # The step's read; the code's check then commits the host's session (the code's
    # row), so the user is read again, inside that session's next transaction.
    assert seen == [TransactionStatus.IDLE, TransactionStatus.INTRANS]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_reads_stay_in_the_sessions_transaction(make_app):
    """pysqlite sends no BEGIN before a read, so there is nothing to save; and turning
    autocommit on commits whatever the connection has open (one connection is shared
    by every session of an in-memory database)."""
    app = host_app(make_app)
    client = signed_in(app)
    modes: list[object] = []

    def record(conn, _cursor, statement, *_args):
        if statement.startswith("SELECT users.id"):
            modes.append(conn.get_execution_options().get("isolation_level"))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get("/private").status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert modes == [None]


def test_the_host_can_change_and_commit_the_user_our_read_loaded(make_app):
    app = host_app(make_app)
    client = signed_in(app)
    answer = client.post("/rename")
    assert answer.get_json() == {"expired": []}  # loaded, not to be read again
    with app.app_context():
        emails = db.session.execute(sa.select(User.email)).scalars().all()
    assert emails == ["renamed@example.com"]


def test_a_read_inside_the_hosts_transaction_sees_its_work_and_commits_none_of_it(make_app):
    app = host_app(make_app)
    client = signed_in(app)
    app.config["CHANGE_FIRST"] = True
    answer = client.get("/phone")
    assert answer.get_json() == {"phone": "+14155550100"}  # the host's own transaction
    with app.app_context():
        phones = db.session.execute(sa.select(User.phone_number)).scalars().all()
    assert phones == [None]  # rolled back at the request's end, as the host left it


def test_a_read_never_flushes_a_change_the_host_made_outside_a_transaction(make_app):
    app = host_app(make_app)
    make_user(app)
    adapter = app.extensions["passwordless"].adapter
    with app.test_request_context():
        session = db.session()
        session.expire_on_commit = False
        user = session.execute(sa.select(User)).scalar_one()
        session.commit()
        user.phone_number = "+14155550100"  # dirty, and no transaction under way
        assert adapter.find_by_email("alice@example.com") is user
        session.rollback()
        g.pop("_login_user", None)
    with app.app_context():
        phones = db.session.execute(sa.select(User.phone_number)).scalars().all()
    assert phones == [None]


@POSTGRES
def test_a_session_joined_to_an_outer_transaction_reads_inside_it(make_app):
    """The recipe hosts use to roll a whole test back: a session bound to a connection
    whose transaction the test holds. The read stays inside that transaction."""
    app = host_app(make_app)
    make_user(app)
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        connection.execute(sa.update(User).values(phone_number="+14155550100"))
        joined = Session(bind=connection, join_transaction_mode="create_savepoint")
        host = SimpleNamespace(session=lambda: joined)
        with reading(host, User) as session:
            user = session.execute(sa.select(User)).scalar_one()
        assert user.phone_number == "+14155550100"
        joined.close()
        outer.rollback()
        connection.close()
        assert db.session.execute(sa.select(User.phone_number)).scalar_one() is None


@POSTGRES
def test_above_read_committed_the_read_stays_in_the_hosts_transaction(make_app):
    """At REPEATABLE READ or SERIALIZABLE a transaction's snapshot (and its check for
    concurrent updates) must cover the user it loaded: a read apart would let two
    requests that both change the user both commit, one change lost."""
    app = host_app(make_app, SQLALCHEMY_ENGINE_OPTIONS={"isolation_level": "REPEATABLE READ"})
    client = signed_in(app)
    page, seen = server_status_of_user_reads(app, lambda: client.get("/private"))
    assert page.status_code == 200
    assert seen == [TransactionStatus.INTRANS]


def _noop(*_args):
    return None


@POSTGRES
@pytest.mark.parametrize(
    "target, event", [("session", "after_begin"), ("session", "before_commit"), ("engine", "begin")]
)
def test_with_a_listener_of_transaction_events_the_read_stays_in_the_transaction(
    make_app, target, event
):
    """A listener would see the read's own transaction: an ``after_begin`` that sets
    ``SET LOCAL`` (row-level security) would be ignored in autocommit mode, and a
    ``before_commit`` that writes would write statement by statement."""
    app = host_app(make_app)
    client = signed_in(app)
    with app.app_context():
        listened = db.session if target == "session" else db.engine
    sa.event.listen(listened, event, _noop)
    try:
        page, seen = server_status_of_user_reads(app, lambda: client.get("/private"))
    finally:
        sa.event.remove(listened, event, _noop)
    assert page.status_code == 200
    assert seen == [TransactionStatus.INTRANS]


class RefusingSession(Session):
    """A host's session that commits only where the host says so."""

    def commit(self):
        raise AssertionError("this request commits nothing")


@POSTGRES
def test_a_session_class_with_its_own_commit_is_not_committed_by_a_read(make_app):
    app = host_app(make_app)
    make_user(app)
    with app.app_context():
        own = RefusingSession(bind=db.engine)
        with reading(SimpleNamespace(session=lambda: own), User) as session:
            user = session.execute(sa.select(User)).scalar_one()
        assert user.email == "alice@example.com"
        assert own.in_transaction()  # the host's transaction, to end as it likes
        own.close()


@POSTGRES
def test_a_read_that_fails_leaves_the_session_usable_and_its_connection_returned(make_app):
    app = host_app(make_app)
    make_user(app)
    with app.app_context():
        pool = db.engine.pool
        with pytest.raises(ValueError), reading(db, User) as session:
            session.execute(sa.select(User)).scalar_one()
            raise ValueError("the caller's mistake")
        assert (db.session().in_transaction(), pool.checkedout()) == (False, 0)
        db.session.execute(sa.update(User).values(phone_number="+14155550100"))
        db.session.rollback()  # a normal transaction again: nothing was committed
        assert db.session.execute(sa.select(User.phone_number)).scalar_one() is None
