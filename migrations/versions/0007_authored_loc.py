"""projects: authored_loc and authored_loc_by_language (code lines linguist counts as written)

Revision ID: 0007_authored_loc
Revises: 0004_stateless
Create Date: 2026-12-01 21:45:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0007_authored_loc"
down_revision = "0004_stateless"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        # NULL until the next count: a refresh recounts projects whose authored figures are missing.
        batch_op.add_column(sa.Column("authored_loc", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column(
                "authored_loc_by_language",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            ))


def downgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("authored_loc_by_language")
        batch_op.drop_column("authored_loc")
