"""The schema checker must catch real mistakes, or every module test passing means nothing."""

import json
import textwrap
from pathlib import Path

import pytest
from tfschema import check_module, check_workspace, schema_dir

VERSIONS = """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
    oci = {
      source = "oracle/oci"
    }
  }
}
"""


def _module(tmp_path: Path, body: str, name: str = "main.tf") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "versions.tf").write_text(VERSIONS)
    (tmp_path / name).write_text(textwrap.dedent(body))
    return tmp_path


def _only(errors: list[str], needle: str) -> None:
    assert len(errors) == 1, errors
    assert needle in errors[0], errors


def test_schema_dir_exists(monkeypatch):
    """The schemas live in the repository (a fresh clone has no ../shared beside it)."""
    monkeypatch.delenv("CCDS_TF_SCHEMAS", raising=False)
    repo = Path(__file__).resolve().parents[2]
    assert schema_dir() == repo / "tests" / "schemas"
    assert (schema_dir() / "aws.json").is_file() and (schema_dir() / "README.md").is_file()


def test_schema_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("CCDS_TF_SCHEMAS", str(tmp_path))
    assert schema_dir() == tmp_path


def test_valid_module_has_no_errors(tmp_path):
    mod = _module(tmp_path, """
        resource "aws_vpc" "this" {
          cidr_block = "10.0.0.0/16"
          tags       = { Name = "x" }
        }
        resource "aws_instance" "this" {
          for_each      = toset(["a"])
          ami           = "ami-1"
          instance_type = "t3.micro"
          root_block_device {
            volume_size = 10
          }
          dynamic "ebs_block_device" {
            for_each = []
            content {
              device_name = ebs_block_device.value
            }
          }
          lifecycle {
            ignore_changes = [ami]
          }
          depends_on = [aws_vpc.this]
        }
        data "aws_ami" "ubuntu" {
          owners      = ["099720109477"]
          most_recent = true
          filter {
            name   = "name"
            values = ["ubuntu/*"]
          }
        }
        resource "terraform_data" "x" {
          input = 1
        }
    """)
    assert check_module(mod) == []


def test_unknown_argument(tmp_path):
    mod = _module(tmp_path, """
        resource "aws_vpc" "this" {
          cidr_block = "10.0.0.0/16"
          cidr_blok  = "oops"
        }
    """)
    _only(check_module(mod), "main.tf:aws_vpc.this: unknown argument 'cidr_blok'")


def test_missing_required_argument(tmp_path):
    mod = _module(tmp_path, """
        resource "aws_subnet" "this" {
          cidr_block = "10.0.0.0/20"
        }
    """)
    _only(check_module(mod), "missing required argument 'vpc_id'")


def test_missing_required_block_unless_dynamic(tmp_path):
    mod = _module(tmp_path, """
        resource "aws_lb_listener" "this" {
          load_balancer_arn = "arn"
        }
    """)
    _only(check_module(mod), "block 'default_action' needs at least 1")
    mod = _module(tmp_path / "dyn", """
        resource "aws_lb_listener" "this" {
          load_balancer_arn = "arn"
          dynamic "default_action" {
            for_each = [1]
            content {
              type = "forward"
            }
          }
        }
    """)
    assert check_module(mod) == []


def test_too_many_blocks(tmp_path):
    mod = _module(tmp_path, """
        resource "aws_instance" "this" {
          root_block_device {
            volume_size = 10
          }
          root_block_device {
            volume_size = 20
          }
        }
    """)
    _only(check_module(mod), "block 'root_block_device' allows at most 1, found 2")


def test_static_plus_dynamic_over_max(tmp_path):
    mod = _module(tmp_path, """
        resource "aws_instance" "this" {
          root_block_device {
            volume_size = 10
          }
          dynamic "root_block_device" {
            for_each = [1]
            content {
              volume_size = 20
            }
          }
        }
    """)
    _only(check_module(mod), "1 static + 1 dynamic")


def test_unknown_resource_and_data_type(tmp_path):
    mod = _module(tmp_path, """
        resource "aws_instanse" "this" {
          ami = "x"
        }
        data "aws_amiii" "u" {
        }
    """)
    errors = check_module(mod)
    assert len(errors) == 2, errors
    assert "unknown resource type 'aws_instanse'" in errors[0]
    assert "data.aws_amiii.u: unknown data source" in errors[1]


def test_unknown_nested_block_and_nested_argument(tmp_path):
    mod = _module(tmp_path, """
        resource "aws_instance" "this" {
          root_block_devic {
            volume_size = 10
          }
          root_block_device {
            volume_sise = 10
          }
        }
    """)
    errors = check_module(mod)
    assert len(errors) == 2, errors
    assert "unknown nested block 'root_block_devic'" in errors[0]
    assert "aws_instance.this.root_block_device[0]: unknown argument 'volume_sise'" in errors[1]


def test_computed_only_and_wrong_syntax(tmp_path):
    mod = _module(tmp_path, """
        resource "aws_vpc" "this" {
          cidr_block = "10.0.0.0/16"
          arn        = "x"
        }
        resource "aws_instance" "this" {
          root_block_device = { volume_size = 10 }
          tags {
            a = "b"
          }
        }
    """)
    errors = check_module(mod)
    assert any("'arn' is computed-only" in e for e in errors), errors
    assert any("'root_block_device' is a block, not an argument" in e for e in errors), errors
    assert any("'tags' is an argument, not a block" in e for e in errors), errors
    assert len(errors) == 3, errors


def test_other_provider_and_unknown_source(tmp_path):
    mod = _module(tmp_path, """
        resource "oci_core_vcn" "this" {
          compartment_id = "x"
          cidr_blocks    = ["10.0.0.0/16"]
          not_an_arg     = 1
        }
        resource "foo_bar" "x" {
        }
    """)
    errors = check_module(mod)
    assert any("oci_core_vcn.this: unknown argument 'not_an_arg'" in e for e in errors), errors
    assert any("foo_bar.x: no schema known for provider source 'hashicorp/foo'" in e for e in errors)
    assert len(errors) == 2, errors


def test_json_syntax(tmp_path):
    doc = {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws"}}},
        "resource": {"aws_vpc": {"this": {"cidr_block": "10.0.0.0/16", "bogus": True}},
                     "aws_instance": {"i": {"root_block_device": [{"volume_size": 1}, {"volume_size": 2}]}}},
    }
    (tmp_path / "main.tf.json").write_text(json.dumps(doc))
    errors = check_module(tmp_path)
    assert any("main.tf.json:aws_vpc.this: unknown argument 'bogus'" in e for e in errors), errors
    assert any("allows at most 1, found 2" in e for e in errors), errors
    assert len(errors) == 2, errors


def _child(tmp_path: Path) -> Path:
    child = tmp_path / "modules" / "child"
    _module(child, """
        variable "name" {
          type = string
        }
        variable "size" {
          type    = number
          default = 1
        }
        resource "aws_vpc" "this" {
          cidr_blok = "10.0.0.0/16"
        }
    """)
    return child


def test_module_call_arguments_and_recursion(tmp_path):
    _child(tmp_path)
    root = {
        "module": {"c": {"source": "./modules/child", "size": 2, "colour": "red"}},
    }
    (tmp_path / "main.tf.json").write_text(json.dumps(root))
    errors = check_workspace(tmp_path)
    assert any("main.tf.json:module.c: argument 'colour' is not a variable" in e for e in errors), errors
    assert any("main.tf.json:module.c: required variable 'name'" in e for e in errors), errors
    assert any(e.startswith("modules/child/main.tf:aws_vpc.this: unknown argument 'cidr_blok'")
               for e in errors), errors
    assert len(errors) == 3, errors


def test_module_call_in_hcl_ok_and_missing_source(tmp_path):
    _child(tmp_path)
    (tmp_path / "main.tf").write_text(textwrap.dedent("""
        module "c" {
          source = "./modules/child"
          name   = "x"
        }
        module "gone" {
          source = "./nowhere"
        }
    """))
    errors = check_module(tmp_path)
    assert any("module.gone: module source './nowhere' is not a directory" in e for e in errors)
    assert len(errors) == 2, errors  # plus the child's own cidr_blok


def test_parse_error_reported(tmp_path):
    (tmp_path / "bad.tf").write_text('resource "aws_vpc" "x" {\n')
    errors = check_module(tmp_path)
    assert len(errors) == 1 and "bad.tf: parse error" in errors[0], errors


@pytest.mark.parametrize("name", ["aws", "google", "azurerm", "oci", "digitalocean", "linode",
                                  "openstack", "vsphere"])
def test_every_schema_loads(name):
    """Each provider's small file parses and has resource types (guards a renamed dump)."""
    from tfschema import _load_schema_file

    data = _load_schema_file(schema_dir() / f"{name}.json")
    assert data["resource"], name


def test_attributes_as_blocks_and_comments(tmp_path):
    """`route { }` is block syntax for a list-of-object attribute; comments are not arguments."""
    mod = _module(tmp_path, """
        resource "aws_route_table" "this" {
          vpc_id = "vpc-1" # inline comment
          # a comment inside the body
          route {
            cidr_block = "0.0.0.0/0"
            gateway_id = "igw-1"
          }
          route {
            cidr_blok = "10.0.0.0/8"
          }
        }
    """)
    _only(check_module(mod), "aws_route_table.this.route[1]: unknown argument 'cidr_blok'")


def test_description_allowance_only_where_the_dump_lost_it(tmp_path):
    """aws.json lost every `description` attribute; google.json did not, so it stays strict."""
    mod = _module(tmp_path, """
        resource "aws_security_group" "this" {
          description = "kept by the real provider"
        }
        resource "aws_vpc" "this" {
          cidr_block = "10.0.0.0/16"
        }
        resource "google_compute_network" "this" {
          name        = "n"
          description = "real google argument"
          descripton  = "typo"
        }
    """)
    _only(check_module(mod), "google_compute_network.this: unknown argument 'descripton'")
