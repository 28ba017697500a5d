"""The node agent: runs beside a node's media engine, reads its counters and heartbeats to the manager."""
