"""Who is asking: a Slack user mapped to a CRM person by the email on their profile (``users.info``).

Profiles are cached for ``SLACK_USER_CACHE_SECONDS``. A user without a visible email (a guest, a
bot, or an app missing ``users:read.email``) is still answered, from product docs and public records
only, and told why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

NEGATIVE_TTL = 60.0  # a "no such user" is re-checked sooner than a found one


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str | None
    tz: str | None = None
    team_id: str | None = None
    name: str | None = None  # display name, for mentions of this person in a question

    @property
    def known(self) -> bool:
        return bool(self.email)

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
            person, ttl = Person(user_id, None), min(self._ttl, NEGATIVE_TTL)
        else:
            profile = user.get("profile") or {}
            email = None if user.get("is_bot") or user.get("deleted") else profile.get("email")
            name = profile.get("display_name") or profile.get("real_name") or user.get("name")
            person = Person(
                user_id,
                (email or "").strip().lower() or None,
                user.get("tz"),
                user.get("team_id"),
                name=str(name) if name else None,
            )
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
            found = Person(str(user["id"]), address, user.get("tz") or None, user.get("team_id"))
            ttl = self._ttl
        with self._lock:
            self._by_email[key] = (now + ttl, found)
        return found
