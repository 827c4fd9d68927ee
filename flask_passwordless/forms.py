"""Flask-WTF forms: every POST carries a CSRF token; inputs are bounded."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField, TelField
from wtforms.validators import InputRequired, Length, ValidationError

from .config import setting
from .phone import PhoneRefused, normalise_phone, parse_phone


def normalise_email(value: str) -> str:
    """The stored form of an address: validated, then lower-cased as a whole.

    Raises ``EmailNotValidError`` with a readable message.
    """
    checked = validate_email(value.strip(), check_deliverability=False)
    return checked.normalized.lower()


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _digits_only(value: Any) -> Any:
    """People paste codes as ``123 456`` or ``123-456``."""
    if isinstance(value, str):
        return "".join(ch for ch in value if ch not in " -\t")
    return value


class EmailForm(FlaskForm):
    email = EmailField(
        "Email address",
        validators=[
            InputRequired("Enter your email address."),
            Length(max=254, message="That is too long for an email address."),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )
    next = HiddenField()

    def validate_email(self, field: Any) -> None:
        try:
            self.normalised_email = normalise_email(field.data)
        except EmailNotValidError as exc:
            raise ValidationError(f"That email address is not valid: {exc}") from None


class PhoneForm(FlaskForm):
    """A number to verify: it must pass the whole SMS policy, and the page says why not."""

    phone = TelField(
        "Phone number",
        validators=[
            InputRequired("Enter your phone number."),
            Length(max=40, message="That is too long for a phone number."),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    next = HiddenField()

    def validate_phone(self, field: Any) -> None:
        try:
            self.e164 = self.normalise(field.data)
        except PhoneRefused as refused:
            raise ValidationError(refused.message) from None

    normalise = staticmethod(normalise_phone)


class SignInPhoneForm(PhoneForm):
    """A number to sign in with: only a malformed number gets a message. Whether
    we may text it is, like whether it has an account, not for the page to say."""

    normalise = staticmethod(parse_phone)


class CodeForm(FlaskForm):
    code = StringField(
        "Code",
        validators=[
            InputRequired("Enter the code from the message."),
            Length(max=20, message="The code is too long."),
        ],
        filters=[_digits_only],
        render_kw={
            "inputmode": "numeric",
            "autocomplete": "one-time-code",
            "pattern": "[0-9 -]*",
        },
    )

    def validate_code(self, field: Any) -> None:
        length = setting("CODE_LENGTH")
        if not field.data.isascii() or not field.data.isdigit() or len(field.data) != length:
            raise ValidationError(f"The code is {length} digits.")


class LinkForm(FlaskForm):
    token = HiddenField(validators=[InputRequired(), Length(max=100)])


class ActionForm(FlaskForm):
    """A bare button (sign out, revoke): only the CSRF token matters."""
