"""cloud-init for the control plane: stream managers (`ccds sm serve` under systemd) and, on
clouds without managed PostgreSQL, the database VM.

The primary control workspace's module replaces `@@CCDS_DATABASE_HOST@@` / `@@CCDS_DATABASE_PORT@@`
with the address of the database it creates; other control placements get the primary's as
`var.database_host` / `var.database_port`.
"""

from __future__ import annotations


from ccds_cli.engines.cloudinit import cloud_config

DB_HOST_PLACEHOLDER = "@@CCDS_DATABASE_HOST@@"
DB_PORT_PLACEHOLDER = "@@CCDS_DATABASE_PORT@@"
DB_HOST_VAR = "@@CCDS_DATABASE_HOST_VAR@@"
DB_PORT_VAR = "@@CCDS_DATABASE_PORT_VAR@@"


def manager_user_data(spec, ws, ccds_version: str) -> str:
    primary = bool((ws.control or {}).get("primary"))
    host = DB_HOST_PLACEHOLDER if primary else DB_HOST_VAR
    db_port = DB_PORT_PLACEHOLDER if primary else DB_PORT_VAR
    port = spec.control.api_port
    auth = spec.security.auth
    auth_args = f" --auth-url {auth.url}" if auth.kind == "round-trip" and auth.url else ""
    script = f"""#!/bin/sh
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q && apt-get install -y -q python3-venv python3-pip
python3 -m venv /opt/ccds && /opt/ccds/bin/pip install -q 'ccds[postgres]=={ccds_version}'
cat > /usr/local/sbin/ccds-sm <<'SM'
#!/bin/sh
. /etc/ccds/node.env
export CCDS_ADMIN_TOKEN="$admin_token" CCDS_NODE_TOKEN="$node_token"
exec /opt/ccds/bin/ccds sm serve --host 0.0.0.0 --port {port} --deployment {spec.name}{auth_args} \\
  --database-url "postgresql+psycopg://ccds:$db_password@{host}:{db_port}/ccds"
SM
chmod 0755 /usr/local/sbin/ccds-sm
cat > /etc/systemd/system/ccds-sm.service <<'UNIT'
[Unit]
Description=ccds stream manager
After=network-online.target
[Service]
ExecStart=/usr/local/sbin/ccds-sm
Restart=always
RestartSec=3
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now ccds-sm.service
"""
    return cloud_config([], script)


def database_user_data(spec) -> str:
    cidrs = sorted({str(r.network.cidr) for r in spec.regions.values()} | {str(spec.control.network.cidr)})
    hba = "".join(f"echo 'hostssl ccds ccds {c} scram-sha-256' >> \"$conf_dir/pg_hba.conf\"\n" for c in cidrs)
    script = f"""#!/bin/sh
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q && apt-get install -y -q postgresql
. /etc/ccds/node.env
conf_dir=$(ls -d /etc/postgresql/*/main | head -n1)
echo "listen_addresses = '*'" >> "$conf_dir/postgresql.conf"
echo "ssl = on" >> "$conf_dir/postgresql.conf"
{hba}systemctl restart postgresql
su postgres -c "psql -v ON_ERROR_STOP=1" <<SQL
DO \\$\\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ccds') THEN
    CREATE ROLE ccds LOGIN PASSWORD '$db_password';
  END IF;
END \\$\\$;
SQL
su postgres -c "createdb -O ccds ccds" || true
"""
    return cloud_config([], script)
