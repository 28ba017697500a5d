"""The deployment's own state shared through its remote state store, beside the Terraform state.

With a remote state backend Terraform's state is already shared by every runner; the decisions ccds
keeps besides it are too, so a controller on a stream manager VM (`ccds operate --from`), a CI runner
and a laptop see the same deployment. With `backend: s3` they live as objects under
`<key_prefix>/<name>/ccds/`; with `backend: pg` as rows of `<schema_prefix>_<name>_ccds.shared`:

* `spec.yaml`     the spec the last `ccds up` applied (a controller elsewhere runs from it);
* `scale.json`    counts set by `ccds scale` and the controller;
* `failover.json` placements chosen by `ccds failover` and the controller;
* `operate.json`  the controller's block list, memory and who ran it (from `operate.db`);
* `ledger.json`   the newest operations and their events (from `ledger.db`), so `ccds events` on one
                  machine shows what a controller on another decided.

Secrets are not among them: runners restore `secrets.json` as docs/ci.md says, and the controller on
a manager VM reads the two it needs from that VM's own environment.

Every runner keeps the version it last saw (ETag and content, in `shared/`). `pull` takes the
store's newer version; a document changed here meanwhile is merged key by key (a region's count, a
block-list entry: ours where we changed it, theirs elsewhere). `push` writes only what changed, with
a conditional write (If-Match the version we saw, or If-None-Match for a new object): when another
runner wrote in between, the store refuses (412), we pull, merge and try again, a bounded number of
times. So two runners never silently undo each other's decisions.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ccds_cli.errors import CcdsError, ExitCode

SPEC = "spec.yaml"
DOCUMENTS = ("scale.json", "failover.json", "operate.json", "ledger.json")
PUSH_TRIES = 5


class SharedStateError(CcdsError):
    """The store cannot be read or written (credentials, network, a foreign object): exit 1."""


class Conflict(Exception):
    """The store holds another version than the one a conditional write named."""


@dataclass
class Codec:
    """How one shared document is read from and written to this runner's deployment directory
    (most are the file itself; `operate.json` is an export of `operate.db`)."""

    read: Callable[[Path], dict]
    write: Callable[[Path, dict], None]
    depth: int = 1  # merge granularity: 1 = top-level keys, 2 = keys of each top-level object


def _scale_ok(data: dict) -> bool:
    return all(isinstance(roles, dict) and all(
        isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 100_000 for n in roles.values())
        for roles in data.values())


def _failover_ok(data: dict) -> bool:
    return all(isinstance(v, str) and len(v) < 300 for v in data.values())


def _file_codec(name: str, depth: int = 1, ok: Callable[[dict], bool] = lambda data: True) -> Codec:
    def read(root: Path) -> dict:
        path = root / name
        if not path.is_file():
            return {}
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}

    def write(root: Path, data: dict) -> None:
        if not ok(data):
            raise ValueError(f"unexpected values in {name}")
        tmp = root / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, root / name)

    return Codec(read, write, depth)


def _operate_codec() -> Codec:
    from ccds_cli.operate import state as operate_state

    return Codec(operate_state.export_shared, operate_state.import_shared, depth=2)


def _ledger_codec() -> Codec:
    from ccds_cli.state.ledger import Ledger

    return Codec(lambda root: Ledger(root / "ledger.db").export_shared(),
                 lambda root, data: Ledger(root / "ledger.db").import_shared(data))


def codec(name: str) -> Codec:
    if name == "operate.json":
        return _operate_codec()
    if name == "ledger.json":  # {operation uid: operation}: merged per operation
        return _ledger_codec()
    if name == "scale.json":  # {region: {role: count}}: merged per pool
        return _file_codec(name, 2, _scale_ok)
    return _file_codec(name, 1, _failover_ok)  # failover.json {region: alias/region}


def merge3(base: dict, ours: dict, theirs: dict, depth: int = 1) -> dict:
    """Theirs, with the keys we changed since `base` taken from ours (a key we removed is removed)."""
    merged = dict(theirs)
    for key in set(base) | set(ours):
        if key in ours and key in base and ours[key] == base[key]:
            continue
        if key not in ours and key not in base:
            continue
        if depth > 1 and isinstance(ours.get(key), dict) and isinstance(theirs.get(key), dict):
            b = base.get(key) if isinstance(base.get(key), dict) else {}
            merged[key] = merge3(b, ours[key], theirs[key], depth - 1)
        elif key in ours:
            merged[key] = ours[key]
        else:
            merged.pop(key, None)
    return merged


def canonical(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


class S3Objects:
    """The objects under one prefix of an S3 (or S3-compatible) bucket, with conditional writes."""

    def __init__(self, bucket: str, prefix: str, region: str, endpoint: str | None = None,
                 path_style: bool = False):
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.region, self.endpoint, self.path_style = region, endpoint, path_style
        self._client = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/"

    def client(self):
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise SharedStateError("the shared deployment state in S3 needs boto3", hint="pip install 'ccds[aws]'",
                                       exit_code=ExitCode.MISSING_TOOL) from None
            config = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10, read_timeout=30,
                            s3={"addressing_style": "path" if self.path_style else "auto"})
            self._client = boto3.session.Session().client("s3", region_name=self.region,
                                                          endpoint_url=self.endpoint, config=config)
        return self._client

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def get(self, name: str, etag: str | None = None) -> tuple[bytes, str] | None | bool:
        """(body, etag); None when there is no such object; False when it is still `etag`."""
        from botocore.exceptions import BotoCoreError, ClientError

        args = {"Bucket": self.bucket, "Key": self._key(name)}
        if etag:
            args["IfNoneMatch"] = etag
        try:
            got = self.client().get_object(**args)
            return got["Body"].read(), got["ETag"]
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("304", "NotModified") or status == 304:
                return False
            if code in ("NoSuchKey", "404") or status == 404:
                return None
            raise self._error("read", name, exc) from None
        except BotoCoreError as exc:
            raise self._error("read", name, exc) from None

    def put(self, name: str, body: bytes, etag: str | None, *, conditional: bool = True) -> str:
        """Write the object if it is still `etag` (None: if it does not exist); its new ETag."""
        from botocore.exceptions import BotoCoreError, ClientError

        args = {"Bucket": self.bucket, "Key": self._key(name), "Body": body, "ServerSideEncryption": "AES256",
                "ContentType": "application/yaml" if name.endswith(".yaml") else "application/json"}
        if conditional:
            args.update({"IfMatch": etag} if etag else {"IfNoneMatch": "*"})
        try:
            return self.client().put_object(**args)["ETag"]
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise Conflict(name) from None
            raise self._error("write", name, exc) from None
        except BotoCoreError as exc:
            raise self._error("write", name, exc) from None

    def _error(self, verb: str, name: str, exc: Exception) -> SharedStateError:
        return SharedStateError(f"cannot {verb} the shared deployment state {self.url}{name}: {exc}",
                                hint="the runner needs s3:GetObject/PutObject on the deployment's prefix of the "
                                     "state bucket (docs/ci.md)")


class PgObjects:
    """The same documents in the `pg` state backend's database: one row per document in the schema
    `<schema_prefix>_<name>_ccds` beside Terraform's, the row's version standing for the ETag (a
    conditional write is an UPDATE of the version seen)."""

    def __init__(self, conninfo_env: str, schema: str):
        self.conninfo_env, self.schema = conninfo_env, schema
        self._db = None

    @property
    def url(self) -> str:
        return f"pg:{self.schema}.shared/"

    def _conn(self):
        if self._db is not None and not self._db.closed:
            return self._db
        try:
            import psycopg
        except ImportError:
            raise SharedStateError("the shared deployment state in PostgreSQL needs psycopg",
                                   hint="pip install 'ccds[postgres]'", exit_code=ExitCode.MISSING_TOOL) from None
        conninfo = os.environ.get(self.conninfo_env, "")
        try:
            db = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
            schema = psycopg.sql.Identifier(self.schema)
            db.execute(psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            db.execute(psycopg.sql.SQL("CREATE TABLE IF NOT EXISTS {}.shared (name text PRIMARY KEY, body bytea "
                                       "NOT NULL, version bigint NOT NULL)").format(schema))
        except psycopg.Error as exc:
            raise self._error("reach", "", exc) from None
        self._db = db
        return db

    def _run(self, verb: str, name: str, query: str, args: tuple):
        import psycopg

        try:
            return self._conn().execute(psycopg.sql.SQL(query).format(psycopg.sql.Identifier(self.schema)),
                                        args).fetchone()
        except psycopg.Error as exc:
            self._db = None
            raise self._error(verb, name, exc) from None

    def get(self, name: str, etag: str | None = None) -> tuple[bytes, str] | None | bool:
        row = self._run("read", name, "SELECT body, version FROM {}.shared WHERE name = %s", (name,))
        if row is None:
            return None
        if etag is not None and str(row[1]) == etag:
            return False
        return bytes(row[0]), str(row[1])

    def put(self, name: str, body: bytes, etag: str | None, *, conditional: bool = True) -> str:
        if not conditional:
            row = self._run("write", name, "INSERT INTO {}.shared (name, body, version) VALUES (%s, %s, 1) "
                            "ON CONFLICT (name) DO UPDATE SET body = excluded.body, "
                            "version = shared.version + 1 RETURNING version", (name, body))
        elif etag is None:
            row = self._run("write", name, "INSERT INTO {}.shared (name, body, version) VALUES (%s, %s, 1) "
                            "ON CONFLICT (name) DO NOTHING RETURNING version", (name, body))
        else:
            row = self._run("write", name, "UPDATE {}.shared SET body = %s, version = version + 1 "
                            "WHERE name = %s AND version = %s RETURNING version", (body, name, int(etag)))
        if row is None:
            raise Conflict(name)
        return str(row[0])

    def _error(self, verb: str, name: str, exc: Exception) -> SharedStateError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return SharedStateError(f"cannot {verb} the shared deployment state {self.url}{name}: {first}",
                                hint="the state database must accept the connection string of state.conn_str_env")


class SharedState:
    """One runner's view of the shared documents of a deployment (see the module docstring)."""

    def __init__(self, root: Path, objects: S3Objects):
        self.root, self.objects = Path(root), objects
        self.seen_dir = self.root / "shared"

    # what this runner last saw of each document: {name: {"etag": ..., "sha256": ...}} + a copy
    def _seen(self) -> dict[str, dict[str, str]]:
        path = self.seen_dir / "seen.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _see(self, name: str, etag: str, body: bytes) -> None:
        self.seen_dir.mkdir(exist_ok=True, mode=0o700)
        (self.seen_dir / name).write_bytes(body)
        seen = self._seen()
        seen[name] = {"etag": etag, "sha256": hashlib.sha256(body).hexdigest()}
        tmp = self.seen_dir / ".seen.tmp"
        tmp.write_text(json.dumps(seen, indent=2, sort_keys=True))
        os.replace(tmp, self.seen_dir / "seen.json")

    def _base(self, name: str) -> dict:
        try:
            data = json.loads((self.seen_dir / name).read_bytes())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def pull(self) -> list[str]:
        """Take what other runners wrote; the names of the documents that changed here."""
        changed = []
        seen = self._seen()
        for name in DOCUMENTS:
            got = self.objects.get(name, (seen.get(name) or {}).get("etag"))
            if got is False or got is None:
                continue  # unchanged since we saw it, or never written
            body, etag = got
            try:
                theirs = json.loads(body)
            except ValueError:
                raise SharedStateError(f"{self.objects.url}{name} is not JSON: not written by ccds; remove or "
                                       "repair the object") from None
            if not isinstance(theirs, dict):
                raise SharedStateError(f"{self.objects.url}{name}: expected a JSON object")
            c = codec(name)
            ours = c.read(self.root)
            base = self._base(name)
            merged = theirs if ours == base else merge3(base, ours, theirs, c.depth)
            if merged != ours:
                try:
                    c.write(self.root, merged)
                except (TypeError, ValueError, AttributeError, KeyError, sqlite3.Error) as exc:
                    raise SharedStateError(f"{self.objects.url}{name} is not as ccds writes it ({exc}); remove "
                                           "or repair the object") from None
                changed.append(name)
            self._see(name, etag, body)
        return changed

    def push(self) -> list[str]:
        """Write what changed here since we last saw the store; the names written."""
        written = []
        for name in DOCUMENTS:
            c = codec(name)
            for _ in range(PUSH_TRIES):
                ours = c.read(self.root)
                if ours == self._base(name) and name in self._seen():
                    break
                if not ours and name not in self._seen():
                    break  # nothing to say and nothing said before
                body = canonical(ours)
                try:
                    etag = self.objects.put(name, body, (self._seen().get(name) or {}).get("etag"))
                except Conflict:
                    self.pull()  # merge what the other runner wrote, then try again
                    continue
                self._see(name, etag, body)
                written.append(name)
                break
            else:
                raise SharedStateError(f"{self.objects.url}{name} kept changing under us ({PUSH_TRIES} tries): "
                                       "another runner writes it continuously", hint="re-run the command")
        return written

    def push_spec(self, raw: bytes) -> None:
        """The spec just applied: last writer wins (it is what the last `up` applied)."""
        self.objects.put(SPEC, raw, None, conditional=False)


def for_spec(spec: Any, root: Path) -> SharedState | None:
    """The shared state of a deployment whose spec keeps its state in S3 or PostgreSQL; None for the
    others (local state is this machine's own; gcs and azurerm share Terraform state only)."""
    st = spec.state
    if st.backend == "pg":
        schema = f"{st.schema_prefix}_{spec.name}_ccds".replace("-", "_").replace(".", "_")
        return SharedState(root, PgObjects("PG_CONN_STR", schema))
    if st.backend != "s3":
        return None
    prefix = f"{st.key_prefix.strip('/')}/{spec.name}/ccds"
    return SharedState(root, S3Objects(st.bucket, prefix, st.region, st.endpoint, st.use_path_style))
