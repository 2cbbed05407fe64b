"""`scaivault server` loads every installed plugin at start-up: loading this one must not import boto3."""

from __future__ import annotations

from scaivault_core.testing import imported_at_start_up


def test_loading_the_plugin_leaves_the_sdk_unimported():
    assert imported_at_start_up("scaivault-aws", "aws", "aws", ["boto3", "botocore.config", "botocore.parsers"]) == []
