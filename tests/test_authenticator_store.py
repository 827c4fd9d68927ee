"""The authenticator table's service: a user reaches only their own rows, and the
single-use updates change a row once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

AT = datetime(2026, 12, 1, 12, 0, 0)


def test_rows_come_back_oldest_first_and_filtered_by_type(store):
    first = store.add("1", "totp", {"n": 1}, name="Phone", now=AT)
    store.add("1", "recovery", {"n": 2}, now=AT)
    third = store.add("1", "totp", {"n": 3}, now=AT)
    store.add("2", "totp", {"n": 4}, now=AT)
    assert [row.id for row in store.of_user("1", "totp")] == [first, third]
    assert [row.data["n"] for row in store.of_user("1")] == [1, 2, 3]
    row = store.get("1", first)
    assert (row.name, row.type, row.counter, row.created_at, row.last_used_at) == (
        "Phone",
        "totp",
        None,
        AT,
        None,
    )


def test_a_user_cannot_read_or_remove_another_users_authenticator(store):
    theirs = store.add("2", "totp", {}, now=AT)
    assert store.get("1", theirs) is None
    assert not store.remove("1", theirs)
    assert store.get("2", theirs) is not None
    assert store.remove("2", theirs)
    assert store.get("2", theirs) is None


@pytest.mark.parametrize("bad_id", ["1", None, 1.0, True, "1 OR 1=1"])
def test_an_id_that_is_not_an_int_finds_nothing(store, bad_id):
    store.add("1", "totp", {}, now=AT)
    assert store.get("1", bad_id) is None
    assert not store.remove("1", bad_id)


def test_remove_type_removes_only_that_type_of_that_user(store):
    for _ in range(3):
        store.add("1", "recovery", {}, now=AT)
    store.add("1", "totp", {}, now=AT)
    store.add("2", "recovery", {}, now=AT)
    assert store.remove_type("1", "recovery") == 3
    assert [row.type for row in store.of_user("1")] == ["totp"]
    assert len(store.of_user("2")) == 1


def test_the_counter_only_moves_forward(store):
    new_id = store.add("1", "totp", {}, now=AT)
    assert store.advance_counter(new_id, 100, AT)
    assert not store.advance_counter(new_id, 100, AT)
    assert not store.advance_counter(new_id, 99, AT)
    assert store.advance_counter(new_id, 101, AT + timedelta(seconds=30))
    row = store.get("1", new_id)
    assert (row.counter, row.last_used_at) == (101, AT + timedelta(seconds=30))


def test_a_time_step_beyond_32_bits_is_stored(store):
    new_id = store.add("1", "totp", {}, now=AT, counter=20000000000 // 30)
    assert store.advance_counter(new_id, 2**40, AT)
    assert store.get("1", new_id).counter == 2**40


def test_use_once_marks_a_row_used_once(store):
    new_id = store.add("1", "recovery", {}, now=AT)
    assert store.use_once(new_id, AT)
    assert not store.use_once(new_id, AT + timedelta(minutes=1))
    assert store.get("1", new_id).last_used_at == AT


def test_touch_records_each_use(store):
    new_id = store.add("1", "passkey", {}, now=AT)
    store.touch(new_id, AT + timedelta(days=1))
    store.touch(new_id, AT + timedelta(days=2))
    assert store.get("1", new_id).last_used_at == AT + timedelta(days=2)


def test_replacing_a_type_swaps_the_whole_set(store):
    store.add("1", "recovery", {"old": True}, now=AT)
    store.add("1", "totp", {}, now=AT)
    ids = store.replace_type("1", "recovery", [{"new": 1}, {"new": 2}], now=AT)
    assert [row.id for row in store.of_user("1", "recovery")] == ids
    assert [row.data for row in store.of_user("1", "recovery")] == [{"new": 1}, {"new": 2}]
    assert len(store.of_user("1", "totp")) == 1
