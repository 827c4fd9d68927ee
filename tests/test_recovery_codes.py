"""Recovery codes: typeable, 80 random bits, stored as keyed HMACs, each used once
(one winner in a race), and a new set voids the old one."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from apps import db
from conftest import race
from flask_passwordless.authenticators import recovery
from flask_passwordless.state import state

AT = datetime(2026, 12, 1, 12, 0, 0)
RACERS = 20
CODE_SHAPE = re.compile(r"([0-9A-HJKMNP-TV-Z]{4}-){3}[0-9A-HJKMNP-TV-Z]{4}")


def test_a_set_is_ten_distinct_codes_of_80_random_bits_in_groups_of_four():
    codes = recovery.new_codes()
    assert len(codes) == 10 == len(set(codes))
    assert all(CODE_SHAPE.fullmatch(code) for code in codes)
    assert len(recovery.ALPHABET) == 32 == len(set(recovery.ALPHABET))  # 5 bits a character
    assert recovery.LENGTH * 5 >= 64
    assert not set("ILOU") & set(recovery.ALPHABET)


@pytest.mark.parametrize(
    "typed",
    [
        "ab2c-d3ef-gh4j-k5mn",
        " ab2c d3ef gh4j k5mn ",
        "AB2CD3EFGH4JK5MN",
        "ＡＢ２Ｃ－Ｄ３ＥＦ－ＧＨ４Ｊ－Ｋ５ＭＮ",
    ],
)
def test_case_spaces_dashes_and_full_width_letters_do_not_matter(typed):
    assert recovery.normalise(typed) == "AB2CD3EFGH4JK5MN"


def test_look_alike_letters_read_as_the_digits_they_resemble():
    assert recovery.normalise("o0Oi1Il") == "0001111"


def test_a_code_works_once(store):
    codes = recovery.replace(store, "1", AT)
    assert recovery.use(store, "1", codes[3], AT)
    assert not recovery.use(store, "1", codes[3], AT + timedelta(minutes=1))


def test_a_code_typed_loosely_works(store):
    code = recovery.replace(store, "1", AT)[0]
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert recovery.use(store, "1", typed, AT)


def test_remaining_counts_down_as_codes_are_used(store):
    codes = recovery.replace(store, "1", AT)
    assert recovery.remaining(store, "1") == 10
    recovery.use(store, "1", codes[0], AT)
    recovery.use(store, "1", codes[0], AT)  # a second use of the same code changes nothing
    recovery.use(store, "1", codes[9], AT)
    assert recovery.remaining(store, "1") == 8


def test_a_new_set_voids_the_old_one(store):
    old = recovery.replace(store, "1", AT)
    recovery.use(store, "1", old[0], AT)
    new = recovery.replace(store, "1", AT)
    assert not set(old) & set(new)
    assert recovery.remaining(store, "1") == 10
    assert not any(recovery.use(store, "1", code, AT) for code in old)
    assert recovery.use(store, "1", new[0], AT)


def test_a_code_of_one_user_does_not_work_for_another(store):
    mine = recovery.replace(store, "1", AT)
    recovery.replace(store, "2", AT)
    assert not recovery.use(store, "2", mine[0], AT)
    assert recovery.remaining(store, "1") == 10


def test_a_code_row_copied_onto_another_users_account_matches_nothing_there(store):
    codes = recovery.replace(store, "1", AT)
    row = store.of_user("1", recovery.TYPE)[0]
    store.add("2", recovery.TYPE, dict(row.data), now=AT)
    assert not any(recovery.use(store, "2", code, AT) for code in codes)


def test_the_database_holds_neither_the_codes_nor_a_hash_anyone_can_test(store):
    codes = recovery.replace(store, "1", AT)
    dumped = repr(db.session.execute(sa.text("SELECT * FROM passwordless_authenticator")).all())
    for code in codes:
        plain = recovery.normalise(code)
        assert code not in dumped and plain not in dumped
        assert hashlib.sha256(plain.encode()).hexdigest() not in dumped  # an unkeyed hash
    assert len(store.of_user("1", recovery.TYPE)) == 10


def test_codes_stored_under_another_secret_key_do_not_match(ctx, store):
    codes = recovery.replace(store, "1", AT)
    ctx.config["SECRET_KEY"] = "somebody-elses-key"
    assert not recovery.use(store, "1", codes[0], AT)


def test_codes_made_before_a_key_rotation_still_work_through_the_fallback(ctx, store):
    codes = recovery.replace(store, "1", AT)
    ctx.config["SECRET_KEY_FALLBACKS"] = [ctx.config["SECRET_KEY"]]
    ctx.config["SECRET_KEY"] = "a-new-secret-key"
    assert recovery.use(store, "1", codes[0], AT)


@pytest.mark.parametrize("typed", ["", "x" * 10_000, "ABCD-EFGH", None, 12345678, "ÄÖÜ-ßßßß"])
def test_malformed_input_is_refused_without_an_error(store, typed):
    recovery.replace(store, "1", AT)
    assert not recovery.use(store, "1", typed, AT)
    assert recovery.remaining(store, "1") == 10


def test_a_user_without_codes_has_none_remaining_and_none_work(store):
    assert recovery.remaining(store, "1") == 0
    assert not recovery.use(store, "1", recovery.new_codes(1)[0], AT)


class LinedUpAtTheUpdate:
    """The store, except that ``use_once`` first waits for every racer: all of them
    have read the code as unused before any writes, the worst interleaving, every
    time. Only the conditional UPDATE can then keep the winners to one."""

    def __init__(self, store, barrier):
        self.store, self.barrier = store, barrier

    def __getattr__(self, name):
        return getattr(self.store, name)

    def use_once(self, authenticator_id, now):
        self.barrier.wait(timeout=10)
        return self.store.use_once(authenticator_id, now)


def test_parallel_submissions_of_one_code_have_exactly_one_winner(racing_app):
    at_the_update = threading.Barrier(RACERS)

    def submit():
        with racing_app.app_context():
            lined_up = LinedUpAtTheUpdate(state().authenticators, at_the_update)
            return recovery.use(lined_up, "1", code, AT)

    with racing_app.app_context():
        store = state().authenticators
        code = recovery.replace(store, "1", AT)[4]
        results = race([submit] * RACERS)
        assert results.count(True) == 1, results
        assert recovery.remaining(store, "1") == 9


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_parallel_new_sets_leave_exactly_one_set_live(racing_app):
    """Two "new recovery codes" at once: each deletes the old set and inserts its own.
    Under READ COMMITTED the second's DELETE does not see the first's new rows, so
    both sets stayed live. One set per user must win, and its codes work."""
    rounds, racers = 8, 8
    with racing_app.app_context():
        store = state().authenticators
        for number in range(rounds):
            user_key = f"race-{number}"
            if number % 2:  # every other round, the user already has a set to replace
                recovery.replace(store, user_key, AT)

            def new_set(user_key: str = user_key) -> list[str]:
                with racing_app.app_context():
                    return recovery.replace(state().authenticators, user_key, AT)

            sets = race([new_set] * racers)
            db.session.remove()
            assert recovery.remaining(store, user_key) == recovery.COUNT, number
            working = [s for s in sets if recovery.use(store, user_key, s[0], AT)]
            assert len(working) == 1, number  # the winner's set, and no other
