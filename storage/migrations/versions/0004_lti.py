"""LMS integration (LTI 1.3): registered platforms, LMS users linked to students and TAs, the
OIDC nonces a launch may use once, LMS courses with their members and line items, and the
scores waiting to be posted to the LMS.

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
    op.create_table(
        "lti_platforms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("deployment_ids", sa.Text(), nullable=False),
        sa.Column("auth_login_url", sa.String(1000), nullable=False),
        sa.Column("auth_token_url", sa.String(1000), nullable=False),
        sa.Column("key_set_url", sa.String(1000), nullable=False),
        sa.Column("auth_audience", sa.String(1000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("issuer", "client_id"))
    op.create_table(
        "lti_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("sub", sa.String(255), nullable=False),
        sa.Column("student_pk", sa.Integer(), nullable=True),
        sa.Column("ta_account_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_launch_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["student_pk"], ["students.id"]),
        sa.ForeignKeyConstraint(["ta_account_id"], ["ta_accounts.id"]),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("issuer", "sub"))
    op.create_index("ix_lti_users_student_pk", "lti_users", ["student_pk"])
    op.create_index("ix_lti_users_ta_account_id", "lti_users", ["ta_account_id"])
    op.create_table(
        "lti_nonces",
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"))
    op.create_index("ix_lti_nonces_expires_at", "lti_nonces", ["expires_at"])
    op.create_table(
        "lti_contexts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.String(255), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("memberships_url", sa.String(1000), nullable=True),
        sa.Column("lineitems_url", sa.String(1000), nullable=True),
        sa.Column("ags_scopes", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("approved_by", sa.String(100), nullable=True),
        sa.ForeignKeyConstraint(["platform_id"], ["lti_platforms.id"]),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("platform_id", "context_id"))
    op.create_table(
        "lti_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=False),
        sa.Column("lti_user_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["context_pk"], ["lti_contexts.id"]),
        sa.ForeignKeyConstraint(["lti_user_pk"], ["lti_users.id"]),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("context_pk", "lti_user_pk"))
    op.create_index("ix_lti_members_lti_user_pk", "lti_members", ["lti_user_pk"])
    op.create_table(
        "lti_line_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.ForeignKeyConstraint(["context_pk"], ["lti_contexts.id"]),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"]),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("context_pk", "assignment_id"))
    op.create_table(
        "lti_passbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("student_pk", sa.Integer(), nullable=False),
        sa.Column("lms_sub", sa.String(255), nullable=False),
        sa.Column("score_given", sa.Float(), nullable=False),
        sa.Column("score_maximum", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["context_pk"], ["lti_contexts.id"]),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"]),
        sa.ForeignKeyConstraint(["student_pk"], ["students.id"]),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("context_pk", "assignment_id", "student_pk"))
    op.create_index("ix_lti_passbacks_status", "lti_passbacks", ["status"])
    op.create_index("ix_lti_passbacks_next_attempt_at", "lti_passbacks", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("lti_passbacks")
    op.drop_table("lti_line_items")
    op.drop_table("lti_members")
    op.drop_table("lti_contexts")
    op.drop_table("lti_nonces")
    op.drop_table("lti_users")
    op.drop_table("lti_platforms")
