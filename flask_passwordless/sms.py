"""SMS through Twilio's own client: one client per app, Twilio errors made readable.

Only this module imports ``twilio`` (an optional extra), and only when the
``twilio`` backend is used.
"""

from __future__ import annotations

import threading
from typing import Any

from .config import setting
from .errors import DeliveryFailed
from .i18n import lazy_gettext
from .state import state

#: What a person can do about the Twilio errors they can cause.
TWILIO_ERRORS = {
    21211: lazy_gettext("That phone number is not valid. Check the digits and the country code."),
    21614: lazy_gettext("That number cannot receive text messages. Use a mobile number."),
    21408: lazy_gettext("We cannot send text messages to that country."),
    21610: lazy_gettext(
        "That number has asked not to receive our messages. Text START to us from "
        "it to allow them again."
    ),
}

TWILIO_API = "https://api.twilio.com"
_lock = threading.Lock()


def twilio_client() -> Any:
    """The app's Twilio client, created once and reused by every send."""
    current = state()
    with _lock:
        if current.twilio is None:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            client = Client(
                setting("TWILIO_ACCOUNT_SID"),
                setting("TWILIO_AUTH_TOKEN"),
                http_client=TwilioHttpClient(timeout=setting("TWILIO_TIMEOUT")),
            )
            client.api.base_url = setting("TWILIO_BASE_URL")
            if setting("TWILIO_BASE_URL") != TWILIO_API:
                # TWILIO_EDGE / TWILIO_REGION would rewrite the host of a custom URL.
                client.edge = client.region = None
            current.twilio = client
        return current.twilio


def send_with_twilio(message: Any) -> None:
    from twilio.base.exceptions import TwilioException, TwilioRestException

    sender = (
        {"messaging_service_sid": setting("TWILIO_MESSAGING_SERVICE_SID")}
        if setting("TWILIO_MESSAGING_SERVICE_SID")
        else {"from_": setting("TWILIO_FROM")}
    )
    try:
        twilio_client().messages.create(to=message.to, body=message.text, **sender)
    except TwilioRestException as exc:
        raise DeliveryFailed(
            TWILIO_ERRORS.get(exc.code, DeliveryFailed.message),
            detail=f"Twilio error {exc.code} (HTTP {exc.status})",
        ) from exc
    except (TwilioException, OSError) as exc:
        raise DeliveryFailed(detail=f"Twilio unreachable: {type(exc).__name__}") from exc
