"""Credentials for the API fuzz run (schemathesis.toml).

Operators' routes get the admin token. Buyers' routes get a buyer token
in turn from many (SEATD_FUZZ_TOKENS, written by TestAPIFuzz), so that
the gateway's per-buyer rate (5 a second, 10 at once: its defaults, left
as they are) and a program's seats per buyer do not turn answers into
429s and LIMIT_EXCEEDED. A hold is read and released by the buyer who
made it, as another buyer gets 404 for it by design.
"""

import itertools
import json
import os
import threading

import schemathesis

with open(os.environ["SEATD_FUZZ_TOKENS"]) as f:
    _TOKENS = json.load(f)
_buyers = itertools.cycle(_TOKENS["buyers"])
_owners = {}  # hold id -> the bearer token of the buyer who made it
_lock = threading.Lock()


def _schemes(operation):
    return {name for requirement in operation.definition.raw.get("security", []) for name in requirement}


@schemathesis.auth(refresh_interval=None)
class Tokens:
    def get(self, case, context):
        schemes = _schemes(context.operation)
        if not schemes:
            return None
        if schemes == {"admin"}:
            return _TOKENS["admin"]
        with _lock:
            owner = _owners.get(str((case.path_parameters or {}).get("hold_id")))
            return owner or next(_buyers)

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def after_call(context, case, response):
    if case.operation.path != "/v1/programs/{id}/holds" or response.status_code not in (200, 201):
        return
    token = response.request.headers.get("Authorization", "").removeprefix("Bearer ")
    with _lock:
        _owners[str(response.json()["hold_id"])] = token
