"""``parkmatch keys create|list|revoke``: manage API keys.  A new key is printed once; only its
salted SHA-256 is stored, so a lost key cannot be recovered, only revoked and replaced.  ``list``
marks keys from before per-key salts (``unsalted``) so that they can be rotated."""

from __future__ import annotations

import argparse
import sys

from api.db import ApiKey, Database


def _fmt_time(row: ApiKey, attr: str) -> str:
    value = getattr(row, attr)
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def cli_keys(database_url: str, args: argparse.Namespace) -> int:
    db = Database(database_url)
    try:
        db.create_all()
        if args.keys_command == "create":
            row, key = db.create_key(args.org, args.role, args.label or "")
            print(f"created key {row.id} for org {row.org!r} with role {row.role}", file=sys.stderr)
            print("store this key now; it is not shown again:", file=sys.stderr)
            print(key)
            return 0
        if args.keys_command == "list":
            rows = db.list_keys()
            print(f"{'id':<16}  {'org':<20} {'role':<8} {'created':<19}  {'revoked':<19}  {'hash':<8}  label")
            for r in rows:
                scheme = "salted" if r.salt else "unsalted"
                print(
                    f"{r.id:<16}  {r.org[:20]:<20} {r.role:<8} "
                    f"{_fmt_time(r, 'created'):<19}  {_fmt_time(r, 'revoked'):<19}  {scheme:<8}  {r.label}"
                )
            return 0
        if args.keys_command == "revoke":
            found = db.revoke_key(args.key_id)
            if found is None:
                print(f"parkmatch keys: error: no key with id {args.key_id!r}", file=sys.stderr)
                return 2
            print(f"revoked key {found.id} ({found.org}, {found.role})", file=sys.stderr)
            return 0
        print(f"parkmatch keys: error: unknown command {args.keys_command!r}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
