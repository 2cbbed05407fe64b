"""Tools for testing engines: the contract suite every engine plugin runs, a TCP proxy, an in-memory engine,
test servers (``servers``: a real ``scaivault server``, an app in a thread), free ports, throwaway
TLS (``LoopbackTLS``), and (in ``https_double``) a loopback HTTPS server for doubles of cloud APIs.

Needs pytest (a test dependency, never imported by the core itself)::

    from scaivault_core.testing import EngineContract

    class TestContract(EngineContract):
        engine_class = MyEngine
        ...
"""

from .contract import ENGINE_POLICY, ROOT_PATH, EngineContract, SimulatedCrash
from .kill_mid_rotation import KILL_POINTS, rotate_and_die
from .memory import MemoryEngine, MemoryPlugin, MemoryTarget, MemoryUser
from .ports import free_port
from .postgres import READONLY_CREATION, READONLY_REVOCATION, ScramCluster, readonly_role
from .proxy import TCPProxy
from .start_up import imported_at_start_up
from .tls import LoopbackTLS
from .vaults import VaultFactory
from .waiting import wait_until

__all__ = [
    "EngineContract",
    "SimulatedCrash",
    "ROOT_PATH",
    "ENGINE_POLICY",
    "MemoryEngine",
    "MemoryPlugin",
    "MemoryTarget",
    "MemoryUser",
    "TCPProxy",
    "VaultFactory",
    "imported_at_start_up",
    "wait_until",
    "rotate_and_die",
    "KILL_POINTS",
    "free_port",
    "ScramCluster",
    "READONLY_CREATION",
    "READONLY_REVOCATION",
    "readonly_role",
    "LoopbackTLS",
]
