"""The spec's `install:` section: validation of each value, and the shell lines cloud-init runs.

Who installs what (docs/spec.md, "install"):
* stream managers on a cloud install `install.requirement` (from `install.index_url`) or the
  `install.wheel_url` file checked against `install.sha256`; without an `install:` section,
  `ccds==<this version>` from PyPI. Always with the `postgres` extra.
* media nodes install the wheel their stream manager runs, served by it at `/api/v1/dist/` and
  checked against the sha256 it publishes (`ccds_cli/nodepkg/wheel.py`), so agent and manager are
  one build; their dependencies come from `install.index_url` (PyPI without it).
* the local cloud installs nothing: its nodes and managers run this very install.

Every value that reaches a shell is validated here (a conservative character set, parsed for its
kind) and `shlex.quote`d where it is used.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_INDEX = "https://pypi.org/simple"
MANAGER_EXTRA = "postgres"
VENV = "/opt/ccds"
DIST_DIR = "/var/lib/ccds/dist"
DIST_PATH = "/api/v1/dist"

# RFC 3986 characters minus the ones a shell gives meaning to ($ ' ( ) * ; and the quote/space/
# backslash family, which are not URL characters anyway). Percent-encode anything else.
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!&+,=%]+$")
_REQ_CHARS = re.compile(r"^[A-Za-z0-9._\-\[\],=<>!~* ]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _bad_chars(value: str, allowed: re.Pattern, what: str, hint: str) -> None:
    if not allowed.match(value):
        bad = sorted({ch for ch in value if not allowed.match(ch)})
        shown = " ".join(repr(ch) for ch in bad[:6])
        raise ValueError(f"{what} may not contain {shown}: it reaches a shell on the VMs ({hint})"
                         if bad else f"{what} is empty")


def check_url(value: str, what: str = "a URL") -> str:
    """An http(s) URL with a host, no credentials, no fragment, no shell metacharacters."""
    value = value.strip()
    _bad_chars(value, _URL_CHARS, what, "percent-encode other characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{what} must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError(f"{what} may not carry credentials (user:password@): secrets never live in the spec")
    if not parts.hostname:
        raise ValueError(f"{what} has no host")
    try:
        parts.port
    except ValueError:
        raise ValueError(f"{what} has an invalid port") from None
    if parts.fragment or "#" in value:
        raise ValueError(f"{what} may not have a #fragment (give the hash as install.sha256)")
    if re.search(r"%(?![0-9A-Fa-f]{2})", value):
        raise ValueError(f"{what} has a '%' that is not a percent-escape")
    return value


def wheel_filename(url: str) -> str:
    """The wheel file a wheel URL names: `ccds-<version>-py3-none-any.whl` (pip needs the name)."""
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    try:
        dist, _version, _build, tags = parse_wheel_filename(name)
    except InvalidWheelFilename:
        raise ValueError(f"the URL must end with a wheel file name such as ccds-1.2.3-py3-none-any.whl, "
                         f"not {name!r}") from None
    if canonicalize_name(dist) != "ccds":
        raise ValueError(f"the wheel must be a ccds wheel, not {name!r}")
    if not any(t.interpreter in ("py3", "py311", "py312", "py313") and t.abi == "none" and t.platform == "any"
               for t in tags):
        raise ValueError(f"the wheel must be pure Python, tagged py3-none-any, not {name!r}")
    if not re.match(r"^[A-Za-z0-9._+!-]+$", name):
        raise ValueError(f"unexpected characters in the wheel file name {name!r}")
    return name


def check_requirement(value: str) -> str:
    """A PEP 508 requirement on ccds: a name, extras and version specifiers; no URL, no marker."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    value = value.strip()
    _bad_chars(value, _REQ_CHARS, "a requirement",
               "a name, extras and version specifiers such as 'ccds==1.2.3'; for a URL use wheel_url")
    try:
        req = Requirement(value)
    except InvalidRequirement as exc:
        raise ValueError(f"not a PEP 508 requirement: {str(exc).splitlines()[0]}") from None
    if canonicalize_name(req.name) != "ccds":
        raise ValueError("the VMs install ccds: the requirement must name ccds, e.g. 'ccds==1.2.3' (a fork "
                         "can be published as ccds on its own index: index_url)")
    return str(req)


def check_sha256(value: str) -> str:
    value = value.strip().lower()
    if not _SHA256.match(value):
        raise ValueError("expected 64 hexadecimal digits (the output of `sha256sum`)")
    return value


def spec_checks(install) -> list[tuple[tuple, str]]:
    """Cross-field rules of `install:` as (field path, message), for spec/checks.py."""
    out: list[tuple[tuple, str]] = []
    if install.requirement and install.wheel_url:
        out.append((("install", "wheel_url"), "give requirement or wheel_url, not both"))
    if install.wheel_url and not install.sha256:
        out.append((("install", "wheel_url"), "wheel_url needs sha256: the VMs check the file they download "
                    "against it (`sha256sum` of the file, or `python -m ccds_cli.nodepkg wheel` prints it)"))
    if install.sha256 and not install.wheel_url:
        out.append((("install", "sha256"), "sha256 is the hash of the wheel_url file; give wheel_url too"))
    return out


@dataclass(frozen=True)
class ManagerSource:
    """What stream managers on a cloud pip-install, and the spec field that says so (for messages)."""

    field: str  # install.requirement | install.wheel_url
    default: bool = False  # no requirement nor wheel_url given: ccds==<this version>
    requirement: str | None = None  # with the postgres extra
    wheel_url: str | None = None
    sha256: str | None = None
    index_url: str | None = None  # None: PyPI
    extras: tuple[str, ...] = (MANAGER_EXTRA,)  # pip extras of ccds the managers install

    @property
    def index(self) -> str:
        return self.index_url or DEFAULT_INDEX

    def describe(self) -> str:
        return self.wheel_url or f"{self.requirement} from {self.index}"


def manager_source(install, version: str, extras: tuple[str, ...] = ()) -> ManagerSource:
    """Resolve the spec's `install` (a models.Install, or None) for the stream managers; `extras`
    beside the postgres one (`aws` where the managers also run `ccds operate` on AWS)."""
    from packaging.requirements import Requirement

    index_url = getattr(install, "index_url", None)
    wanted = tuple(sorted({MANAGER_EXTRA, *extras}))
    if install is not None and install.wheel_url:
        return ManagerSource("install.wheel_url", wheel_url=install.wheel_url, sha256=install.sha256,
                             index_url=index_url, extras=wanted)
    given = install.requirement if install is not None else None
    req = Requirement(given or f"ccds=={version}")
    req.extras = set(req.extras) | set(wanted)
    return ManagerSource("install.requirement", default=not given, requirement=str(req), index_url=index_url,
                         extras=wanted)


def _pip(venv: str, index_url: str | None) -> str:
    index = f" --index-url {shlex.quote(index_url)}" if index_url else ""
    return f"{shlex.quote(venv + '/bin/pip')} install -q --disable-pip-version-check{index}"


def manager_install_script(src: ManagerSource, venv: str = VENV, dist_dir: str = DIST_DIR) -> str:
    """Shell lines (sh -eu) that give a stream manager VM its ccds."""
    lines = [f"python3 -m venv {shlex.quote(venv)}"]
    if src.wheel_url:
        name = wheel_filename(src.wheel_url)
        path = f"{dist_dir}/{name}"
        lines += [
            f"mkdir -p {shlex.quote(dist_dir)}",
            f"curl -fsSL --retry 5 --retry-delay 5 -o {shlex.quote(path)} {shlex.quote(src.wheel_url)}",
            f"echo {shlex.quote(f'{src.sha256}  {path}')} | sha256sum -c --strict -",
            f"{_pip(venv, src.index_url)} {shlex.quote(path + '[' + ','.join(src.extras) + ']')}",
        ]
    else:
        lines.append(f"{_pip(venv, src.index_url)} {shlex.quote(src.requirement or '')}")
    return "\n".join(lines) + "\n"


def node_install_script(index_url: str | None, venv: str = VENV, dist_dir: str = DIST_DIR,
                        attempts: int = 180) -> str:
    """Shell lines (sh -eu) that install on a media node the wheel its stream manager serves.

    Needs `$CCDS_MANAGER_URL` (from /etc/ccds/agent.env). Waits for the manager (it may still be
    installing itself): `attempts` tries 10 s apart. The file name and hash the manager publishes
    are checked for their form before they are used, always inside double quotes.
    """
    dist = shlex.quote(dist_dir)
    return f"""\
test -n "${{CCDS_MANAGER_URL:-}}" || {{ echo "ccds: no stream manager URL: cannot install ccds" >&2; exit 1; }}
mkdir -p {dist}
n=0
until curl -fsS -o {dist}/SHA256SUMS "$CCDS_MANAGER_URL{DIST_PATH}/SHA256SUMS"; do
  n=$((n + 1)); [ "$n" -lt {int(attempts)} ] || {{ echo "ccds: the stream manager does not serve ccds" >&2; exit 1; }}
  sleep 10
done
read -r sum whl < {dist}/SHA256SUMS
case "$sum" in *[!0-9a-f]*|"") echo "ccds: bad sha256 from the stream manager" >&2; exit 1;; esac
[ "${{#sum}}" -eq 64 ] || {{ echo "ccds: bad sha256 from the stream manager" >&2; exit 1; }}
case "$whl" in *[!A-Za-z0-9._+!-]*|"") echo "ccds: bad wheel name from the stream manager" >&2; exit 1;; esac
case "$whl" in ccds-*-py3-none-any.whl) ;; *) echo "ccds: bad wheel name from the stream manager" >&2; exit 1;; esac
curl -fsS -o {dist}/"$whl" "$CCDS_MANAGER_URL{DIST_PATH}/$whl"
(cd {dist} && printf '%s  %s\\n' "$sum" "$whl" | sha256sum -c --strict -)
python3 -m venv {shlex.quote(venv)}
{_pip(venv, index_url)} {dist}/"$whl"
"""
