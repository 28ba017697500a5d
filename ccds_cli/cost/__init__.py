"""The cost model behind `ccds cost`: a shipped price catalog, a plain-input model, and the
translation from a spec's capacity plan into that model's inputs."""

from ccds_cli.cost.catalog import HOURS_IN_MONTH, Catalog, catalog, tiered_cost
from ccds_cli.cost.fromspec import estimate_spec, inputs_from_plan
from ccds_cli.cost.model import (
           CostInputs,
           ManagedDatabase,
           NodeGroup,
           Placement,
           egress_gb,
           estimate,
)

__all__ = ["HOURS_IN_MONTH", "Catalog", "catalog", "tiered_cost", "estimate_spec", "inputs_from_plan",
           "CostInputs", "ManagedDatabase", "NodeGroup", "Placement", "egress_gb", "estimate"]
