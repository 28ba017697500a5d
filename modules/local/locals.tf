# Pure computations over the inputs: node list, loopback ports, pull topology and the exact
# command lines the provisioners run.

locals {
  name      = "${var.deployment}-${var.workspace}"
  state_dir = trimsuffix(var.settings["state_dir"], "/")
  python    = lookup(var.settings, "python", "python3")
  base_port = tonumber(lookup(var.settings, "base_port", "19300"))
  host      = "127.0.0.1"

  # Ports: pool number p (position in the sorted pool names) owns base_port + 100*p .. +99 and
  # node i of it takes the pair +2i (rtmp, or the API of a manager) and +2i+1 (http stats).
  # Scaling a pool never moves another node's ports.
  pool_names = sort(keys(var.pools))

  nodes = merge([
    for pi, pool in local.pool_names : {
      for i in range(var.pools[pool].count) : "${pool}-${i}" => {
        pool      = pool
        index     = i
        role      = var.pools[pool].role
        name      = "${local.name}-${pool}-${i}"
        rtmp_port = local.base_port + 100 * pi + 2 * i
        http_port = local.base_port + 100 * pi + 2 * i + 1
      }
    }
  ]...)

  managers = { for k, n in local.nodes : k => n if n.role == "manager" }
  media    = { for k, n in local.nodes : k => n if n.role != "manager" }

  # Managers serve their API on the node's first port.
  ports = {
    for k, n in local.nodes : k => n.role == "manager" ? tomap({ api = n.rtmp_port }) : tomap({ rtmp = n.rtmp_port, http = n.http_port })
  }

  # Pull topology: relays pull from the first origin; edges spread over the relays when there are
  # any, else pull from the first origin. settings.origin_url names an origin elsewhere (used when
  # this workspace has none).
  origin_keys = sort([for k, n in local.media : k if n.role == "origin"])
  relay_keys  = sort([for k, n in local.media : k if n.role == "relay"])
  origin_url  = length(local.origin_keys) > 0 ? "rtmp://${local.host}:${local.nodes[local.origin_keys[0]].rtmp_port}/live" : lookup(var.settings, "origin_url", "")
  pull = {
    for k, n in local.media : k => (
      n.role == "origin" || n.role == "transcoder" ? "" :
      n.role == "edge" && length(local.relay_keys) > 0 ? "rtmp://${local.host}:${local.nodes[local.relay_keys[n.index % length(local.relay_keys)]].rtmp_port}/live" :
      local.origin_url
    )
  }

  manager_url    = lookup(var.settings, "manager_url", "")
  default_db_url = "sqlite:///${local.state_dir}/sm.db"
  default_capacity = {
    origin     = 20
    relay      = 8
    edge       = 200
    transcoder = 4
  }
  # The ABR ladder (HEIGHT:KBPS,...): transcoders publish it, managers list it in subscribe answers.
  renditions = lookup(var.settings, "renditions", "")

  common_args = ["--state-dir", local.state_dir, "--python", local.python, "--deployment", var.deployment]

  start_args = merge(
    {
      for k, n in local.managers : k => concat(local.common_args, [
        "--name", n.name, "--role", "manager", "--http-port", tostring(n.rtmp_port),
        "--database-url", lookup(var.settings, "database_url", local.default_db_url),
        ], lookup(var.settings, "heartbeat_timeout", "") != "" ? ["--heartbeat-timeout", var.settings["heartbeat_timeout"]] : [],
        local.renditions != "" ? ["--renditions", local.renditions] : [],
      )
    },
    {
      for k, n in local.media : k => concat(local.common_args, [
        "--name", n.name, "--role", n.role,
        "--rtmp-port", tostring(n.rtmp_port), "--http-port", tostring(n.http_port),
        ], local.pull[k] != "" ? ["--origin", local.pull[k]] : [],
        n.role == "transcoder" && local.renditions != "" ? ["--renditions", local.renditions] : [],
        n.role == "origin" && lookup(var.settings, "fallback", "none") == "hls" ? ["--hls"] : [],
        local.manager_url == "" ? [] : concat([
          "--manager-url", local.manager_url, "--region", var.workspace,
          "--provider", lookup(var.settings, "provider", "local"),
          "--capacity", lookup(var.settings, "capacity_${n.pool}", tostring(local.default_capacity[n.role])),
          ],
          lookup(var.settings, "lat", "") != "" ? ["--lat", var.settings["lat"]] : [],
          lookup(var.settings, "lon", "") != "" ? ["--lon", var.settings["lon"]] : [],
          lookup(var.settings, "agent_interval", "") != "" ? ["--interval", var.settings["agent_interval"]] : [],
        ),
      )
    },
  )

  # POSIX shell quoting, so paths with spaces or quotes reach the supervisor intact. `exec`: when an
  # interrupted apply kills the provisioner, it kills the supervisor itself, not only its shell (an
  # orphaned `start` finishing later raced the next `ccds up` for the same node).
  start_command = {
    for k, args in local.start_args : k => "exec ${join(" ", [
      for a in concat([local.python, "-m", "ccds_cli.localcloud", "start"], args) : "'${replace(a, "'", "'\\''")}'"
    ])}"
  }

  # `ccds operate` beside the first manager (control workspace, when ccds asks for it): the deployment
  # runs itself. It reads the spec and the deployment's state directory, and acts through Terraform.
  controller_spec = lookup(var.settings, "controller_spec", "")
  controller = local.controller_spec != "" && length(local.managers) > 0 ? {
    name = "${local.name}-controller"
    args = concat(local.common_args, [
      "--name", "${local.name}-controller", "--role", "controller", "--spec", local.controller_spec,
      "--ccds-state-dir", lookup(var.settings, "controller_state_root", ""),
      "--manager-url", "http://${local.host}:${local.nodes[sort(keys(local.managers))[0]].rtmp_port}",
    ])
  } : null
  controller_command = local.controller == null ? "" : "exec ${join(" ", [
    for a in concat([local.python, "-m", "ccds_cli.localcloud", "start"], local.controller.args) : "'${replace(a, "'", "'\\''")}'"
  ])}"

  # Secrets reach the processes only through the provisioner's environment, each node its own share
  # (../README.md, `secrets`): a manager the admin token and the node key, a media node its own node
  # credential, the controller the admin token.
  node_env = {
    for k, n in local.nodes : k => n.role == "manager" ? tomap({
      CCDS_ADMIN_TOKEN = lookup(var.secrets, "${n.pool}/admin_token", "")
      CCDS_NODE_KEY    = lookup(var.secrets, "${n.pool}/node_key", "")
    }) : tomap({ CCDS_NODE_TOKEN = lookup(var.secrets, "${n.pool}/${n.index}/node_token", "") })
  }
  controller_env = local.controller == null ? {} : {
    CCDS_ADMIN_TOKEN = lookup(var.secrets, "${local.nodes[sort(keys(local.managers))[0]].pool}/admin_token", "")
  }
}
