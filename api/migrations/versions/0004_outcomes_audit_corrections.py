"""Closing the loop: outcomes carry a rejection reason and the firm's profile, the audit log of
served results, park corrections and each corrected field's history.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("reason_category", sa.String(16), nullable=True))
        batch.add_column(sa.Column("firm_profile", sa.Text, nullable=True))
        batch.add_column(sa.Column("profile_hash", sa.String(64), nullable=True))
    op.create_index("ix_feedback_profile_hash", "feedback", ["profile_hash"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("firm_ref", sa.String(200), nullable=True),
        sa.Column("park_id", sa.String(100), nullable=True),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("top", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    for col in ("ts", "call_id", "kind", "key_id", "org", "park_id"):
        op.create_index(f"ix_audit_log_{col}", "audit_log", [col])

    op.create_table(
        "park_corrections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("park_id", sa.String(100), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(32), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("proposed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("decided", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text, nullable=True),
        sa.Column("applied_in", sa.String(200), nullable=True),
    )
    for col in ("org", "park_id", "status"):
        op.create_index(f"ix_park_corrections_{col}", "park_corrections", [col])

    op.create_table(
        "park_field_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("park_id", sa.String(100), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("old_value", sa.Text, nullable=True),
        sa.Column("new_value", sa.Text, nullable=False),
        sa.Column("old_provenance", sa.String(16), nullable=True),
        sa.Column("new_provenance", sa.String(16), nullable=False),
        sa.Column("correction_id", sa.Integer, sa.ForeignKey("park_corrections.id"), nullable=False),
        sa.Column("org", sa.String(100), nullable=False),
        sa.Column("approved_by", sa.String(32), nullable=False),
        sa.Column("changed", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_park_field_history_park_id", "park_field_history", ["park_id"])
    op.create_index("ix_park_field_history_org", "park_field_history", ["org"])


def downgrade() -> None:
    op.drop_table("park_field_history")
    op.drop_table("park_corrections")
    op.drop_table("audit_log")
    op.drop_index("ix_feedback_profile_hash", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("profile_hash")
        batch.drop_column("firm_profile")
        batch.drop_column("reason_category")
