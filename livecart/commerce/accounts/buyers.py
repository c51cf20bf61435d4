"""Buyers: people who sign up on a viewer page with what a checkout needs (a name, an
email, a shipping address) and get a viewer token for their device.

The profile lives outside every show's slot. A buy reads it before its scripts run and
copies the contact and ship-to into the order it confirms, so the buy scripts still
touch only the show's keys (invariant 6) and an order keeps the address it was shipped
to even if the buyer edits their profile later.

Sign-ups are public, so each client address may create only ``buyers.signups_per_ip``
buyers per ``buyers.signup_window_s`` (counted in Redis, so the bound holds across
nodes). A refused request, for bad input or for the rate, creates nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from livecart import validation as v
from livecart.auth.tokens import Role, issue_token
from livecart.commerce.catalog.products import begin_writes, optimistic
from livecart.errors import InvalidInput, RateLimited
from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.clock import redis_now_ms

# ISO 3166-1 alpha-2, every assigned code (static/js/countries.js offers the same list).
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN
    BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE
    DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN
    GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE
    KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK
    ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA
    PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK
    SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
    UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()  # noqa: SIM905 (249 codes)
)
# A pragmatic address check: one @, no spaces, a dot in the domain. Whether the mailbox
# exists is for the merchant's own mail to find out.
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
POSTAL_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{0,19}")
PROFILE_FIELDS = ("name", "email", "address")
ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "region", "country")


@dataclass(frozen=True)
class Address:
    line1: str
    line2: str  # "" when none
    city: str
    postal_code: str
    region: str  # state, province or county; "" when none
    country: str  # ISO 3166-1 alpha-2

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in ADDRESS_FIELDS}


@dataclass(frozen=True)
class Profile:
    """What a checkout needs of a buyer; decoded strictly, every field checked."""

    name: str
    email: str
    address: Address

    @classmethod
    def from_dict(cls, data: object) -> Profile:
        """The profile in ``data``, or ``InvalidInput`` naming the first bad field, with
        every bad field listed in ``errors`` so a form can mark them all at once."""
        d = v.require_mapping(data, "body")
        errors: list[InvalidInput] = []
        v_name = _collect(errors, lambda: _line(d, "name", "name", max_len=100))
        v_email = _collect(errors, lambda: _email(d))
        address = _collect(errors, lambda: _address(d.get("address"), errors))
        for key in d:
            if key not in PROFILE_FIELDS:
                errors.append(_unknown(str(key), "a buyer", PROFILE_FIELDS))
        if errors or v_name is None or v_email is None or address is None:
            first = errors[0]
            raise InvalidInput(
                first.message,
                field=first.field,
                extra={"errors": [{"field": e.field, "message": e.message} for e in errors]},
            )
        return cls(name=v_name, email=v_email, address=address)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "address": self.address.to_dict()}

    @property
    def display_name(self) -> str:
        """What other viewers may see ("Maya just bought..."): the first name only."""
        return self.name.split()[0][:32]


def _collect(errors: list[InvalidInput], check: Any) -> Any:
    try:
        return check()
    except InvalidInput as exc:
        errors.append(exc)
        return None


def _unknown(name: str, what: str, allowed: tuple[str, ...]) -> InvalidInput:
    shown = name[:80]
    return InvalidInput(
        f"{what} has no field {shown!r}; its fields are {', '.join(allowed)}", field=shown
    )


def _line(
    d: Mapping[str, Any], key: str, field: str, *, max_len: int, required: bool = True
) -> str:
    """One line of text, trimmed: no line breaks or other control characters."""
    value = d.get(key)
    if value is None and not required:
        return ""
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters", field=field)
    v.check_no_control(value, field)
    return value


def _email(d: Mapping[str, Any]) -> str:
    value = _line(d, "email", "email", max_len=254)
    if EMAIL.fullmatch(value) is None:
        raise InvalidInput("email must be an address like ana@example.com", field="email")
    return value


def _address(raw: object, errors: list[InvalidInput]) -> Address | None:
    """The address; its own bad fields go to ``errors`` (``address.city``...)."""
    if raw is None:
        raise InvalidInput("address is required", field="address")
    a = v.require_mapping(raw, "address")
    before = len(errors)
    line1 = _collect(errors, lambda: _line(a, "line1", "address.line1", max_len=200))
    line2 = _collect(
        errors, lambda: _line(a, "line2", "address.line2", max_len=200, required=False)
    )
    city = _collect(errors, lambda: _line(a, "city", "address.city", max_len=100))
    postal = _collect(errors, lambda: _postal_code(a))
    region = _collect(
        errors, lambda: _line(a, "region", "address.region", max_len=100, required=False)
    )
    country = _collect(errors, lambda: _country(a))
    for key in a:
        if key not in ADDRESS_FIELDS:
            errors.append(_unknown(f"address.{key}", "an address", ADDRESS_FIELDS))
    if len(errors) > before:
        return None
    return Address(line1, line2, city, postal, region, country)


def _postal_code(a: Mapping[str, Any]) -> str:
    value = _line(a, "postal_code", "address.postal_code", max_len=20)
    if POSTAL_CODE.fullmatch(value) is None:
        raise InvalidInput(
            "address.postal_code may hold letters, digits, spaces and dashes",
            field="address.postal_code",
        )
    return value


def _country(a: Mapping[str, Any]) -> str:
    value = _line(a, "country", "address.country", max_len=2)
    if value not in COUNTRIES:
        raise InvalidInput(
            "address.country must be a two-letter ISO 3166 country code such as SE",
            field="address.country",
        )
    return value


# --- storage -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedCard:
    """A card the buyer saved for one-tap buys: Stripe's payment method id, and what the
    page shows of it (never the number: Stripe keeps that)."""

    payment_method: str
    brand: str
    last4: str

    def shown(self) -> dict[str, str]:
        return {"brand": self.brand, "last4": self.last4}


@dataclass(frozen=True)
class StoredProfile:
    id: str
    profile: Profile
    created_at_ms: int
    updated_at_ms: int
    stripe_customer: str = ""  # the buyer's Stripe Customer, made once, on first card setup
    card: SavedCard | None = None

    def to_dict(self) -> dict[str, Any]:
        """What the buyer is shown (GET /api/me): the saved card by brand and last 4."""
        return {
            "id": self.id,
            **self.profile.to_dict(),
            "card": None if self.card is None else self.card.shown(),
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
        }

    def to_record(self) -> dict[str, Any]:
        """What is stored: the view, plus the Stripe ids once there are any."""
        record = self.to_dict()
        if self.stripe_customer:
            record["stripe"] = {
                "customer": self.stripe_customer,
                "payment_method": "" if self.card is None else self.card.payment_method,
            }
        return record


@dataclass(frozen=True)
class NewBuyer:
    stored: StoredProfile
    token: str
    expires_at: int  # Unix seconds


def new_buyer_id(profile: Profile) -> str:
    """``maya-3f9a1c0e``: the first name, folded to ASCII, and 32 random bits. The id is
    what chat shows and moderators act on, so a person recognises it; the random part
    keeps two Mayas apart."""
    folded = unicodedata.normalize("NFKD", profile.display_name).encode("ascii", "ignore")
    name = re.sub(r"[^a-z0-9]", "", folded.decode().lower())[:20] or "buyer"
    return f"{name}-{secrets.token_hex(4)}"


def client_digest(address: str) -> str:
    """The key a client address is counted under; the address itself is not stored."""
    return hashlib.sha256(address.encode()).hexdigest()[:32]


async def create_buyer(runtime: Runtime, profile: Profile, client_address: str) -> NewBuyer:
    """Count the sign-up against the client's allowance, store the profile, sign a token.

    The profile has been validated before this is called; a refusal here (the rate)
    writes nothing.
    """
    settings = runtime.settings.buyers
    counted, value = await runtime.scripts["count_signup"](
        keys=[keys.signup_count(client_digest(client_address))],
        args=[settings.signups_per_ip, settings.signup_window_s * 1000],
    )
    if not counted:
        raise RateLimited(
            f"too many sign-ups from this address; at most {settings.signups_per_ip} "
            f"every {settings.signup_window_s} s",
            extra={"retry_after_ms": int(value)},
        )
    now = await redis_now_ms(runtime.redis)
    while True:  # a clash is unlikely, but a buyer is never overwritten
        buyer_id = new_buyer_id(profile)
        stored = StoredProfile(buyer_id, profile, now, now)
        if await runtime.redis.set(
            keys.buyer_profile(buyer_id), orjson.dumps(stored.to_record()), nx=True
        ):
            break
    ttl = settings.token_ttl_s
    token = issue_token(runtime.settings.auth.secret, sub=buyer_id, role=Role.VIEWER, ttl_s=ttl)
    return NewBuyer(stored=stored, token=token, expires_at=now // 1000 + ttl)


async def get_profile(redis: Redis, user: str) -> StoredProfile | None:
    raw = await redis.get(keys.buyer_profile(user))
    if raw is None:
        return None
    return _from_record(orjson.loads(raw))


def _from_record(data: dict[str, Any]) -> StoredProfile:
    stripe = data.get("stripe") or {}
    shown = data.get("card")
    card = None
    if shown and stripe.get("payment_method"):
        card = SavedCard(stripe["payment_method"], shown["brand"], shown["last4"])
    return StoredProfile(
        id=data["id"],
        profile=Profile(name=data["name"], email=data["email"], address=Address(**data["address"])),
        created_at_ms=data["created_at_ms"],
        updated_at_ms=data["updated_at_ms"],
        stripe_customer=stripe.get("customer", ""),
        card=card,
    )


async def put_profile(redis: Redis, user: str, profile: Profile) -> tuple[StoredProfile, bool]:
    """Set the user's profile (any token's user may keep one); True when it was created.

    Orders already placed keep the contact they were shipped to.
    """
    now = await redis_now_ms(redis)
    key = keys.buyer_profile(user)

    async def attempt(pipe: Pipeline) -> tuple[StoredProfile, bool]:
        raw = await pipe.get(key)
        if raw is None:
            stored = StoredProfile(user, profile, now, now)
        else:  # the saved card and Stripe customer stay
            old = _from_record(orjson.loads(raw))
            stored = dataclasses.replace(old, profile=profile, updated_at_ms=now)
        begin_writes(pipe)
        pipe.set(key, orjson.dumps(stored.to_record()))
        return stored, raw is None

    return await optimistic(redis, [key], attempt)


async def set_payment(
    redis: Redis,
    user: str,
    *,
    stripe_customer: str | None = None,
    card: SavedCard | Literal["keep"] | None = "keep",
    only_if_no_customer: bool = False,
) -> StoredProfile | None:
    """Change the Stripe part of ``user``'s profile (None: no profile). With
    ``only_if_no_customer``, a customer already kept wins over ``stripe_customer``
    (two first setups racing keep one customer). The rest of the profile is untouched."""
    key = keys.buyer_profile(user)

    async def attempt(pipe: Pipeline) -> StoredProfile | None:
        raw = await pipe.get(key)
        if raw is None:
            return None
        stored = _from_record(orjson.loads(raw))
        customer = stored.stripe_customer
        if stripe_customer is not None and not (only_if_no_customer and customer):
            customer = stripe_customer
        changed = dataclasses.replace(
            stored, stripe_customer=customer, card=stored.card if card == "keep" else card
        )
        if changed == stored:
            return stored
        begin_writes(pipe)
        pipe.set(key, orjson.dumps(changed.to_record()))
        return changed

    return await optimistic(redis, [key], attempt)


def profile_from_record(raw_profile: str | bytes) -> StoredProfile:
    """A profile as stored at ``keys.buyer_profile``, read by the caller."""
    return _from_record(orjson.loads(raw_profile))


def order_contact(raw_profile: str | bytes | None) -> dict[str, Any]:
    """The fields a buyer's profile (as stored at ``keys.buyer_profile``, read by the
    caller with what else the order needs) adds to each order they place: ``contact``,
    ``ship_to`` and the ``display_name`` shown in the show's "just bought" ticker (all
    None when the buyer has no profile, e.g. a user of an embedding site)."""
    stored = None if raw_profile is None else _from_record(orjson.loads(raw_profile))
    if stored is None:
        return {"contact": None, "ship_to": None, "display_name": None}
    p = stored.profile
    return {
        "contact": {"name": p.name, "email": p.email},
        "ship_to": {"name": p.name, **p.address.to_dict()},
        "display_name": p.display_name,
    }
