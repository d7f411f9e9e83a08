"""The database schema as Alembic revisions (``versions/``), and ``parkmatch db``.

Every schema change is one new file in ``versions/`` whose ``down_revision`` is the current
head; :func:`upgrade` applies whatever a database is missing.  SQLite databases are upgraded
when a worker starts; a PostgreSQL database is upgraded by the operator (``parkmatch db
upgrade``, once per release, before the new servers start) and a worker refuses to start on one
that is behind, so two server versions never race to change a shared schema.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import sys
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

HERE = Path(__file__).resolve().parent
# The revision whose tables ``create_all`` made before migrations existed.
BASELINE = "0001"


class SchemaBehind(RuntimeError):
    """The database is older than this code; ``parkmatch db upgrade`` fixes it."""


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision; ``None`` for an empty one or one made before migrations."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Workers starting together upgrade one at a time (a lock file beside the database)."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every missing revision; returns (revision before, revision after).  Idempotent.

    A database whose tables ``create_all`` made before migrations (``api_keys`` present, no
    ``alembic_version``) is first stamped with the baseline revision, then upgraded."""
    target = head()
    before = current(engine)
    if before == target:
        return before, target
    with _sqlite_file_lock(engine), engine.begin() as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None and inspect(conn).has_table("api_keys"):
            command.stamp(alembic_config(conn), BASELINE)
            before = BASELINE
        if before != target:
            command.upgrade(alembic_config(conn), "head")
    return before, target


def on_start(engine: Engine) -> None:
    """A worker's start: upgrade SQLite; on any other database require the newest revision."""
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    found, target = current(engine), head()
    if found != target:
        raise SchemaBehind(
            f"the database {engine.url.render_as_string(hide_password=True)} is at revision "
            f"{found or '(none)'}, this parkmatch needs {target}: run `parkmatch db upgrade` first"
        )


def cli_db(database_url: str, args: argparse.Namespace) -> int:
    """``parkmatch db upgrade`` and ``parkmatch db current``."""
    from api.db import Database

    db = Database(database_url)
    try:
        url = db.engine.url.render_as_string(hide_password=True)
        if args.db_command == "upgrade":
            before, after = upgrade(db.engine)
            if before == after:
                print(f"{url}: already at revision {after}", file=sys.stderr)
            else:
                print(f"{url}: upgraded from {before or '(empty)'} to {after}", file=sys.stderr)
            return 0
        found = current(db.engine)
        print(f"{found or '(none)'} (newest: {head()})")
        return 0 if found == head() else 1
    finally:
        db.dispose()
