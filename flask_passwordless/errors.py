"""The errors a user can cause, as values with messages.

Views raise these; one handler on the blueprint renders them. Nothing else
in the package catches broadly.
"""

from __future__ import annotations

from .i18n import gettext, ngettext
from .i18n import lazy_gettext as _l


class PasswordlessError(Exception):
    """Base of every user-facing failure: a message and an HTTP status."""

    status = 400
    title = _l("Something went wrong")
    message = _l("Please go back and try again.")
    #: Where the error page's one link goes, and what it says.
    again_endpoint = "passwordless.login"
    again_text = _l("Ask for a new sign-in link")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class FeatureOff(PasswordlessError):
    """A page of a feature this app has turned off: for the visitor, no such page."""

    status = 404
    title = _l("Page not found")
    message = _l("There is no such page here.")


class SecretInvalid(PasswordlessError):
    """A link or code that is unknown, malformed, expired, used or dead."""

    title = _l("This link or code no longer works")
    message = _l(
        "It has expired, was already used, or was replaced by a newer one. Ask for a new one below."
    )


class LinkNotKept(SecretInvalid):
    """A link's page opened without its token: not in the session, not in the form.

    After a sign-in (the back button) that is a used link; right after opening
    one, a browser that refuses cookies, since the token moved into the session
    cookie (it could not sign in anyway: the CSRF token and the session are
    cookies too).
    """

    message = _l(
        "It has expired, was already used, or was replaced by a newer one. Ask for a new one "
        "below. If you have just opened it from the message, this browser may be refusing "
        "cookies: signing in needs them."
    )


class CodeWrong(PasswordlessError):
    """A wrong code; ``remaining`` tries are left on its row (0: the row is dead)."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        super().__init__(
            ngettext(
                "That code is not right. You have %(num)d try left.",
                "That code is not right. You have %(num)d tries left.",
                remaining,
            )
        )


class CheckRefused(PasswordlessError):
    """A second-step or confirm check that failed with its own message (a passkey
    that is not this account's); it counts as a failure, like a wrong code."""


class FormExpired(PasswordlessError):
    """A POST whose CSRF token is missing, forged or too old."""

    title = _l("This form has expired")
    message = _l(
        "The page was open too long or was sent from another site. "
        "Go back, reload the page and try again."
    )


class TooManyMessages(PasswordlessError):
    """A per-person message budget is spent (codes of the second step)."""

    status = 429
    title = _l("Too many codes")
    message = _l("We have sent you several codes already. Wait a few minutes, then try again.")


class RateLimited(PasswordlessError):
    """A send budget is spent; rendered as the 429 page with ``retry_after`` seconds."""

    status = 429
    title = _l("Too many attempts")
    message = _l("That was a lot of attempts in a short time. Please wait and try again.")

    def __init__(self, retry_after: int, limit: str = "") -> None:
        super().__init__()
        self.retry_after = retry_after
        self.limit = limit


class DeliveryFailed(PasswordlessError):
    """The mail or SMS backend refused the message; ``detail`` is for the log only."""

    status = 503
    title = _l("We could not send the message")
    message = _l("Sending failed on our side. Please try again in a few minutes.")

    def __init__(self, message: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class SendQueueFull(PasswordlessError):
    """The background senders are this far behind (PASSWORDLESS_SEND_QUEUE_SIZE).

    Raised before the address is looked at, so every address gets it alike."""

    status = 503
    title = _l("Too busy to send messages")
    message = _l(
        "We are sending a great many messages right now, so nothing was sent. "
        "Please try again in a minute."
    )
    retry_after = 60


class DatabaseUnavailable(PasswordlessError):
    """The database refused or dropped the connection; the request's transaction was
    rolled back, so nothing it did is saved."""

    status = 503
    title = _l("Temporarily unavailable")
    message = _l(
        "We cannot reach our database right now, so nothing was changed. "
        "Please try again in a minute."
    )
    retry_after = 30


class DatabaseNotSetUp(PasswordlessError):
    """A table or column the app needs is missing: the migrations were not run.

    A mistake in the set-up, not an outage (no Retry-After: waiting will not
    fix it). In debug mode the page says what to run; otherwise only the log does.
    """

    status = 500
    title = _l("This site is not set up yet")
    message = _l("Sign-in is not working on our side. Please try again later.")

    def __init__(self, debug_detail: str = "") -> None:
        super().__init__(
            gettext(
                "The database is missing a table or column (%(detail)s). Run `flask db "
                "upgrade` (after `flask db migrate`, if no migration creates it yet), then "
                "reload this page.",
                detail=debug_detail,
            )
            if debug_detail
            else None
        )
