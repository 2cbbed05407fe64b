"""The ``scaivault`` command line.

Every command is written once against one small interface, the REST API's operations as
methods (``VaultAPI``): embedded, they run in-process on a local store (``--store`` /
``SCAIVAULT_STORE``) as the admin; remote, ``ScaiVaultClient`` sends them to a server
(``--address`` / ``SCAIVAULT_ADDR`` with ``SCAIVAULT_TOKEN``). Errors become a message naming
the error code and exit status 1, in one place (``CLI.invoke``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .errors import Conflict, InvalidConfig, InvalidRequest, ScaiVaultError

HIDDEN = "<hidden: --reveal shows it>"
FORMATS = click.Choice(["table", "json"])


# -- the one place errors are reported ------------------------------------------------------------

class CLI(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScaiVaultError as exc:
            _report(ctx, exc.to_dict()["error"])
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say what kind, not its message, which could hold a secret
            if os.environ.get("SCAIVAULT_DEBUG"):
                raise
            _report(ctx, {"code": "internal", "message": f"Unexpected {type(exc).__name__}; rerun with "
                                                         "SCAIVAULT_DEBUG=1 for the traceback.", "details": {}})


def _report(ctx: click.Context, error: dict[str, Any]) -> None:
    state = ctx.find_object(State)
    if state is not None and state.format == "json":
        click.echo(json.dumps({"error": error}), err=True)
    else:
        click.echo(f"Error ({error['code']}): {error['message']}", err=True)
    ctx.exit(1)


# -- where commands run: embedded or remote -------------------------------------------------------

class State:
    """Global options, and the API the commands call (opened on first use, closed at exit)."""

    def __init__(self, store: str | None, key_file: str | None, address: str | None, token: str | None,
                 ca_cert: str | None, format: str | None, plugin_manager: Any = None) -> None:
        self.store, self.key_file, self.address, self.token = store, key_file, address, token
        self.ca_cert, self.format, self.pm = ca_cert, format or "table", plugin_manager
        self._api: Any = None
        self._closers: list[Callable[[], None]] = []

    def store_url(self) -> str:
        from .vault import default_store_url

        return self.store or default_store_url()

    def open_vault(self, *, create: bool = False, start_worker: bool = False, settings: Any = None) -> Any:
        """The local vault; a missing SQLite store is an error pointing at ``scaivault init``, unless creating."""
        from .plugin_manager import make_plugin_manager
        from .store.sqlite import is_sqlite_url, path_from_url
        from .vault import Vault

        url = self.store_url()
        if not create and is_sqlite_url(url) and not path_from_url(url).exists():
            raise InvalidConfig(f"No vault at {path_from_url(url)}; run `scaivault init` first, or give --store "
                                "(SCAIVAULT_STORE) or --address (SCAIVAULT_ADDR).")
        self.pm = self.pm or make_plugin_manager()
        vault = Vault(url, key_file=self.key_file, plugin_manager=self.pm, create=create, start_worker=start_worker,
                      settings=settings)
        self._closers.append(vault.close)
        return vault

    def api(self) -> Any:
        if self._api is None:
            if self.address:
                from .client import ScaiVaultClient

                client = ScaiVaultClient(self.address, self.token, verify=self.ca_cert or True)
                self._closers.append(client.close)
                self._api = client
            else:
                from .rest.api import VaultAPI

                self._api = VaultAPI(self.open_vault())
        return self._api

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()


def _state() -> State:
    return click.get_current_context().find_object(State)


def output(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--format`` to a command (it overrides the global one)."""
    def remember(ctx: click.Context, _param: Any, value: str | None) -> None:
        if value:
            ctx.find_object(State).format = value

    return click.option("--format", type=FORMATS, default=None, expose_value=False, callback=remember,
                        is_eager=True, help="table for people, json for scripts.")(fn)


# -- output -----------------------------------------------------------------------------------------

def emit(value: Any, columns: tuple[str, ...] = ()) -> None:
    """Print ``value`` as JSON, or as a table (a list of records) / key-value lines (one record)."""
    if _state().format == "json":
        click.echo(json.dumps(value, indent=2))
    elif isinstance(value, list):
        click.echo(_table(value, columns) if value else "(none)")
    elif isinstance(value, dict):
        width = max((len(k) for k in value), default=0)
        for key, item in value.items():
            click.echo(f"{key.ljust(width)}  {_cell(item)}")


def emit_rows(body: dict[str, Any], key: str, columns: tuple[str, ...]) -> None:
    """A listing: the API's body as it is in json, its ``key`` rows as a table."""
    if _state().format == "json":
        emit(body)
    else:
        emit(body[key], columns)


def done(message: str) -> None:
    """Confirm an operation that answers nothing (scripts in json mode go by the exit status)."""
    if _state().format != "json":
        click.echo(message)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    columns = columns or tuple(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def hide(data: Any, reveal: bool) -> Any:
    """Secret values stay off the terminal unless asked for."""
    if reveal:
        return data
    if isinstance(data, dict):
        return {key: HIDDEN for key in data}
    return HIDDEN


# -- input helpers ----------------------------------------------------------------------------------

def load_json(text: str, what: str) -> Any:
    """JSON from an option: inline, ``@file``, or ``-`` for stdin (so secrets need not be in argv)."""
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise InvalidRequest(f"Cannot read {what} from {text[1:]}: {exc.strerror}.") from None
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidRequest(f"{what} is not valid JSON.", field=what) from None


def pairs(items: tuple[str, ...], what: str) -> dict[str, Any]:
    """``KEY=VALUE`` arguments; a value that parses as JSON (a list, a number) is taken as that."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"{what} takes KEY=VALUE, not {item.split('=')[0]!r}.", field=what)
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result


def ttl_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--default-ttl", help="e.g. 1h"),
        click.option("--max-ttl", help="e.g. 24h"),
        click.option("--max-leases", type=int, help="At most this many live leases."),
        click.option("--max-leases-per-identity", type=int, help="At most this many live leases per caller."),
    ]):
        fn = option(fn)
    return fn


# -- the root command ------------------------------------------------------------------------------

@click.group(cls=CLI)
@click.option("--store", envvar="SCAIVAULT_STORE", help="Local store: a file path or a postgresql:// URL.")
@click.option("--key-file", envvar="SCAIVAULT_KEY_FILE", help="The vault key (default: beside a SQLite store).")
@click.option("--address", envvar="SCAIVAULT_ADDR", help="A ScaiVault server, e.g. https://vault:8200.")
@click.option("--token", envvar="SCAIVAULT_TOKEN", help="Bearer token for --address (prefer SCAIVAULT_TOKEN).")
@click.option("--ca-cert", envvar="SCAIVAULT_CACERT", help="CA bundle that signed the server's certificate.")
@click.option("--format", type=FORMATS, envvar="SCAIVAULT_FORMAT", help="table (default) or json.")
@click.version_option(package_name="scaivault")
@click.pass_context
def cli(ctx: click.Context, store: str | None, key_file: str | None, address: str | None, token: str | None,
        ca_cert: str | None, format: str | None) -> None:
    """ScaiVault: dynamic secrets. Embedded on a local store, or against a server with --address."""
    pm = ctx.obj if ctx.obj is not None and not isinstance(ctx.obj, State) else None
    state = State(store, key_file, address, token, ca_cert, format, plugin_manager=pm)
    ctx.obj = state
    ctx.call_on_close(state.close)


@cli.command()
@output
def init() -> None:
    """Create the store and its key, and print the first admin token (shown only this once)."""
    from .store.sqlite import is_sqlite_url, path_from_url

    state = _state()
    url = state.store_url()
    exists = is_sqlite_url(url) and path_from_url(url).exists()
    vault = state.open_vault(create=not exists)
    shown = vault.store.url  # a postgresql:// URL with its password masked
    if vault.list_tokens("user:admin"):
        raise Conflict(f"The vault at {shown} is already initialised; use its admin token "
                       "(or one created with `scaivault token create`).")
    token = vault.create_admin_token()
    if state.format == "json":
        click.echo(json.dumps({"admin_token": token}))
    else:
        click.echo(f"Initialised the vault at {shown}.")
        click.echo(f"Admin token (shown only now; keep it safe): {token}")


@cli.command()
@click.option("--listen", default="127.0.0.1:8200", show_default=True, help="HOST:PORT to listen on.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS with this certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="The certificate's private key.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--command-dir", "command_dirs", multiple=True, metavar="DIR",
              help="A directory whose executables engines may run (repeatable; SCAIVAULT_COMMAND_DIRS).")
@click.option("--file-dir", "file_dirs", multiple=True, metavar="DIR",
              help="A directory engines may read and write files in (repeatable; SCAIVAULT_FILE_DIRS).")
@click.option("--token-default-ttl", metavar="DURATION", help="TTL of a token created without one (SCAIVAULT_TOKEN_DEFAULT_TTL; 768h).")
@click.option("--token-max-ttl", metavar="DURATION", help="Longest TTL a token may have (SCAIVAULT_TOKEN_MAX_TTL; 768h).")
@click.option("--header-timeout", metavar="DURATION", help="Time a request's headers may take (SCAIVAULT_HEADER_TIMEOUT; 10s).")
@click.option("--body-timeout", metavar="DURATION", help="Time a request's body may take (SCAIVAULT_BODY_TIMEOUT; 30s).")
@click.option("--keep-alive-timeout", metavar="DURATION", help="Idle time before a connection is closed (SCAIVAULT_KEEP_ALIVE_TIMEOUT; 5s).")
@click.option("--max-connections", type=click.IntRange(min=1),
              help="Open connections accepted; more get 503 (SCAIVAULT_MAX_CONNECTIONS; 512).")
def server(listen: str, tls_cert: str | None, tls_key: str | None, log_level: str, **flags: Any) -> None:
    """Serve the REST API (and run the expiry worker) on the local store.

    The operator's settings come from SCAIVAULT_* variables; a flag given here wins over its variable.
    """
    from .rest.server import serve

    if bool(tls_cert) != bool(tls_key):
        raise InvalidRequest("--tls-cert and --tls-key go together.")
    host, port = parse_listen(listen)
    vault = _state().open_vault(start_worker=True, settings=operator_settings(flags))
    serve(vault, host, port, tls_cert=tls_cert, tls_key=tls_key, log_level=log_level)


def operator_settings(flags: dict[str, Any]) -> Any:
    """``Settings`` from the environment, with the server's flags (durations as text) winning."""
    from .durations import parse_duration
    from .settings import Settings

    overrides = {name: parse_duration(value, "--" + name.replace("_", "-")) if isinstance(value, str) else value
                 for name, value in flags.items()}
    return Settings.from_env(**overrides)


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    if not (port.isascii() and port.isdigit() and len(port) <= 5) or not 0 < int(port) < 65536:
        raise InvalidRequest("--listen takes HOST:PORT, e.g. 127.0.0.1:8200.", field="listen")
    return host or "127.0.0.1", int(port)


# -- secrets ---------------------------------------------------------------------------------------

@cli.group()
def secrets() -> None:
    """Stored secrets (an engine's root credentials live here)."""


@secrets.command("put")
@click.argument("path")
@click.argument("fields", nargs=-1)
@click.option("--data", help="The value as JSON, @FILE or - (stdin); or give KEY=VALUE arguments.")
@click.option("--type", "secret_type", type=click.Choice(["json", "text"]), default="json", show_default=True)
@output
def secrets_put(path: str, fields: tuple[str, ...], data: str | None, secret_type: str) -> None:
    """Write a new version of the secret at PATH."""
    if data is not None and fields:
        raise InvalidRequest("Give --data or KEY=VALUE arguments, not both.")
    value = load_json(data, "data") if data is not None else pairs(fields, "secrets put")
    emit(_state().api().put_secret(path, value, secret_type))


@secrets.command("get")
@click.argument("path")
@click.option("--version", type=int, help="A past version.")
@click.option("--reveal", is_flag=True, help="Show the secret value.")
@output
def secrets_get(path: str, version: int | None, reveal: bool) -> None:
    """Read the secret at PATH (its value only with --reveal)."""
    body = _state().api().get_secret(path, version)
    emit({**body, "data": hide(body.get("data"), reveal)})


@secrets.command("delete")
@click.argument("path")
@output
def secrets_delete(path: str) -> None:
    """Delete the secret at PATH and all its versions."""
    _state().api().delete_secret(path)
    done(f"Deleted {path}.")


@secrets.command("rotate")
@click.argument("path")
@click.option("--reason")
@click.option("--grace-period", help="How long the old version stays valid; 0 retires it now.")
@output
def secrets_rotate(path: str, reason: str | None, grace_period: str | None) -> None:
    """Rotate the secret at PATH (an engine's root credential)."""
    emit(_state().api().rotate_secret(path, reason=reason, grace_period=grace_period))


@secrets.command("rotation-period")
@click.argument("path")
@click.argument("period")
@click.option("--grace-period", default=None, help="How long each previous version stays valid (default 0).")
@output
def secrets_rotation_period(path: str, period: str, grace_period: str | None) -> None:
    """Rotate the secret at PATH every PERIOD (e.g. 30d); 0 stops scheduled rotation."""
    emit(_state().api().set_rotation_period(path, period, grace_period))


@secrets.command("versions")
@click.argument("path")
@output
def secrets_versions(path: str) -> None:
    """List the versions of the secret at PATH (never their values)."""
    emit_rows(_state().api().list_secret_versions(path), "versions",
              ("version", "created_at", "created_by", "reason", "retired_at"))


# -- policies --------------------------------------------------------------------------------------

def _rules(rule: tuple[str, ...], rules: str | None) -> list[dict[str, Any]]:
    parsed = list(load_json(rules, "rules")) if rules else []
    for item in rule:
        pattern, sep, perms = item.rpartition("=")
        if not sep or not pattern:
            raise InvalidRequest(f"--rule takes PATTERN=PERM[,PERM], e.g. 'infra/**=read,list', not {item!r}.")
        parsed.append({"path_pattern": pattern, "permissions": [p.strip() for p in perms.split(",") if p.strip()]})
    return parsed


def rule_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--description", default="")(fn)
    fn = click.option("--rules", help="The rules as JSON, @FILE or -.")(fn)
    return click.option("--rule", multiple=True, help="PATTERN=PERM[,PERM] (repeatable).")(fn)


@cli.group()
def policy() -> None:
    """Policies and their bindings to identities."""


@policy.command("create")
@click.argument("name")
@rule_options
@output
def policy_create(name: str, rule: tuple[str, ...], rules: str | None, description: str) -> None:
    """Create policy NAME, e.g. --rule 'dynamic/engines/support-db/roles/readonly=read'."""
    emit(_state().api().create_policy(name, _rules(rule, rules), description))


@policy.command("update")
@click.argument("name")
@rule_options
@output
def policy_update(name: str, rule: tuple[str, ...], rules: str | None, description: str) -> None:
    """Replace the rules of policy NAME."""
    emit(_state().api().update_policy(name, _rules(rule, rules), description))


@policy.command("list")
@output
def policy_list() -> None:
    """List policies."""
    emit_rows(_state().api().list_policies(), "policies", ("name", "description", "rules"))


@policy.command("show")
@click.argument("name")
@output
def policy_show(name: str) -> None:
    """Show policy NAME."""
    emit(_state().api().get_policy(name))


@policy.command("delete")
@click.argument("name")
@output
def policy_delete(name: str) -> None:
    """Delete policy NAME."""
    _state().api().delete_policy(name)
    done(f"Deleted policy {name}.")


@policy.command("bind")
@click.argument("name")
@click.argument("identity")
@output
def policy_bind(name: str, identity: str) -> None:
    """Bind policy NAME to IDENTITY (sa:<name>, user:<name> or dynamic:<engine>)."""
    emit(_state().api().bind_policy(name, identity))


@policy.command("unbind")
@click.argument("name")
@click.argument("identity")
@output
def policy_unbind(name: str, identity: str) -> None:
    """Remove the binding of policy NAME to IDENTITY."""
    _state().api().unbind_policy(name, identity)
    done(f"Unbound {name} from {identity}.")


@policy.command("bindings")
@click.argument("name")
@output
def policy_bindings(name: str) -> None:
    """Identities policy NAME is bound to."""
    emit(_state().api().list_bindings(name))


# -- engines and roles -----------------------------------------------------------------------------

def _config(config: str | None, settings: tuple[str, ...]) -> dict[str, Any]:
    base = load_json(config, "config") if config else {}
    if not isinstance(base, dict):
        raise InvalidRequest("--config must be a JSON object.", field="config")
    return {**base, **pairs(settings, "--set")}


def engine_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = ttl_options(fn)
    fn = click.option("--set", "settings", multiple=True, help="One config field, KEY=VALUE (repeatable).")(fn)
    fn = click.option("--config", help="The engine config as JSON, @FILE or -.")(fn)
    return click.option("--type", "engine_type", required=True, help="database, aws, azure, gcp, ssh or custom.")(fn)


@cli.group()
def engine() -> None:
    """Dynamic-secret engines."""


@engine.command("create")
@click.argument("name")
@engine_options
@output
def engine_create(name: str, engine_type: str, config: str | None, settings: tuple[str, ...],
                  default_ttl: str | None, max_ttl: str | None, max_leases: int | None,
                  max_leases_per_identity: int | None) -> None:
    """Configure engine NAME (its connection is tested first)."""
    emit(_state().api().create_engine(name, engine_type, _config(config, settings), default_ttl, max_ttl, max_leases,
                                      max_leases_per_identity))


@engine.command("update")
@click.argument("name")
@engine_options
@output
def engine_update(name: str, engine_type: str, config: str | None, settings: tuple[str, ...],
                  default_ttl: str | None, max_ttl: str | None, max_leases: int | None,
                  max_leases_per_identity: int | None) -> None:
    """Reconfigure engine NAME."""
    emit(_state().api().update_engine(name, engine_type, _config(config, settings), default_ttl, max_ttl, max_leases,
                                      max_leases_per_identity))


@engine.command("list")
@output
def engine_list() -> None:
    """List engines."""
    emit_rows(_state().api().list_engines(), "engines", ("name", "type", "default_ttl", "max_ttl", "max_leases"))


@engine.command("show")
@click.argument("name")
@output
def engine_show(name: str) -> None:
    """Show engine NAME."""
    emit(_state().api().get_engine(name))


@engine.command("delete")
@click.argument("name")
@output
def engine_delete(name: str) -> None:
    """Delete engine NAME (it must have no live leases)."""
    _state().api().delete_engine(name)
    done(f"Deleted engine {name}.")


def _role_fields(body: str | None, settings: tuple[str, ...], default_ttl: str | None, max_ttl: str | None,
                 max_leases: int | None, max_leases_per_identity: int | None) -> dict[str, Any]:
    fields = load_json(body, "body") if body else {}
    if not isinstance(fields, dict):
        raise InvalidRequest("--body must be a JSON object.", field="body")
    fields = {**fields, **pairs(settings, "--set")}
    fields.pop("name", None)
    for key, value in (("default_ttl", default_ttl), ("max_ttl", max_ttl), ("max_leases", max_leases),
                       ("max_leases_per_identity", max_leases_per_identity)):
        if value is not None:
            fields[key] = value
    return fields


def role_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = ttl_options(fn)
    fn = click.option("--set", "settings", multiple=True, help="One role field, KEY=VALUE; JSON values allowed.")(fn)
    return click.option("--body", help="The role's fields as JSON, @FILE or -.")(fn)


@cli.group()
def role() -> None:
    """Roles of an engine."""


@role.command("create")
@click.argument("engine")
@click.argument("name")
@role_options
@output
def role_create(engine: str, name: str, body: str | None, settings: tuple[str, ...], default_ttl: str | None,
                max_ttl: str | None, max_leases: int | None, max_leases_per_identity: int | None) -> None:
    """Define role NAME on ENGINE, e.g. --body @readonly.json."""
    emit(_state().api().create_role(engine, name, **_role_fields(body, settings, default_ttl, max_ttl, max_leases,
                                                                 max_leases_per_identity)))


@role.command("update")
@click.argument("engine")
@click.argument("name")
@role_options
@output
def role_update(engine: str, name: str, body: str | None, settings: tuple[str, ...], default_ttl: str | None,
                max_ttl: str | None, max_leases: int | None, max_leases_per_identity: int | None) -> None:
    """Replace role NAME on ENGINE."""
    emit(_state().api().update_role(engine, name, **_role_fields(body, settings, default_ttl, max_ttl, max_leases,
                                                                 max_leases_per_identity)))


@role.command("list")
@click.argument("engine")
@output
def role_list(engine: str) -> None:
    """List the roles of ENGINE."""
    emit_rows(_state().api().list_roles(engine), "roles", ("name", "engine", "default_ttl", "max_ttl", "max_leases"))


@role.command("show")
@click.argument("engine")
@click.argument("name")
@output
def role_show(engine: str, name: str) -> None:
    """Show role NAME of ENGINE."""
    emit(_state().api().get_role(engine, name))


@role.command("delete")
@click.argument("engine")
@click.argument("name")
@output
def role_delete(engine: str, name: str) -> None:
    """Delete role NAME of ENGINE (its leases stay revocable)."""
    _state().api().delete_role(engine, name)
    done(f"Deleted role {name} of {engine}.")


# -- credentials and leases ------------------------------------------------------------------------

@cli.command()
@click.argument("engine")
@click.argument("role")
@click.option("--ttl", help="e.g. 2h (at most the role's max_ttl).")
@click.option("--metadata", help="JSON object recorded with the lease.")
@click.option("--param", "params", multiple=True, help="An engine-specific request field, KEY=VALUE.")
@click.option("--reveal", is_flag=True, help="Show the credential (it is hidden otherwise).")
@output
def creds(engine: str, role: str, ttl: str | None, metadata: str | None, params: tuple[str, ...], reveal: bool) -> None:
    """Generate credentials for ROLE of ENGINE (a lease)."""
    meta = load_json(metadata, "metadata") if metadata else None
    body = _state().api().issue(engine, role, ttl=ttl, metadata=meta, **pairs(params, "--param"))
    emit({**body, "data": hide(body["data"], reveal)})


@cli.group()
def lease() -> None:
    """Leases: renew, revoke, look up, list."""


@lease.command("renew")
@click.argument("lease_id")
@click.option("--increment", help="Added to the current expiry, e.g. 1h.")
@click.option("--reveal", is_flag=True, help="Show a renewed credential (engines that re-issue one, e.g. ssh).")
@output
def lease_renew(lease_id: str, increment: str | None, reveal: bool) -> None:
    """Extend LEASE_ID (up to its max_ttl)."""
    body = _state().api().renew(lease_id, increment)
    emit({**body, "data": hide(body["data"], reveal)} if "data" in body else body)


@lease.command("revoke")
@click.argument("lease_id")
@output
def lease_revoke(lease_id: str) -> None:
    """Revoke LEASE_ID now."""
    _state().api().revoke(lease_id)
    done(f"Revoked {lease_id}.")


@lease.command("revoke-prefix")
@click.argument("prefix")
@click.option("--engine", help="Only leases of this engine.")
@output
def lease_revoke_prefix(prefix: str, engine: str | None) -> None:
    """Revoke every live lease whose id starts with PREFIX ('lease_' for all)."""
    emit(_state().api().revoke_prefix(prefix, engine))


@lease.command("show")
@click.argument("lease_id")
@output
def lease_show(lease_id: str) -> None:
    """Look up LEASE_ID."""
    emit(_state().api().lookup(lease_id))


@lease.command("forget")
@click.argument("lease_id")
@output
def lease_forget(lease_id: str) -> None:
    """Stop tracking irrevocable LEASE_ID, its credential being gone by other means."""
    emit(_state().api().forget_lease(lease_id))


@lease.command("list")
@click.option("--engine")
@click.option("--role")
@click.option("--identity")
@click.option("--state", help="intent, active, revoking, revoked, rolled_back, irrevocable, or live.")
@click.option("--prefix")
@click.option("--after", help="Start after this lease id (the previous page's next).")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--all", "all_pages", is_flag=True, help="Follow pages to the end.")
@output
def lease_list(all_pages: bool, **filters: Any) -> None:
    """List leases."""
    api = _state().api()
    page = api.list_leases(**filters)
    leases = page["leases"]
    while all_pages and page["next"]:
        page = api.list_leases(**{**filters, "after": page["next"]})
        leases += page["leases"]
    if _state().format == "json":
        emit({"leases": leases, "next": None if all_pages else page["next"]})
        return
    emit(leases, ("lease_id", "engine", "role", "identity", "state", "expires_at"))
    if page["next"] and not all_pages:
        click.echo(f"(more: --after {page['next']})")


@cli.command()
@click.argument("engine")
@click.option("--revoke", is_flag=True, help="Remove the orphans found (otherwise only list them).")
@output
def reconcile(engine: str, revoke: bool) -> None:
    """Users ENGINE made in its target that belong to no lease (names it leaves alone are listed as skipped)."""
    body = _state().api().reconcile(engine, revoke=revoke)
    if _state().format == "json":
        emit(body)
        return
    failed = {f["subject"]: f"failed ({f['code']}): {f['message']}" for f in body["failed"]}
    revoked = set(body["revoked"])
    rows = [{"subject": subject, "status": "revoked" if subject in revoked else failed.get(subject, "orphan")}
            for subject in body["orphans"]]
    # A skipped name came from the target as it is: escaped, so it cannot write control characters to a terminal.
    rows += [{"subject": s["subject"] if s["subject"].isprintable() else json.dumps(s["subject"]),
              "status": f"skipped ({s['reason']})"} for s in body.get("skipped", [])]
    emit(rows, ("subject", "status"))


# -- tokens ----------------------------------------------------------------------------------------

@cli.group()
def token() -> None:
    """Bearer tokens (admin)."""


@token.command("create")
@click.argument("identity")
@click.option("--ttl", help="e.g. 1h; none for no expiry.")
@click.option("--display-name", default="")
@output
def token_create(identity: str, ttl: str | None, display_name: str) -> None:
    """Create a token for IDENTITY; it is shown only this once."""
    emit(_state().api().create_token(identity, ttl=ttl, display_name=display_name))


@token.command("list")
@click.option("--identity")
@output
def token_list(identity: str | None) -> None:
    """List tokens by accessor."""
    emit_rows(_state().api().list_tokens(identity), "tokens",
              ("accessor", "identity", "display_name", "created_at", "expires_at", "revoked"))


@token.command("revoke")
@click.argument("accessor")
@output
def token_revoke(accessor: str) -> None:
    """Revoke the token with ACCESSOR."""
    _state().api().revoke_token(accessor)
    done(f"Revoked token {accessor}.")


# -- the vault key ---------------------------------------------------------------------------------

@cli.group()
def key() -> None:
    """The vault key: make a new one, re-encrypt the store under it (docs/scale-out.md)."""


@key.command("new")
def key_new() -> None:
    """Print a new random key (base64), for SCAIVAULT_KEY or a key file."""
    from .crypto import encode_key, new_key

    click.echo(encode_key(new_key()))


@key.command("rotate")
@output
def key_rotate() -> None:
    """Re-encrypt everything stored under an older key with the newest key of the keyring.

    Give every process the keyring NEW,OLD first (SCAIVAULT_KEY or the key file); drop OLD after.
    """
    state = _state()
    if state.address:
        raise InvalidRequest("`key rotate` works on the store itself: run it with --store (SCAIVAULT_STORE) and "
                             "the keyring NEW,OLD, not against a server.", field="address")
    vault = state.open_vault()
    if len(vault.keyring) < 2:
        raise InvalidConfig("The keyring holds one key, so nothing is under an older one: give NEW,OLD "
                            "(newest first) in SCAIVAULT_KEY or the key file.", field="key")
    counts = vault.rotate_encryption_key()
    if state.format == "json":
        emit(counts)
    else:
        done("Re-encrypted " + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
             + " under the newest key. Old keys read nothing in the store now: drop them.")


# -- plugins ---------------------------------------------------------------------------------------

@cli.group(invoke_without_command=True)
@output
@click.pass_context
def plugins(ctx: click.Context) -> None:
    """List installed engine plugins (and their load errors)."""
    if ctx.invoked_subcommand is None:
        state = _state()
        if state.address:
            body = state.api().plugins()
        else:  # what this installation has, which needs no store (and works before `scaivault init`)
            from .plugin_manager import EngineRegistry, make_plugin_manager, plugin_infos
            from .rest.api import plugin_list

            state.pm = state.pm or make_plugin_manager()
            body = plugin_list(plugin_infos(state.pm, EngineRegistry(state.pm)))
        emit_rows(body, "plugins", ("name", "version", "engines", "error"))


# -- server metrics --------------------------------------------------------------------------------

@cli.command()
def metrics() -> None:
    """Print the Prometheus metrics (as GET /v1/metrics serves them)."""
    click.echo(_state().api().metrics(), nl=False)


@plugins.command("new")
@click.argument("name")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Directory to create the plugin distribution in.")
def plugins_new(name: str, dest: Path) -> None:
    """Create a new engine plugin distribution from the template."""
    try:
        from .plugin_scaffold import new_plugin
    except ImportError:
        raise click.ClickException("This installation has no plugin template (scaivault_core.plugin_scaffold).") from None
    created = new_plugin(name, dest)
    click.echo(f"Created {created}")


# -- the audit log ---------------------------------------------------------------------------------

@cli.group(invoke_without_command=True)
@click.option("--identity", help="Only entries of this identity (anonymous: failed authentication).")
@click.option("--operation", help="Only this operation, e.g. lease.issue or access.denied.")
@click.option("--path-prefix", help="Only entries whose path starts with this.")
@click.option("--outcome", help="ok, or an error code such as permission_denied.")
@click.option("--lease-id", help="Only entries about this lease.")
@click.option("--since", help="From this time: ISO 8601 (2026-01-31T12:00:00Z) or a duration before now (2h).")
@click.option("--until", help="Before this time, in the same forms.")
@click.option("--after", type=int, help="Start after this entry id (the previous page's next).")
@click.option("--limit", type=int, help="Page size, at most 1000 (default 100).")
@click.option("--all", "all_pages", is_flag=True, help="Follow pages to the end.")
@output
@click.pass_context
def audit(ctx: click.Context, all_pages: bool, **filters: Any) -> None:
    """List audit entries, oldest first (needs read on sys/audit); `audit verify` checks the chain."""
    if ctx.invoked_subcommand is not None:
        given = [name for name, value in filters.items() if value is not None] + (["all"] if all_pages else [])
        if given:
            raise InvalidRequest(f"--{given[0].replace('_', '-')} is for listing: give it to `scaivault audit` "
                                 "alone.", field=given[0])
        return
    if filters["limit"] is None:
        filters["limit"] = 100
    api = _state().api()
    page = api.audit_log(**filters)
    entries = page["entries"]
    while all_pages and page["next"]:
        page = api.audit_log(**{**filters, "after": page["next"]})
        entries += page["entries"]
    if _state().format == "json":
        emit({"entries": entries, "next": None if all_pages else page["next"]})
        return
    emit(entries, ("id", "time", "identity", "operation", "path", "outcome", "lease_id"))
    if page["next"] and not all_pages:
        click.echo(f"(more: --after {page['next']})")


@audit.command("verify")
@output
def audit_verify() -> None:
    """Check the audit chain on the store (needs the vault key); exit status 1 when it is broken."""
    state = _state()
    if state.address:
        raise InvalidRequest("`audit verify` checks the store itself with the vault key: run it with --store "
                             "(SCAIVAULT_STORE) and the key, not against a server.", field="address")
    report = state.open_vault().verify_audit_log()
    if state.format == "json":
        emit(report.to_dict())
    elif report.ok:
        click.echo(f"OK: {report.signed} signed entr{'y' if report.signed == 1 else 'ies'} verified up to the "
                   f"chain head (position {report.head.seq}, MAC {report.head.mac or '-'}).")
    else:
        where = f"at entry {report.broken.id}" if report.broken.id is not None else "at the end"
        click.echo(f"BROKEN {where} ({report.broken.problem}): {report.broken.message}")
        click.echo(f"Entries verified before it: {report.signed}.")
    if state.format != "json" and report.unsigned_prefix:
        click.echo(f"{report.unsigned_prefix} older entries, written before the chain began (before the upgrade), "
                   "cannot be verified.")
    if not report.ok:
        click.get_current_context().exit(1)


# -- for plugins' commands -------------------------------------------------------------------------

def run_operation(op: Any, path: dict[str, str] | None = None, query: dict[str, Any] | None = None,
                  body: Any = None) -> Any:
    """Run a plugin's REST ``Operation`` in either mode: its handler in-process, or its request to the server.

    A plugin command is written once with this, like the core's commands against ``VaultAPI``.
    The answer is the route's: JSON data, or text / bytes for a non-JSON media type.
    """
    from .rest.api import VaultAPI

    api = _state().api()
    path = dict(path or {})
    if not isinstance(api, VaultAPI):
        return api._operation(op, path, query, body)
    from .rest.bodies import EMPTY, parse
    from .rest.routing import Call

    values = {q.name: (query or {}).get(q.name, q.default) for q in op.query}
    parsed = parse(EMPTY if body is None else body, op.body) if op.body is not None else None
    return op.handler(api, Call(path, values, parsed))


# -- entry point -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    """Console script: set up logging, load plugins (which may add commands), then run."""
    from .logs import configure_logging
    from .plugin_manager import make_plugin_manager

    configure_logging()
    pm = make_plugin_manager()
    add_plugin_commands(pm)
    cli.main(args=argv, prog_name="scaivault", obj=pm)


def add_plugin_commands(pm: Any) -> None:
    """Let plugins add commands through the ``register_commands`` hook."""
    try:
        pm.hook.register_commands(cli=cli)
    except Exception as exc:  # one broken plugin must not take the whole CLI down
        click.echo(f"Warning: a plugin failed to add its commands: {type(exc).__name__}", err=True)


if __name__ == "__main__":
    main()
