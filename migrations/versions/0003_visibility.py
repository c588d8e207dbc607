"""projects.public_metrics: a private repository's metrics shown to anonymous readers (opt-in)

Revision ID: 0003_visibility
Revises: 0007_authored_loc
Create Date: 2026-12-01 21:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003_visibility"
down_revision = "0007_authored_loc"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_metrics", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("public_metrics")
