"""A multi-turn support conversation, written with the harness's scripting API.

    locust -f examples/support_conversation.py --headless -u 20 -r 5 -t 1m [--host ws://...]

Each user opens a session (connect, auth after the document's 100 ms, connection_ready),
asks a question, reads the reply, follows up the way a person does, and closes. Each chat's
`name` is a step: the report and benchmarks.toml break its phases down by it
(`chat_complete{step:pricing_followup}`). With no --host the reference platform is started.
"""

from locust import between, task

from harness.api import MIPTechUser


class SupportCustomer(MIPTechUser):
    wait_time = between(1, 3)  # between lifecycles: a page reload, another visitor

    @task(3)
    def pricing(self) -> None:
        with self.client.session() as s:
            reply = s.chat("Hi! What does the team plan cost per seat?", name="pricing_question")
            if not reply.ok:
                return  # recorded already (its error class); nothing to follow up on
            s.wait(len(reply.text) / 40)  # reads the reply, about 40 characters a second
            s.chat("Is there a discount if we pay for a year up front?", name="pricing_followup")

    @task(1)
    def troubleshooting(self) -> None:
        with self.client.session() as s:
            s.typing()  # the indicator while the customer types a long message
            s.wait(1.5)
            s.chat(
                "Our webhook deliveries have failed with HTTP 401 since this morning. "
                "We rotated the signing secret yesterday; could that be the cause?",
                name="troubleshooting",
            )
            s.heartbeat()  # a ping while the customer reads: its round trip is timed too
            s.chat("Thanks, where do I update the secret?", name="troubleshooting")
