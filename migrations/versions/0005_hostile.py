"""hostile repositories: 64-bit line counters; history generation for reset-collection-date

Revision ID: 0005_hostile
Revises: 0003_visibility
Create Date: 2026-12-01 21:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005_hostile"
down_revision = "0003_visibility"
branch_labels = None
depends_on = None

WIDENED = {
    "projects": ("loc",),
    "commits": ("additions", "deletions", "churn"),
    "loc_blobs": ("code", "comment", "blank"),
}


def upgrade():
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=sa.Integer(), type_=sa.BigInteger())
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("history_generation", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("history_generation")
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=sa.BigInteger(), type_=sa.Integer())
