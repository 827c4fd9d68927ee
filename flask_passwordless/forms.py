"""Flask-WTF forms: every POST carries a CSRF token; inputs are bounded."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import request
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, TelField
from wtforms.validators import AnyOf, InputRequired, Length, ValidationError

from .config import setting
from .i18n import gettext, ngettext, wtforms_translations
from .i18n import lazy_gettext as _l
from .passwords import PasswordRefused, check_policy, normalise
from .phone import PhoneRefused, normalise_phone, parse_phone
from .widgets import CheckboxInput, EmailInput, HiddenInput, PasswordInput, TelInput, TextInput


def normalise_email(value: str) -> str:
    """The stored form of an address: validated, then lower-cased as a whole.

    Raises ``EmailNotValidError`` with a readable message.
    """
    checked = validate_email(value.strip(), check_deliverability=False)
    return checked.normalized.lower()


def email_problem(value: str) -> str:
    """What is wrong with an address that did not validate, in our words:
    email_validator's own ("There can't be anything after the email address.")
    are written for developers."""
    value = value.strip()
    local, _, domain = value.rpartition("@")
    if any(ch.isspace() for ch in value):
        return gettext("it cannot contain spaces.")
    if "@" not in value:
        return gettext("it needs an @, as in name@example.com.")
    if "@" in local:
        return gettext("it can have only one @.")
    if not local:
        return gettext("add the part before the @.")
    if not domain:
        return gettext("add the part after the @, as in name@example.com.")
    if "." not in domain:
        return gettext("the part after the @ needs a dot, as in example.com.")
    return gettext("check it for typos.")


def code_length_message(length: int) -> str:
    return ngettext("The code is %(num)d digit.", "The code is %(num)d digits.", length)


def masked_email(email: str) -> str:
    """``a•••e@example.com``: enough for the owner to recognise, little for others."""
    local, _, domain = email.partition("@")
    shown = local[0] + "•••" + local[-1] if len(local) > 2 else local[:1] + "•••"
    return f"{shown}@{domain}"


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _digits_only(value: Any) -> Any:
    """People paste codes as ``123 456`` or ``123-456``."""
    if isinstance(value, str):
        return "".join(ch for ch in value if ch not in " -\t")
    return value


HIDDEN = HiddenInput()


def _text_fields() -> Any:
    """The submitted text fields, and nothing else.

    Flask-WTF would merge ``request.files`` and JSON bodies into the form data,
    so a field sent as a file part or a JSON number reaches validators that
    expect text (``len()`` of a FileStorage is a 500). Our forms take neither:
    ``request.form`` holds only text parts, and anything else counts as absent.
    """
    if request.method in {"POST", "PUT", "PATCH", "DELETE"} and request.form:
        return request.form
    return None


class Form(FlaskForm):
    """Base of the extension's forms: every field renders with a widget from
    ``widgets`` (the same HTML, built faster), the CSRF token's included, and
    only text fields are read (file parts and JSON bodies count as absent)."""

    class Meta:
        def get_translations(self, form: Any) -> Any:
            return wtforms_translations()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args and "formdata" not in kwargs:
            kwargs["formdata"] = _text_fields()
        super().__init__(*args, **kwargs)
        csrf_field = self._fields.get(self.meta.csrf_field_name)
        if csrf_field is not None:  # absent when WTF_CSRF_ENABLED is off
            csrf_field.widget = HIDDEN


class EmailForm(Form):
    email = EmailField(
        _l("Email address"),
        widget=EmailInput(),
        validators=[
            InputRequired(_l("Enter your email address.")),
            Length(max=254, message=_l("That is too long for an email address.")),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )
    next = HiddenField(widget=HIDDEN)

    def validate_email(self, field: Any) -> None:
        try:
            self.normalised_email = normalise_email(field.data)
        except EmailNotValidError:
            problem = email_problem(field.data)
            raise ValidationError(
                gettext("That email address is not valid: %(problem)s", problem=problem)
            ) from None


class PhoneForm(Form):
    """A number to verify: it must pass the whole SMS policy, and the page says why not."""

    phone = TelField(
        _l("Phone number"),
        widget=TelInput(),
        validators=[
            InputRequired(_l("Enter your phone number.")),
            Length(max=40, message=_l("That is too long for a phone number.")),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    next = HiddenField(widget=HIDDEN)

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


class CodeForm(Form):
    code = StringField(
        _l("Code"),
        widget=TextInput(),
        validators=[
            InputRequired(_l("Enter the code from the message.")),
            Length(max=20, message=_l("The code is too long.")),
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
            raise ValidationError(code_length_message(length))


class PasswordLoginForm(EmailForm):
    """The password goes on as typed: ``verify_password`` normalises it, and needs
    the typed form too for hashes made before passwords were normalised."""

    password = PasswordField(
        _l("Password"),
        widget=PasswordInput(),
        validators=[
            InputRequired(_l("Enter your password.")),
            Length(max=1024, message=_l("That is too long for a password.")),
        ],
        render_kw={"autocomplete": "current-password"},
    )


class NewPasswordForm(Form):
    """A new password, typed twice, checked against the policy."""

    password = PasswordField(
        _l("New password"),
        widget=PasswordInput(),
        validators=[InputRequired(_l("Choose a password.")), Length(max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Type it again"),
        widget=PasswordInput(),
        validators=[InputRequired(_l("Type the password again."))],
        render_kw={"autocomplete": "new-password"},
    )
    token = HiddenField(widget=HIDDEN)

    def __init__(self, *args: Any, email: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def validate_password(self, field: Any) -> None:
        try:
            check_policy(field.data, self.email)
        except PasswordRefused as refused:
            raise ValidationError(refused.message) from None

    def validate_confirm(self, field: Any) -> None:
        """Compared normalised, like everything else: the same password typed twice
        through different input methods is the same password."""
        if normalise(field.data or "") != normalise(self.password.data or ""):
            raise ValidationError(gettext("The two passwords are not the same."))


class AppCodeForm(CodeForm):
    """A code from an authenticator app: always six digits."""

    def validate_code(self, field: Any) -> None:
        if not field.data.isascii() or not field.data.isdigit() or len(field.data) != 6:
            raise ValidationError(code_length_message(6))


class ChangePasswordForm(NewPasswordForm):
    """A new password, when the session has not proved enough to skip the old one."""

    current = PasswordField(
        _l("Current password"),
        widget=PasswordInput(),
        validators=[InputRequired(_l("Enter your current password.")), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class StepForm(Form):
    """The second step (or confirm-it-is-you) for one authenticator type: a code,
    a longer text (recovery code) or a password, whichever the type asks for."""

    #: Which authenticator the value is for; absent means the one the page showed.
    method = HiddenField(widget=HIDDEN, validators=[Length(max=40)])
    code = StringField(
        _l("Code"),
        widget=TextInput(),
        validators=[Length(max=64, message=_l("That is too long for a code."))],
        filters=[_strip],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        widget=PasswordInput(),
        validators=[Length(max=1024, message=_l("That is too long for a password."))],
        render_kw={"autocomplete": "current-password"},
    )
    #: A passkey's answer (JSON), filled in by the page's script.
    credential = HiddenField(widget=HIDDEN, validators=[Length(max=16_384)])
    remember = BooleanField(_l("Remember this device"), widget=CheckboxInput())

    def field_for(self, field: str) -> Any:
        """The form field of a type's ``field`` ("code", "text", "password", "passkey")."""
        return {"password": self.password, "passkey": self.credential}.get(field, self.code)

    def value_for(self, field: str) -> str:
        """What was typed in the field the type asks for ("" when nothing)."""
        data = self.field_for(field).data
        if field == "code":
            data = _digits_only(data)
        return data if isinstance(data, str) else ""


class LinkForm(Form):
    # Optional: without it, the view uses the copy in this browser's session.
    token = HiddenField(widget=HIDDEN, validators=[Length(max=100)])


class TwoFactorSettingForm(Form):
    enable = HiddenField(widget=HIDDEN, validators=[InputRequired(), AnyOf(["0", "1"])])


class ActionForm(Form):
    """A bare button (sign out, revoke): only the CSRF token matters."""


class PasskeyForm(Form):
    """A passkey's answer from the page's script (JSON), and where to go next."""

    credential = HiddenField(widget=HIDDEN, validators=[Length(max=16_384)])
    next = HiddenField(widget=HIDDEN, validators=[Length(max=1024)])


class PasskeyNameForm(Form):
    """A passkey's name (new, or a rename)."""

    credential = HiddenField(widget=HIDDEN, validators=[Length(max=16_384)])
    name = StringField(
        _l("Name"),
        widget=TextInput(),
        validators=[Length(max=80, message=_l("Keep the name under 80 characters."))],
        filters=[_strip],
        render_kw={"autocomplete": "off"},
    )
