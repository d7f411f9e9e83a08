"""Per-key salts for API key hashes; per-key request counts for the rate limit.

Existing keys keep their unsalted hash and a NULL salt, and keep working (docs/deploy.md).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("salt", sa.String(32), nullable=True))
    op.create_table(
        "rate_counts",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("window_start", sa.Integer, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_counts")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("salt")
