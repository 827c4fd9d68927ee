"""Authenticators that do not live on the user row: their storage and their checks.

One table holds every type (``store``); each type's checks live in a module of
their own (``totp``, ``recovery``); ``sealing`` keeps their secrets encrypted.
"""
