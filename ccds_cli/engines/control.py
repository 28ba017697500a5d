"""cloud-init for the control plane: stream managers (`ccds sm serve` under systemd) and, on
clouds without managed PostgreSQL, the database VM.

The primary control workspace's module replaces `@@CCDS_DATABASE_HOST@@` / `_PORT@@` / `_USER@@` /
`_NAME@@` / `_PASSWORD_B64@@` with the database it creates and the login the managers need (ours,
or the one the cloud generated); other control placements get the primary's as
`var.database_host` ... `var.database_password` (render.py).

The password never passes through a shell or a URL (a cloud-generated one may hold any character):
cloud-init decodes it into a 0600 file, the manager script exports it as PGPASSWORD, which libpq
reads, and the database URL carries no password.
"""

from __future__ import annotations

import shlex

from ccds_cli.engines.cloudinit import cloud_config
from ccds_cli.nodepkg.source import manager_install_script, manager_source

DB_HOST_PLACEHOLDER = "@@CCDS_DATABASE_HOST@@"
DB_PORT_PLACEHOLDER = "@@CCDS_DATABASE_PORT@@"
DB_USER_PLACEHOLDER = "@@CCDS_DATABASE_USER@@"
DB_NAME_PLACEHOLDER = "@@CCDS_DATABASE_NAME@@"
DB_PASSWORD_PLACEHOLDER = "@@CCDS_DATABASE_PASSWORD_B64@@"
DB_HOST_VAR = "@@CCDS_DATABASE_HOST_VAR@@"
DB_PORT_VAR = "@@CCDS_DATABASE_PORT_VAR@@"
DB_USER_VAR = "@@CCDS_DATABASE_USER_VAR@@"
DB_NAME_VAR = "@@CCDS_DATABASE_NAME_VAR@@"
DB_PASSWORD_VAR = "@@CCDS_DATABASE_PASSWORD_B64_VAR@@"
DB_PASSWORD_FILE = "/etc/ccds/db-password"


def manager_user_data(spec, ws, ccds_version: str) -> str:
    primary = ws.control is not None and ws.control.primary
    host = DB_HOST_PLACEHOLDER if primary else DB_HOST_VAR
    db_port = DB_PORT_PLACEHOLDER if primary else DB_PORT_VAR
    user = DB_USER_PLACEHOLDER if primary else DB_USER_VAR
    name = DB_NAME_PLACEHOLDER if primary else DB_NAME_VAR
    password_b64 = DB_PASSWORD_PLACEHOLDER if primary else DB_PASSWORD_VAR
    port = spec.control.api_port
    auth = spec.security.auth
    serve_args = (f" --auth-url {shlex.quote(auth.url)} --auth-timeout {float(auth.timeout_s)!r}"
                  if auth.kind == "round-trip" and auth.url else "")
    from ccds_cli.spec.models import DEFAULT_RENDITIONS, ladder_arg

    if tuple(spec.renditions) != DEFAULT_RENDITIONS:  # the manager's default ladder is the spec's default
        serve_args += f" --renditions {shlex.quote(ladder_arg(spec.renditions))}"
    if ws.control is not None and ws.control.https:
        # The load balancer ends TLS and tells the scheme in X-Forwarded-Proto: trusted from the control
        # network only (where the load balancer is), so URLs the manager hands out say https.
        serve_args += f" --forwarded-allow-ips {shlex.quote(str(spec.control.network.cidr))}"
    operator = ws.control.operator if ws.control is not None else None
    extras = ()
    if operator is not None:  # the controller reads the cloud's inventory with its SDK
        from ccds_cli import clouds

        extra = clouds.get(ws.cloud).extra
        extras = (extra,) if extra else ()
    install = manager_install_script(manager_source(spec.install, ccds_version, extras))
    script = f"""#!/bin/sh
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q && apt-get install -y -q curl python3-venv python3-pip
{install}cat > /usr/local/sbin/ccds-sm <<'SM'
#!/bin/sh
. /etc/ccds/node.env
export CCDS_ADMIN_TOKEN="$admin_token" CCDS_NODE_KEY="$node_key"
PGPASSWORD=$(cat {DB_PASSWORD_FILE})
export PGPASSWORD
# One worker process per core (PostgreSQL; leader duties still run once, see `ccds sm serve --workers`).
exec /opt/ccds/bin/ccds sm serve --host 0.0.0.0 --port {port} --deployment {spec.name}{serve_args} \\
  --workers "$(nproc)" --database-url "{database_url(user, host, db_port, name)}"
SM
chmod 0755 /usr/local/sbin/ccds-sm
{service_unit("ccds-sm", "ccds stream manager", "network-online.target", 3)}{operator_script(operator) if operator is not None else ""}"""
    password_file = {"path": DB_PASSWORD_FILE, "permissions": "0600", "encoding": "b64", "content": password_b64}
    return cloud_config([password_file], script)


# HashiCorp's package signing key (https://www.hashicorp.com/security): the key apt trusts for
# Terraform must be this one, whatever https://apt.releases.hashicorp.com/gpg serves.
HASHICORP_KEY_URL = "https://apt.releases.hashicorp.com/gpg"
HASHICORP_KEY_FINGERPRINT = "798AEC654E5C15428C8E42EEAA16FCBCA621E701"
HASHICORP_KEYRING = "/usr/share/keyrings/hashicorp-archive-keyring.gpg"
OPERATE_STATE_DIR = "/var/lib/ccds"


def operator_script(op) -> str:
    """Shell lines (sh -eu) that make a manager VM run `ccds operate` too (operate.on_managers):
    Terraform from HashiCorp's apt repository, its key checked by fingerprint; a systemd unit that
    runs the controller on the applied spec it downloads from the state bucket (`--from`), against
    the manager on the same VM. Every manager runs one; the lease in the managers' database lets one
    act while the others stand by. The AWS credentials are the instance's (no keys here), the
    manager credentials those of node.env."""
    q = shlex.quote
    env = [f"AWS_REGION={q(op.state_region)}"]
    if op.endpoint:
        env.append(f"AWS_ENDPOINT_URL_S3={q(op.endpoint)}")
    command = " ".join(q(a) for a in (
        "/opt/ccds/bin/ccds", "operate", f"{OPERATE_STATE_DIR}/ccds.yaml", "--from", op.source,
        "--manager", f"http://127.0.0.1:{int(op.api_port)}", "--state-dir", f"{OPERATE_STATE_DIR}/state"))
    return f"""# ccds operate beside this manager (operate.on_managers): Terraform, key checked by fingerprint
apt-get install -y -q gnupg
key=$(mktemp)
curl -fsSL --retry 5 --retry-delay 5 -o "$key" {q(HASHICORP_KEY_URL)}
fingerprints=$(gpg --batch --with-colons --show-keys "$key" | awk -F: '$1 == "pub" {{p = 1; next}} $1 == "fpr" && p {{print $10; p = 0}}')
if [ "$fingerprints" != {HASHICORP_KEY_FINGERPRINT} ]; then
  echo "ccds: {HASHICORP_KEY_URL} is not HashiCorp's signing key {HASHICORP_KEY_FINGERPRINT} (got: $fingerprints)" >&2
  exit 1
fi
gpg --batch --yes --dearmor -o {HASHICORP_KEYRING} "$key"
rm -f "$key"
. /etc/os-release
echo "deb [signed-by={HASHICORP_KEYRING}] https://apt.releases.hashicorp.com $VERSION_CODENAME main" \\
  > /etc/apt/sources.list.d/hashicorp.list
apt-get update -q && apt-get install -y -q terraform
mkdir -p -m 0700 {OPERATE_STATE_DIR}
chmod 0700 {OPERATE_STATE_DIR}
cat > /usr/local/sbin/ccds-operate <<'OPERATE'
#!/bin/sh
. /etc/ccds/node.env
export CCDS_ADMIN_TOKEN="$admin_token" CCDS_NODE_KEY="$node_key"
export {" ".join(env)}
exec {command}
OPERATE
chmod 0755 /usr/local/sbin/ccds-operate
{service_unit("ccds-operate", "ccds operate (the deployment's controller; one of the managers acts, the others stand by)",
               "network-online.target ccds-sm.service", 10)}"""


def service_unit(name: str, description: str, after: str, restart_sec: int) -> str:
    """Shell lines that install and start `/usr/local/sbin/<name>` as a systemd service, restarted always."""
    return f"""cat > /etc/systemd/system/{name}.service <<'UNIT'
[Unit]
Description={description}
After={after}
[Service]
ExecStart=/usr/local/sbin/{name}
Restart=always
RestartSec={restart_sec}
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now {name}.service
"""


def database_url(user: str, host: str, port: str, name: str) -> str:
    """The managers' database URL: no password (PGPASSWORD), TLS required (every database ccds
    creates serves TLS; Cloud SQL, DigitalOcean, Linode and the `database` VMs' pg_hba demand it)."""
    return f"postgresql+psycopg://{user}@{host}:{port}/{name}?sslmode=require"


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
