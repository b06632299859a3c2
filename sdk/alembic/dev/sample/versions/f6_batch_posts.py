"""posts: drop legacy_code, widen title, score not null (batch mode on SQLite)

Revision ID: f6
Revises: e5
"""
from alembic import op
import sqlalchemy as sa

revision = "f6"
down_revision = "e5"


def upgrade():
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("legacy_code")
        batch.alter_column("title", existing_type=sa.String(200), type_=sa.String(400), existing_nullable=False)
        batch.alter_column("score", existing_type=sa.Integer, nullable=False, existing_server_default="0")


def downgrade():
    with op.batch_alter_table("posts") as batch:
        batch.alter_column("score", existing_type=sa.Integer, nullable=True, existing_server_default="0")
        batch.alter_column("title", existing_type=sa.String(400), type_=sa.String(200), existing_nullable=False)
        batch.add_column(sa.Column("legacy_code", sa.String(20)))
