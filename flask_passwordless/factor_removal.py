"""Removing a second factor: one change of a user's second steps at a time, each
deciding on what is stored, not on what its request read earlier.

No removal (the authenticator app, the phone, a passkey) may leave an account
with two-step sign-in on and no second step to pass it. Each page used to check
what remains from what its own request had read, and two removals sent at once
(the passkey in one tab, the app in another) each saw the other still there:
both went. So every removal, and turning two-step sign-in on, goes through
``users_turn``: wait for the user's turn (``Authenticators.take_users_turn``),
read the user and their authenticators again, decide, write, commit (which ends
the turn).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any

from .signin import two_step_on
from .state import state


class Removal(Enum):
    """How a removal went."""

    REMOVED = "removed"
    #: Refused: it is the last second step of an account with two-step sign-in on.
    NEEDED = "needed"
    #: There was nothing to remove (gone already, or never the user's).
    NOTHING = "nothing"


@contextmanager
def users_turn(user: Any) -> Iterator[None]:
    """Run the block as the only change of ``user``'s second steps, on what is stored
    now; committed at the end (the writes in it commit too: either ends the turn)."""
    current = state()
    session = current.authenticators.db.session
    current.authenticators.take_users_turn(current.adapter.key_of(user))
    try:
        current.adapter.reread(user)
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


def leaves_no_second_step(user: Any, kind: str, *, kind_remains: bool = False) -> bool:
    """Two-step sign-in is on and without ``kind`` (unless another of it remains, as a
    second passkey) the user would have no second step: a last resort (recovery
    codes) does not carry two-step sign-in."""
    if kind_remains or not two_step_on(user):
        return False
    others = state().registry.second_factors(user, besides=kind)
    return not any(not other.last_resort for other in others)


def remove_second_factor(
    user: Any,
    kind: str,
    remove: Callable[[], bool],
    *,
    kind_remains: Callable[[], bool] = lambda: False,
) -> Removal:
    """Remove one of ``user``'s ``kind`` (``remove()``: True when it removed one) unless
    that leaves two-step sign-in with nothing to pass it; ``kind_remains()`` says
    whether another of the same kind would stay (both read in the user's turn)."""
    with users_turn(user):
        if leaves_no_second_step(user, kind, kind_remains=kind_remains()):
            return Removal.NEEDED
        return Removal.REMOVED if remove() else Removal.NOTHING
