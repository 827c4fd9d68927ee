"""passwordless passkeys: an indexed lookup column on the authenticator table

Revision ID: 9b1e4c2d7a10
Revises: 332c16a5a558
Create Date: 2026-12-01 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9b1e4c2d7a10'
down_revision = '332c16a5a558'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('passwordless_authenticator', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lookup', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_passwordless_authenticator_lookup'), ['lookup'], unique=True)


def downgrade():
    with op.batch_alter_table('passwordless_authenticator', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passwordless_authenticator_lookup'))
        batch_op.drop_column('lookup')
