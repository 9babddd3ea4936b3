"""Decide, once per request, whether it goes to the standard or the private (no-log) endpoint.

The most private of these wins: the operator's ``PRIVACY_ENFORCED``, the request's own ``--private``,
the conversation thread having gone private earlier (a thread with a private turn stays private:
its history holds that turn), the user's saved preference, the channel's setting, then
``PRIVACY_DEFAULT``. The decision and its
reason travel with the request and show in the output; nothing downstream may change it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Route = Literal["standard", "private"]
THREAD_STAYS_PRIVATE = "this thread went private earlier, so it stays private"


@dataclass(frozen=True)
class RouteDecision:
    route: Route
    reason: str

    @property
    def private(self) -> bool:
        return self.route == "private"


def decide_route(
    *,
    enforced: bool,
    default: Route,
    requested: bool = False,
    thread_private: bool = False,
    user_pref: bool | None = None,
    channel_pref: bool | None = None,
) -> RouteDecision:
    if enforced:
        return RouteDecision("private", "private mode is enforced for everyone by the operator")
    if requested:
        return RouteDecision("private", "private was requested for this message")
    if thread_private:
        return RouteDecision("private", THREAD_STAYS_PRIVATE)
    if user_pref:
        return RouteDecision("private", "your private mode is on")
    if channel_pref:
        return RouteDecision("private", "this channel is set to private")
    if default == "private":
        return RouteDecision("private", "private is the default here")
    if user_pref is False:
        return RouteDecision("standard", "your private mode is off")
    return RouteDecision("standard", "standard is the default here")
