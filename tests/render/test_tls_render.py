"""security.tls in the rendered workspaces: what the AWS module gets to serve the API over HTTPS, and
the managers' trust of the load balancer's X-Forwarded-Proto (so the URLs they hand out say https).
Without TLS nothing changes (the golden files hold that byte for byte)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.render.renderhelp import EXAMPLES

ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


def _render(tmp_path: Path, spec: dict) -> dict[str, dict]:
    from ccds_cli.plan import build_plan
    from ccds_cli.render import render
    from ccds_cli.spec import load_spec

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    loaded = load_spec(path)
    rendered = render(loaded, build_plan(loaded.spec), tmp_path / "out")
    return {r.name: json.loads((r.path / "main.tf.json").read_text()) for r in rendered}


def _single_aws() -> dict:
    return yaml.safe_load((EXAMPLES / "single-aws.yaml").read_text())


def _manager_user_data(root: dict) -> str:
    return root["module"]["control"]["pools"]["manager"]["user_data"]


def test_certificate_arn_reaches_the_module_and_managers_trust_the_load_balancer(tmp_path):
    spec = _single_aws()
    spec["security"]["tls"] = {"domain": "api.example.net", "certificate_arn": ARN}
    roots = _render(tmp_path, spec)
    control = roots["control.aws.us-east-1"]["module"]["control"]["control"]
    # no zone: no record, the domain is the name the endpoint (and the certificate) use
    assert control["certificate_arn"] == ARN and control["dns_name"] == "api.example.net"
    assert control["dns_zone"] == ""
    assert "--forwarded-allow-ips 10.250.0.0/16 " in _manager_user_data(roots["control.aws.us-east-1"])
    # the regions' nodes take the manager URL from the control workspace's output, whatever its scheme
    region = roots["aws.us-east-1"]
    assert "${var.manager_url}" in region["module"]["us-east"]["pools"]["edge"]["user_data"]


def test_without_tls_nothing_of_it_is_rendered(tmp_path):
    roots = _render(tmp_path, _single_aws())
    control = roots["control.aws.us-east-1"]["module"]["control"]["control"]
    assert "certificate_arn" not in control and control["dns_name"] == ""
    assert "forwarded-allow-ips" not in _manager_user_data(roots["control.aws.us-east-1"])


def test_a_domain_without_zone_or_certificate_stays_plain_http(tmp_path):
    spec = _single_aws()
    spec["security"]["tls"] = {"domain": "api.example.net"}
    roots = _render(tmp_path, spec)
    control = roots["control.aws.us-east-1"]["module"]["control"]["control"]
    assert "certificate_arn" not in control and control["dns_name"] == "" and control["dns_zone"] == ""
    assert "forwarded-allow-ips" not in _manager_user_data(roots["control.aws.us-east-1"])


def test_only_a_load_balancer_that_ends_tls_is_trusted(tmp_path):
    """eight-clouds: TLS + a zone. The AWS primary ends TLS; Azure's load balancer passes TCP through,
    so its managers trust no forwarded header (a client could set it)."""
    from ccds_cli.plan import build_plan
    from ccds_cli.spec import load_spec

    plan = build_plan(load_spec(EXAMPLES / "eight-clouds.yaml").spec)
    https = {ws.name: ws.control.https for ws in plan.workspaces if ws.control is not None}
    assert https == {"control.aws-main.us-east-1": True, "control.azure-main.westeurope": False}
    secondary = [ws.control for ws in plan.workspaces if ws.name == "control.azure-main.westeurope"][0]
    assert secondary.certificate_arn == "" and secondary.dns_name == "live.example.com"


def test_several_aws_control_placements_answer_one_name_by_latency(tmp_path):
    """Each AWS control placement creates the API's record in the zone: with more than one, each is a
    latency record with its own set identifier (the second would otherwise fail on the first's)."""
    spec = _single_aws()
    spec["security"]["tls"] = {"domain": "api.live.example.com"}
    spec["control"]["dns_zone"] = "live.example.com"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    roots = _render(tmp_path / "one", spec)
    assert "dns_set_id" not in roots["control.aws.us-east-1"]["module"]["control"]["control"]
    spec["control"]["placement"] = ["aws/us-east-1", "aws/eu-west-1"]
    roots = _render(tmp_path / "two", spec)
    ids = {name: root["module"]["control"]["control"].get("dns_set_id") for name, root in roots.items()
           if name.startswith("control.")}
    assert ids == {"control.aws.us-east-1": "aws.us-east-1", "control.aws.eu-west-1": "aws.eu-west-1"}


def test_two_control_placements_on_a_cloud_with_one_record_per_name_are_refused(tmp_path):
    import subprocess
    import sys

    spec = yaml.safe_load((EXAMPLES / "eight-clouds.yaml").read_text())
    gcp = next(a for a, p in spec["providers"].items() if p["cloud"] == "gcp")
    spec["control"]["placement"] = [f"{gcp}/us-east4", f"{gcp}/europe-west1"]
    spec["control"]["dns_zone"] = "live-example-com"
    spec["security"]["tls"] = {"domain": "api.live.example.com"}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "ccds_cli", "validate", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "control.dns_zone" in proc.stderr and "gcp's DNS holds one record per name" in proc.stderr
    assert "Traceback" not in proc.stderr
