"""``livecart demo``: a brand (with a shipping fee), a creator, eight products (one in
three sizes) and a show ready to go live.

Seeding is idempotent: a second start keeps what the first one left (stock sold,
orders) and only fills in what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from livecart.auth.tokens import Role, issue_token
from livecart.commerce.accounts.creators import Creator, save_creator, set_showcase, share_url
from livecart.commerce.catalog.products import Brand, Product, Variant, save_brand, save_product
from livecart.commerce.sales.shipping import ShippingRule, put_rule
from livecart.commerce.shows.records import LineupEntry, NewShow, create_show
from livecart.runtime import Runtime
from livecart.store import keys

BRAND = Brand(id="northwind", name="Northwind Outfitters")
CREATOR = Creator(id="maya", name="Maya Lindqvist")
SHOW_ID = "demo-show"
SHOWCASE = ("nw-trail-jacket", "nw-merino-tee", "nw-daypack-22", "nw-headlamp")
TOKEN_TTL_S = 7 * 86400

_IMG = "https://images.example.com/northwind"
PRODUCTS = [
    # sku, title, price (cents), units for the show, commission bps, per-user limit
    ("nw-trail-jacket", "Trail shell jacket", 12900, 40, 1000, 2),
    ("nw-merino-tee", "Merino wool tee", 4900, 120, 800, 5),
    ("nw-down-vest", "Packable down vest", 8900, 60, 1000, 2),
    ("nw-hiking-socks", "Hiking socks, 3 pairs", 1900, 300, 600, 10),
    ("nw-daypack-22", "Daypack 22 L", 6900, 50, 900, 2),
    ("nw-headlamp", "Rechargeable headlamp", 3400, 80, 700, 3),
    ("nw-trail-bottle", "Insulated trail bottle", 2900, 150, 700, 4),
    ("nw-beanie", "Rib-knit beanie", 2400, 200, 800, 5),
]
# The tee comes in sizes: each size is sold (and stocked) under its own sku, the units
# above split between them.
SIZED = "nw-merino-tee"
SIZES = ("S", "M", "L")
SHIPPING = ShippingRule(flat=490, free_over=7500)


def demo_products() -> list[tuple[Product, int]]:
    """Each product with the units the show gets of it (of each size, for the tee)."""
    return [
        (
            Product(
                sku=sku,
                brand=BRAND.id,
                title=title,
                price=price,
                currency="EUR",
                description=f"{title} from {BRAND.name}.",
                image_url=f"{_IMG}/{sku}.jpg",
                commission_bps=bps,
                per_user_limit=limit,
                options=("Size",) if sku == SIZED else (),
                variants=tuple(Variant(f"{sku}-{size.lower()}", (size,)) for size in SIZES)
                if sku == SIZED
                else (),
            ),
            units // len(SIZES) if sku == SIZED else units,
        )
        for sku, title, price, units, bps, limit in PRODUCTS
    ]


@dataclass(frozen=True)
class DemoTokens:
    streamer: str
    moderator: str
    viewer: str


async def seed_demo(runtime: Runtime) -> None:
    redis = runtime.redis
    await save_brand(redis, BRAND)
    await save_creator(redis, CREATOR)
    products = demo_products()
    for product, _ in products:
        await save_product(redis, product)
    if not await redis.exists(keys.brand_shipping(BRAND.id)):
        await put_rule(redis, BRAND.id, SHIPPING)
    await create_show(
        redis,
        runtime.scripts,
        NewShow(
            id=SHOW_ID,
            title="Maya's Sunday trail gear drop",
            creator=CREATOR.id,
            brand=BRAND.id,
            lineup=tuple(
                LineupEntry(sku=sellable.sku, quantity=units)
                for p, units in products
                for sellable in p.sellable()
            ),
        ),
        stream_max_events=runtime.settings.hub.stream_max_events,
    )
    # Maya's picks for her showcase page, unless a previous run (or Maya) set them.
    if not await redis.exists(keys.creator_showcase(CREATOR.id)):
        await set_showcase(redis, CREATOR.id, SHOWCASE)


def demo_tokens(secret: str) -> DemoTokens:
    def token(role: Role, sub: str, show: str | None) -> str:
        return issue_token(secret, sub=sub, role=role, show=show, ttl_s=TOKEN_TTL_S)

    return DemoTokens(
        streamer=token(Role.STREAMER, CREATOR.id, SHOW_ID),
        moderator=token(Role.MODERATOR, "sam-mod", SHOW_ID),
        viewer=token(Role.VIEWER, "ana", None),
    )


@dataclass(frozen=True)
class PageLinks:
    landing: str
    viewer: str
    share: str
    viewer_as_ana: str
    studio: str
    moderator: str
    showcase: str
    merchant: str


def page_links(base_url: str, tokens: DemoTokens) -> PageLinks:
    """Links to every page of the demo. A token goes in the URL's fragment, never its
    query: browsers do not send fragments, so tokens stay out of access logs."""
    show = f"{base_url}/shows/{SHOW_ID}"
    return PageLinks(
        landing=f"{base_url}/",
        viewer=show,
        share=share_url(base_url, CREATOR.id, SHOW_ID),
        viewer_as_ana=f"{show}#token={tokens.viewer}",
        studio=f"{base_url}/studio/{SHOW_ID}#token={tokens.streamer}",
        moderator=f"{base_url}/moderate/{SHOW_ID}#token={tokens.moderator}",
        showcase=f"{base_url}/c/{CREATOR.id}",
        merchant=f"{base_url}/merchant",
    )


def banner(base_url: str, secret: str, admin_key: str, data_dir: str | None) -> str:
    tokens = demo_tokens(secret)
    show = f"{base_url}/api/shows/{SHOW_ID}"
    ws = base_url.replace("http", "ws", 1) + f"/ws/shows/{SHOW_ID}"
    kept = f"Data is kept in {data_dir}; a restart finds it. " if data_dir else ""
    pages = page_links(base_url, tokens)
    return (
        f"""
livecart demo is running at {base_url}

Open in a browser (tokens ride in the #fragment, which never reaches a server log):
  Shows live now:                    {pages.landing}
  Watch and buy (a phone-sized window is best; Buy asks for a name and address once):
                                     {pages.viewer}
  Maya's share link (credits maya):  {pages.share}
  Watch as the viewer ana:           {pages.viewer_as_ana}
  Studio, go live as maya:           {pages.studio}
  Moderate as sam-mod:               {pages.moderator}
  Maya's showcase:                   {pages.showcase}
  Merchant console (paste $API_KEY below; kept for the tab only):
                                     {pages.merchant}

  The demo show (lineup, live stock):  {show}
  Readiness:                           {base_url}/readyz
  Metrics:                             {base_url}/metrics
  Live events (WebSocket, see docs/protocol.md):
    {ws}?token=$VIEWER

Tokens for the demo show (valid 7 days), as shell variables:
  export STREAMER={tokens.streamer}   # maya
  export MODERATOR={tokens.moderator}   # sam-mod
  export VIEWER={tokens.viewer}   # ana
  export API_KEY={admin_key}   # merchant API (X-API-Key)

Go live on video from OBS Studio 30.2+ (Settings > Stream; docs/video.md):
  Service: WHIP    Server: {show}/whip
  Bearer Token: the $STREAMER token below    (Output: H.264, keyframe interval 1 s, no B-frames)
Watch it, each pin shown with its frame:  {base_url}/static/video.html?show={SHOW_ID}

Try it:
  curl -X POST {show}/start -H "Authorization: Bearer $STREAMER"
  curl -X PUT {show}/pin -H "Authorization: Bearer $STREAMER" -d '{{"sku": "nw-beanie"}}'
  curl -X POST {show}/buy -H "Authorization: Bearer $VIEWER" \\
       -d '{{"sku": "nw-beanie", "quantity": 1, "idempotency_key": "tap-1"}}'
  curl {base_url}/api/orders -H "X-API-Key: $API_KEY"

Watch the show live and chat from a terminal (type a message, then Enter):
  .venv/bin/python -m websockets "{ws}?token=$VIEWER"
  {{"type": "chat", "text": "hello"}}
  {{"type": "buy", "sku": "nw-beanie", "idempotency_key": "tap-2"}}

{kept}Press Ctrl-C to stop.
""".rstrip()
        + "\n"
    )
