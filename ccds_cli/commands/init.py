"""`ccds init [FILE]`: write a starting spec for one cloud and region, valid as written."""

from pathlib import Path
from typing import Annotated

import typer

from ccds_cli.commands._common import Outcome, OutputMode, OutputOpt, start

TEMPLATE = """\
# ccds deployment spec: see docs/spec.md for every field.
version: 1
name: {name}
engine: {{kind: {engine}}}
state: {{backend: local}}
providers:
  {alias}: {{cloud: {cloud}{provider_extra}}}
control:
  placement: [{alias}/{region}]
  stream_managers: {managers}
  database: {{engine: {database}}}
regions:
  {region_key}:
    placement: {alias}/{region}
    network: {{cidr: 10.10.0.0/16}}
    pools:
      origin: {{instance_type: {itype}, min: 1, max: {origin_max}, capacity: 20}}
      edge:   {{instance_type: {itype}, min: {edge_min}, max: {edge_max}, capacity: {edge_capacity}}}
    scale_out_at: 0.6
security:
  publish_cidrs: [0.0.0.0/0]
  admin_cidrs: []          # your office/VPN ranges, for SSH and node admin ports
traffic:
  bitrate_kbps: 4500
  peak_viewers: {{{region_key}: {viewers}}}
  hours_per_month: 120
"""


def run(
    file: Annotated[Path, typer.Argument(help="Where to write the spec.")] = Path("ccds.yaml"),
    name: Annotated[str, typer.Option(help="Deployment name.")] = "live",
    cloud: Annotated[str, typer.Option(help="aws, gcp, azure, oci, digitalocean, linode, vsphere, "
                                             "openstack or local.")] = "local",
    region: Annotated[str | None, typer.Option(help="The cloud's region (default: a common one).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    output: OutputOpt = OutputMode.text,
) -> Outcome:
    """Write a starting spec (valid as written) for one cloud and region."""
    from ccds_cli import clouds
    from ccds_cli.errors import BadInput
    from ccds_cli.spec import load_spec

    start("init", output)
    c = clouds.get(cloud)
    regions = c.regions()
    if region is None:
        region = c.default_region
    if regions and region not in regions:
        from ccds_cli.spec.loader import did_you_mean

        raise BadInput(f"{region!r} is not a region of {c.display}{did_you_mean(region, regions)}")
    if file.exists() and not force:
        raise BadInput(f"{file} exists; use --force to overwrite it")
    local = cloud == "local"
    text = TEMPLATE.format(
        name=name, engine="nginx-rtmp" if local else "mediamtx", alias=f"{cloud}-main" if not local else "laptop",
        cloud=cloud, provider_extra=c.init_fields, region=region,
        managers=1 if local else 2, database="sqlite" if local else "postgres",
        region_key="local" if local else "main", itype=c.default_instance_type,
        origin_max=1 if local else 4, edge_min=2, edge_max=4 if local else 20,
        edge_capacity=50 if local else 400, viewers=100 if local else 5000)
    file.write_text(text)
    loaded = load_spec(file)  # what we write must validate
    return Outcome({"file": str(file), "name": loaded.spec.name, "cloud": cloud, "region": region},
                   lambda r, console: console.print(f"wrote {r['file']}: edit it, then `ccds plan {r['file']}`"))
