"""Node registry: agents register/heartbeat/deregister themselves (their own node credential);
operators list and drain (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ccds_cli.sm.auth import AdminAuth, NodeAuth, OwnNodeAuth, check_registration
from ccds_cli.sm.beat import lean_heartbeat
from ccds_cli.sm.routes.deps import AUTH, StoreDep, errors
from ccds_cli.sm.schemas import Heartbeat, HeartbeatAnswer, NodeOut, NodeRegister, NodeState

router = APIRouter(prefix="/nodes", tags=["nodes"])


@router.post("", response_model=NodeOut, status_code=201, responses=errors(400, *AUTH, 413, 503))
def register(body: NodeRegister, store: StoreDep, who: NodeAuth):
    """Register (or re-register) a node; it starts in STARTING until its engine answers."""
    check_registration(who, body)
    return store.register(body.model_dump())


@router.post("/{node_id}/heartbeat", response_model=HeartbeatAnswer, responses=errors(400, *AUTH, 404, 413, 503))
async def heartbeat(request: Request, node_id: str, body: Heartbeat, store: StoreDep, _: OwnNodeAuth):
    """Report counters; 404 means the manager forgot the node and the agent must register again.

    Echo `peers_version` and send the stream list as a diff against `streams_seq` (see the schema):
    the answer then costs the same whatever the deployment's size. Beat again after `interval` s."""
    hb = body.model_dump()
    answer = await lean_heartbeat(store, request.app.state.pg_pool, node_id, hb)
    if answer is None:  # a state change, an origin's new streams, an unknown node: the general path
        answer = await run_in_threadpool(store.heartbeat, node_id, hb)
    return JSONResponse(answer)


@router.delete("/{node_id}", response_model=NodeOut, responses=errors(*AUTH, 404, 413, 503))
def deregister(node_id: str, store: StoreDep, _: OwnNodeAuth):
    """A node leaving cleanly (its agent got SIGTERM): TERMINATED, never routed again."""
    return store.deregister(node_id)


# Nodes may list too: a cloud edge's bootstrap asks for its region's origins to pull from.
@router.get("", response_model=list[NodeOut], responses=errors(*AUTH, 413, 503))
def list_nodes(store: StoreDep, _: NodeAuth, region: str | None = None, role: str | None = None,
               state: str | None = None, all: bool = False):  # noqa: A002 - query parameter name
    return store.list_nodes(region=region, role=role, state=state, include_terminated=all)


@router.get("/{node_ref}", response_model=NodeOut, responses=errors(*AUTH, 404, 413, 503))
def get_node(node_ref: str, store: StoreDep, _: AdminAuth):
    return store.get_node(node_ref)


@router.put("/{node_ref}/state", response_model=NodeOut, responses=errors(400, *AUTH, 404, 413, 503))
def set_state(node_ref: str, body: NodeState, store: StoreDep, _: AdminAuth):
    """SUNSET drains a node (no new viewers), INSERVICE returns it, TERMINATED retires it."""
    return store.set_state(node_ref, body.state, body.reason)
