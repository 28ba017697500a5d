# Local cloud: every node is a set of local processes (nginx-rtmp and its agent, or a stream
# manager) supervised by `python -m ccds_cli.localcloud`. Built-in terraform_data resources run it
# at create time and stop the node at destroy time; no provider is downloaded.
#
# A destroy-time provisioner may only read `self`, so everything `stop` needs travels in `input`.
# `triggers_replace` holds the full start command: a changed port or pull target replaces the node.

resource "terraform_data" "manager" {
  for_each = local.managers

  triggers_replace = local.start_args[each.key]
  input = {
    python    = local.python
    state_dir = local.state_dir
    name      = each.value.name
    tags      = merge(var.tags, { "ccds-role" = each.value.role, "ccds-pool" = each.value.pool })
  }

  provisioner "local-exec" {
    command     = local.start_command[each.key]
    environment = local.node_env[each.key]
  }

  provisioner "local-exec" {
    when    = destroy
    command = "'${replace(self.input.python, "'", "'\\''")}' -m ccds_cli.localcloud stop --state-dir '${replace(self.input.state_dir, "'", "'\\''")}' --name '${self.input.name}'"
  }
}

resource "terraform_data" "controller" {
  for_each = local.controller == null ? {} : { controller = local.controller }

  triggers_replace = each.value.args
  input = {
    python    = local.python
    state_dir = local.state_dir
    name      = each.value.name
  }

  provisioner "local-exec" {
    command     = local.controller_command
    environment = local.controller_env
  }

  provisioner "local-exec" {
    when    = destroy
    command = "'${replace(self.input.python, "'", "'\\''")}' -m ccds_cli.localcloud stop --state-dir '${replace(self.input.state_dir, "'", "'\\''")}' --name '${self.input.name}'"
  }

  depends_on = [terraform_data.manager]
}

resource "terraform_data" "this" {
  for_each = local.media

  triggers_replace = local.start_args[each.key]
  input = {
    python    = local.python
    state_dir = local.state_dir
    name      = each.value.name
    tags      = merge(var.tags, { "ccds-role" = each.value.role, "ccds-pool" = each.value.pool })
  }

  provisioner "local-exec" {
    command = local.start_command[each.key]
    # Only nodes with an agent see their (sensitive) credential: Terraform hides the output of
    # commands whose environment is sensitive, and a failing start should be able to say why.
    environment = local.manager_url != "" ? local.node_env[each.key] : {}
  }

  provisioner "local-exec" {
    when    = destroy
    command = "'${replace(self.input.python, "'", "'\\''")}' -m ccds_cli.localcloud stop --state-dir '${replace(self.input.state_dir, "'", "'\\''")}' --name '${self.input.name}'"
  }

  # Agents register with a manager of the same workspace, so managers come up first.
  depends_on = [terraform_data.manager]
}
