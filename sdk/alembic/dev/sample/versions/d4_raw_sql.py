"""raw SQL: bump scores

Revision ID: d4
Revises: c3
"""
from alembic import op

revision = "d4"
down_revision = "c3"


def upgrade():
    op.execute("UPDATE posts SET score = score + 10 WHERE legacy_code IS NOT NULL")


def downgrade():
    op.execute("UPDATE posts SET score = score - 10 WHERE legacy_code IS NOT NULL")
