"""A local stand-in for the parts of Stripe's API that livecart's stripe provider calls,
served over real HTTP on 127.0.0.1 (a free port), so the official ``stripe`` package
talks to it exactly as it would to api.stripe.com.

It keeps customers, setup intents, payment methods, payment intents and refunds, and
holds them to Stripe's rules where livecart's promises depend on them:

- Idempotency-Key: the same key with the same parameters returns the first response
  again (``Idempotent-Replayed: true``); the same key with other parameters, or on
  another endpoint, is refused with 400 ``idempotency_error``, as Stripe does.
- Amounts: a capture takes at most what was authorised; a refund at most what was
  captured less what was refunded; only a captured payment is refunded.
- States: only a ``requires_capture`` intent is captured; a ``succeeded`` or
  ``canceled`` one is not cancelled.

A test steers it: ``confirm_setup`` plays the part of Stripe.js (the buyer typing a
card); a card saved from ``DECLINING_CARD`` is declined when charged; ``stall_s``
makes payment-intent creation answer late (after making the intent); ``drop_next``
closes the connection after making the intent, without an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest

from livecart.config import Settings

SECRET_KEY = "sk_test_livecartdouble"
PUBLISHABLE_KEY = "pk_test_livecartdouble"
WEBHOOK_SECRET = "whsec_livecartdouble"
GOOD_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000341"  # Stripe's: attaches fine, declined when charged
BRANDS = {"4": "visa", "5": "mastercard", "3": "amex"}
CANCELLABLE = {"requires_payment_method", "requires_capture", "requires_confirmation"}


class StripeFailure(Exception):
    """An error answer, shaped as Stripe shapes them."""

    def __init__(self, status: int, kind: str, message: str, code: str = "", **extra: Any):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": kind, "message": message, **extra}}
        if code:
            self.body["error"]["code"] = code


def _missing(what: str, id_: str) -> StripeFailure:
    return StripeFailure(
        404, "invalid_request_error", f"No such {what}: '{id_}'", "resource_missing"
    )


def _unexpected_state(intent: dict[str, Any], doing: str) -> StripeFailure:
    return StripeFailure(
        400,
        "invalid_request_error",
        f"This PaymentIntent could not be {doing} because it has a status of {intent['status']}.",
        "payment_intent_unexpected_state",
    )


def decode_form(body: str) -> dict[str, Any]:
    """``a=1&b[c]=2&d[0]=x`` -> ``{"a": "1", "b": {"c": "2"}, "d": {"0": "x"}}``: the
    bracket form the stripe package encodes nested parameters in."""
    out: dict[str, Any] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        parts = name.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


@dataclass
class StripeDouble:
    url: str = ""
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    setup_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: list[tuple[str, int]] = field(default_factory=list)  # made, not replayed
    requests: list[tuple[str, str]] = field(default_factory=list)
    stall_s: float = 0.0
    drop_next: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _keys: dict[str, tuple[str, dict[str, Any] | None]] = field(default_factory=dict)
    _answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_double{next(self._ids):06d}"

    # --- what Stripe.js and Stripe's dashboard would do ------------------------------

    def confirm_setup(self, setup_intent: str, number: str = GOOD_CARD) -> str:
        """The buyer enters a card on the page and Stripe.js confirms the SetupIntent."""
        intent = self.setup_intents[setup_intent]
        method = {
            "id": self.new_id("pm"),
            "object": "payment_method",
            "type": "card",
            "customer": intent["customer"],
            "card": {"brand": BRANDS.get(number[0], "unknown"), "last4": number[-4:]},
            "declines": number == DECLINING_CARD,
        }
        self.payment_methods[method["id"]] = method
        intent.update(status="succeeded", payment_method=method["id"])
        return str(method["id"])

    def intents_of(self, customer: str) -> list[dict[str, Any]]:
        return [i for i in self.payment_intents.values() if i["customer"] == customer]

    # --- the API -----------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, params: dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        if parts[0] != "v1":
            raise _missing("endpoint", path)
        parts = parts[1:]
        if method == "POST" and parts == ["customers"]:
            return self._create_customer(params)
        if method == "POST" and parts == ["setup_intents"]:
            return self._create_setup_intent(params)
        if method == "GET" and len(parts) == 2 and parts[0] == "setup_intents":
            return self._get(self.setup_intents, "setup_intent", parts[1])
        if method == "GET" and len(parts) == 2 and parts[0] == "payment_methods":
            return self._public_method(self._get(self.payment_methods, "payment_method", parts[1]))
        if method == "POST" and len(parts) == 3 and parts[::2] == ["payment_methods", "detach"]:
            found = self._get(self.payment_methods, "payment_method", parts[1])
            found["customer"] = None
            return self._public_method(found)
        if method == "POST" and parts == ["payment_intents"]:
            return self._create_payment_intent(params)
        if method == "GET" and parts == ["payment_intents"]:
            return self._list_payment_intents(decode_form(query))
        if method == "GET" and len(parts) == 2 and parts[0] == "payment_intents":
            return self._get(self.payment_intents, "payment_intent", parts[1])
        if method == "POST" and len(parts) == 2 and parts[0] == "payment_intents":
            intent = self._get(self.payment_intents, "payment_intent", parts[1])
            intent["metadata"] = {**intent["metadata"], **params.get("metadata", {})}
            return intent
        if method == "POST" and len(parts) == 3 and parts[0] == "payment_intents":
            intent = self._get(self.payment_intents, "payment_intent", parts[1])
            if parts[2] == "capture":
                return self._capture(intent, params)
            if parts[2] == "cancel":
                return self._cancel(intent)
        if method == "POST" and parts == ["refunds"]:
            return self._refund(params)
        raise _missing("endpoint", f"{method} {path}")

    def _get(self, table: dict[str, dict[str, Any]], what: str, id_: str) -> dict[str, Any]:
        if id_ not in table:
            raise _missing(what, id_)
        return table[id_]

    @staticmethod
    def _public_method(method: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in method.items() if k != "declines"}

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": self.new_id("cus"),
            "object": "customer",
            "name": params.get("name"),
            "email": params.get("email"),
            "metadata": params.get("metadata", {}),
        }
        self.customers[customer["id"]] = customer
        return customer

    def _create_setup_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer", "")
        self._get(self.customers, "customer", customer)
        id_ = self.new_id("seti")
        intent = {
            "id": id_,
            "object": "setup_intent",
            "customer": customer,
            "usage": params.get("usage", "off_session"),
            "status": "requires_payment_method",
            "payment_method": None,
            "client_secret": f"{id_}_secret_{hashlib.sha256(id_.encode()).hexdigest()[:16]}",
            "metadata": params.get("metadata", {}),
        }
        self.setup_intents[id_] = intent
        return intent

    def _create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        for name in ("amount", "currency", "customer", "payment_method"):
            if name not in params:
                raise StripeFailure(
                    400, "invalid_request_error", f"Missing required param: {name}.", param=name
                )
        self._get(self.customers, "customer", params["customer"])
        method = self._get(self.payment_methods, "payment_method", params["payment_method"])
        if method["customer"] != params["customer"]:
            raise StripeFailure(
                400,
                "invalid_request_error",
                "The provided PaymentMethod is not attached to this customer.",
                "resource_missing",
            )
        amount = int(params["amount"])
        intent = {
            "id": self.new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "amount_refunded": 0,
            "currency": params["currency"],
            "customer": params["customer"],
            "payment_method": method["id"],
            "capture_method": params.get("capture_method", "automatic"),
            "confirm": params.get("confirm"),
            "off_session": params.get("off_session"),
            "status": "requires_capture",
            "created": int(time.time()),
            "metadata": params.get("metadata", {}),
        }
        self.payment_intents[intent["id"]] = intent
        if method["declines"]:
            intent["status"] = "requires_payment_method"
            raise StripeFailure(
                402,
                "card_error",
                "Your card was declined.",
                "card_declined",
                decline_code="generic_decline",
                payment_intent=intent,
            )
        intent["amount_capturable"] = amount
        return intent

    def _list_payment_intents(self, query: dict[str, Any]) -> dict[str, Any]:
        found = list(self.payment_intents.values())
        if "customer" in query:
            found = [i for i in found if i["customer"] == query["customer"]]
        gte = (query.get("created") or {}).get("gte")
        if gte is not None:
            found = [i for i in found if i["created"] >= int(gte)]
        found.sort(key=lambda i: i["created"], reverse=True)
        limit = int(query.get("limit", 10))
        return {
            "object": "list",
            "url": "/v1/payment_intents",
            "has_more": len(found) > limit,
            "data": found[:limit],
        }

    def _capture(self, intent: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if intent["status"] != "requires_capture":
            raise _unexpected_state(intent, "captured")
        amount = int(params.get("amount_to_capture", intent["amount_capturable"]))
        if amount > intent["amount_capturable"] or amount <= 0:
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"amount_to_capture ({amount}) must be between 1 and the amount capturable "
                f"({intent['amount_capturable']}).",
                "amount_too_large",
                param="amount_to_capture",
            )
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.captures.append((intent["id"], amount))
        return intent

    def _cancel(self, intent: dict[str, Any]) -> dict[str, Any]:
        if intent["status"] not in CANCELLABLE:
            raise _unexpected_state(intent, "canceled")
        intent.update(status="canceled", amount_capturable=0)
        return intent

    def _refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent = self._get(self.payment_intents, "payment_intent", params.get("payment_intent", ""))
        if intent["status"] != "succeeded":
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"PaymentIntent {intent['id']} has no successful charge to refund "
                f"(status {intent['status']}).",
                "charge_not_captured" if intent["status"] == "requires_capture" else "",
            )
        left = intent["amount_received"] - intent["amount_refunded"]
        amount = int(params.get("amount", left))
        if amount > left or amount <= 0:
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                "amount_too_large",
                param="amount",
            )
        intent["amount_refunded"] += amount
        refund = {
            "id": self.new_id("re"),
            "object": "refund",
            "amount": amount,
            "payment_intent": intent["id"],
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return refund

    # --- HTTP ------------------------------------------------------------------------

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = raw.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload, extra = await self._answer(method, target, headers, body)
                if payload is None:  # drop the connection without an answer
                    writer.transport.abort()
                    return
                head = [
                    f"HTTP/1.1 {status} X",
                    "Content-Type: application/json",
                    f"Content-Length: {len(payload)}",
                    "Request-Id: req_double",
                    *extra,
                ]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes | None, list[str]]:
        split = urlsplit(target)
        self.requests.append((method, split.path))
        if headers.get("authorization") != f"Bearer {SECRET_KEY}":
            failure = StripeFailure(401, "invalid_request_error", "Invalid API Key provided")
            return failure.status, orjson.dumps(failure.body), []
        params = decode_form(body.decode())
        key = headers.get("idempotency-key", "") if method == "POST" else ""
        if key:
            fingerprint = (split.path, params)
            if key in self._keys:
                first_path, first_params = self._keys[key]
                if (first_path, first_params) != fingerprint:
                    failure = StripeFailure(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                    return failure.status, orjson.dumps(failure.body), []
                if key not in self._answers:
                    failure = StripeFailure(
                        409, "idempotency_error", "A request with this key is in progress."
                    )
                    return failure.status, orjson.dumps(failure.body), []
                status, payload = self._answers[key]
                return status, payload, ["Idempotent-Replayed: true"]
            self._keys[key] = fingerprint
        try:
            status, payload = (
                200,
                orjson.dumps(self.handle(method, split.path, split.query, params)),
            )
        except StripeFailure as failure:
            status, payload = failure.status, orjson.dumps(failure.body)
        if key:
            self._answers[key] = (status, payload)
        if method == "POST" and split.path == "/v1/payment_intents":
            if self.drop_next:
                self.drop_next = False
                return status, None, []
            if self.stall_s:
                await asyncio.sleep(self.stall_s)
        return status, payload, []


@contextlib.asynccontextmanager
async def running_double() -> AsyncIterator[StripeDouble]:
    double = StripeDouble()
    connections: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await double.serve_connection(reader, writer)
        finally:
            connections.discard(task)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    double.url = f"http://127.0.0.1:{port}"
    try:
        yield double
    finally:
        server.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """A Stripe-Signature header for ``payload``, as Stripe signs webhook events."""
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event(kind: str, intent: dict[str, Any]) -> bytes:
    """A webhook event's body as Stripe sends it."""
    return orjson.dumps(
        {
            "id": f"evt_{hashlib.sha256(orjson.dumps(intent)).hexdigest()[:16]}",
            "object": "event",
            "type": kind,
            "data": {"object": intent},
        }
    )


def stripe_settings(settings: Settings, double: StripeDouble, **stripe: Any) -> Settings:
    """``settings`` with the stripe provider pointed at ``double`` (short timeouts, so a
    stalled answer fails a buy in half a second)."""
    return settings.with_overrides(
        {
            "checkout": {"payment_provider": "stripe", "payment_timeout_s": 2.0},
            "stripe": {
                "secret_key": SECRET_KEY,
                "publishable_key": PUBLISHABLE_KEY,
                "webhook_secret": WEBHOOK_SECRET,
                "api_base": double.url,
                "timeout_s": 0.5,
                **stripe,
            },
        }
    )


PROFILE: dict[str, Any] = {
    "name": "Maya Lindqvist",
    "email": "maya@example.com",
    "address": {
        "line1": "Storgatan 1",
        "line2": "",
        "city": "Stockholm",
        "postal_code": "111 22",
        "region": "",
        "country": "SE",
    },
}


async def save_a_card(
    http: httpx.AsyncClient, double: StripeDouble, headers: dict[str, str], number: str = GOOD_CARD
) -> dict[str, Any]:
    """What a buyer does on the page: a profile, a card setup confirmed by "Stripe.js"
    (the double), the card saved. Returns GET /api/me."""
    if (await http.get("/api/me", headers=headers)).status_code == 404:
        made = await http.put("/api/me", headers=headers, json=PROFILE)
        assert made.status_code == 201, made.text
    setup = await http.post("/api/me/card/setup", headers=headers)
    assert setup.status_code == 201, setup.text
    setup_intent = setup.json()["client_secret"].split("_secret_")[0]
    double.confirm_setup(setup_intent, number)
    saved = await http.post("/api/me/card", headers=headers, json={"setup_intent": setup_intent})
    assert saved.status_code == 200, saved.text
    me: dict[str, Any] = (await http.get("/api/me", headers=headers)).json()
    return me


@pytest.fixture
async def double() -> AsyncIterator[StripeDouble]:
    """A Stripe double on a free port for one test (import it into the test module)."""
    async with running_double() as running:
        yield running
