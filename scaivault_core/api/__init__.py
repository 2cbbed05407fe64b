"""The operations, apart from any transport: ``VaultAPI`` does them, the table declares them.

- ``vault_api``: ``VaultAPI``, the plain-data methods every front end calls;
- ``table``: the operation table, each operation declared once (``OPERATIONS``);
- ``operation``: what a declaration holds (``Operation``, ``Query``, ``Call``, ``method``);
- ``bodies`` and ``results``: what operations take and answer, as attrs classes;
- ``schemas``: their JSON schemas, generated; ``commands``: how the CLI shows an operation.

``scaivault_core.rest`` serves the table over HTTP, ``scaivault_core.client`` calls it over HTTP,
``scaivault_core.cli`` offers it as commands.
"""

from .operation import Call, Method, Operation, Query, method
from .table import OPERATIONS, by_name, operations
from .vault_api import VaultAPI

__all__ = ["OPERATIONS", "Call", "Method", "Operation", "Query", "VaultAPI", "by_name", "method", "operations"]
