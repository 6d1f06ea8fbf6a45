"""Marketplace events → the index, idempotently, and a rewind removes what vanished.

Events are built as the decoder yields them (lowercase hex, ints, bools) and applied with
the indexer's own :func:`apply_events` and :func:`rewind` on each backend (SQLite and, when
configured, PostgreSQL): the end-to-end path through the chain is covered by the API tests
(``tests/api/test_marketplace_flow.py``), which also let the running indexer re-read the same
blocks.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from crypto.signing import manifest_digest
from ledger_api.indexer.apply import apply_events
from ledger_api.indexer.decode import ChainEvent
from ledger_api.indexer.rollback import rewind
from ledger_api.services import marketplace_queries as queries
from storage.models import (
    MarketplaceInstall,
    MarketplaceManifest,
    MarketplaceRating,
    MarketplaceStatusEvent,
    MarketplaceVendor,
    MarketplaceVote,
)
from tests.contracts.marketplace_support import manifest

APP = "0x" + "a1" * 32
VENDOR = "0x" + "11" * 20
ADMIN = "0x" + "99" * 20
ROLES = ["0x" + "21" * 20, "0x" + "22" * 20, "0x" + "23" * 20]
MARKET = "0x" + "cc" * 20  # the contract address (for the cursor)
INST_ADMIN = "0x" + "31" * 20
CID = "bafkreimanifestone"
DOC = manifest(1)
DIGEST = "0x" + manifest_digest(DOC).hex()


def _event(name: str, block: int, log: int = 0, **args: Any) -> ChainEvent:
    tx = "0x" + hashlib.sha256(f"{block}:{log}".encode()).hexdigest()
    return ChainEvent("Marketplace", name, args, block, log, tx, block_time=1_800_000_000 + block)


def _scenario() -> list[ChainEvent]:
    votes = [
        _event(
            "VoteCast",
            13 + i,
            0,
            appId=APP,
            version=1,
            role=i + 1,
            voter=ROLES[i],
            approve=True,
            reason="",
        )
        for i in range(3)
    ]
    return [
        _event("VendorEnrolled", 10, vendor=VENDOR, actor=ADMIN),
        *[
            _event(
                "AdministratorSet",
                11,
                i,
                role=i + 1,
                account=ROLES[i],
                previous="0x" + "00" * 20,
                actor=ADMIN,
            )
            for i in range(3)
        ],
        _event(
            "AppSubmitted",
            12,
            appId=APP,
            version=1,
            vendor=VENDOR,
            manifestDigest=DIGEST,
            manifestUri=f"ipfs://{CID}",
        ),
        *votes,
        _event("AppListed", 15, 1, appId=APP, version=1),
        _event("AppInstalled", 16, institutionId=1, appId=APP, version=1, actor=INST_ADMIN),
        _event("AppRated", 17, appId=APP, version=1, institutionId=1, score=4, actor=INST_ADMIN),
        _event("AppSuspended", 18, appId=APP, version=1, actor=ROLES[1], reason="leaks data"),
        _event("AppUninstalled", 19, institutionId=1, appId=APP, actor=INST_ADMIN),
    ]


def _counts(db: Session) -> dict[str, int]:
    return {
        m.__tablename__: db.scalar(sa.select(sa.func.count()).select_from(m)) or 0
        for m in (MarketplaceVote, MarketplaceInstall, MarketplaceRating, MarketplaceStatusEvent)
    }


def test_events_fill_the_tables_and_a_replay_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    text = json.dumps(DOC, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with sessions.begin() as db:
        db.add(MarketplaceManifest(cid=CID, digest=DIGEST, document=text, uploader=VENDOR))
    events = _scenario()
    with sessions.begin() as db:
        apply_events(db.connection(), events)
    with sessions() as db:
        first = queries.app_detail(db=db, app_id=APP)
        counts = _counts(db)
    assert first["status"] == "suspended"
    version = first["versions"][0]
    assert version["reason"] == "leaks data"
    assert version["manifest"] == DOC
    assert version["digest_ok"] is True
    assert [v["role_name"] for v in version["votes"]] == [
        "platform_provider",
        "regulator",
        "consortium_authority",
    ]
    assert version["rating_avg"] == 4
    assert first["installed_by"] == []  # installed at 16, uninstalled at 19
    assert counts == {
        "marketplace_votes": 3,
        "marketplace_installs": 2,
        "marketplace_ratings": 1,
        "marketplace_status_events": 3,
    }

    with sessions.begin() as db:  # the same range again, and again out of order
        apply_events(db.connection(), events)
        apply_events(db.connection(), list(reversed(events[:8])))
    with sessions() as db:
        assert queries.app_detail(db=db, app_id=APP) == first
        assert _counts(db) == counts
        assert db.get(MarketplaceVendor, VENDOR).enrolled is True


def test_a_rewind_removes_what_vanished(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as db:
        apply_events(db.connection(), _scenario())

    with sessions.begin() as db:  # blocks 18-19 vanish: the suspension and the uninstall
        rewind(db.connection(), 31337, 17, [MARKET])
    with sessions() as db:
        detail = queries.app_detail(db=db, app_id=APP)
    assert detail["status"] == "live"
    assert detail["versions"][0]["reason"] is None
    assert detail["installed_by"] == [1]
    assert detail["rating_count"] == 1

    with sessions.begin() as db:  # then 14 on: the second and third votes, listing, install
        rewind(db.connection(), 31337, 13, [MARKET])
    with sessions() as db:
        detail = queries.app_detail(db=db, app_id=APP)
        queue = queries.review_queue(db=db)
        counts = _counts(db)
    assert detail["status"] == "in_review"
    assert detail["live_version"] is None
    assert [v["role"] for v in detail["versions"][0]["votes"]] == [1]
    assert detail["installed_by"] == []
    assert detail["rating_count"] == 0
    assert [i["pending_roles"] for i in queue["items"]] == [["consortium_authority", "regulator"]]
    assert counts["marketplace_installs"] == 0
    # no manifest was uploaded under the CID: shown as missing, never trusted
    assert detail["versions"][0]["manifest_state"] == "missing"

    # the vanished events come again (re-sent at new heights): applied as new
    with sessions.begin() as db:
        apply_events(db.connection(), [e for e in _scenario() if e.block_number > 13])
    with sessions() as db:
        assert queries.app_detail(db=db, app_id=APP)["status"] == "suspended"

    with sessions.begin() as db:  # everything vanishes
        rewind(db.connection(), 31337, 0, [MARKET])
    with sessions() as db:
        assert queries.list_apps(db=db, status="all") == {"items": [], "total": 0}
        assert db.scalar(sa.select(sa.func.count()).select_from(MarketplaceVendor)) == 0


def test_a_manifest_whose_digest_differs_is_not_attached(sessions: sessionmaker[Session]) -> None:
    other = manifest(2)
    text = json.dumps(other, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with sessions.begin() as db:
        db.add(
            MarketplaceManifest(
                cid=CID, digest="0x" + manifest_digest(other).hex(), document=text, uploader=VENDOR
            )
        )
    with sessions.begin() as db:
        apply_events(db.connection(), _scenario()[:5])
    with sessions() as db:
        version = queries.app_detail(db=db, app_id=APP)["versions"][0]
    assert version["digest_ok"] is False
    assert version["manifest"] is None
    assert version["name"] is None
