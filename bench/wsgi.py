"""gunicorn entry: ``bench.wsgi:app``, the app named by BENCH_KIND (see apps.wsgi_from_env)."""

from .apps import wsgi_from_env

app = wsgi_from_env()
