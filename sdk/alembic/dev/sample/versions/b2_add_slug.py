"""users get a slug (unique index)

Revision ID: b2
Revises: a1
"""
from alembic import op
import sqlalchemy as sa

revision = "b2"
down_revision = "a1"


def upgrade():
    op.add_column("users", sa.Column("slug", sa.String(120), nullable=True))
    op.create_index("ix_users_slug", "users", ["slug"], unique=True)


def downgrade():
    op.drop_index("ix_users_slug", table_name="users")
    op.drop_column("users", "slug")
