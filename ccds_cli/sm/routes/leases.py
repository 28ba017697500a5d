"""Leases for programs that must act alone (`ccds operate`), and the demand counters they read (admin).

`POST /leases/{name}` takes or renews a lease for `ttl_s` seconds: always 200, `granted` says whether
the caller holds it now (else `holder` and `expires_at` say who does, until when). `DELETE` gives it
up early. The manager's own leader lease (`leader`) is not available here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from ccds_cli.sm.auth import AdminAuth
from ccds_cli.sm.routes.deps import AUTH, StoreDep, errors
from ccds_cli.sm.schemas import DemandOut, LeaseOut, LeaseRelease, LeaseRequest

router = APIRouter(tags=["leases"])

LeaseName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9._:-]{0,63}$", description="e.g. operate")]
RESERVED = ("leader",)


def _check(name: str) -> None:
    if name in RESERVED:
        raise HTTPException(400, f"lease {name!r} is the stream managers' own")


@router.post("/leases/{name}", response_model=LeaseOut, responses=errors(400, *AUTH, 413, 503))
def take_lease(name: LeaseName, body: LeaseRequest, store: StoreDep, _: AdminAuth):
    """Take the lease when it is free or expired, renew it when the caller holds it."""
    _check(name)
    got = store.acquire_lease(name, body.holder, body.ttl_s)
    return dict(got, now=store.clock())


@router.get("/leases/{name}", response_model=LeaseOut, responses=errors(*AUTH, 404, 413, 503))
def get_lease(name: LeaseName, store: StoreDep, _: AdminAuth):
    row = store.lease(name)
    if row is None:
        raise HTTPException(404, f"lease {name} was never taken")
    now = store.clock()
    return dict(row, granted=False, now=now)


@router.delete("/leases/{name}", response_model=LeaseRelease, responses=errors(400, *AUTH, 413, 503))
def release_lease(name: LeaseName, store: StoreDep, _: AdminAuth,
                  holder: Annotated[str, Query(min_length=1, max_length=128)]):
    """Release early (the holder only): a standby takes over on its next try instead of at expiry."""
    _check(name)
    return {"name": name, "released": store.release_lease(name, holder)}


@router.get("/demand", response_model=DemandOut, responses=errors(*AUTH, 413, 503))
def demand(store: StoreDep, _: AdminAuth):
    """Viewers not placed on an edge of their region, per region: refused, fallback (HLS), spilled."""
    return {"regions": store.demand(), "at": store.clock()}
