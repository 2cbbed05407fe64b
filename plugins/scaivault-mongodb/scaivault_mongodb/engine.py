"""The MongoDB engine: a lease is a MongoDB user, made with ``createUser`` and removed with ``dropUser``."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

import attrs

from scaivault_core import Engine, EngineUnreachable, InvalidConfig, Issued, IssueRequest, ScaiVaultError
from scaivault_core.kits.connection_urls import check_connection_url, render_connection_url

from .connection import UNAUTHORIZED, USER_NOT_FOUND, RootClient, classify, client_options
from .urls import MongoURL, check_database_name, parse_url

URL_FIELD = "config.connection_url"
MARK = "scaivault_engine"  # customData field naming the engine that made a user: reconcile reads it back
SPANNING_ROLES_HINT = " (roles that span databases, such as readAnyDatabase, exist only in admin)"


@attrs.define
class Config:
    connection_url: str
    auth_database: str = "admin"  # where users are created, and the authSource of their URL
    connect_timeout: float = 5.0  # seconds to find and connect to a server
    operation_timeout: float = 30.0  # seconds to wait for one command's reply
    username_prefix: str = "v_"  # what `reconcile` looks for


@attrs.define
class DatabaseRole:
    """One role granted to each user: ``{"role": "read", "db": "app"}``."""

    role: str
    db: str


@attrs.define
class Role:
    db_roles: list[DatabaseRole]


class MongoDBEngine(Engine):
    """A lease is a user in ``auth_database`` holding the role's ``db_roles``; revocation drops it."""

    type = "database"
    plugin = "mongodb"
    lease_prefix = "db"
    Config = Config
    Role = Role
    username_max_length = 63
    marks_subjects = True  # customData

    def __init__(self, context) -> None:
        super().__init__(context)
        self._template = check_config(self.config)
        self._root = RootClient(
            self._root_url, client_options(self.config.connect_timeout, self.config.operation_timeout)
        )

    def _root_url(self) -> str:
        """The connection URL with the root credentials in it; none at all when the stored username is empty."""
        root = self.context.root_credentials()
        username, password = str(root.get("username") or ""), str(root.get("password") or "")
        if not username:
            if password:
                raise InvalidConfig("The root credentials hold a password but no username.", field="root_credentials")
            return str(self._template.without_credentials())  # a server without access control
        return render_connection_url(self.config.connection_url, username, password)

    def close(self) -> None:
        self._root.close()

    def verify(self) -> None:
        # The driver's hello handshake, then authentication (if any), then the ping itself.
        self._root.command("admin", "ping", {"ping": 1})

    # -- roles ----------------------------------------------------------------------------------

    def validate_role(self, role: Role) -> None:
        """Each ``db_roles`` entry well formed, and (where the root user may look) existing in MongoDB."""
        if not role.db_roles:
            raise InvalidConfig('db_roles needs at least one {"role": ..., "db": ...}.', field="db_roles")
        seen = set()
        for index, item in enumerate(role.db_roles):
            where = f"db_roles[{index}]"
            if not item.role.strip():
                raise InvalidConfig(f"{where}.role is empty.", field=f"{where}.role")
            problem = check_database_name(item.db)
            if problem:
                raise InvalidConfig(f"{where}.db {problem}.", field=f"{where}.db")
            if (item.role, item.db) in seen:
                raise InvalidConfig(f"{where} repeats role {item.role!r} on {item.db!r}.", field=where)
            seen.add((item.role, item.db))
        self._check_roles_exist(role)

    def _check_roles_exist(self, role: Role) -> None:
        """rolesInfo answers with the roles it found, built-in and user-defined; a missing one is a typo."""
        wanted = [attrs.asdict(item) for item in role.db_roles]
        reply = self._root.command(
            self.config.auth_database, "rolesInfo", {"rolesInfo": wanted}, ok_codes=(UNAUTHORIZED,)
        )
        if reply.get("code") == UNAUTHORIZED:
            self.log.warning("The root user may not run rolesInfo; db_roles are checked only when issuing.")
            return
        found = {(r.get("role"), r.get("db")) for r in reply.get("roles", [])}
        for index, item in enumerate(role.db_roles):
            if (item.role, item.db) not in found:
                hint = "" if item.db == "admin" else SPANNING_ROLES_HINT
                raise InvalidConfig(
                    f"db_roles[{index}]: MongoDB has no role {item.role!r} in database {item.db!r}{hint}.",
                    field=f"db_roles[{index}]",
                )

    # -- leases ---------------------------------------------------------------------------------

    def plan(self, request: IssueRequest) -> dict[str, Any]:
        # The database is recorded so a later change of auth_database cannot orphan this user.
        return {"username": request.username, "database": self.config.auth_database}

    def create(self, request: IssueRequest) -> Issued:
        command = {
            "createUser": request.username,
            "pwd": request.password,
            "customData": {MARK: self.context.name},
            "roles": [attrs.asdict(item) for item in request.role.db_roles],
        }
        self._root.command(self.config.auth_database, "createUser", command)
        return Issued(data=self.credential_data(request.username, request.password))

    def credential_data(self, username: str, password: str) -> dict[str, Any]:
        """What the caller gets: the user, and a URL that logs in as it against ``auth_database``."""
        url = self._template.with_credentials(username, password).with_option("authSource", self.config.auth_database)
        host, port = url.first_host()
        return {
            "username": username,
            "password": password,
            "connection_url": str(url),
            "host": host,
            "port": port,
            "database": self.config.auth_database,
        }

    def revoke(self, handle: dict[str, Any]) -> None:
        error = self.revoke_many([handle])[0]
        if error is not None:
            raise error

    def revoke_many(self, handles: list[dict[str, Any]]) -> list[BaseException | None]:
        """``dropUser`` each on the pooled client; once the server is down or refuses the root, stop trying."""
        results: list[BaseException | None] = []
        fatal: ScaiVaultError | None = None
        for handle in handles:
            if fatal is not None:
                results.append(fatal)
                continue
            try:
                self._drop(handle["username"], handle.get("database") or self.config.auth_database)
                results.append(None)
            except (EngineUnreachable, InvalidConfig) as exc:
                fatal = exc
                results.append(exc)
            except ScaiVaultError as exc:
                results.append(exc)
        return results

    def _drop(self, username: str, database: str) -> None:
        # UserNotFound: already gone (or never created by a crashed issue) counts as revoked.
        self._root.command(database, "dropUser", {"dropUser": username}, ok_codes=(USER_NOT_FOUND,))

    # -- reconcile and rotation -----------------------------------------------------------------

    def list_subjects(self) -> list[str]:
        """Users whose customData names this engine, and unmarked ones (made before marks) the store knows
        as its leases; never the root user."""
        prefix, root = self.config.username_prefix, str(self.context.root_credentials().get("username") or "")
        reply = self._root.command(self.config.auth_database, "usersInfo", {"usersInfo": 1})
        users = [
            u
            for u in reply.get("users", [])
            if isinstance(u.get("user"), str) and u["user"].startswith(prefix) and u["user"] != root
        ]
        marked = [u["user"] for u in users if _mark_of(u) == self.context.name]
        unmarked = [u["user"] for u in users if _mark_of(u) is None]
        known = self.context.known_subjects(unmarked) if unmarked and self.context.known_subjects else set()
        return sorted(marked + [name for name in unmarked if name in known])

    def revoke_subject(self, subject: str) -> None:
        """``dropUser`` with the name as a BSON value: no text of it is ever parsed."""
        self.revoke({"username": subject, "database": self.config.auth_database})

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any] | None:
        if not current.get("username"):
            return None  # no root user to rotate on a server without access control
        alphabet = string.ascii_letters + string.digits
        return {**current, "password": "".join(secrets.choice(alphabet) for _ in range(32))}

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        database = self._template.option("authSource") or self._template.database or "admin"
        self._root.command(database, "updateUser", {"updateUser": current["username"], "pwd": new["password"]})
        self._root.reset()  # later commands authenticate with the new password


def _mark_of(user: Mapping[str, Any]) -> Any:
    """The engine a ``usersInfo`` entry's customData names, or None for a user without our mark."""
    custom = user.get("customData")
    return custom.get(MARK) if isinstance(custom, Mapping) else None


def check_config(config: Config) -> MongoURL:
    """The parsed ``connection_url`` template, after checking every config field without contacting MongoDB."""
    # imported at first use: start-up loads every installed plugin
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import split_options

    check_connection_url(config.connection_url, URL_FIELD)
    try:
        template = parse_url(config.connection_url)
    except ValueError as exc:
        raise InvalidConfig(f"config.connection_url {exc}.", field=URL_FIELD) from None
    if "{{" not in template.userinfo:
        raise InvalidConfig(
            "config.connection_url must take the root credentials as {{username}}:{{password}}@ before the host, "
            "e.g. mongodb://{{username}}:{{password}}@db.internal:27017/admin.",
            field=URL_FIELD,
        )
    if template.options:
        # Strictly: given the URL, pymongo would only warn about an unknown option or a bad value
        # (tls=ture) and carry on without it.
        try:
            split_options(template.options, validate=True, warn=False)
        except (ValueError, PyMongoError) as exc:
            raise InvalidConfig(f"config.connection_url has an invalid option: {exc}", field=URL_FIELD) from None
    problem = check_database_name(config.auth_database)
    if problem:
        raise InvalidConfig(f"config.auth_database {problem}.", field="config.auth_database")
    for name in ("connect_timeout", "operation_timeout"):
        if not getattr(config, name) > 0:
            raise InvalidConfig(f"config.{name} must be a positive number of seconds.", field=f"config.{name}")
    sample = render_connection_url(config.connection_url, "user", "secret")
    # pymongo checks hosts and options; connect=False means no connection and no SRV lookup here.
    try:
        MongoClient(sample, **client_options(config.connect_timeout, config.operation_timeout)).close()
    except PyMongoError as exc:
        raise classify(exc, "checking the URL") from None
    return template
