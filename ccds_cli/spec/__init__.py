"""The deployment spec: models, loading with positions, semantic checks."""

from ccds_cli.spec.loader import LoadedSpec, load_spec

__all__ = ["LoadedSpec", "load_spec"]
