"""Benchmarks for flask-passwordless: ``python -m bench`` (or ``make bench``).

In one run, and in alternation, this measures three host apps built the same
way on the same kind of database: bare Flask + Flask-Login, flask-passwordless
and Flask-Security-Too (installed from ``requirements-bench.txt``, never a
dependency of the package):

1. a protected page for a signed-in user;
2. a whole email-code sign-in (request, read the code, submit, protected page);
3. a whole magic-link sign-in;
4. 1 and 2 again with large tables (1M users and used/expired secrets), on
   SQLite and, when ``PASSWORDLESS_TEST_DATABASE_URL`` is set, PostgreSQL;
5. whole sign-ins against gunicorn (2 workers) at a few concurrency levels;

plus SQL statements per step, and a profile of our own hot paths. It prints
medians and ratios (never pass/fail) and writes ``bench/RESULTS.rst``.
``--quick`` is a one-minute smoke run. See ``python -m bench --help``.
"""
