"""The engine is found the way an installed plugin is: through the `scaivault` entry point."""

from __future__ import annotations

from scaivault_aws import AwsEngine
from scaivault_core import make_plugin_manager
from scaivault_core.plugin_manager import EngineRegistry, plugin_infos


def test_the_aws_engine_is_discovered_through_its_entry_point(monkeypatch):
    monkeypatch.setenv("SCAIVAULT_LOAD_PLUGINS", "scaivault-aws")
    pm = make_plugin_manager()
    registry = EngineRegistry(pm)
    assert registry.get("aws", "aws") is AwsEngine
    [info] = plugin_infos(pm, registry)
    assert (info.name, info.engines, info.error) == ("scaivault-aws", ["aws/aws"], None)
