"""backfill slugs by reading users

Revision ID: e5
Revises: d4
"""
import re

from alembic import op
import sqlalchemy as sa

revision = "e5"
down_revision = "d4"

users = sa.table("users", sa.column("id", sa.Integer), sa.column("name", sa.String), sa.column("slug", sa.String))


def upgrade():
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.id, users.c.name).order_by(users.c.id)).fetchall()
    for id_, name in rows:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        conn.execute(users.update().where(users.c.id == id_).values(slug=slug))
    n = conn.execute(sa.text("SELECT count(*) FROM users WHERE slug IS NOT NULL")).scalar()
    print(f"backfilled {n} slugs")


def downgrade():
    op.execute(users.update().values(slug=None))
