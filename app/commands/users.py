"""``flask user ...``: manage user accounts."""

import click
from sqlalchemy import func, select

from app.commands.failures import CommandGroup
from app.extensions import db
from app.models import User


@click.group("user", cls=CommandGroup)
def user_cli():
    """Manage user accounts."""


@user_cli.command("create")
@click.option("--email", required=True, help="Login email, unique.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--admin", is_flag=True, help="Make the user a global admin.")
def create_user(email, password, admin):
    """Create a user account."""
    email = email.strip().lower()
    if db.session.scalar(select(User).where(func.lower(User.email) == email)):
        raise click.ClickException(f"a user with email {email} already exists")
    user = User(email=email, is_global_admin=admin)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created user {email}{' (global admin)' if admin else ''} with id {user.id}.")
