"""A small app that signs people in with flask-passwordless.

Run it from the repository root with ``make run``, or by hand::

    flask --app sample_app db upgrade
    flask --app sample_app run
"""

from .app import create_app

__all__ = ["create_app"]
