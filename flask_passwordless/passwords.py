"""Password hashing and the password policy.

Passwords are NFKC-normalised before they are checked, hashed or compared, so
the same password typed on another keyboard or input method (full-width
letters, composed or decomposed accents) is the same password. Hashing uses
Werkzeug's scrypt by default (PASSWORDLESS_PASSWORD_HASH); hashes made with an
older method, or from a password before normalisation, are upgraded at the next
successful sign-in. Unknown emails are checked against a dummy hash, so a wrong
address costs the same time as a wrong password.

Strength is estimated by zxcvbn (the Rust port, ``zxcvbn-rs-py``): frequency
lists of leaked passwords, names, words and keyboard patterns, scored 0 to 4.
"""

from __future__ import annotations

import enum
import re
import secrets
import unicodedata
from functools import cache

from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn_rs_py import Entropy, zxcvbn

from . import breaches
from .config import setting
from .errors import PasswordlessError
from .i18n import lazy_gettext, ngettext
from .i18n import lazy_gettext as _l

#: Characters the estimator sees. Its cost grows faster than the length (a random
#: 128-character string takes about 0.3 s), and characters past these can only add
#: strength, so a longer password is judged by its start: a cheap, safe bound.
ESTIMATED_LENGTH = 64

#: The estimator's warnings, said our way (keyed by the name of its enum member).
WARNINGS = {
    "StraightRowsOfKeysAreEasyToGuess": _l("Rows of keys on a keyboard are easy to guess."),
    "ShortKeyboardPatternsAreEasyToGuess": _l("Short keyboard patterns are easy to guess."),
    "RepeatsLikeAaaAreEasyToGuess": _l('Repeated characters like "aaa" are easy to guess.'),
    "RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess": _l(
        'Repeats like "abcabc" are hardly harder to guess than "abc".'
    ),
    "ThisIsATop10Password": _l("It is one of the ten most used passwords."),
    "ThisIsATop100Password": _l("It is one of the hundred most used passwords."),
    "ThisIsACommonPassword": _l("It is a very common password."),
    "ThisIsSimilarToACommonlyUsedPassword": _l("It is a common password with small changes."),
    "SequencesLikeAbcAreEasyToGuess": _l('Sequences like "abc" or "6543" are easy to guess.'),
    "RecentYearsAreEasyToGuess": _l("Recent years are easy to guess."),
    "AWordByItselfIsEasyToGuess": _l("A single word is easy to guess."),
    "DatesAreOftenEasyToGuess": _l("Dates are easy to guess."),
    "NamesAndSurnamesByThemselvesAreEasyToGuess": _l("Names on their own are easy to guess."),
    "CommonNamesAndSurnamesAreEasyToGuess": _l("Common names are easy to guess."),
}

#: And its suggestions; the first one that has text here is shown.
SUGGESTIONS = {
    "UseAFewWordsAvoidCommonPhrases": _l("Use a few words, not a common phrase."),
    "AddAnotherWordOrTwo": _l("Add another word or two: uncommon words are best."),
    "CapitalizationDoesntHelpVeryMuch": _l("Capital letters do not help much."),
    "AllUppercaseIsAlmostAsEasyToGuessAsAllLowercase": _l(
        "All capitals are almost as easy to guess."
    ),
    "ReversedWordsArentMuchHarderToGuess": _l(
        "Words spelled backwards are not much harder to guess."
    ),
    "PredictableSubstitutionsDontHelpVeryMuch": _l(
        'Swapping letters for look-alikes ("@" for "a") does not help much.'
    ),
    "UseALongerKeyboardPatternWithMoreTurns": _l("Use a longer keyboard pattern with more turns."),
    "AvoidRepeatedWordsAndCharacters": _l("Avoid repeated words and characters."),
    "AvoidSequences": _l("Avoid sequences."),
    "AvoidRecentYears": _l("Avoid recent years."),
    "AvoidYearsThatAreAssociatedWithYou": _l("Avoid years that have to do with you."),
    "AvoidDatesAndYearsThatAreAssociatedWithYou": _l(
        "Avoid dates and years that have to do with you."
    ),
}

TOO_WEAK = _l("That password is too easy to guess.")
FROM_ADDRESS = _l("It is built from your email address or the name of this site.")
FALLBACK_ADVICE = _l("Try a longer phrase of a few uncommon words.")
BREACHED = _l(
    "That password has appeared in a data breach, so attackers try it early. Choose another."
)


class PasswordRefused(PasswordlessError):
    title = lazy_gettext("Choose another password")


class Verdict(enum.Enum):
    """What ``verify_password`` found. Falsy only when the password is wrong."""

    WRONG = "wrong"
    RIGHT = "right"
    #: Matched only as typed, not normalised: a hash from before normalisation.
    RIGHT_AS_TYPED = "right as typed"

    def __bool__(self) -> bool:
        return self is not Verdict.WRONG


def normalise(password: str) -> str:
    """NFKC: one string for one password, whatever keyboard or IME typed it."""
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, email: str | None = None) -> None:
    """Raise PasswordRefused with the reason a person can act on.

    Checks the normalised form, which is what will be stored: length, then the
    strength estimate (with the address as words an attacker would try first),
    then, when turned on, the breached-password service.
    """
    password = normalise(password)
    low, high = setting("PASSWORD_MIN_LENGTH"), setting("PASSWORD_MAX_LENGTH")
    if len(password) < low:
        raise PasswordRefused(
            ngettext("Use at least %(num)d character.", "Use at least %(num)d characters.", low)
        )
    if len(password) > high:
        raise PasswordRefused(
            ngettext("Use at most %(num)d character.", "Use at most %(num)d characters.", high)
        )
    minimum, hints = setting("PASSWORD_MIN_SCORE"), user_inputs(email)
    estimate = zxcvbn(password[:ESTIMATED_LENGTH], hints)
    if int(estimate.score) < minimum:
        raise PasswordRefused(_advice(password, estimate, hints, minimum))
    if breaches.breached(password):
        raise PasswordRefused(str(BREACHED))


def user_inputs(email: str | None) -> list[str]:
    """Words an attacker who knows the account tries first: the address, its local
    part and the pieces of it (``alice.smith`` gives ``alice`` and ``smith``), and
    the site's name."""
    from .delivery import site_name  # delivery -> limits -> forms -> here

    words = [site_name()]
    if email:
        local = email.partition("@")[0]
        pieces = [piece for piece in re.split(r"[\W\d_]+", local) if len(piece) >= 3]
        words += [email, local, *pieces]
    return [word.casefold() for word in words if word]


def _advice(password: str, estimate: Entropy, hints: list[str], minimum: int) -> str:
    """The estimator's feedback as one message: what is wrong, then what to do."""
    if int(zxcvbn(password[:ESTIMATED_LENGTH], []).score) >= minimum:
        return f"{TOO_WEAK} {FROM_ADDRESS}"  # strong enough, were it not for the address
    feedback = estimate.feedback
    warning = WARNINGS.get(_name(feedback.warning if feedback else None), "")
    names = [_name(item) for item in (feedback.suggestions if feedback else ())]
    advice = next((SUGGESTIONS[name] for name in names if name in SUGGESTIONS), FALLBACK_ADVICE)
    return " ".join(str(part) for part in (TOO_WEAK, warning, advice) if part)


def _name(member: object) -> str:
    """``Warning.ThisIsACommonPassword`` -> ``ThisIsACommonPassword`` (the binding's
    enum members are not hashable, so they cannot key a dict themselves)."""
    return repr(member).rpartition(".")[2] if member is not None else ""


def hash_password(password: str) -> str:
    return generate_password_hash(normalise(password), method=setting("PASSWORD_HASH"))


def verify_password(password_hash: str | None, password: str) -> Verdict:
    """Check the normalised password; if it differs from what was typed and does
    not match, also the password as typed (a hash set before normalisation; the
    caller rehashes it). The work depends only on what was typed, never on
    whether there is a hash to check."""
    normal = normalise(password)
    tries = [normal] if normal == password else [normal, password]
    if not password_hash:
        for candidate in tries:
            check_password_hash(_dummy_hash(setting("PASSWORD_HASH")), candidate)
        return Verdict.WRONG
    if check_password_hash(password_hash, normal):
        return Verdict.RIGHT
    if len(tries) > 1 and check_password_hash(password_hash, password):
        return Verdict.RIGHT_AS_TYPED
    return Verdict.WRONG


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with another method *or other parameters*
    (``scrypt:32768:8:1`` versus ``scrypt:16384:8:1``)."""
    return password_hash.split("$", 1)[0] != _method_prefix(setting("PASSWORD_HASH"))


def _method_prefix(method: str) -> str:
    """The method as Werkzeug writes it in full, defaults expanded."""
    return _dummy_hash(method).split("$", 1)[0]


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method=method)
