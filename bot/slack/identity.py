"""Who is asking: a Slack user mapped to a CRM person by the email on their profile (``users.info``).

The email is the CRM identity only when Slack vouches for it and the user is one of the installing
organisation's own members:

- the email is confirmed (``is_email_confirmed``) — an unconfirmed address is just a string anyone
  could type into a profile;
- the user belongs to the installing workspace, or to its Enterprise Grid organisation (``team_id``
  / ``enterprise_user.enterprise_id`` against ``auth.test``'s) — not someone from another
  organisation in a shared (Slack Connect) channel, and not ``is_stranger``;
- the user is not a guest (``is_restricted`` / ``is_ultra_restricted``): a guest holding an
  employee's address must not see that employee's records;
- not a bot, not deactivated.

Anyone else is still answered, from product docs and public records only, and told why (only to
them). Profiles are cached for ``SLACK_USER_CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

NEGATIVE_TTL = 60.0  # a "no such user" is re-checked sooner than a found one
PUBLIC_ONLY = "this answer uses product docs and public records only."
NO_EMAIL = ("I couldn't see an email on your Slack profile, so I can't tell which CRM records are yours: "
            + PUBLIC_ONLY)  # fmt: skip
UNCONFIRMED = ("The email on your Slack profile isn't confirmed, so I can't tell which CRM records are "
               "yours: " + PUBLIC_ONLY)  # fmt: skip
OUTSIDER = ("You're not a member of the workspace that installed me, so I don't match you to CRM records: "
            + PUBLIC_ONLY)  # fmt: skip
GUEST = "Guest accounts aren't matched to CRM records: " + PUBLIC_ONLY


@dataclass(frozen=True)
class Home:
    """The installation: the workspace (and Enterprise Grid organisation) ``auth.test`` names."""

    team_id: str | None
    enterprise_id: str | None

    def has(self, user: dict[str, Any]) -> bool:
        if user.get("is_stranger"):
            return False
        if self.team_id and user.get("team_id") == self.team_id:
            return True
        org = (user.get("enterprise_user") or {}).get("enterprise_id") or user.get("enterprise_id")
        return bool(self.enterprise_id) and org == self.enterprise_id


def why_not_mapped(user: dict[str, Any], home: Home) -> str | None:
    """None when ``user`` (a ``users.info`` user) may be matched to CRM records by their email;
    otherwise the one line that tells them why not."""
    email = (user.get("profile") or {}).get("email")
    if user.get("is_bot") or user.get("deleted") or not email:
        return NO_EMAIL
    if not home.has(user):
        return OUTSIDER
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return GUEST
    if user.get("is_email_confirmed") is not True:
        return UNCONFIRMED
    return None


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str | None
    tz: str | None = None
    team_id: str | None = None
    name: str | None = None  # display name, for mentions of this person in a question
    unmapped: str | None = None  # why this user is not matched to CRM records (shown only to them)

    @property
    def known(self) -> bool:
        return bool(self.email)

    @property
    def notice(self) -> str | None:
        """The line that tells this user their answers use public sources only, and why."""
        return None if self.known else self.unmapped or NO_EMAIL

    @property
    def who(self) -> str:
        """The name the core knows this person by: their email, or a stand-in that matches no record."""
        return self.email or f"slack:{self.user_id}"


class Directory:
    def __init__(self, client: WebClient, *, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Person]] = {}
        self._by_email: dict[str, tuple[float, Person | None]] = {}
        self._home: Home | None = None

    def home(self) -> Home:
        """The installing workspace and organisation (``auth.test``, once per process)."""
        if self._home is None:
            resp = self._client.auth_test()
            self._home = Home(resp.get("team_id") or None, resp.get("enterprise_id") or None)
        return self._home

    def person(self, user_id: str) -> Person:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(user_id)
            if hit and hit[0] > now:
                return hit[1]
        try:
            user = self._client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") not in ("user_not_found", "user_not_visible"):
                raise
            person, ttl = Person(user_id, None, unmapped=NO_EMAIL), min(self._ttl, NEGATIVE_TTL)
        else:
            profile = user.get("profile") or {}
            why = why_not_mapped(user, self.home())
            email = None if why else str(profile.get("email") or "").strip().lower() or None
            name = profile.get("display_name") or profile.get("real_name") or user.get("name")
            person = Person(user_id, email, user.get("tz"), user.get("team_id"),
                            name=str(name) if name else None, unmapped=why)  # fmt: skip
            ttl = self._ttl
        with self._lock:
            self._cache[user_id] = (now + ttl, person)
        return person

    def by_email(self, email: str) -> Person | None:
        """The Slack user with this email (``users.lookupByEmail``), or None; cached like
        :meth:`person`. Digests use it to find each rep's DM and time zone."""
        address = email.strip().lower()
        key = f"email:{address}"
        now = self._clock()
        with self._lock:
            hit = self._by_email.get(key)
            if hit and hit[0] > now:
                return hit[1]
        try:
            user = self._client.users_lookupByEmail(email=address)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") != "users_not_found":
                raise
            found, ttl = None, min(self._ttl, NEGATIVE_TTL)
        else:
            # A rep's records (a digest) go only to an account the rules of :meth:`person` accept.
            unmapped = why_not_mapped(user, self.home())
            tz, team = user.get("tz") or None, user.get("team_id")
            found = None if unmapped else Person(str(user["id"]), address, tz, team)
            ttl = self._ttl
        with self._lock:
            self._by_email[key] = (now + ttl, found)
        return found
