"""Before any apply: will the cloud VMs be able to install ccds? (`ccds doctor FILE`, `ccds up`)

* this build: the wheel media nodes get from their stream manager must be buildable from this
  install (`wheel.current()`), or nothing on a cloud could install the operator's code;
* stream managers: their source (`install.requirement` on `install.index_url`, `install.wheel_url`,
  or by default `ccds==<this version>` on PyPI) must be there, and is compared file by file with
  this build. By default a different build is an error (the default promises the operator's
  build, and a same-named package on a public index is not it); an explicit source that is not
  this build is a warning (the managers and their nodes run that one);
* media nodes: they need a control plane to fetch from, and the dependencies from `index_url`.

Findings name the spec field. `require()` turns failures into errors: exit 2 when the spec's
source does not work, 5 when this install cannot produce its wheel. Nothing here changes anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from ccds_cli.errors import BadInput, ExitCode, MissingTool
from ccds_cli.nodepkg import wheel as wheelmod
from ccds_cli.nodepkg.source import ManagerSource, manager_source

MAX_WHEEL_BYTES = 200 * 1024 * 1024
SIMPLE_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


@dataclass
class Finding:
    name: str
    status: str  # pass | fail | warn | skip
    detail: str
    fix: str = ""
    exit_code: int = int(ExitCode.BAD_INPUT)


class _FetchError(Exception):
    pass


def _vms(spec) -> tuple[list[str], list[str]]:
    """(placements of cloud nodes, placements of cloud stream managers): VMs that pip-install ccds."""
    from ccds_cli import clouds

    def on_cloud(placement: str) -> bool:
        cfg = spec.providers.get(placement.partition("/")[0])
        return cfg is not None and clouds.get(cfg.cloud).uses_cloud_init

    nodes = sorted({p for r in spec.regions.values() for p in (r.placement, *r.failover) if on_cloud(p)})
    managers = [p for p in (spec.control.placement if spec.control else []) if on_cloud(p)]
    return nodes, managers


def preflight(loaded, *, client=None, timeout: float = 10.0) -> list[Finding]:
    """Every finding about what the spec's cloud VMs install; makes only read-only HTTP requests."""
    import httpx

    from ccds_cli import __version__

    spec = loaded.spec
    nodes, managers = _vms(spec)
    if not nodes and not managers:
        return [Finding("install", "skip", "no cloud VMs: the local cloud runs this install")]
    out: list[Finding] = []
    try:
        mine = wheelmod.current()
    except wheelmod.WheelError as exc:
        return [Finding("install: this build", "fail", f"this install cannot build the ccds wheel the nodes install: {exc}",
                        "run ccds from a pip install of ccds (or `pip install -e .` in a checkout)",
                        int(ExitCode.MISSING_TOOL))]
    out.append(Finding("install: this build", "pass",
                       f"{mine.filename} sha256 {mine.sha256[:16]} ({mine.size // 1024} KiB), "
                       "served by the stream managers to their nodes at /api/v1/dist/"))
    own = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=True)
    try:
        if nodes and spec.control is None:
            out.append(Finding("install: nodes", "warn",
                               f"control: not set, so the nodes on {', '.join(nodes)} have no stream manager to "
                               "install ccds from (nor to register with)", "add a control: section"))
        if managers:
            out.append(_check_managers(http, manager_source(spec.install, __version__), mine, managers))
        if spec.install.index_url:
            out.append(_check_dependencies(http, spec.install.index_url, mine, bool(managers)))
    finally:
        if own:
            http.close()
    return out


def require(loaded, **kwargs) -> list[str]:
    """Raise (exit 2 or 5) when a VM could not install ccds; return the warnings to show."""
    findings = preflight(loaded, **kwargs)
    failed = [f for f in findings if f.status == "fail"]
    if failed:
        message = "\n".join(f.detail for f in failed)
        hint = "; ".join(dict.fromkeys(f.fix for f in failed if f.fix)) or None
        cls = MissingTool if failed[0].exit_code == ExitCode.MISSING_TOOL else BadInput
        raise cls(f"the cloud VMs could not install ccds (nothing was applied):\n{message}", hint=hint)
    return [f.detail for f in findings if f.status == "warn"]


# --- stream managers -------------------------------------------------------------------------

def _check_managers(http, src: ManagerSource, mine: wheelmod.Wheel, placements: list[str]) -> Finding:
    name = "install: stream managers"
    where = f"the stream managers on {', '.join(placements)}"
    label = (f"{src.field}: not set, so {where} install {src.requirement} from {src.index}" if src.default
             else f"{src.field}: {where} install {src.describe()}")
    publish = ("publish this build (`python -m ccds_cli.nodepkg wheel --out DIR` writes it and prints its "
               "sha256) and set install.wheel_url + install.sha256, or set install.requirement / index_url")
    try:
        if src.wheel_url:
            data = _download(http, src.wheel_url)
            got = hashlib.sha256(data).hexdigest()
            if got != src.sha256:
                return Finding(name, "fail", f"install.sha256 does not match the file at install.wheel_url "
                               f"(the file has {got})", "fix install.sha256 or the file")
        else:
            data, problem = _from_index(http, src)
            if problem:
                return Finding(name, "fail", f"{label}: {problem}", publish)
            if data is None:
                return Finding(name, "warn", f"{label}: the index has only a source archive, which cannot be "
                               "compared with this build")
        theirs = wheelmod.rebuild(data)
    except _FetchError as exc:
        return Finding(name, "fail", f"{label}: {exc}", "check the URL and that it is reachable from here and "
                       "from the VMs")
    except wheelmod.WheelError as exc:
        return Finding(name, "fail", f"{label}: {exc}", publish)
    if theirs.sha256 == mine.sha256:
        return Finding(name, "pass", f"{label}: this very build (sha256 {mine.sha256[:16]})")
    diff = ", ".join(wheelmod.differences(mine, theirs))
    if src.default:
        return Finding(name, "fail", f"{label}, which is not this build (ccds {theirs.version}; differs in {diff}): "
                       "the managers and their nodes would run another ccds than this one", publish)
    return Finding(name, "warn", f"{label}: ccds {theirs.version}, not this build (differs in {diff}); the managers "
                   "and their nodes run that one")


def _from_index(http, src: ManagerSource) -> tuple[bytes | None, str | None]:
    """(the wheel pip would pick, None) or (None, what is wrong); (None, None): only an sdist."""
    from packaging.requirements import Requirement
    from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename

    req = Requirement(src.requirement or "ccds")
    files = _project_files(http, src.index, req.name)
    if files is None:
        return None, f"{src.index} has no project {req.name!r}"
    pinned = any(s.operator in ("==", "===") for s in req.specifier)
    by_version: dict = {}
    for f in files:
        try:
            if f["filename"].endswith(".whl"):
                _n, version, _b, tags = parse_wheel_filename(f["filename"])
                if not any(t.abi == "none" and t.platform == "any" and t.interpreter.startswith("py3") for t in tags):
                    continue
            else:
                _n, version = parse_sdist_filename(f["filename"])
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
        if f["yanked"] and not pinned:
            continue
        by_version.setdefault(version, []).append(f)
    chosen = sorted(req.specifier.filter(by_version), reverse=True)
    if not chosen:
        have = ", ".join(str(v) for v in sorted(by_version, reverse=True)[:6]) or "none"
        return None, f"no release of {req.name} matches {str(req.specifier) or 'any version'} (it has: {have})"
    wheels = [f for f in by_version[chosen[0]] if f["filename"].endswith(".whl")]
    if not wheels:
        return None, None
    f = wheels[0]
    data = _download(http, f["url"])
    if f["sha256"] and hashlib.sha256(data).hexdigest() != f["sha256"]:
        return None, f"{f['filename']} does not match the sha256 the index publishes for it"
    return data, None


def _project_files(http, index: str, project: str) -> list[dict] | None:
    """The files of a project on a PEP 503/691 simple index; None when the index has no such project."""
    from packaging.utils import canonicalize_name

    url = f"{index.rstrip('/')}/{canonicalize_name(project)}/"
    resp = _get(http, url, headers={"Accept": SIMPLE_ACCEPT})
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise _FetchError(f"{url} answered HTTP {resp.status_code}")
    base = str(resp.url)
    if "json" in resp.headers.get("content-type", ""):
        try:
            items = resp.json().get("files", [])
            return [{"filename": i["filename"], "url": urljoin(base, i["url"]),
                     "sha256": (i.get("hashes") or {}).get("sha256"), "yanked": bool(i.get("yanked"))}
                    for i in items]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _FetchError(f"{url} is not a simple repository index (unreadable JSON)") from None
    parser = _Links()
    parser.feed(resp.text)
    return [{"filename": text.strip(), "url": urljoin(base, href.split("#")[0]),
             "sha256": href.partition("#sha256=")[2] or None, "yanked": yanked}
            for href, text, yanked in parser.links]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, bool]] = []
        self._open: tuple[str, bool] | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            a = dict(attrs)
            self._open, self._text = (a.get("href") or "", "data-yanked" in a), ""

    def handle_data(self, data):
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "a" and self._open is not None:
            self.links.append((self._open[0], self._text, self._open[1]))
            self._open = None


# --- dependencies on a private index ----------------------------------------------------------

def _check_dependencies(http, index: str, mine: wheelmod.Wheel, managers: bool) -> Finding:
    """Every direct dependency of this build (and of the postgres extra for managers) is on the index."""
    from packaging.requirements import Requirement

    names = []
    for line in mine.metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.partition(":")[2].strip())
            if req.marker is None or (managers and req.marker.evaluate({"extra": "postgres"})):
                names.append(req.name)
    try:
        missing = [n for n in dict.fromkeys(names) if not _project_files(http, index, n)]
    except _FetchError as exc:
        return Finding("install: dependencies", "fail", f"install.index_url: {exc}", "check install.index_url")
    if missing:
        return Finding("install: dependencies", "fail",
                       f"install.index_url: {index} does not have {', '.join(missing)}, which ccds needs",
                       "mirror ccds's dependencies on that index, or drop index_url to use PyPI")
    return Finding("install: dependencies", "pass", f"install.index_url: {index} has the {len(names)} packages "
                   "ccds depends on")


# --- HTTP ------------------------------------------------------------------------------------

def _get(http, url: str, **kwargs):
    import httpx

    try:
        return http.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise _FetchError(f"cannot reach {urlsplit(url).netloc}: {exc}") from None


def _download(http, url: str) -> bytes:
    import httpx

    try:
        with http.stream("GET", url) as resp:
            if resp.status_code != 200:
                raise _FetchError(f"{url} answered HTTP {resp.status_code}")
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > MAX_WHEEL_BYTES:
                    raise _FetchError(f"{url} is larger than {MAX_WHEEL_BYTES // 2**20} MiB: not a ccds wheel")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise _FetchError(f"cannot fetch {url}: {exc}") from None
