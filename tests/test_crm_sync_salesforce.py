"""`closer sync salesforce` against a fake Salesforce over real HTTPS, through simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.crm_sync.http import CallCounter
from bot.crm_sync.salesforce import STREAMS, SalesforceSource
from bot.errors import CrmError
from bot.knowledge.base import KnowledgeBase
from tests.conftest import HashEmbedder
from tests.crm_sync_fixtures import (
    ADMIN,
    ANA,
    LIAM,
    MAYA,
    open_kb,
    salesforce_settings,
    seed_salesforce,
    sync_salesforce,
    visible,
)
from tests.fake_salesforce import FakeSalesforce, rsa_key_pem
from tests.fake_vendor import Failure


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[Path, object]:
    pem, public = rsa_key_pem()
    path = tmp_path / "app.key"
    path.write_bytes(pem)
    return path, public


@pytest.fixture
def org(
    tmp_path: Path, key_file: tuple[Path, object], monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeSalesforce]:
    with FakeSalesforce(
        folder=tmp_path, public_key=key_file[1], client_secret="s3cret-consumer", batch=1
    ) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.cert))  # trust the fake's self-signed certificate
        yield fake


@pytest.fixture
def ids(org: FakeSalesforce) -> dict[str, str]:
    return seed_salesforce(org)


@pytest.fixture
def sfs(settings: Settings, org: FakeSalesforce, key_file: tuple[Path, object]) -> Settings:
    return salesforce_settings(settings, org, key_file[0])


@pytest.fixture
def kb(sfs: Settings) -> KnowledgeBase:
    return open_kb(sfs, HashEmbedder())


def test_jwt_sign_in_and_a_full_read_with_owners_and_team_members(
    kb: KnowledgeBase, sfs: Settings, org: FakeSalesforce, ids: dict[str, str]
) -> None:
    report, _ = sync_salesforce(sfs, kb)
    assert report.added == 9 and not report.problems
    maya, liam, ana = visible(kb, MAYA), visible(kb, LIAM), visible(kb, ANA)
    assert {f"deal:{ids['robots']}", f"note:{ids['rebate']}", f"contact:{ids['ingrid']}"} <= maya
    assert maya == liam  # Liam is on the account's and the opportunity's team
    assert f"note:{ids['rebate']}" not in ana
    assert {f"deal:{ids['pallets']}", f"note:{ids['pallet_note']}", f"note:{ids['account_note']}"} <= ana
    assert visible(kb, ADMIN) == maya | ana
    deal = {h.source_id: h for h in kb.search("robots", viewer=kb.viewer(MAYA), k=5)}[ids["robots"]]
    assert "Stage: negotiation" in deal.text
    grants = [c.body for c in org.calls if c.path == "/services/oauth2/token"]
    assert len(grants) == 1 and grants[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    # paged by nextRecordsUrl (the fake answers 1 record a call)
    assert any("/query/01g" in c.path for c in org.calls)


def test_client_credentials_sign_in(
    kb: KnowledgeBase, sfs: Settings, org: FakeSalesforce, ids: dict[str, str]
) -> None:
    cc = sfs.model_copy(
        update={"salesforce_private_key_file": None, "salesforce_client_secret": "s3cret-consumer"}
    )
    report, _ = sync_salesforce(cc, kb)
    assert report.added == 9
    bad = cc.model_copy(update={"salesforce_client_secret": "wrong-secret"})
    with pytest.raises(
        CrmError, match=r"refused the sign-in \(invalid_client\): invalid client credentials"
    ) as err:
        sync_salesforce(bad, open_kb(bad, HashEmbedder()))
    assert "wrong-secret" not in str(err.value)


def test_incremental_team_change_and_deletion(
    kb: KnowledgeBase, sfs: Settings, org: FakeSalesforce, ids: dict[str, str]
) -> None:
    org.backdate(hours=2)
    sync_salesforce(sfs, kb)
    member = next(iter(org.objects["OpportunityTeamMember"]))
    org.delete("OpportunityTeamMember", member)  # Liam leaves the opportunity's team …
    account_member = next(iter(org.objects["AccountTeamMember"]))
    org.delete("AccountTeamMember", account_member)  # … and the account's
    org.delete("Contact", ids["sean"])
    start = len(org.calls)
    report, _ = sync_salesforce(sfs, kb)
    assert report.read["Opportunity"] == 0 and report.read["Task"] == 0
    # deletions come in the same queryAll pages as changes: one query per object type, no second one
    # for deletions, plus the team members' parents re-read with their teams
    streams = [c.query["q"][0] for c in org.calls[start:] if c.path.rstrip("/").endswith("/queryAll")]
    lookups = [c.query["q"][0] for c in org.calls[start:] if c.path.rstrip("/").endswith("/query")]
    assert len(streams) == len(STREAMS) and not any("IsDeleted = true" in q for q in streams + lookups)
    assert len(lookups) == 4  # each team member's parent record, and its team
    assert f"deal:{ids['robots']}" not in visible(kb, LIAM)
    assert f"note:{ids['rebate']}" not in visible(kb, LIAM)  # the task follows its opportunity
    assert f"deal:{ids['robots']}" in visible(kb, MAYA)
    assert f"contact:{ids['sean']}" not in visible(kb, ADMIN)


def test_server_errors_are_retried_and_a_dead_session_is_one_line(
    kb: KnowledgeBase, sfs: Settings, org: FakeSalesforce, ids: dict[str, str]
) -> None:
    org.fail_next(Failure(503, retry_after="1", when="/query"))
    report, counter = sync_salesforce(sfs, kb)
    assert report.added == 9 and counter.retries == 1
    source = SalesforceSource(sfs, CallCounter())
    source.client()
    org.tokens.clear()  # the session is revoked
    with pytest.raises(CrmError, match=r"refused the credentials \(401\)"):
        list(source.query("Opportunity", "SELECT Id FROM Opportunity"))


def test_cli_sync_salesforce_from_settings(
    sfs: Settings, org: FakeSalesforce, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from bot.cli import main

    env = {"SALESFORCE_LOGIN_URL": org.url, "SALESFORCE_CLIENT_ID": org.client_id, "SALESFORCE_USERNAME": org.username,
           "SALESFORCE_PRIVATE_KEY_FILE": str(sfs.salesforce_private_key_file), "CHROMA_PATH": str(sfs.chroma_path),
           "STATE_URL": sfs.state_url}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["sync", "salesforce"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("salesforce: read ") and "9 added" in out
    monkeypatch.setenv("SALESFORCE_USERNAME", "someone.else@acme.example")
    assert main(["sync", "salesforce", "--full"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused the sign-in (invalid_grant)" in err


RICH = (
    "<p>Halvorsen wants the <b>robots</b> by March &amp; a 3-year service plan.</p>"
    "<script>alert('x')</script><style>p {color: red}</style><!-- draft: call Ingrid -->"
    "<ul><li>CFO signs off</li><li>Legal reviews the SLA</li></ul>"
)


def _users(org: FakeSalesforce) -> dict[str, str]:
    return {r["Email"]: sid for sid, r in org.objects["User"].items()}


def test_enhanced_notes_are_read_from_their_links_with_the_parents_access(
    kb: KnowledgeBase, sfs: Settings, org: FakeSalesforce, ids: dict[str, str]
) -> None:
    users = _users(org)
    on_deal = org.content_note(users[MAYA], "Robots: terms", RICH, on=(ids["halvorsen"], ids["robots"]))
    on_account = org.content_note(
        users[ANA], "Cork site", "<p>Brindle opens a second site.</p>", on=(ids["brindle"],)
    )
    private = org.content_note(
        users[MAYA], "Private", "<p>My own reminder</p>", on=(ids["robots"],), private=True
    )
    unattached = org.content_note(users[ANA], "Loose", "<p>Not on any record</p>")
    report, _ = sync_salesforce(sfs, kb)
    assert report.read["ContentNote"] == 4 and report.added == 9 + 2
    maya, liam, ana = visible(kb, MAYA), visible(kb, LIAM), visible(kb, ANA)
    assert f"note:{on_deal}" in maya and f"note:{on_deal}" in liam and f"note:{on_deal}" not in ana
    assert f"note:{on_account}" in ana and f"note:{on_account}" not in maya
    for hidden in (private, unattached):  # a private note is its owner's alone in Salesforce: not read
        assert f"note:{hidden}" not in visible(kb, ADMIN)
    assert {p.path for p in report.problems} == {
        f"salesforce note {private}",
        f"salesforce note {unattached}",
    }
    hit = {h.source_id: h for h in kb.search("robots service plan", viewer=kb.viewer(MAYA), k=10)}[on_deal]
    assert "Halvorsen wants the robots by March & a 3-year service plan." in hit.text
    assert "CFO signs off\nLegal reviews the SLA" in hit.text
    assert (
        "<" not in hit.text
        and "alert" not in hit.text
        and "color" not in hit.text
        and "draft" not in hit.text
    )
    assert "Robots: terms" in hit.text  # the title is the subject
    # the body came from the blob endpoint, the links from a ContentDocumentId-filtered query
    assert any(c.path.endswith(f"/sobjects/ContentNote/{on_deal}/Content") for c in org.calls)
    assert not any(c.path.endswith(f"/sobjects/ContentNote/{private}/Content") for c in org.calls)


def test_enhanced_notes_incrementally_edited_made_private_and_deleted(
    kb: KnowledgeBase, sfs: Settings, org: FakeSalesforce, ids: dict[str, str]
) -> None:
    users = _users(org)
    edited = org.content_note(users[MAYA], "Robots", "<p>First draft</p>", on=(ids["robots"],))
    gone = org.content_note(users[ANA], "Cork", "<p>Cork expands</p>", on=(ids["brindle"],))
    hidden = org.content_note(users[ANA], "Pallets", "<p>Pallet terms</p>", on=(ids["pallets"],))
    org.backdate(hours=2)
    sync_salesforce(sfs, kb)
    assert {f"note:{edited}", f"note:{gone}", f"note:{hidden}"} <= visible(kb, ADMIN)
    org.edit_note(edited, "<p>Final: <i>signed</i> on Friday</p>")
    org.delete("ContentNote", gone)
    org.modify("ContentNote", hidden, SharingPrivacy="P")
    report, _ = sync_salesforce(sfs, kb)
    assert report.read["ContentNote"] == 2 and report.read["Opportunity"] == 0
    assert (report.updated, report.removed) == (1, 2)
    assert f"note:{gone}" not in visible(kb, ADMIN) and f"note:{hidden}" not in visible(kb, ADMIN)
    hit = {h.source_id: h for h in kb.search("signed on Friday", viewer=kb.viewer(MAYA), k=10)}[edited]
    assert "Final: signed on Friday" in hit.text and "First draft" not in hit.text


def test_the_fake_refuses_what_salesforce_refuses_for_enhanced_notes(
    sfs: Settings, org: FakeSalesforce, ids: dict[str, str]
) -> None:
    """ContentNote has no SystemModstamp, and ContentDocumentLink cannot be queried without a filter on
    its ids: code that does either would fail against the real org, so it fails here too."""
    source = SalesforceSource(sfs, CallCounter())
    with pytest.raises(CrmError, match="No such column 'SystemModstamp' on entity 'ContentNote'"):
        list(
            source.query(
                "ContentNote", "SELECT Id FROM ContentNote WHERE SystemModstamp < 2030-01-01T00:00:00Z"
            )
        )
    with pytest.raises(CrmError, match="Implementation restriction: ContentDocumentLink requires a filter"):
        list(source.query("links", "SELECT Id, LinkedEntityId FROM ContentDocumentLink"))


def test_an_org_without_enhanced_notes_or_account_teams_still_syncs_and_says_so(
    kb: KnowledgeBase, sfs: Settings, org: FakeSalesforce, ids: dict[str, str]
) -> None:
    """Notes or account teams off (or not readable by the integration user): Salesforce answers
    INVALID_TYPE for those objects; the rest is read, and the run names what it could not read."""
    org.without("ContentNote", "ContentDocumentLink", "AccountTeamMember")
    report, _ = sync_salesforce(sfs, kb)
    assert report.added == 9 and not report.problems
    assert {n.path for n in report.notices} == {"salesforce ContentNote", "salesforce AccountTeamMember"}
    assert all("is not supported" in n.message for n in report.notices)
    assert f"deal:{ids['robots']}" in visible(kb, LIAM)  # still on the opportunity's team
    assert f"account:{ids['halvorsen']}" not in visible(kb, LIAM)  # the account team was not read
