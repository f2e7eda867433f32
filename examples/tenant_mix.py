"""Two tenants' users in one run, each with its own behaviour, figures separable by tenant.

    locust -f examples/tenant_mix.py --headless -u 30 -r 10 -t 1m [--host ws://...]

Shoppers of tenant `acme-store` (7 in 10 users) have short conversations drawn from the
conversations (--conversations FILE, or the bundled support-chat corpus); agents of tenant
`globex-helpdesk` hold a session open and ask something every few seconds. Every phase is
also reported per tenant (`ready{tenant:acme-store}`), and benchmarks.toml can check one
tenant's figures. For a weighted mix of tenants with the bundled users, `--tenants
acme-store:70,globex-helpdesk:30` does the same without a locustfile.
"""

from locust import between, task

from harness.api import MIPTechUser


class Shopper(MIPTechUser):
    weight = 7
    wait_time = between(1, 3)

    @task
    def conversation(self) -> None:
        conversation = self.ctx.conversation()  # from --conversations, or the bundled corpus
        with self.client.session(tenant="acme-store") as s:
            for i, turn in enumerate(conversation.turns):
                if i:
                    s.wait(turn.think_s if turn.think_s is not None else 1.0)
                s.chat(turn.text, name=turn.step or conversation.step)


class HelpdeskAgent(MIPTechUser):
    weight = 3

    @task
    def hold(self) -> None:
        # held: reconnects with the document's backoff and circuit breaker when dropped
        with self.client.session(tenant="globex-helpdesk", held=True) as s:
            for _ in range(3):
                if not s.wait(2.0):  # heartbeats go on while it waits
                    break
                s.chat("Any update on ticket 4521?", name="ticket_status")
