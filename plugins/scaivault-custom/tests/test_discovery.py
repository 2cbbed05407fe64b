"""Installed, the plugin is found through its ``scaivault`` entry point."""

from __future__ import annotations

from scaivault_core import Vault


def test_installed_plugin_is_discovered(tmp_path, monkeypatch):
    monkeypatch.delenv("SCAIVAULT_LOAD_PLUGINS", raising=False)
    with Vault(tmp_path / "vault.db", start_worker=False) as vault:
        (info,) = [p for p in vault.plugins() if p.name == "scaivault-custom"]
    assert info.engines == ["custom/custom"] and info.error is None and info.version == "0.1.0"
