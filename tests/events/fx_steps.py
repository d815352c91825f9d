"""FX executions driven through a running pipeline's API, each recorded as what it must cause.

An exchange between one's own wallets tells its owner `fx.exchanged` (in the sell currency, with
what was bought); a payment on a quote tells its sender `transfer.sent` in what they paid and its
recipient `transfer.received` in what arrived. The amounts come from the quote the test asked
for (the quote is the contract; tests/fx checks its rounding); the balances are the test's own.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.events.pipeline import CURRENCY, Pipeline, money
from tests.support.api import Account

BUY = "EUR"
RATE, SPREAD = "0.9213", "0.5%"


class FxSteps:
    """The operator sets one rate (USD -> EUR); each step asks for a quote and executes it."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.buy_balances: dict[str, int] = {}
        assert pipeline.admin is not None
        response = pipeline.client.post(
            "/v1/admin/fx/rates",
            json={"sell": CURRENCY, "buy": BUY, "rate": RATE, "spread": SPREAD, "reason": "test"},
            headers=pipeline.admin.headers,
        )
        assert response.status_code == 200, response.text

    def exchange(self, who: Account, sell_amount: int, memo: str | None = None) -> dict[str, Any]:
        quote = self._quote(who, sell_amount)
        done = self._post(who, "/v1/fx/exchange", {"quote_id": quote["quote_id"], "memo": memo})
        assert (done["kind"], done["fx"]["quote_id"]) == ("exchange", quote["quote_id"]), done
        self.pipeline.balances[who.user_id] -= sell_amount
        bought = self._bought(who, quote)
        payload = self._payload(who, quote, sell_amount, CURRENCY, None, memo, done["id"])
        payload["new_balance"] = money(self.pipeline.balances[who.user_id], CURRENCY)
        title = f"You exchanged {money(sell_amount, CURRENCY)} for {bought}"
        self._expect("fx-exchanged", who, "fx.exchanged", payload, title)
        return done

    def pay(
        self, sender: Account, recipient: Account, sell_amount: int, memo: str | None = None
    ) -> dict[str, Any]:
        quote = self._quote(sender, sell_amount)
        body = {
            "amount": sell_amount,
            "currency": CURRENCY,
            "to_email": recipient.email,
            "quote_id": quote["quote_id"],
            "memo": memo,
        }
        done = self._post(sender, "/v1/transfers", body)
        assert (done["kind"], done["fx"]["buy_amount"]) == ("fx_transfer", quote["buy_amount"]), done
        self.pipeline.balances[sender.user_id] -= sell_amount
        bought = self._bought(recipient, quote)
        sent = self._payload(sender, quote, sell_amount, CURRENCY, recipient.email, memo, done["id"])
        sent["new_balance"] = money(self.pipeline.balances[sender.user_id], CURRENCY)
        received = self._payload(recipient, quote, quote["buy_amount"], BUY, sender.email, memo, done["id"])
        received["new_balance"] = money(self.buy_balances[recipient.user_id], BUY)
        self._expect(
            "transfer-sent", sender, "transfer.sent", sent, f"You sent {money(sell_amount, CURRENCY)}"
        )
        self._expect("transfer-received", recipient, "transfer.received", received, f"You received {bought}")
        return done

    def _quote(self, who: Account, sell_amount: int) -> dict[str, Any]:
        quote = self._post(who, "/v1/fx/quotes", {"sell": CURRENCY, "buy": BUY, "sell_amount": sell_amount})
        assert (quote["sell_amount"], quote["rate"]) == (sell_amount, RATE), quote
        assert 0 < quote["fee"] < sell_amount and quote["buy_amount"] > 0, quote
        return quote

    def _bought(self, receiver: Account, quote: dict[str, Any]) -> str:
        self.buy_balances[receiver.user_id] = self.buy_balances.get(receiver.user_id, 0) + int(
            quote["buy_amount"]
        )
        return money(int(quote["buy_amount"]), BUY)

    def _payload(
        self,
        who: Account,
        quote: dict[str, Any],
        amount: int,
        currency: str,
        counterparty: str | None,
        memo: str | None,
        transfer_id: str,
    ) -> dict[str, Any]:
        return {
            "email": who.email,
            "amount": money(amount, currency),
            "amount_minor": amount,
            "currency": currency,
            "counterparty": counterparty,
            "memo": memo,
            "new_balance": None,
            "transfer_id": transfer_id,
            "quote_id": quote["quote_id"],
            "sold": money(int(quote["sell_amount"]), CURRENCY),
            "bought": money(int(quote["buy_amount"]), BUY),
            "rate": RATE,
        }

    def _expect(
        self, workflow: str, who: Account, event_type: str, payload: dict[str, Any], title: str
    ) -> None:
        self.pipeline.expect(
            workflow,
            who,
            event_type,
            payload=payload,
            facts={"transfer_id": payload["transfer_id"]},
            inbox_title=title,
        )

    def _post(self, who: Account, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.pipeline.client.post(
            path, json=body, headers={**who.headers, "Idempotency-Key": str(uuid.uuid4())}
        )
        assert response.status_code in (200, 201), response.text
        return dict(response.json())
