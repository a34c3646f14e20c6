"""Command-line parts of the test-fixture features: the admin and journal options of the
server, the rule that guards the admin API off loopback, and the ``load`` and ``reset``
commands that change a database without serving it.
"""

import argparse
import logging
import os
import sys

import admin
import fixtures
import journal
import models

logger = logging.getLogger("runtype_mock")

COMMANDS = ("load", "reset")
TOKEN_VARIABLE = "RUNTYPE_MOCK_ADMIN_TOKEN"


def non_negative_integer(text):
    """Parse an integer of 0 or more for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer of 0 or more, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer of 0 or more, got {value}")
    return value


def add_server_arguments(parser):
    """Add the ready-file, journal and admin options to the server's argument parser."""
    parser.add_argument(
        "--ready-file", metavar="PATH",
        help="write the server's URL to PATH once it accepts requests (removed at start and exit)",
    )
    parser.add_argument(
        "--journal-size", type=non_negative_integer, default=journal.DEFAULT_JOURNAL_SIZE, metavar="N",
        help=f"API requests kept in the request journal (default {journal.DEFAULT_JOURNAL_SIZE}; 0 turns it off)",
    )
    parser.add_argument(
        "--admin-token", default=os.environ.get(TOKEN_VARIABLE), metavar="TOKEN",
        help=f"require this token in the {admin.TOKEN_HEADER} header of admin requests; needed to listen"
        f" on an address other than loopback (default: the {TOKEN_VARIABLE} environment variable)",
    )
    parser.add_argument("--no-admin", action="store_true", help="turn the admin API under /_mock/ off")


def app_settings(arguments):
    """Return the ``create_app`` settings that the admin and journal options give."""
    return {
        "ADMIN_ENABLED": not arguments.no_admin,
        "ADMIN_TOKEN": arguments.admin_token or None,
        "JOURNAL_SIZE": arguments.journal_size,
    }


def check_server_arguments(arguments):
    """Return an error message for server options that cannot work together, else None.

    The admin API can delete every row, so on an address that other machines can reach it
    needs a token, or has to be turned off.
    """
    if arguments.ready_file:
        folder = os.path.dirname(os.path.abspath(arguments.ready_file))
        if not os.path.isdir(folder):
            return f"Invalid --ready-file {arguments.ready_file}: the folder {folder} does not exist"

    if arguments.no_admin or arguments.admin_token or admin.is_loopback_name(arguments.host):
        return None
    return (
        f"Refusing to listen on {arguments.host} with an open admin API: anyone who reaches that"
        f" address could reset the data. Pass --admin-token TOKEN (or set {TOKEN_VARIABLE}),"
        " pass --no-admin, or listen on 127.0.0.1."
    )


# -- commands that change a database without serving it --------------------------------------


def parse_command(argv, default_database):
    parser = argparse.ArgumentParser(
        prog="python service.py",
        description="Change a mock database without serving it.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    load = commands.add_parser(
        "load", help="load fixture files into a database, all or nothing",
        description="Load fixture files into a database in one transaction: if any item of any"
        " file is invalid, nothing is stored.",
    )
    load.add_argument("files", nargs="+", metavar="FILE", help="JSON fixture file")

    reset = commands.add_parser(
        "reset", help="delete all data of a database",
        description="Delete every API key, record, step result, scheduled fault and journal entry.",
    )
    reset.add_argument("--demo", action="store_true", help="seed the demo data set afterwards")

    for command in (load, reset):
        command.add_argument(
            "--db", default=default_database,
            help=f"SQLite database file, created when missing (default {default_database})",
        )
    return parser.parse_args(argv)


def run_command(argv, default_database):
    """Run ``load`` or ``reset`` and return the exit status: 0, or 2 when nothing changed."""
    arguments = parse_command(argv, default_database)
    try:
        models.init_database(arguments.db)
    except models.DatabaseOpenError as error:
        print(f"Cannot use the database {arguments.db}: {error}", file=sys.stderr)
        return 2

    with models.database.connection_context():
        admin.create_tables()
        if arguments.command == "load":
            return _load(arguments)
        admin.reset_data(seed_demo=arguments.demo)
        print(f"Reset {arguments.db}" + (" and seeded the demo data set" if arguments.demo else ""))
        return 0


def _load(arguments):
    try:
        # file by file in one transaction, so that large files are streamed, not parsed whole
        with models.database.atomic():
            loaded = [fixtures.load_fixture_file(path) for path in arguments.files]
        counts = {section: sum(each[section] for each in loaded) for section in fixtures.SECTIONS}
    except fixtures.FixtureError as error:
        print(f"Nothing was loaded: {error}", file=sys.stderr)
        return 2

    print(
        f"Loaded into {arguments.db}: {counts['apiKeys']} API keys, {counts['records']} records,"
        f" {counts['stepResults']} step results"
    )
    return 0
