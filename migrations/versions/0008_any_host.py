"""projects: kind (github | git) and host, for repositories tracked from any git host

Revision ID: 0008_any_host
Revises: 0006_webhooks
Create Date: 2026-12-01 21:55:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_any_host"
down_revision = "0006_webhooks"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="github"))
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("host")
        batch_op.drop_column("kind")
