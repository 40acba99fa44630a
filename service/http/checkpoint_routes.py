"""Signed checkpoints over HTTP (an auditor's reads; no role logic here):
GET /v1/log/checkpoint, GET /v1/decisions/<id>/proof, GET /v1/log/consistency.

Registered by ``log_routes.register`` beside the log; ``after_append`` is called
by ``log_routes.log_decision`` with each record logged."""
from __future__ import annotations

import base64
import json
import logging

from flask import Flask, Response, current_app, request

from ..log import DecisionLog, LogError
from ..log.checkpoints import Checkpointer, TreeStore, settings_from_env
from .problems import problem

log = logging.getLogger("service")
TREE, ISSUER = "merkle_tree", "checkpointer"


def register(app: Flask, decision_log: DecisionLog | None) -> None:
    settings = settings_from_env()  # a bad key or setting stops the start
    app.extensions[TREE] = TreeStore(decision_log) if decision_log is not None else None
    app.extensions[ISSUER] = (Checkpointer(decision_log, settings)
                              if decision_log is not None and settings is not None and not decision_log.read_only
                              else None)

    @app.get("/v1/log/checkpoint")
    def latest_checkpoint():
        tree = _tree(app)
        if isinstance(tree, Response):
            return tree
        issuer: Checkpointer | None = app.extensions[ISSUER]
        try:
            latest = issuer.latest_or_fresh() if issuer is not None else tree.latest()
        except LogError as error:
            return _unavailable(error)
        if latest is None:
            return problem(404, "No checkpoint", "no checkpoint has been issued yet "
                           + ("(the log is empty)" if issuer is not None else "(RAC_CHECKPOINT_KEY is not set)"),
                           kind="no-checkpoint")
        return Response(latest.note, status=200, mimetype="text/plain")

    @app.get("/v1/decisions/<decision_id>/proof")
    def inclusion_proof(decision_id: str):
        tree = _tree(app)
        if isinstance(tree, Response):
            return tree
        try:
            record = tree.log.get(decision_id)
            if record is None:
                return problem(404, "Unknown decision", f"no decision {decision_id} in the decision log",
                               kind="unknown-decision", decision_id=decision_id)
            size, checkpoint = _size(tree, request.args.get("size"), record.seq)
            if isinstance(size, Response):
                return size
            root, path = tree.inclusion(record.seq, size)
        except LogError as error:
            return _unavailable(error)
        except LookupError as error:
            return _not_in_tree(error)
        body = {"decision_id": record.decision_id, "seq": record.seq, "leaf_index": record.seq - 1,
                "tree_size": size, "record_hash": record.hash, "record": record.body(),
                "root_hash": _b64(root), "inclusion_path": [_b64(p) for p in path],
                "checkpoint": checkpoint.note if checkpoint is not None else None}
        return Response(json.dumps(body, ensure_ascii=False), status=200, mimetype="application/json")

    @app.get("/v1/log/consistency")
    def consistency_proof():
        tree = _tree(app)
        if isinstance(tree, Response):
            return tree
        first, second = _integer(request.args.get("from")), request.args.get("to")
        try:
            latest = tree.latest()
            second = _integer(second) if second is not None else (latest.size if latest else None)
            if first is None or second is None or not 0 < first <= second:
                return problem(400, "Bad sizes", "from and to are tree sizes, 1 <= from <= to "
                               "(to defaults to the latest checkpoint's)", kind="bad-tree-sizes")
            first_root, second_root, path = tree.consistency(first, second)
        except LogError as error:
            return _unavailable(error)
        except LookupError as error:
            return _not_in_tree(error)
        body = {"from": first, "to": second, "from_root": _b64(first_root), "to_root": _b64(second_root),
                "consistency_path": [_b64(p) for p in path]}
        return Response(json.dumps(body), status=200, mimetype="application/json")


def after_append(seq: int) -> None:
    issuer: Checkpointer | None = current_app.extensions.get(ISSUER)
    if issuer is not None:
        issuer.after_append(seq)


def _size(tree: TreeStore, text: str | None, seq: int):
    """The tree size to prove against (?size=N, else the latest checkpoint's) and its checkpoint."""
    if text is None:
        checkpoint = tree.latest()
        if checkpoint is None:
            return problem(404, "No checkpoint", "no checkpoint has been issued yet", kind="no-checkpoint"), None
        size = checkpoint.size
    else:
        size = _integer(text)
        if size is None or size < 1:
            return problem(400, "Bad size", "size is a tree size, a positive integer", kind="bad-tree-sizes"), None
        checkpoint = tree.checkpoint(size)
    if seq > size:
        return problem(409, "Not yet checkpointed", f"decision seq {seq} is not in the tree of size {size}; "
                       "ask again after the next checkpoint", kind="not-in-checkpoint"), None
    return size, checkpoint


def _integer(text):
    return int(text) if text is not None and text.isascii() and text.isdigit() and len(text) < 19 else None


def _tree(app: Flask):
    tree = app.extensions.get(TREE)
    if tree is None:
        return problem(501, "Decision log off", "this deployment keeps no decision log (RAC_DECISION_LOG=off)",
                       kind="decision-log-off")
    return tree


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unavailable(error: LogError) -> Response:
    log.warning("merkle tree not readable: %s", error)
    response = problem(503, "Decision log unavailable", "the decision log could not be read; retry",
                       kind="decision-log-unavailable")
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _not_in_tree(error: LookupError) -> Response:
    return problem(409, "Not yet in the tree", f"{error}; ask again after the next checkpoint",
                   kind="not-in-checkpoint")
