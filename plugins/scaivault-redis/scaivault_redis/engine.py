"""The Redis engine: a lease is an ACL user (``ACL SETUSER``), removed with ``ACL DELUSER``."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

import attrs

from scaivault_core import Engine, EngineError, InvalidConfig, Issued, IssueRequest, file_field

from . import acl

if TYPE_CHECKING:
    import redis

_BATCH = 500  # users per ACL DELUSER
# What the root user must be allowed to run (checked with ACL DRYRUN when the engine is configured).
_ROOT_NEEDS = (("ACL", "SETUSER", "scaivault-probe"), ("ACL", "DELUSER", "scaivault-probe"))


@attrs.define
class Config:
    connection_url: str | None = None
    host: str | None = None
    port: int = 6379
    db: int = 0
    tls: bool = False
    tls_ca_file: str | None = file_field(default=None)  # inside the operator's SCAIVAULT_FILE_DIRS
    connect_timeout: float = 5.0
    socket_timeout: float = 10.0
    acl_save: bool = False
    username_prefix: str = "v_"


@attrs.define
class Role:
    keys: list[str] = attrs.field(factory=list)
    channels: list[str] = attrs.field(factory=list)
    commands: list[str] = attrs.field(factory=list)
    acl_rules: list[str] = attrs.field(factory=list)


def _known_command(rule: str, entries: dict[str, Any]) -> bool:
    """Whether the server has the command of ``+cmd`` (COMMAND INFO gave an entry) and, for ``cmd|sub``, the subcommand.

    A command without subcommands takes ``+cmd|first-arg`` (deprecated in Redis 7, still allowed),
    but never ``-cmd|first-arg``.
    """
    sign, name = rule[0], rule[1:]
    base, _, sub = name.partition("|")
    entry = entries.get(base)
    if not entry:
        return False
    if not sub:
        return True
    subcommands = {s[0].lower() for s in entry[9]} if len(entry) > 9 and entry[9] else set()
    return name in subcommands if subcommands else sign == "+"


class RedisEngine(Engine):
    """A lease is a Redis ACL user; deleting it also closes its open connections."""

    type = "database"
    plugin = "redis"
    lease_prefix = "db"
    Config = Config
    Role = Role
    username_max_length = 64  # Redis has no limit; this keeps names readable in ACL LIST

    def __init__(self, context) -> None:
        super().__init__(context)
        # imported at first use: start-up loads every installed plugin
        from .connection import RootClient, target_from_config

        self._target = target_from_config(self.config)
        self._root = RootClient(
            self._target,
            context.root_credentials,
            connect_timeout=self.config.connect_timeout,
            socket_timeout=self.config.socket_timeout,
            tls_ca_file=self.config.tls_ca_file,
        )

    def close(self) -> None:
        self._root.close()

    def verify(self) -> None:
        """Log in as root and check (ACL DRYRUN) that it may create and delete users."""

        def work(client: redis.Redis) -> None:
            whoami = client.execute_command("ACL", "WHOAMI")
            for command in _ROOT_NEEDS:
                answer = client.execute_command("ACL", "DRYRUN", whoami, *command)
                if answer != "OK":
                    raise InvalidConfig(
                        f"The root user may not run {' '.join(command[:2])}: {answer}", field="root_credentials"
                    )

        self._root.call(work)

    # -- roles ------------------------------------------------------------------------------------

    def validate_role(self, role: Role) -> None:
        """Rule syntax here; command and category names against the server's own lists."""
        rules, problems = self._rules(role)
        if problems:
            field, message = problems[0]
            raise InvalidConfig(f"{message}.", field=field, problems=[m for _, m in problems])
        if not rules.grants:
            raise InvalidConfig(
                "The role grants no command: add one to commands (e.g. '+get' or '+@read').", field="commands"
            )

        bases = sorted({name[1:].split("|")[0] for name in rules.commands})

        def known(client: redis.Redis) -> tuple[list[Any], set[str]]:
            info = client.execute_command("COMMAND", "INFO", *bases) if bases else []
            return info, {c.lower() for c in client.acl_cat()} | {"all"}  # ACL CAT does not list @all

        info, categories = self._root.call(known)
        entries = dict(zip(bases, info, strict=True))  # one entry per name asked (nil for an unknown one)
        unknown = [name for name in sorted(rules.commands) if not _known_command(name, entries)]
        unknown += [f"@{name}" for name in sorted(rules.categories - categories)]
        if unknown:
            field = self._field_of(role, unknown[0])
            raise InvalidConfig(
                f"{field} names a command or category this Redis server does not know: {unknown[0]!r}.",
                field=field,
                unknown=unknown,
            )

    @staticmethod
    def _rules(role: Role) -> tuple[acl.Rules, list[tuple[str, str]]]:
        return acl.build(role.keys, role.channels, role.commands, role.acl_rules)

    @staticmethod
    def _field_of(role: Role, name: str) -> str:
        for field in ("commands", "acl_rules"):
            for i, rule in enumerate(getattr(role, field)):
                if name in acl.names(rule):
                    return f"{field}[{i}]"
        return "commands"

    # -- leases -----------------------------------------------------------------------------------

    def create(self, request: IssueRequest) -> Issued:
        """One ACL SETUSER: the server applies all the rules or none."""
        rules, problems = self._rules(request.role)
        if problems:  # the role was valid when stored; only a changed engine could make it fail here
            raise EngineError(f"The role's ACL rules are not valid: {problems[0][1]}.")
        username = request.username

        def work(client: redis.Redis) -> None:
            client.execute_command("ACL", "SETUSER", username, "reset", "on", f">{request.password}", *rules.rules)
            self._save(client)

        self._root.call(work)
        return Issued(
            data={
                "username": username,
                "password": request.password,
                "connection_url": self._target.url(username, request.password),
                "host": self._target.host,
                "port": self._target.port,
                "db": self._target.db,
            }
        )

    def revoke(self, handle: dict[str, Any]) -> None:
        error = self.revoke_many([handle])[0]
        if error is not None:
            raise error

    def revoke_many(self, handles: list[dict[str, Any]]) -> list[BaseException | None]:
        """``ACL DELUSER a b c``: one round trip per batch; a user already gone is not an error."""
        names = list(dict.fromkeys(h["username"] for h in handles))

        def work(client: redis.Redis) -> None:
            for start in range(0, len(names), _BATCH):
                client.execute_command("ACL", "DELUSER", *names[start : start + _BATCH])
            self._save(client)

        if names:
            self._root.call(work)
        return [None] * len(handles)

    def _save(self, client: redis.Redis) -> None:
        # With an ACL file, a later ACL SAVE by anyone would persist live users, and a restart would
        # bring back revoked ones; saving after every change keeps the file what the server holds.
        if self.config.acl_save:
            client.execute_command("ACL", "SAVE")

    # -- reconcile --------------------------------------------------------------------------------

    def list_subjects(self) -> list[str]:
        """ACL users named like ours that the store knows as this engine's leases (Redis keeps no mark of
        who made a user), never the root user."""

        def work(client: redis.Redis) -> tuple[str, list[str]]:
            return client.execute_command("ACL", "WHOAMI"), client.execute_command("ACL", "USERS")

        root, users = self._root.call(work)
        candidates = sorted(u for u in users if u.startswith(self.config.username_prefix) and u != root)
        known = self.context.known_subjects(candidates) if candidates and self.context.known_subjects else set()
        return [name for name in candidates if name in known]

    def revoke_subject(self, subject: str) -> None:
        """``ACL DELUSER`` with the name as one argument of the protocol: no text of it is ever parsed."""
        self.revoke({"username": subject})

    # -- root credential rotation ---------------------------------------------------------------

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any]:
        """The same user with a new random password (URL-safe characters)."""
        return {**current, "password": secrets.token_urlsafe(24)}

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        """Add the new password to the root user; the old one keeps working until it is retired.

        For root credentials without a username this is the ``default`` user: a server that had no
        password then requires one from every client.
        """
        user = current.get("username") or "default"
        self._root.call(lambda client: client.execute_command("ACL", "SETUSER", user, f">{new['password']}"))

    def retire_root_credentials(self, old: dict[str, Any]) -> None:
        """Remove the old password from the root user (by its hash, so the password is not sent again)."""
        if not old.get("password"):
            return
        user = old.get("username") or "default"
        digest = hashlib.sha256(old["password"].encode()).hexdigest()

        def work(client: redis.Redis) -> None:
            # Idempotent: "!hash" of a password no longer set is an error, so look first.
            if digest in _passwords(client.execute_command("ACL", "GETUSER", user)):
                client.execute_command("ACL", "SETUSER", user, f"!{digest}")

        self._root.call(work)


def _passwords(getuser: Any) -> list[str]:
    """The password hashes in an ``ACL GETUSER`` reply (a flat list in RESP2, a map in RESP3)."""
    if isinstance(getuser, dict):
        return list(getuser.get("passwords") or [])
    if isinstance(getuser, list):
        fields = dict(zip(getuser[::2], getuser[1::2], strict=False))
        return list(fields.get("passwords") or [])
    return []
