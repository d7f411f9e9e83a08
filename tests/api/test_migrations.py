"""The schema as Alembic revisions (api.migrations) on SQLite and PostgreSQL: a fresh database
upgraded to head is the models, ``parkmatch db upgrade`` is idempotent, a database made before
migrations is adopted with its keys, and a worker refuses a PostgreSQL schema that is behind."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from api import migrations
from api.db import ApiKey, Base, Database, hash_key, utcnow
from parkmatch.cli import main


def test_one_line_of_revisions() -> None:
    """Two revisions written in parallel on the same parent would make two heads; the second
    must be rebased onto the first (docs/deploy.md)."""
    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert script.get_heads() == [migrations.head()]
    assert [r.revision for r in script.walk_revisions()][-1] == migrations.BASELINE


def test_a_fresh_database_upgraded_to_head_equals_the_models(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        assert migrations.current(db.engine) is None
        assert migrations.upgrade(db.engine) == (None, migrations.head())
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert migrations.current(db.engine) == migrations.head()
    finally:
        db.dispose()


def test_db_upgrade_is_idempotent(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARKMATCH_DATABASE_URL", empty_db_url)
    assert main(["db", "current"]) == 1  # behind: nothing applied yet
    assert main(["db", "upgrade"]) == 0
    assert "upgraded from (empty)" in capsys.readouterr().err
    db = Database(empty_db_url)
    try:
        _, key = db.create_key("org-a", "officer")
        assert main(["db", "upgrade"]) == 0
        assert f"already at revision {migrations.head()}" in capsys.readouterr().err
        assert db.authenticate(key) is not None and db.count_keys() == 1
        assert main(["db", "current"]) == 0
        assert capsys.readouterr().out.startswith(migrations.head())
    finally:
        db.dispose()


def test_a_database_from_before_migrations_keeps_its_keys(empty_db_url: str) -> None:
    """Tables made by ``create_all`` (the baseline revision, no ``alembic_version``) holding a
    key hashed the old way, unsalted: adopted, upgraded, and the key still works."""
    db = Database(empty_db_url)
    try:
        with db.engine.begin() as conn:
            command.upgrade(migrations.alembic_config(conn), migrations.BASELINE)
            conn.execute(sa.text("drop table alembic_version"))
            old_key = "pm_" + secrets.token_urlsafe(32)
            legacy = sa.table(
                "api_keys", *(sa.column(c) for c in ("id", "org", "role", "label", "key_hash", "created"))
            )
            conn.execute(
                legacy.insert().values(
                    id="0123456789abcdef",
                    org="org-a",
                    role="admin",
                    label="old",
                    key_hash=hash_key(old_key),
                    created=utcnow(),
                )
            )
        assert migrations.current(db.engine) is None
        db.create_all()
        assert migrations.current(db.engine) == migrations.head()
        principal = db.authenticate(old_key)
        assert principal is not None and (principal.key_id, principal.role) == ("0123456789abcdef", "admin")
        assert db.authenticate(old_key[:-1] + ("A" if old_key[-1] != "A" else "B")) is None
        row = db.get_key("0123456789abcdef")
        assert isinstance(row, ApiKey) and row.salt is None
        new_row, new_key = db.create_key("org-a", "viewer")
        assert new_row.salt is not None and db.authenticate(new_key) is not None
        db.revoke_key("0123456789abcdef")
        assert db.authenticate(old_key) is None
    finally:
        db.dispose()


def test_workers_upgrade_sqlite_but_refuse_a_postgresql_schema_behind(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        if db.engine.dialect.name == "sqlite":
            migrations.on_start(db.engine)
            assert migrations.current(db.engine) == migrations.head()
        else:
            with pytest.raises(migrations.SchemaBehind, match="parkmatch db upgrade"):
                migrations.on_start(db.engine)
            migrations.upgrade(db.engine)
            migrations.on_start(db.engine)  # at head: starts
    finally:
        db.dispose()
