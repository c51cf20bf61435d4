"""Many script calls at once: one round trip on one server, one per slot on a Cluster.

redis-py's cluster pipeline refuses EVALSHA, so on a Cluster the calls of one slot go
one after another, in the batch's order, and the slots concurrently. Either way a
call's NOSCRIPT (a restarted or promoted server that lost its script cache) loads the
script and runs it again.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from livecart.store.client import cluster_of


@dataclass(frozen=True)
class ScriptCall:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]


async def run_scripts(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run ``calls``; their replies in order. Calls on one slot apply in the batch's
    order (a credit before its reversal, one version of an order before the next);
    calls on different slots in any order."""
    if not calls:
        return []
    cluster = cluster_of(redis)
    if cluster is not None:
        by_slot: dict[int, list[int]] = {}
        for i, call in enumerate(calls):
            by_slot.setdefault(cluster.keyslot(call.keys[0]), []).append(i)
        replies: list[Any] = [None] * len(calls)

        async def run_slot(indexes: list[int]) -> None:
            for i in indexes:
                replies[i] = await calls[i].script(keys=calls[i].keys, args=calls[i].args)

        # A TaskGroup, not gather: when one slot fails the others are stopped before the
        # error reaches the caller, so no call of this batch runs after a retry of it
        # has begun.
        try:
            async with asyncio.TaskGroup() as group:
                for indexes in by_slot.values():
                    group.create_task(run_slot(indexes))
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return replies
    async with redis.pipeline(transaction=False) as pipe:
        for c in calls:
            await c.script(keys=c.keys, args=c.args, client=pipe)
        return list(await pipe.execute())


@dataclass(frozen=True)
class _Waiting:
    call: ScriptCall
    reply: asyncio.Future[Any]


class ScriptCoalescer:
    """Calls made in the same turn of the event loop, sent in one pipeline.

    redis-py spends 150-200 us of CPU on each EVALSHA sent alone (a pool turn, its
    timeout, the command's packing and reply), 27-36 us on each sent 32 to a pipeline,
    and 57-68 us through this class with its futures (bench/client_bench.py). A flash
    sale's taps come thousands a second, so a tap's reserve waits for the loop's next
    turn and goes out with the others that came meanwhile: Redis runs them in the order
    they came, one after another, each its own atomic script, and each caller gets its
    own reply or error. A caller cancelled before its batch leaves is left out of it.

    On a Cluster, redis-py's pipeline refuses EVALSHA: calls go one by one, as before.
    """

    MAX_BATCH = 64

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._alone = cluster_of(redis) is not None
        self._waiting: list[_Waiting] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def call(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if self._alone:
            return await script(keys=keys, args=args)
        loop = asyncio.get_running_loop()
        if not self._waiting:
            # The next turn of the loop, in a context of its own: the batch takes a
            # plain turn on the pool whatever lane the first caller was in.
            loop.call_soon(self._send_waiting, context=contextvars.Context())
        waiting = _Waiting(ScriptCall(script, keys, args), loop.create_future())
        self._waiting.append(waiting)
        return await waiting.reply

    def _send_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        for start in range(0, len(batch), self.MAX_BATCH):
            part = batch[start : start + self.MAX_BATCH]
            task = asyncio.create_task(self._send(part))
            self._sending.add(task)
            task.add_done_callback(functools.partial(self._sent, part))

    def _sent(self, part: list[_Waiting], task: asyncio.Task[None]) -> None:
        """Whatever ended the batch (a cancel even before it began), no caller of it
        waits for ever."""
        self._sending.discard(task)
        for w in part:
            if not w.reply.done():
                w.reply.cancel()

    async def _send(self, batch: list[_Waiting]) -> None:
        waiting = [w for w in batch if not w.reply.done()]
        if not waiting:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for w in waiting:
                    # EVALSHA itself: a pipeline given the script objects would first ask
                    # SCRIPT EXISTS, one more round trip per batch.
                    c = w.call
                    pipe.execute_command("EVALSHA", c.script.sha, len(c.keys), *c.keys, *c.args)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as err:  # the batch as a whole: each caller sees it, and retries
            for w in waiting:
                if not w.reply.done():
                    w.reply.set_exception(err)
            return
        for w, reply in zip(waiting, replies, strict=True):
            if isinstance(reply, NoScriptError):
                # A restarted server lost its script cache: the script object loads it.
                try:
                    reply = await w.call.script(keys=w.call.keys, args=w.call.args)
                except Exception as err:
                    reply = err
            if w.reply.done():
                continue
            if isinstance(reply, Exception):
                w.reply.set_exception(reply)
            else:
                w.reply.set_result(reply)
