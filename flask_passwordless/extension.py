"""The Passwordless extension: config defaults, wiring, and per-app state."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from . import audit, i18n, writes
from .adapter import UserAdapter
from .authenticators import AuthenticatorType, Registry, builtin_registry
from .authenticators.store import Authenticators
from .blueprint import create_blueprint
from .cli import passwordless_cli
from .clock import utcnow
from .config import config_problems, defaults
from .delivery import Message
from .device_store import Devices
from .dispatch import Dispatcher
from .failures import Failures
from .limits import Limits, client_ip, take_request_hooks
from .models import Models, models_for
from .server_sessions import load_user as load_signed_in_user
from .session_store import Sessions
from .tokens import Secrets

log = logging.getLogger("flask_passwordless")


@dataclass
class PasswordlessState:
    """Everything one app's extension needs; lives in ``app.extensions["passwordless"]``."""

    db: SQLAlchemy
    adapter: UserAdapter
    models: Models
    secrets: Secrets
    failures: Failures
    authenticators: Authenticators
    devices: Devices
    sessions: Sessions
    limiter: Limiter
    registry: Registry = field(default_factory=builtin_registry)
    outbox: list[Message] = field(default_factory=list)
    dispatcher: Dispatcher = field(default_factory=Dispatcher)
    clock: Callable[[], datetime] = utcnow
    # Made on first use, by the module named (so an app that never texts never
    # imports twilio, and a counter is born in the process that uses it):
    #: Twilio's client (``sms``).
    twilio: Any = None
    #: Our counter on RATELIMIT_STORAGE_URI while Flask-Limiter is off (``limits``).
    own_counter: Any = None
    #: The in-memory counter used while that storage is unreachable (``limits``).
    memory_limiter: Any = None
    #: Whether this process has logged the production problems (``_warn_once``).
    warned: bool = False
    warn_lock: threading.Lock = field(default_factory=threading.Lock)
    #: Loaded catalogues, per locale (``i18n.PasswordlessDomain``).
    translations: dict[Any, Any] = field(default_factory=dict)


class Passwordless:
    """Sign-in flows for a Flask app.

    ``Passwordless(app, db=db, user_model=User)`` or, with an app factory,
    ``passwordless.init_app(app, db=db, user_model=User)``. Initialise your own
    LoginManager, CSRFProtect, Mail and Limiter first if you have them: they
    are reused, and created otherwise.
    """

    def __init__(
        self,
        app: Flask | None = None,
        db: SQLAlchemy | None = None,
        user_model: type[Any] | None = None,
        adapter: UserAdapter | None = None,
    ) -> None:
        self.db, self.user_model, self.adapter = db, user_model, adapter
        if app is not None:
            self.init_app(app)

    def init_app(
        self,
        app: Flask,
        db: SQLAlchemy | None = None,
        user_model: type[Any] | None = None,
        adapter: UserAdapter | None = None,
    ) -> None:
        db = db or self.db
        if db is None:
            raise TypeError(
                "Passwordless needs the app's Flask-SQLAlchemy db: init_app(app, db=db)"
            )
        adapter = adapter or self.adapter
        if adapter is None:
            model = user_model or self.user_model
            if model is None:
                raise TypeError("Passwordless needs user_model= or adapter=")
            adapter = UserAdapter(db, model)
        for key, value in defaults().items():
            app.config.setdefault(key, value)
        if not 6 <= app.config["PASSWORDLESS_CODE_LENGTH"] <= 10:
            raise ValueError("PASSWORDLESS_CODE_LENGTH must be between 6 and 10")

        models = models_for(db)
        host_limiter = next(iter(app.extensions.get("limiter") or ()), None)
        state = PasswordlessState(
            db=db,
            adapter=adapter,
            models=models,
            secrets=Secrets(db, models.Secret),
            failures=Failures(db, models.Failure),
            authenticators=Authenticators(db, models.Authenticator),
            devices=Devices(db, models.Device),
            sessions=Sessions(db, models.Session),
            limiter=_limiter(app),
        )
        app.extensions["passwordless"] = state
        # A Limiter of the host's keeps its hooks; ours runs them on our pages only.
        hooks = None if host_limiter else take_request_hooks(app, state.limiter)

        i18n.set_up(app)
        _login_manager(app)
        if "csrf" not in app.extensions:
            # Ours guards the extension's pages only (see pages.check_csrf): a host's
            # JSON API or webhook must not start failing because we were added.
            app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
            CSRFProtect(app)
        if "mail" not in app.extensions:
            Mail(app)
        app.register_blueprint(
            create_blueprint(Limits(state.limiter, hooks)),
            url_prefix=app.config["PASSWORDLESS_URL_PREFIX"],
        )
        app.cli.add_command(passwordless_cli)
        audit.connect()
        app.before_request(partial(_warn_once, state))
        app.teardown_appcontext(writes.flush)

    @staticmethod
    def state(app: Flask) -> PasswordlessState:
        state: PasswordlessState = app.extensions["passwordless"]
        return state

    @staticmethod
    def register_authenticator(app: Flask, kind: AuthenticatorType) -> None:
        """Offer a host's own authenticator type (see ``authenticators.base``)."""
        app.extensions["passwordless"].registry.register(kind)


def _warn_once(state: PasswordlessState) -> None:
    """Log the production problems at the first request of each serving process.

    Not at ``init_app``: every ``flask`` command builds the app, and a
    ``flask passwordless cleanup`` from cron must not mail its owner warnings
    about cookies it never sets. ``flask passwordless check`` prints them on demand.
    """
    if state.warned:
        return
    with state.warn_lock:
        if state.warned:
            return
        state.warned = True
        for problem in config_problems(current_app):
            log.warning("flask-passwordless: %s", problem)


def _login_manager(app: Flask) -> LoginManager:
    manager = getattr(app, "login_manager", None)
    if manager is None:
        manager = LoginManager(app)
    # The user and this browser's session row, in one statement (server_sessions).
    manager.user_loader(load_signed_in_user)
    if manager.login_view is None:
        manager.login_view = "passwordless.login"
        manager.login_message = i18n.lazy_gettext("Please sign in to see this page.")
        manager.login_message_category = "info"
        # A lazy string cannot go into the session: flash it translated, now.
        manager.localize_callback = manager.localize_callback or str
    return manager


def _limiter(app: Flask) -> Limiter:
    existing = app.extensions.get("limiter")
    if existing:
        return next(iter(existing))
    # Memory is a fine default for one process; several need RATELIMIT_STORAGE_URI.
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    # With our limits off, the Limiter we create would only cost every request time.
    app.config.setdefault("RATELIMIT_ENABLED", app.config["PASSWORDLESS_LIMITER_ENABLED"])
    # When that storage (Redis) is unreachable, Flask-Limiter logs a warning ("Rate
    # limit storage unreachable - falling back to in-memory storage") and keeps every
    # limit in this process's memory until the storage answers again; an error it
    # cannot fall back from is logged with its traceback instead of becoming a 500.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    return Limiter(client_ip, app=app)
