"""``parkmatch keys`` and the serve bootstrap."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.db import Database, hash_key, salted_hash
from api.serve import ensure_admin_key
from parkmatch.cli import main
from parkmatch.config import Settings


def test_keys_create_list_revoke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARKMATCH_HOME", str(tmp_path))
    monkeypatch.delenv("PARKMATCH_DATABASE_URL", raising=False)
    assert main(["keys", "create", "--org", "津冀办", "--role", "officer", "--label", "desk 3"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("pm_")
    db = Database(Settings().resolved_database_url())
    principal = db.authenticate(key)
    assert principal is not None and principal.org == "津冀办" and principal.role == "officer"
    rows = db.list_keys()
    # a salted hash is stored, never the key nor its bare SHA-256
    assert len(rows) == 1 and rows[0].salt and rows[0].key_hash == salted_hash(rows[0].salt, key)
    assert rows[0].key_hash != hash_key(key)
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert principal.key_id in listing and key not in listing and "desk 3" in listing
    assert main(["keys", "revoke", principal.key_id]) == 0
    assert db.authenticate(key) is None
    assert main(["keys", "revoke", "nope"]) == 2
    db.dispose()


def test_bootstrap_admin_only_when_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(
        home=tmp_path, database_url=f"sqlite:///{tmp_path / 'k.db'}", bootstrap_admin_org="bootstrap-org"
    )
    key_file = tmp_path / "secret" / "bootstrap-admin-key"
    key = ensure_admin_key(settings.resolved_database_url(), settings.bootstrap_admin_org, key_file)
    printed = capsys.readouterr()
    assert key is not None and key not in printed.out + printed.err  # never into logs
    assert str(key_file) in printed.err
    assert key_file.read_text(encoding="utf-8").strip() == key
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert ensure_admin_key(settings.resolved_database_url(), settings.bootstrap_admin_org, key_file) is None
    db = Database(settings.resolved_database_url())
    p = db.authenticate(key)
    assert p is not None and p.role == "admin" and p.org == "bootstrap-org"
    db.dispose()
