"""Locust's worker bookkeeping, fixed: same answers, without rebuilding or walking."""

from __future__ import annotations

from typing import Any

from locust import User, argument_parser
from locust.env import Environment
from locust.runners import Runner

from harness.load import locust_fixes

locust_fixes.install()


def test_default_options_are_built_once() -> None:
    first = argument_parser.default_args_dict()
    assert argument_parser.default_args_dict() is first
    assert "spawn_rate" in first and "scenario" not in first  # Locust's own, not ours


class Waiting(User):
    """A user that starts and waits: it only has to be counted."""

    abstract = True

    def on_start(self) -> None:
        import gevent

        gevent.sleep(60)


class Chatty(Waiting):
    pass


class Holding(Waiting):
    pass


def counts(user_classes: list[type[User]], spawn: dict[str, int]) -> tuple[Any, Any]:
    """(the fixed count, Locust's own walk) after spawning users that do nothing."""
    import gevent

    env = Environment(user_classes=user_classes, events=None)
    runner = env.create_local_runner()
    try:
        runner.spawn_users(spawn)
        gevent.sleep(0)
        return runner.user_classes_count, locust_fixes.WALK_USER_GREENLETS.fget(runner)
    finally:
        runner.user_greenlets.kill(block=True)


def test_one_user_class_is_counted_without_walking_the_users() -> None:
    assert Runner.__dict__["user_classes_count"] is not locust_fixes.WALK_USER_GREENLETS
    fixed, walked = counts([Chatty], {"Chatty": 7})
    assert fixed == walked == {"Chatty": 7}


def test_several_user_classes_are_still_walked() -> None:
    fixed, walked = counts([Chatty, Holding], {"Chatty": 3, "Holding": 2})
    assert fixed == walked == {"Chatty": 3, "Holding": 2}
