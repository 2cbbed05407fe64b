"""The ``Engine`` interface: what an engine plugin implements to talk to its target system.

The core does the bookkeeping (TTLs, lease records, templates, names and passwords, policies,
audit, expiry, crash safety). An engine only talks to its target: verify a connection, create a
credential, renew it, revoke it (idempotently), and rotate its own root credential.

Lifecycle of one lease, as the core drives it::

    handle = engine.plan(request)          # what revocation will need; persisted as an intent
    issued = engine.create(request)        # the credential now exists in the target
    ...                                    # lease active; renew() on request
    engine.revoke_many([handle, ...])      # at expiry or on request, retried until it succeeds

A role may keep a pool of users made ahead of time (``create_pooled``, in the background, as
intents too); an issue then takes one and calls ``activate`` on it instead of ``create``.

If the process dies between ``plan`` and the lease being recorded, the core later calls
``revoke(handle)`` for the intent, so ``revoke`` must succeed when the credential was never
created ("already gone" is success).
"""

from __future__ import annotations

import abc
import builtins
import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

from .clock import Clock
from .errors import InvalidConfig

ENGINE_TYPES = ("database", "aws", "azure", "gcp", "ssh", "custom")
"""The guide's engine types; an engine class must declare one of them as its ``type``."""

OPERATOR_FIELD = "scaivault.operator_boundary"
"""The ``attrs`` metadata key the field helpers below set; the core checks every field that has it."""


def command_field(**kwargs: Any) -> Any:
    """A field holding a command the engine runs (an argv list, or None).

    Its program must resolve inside the operator's ``command_dirs`` (``SCAIVAULT_COMMAND_DIRS``):
    an absolute path, or a bare name looked up only there. The core rewrites ``argv[0]`` to the
    resolved absolute path it checked, so the engine runs exactly what was allowed.
    """
    return _operator_field("command", kwargs)


def directory_field(**kwargs: Any) -> Any:
    """A field naming a directory commands run in (or None): inside the operator's ``command_dirs``."""
    return _operator_field("directory", kwargs)


def file_field(**kwargs: Any) -> Any:
    """A field naming a file the engine reads or writes (or None): inside the operator's ``file_dirs``.

    The core rewrites it to the resolved absolute path it checked.
    """
    return _operator_field("file", kwargs)


def environment_field(**kwargs: Any) -> Any:
    """A field of environment variables for commands: names that change how programs load are refused."""
    return _operator_field("environment", kwargs)


def _operator_field(kind: str, kwargs: dict[str, Any]) -> Any:
    metadata = {**kwargs.pop("metadata", {}), OPERATOR_FIELD: kind}
    return attrs.field(metadata=metadata, **kwargs)


def _no_commands(argv: list[str], field: str) -> list[str]:
    raise InvalidConfig(f"{field}: this engine was built without the operator's command check.", field=field)


@attrs.define
class NoFields:
    """Config, role or request fields for an engine that takes none."""


@attrs.frozen
class EngineContext:
    """What the core hands an engine: its name, its typed config, and services it may use."""

    name: str
    config: Any
    root_credentials: Callable[[], dict[str, Any]] = attrs.field(repr=False)
    """Reads the engine's root credential from the secret store as ``dynamic:<name>`` (policy-checked)."""
    render: Callable[[str, Mapping[str, Any]], str] = attrs.field(repr=False)
    """Renders one template string in the core's sandboxed, strict environment, with this engine's ``quote``."""
    clock: Clock = attrs.field(repr=False)
    log: logging.Logger = attrs.field(repr=False)
    save_root_credentials: Callable[[dict[str, Any], str], None] | None = attrs.field(default=None, repr=False)
    """Stores a new root credential version (used by engines that generate their own, e.g. an SSH CA)."""
    root_credential_versions: Callable[[], list[dict[str, Any]]] | None = attrs.field(default=None, repr=False)
    """Every version of the root secret not yet retired, oldest first (e.g. the CA keys hosts must still trust)."""
    known_subjects: Callable[[list[str]], set[str]] | None = attrs.field(default=None, repr=False)
    """Of these user names, the ones the vault's store holds as leases of this engine, in any state
    (for ``list_subjects`` on a target that cannot mark its users)."""
    check_command: Callable[[list[str], str], list[str]] = attrs.field(default=_no_commands, repr=False)
    """``(argv, field) -> argv``: the command as the operator allows it now (``argv[0]`` resolved), or
    ``InvalidConfig``. Call it before running a command kept from earlier (e.g. in a lease handle)."""


@attrs.frozen
class IssueRequest:
    """One credential to create. ``variables`` are the template variables, already computed."""

    lease_id: str
    role_name: str
    role: Any  # an instance of the engine's ``Role`` class
    username: str
    password: str = attrs.field(repr=False)
    expires_at: float  # epoch seconds
    ttl_seconds: int
    metadata: Mapping[str, Any]
    params: Any  # an instance of the engine's ``Request`` class: extra fields of the request body
    variables: Mapping[str, Any] = attrs.field(repr=False)
    max_expires_at: float | None = None  # the latest the lease can ever be renewed to

    def render(self, templates: list[str], render: Callable[[str, Mapping[str, Any]], str]) -> list[str]:
        """Each template rendered with this request's variables."""
        return [render(t, self.variables) for t in templates]


@attrs.define
class Issued:
    """What ``create`` returns: the credential for the caller, and what revocation needs."""

    data: dict[str, Any] = attrs.field(repr=False)
    handle: dict[str, Any] = attrs.field(factory=dict, repr=False)
    """Merged over the handle from ``plan`` and stored (encrypted) with the lease."""
    subject: str | None = None
    """Overrides the lease's subject (defaults to the generated username)."""


@attrs.define
class Renewed:
    """What ``renew`` returns when the credential itself changed (a re-signed certificate)."""

    data: dict[str, Any] = attrs.field(factory=dict, repr=False)
    handle: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class LeaseLimits:
    """What the target itself allows a role's leases: renewable or not, and a hard TTL ceiling."""

    renewable: bool = True
    max_ttl: int | None = None  # seconds; the core refuses a larger ttl with ttl_exceeds_max
    min_ttl: int | None = None
    reason: str = ""  # said in the ttl_exceeds_max message ("STS AssumeRole allows at most 12h")


class Engine(abc.ABC):
    """Base class of every engine plugin. Subclass it, set the class attributes, implement the methods.

    Register the subclass from a plugin module with the ``register_engines`` hook::

        @scaivault_core.hookimpl
        def register_engines(register):
            register(PostgreSQLEngine)
    """

    type: ClassVar[str]
    """The guide's engine ``type``: ``database``, ``aws``, ``azure``, ``gcp``, ``ssh``, ``custom``."""
    # ``type`` is the guide's name for that attribute, so the annotations below say ``builtins.type``.
    plugin: ClassVar[str]
    """The ``config.plugin`` value that selects this class (for non-database types, the type itself)."""
    lease_prefix: ClassVar[str] = "db"
    """Lease ids look like ``lease_<lease_prefix>_<random>``."""
    Config: ClassVar[builtins.type[Any]] = NoFields
    """attrs class of the engine's ``config`` fields (besides ``plugin`` and ``root_credentials_path``)."""
    Role: ClassVar[builtins.type[Any]] = NoFields
    """attrs class of the role's fields (besides ``name``, ``default_ttl``, ``max_ttl``, ``max_leases``)."""
    Request: ClassVar[builtins.type[Any]] = NoFields
    """attrs class of extra fields a credentials request may carry (besides ``ttl`` and ``metadata``)."""
    template_fields: ClassVar[tuple[str, ...]] = ()
    """Role fields holding templates (a string or a list of strings), validated strictly at role creation."""
    template_variables: ClassVar[tuple[str, ...]] = ()
    """Template variables this engine adds to ``name``, ``password``, ``expiration``, ``ttl_seconds``."""
    username_max_length: ClassVar[int] = 63
    """The target's limit on user names; generated names never exceed it."""
    needs_root_credentials: ClassVar[bool] = True
    """Whether ``root_credentials_path`` is required in the engine config."""
    marks_subjects: ClassVar[bool] = False
    """Whether the target records which engine made each user (a comment, a tag), so ``list_subjects``
    can tell this engine's users by the target alone. If not, reconcile touches only users the vault's
    store knows as this engine's leases."""

    def __init__(self, context: EngineContext) -> None:
        self.context = context
        self.config = context.config
        self.log = context.log

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.context.name!r}>"

    # -- connection -------------------------------------------------------------------------

    @abc.abstractmethod
    def verify(self) -> None:
        """Open a test connection with the root credentials.

        Raise ``EngineUnreachable`` when the target cannot be reached and ``InvalidConfig`` (with
        the target's reason, never a secret) when it answers but refuses the credentials.
        """

    def close(self) -> None:
        """Release pooled connections. Called when the engine is updated, deleted or the vault closes."""

    # -- roles ------------------------------------------------------------------------------

    def validate_role(self, role: Any) -> None:
        """Check a role beyond its types; raise ``InvalidConfig`` naming the bad part.

        Templates in ``template_fields`` are already checked by the core (syntax and variables).
        """

    def role_receives_root_credentials(self, role: Any) -> bool:
        """Whether this role sends the root credential (or proof made with it) somewhere its author chose.

        If so, creating or changing the role needs its author to hold ``read`` on the root
        credential. Default: False.
        """
        return False

    def limits(self, role: Any) -> LeaseLimits:
        """What the target allows this role's leases. The default: renewable, no ceiling."""
        return LeaseLimits()

    def format_expiration(self, expires_at: float) -> str:
        """The ``{{expiration}}`` variable as the target writes timestamps. Default: ISO 8601 UTC."""
        from .clock import iso

        return iso(expires_at) or ""

    def quote(self, value: str) -> str:
        """``value`` as one identifier in the target's own quoting: the ``{{ x|quote }}`` template filter.

        An engine that renders statements overrides this with its target's rule (PostgreSQL
        ``"a""b"``, MySQL ```a``b```, ...), so a name read back from the target (``reconcile``) or
        any other value stays data. The core offers the filter in this engine's templates only when
        the method is overridden; a template that uses ``quote`` on an engine without it is refused
        with ``invalid_config`` when its role is created. Raise ``InvalidRequest`` for a value the
        target cannot hold as an identifier (a NUL byte, say). The base raises ``NotImplementedError``:
        no ``quote`` filter.
        """
        raise NotImplementedError

    # -- leases -----------------------------------------------------------------------------

    def plan(self, request: IssueRequest) -> dict[str, Any]:
        """Before anything is created: everything revocation will need, as JSON-able data.

        The core stores it (encrypted) as the lease intent before calling ``create``, so a crash in
        between can be undone. The default records the username.
        """
        return {"username": request.username}

    @abc.abstractmethod
    def create(self, request: IssueRequest) -> Issued:
        """Create the credential in the target, atomically where the target allows.

        On failure, leave nothing behind (or raise and let the core revoke the planned handle) and
        raise ``EngineUnreachable`` or ``EngineError`` with a message free of secrets.
        """

    def renew(self, handle: dict[str, Any], role: Any, expires_at: float) -> Renewed | None:
        """Extend the credential in the target to ``expires_at`` (e.g. ``VALID UNTIL``).

        ``role`` is None when the role was deleted since issue. Return ``Renewed`` when the
        credential itself changed, else None. The default does nothing in the target.
        """
        return None

    @abc.abstractmethod
    def revoke(self, handle: dict[str, Any]) -> None:
        """Remove the credential. Idempotent: a credential already gone (or never created) is success."""

    def revoke_many(self, handles: list[dict[str, Any]]) -> list[BaseException | None]:
        """Revoke several credentials, e.g. in one round trip; one result (None or the error) per handle."""
        results: list[BaseException | None] = []
        for handle in handles:
            try:
                self.revoke(handle)
                results.append(None)
            except Exception as exc:  # each lease succeeds or fails on its own
                results.append(exc)
        return results

    def list_subjects(self) -> list[str] | None:
        """Users in the target that this engine created (for ``reconcile``); None if not supported.

        Only users the target marks as this engine's (set ``marks_subjects``), or, where the target
        cannot mark users, the ones ``context.known_subjects`` confirms. Never the root user, another
        engine's users, or a user someone made in the target that merely looks like ours. The core
        checks the answer again (names must have the generated shape; no live lease of any engine is
        touched), but an engine must not rely on that.
        """
        return None

    def revoke_subject(self, subject: str) -> None:
        """Remove a user found by ``list_subjects`` that belongs to no lease.

        ``subject`` came from the target: pass it as a value or quote it with the target's own rules,
        never paste it into a statement.
        """
        raise NotImplementedError

    # -- pools of users made ahead of time (optional) --------------------------------------

    def create_pooled(self, requests: list[IssueRequest]) -> list[Issued]:
        """Create users for a role's pool (its ``pool_size``): with the role's rights, but unusable.

        The core records each request's planned handle as an intent first, as for an issue, and
        calls this from a background worker in batches. ``request.password`` is a throwaway the core
        never keeps, and ``request.expires_at`` a placeholder: until ``activate``, nobody may be able
        to log in as the user with any password or none (PostgreSQL: ``NOLOGIN`` and no password;
        MySQL: the account locked). Create all of them or none: raise, and the core revokes the
        planned handles. Each returned ``Issued.handle`` is merged over the planned one (its
        ``data`` is ignored). An engine that does not override this keeps no pools, and a role of
        it with a ``pool_size`` is refused with ``invalid_config``.
        """
        raise NotImplementedError

    def activate(self, handle: dict[str, Any], request: IssueRequest) -> Issued:
        """Make a pooled user usable as ``request`` asks: its new password and its expiry.

        ``handle`` is the pooled user's (``request.username`` is its name). One statement where the
        target allows, since this is what an issue from the pool waits for. Return the credential
        as ``create`` would. On failure raise: the core revokes the user.
        """
        raise NotImplementedError

    # -- root credential rotation ----------------------------------------------------------

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any] | None:
        """A new root credential to replace ``current``, not yet applied; None if rotation is unsupported."""
        return None

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        """Make ``new`` valid in the target (authenticating with ``current``)."""
        raise NotImplementedError

    def retire_root_credentials(self, old: dict[str, Any]) -> None:
        """Invalidate a previous root credential at the end of its grace period, where that is separate."""


def keeps_pools(engine: Engine) -> bool:
    """Whether an engine can keep warm pools: it implements ``create_pooled``."""
    return type(engine).create_pooled is not Engine.create_pooled


def pool_size(engine: Engine, role: Any) -> int:
    """How many users ``role`` keeps ready: its ``pool_size`` field, 0 where the engine keeps no pools."""
    return (getattr(role, "pool_size", 0) or 0) if keeps_pools(engine) else 0
