"""Fixtures of the Engine.IO v3 suite: the gateway suite's ``start_server`` factory
(a fresh chatify process per call, from the launcher all suites share, stopped after the
test) and its HTTP helpers, reused from Compat/gateway so both suites start the server
the same way."""

import importlib.util
import sys
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"
sys.path.insert(0, str(GATEWAY))

_spec = importlib.util.spec_from_file_location("gateway_conftest", GATEWAY / "conftest.py")
gateway_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gateway_conftest)

start_server = gateway_conftest.start_server
