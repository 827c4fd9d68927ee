"""Compiled templates shared by every test app of one pytest process.

Each test builds a fresh Flask app, and each fresh app has a fresh Jinja
environment that compiled the same templates again (about a tenth of a run).
This cache keeps the compiled code in memory, in the process only: the
library's own behaviour is unchanged, and nothing is written to disk.

A template is found again only if its source has Jinja's same checksum (an
edited template recompiles) and the environment compiles the same way (the
options that change the generated code are part of the key).
"""

from __future__ import annotations

from types import CodeType

from flask import Flask
from jinja2 import Environment
from jinja2.bccache import Bucket, BytecodeCache


def compile_options(environment: Environment) -> tuple:
    """What, besides the source, decides the code Jinja generates for a template."""
    autoescape = environment.autoescape
    return (
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        environment.optimized,
        getattr(environment, "newstyle_gettext", None),
        tuple(sorted(environment.extensions)),
        environment.code_generator_class,
        getattr(autoescape, "__qualname__", autoescape),
        environment.is_async,
        environment.finalize,
        # Jinja checks each filter and test exists, chooses how to call it and
        # folds it over constants while compiling: the code is only good for the same ones.
        tuple(sorted(environment.filters.items(), key=lambda item: item[0])),
        tuple(sorted(environment.tests.items(), key=lambda item: item[0])),
    )


class SharedBytecodeCache(BytecodeCache):
    """Jinja's bytecode cache, kept in a dict and shared by environments alike."""

    def __init__(self) -> None:
        self.compiled: dict[tuple, tuple[str, CodeType]] = {}

    def get_bucket(
        self, environment: Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        key = self.get_cache_key(name, filename)
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        bucket.options = compile_options(environment)  # type: ignore[attr-defined]
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        checksum, code = self.compiled.get((bucket.key, bucket.options), (None, None))  # type: ignore[attr-defined]
        if checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        assert bucket.code is not None
        self.compiled[(bucket.key, bucket.options)] = (bucket.checksum, bucket.code)  # type: ignore[attr-defined]


SHARED = SharedBytecodeCache()


def share_compiled_templates(app: Flask) -> Flask:
    """Give ``app``'s Jinja environment the process's cache, before its first template.

    Through ``jinja_options`` while the environment is not made yet, so making
    it early does not fix its options (auto-reload follows config and debug).
    """
    if "jinja_env" in app.__dict__:
        app.jinja_env.bytecode_cache = SHARED
    else:
        app.jinja_options = {**app.jinja_options, "bytecode_cache": SHARED}
    return app
