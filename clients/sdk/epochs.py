"""Membership epochs in the SDK: each institution's epoch, and re-keying a chart's stale records.

A mixin of :class:`clients.sdk.MedLedgerClient`. Every institution's key authority has its own
membership epoch on chain (``Consortium.authorityOf``): a suspension, removal or department
change of one of its members moves that institution's epoch only. A record's slot for
institution X is written under X's epoch then (``crypto.reach.slot_policy``: ``… and
epoch:<E_X>``), so a key X issued before the change (which a member who left may keep) opens
the records written before it and none written after.

:meth:`EpochsMixin.rekey_stale` is the re-key job that closes the older ones: it finds the
records of a chart with any slot under an epoch older than its institution's current one and
re-keys each in full (a fresh data key and body: a newer epoch narrows the slot, and a
header-only rewrap would leave the old data key to whoever kept an old header; issue 14's
re-key rule). The patient runs it with their own key, which opens every record of their chart
with no authority involved. Finding them reads each record's header, a read of the patient's
own chart logged on chain like any other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clients.sdk.errors import ClientError
from clients.sdk.transfer import RecordsProgress
from crypto.envelope import HeaderV3

if TYPE_CHECKING:
    from clients.sdk.authorities import AuthorityEntry, MemberKey
    from clients.sdk.models import RecordInfo
    from clients.sdk.registry import Registration
    from clients.sdk.rekey import RekeyInfo
    from clients.sdk.transport import Transport
    from crypto.patient_key import PatientKey


CUSTODIAN_TTL = 60.0
"""Seconds the caller's institution (the ``custodian:`` clause) is reused."""


@dataclass(frozen=True)
class StaleItem:
    """A record with a slot under an older epoch: ``{institution: (slot epoch, current)}``."""

    record_id: str
    patient: str
    stale: dict[int, tuple[int, int]]

    @property
    def epoch(self) -> int:
        """The oldest epoch among the record's stale slots."""
        return min(old for old, _ in self.stale.values())


@dataclass(frozen=True)
class EpochOutcome:
    """What the job did to one record: ``re-encrypted`` or ``failed``."""

    record_id: str
    action: str
    reason: str
    from_epoch: int
    version: int | None = None


@dataclass(frozen=True)
class EpochReport:
    epochs: dict[int, int]
    """Each institution's current epoch when the job ran."""
    records: list[EpochOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, action: str) -> int:
        return sum(1 for r in self.records if r.action == action)


class EpochsMixin:
    """institution_epochs / epoch_history / stale_records / rekey_stale, and the caller's
    custodian institution (the ``custodian:`` clause of the records a member writes)."""

    _http: Transport
    _custodian_cache: tuple[str, str | None, float] | None = None  # (address, code, when)

    if TYPE_CHECKING:

        def me(self) -> dict[str, Any]: ...
        def authority_directory(self, *, fresh: bool = False) -> list[AuthorityEntry]: ...
        def iter_records(self, patient: str, *, purpose: str = ...) -> Iterator[RecordInfo]: ...
        def _header(
            self, record_id: str, *, purpose: str, user_key: Any
        ) -> tuple[Any, Registration]: ...
        def reader_key(self) -> MemberKey | PatientKey: ...
        def rekey(
            self,
            record_id: str,
            *,
            user_key: MemberKey | PatientKey | None = None,
            policy: str | None = None,
            full: bool = False,
            progress: Any = None,
        ) -> RekeyInfo: ...

    def _custodian(self) -> str | None:
        """The caller's institution code when they are a member (records they author can be
        re-keyed by its admin); None for a patient. Cached per signed-in address for
        :data:`CUSTODIAN_TTL` seconds: asking ``/auth/me`` before every share cost the API a
        request per record (measured in ``scripts/bench_api.py``)."""
        account = getattr(self, "account", None)
        address = account.address.lower() if account is not None else None
        now = time.monotonic()
        cached = self._custodian_cache
        if (
            cached is not None
            and address is not None
            and cached[0] == address
            and now - cached[2] < CUSTODIAN_TTL
        ):
            return cached[1]
        me = self.me()
        address = str(me.get("address", "")).lower()
        code = me.get("institution_code") if me.get("role") not in (None, "patient") else None
        self._custodian_cache = (address, code or None, now)
        return code or None

    def institution_epochs(self, *, fresh: bool = True) -> dict[int, tuple[int, int]]:
        """``{institution: (current epoch, floor)}`` of every institution running an
        authority, read from ``Consortium`` on chain."""
        return {
            entry.institution: (entry.epoch, entry.floor)
            for entry in self.authority_directory(fresh=fresh)
            if entry.registered
        }

    def epoch_history(self) -> dict[str, Any]:
        """``GET /keys/epochs``: each institution's epoch and floor, and every advance (from
        ``Consortium``'s ``EpochAdvanced`` events)."""
        return self._http.json("GET", "/keys/epochs", auth=False)

    def stale_records(
        self, *, patient: str, institution: str | None = None
    ) -> tuple[dict[int, int], list[StaleItem]]:
        """Each institution's current epoch and the records of ``patient``'s chart with a
        slot under an older one. Only a chart: the records of one institution across
        patients are re-keyed by their patients (``institution`` is refused with why)."""
        if institution is not None:
            raise ClientError(
                "re-keying one institution's records across charts is not available with "
                "per-institution authorities yet: each patient's wallet re-keys their own "
                "chart (`medledger patient rekey-stale`), which their own key opens whole"
            )
        current = {inst: epoch for inst, (epoch, _) in self.institution_epochs().items()}
        items: list[StaleItem] = []
        for info in self.iter_records(patient):
            header, _ = self._header(info.record_id, purpose="treatment", user_key=None)
            if not isinstance(header, HeaderV3):  # pragma: no cover - _header refuses others
                continue
            stale = {
                slot.institution_id: (slot.epoch, current[slot.institution_id])
                for slot in header.slots
                if slot.epoch < current.get(slot.institution_id, 0)
            }
            if stale:
                items.append(StaleItem(info.record_id, info.patient, stale))
        return current, items

    def rekey_stale(
        self,
        *,
        patient: str,
        user_key: MemberKey | PatientKey | None = None,
        institution: str | None = None,
        progress: RecordsProgress | None = None,
    ) -> EpochReport:
        """Re-key every stale record of ``patient``'s chart to its institutions' current
        epochs; one failure does not stop the rest. ``user_key`` (default
        :meth:`reader_key`: the patient's own key) must open the records.
        ``progress(done, total, record_id)`` after each record."""
        started = time.monotonic()
        current, items = self.stale_records(patient=patient, institution=institution)
        key = user_key if user_key is not None else self.reader_key()
        outcomes: list[EpochOutcome] = []
        for done, item in enumerate(items, start=1):
            outcomes.append(self._rekey_one(item, user_key=key))
            if progress is not None:
                progress(done, len(items), item.record_id)
        return EpochReport(epochs=current, records=outcomes, seconds=time.monotonic() - started)

    def _rekey_one(self, item: StaleItem, *, user_key: MemberKey | PatientKey) -> EpochOutcome:
        try:
            info = self.rekey(item.record_id, user_key=user_key, full=True)
        except ClientError as exc:
            return EpochOutcome(item.record_id, "failed", str(exc), item.epoch)
        moved = ", ".join(
            f"institution {inst}: epoch {old} → {new}" for inst, (old, new) in item.stale.items()
        )
        reason = f"new body under a fresh data key ({moved})"
        return EpochOutcome(item.record_id, "re-encrypted", reason, item.epoch, info.version)


__all__ = ["EpochOutcome", "EpochReport", "EpochsMixin", "StaleItem"]
