"""Creators: the people who stream and earn commission on what they sell."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import orjson
from redis.asyncio import Redis

from livecart import validation as v
from livecart.store import keys


@dataclass(frozen=True)
class Creator:
    id: str
    name: str

    @classmethod
    def from_dict(cls, data: object) -> Creator:
        d = v.require_mapping(data, "creator")
        return cls(id=keys.check_id(d.get("id"), "id"), name=v.text(d, "name", max_len=200))


async def save_creator(redis: Redis, creator: Creator) -> None:
    await redis.set(keys.creator(creator.id), orjson.dumps(asdict(creator)))


async def get_creator(redis: Redis, creator_id: str) -> Creator | None:
    raw = await redis.get(keys.creator(creator_id))
    return None if raw is None else Creator(**orjson.loads(raw))
