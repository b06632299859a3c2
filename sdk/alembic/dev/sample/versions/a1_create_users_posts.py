"""create users and posts

Revision ID: a1
Revises:
Create Date: 2024-01-01 12:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.current_timestamp()),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("legacy_code", sa.String(20)),
        sa.Column("score", sa.Integer, server_default="0"),
    )
    op.create_index("ix_posts_user_id", "posts", ["user_id"])


def downgrade():
    # (dropping ix_posts_user_id first would fail on MySQL: its foreign key needs an index)
    op.drop_table("posts")
    op.drop_table("users")
