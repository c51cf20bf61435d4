"""A node dies in the middle of taking payments; another node returns its holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

from livecart.app import NODE_WORKERS
from livecart.auth.tokens import issue_token
from livecart.config import Settings
from livecart.runtime import running
from tests.commerce.conftest import SHOW, Units, assert_units_add_up, seed_show, units
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LivecartProcess, RawConnection


async def test_holds_of_a_node_killed_mid_payment_return_their_stock_via_another_node(
    settings: Settings, redis: object, tmp_path: Path
) -> None:
    short = settings.with_overrides(
        {"checkout": {"payment_provider": "test", "hold_seconds": 3, "payment_timeout_s": 2}}
    )
    async with running(short, workers=NODE_WORKERS) as survivor:
        await seed_show(survivor)
        env = {
            "LIVECART_REDIS_URL": short.redis.url,
            "LIVECART_AUTH_SECRET": STRONG_SECRET,
            "LIVECART_AUTH_ADMIN_API_KEY": STRONG_ADMIN_KEY,
            # The test provider is refused by `serve`; `demo` runs it, seeding nothing
            # that exists already.
            "LIVECART_CHECKOUT_PAYMENT_PROVIDER": "test",
            "LIVECART_CHECKOUT_HOLD_SECONDS": "3",
            "LIVECART_CHECKOUT_PAYMENT_TIMEOUT_S": "2",
        }
        doomed = LivecartProcess(["demo", "--port", "0"], cwd=tmp_path, env=env)
        try:
            url = doomed.wait_for_url()
            taps = []
            for i in range(5):
                # Buyers named stall* make the test provider hang: the node holds their
                # units and waits for the payment when it is killed.
                token = issue_token(STRONG_SECRET, sub=f"stall-{i}", role="viewer", ttl_s=60)
                connection = await RawConnection.open(url)
                taps.append(
                    asyncio.create_task(
                        connection.request(
                            "POST",
                            f"/api/shows/{SHOW}/buy",
                            headers={"Authorization": f"Bearer {token}"},
                            json={"sku": "p-plain", "quantity": 2, "idempotency_key": f"k{i}"},
                        )
                    )
                )
            for _ in range(100):
                if (await units(survivor.redis, "p-plain")).held == 10:
                    break
                await asyncio.sleep(0.02)
            assert await units(survivor.redis, "p-plain") == Units(40, 10, 0, 50)
        finally:
            doomed.kill()  # SIGKILL: its payments and its confirms never happen
        for tap in taps:
            tap.cancel()

        # The survivor's reaper returns the units once the holds expire (3 s).
        for _ in range(150):
            if (await units(survivor.redis, "p-plain")).held == 0:
                break
            await asyncio.sleep(0.05)
        assert await units(survivor.redis, "p-plain") == Units(50, 0, 0, 50)
        await assert_units_add_up(survivor.redis)
