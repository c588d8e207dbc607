"""projects: what the last complete analysis saw (pushed_at, rules), so unchanged repositories are skipped

Revision ID: 0004_stateless
Revises: 0008_any_host
Create Date: 2026-12-01 21:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004_stateless"
down_revision = "0008_any_host"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("synced_pushed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("synced_rules", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("synced_rules")
        batch_op.drop_column("synced_pushed_at")
