"""The scripting API: write your own MIPTech users in a locustfile, as with Locust's HttpUser.

    from locust import between, task

    from harness.api import MIPTechUser  # also registers the harness's hooks and options


    class SupportUser(MIPTechUser):
        wait_time = between(1, 5)

        @task
        def ask_about_pricing(self) -> None:
            with self.client.session() as s:  # connect, auth after 100 ms, connection_ready
                reply = s.chat("How much is the team plan?", name="pricing_question")
                if reply.ok and "annual" in reply.text:
                    s.wait(3)  # think; heartbeats go on
                    s.chat("And billed annually?", name="pricing_followup")

Every phase is timed by the harness's one protocol state machine, whatever the script does:
the run record, report, checks and Locust's statistics are the same as for the bundled users
(which are built on this API). `name` labels a chat's phases as a step: the report and
`benchmarks.toml` can then break them down (`chat_complete{step:pricing_question}`).

- `self.client.session(tenant=None, *, held=False)`: a Session (a context manager).
- `Session.chat(text, name=None, *, typing=True) -> Reply`; `.wait(seconds) -> bool`;
  `.heartbeat() -> float | None` (ms); `.typing(active=True)`; `.close()`; `.ready`.
- `Reply`: ok, error, text, chunks, step, first_ms, gaps_ms, complete_ms.
- `self.ctx`: the run's settings, knobs, conversations (`self.ctx.conversation()` draws one
  from --conversations or the bundled corpus) and rng.

Nothing the platform does raises. An exception in a session's `with` body fails that
lifecycle as `harness_error` (logged once per kind, with its file and line).
"""

from harness.conversations import Conversation, Turn
from harness.load import plugin  # noqa: F401  (the harness's options and Locust hooks)
from harness.load.lifecycle import MIPTechClient, Reply, Session
from harness.load.users import MIPTechUser

__all__ = ["Conversation", "MIPTechClient", "MIPTechUser", "Reply", "Session", "Turn"]
