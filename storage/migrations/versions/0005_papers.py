"""Report PDFs (the assignment's second deliverable) and the TA's points for them.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "papers",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("student_id", sa.String(64), nullable=False),
        sa.Column("student_pk", sa.Integer(), sa.ForeignKey("students.id"), nullable=True),
        sa.Column("assignment_id", sa.Integer(), sa.ForeignKey("assignments.id"), nullable=True),
        sa.Column("submission_id", sa.String(32), sa.ForeignKey("submissions.id"), nullable=True),
        sa.Column("batch_id", sa.String(32), sa.ForeignKey("batches.id"), nullable=True),
        sa.Column("submitted_by", sa.String(100), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("late_s", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("verdict_json", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("preview_png", sa.LargeBinary(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"))
    for column in ("student_id", "student_pk", "assignment_id", "submission_id", "batch_id", "sha256",
                   "created_at", "status"):
        op.create_index(f"ix_papers_{column}", "papers", [column])
    op.create_table(
        "paper_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.String(32), sa.ForeignKey("papers.id"), nullable=False),
        sa.Column("item", sa.String(64), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"), sa.UniqueConstraint("paper_id", "item"))
    op.create_index("ix_paper_marks_paper_id", "paper_marks", ["paper_id"])


def downgrade() -> None:
    op.drop_table("paper_marks")
    op.drop_table("papers")
