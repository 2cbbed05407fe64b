"""``scaivault audit``: list the audit log (the ``audit_log`` operation), and ``audit verify`` its chain."""

from __future__ import annotations

from typing import Any

import click

from ..api import by_name
from ..errors import InvalidRequest
from .operations import option
from .output import emit, pages
from .state import current, output

AUDIT_LOG = by_name("audit_log")


@click.group(invoke_without_command=True)
@click.option("--all", "all_pages", is_flag=True, help="Follow pages to the end.")
@output
@click.pass_context
def audit(ctx: click.Context, /, all_pages: bool, **filters: Any) -> None:
    """List audit entries, oldest first (needs read on sys/audit); `audit verify` checks the chain."""
    if ctx.invoked_subcommand is not None:
        given = [name for name, value in filters.items() if value is not None] + (["all"] if all_pages else [])
        if given:
            raise InvalidRequest(
                f"--{given[0].replace('_', '-')} is for listing: give it to `scaivault audit` alone.", field=given[0]
            )
        return
    if filters["limit"] is None:
        filters["limit"] = 100
    api = current().api()
    pages(
        lambda **more: api.audit_log(**{**filters, **more}),
        "entries",
        ("id", "time", "identity", "operation", "path", "outcome", "lease_id"),
        all_pages,
    )


# The filters are the operation's query parameters, given no default: any one given is a listing's.
audit.params[:0] = [option(q.name, q, None, default=None) for q in AUDIT_LOG.query]


@audit.command("verify")
@output
def audit_verify() -> None:
    """Check the audit chain on the store (needs the vault key); exit status 1 when it is broken."""
    state = current()
    if state.address:
        raise InvalidRequest(
            "`audit verify` checks the store itself with the vault key: run it with --store "
            "(SCAIVAULT_STORE) and the key, not against a server.",
            field="address",
        )
    report = state.open_vault().verify_audit_log()
    if state.for_scripts:
        emit(report.to_dict())
    elif report.ok:
        click.echo(
            f"OK: {report.signed} signed entr{'y' if report.signed == 1 else 'ies'} verified up to the "
            f"chain head (position {report.head.seq}, MAC {report.head.mac or '-'})."
        )
    else:
        where = f"at entry {report.broken.id}" if report.broken.id is not None else "at the end"
        click.echo(f"BROKEN {where} ({report.broken.problem}): {report.broken.message}")
        click.echo(f"Entries verified before it: {report.signed}.")
    if not state.for_scripts and report.unsigned_prefix:
        click.echo(
            f"{report.unsigned_prefix} older entries, written before the chain began (before the upgrade), "
            "cannot be verified."
        )
    if not report.ok:
        click.get_current_context().exit(1)
