"""Make test helpers in tests/ (e.g. `tfschema`) importable, and register the `slow` marker."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `from tests.tfschema import ...`
sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import tfschema`


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end tests with real tools (still run in CI)")
