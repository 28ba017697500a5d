"""Ship the Terraform modules inside the wheel as `ccds_cli/modules`, except in editable installs.

An editable install imports `ccds_cli` from the checkout (which has `modules/` beside it); a
force-included `ccds_cli/modules` there would create a second, empty `ccds_cli` in site-packages
that shadows the real package (pypa/hatch#1627).
"""

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ModulesHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if version != "editable":
            build_data["force_include"]["modules"] = "ccds_cli/modules"
