"""Membership epochs in the SDK: composing policies with the current epoch, re-keying stale records.

A mixin of :class:`clients.sdk.MedLedgerClient`. Every policy the client writes goes through
:meth:`EpochsMixin.compose_policy` (:func:`clients.sdk.policies.record_policy` with the epoch the
API announces on ``GET /keys/public`` and, for a member, their institution as custodian), so
users never see epochs. :meth:`EpochsMixin.rekey_stale` is the re-key job: it lists the records
still under an older epoch (``GET /keys/epochs/stale``) and re-keys each to the current one,
always in full (a fresh data key and body): a newer epoch narrows the policy, and a header-only
rewrap would leave the old data key to whoever kept an old header (issue 14's re-key rule).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clients.sdk.errors import ClientError
from clients.sdk.policies import parse_record_policy, record_policy
from clients.sdk.transfer import RecordsProgress

if TYPE_CHECKING:
    from clients.sdk.rekey import RekeyInfo
    from clients.sdk.transport import Transport
    from crypto.fame_types import UserKey

EPOCH_TTL = 2.0
"""Seconds a read epoch is reused. A record written with an epoch that just became old is
simply stale: the re-key job picks it up like any other."""
CUSTODIAN_TTL = 60.0
"""Seconds the caller's institution (the ``custodian:`` clause) is reused."""


@dataclass(frozen=True)
class StaleItem:
    record_id: str
    patient: str
    epoch: int
    full: bool
    fetched_by: list[str]


@dataclass(frozen=True)
class EpochOutcome:
    """What the job did to one record: ``rewrapped``, ``re-encrypted`` or ``failed``."""

    record_id: str
    action: str
    reason: str
    from_epoch: int
    version: int | None = None


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    records: list[EpochOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, action: str) -> int:
        return sum(1 for r in self.records if r.action == action)


class EpochsMixin:
    """key_epochs / epoch_history / compose_policy / stale_records / rekey_stale."""

    _http: Transport
    _epoch_cache: tuple[float, int, int] | None = None
    _custodian_cache: tuple[str, str | None, float] | None = None  # (address, code, when)

    if TYPE_CHECKING:

        def me(self) -> dict[str, Any]: ...
        def break_glass_count(self, patient: str) -> int: ...
        def rekey(
            self,
            record_id: str,
            *,
            user_key: UserKey,
            policy: str | None = None,
            full: bool = False,
            progress: Any = None,
        ) -> RekeyInfo: ...

    def key_epochs(self, *, fresh: bool = False) -> tuple[int, int]:
        """``(current epoch, floor)`` as the key authority announces them."""
        now = time.monotonic()
        cached = self._epoch_cache
        if not fresh and cached is not None and now - cached[0] < EPOCH_TTL:
            return cached[1], cached[2]
        raw = self._http.json("GET", "/keys/public", auth=False)
        epoch, floor = int(raw.get("epoch", 1)), int(raw.get("floor", 1))
        self._epoch_cache = (now, epoch, floor)
        return epoch, floor

    def epoch_history(self) -> dict[str, Any]:
        """``GET /keys/epochs``: current epoch, floor and every advance with its reason."""
        return self._http.json("GET", "/keys/epochs", auth=False)

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

    def compose_policy(
        self, user_policy: str | None, *, patient: str, custodian: str | None = None
    ) -> str:
        """The full policy for a record of ``patient`` (see :mod:`clients.sdk.policies`), with
        the current epoch and the chart's current break-glass count (read afresh: a count
        that is one behind would let the latest opening's key open this record);
        ``custodian`` defaults to the caller's own institution."""
        epoch, _ = self.key_epochs()
        if custodian is None:
            custodian = self._custodian()
        return record_policy(
            user_policy,
            patient=patient,
            epoch=epoch,
            break_glass=self.break_glass_count(patient),
            custodian=custodian,
        )

    def refresh_policy(self, policy: str, *, break_glass: int | None = None) -> str:
        """``policy`` moved to the current epoch, its user part, patient and custodian kept
        (a policy this library did not compose is returned unchanged). The break-glass
        counter is kept too (0 for a policy written before the counter) unless
        ``break_glass`` gives a new one (the re-key after a break-glass opening)."""
        parts = parse_record_policy(policy)
        if parts.patient is None:
            return policy
        epoch, _ = self.key_epochs()
        if break_glass is None:
            break_glass = parts.break_glass or 0
        return record_policy(
            parts.user,
            patient=parts.patient,
            epoch=epoch,
            break_glass=break_glass,
            custodian=parts.custodian,
        )

    def stale_records(
        self, *, institution: str | None = None, patient: str | None = None
    ) -> tuple[int, list[StaleItem]]:
        """The current epoch and the records (of an institution, or my chart) under an older
        one, with whether each needs a full re-encryption."""
        params = {"institution": institution} if institution else {"patient": patient}
        raw = self._http.json("GET", "/keys/epochs/stale", params=params)
        items = [
            StaleItem(
                record_id=i["record_id"],
                patient=i["patient"],
                epoch=int(i["epoch"]),
                full=bool(i["full"]),
                fetched_by=list(i["fetched_by"]),
            )
            for i in raw["items"]
        ]
        return int(raw["current"]), items

    def rekey_stale(
        self,
        *,
        user_key: UserKey,
        institution: str | None = None,
        patient: str | None = None,
        progress: RecordsProgress | None = None,
    ) -> EpochReport:
        """Re-key every stale record to the current epoch; one failure does not stop the rest.

        ``user_key`` must open the records: the patient's key for their chart, the
        custodian's (institution admin's) for an institution. ``progress(done, total,
        record_id)`` after each record."""
        if (institution is None) == (patient is None):
            raise ClientError("re-key the stale records of one institution or one patient")
        started = time.monotonic()
        self.key_epochs(fresh=True)
        current, items = self.stale_records(institution=institution, patient=patient)
        outcomes: list[EpochOutcome] = []
        for done, item in enumerate(items, start=1):
            outcomes.append(self._rekey_one(item, user_key=user_key))
            if progress is not None:
                progress(done, len(items), item.record_id)
        return EpochReport(epoch=current, records=outcomes, seconds=time.monotonic() - started)

    def _rekey_one(self, item: StaleItem, *, user_key: UserKey) -> EpochOutcome:
        try:
            info = self.rekey(item.record_id, user_key=user_key, full=item.full)
        except ClientError as exc:
            return EpochOutcome(item.record_id, "failed", str(exc), item.epoch)
        if not info.full:  # pragma: no cover - the SDK re-keys a narrowing only in full
            reason = "header re-wrapped (the new policy admits everyone the old one did)"
            return EpochOutcome(item.record_id, "rewrapped", reason, item.epoch, info.version)
        if item.fetched_by:
            who = ", ".join(item.fetched_by)
            reason = f"fetched by {who}, who left since: new body under a fresh data key"
        else:
            reason = "new body under a fresh data key (a newer epoch narrows the policy)"
        return EpochOutcome(item.record_id, "re-encrypted", reason, item.epoch, info.version)


__all__ = ["EpochOutcome", "EpochReport", "EpochsMixin", "StaleItem"]
