"""Who may do what: every role against every action, and show scope."""

from __future__ import annotations

import pytest

from livecart.auth.roles import ALLOWED, Action, authorize
from livecart.auth.tokens import Claims, Role
from livecart.errors import Forbidden, TokenMissing

STAFF_ACTIONS = {
    Action.PIN,
    Action.UNPIN,
    Action.FLASH_SALE,
    Action.SHOW_START,
    Action.SHOW_END,
    Action.MUTE,
    Action.BAN,
    Action.DELETE_MESSAGE,
    Action.SLOW_MODE,
    Action.PAUSE_SALES,
    Action.BLOCKED_KEYWORDS,
    Action.PUBLISH,
}
STREAMER_ONLY = {
    Action.PIN,
    Action.UNPIN,
    Action.FLASH_SALE,
    Action.SHOW_START,
    Action.SHOW_END,
    Action.PUBLISH,
}


def claims(role: Role, show: str | None = "s1") -> Claims:
    return Claims(sub="u1", role=role, show=None if role is Role.ADMIN else show, exp=0)


def test_every_action_has_a_rule() -> None:
    assert set(ALLOWED) == set(Action)


@pytest.mark.parametrize("action", sorted(STAFF_ACTIONS))
def test_a_viewer_can_never_do_a_staff_action(action: Action) -> None:
    with pytest.raises(Forbidden, match="a viewer may not"):
        authorize(claims(Role.VIEWER), action, "s1", anonymous_viewers=True)


@pytest.mark.parametrize("action", sorted(STREAMER_ONLY))
def test_a_moderator_cannot_do_the_streamers_actions(action: Action) -> None:
    with pytest.raises(Forbidden, match="a moderator may not"):
        authorize(claims(Role.MODERATOR), action, "s1", anonymous_viewers=True)


@pytest.mark.parametrize("action", sorted(STAFF_ACTIONS - STREAMER_ONLY))
def test_moderator_and_streamer_moderate_their_own_show(action: Action) -> None:
    authorize(claims(Role.MODERATOR), action, "s1", anonymous_viewers=True)
    authorize(claims(Role.STREAMER), action, "s1", anonymous_viewers=True)


@pytest.mark.parametrize("role", [Role.STREAMER, Role.MODERATOR])
@pytest.mark.parametrize("action", [*sorted(STAFF_ACTIONS - STREAMER_ONLY), Action.CHAT])
def test_staff_of_one_show_are_strangers_on_another(role: Role, action: Action) -> None:
    with pytest.raises(Forbidden, match="this token is for show 's1', not 's2'"):
        authorize(claims(role), action, "s2", anonymous_viewers=True)


def test_a_viewer_token_scoped_to_a_show_works_only_there() -> None:
    authorize(claims(Role.VIEWER, show="s1"), Action.BUY, "s1", anonymous_viewers=True)
    with pytest.raises(Forbidden):
        authorize(claims(Role.VIEWER, show="s1"), Action.BUY, "s2", anonymous_viewers=True)
    authorize(claims(Role.VIEWER, show=None), Action.BUY, "s2", anonymous_viewers=True)


@pytest.mark.parametrize("action", list(Action))
def test_an_admin_may_do_everything_on_every_show(action: Action) -> None:
    authorize(claims(Role.ADMIN), action, "any-show", anonymous_viewers=False)


def test_anonymous_people_may_only_watch_and_only_when_allowed() -> None:
    authorize(None, Action.WATCH, "s1", anonymous_viewers=True)
    with pytest.raises(TokenMissing):
        authorize(None, Action.WATCH, "s1", anonymous_viewers=False)
    for action in set(Action) - {Action.WATCH}:
        with pytest.raises(TokenMissing):
            authorize(None, action, "s1", anonymous_viewers=True)
