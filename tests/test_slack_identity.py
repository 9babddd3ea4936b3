"""Identity is not just a profile email (issue 9, point 5): a Slack user is matched to CRM records
only when Slack vouches for the email and the user is one of the installation's own full members.
Anyone else gets public sources only, and is told why — only them (issue 10, point 7).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.slack.clients import web_client
from bot.slack.identity import GUEST, NO_EMAIL, OUTSIDER, UNCONFIRMED, Directory
from tests.fake_slack import FakeSlack
from tests.slack_fixtures import Harness, text_of
from tests.slack_fixtures import crm_fixture as crm_fixture  # the crm fixture
from tests.slack_fixtures import harness_fixture as harness_fixture  # the h fixture
from tests.test_slack_private_threads import app_mention, im, ts

BOB = "bob@x.example"  # on the private Globex Pilot deal (note N2: "SOC 2")
PEOPLE: dict[str, dict[str, Any]] = {
    "UBOB": {"email": BOB},
    "UUNCONF": {"email": BOB, "is_email_confirmed": False},
    "UNOFIELD": {"email": BOB, "is_email_confirmed": None},  # the field missing: not vouched for
    "UOTHER": {"email": BOB, "team_id": "T0OTHER"},  # another organisation, in a shared channel
    "USTRANGER": {"email": BOB, "is_stranger": True},
    "UGUESTR": {"email": BOB, "is_restricted": True},  # a multi-channel guest
    "UGUESTU": {"email": BOB, "is_restricted": True, "is_ultra_restricted": True},  # single-channel
    "UBOTUSER": {"email": BOB, "is_bot": True},
    "UGONE": {"email": BOB, "deleted": True},
    "UGRID": {"email": BOB, "team_id": "T0SISTER", "enterprise_user": {"enterprise_id": "E0001"}},
}


@pytest.mark.parametrize(
    ("user", "why"),
    [("UUNCONF", UNCONFIRMED), ("UNOFIELD", UNCONFIRMED), ("UOTHER", OUTSIDER), ("USTRANGER", OUTSIDER),
     ("UGUESTR", GUEST), ("UGUESTU", GUEST), ("UBOTUSER", NO_EMAIL), ("UGONE", NO_EMAIL),
     ("UGRID", OUTSIDER), ("UNOBODY", NO_EMAIL)],
)  # fmt: skip
def test_only_vouched_for_members_are_matched_to_crm_records(user: str, why: str) -> None:
    with FakeSlack(users=PEOPLE) as fake:
        directory = Directory(web_client("xoxb-t", fake.api_url), ttl=60)
        assert directory.person("UBOB").who == BOB and directory.person("UBOB").notice is None
        person = directory.person(user)
        assert (person.email, person.known, person.notice) == (None, False, why)
        assert person.who == f"slack:{user}"  # matches no CRM record
        assert len(fake.calls_to("auth.test")) == 1  # the installation is asked once


def test_an_enterprise_grid_install_accepts_the_organisations_members() -> None:
    with FakeSlack(users=PEOPLE) as fake:
        fake.enterprise_id = "E0001"
        directory = Directory(web_client("xoxb-t", fake.api_url), ttl=60)
        assert directory.person("UGRID").who == BOB
        assert directory.person("UOTHER").who == "slack:UOTHER"


def test_a_digest_never_goes_to_an_account_slack_does_not_vouch_for() -> None:
    with FakeSlack(users={"UGUESTR": PEOPLE["UGUESTR"]}) as fake:
        assert Directory(web_client("xoxb-t", fake.api_url), ttl=60).by_email(BOB) is None
    with FakeSlack(users={"UBOB": PEOPLE["UBOB"]}) as fake:
        found = Directory(web_client("xoxb-t", fake.api_url), ttl=60).by_email(BOB)
        assert found is not None and found.user_id == "UBOB"


# --- through the app -----------------------------------------------------------------------------------

QUESTION = "What does the Globex CISO want before signing?"


@pytest.mark.parametrize("user", ["UGUESTR", "UUNCONF", "UOTHER"])
def test_a_guest_or_unvouched_email_never_sees_the_employees_records(h: Harness, user: str) -> None:
    h.fake.users[user] = PEOPLE[user]
    h.driver.event(im(QUESTION, at=ts(), user=user, channel="D300"))
    (update,) = h.fake.wait_calls("chat.update")
    assert "SOC 2" not in h.prompt(h.std) and "Globex Pilot" not in h.prompt(h.std)
    assert "public records only" in text_of(update.params)  # …and is told why, in their DM
    h.fake.users["UREALBOB"] = PEOPLE["UBOB"]  # the real Bob still sees his deal
    h.driver.event(im(QUESTION, at=ts(), user="UREALBOB", channel="D301"))
    h.fake.wait_calls("chat.update", 2)
    assert "SOC 2" in h.prompt(h.std)


def test_in_a_channel_why_you_get_public_sources_is_told_to_you_alone(h: Harness) -> None:
    h.driver.event(app_mention("What discount did Acme ask for?", at=ts(), user="UGUEST"))
    h.fake.wait_calls("chat.update")
    public = json.dumps(
        [c.params for c in h.fake.calls_to("chat.update", "chat.postMessage")], ensure_ascii=False
    )
    assert "public records only" in public  # the channel's note: everyone's answer there is public-only
    assert "couldn't see an email" not in public  # …but nothing about the asker's profile
    (note,) = h.fake.wait_calls("chat.postEphemeral")
    assert note.params["user"] == "UGUEST" and "couldn't see an email" in text_of(note.params)


def test_an_empty_mention_is_answered_to_the_asker_alone(h: Harness) -> None:
    h.driver.event({**app_mention("", at=ts()), "text": "<@UBOT>"})
    (hint,) = h.fake.wait_calls("chat.postEphemeral")
    assert hint.params["user"] == "UALICE" and "Ask me a question after the mention" in text_of(hint.params)
    assert h.fake.calls_to("chat.postMessage") == []
