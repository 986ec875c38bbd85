"""What every API route does around its handler: safe retries, versions, read logging.

- ``Idempotency-Key``: the same key with the same request answers as the first
  time and stores nothing new; with another request it is 422 (see
  ``services.idempotency``).
- ``If-Match: "<version>"``: the command runs only on that version of the plan,
  else 412 (``care_plan.version_mismatch``); without it a writer that lost a race
  runs again on the plan as it now stands.
- ``ETag: "<version>"`` on every answer that carries the plan's version.
- ``traceparent`` (W3C): stored with the command's events and sent on their Kafka
  messages (``services.tracing``); a malformed one is ignored.
- Every read (GET) by an authenticated actor is answered only once its entry is in
  the read-access log (``services.access_log``, group-committed), with
  ``X-Purpose-Of-Use`` if given; if it cannot be stored the read is 503.

A route class rather than a middleware: it runs inside FastAPI's error handling,
so every refusal is problem+json like the rest.

A plain ``def`` handler (they block: they load and store plans) is wrapped in a
coroutine: FastAPI would hand it to a thread, then hand the checking of its
answer against the response model to a thread again. A command runs on the
event loop in a greenlet (``services.on_the_loop``: no thread hand-offs, group
commit answers its batch at once); a read runs on the thread pool once.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from domain.care_plan import canonical_plan_id
from domain.values import Actor
from services.access_log import Access
from services.api.deps import Permitted, bearer_token, verified_caller
from services.api.errors import ApiError, problem
from services.application import EXPECTED_VERSION
from services.bootstrap import Careplan
from services.command_result import CommandResult
from services.exactly_once import COMMAND_KEY, REPLAYED
from services.idempotency import Answer, IdempotencyKeys, Refused, Unanswered, fingerprint
from services.on_the_loop import run_on_the_loop
from services.tokens import TokenError
from services.tracing import TRACEPARENT, valid_traceparent

_IF_MATCH = re.compile(r'^\s*(?:W/)?"(\d{1,18})"\s*$')
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the IETF draft allows
_PURPOSE = re.compile(r"[^A-Za-z0-9._:-]")
#: Releases of keys under way (kept referenced until done, as asyncio asks).
_RELEASING: set[asyncio.Task[None]] = set()
log = structlog.get_logger(__name__)


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(header: str | None) -> int | None:
    """The version an If-Match asks for; ``*`` (any) is the same as no If-Match."""
    if header is None or header.strip() == "*":
        return None
    match = _IF_MATCH.match(header)
    if match is None:
        raise ApiError(
            400, "request.invalid_if_match", 'If-Match must be a plan version, e.g. "7".'
        )
    return int(match.group(1))


def with_etag(response: Response) -> Response:
    """Put the plan's version, when the answer carries one, in the ETag header."""
    if response.status_code < 300 and response.media_type == "application/json":
        try:
            version = json.loads(bytes(response.body)).get("version")
        except (ValueError, AttributeError):
            version = None
        if isinstance(version, int):
            response.headers["ETag"] = etag(version)
    return response


def as_coroutine(handler: Callable[..., Any], methods: Iterable[str]) -> Callable[..., Any]:
    """A blocking handler as a coroutine: a command (POST) runs on the event loop in
    a greenlet that awaits wherever it would wait (services.on_the_loop); a read on
    the thread pool. FastAPI reads its parameters and return type through
    ``__wrapped__``."""
    if inspect.iscoroutinefunction(handler):
        return handler
    run_it = run_on_the_loop if set(methods) == {"POST"} else run_in_threadpool

    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_it(handler, *args, **kwargs)

    return run


class CommandRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = kwargs.get("methods") or ()
        super().__init__(path, as_coroutine(endpoint, methods), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handle = super().get_route_handler()
        path = self.path
        # The route's own permission check (role, care team), run before a stored answer
        # is replayed: a key's answer is only ever given to someone allowed to ask.
        permits = [d.call for d in self.dependant.dependencies if isinstance(d.call, Permitted)]

        async def run(request: Request) -> Response:
            if request.method == "POST":
                _refuse_duplicate_keys(await request.body())
            token = EXPECTED_VERSION.set(expected_version(request.headers.get("if-match")))
            trace = TRACEPARENT.set(valid_traceparent(request.headers.get("traceparent")))
            try:
                return with_etag(await handle(request))
            finally:
                TRACEPARENT.reset(trace)
                EXPECTED_VERSION.reset(token)

        async def read(request: Request) -> Response:
            actor = await _actor(request)
            try:
                response = await run(request)
            except Exception as error:  # answered as the application would, then logged
                handler = _handler_for(request, error)
                if handler is None:
                    raise
                response = await handler(request, error)
            status = response.status_code
            if actor is not None and not await _log_read(request, actor, path, status):
                # Fail closed: a read the log cannot hold is not served.
                return problem(
                    503,
                    "access_log.unavailable",
                    "The read could not be logged, so it is not served; try again shortly.",
                    headers={"Retry-After": "1"},
                )
            return response

        async def command(request: Request) -> Response:
            if request.method == "GET":
                return await read(request)
            key = request.headers.get("idempotency-key")
            actor_id = await _actor_id(request)
            if key is None or actor_id is None or request.method != "POST":
                return await run(request)  # no key, or no valid token (answered 401)
            await _authorise(request, key, permits)
            return await _once(request, run, actor_id, key)

        return command


async def _once(
    request: Request,
    run: Callable[[Request], Awaitable[Response]],
    actor_id: str,
    key: str,
) -> Response:
    """Run the command once per key: a retry with the key gets the first answer. A
    key left without an answer (a crash, a 5xx, an unknown outcome) is resolved
    against the store: a command stored with its result is answered from it, not
    run again (``services.exactly_once``)."""
    careplan: Careplan = request.app.state.careplan
    keys = careplan.idempotency
    print_ = fingerprint(request.method, request.url.path, await request.body())
    # The keys live in the database: off the event loop, like the command.
    claim = await run_in_threadpool(keys.claim, actor_id, key, print_)
    if isinstance(claim, Refused):
        return problem(claim.status, claim.code, claim.detail)
    if isinstance(claim, Answer):
        return _replayed(claim)
    if isinstance(claim, Unanswered):
        stored = await run_in_threadpool(careplan.app.command_outcome, actor_id, key)
        if stored is not None:
            return await _answer_from_the_store(request, run, actor_id, key, stored)
        if claim.in_progress or not await run_in_threadpool(
            keys.take_over, actor_id, key, claim.claimed_at
        ):
            return problem(
                409,
                "idempotency.in_progress",
                "A request with this Idempotency-Key is still running; retry shortly.",
            )
    return await _run_keyed(request, run, actor_id, key)


async def _run_keyed(
    request: Request, run: Callable[[Request], Awaitable[Response]], actor_id: str, key: str
) -> Response:
    """Run the claimed command, its result stored with its events under the key."""
    keys = request.app.state.careplan.idempotency
    token = COMMAND_KEY.set((actor_id, key))
    try:
        response = await run(request)
    except Exception as error:  # a refusal is an answer too: keep it for the retry
        handler = _handler_for(request, error)
        if handler is None:
            _release_soon(keys, actor_id, key)
            raise
        response = await handler(request, error)
    finally:
        COMMAND_KEY.reset(token)
    if response.status_code >= 500:
        _release_soon(keys, actor_id, key)
    else:
        await run_in_threadpool(keys.remember, actor_id, key, _answer(response))
    return response


def _release_soon(keys: IdempotencyKeys, actor_id: str, key: str) -> None:
    """Release the key without holding the answer: after a 5xx the database may be
    the trouble, and a key left claimed only makes a retry look for the stored
    result a little longer (it is never run blind either way)."""

    async def release() -> None:
        try:
            await run_in_threadpool(keys.release, actor_id, key)
        except Exception:
            log.warning("idempotency.release_failed", actor_id=actor_id, exc_info=True)

    task = asyncio.get_running_loop().create_task(release())
    _RELEASING.add(task)
    task.add_done_callback(_RELEASING.discard)


async def _answer_from_the_store(
    request: Request,
    run: Callable[[Request], Awaitable[Response]],
    actor_id: str,
    key: str,
    stored: CommandResult,
) -> Response:
    """The route renders the stored result as it rendered the first answer (the
    request is the same: the key's fingerprint says so); nothing is run again."""
    token = REPLAYED.set(stored)
    try:
        response = await run(request)
    finally:
        REPLAYED.reset(token)
    if response.status_code < 300:
        await run_in_threadpool(
            request.app.state.careplan.idempotency.remember, actor_id, key, _answer(response)
        )
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _replayed(claim: Answer) -> Response:
    replayed = Response(claim.body, claim.status, media_type=claim.content_type)
    replayed.headers["Idempotent-Replayed"] = "true"
    return with_etag(replayed)


async def _log_read(request: Request, actor: Actor, endpoint: str, status: int) -> bool:
    """True once the entry is stored (awaited: the loop does not block)."""
    stored: bool = await request.app.state.access_log.stored(
        Access(
            actor_id=actor.id,
            role=actor.role,
            care_plan_id=_plan_of(request),
            method=request.method,
            endpoint=endpoint,
            status=status,
            purpose=_purpose(request),
            request_id=getattr(request.state, "request_id", None),
        )
    )
    return stored


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise _DuplicateKey(next(n for n in names if names.count(n) > 1))
    return dict(pairs)


def _refuse_duplicate_keys(body: bytes) -> None:
    """A JSON object that names a field twice is ambiguous ("amount" twice): refused,
    never read as whichever came last. Anything else malformed is the schema's to say."""
    if not body:
        return
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as duplicate:
        raise ApiError(
            422, "request.duplicate_key", f"The field {str(duplicate)[:64]!r} is given twice."
        ) from None
    except ValueError:
        return


async def _authorise(request: Request, key: str, permits: list[Permitted]) -> None:
    """A well-formed key, and a caller the route allows (401/403): before any answer
    stored under the key is given back."""
    if not _KEY.match(key):
        raise ApiError(
            400, "request.invalid_idempotency_key", "Idempotency-Key: 1-255 visible ASCII."
        )
    for permit in permits:
        await permit.permitted(request)


async def _actor(request: Request) -> Actor | None:
    """Who sent it, if the token is valid (an invalid one is answered 401 by the route)."""
    token = bearer_token(request)
    if token is None:
        return None
    try:
        caller = await verified_caller(request, token)
    except TokenError:
        return None
    return caller.actor


async def _actor_id(request: Request) -> str | None:
    """Keys belong to who used them."""
    actor = await _actor(request)
    return actor.id if actor else None


def _plan_of(request: Request) -> str | None:
    """Logged under its canonical id, so an auditor's search by plan finds every read."""
    plan = request.path_params.get("care_plan_id") or request.query_params.get("care_plan_id")
    return canonical_plan_id(str(plan))[:64] if plan else None


def _purpose(request: Request) -> str | None:
    """X-Purpose-Of-Use (HL7 PurposeOfUse, e.g. TREAT, HPAYMT, HOPERAT), kept short."""
    given = request.headers.get("x-purpose-of-use", "").strip()
    return _PURPOSE.sub("", given)[:64] or None


def _handler_for(
    request: Request, error: Exception
) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    """The application's own handler for this error (problem+json), by its class."""
    handlers = request.app.exception_handlers
    for cls in type(error).__mro__:
        if cls in handlers:
            return handlers[cls]  # type: ignore[no-any-return]
    return None


def _answer(response: Response) -> Answer:
    return Answer(
        response.status_code,
        response.media_type or "application/json",
        bytes(response.body).decode("utf-8"),
    )
