"""Course of record: assignments, the roster, extensions, overrides, the audit log; submissions
belong to a student and an assignment and carry their bytes.

Existing submissions were made without a roster: they join the default assignment as
self-check uploads (student_pk NULL), which no gradebook counts.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    assignments = op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("late_policy", sa.String(16), nullable=False),
        sa.Column("late_penalty", sa.Float(), nullable=False),
        sa.Column("late_cutoff", sa.DateTime(), nullable=True),
        sa.Column("final_rule", sa.String(16), nullable=False),
        sa.Column("release", sa.String(16), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("name"))
    op.create_table(
        "students",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("link_sha256", sa.String(64), nullable=True),
        sa.Column("link_generation", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("student_id"), sa.UniqueConstraint("link_sha256"))
    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("student_pk", sa.Integer(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"]),
        sa.ForeignKeyConstraint(["student_pk"], ["students.id"]),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("assignment_id", "student_pk"))
    with op.batch_alter_table("submissions") as b:
        b.add_column(sa.Column("assignment_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("student_pk", sa.Integer(), nullable=True))
        b.add_column(sa.Column("submitted_by", sa.String(100), nullable=True))
        b.add_column(sa.Column("late_s", sa.Float(), nullable=True))
        b.add_column(sa.Column("late_penalty", sa.Float(), nullable=False, server_default="0"))
        b.add_column(sa.Column("content", sa.LargeBinary(), nullable=True))
        b.create_foreign_key("fk_submissions_assignment_id", "assignments", ["assignment_id"], ["id"])
        b.create_foreign_key("fk_submissions_student_pk", "students", ["student_pk"], ["id"])
        b.create_index("ix_submissions_assignment_id", ["assignment_id"])
        b.create_index("ix_submissions_student_pk", ["student_pk"])
    with op.batch_alter_table("submissions") as b:
        b.alter_column("late_penalty", server_default=None)
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(32), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("submission_id", "item"))
    op.create_index("ix_overrides_submission_id", "overrides", ["submission_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("submission_id", sa.String(32), nullable=True),
        sa.Column("student_pk", sa.Integer(), nullable=True),
        sa.Column("item", sa.String(64), nullable=True),
        sa.Column("old", sa.Text(), nullable=True),
        sa.Column("new", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.ForeignKeyConstraint(["student_pk"], ["students.id"]),
        sa.PrimaryKeyConstraint("id"))
    for col in ("at", "submission_id", "student_pk"):
        op.create_index(f"ix_audit_log_{col}", "audit_log", [col])
    # The default assignment, so that the single-machine run works before a TA configures one.
    op.bulk_insert(assignments, [dict(
        id=1, name="resnet50", title="ResNet-50 / CIFAR-10", deadline=None, timezone="UTC", late_policy="none",
        late_penalty=0.0, late_cutoff=None, final_rule="last_on_time", release="immediate", is_default=True,
        created_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))])
    if op.get_bind().dialect.name == "postgresql":  # the explicit id above leaves the sequence behind
        op.execute("SELECT setval(pg_get_serial_sequence('assignments', 'id'), 1)")
    op.execute("UPDATE submissions SET assignment_id = 1")


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("overrides")
    with op.batch_alter_table("submissions") as b:
        b.drop_index("ix_submissions_student_pk")
        b.drop_index("ix_submissions_assignment_id")
        b.drop_constraint("fk_submissions_student_pk", type_="foreignkey")
        b.drop_constraint("fk_submissions_assignment_id", type_="foreignkey")
        for col in ("content", "late_penalty", "late_s", "submitted_by", "student_pk", "assignment_id"):
            b.drop_column(col)
    op.drop_table("extensions")
    op.drop_table("students")
    op.drop_table("assignments")
