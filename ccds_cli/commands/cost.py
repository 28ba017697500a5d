"""`ccds cost`: what a deployment costs per month, where the money goes, and where it would be cheaper."""

from typing import Annotated

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, SpecArg, show_warnings


def run(
    spec: SpecArg,
    compare: Annotated[bool, typer.Option("--compare", help="Price each region on every cloud with a nearby region.")] = False,
    events: Annotated[bool, typer.Option("--events", help="Add the scheduled events' extra nodes and egress.")] = False,
    budget: Annotated[float | None, typer.Option("--budget", help="Exit 1 when the monthly total is above N USD.")] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Update AWS prices through the AWS Pricing API first.")] = False,
    output: OutputOpt = OutputMode.text,
) -> Outcome:
    """Estimate the monthly cost: compute, egress, load balancers, database, stream managers."""
    from ccds_cli.commands._common import start
    from ccds_cli.cost import estimate_spec
    from ccds_cli.errors import ExitCode
    from ccds_cli.spec import load_spec

    out = start("cost", output)
    loaded = load_spec(spec)
    show_warnings(out, loaded)
    if refresh:
        from ccds_cli.cost.refresh import refresh_aws

        out.info(refresh_aws(loaded.spec))
    report = estimate_spec(loaded.spec, events=events, compare=compare)
    for w in report["warnings"]:
        out.warn(w)
    over = budget is not None and report["total_usd"] > budget
    report["budget"] = None if budget is None else {"limit_usd": budget, "over": over,
                                                    "difference_usd": round(report["total_usd"] - budget, 2)}
    code = int(ExitCode.FAILED) if over else 0
    from ccds_cli.cost.view import show

    return Outcome(report, show, code)
