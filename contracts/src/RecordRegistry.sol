// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, ConsortiumRoles} from "./IConsortium.sol";

/**
 * @title RecordRegistry
 * @notice The on-chain index of encrypted health records: for each client-chosen `bytes32` id,
 * the patient, the author institution, the version (bumped by each re-key), the status and the
 * registration time; the content addresses and digests are in the {RecordRegistered},
 * {RecordRekeyed} and {RecordBodyRekeyed} events.
 *
 * @dev Storage layout, chosen for the gas budget (≤ 75k for one record, ≤ 50k per record in a
 * batch of 50; a fresh slot costs ~22.1k): each record owns exactly ONE packed slot holding
 * what contracts must check — patient (160 bits), author institution (32), registration time
 * (40), version (16), status (8). Everything else (body CID, header CID, sha-256 of the body
 * ciphertext, policy hash, record type, author) lives only in the events, where the indexer
 * and auditors read it; event logs are committed by each block's receipts root.
 *
 * Commitment: the {RecordRegistered} event itself is the commitment to the full values — logs
 * are covered by each block's receipts root, which auditors and light clients verify. A stored
 * hash per record would cost a second fresh slot (~22.1k) and a running hash over all records
 * ~5k per registration; measured, the latter already pushed a relayed single registration to
 * ~76k, over the 75k budget, so neither is kept.
 *
 * Paging by patient: a per-patient list or counter would add a fresh slot per record or per
 * new patient and break the budget (a first record of a new patient would cost ~22.1k more),
 * so paging by patient is done by filtering {RecordRegistered} logs on the indexed `patient`
 * topic (block range = page), and in the relational index the indexer builds from them.
 *
 * Actors: every write names its `actor`. A direct call requires `actor == msg.sender`; the
 * relayer (see {IConsortium-isRelayer}) may act for an authenticated member or patient. Only an
 * active doctor or nurse authors records for their institution; the relayer may also register
 * a patient's own upload (author = patient, institution 0).
 */
contract RecordRegistry {
    /// @notice Lifecycle of a record.
    enum Status {
        None,
        Active,
        Superseded,
        Withdrawn
    }

    /// @notice Everything a registration carries.
    struct RecordInput {
        bytes32 id;
        address patient;
        address author;
        string bodyCid;
        string headerCid;
        bytes32 bodyHash;
        bytes32 policyHash;
        bytes32 recordType;
    }

    /// @dev Exactly one storage slot.
    struct Record {
        address patient;
        uint32 authorInstitution;
        uint40 registeredAt;
        uint16 version;
        Status status;
    }

    /// @notice Largest batch accepted by {registerBatch}.
    uint256 public constant MAX_BATCH = 64;

    /// @notice The consortium register asked about members and the relayer.
    IConsortium public immutable consortium;

    mapping(bytes32 id => Record) private _records;

    /// @notice Emitted once per registered record, with every value of the record.
    event RecordRegistered(
        bytes32 indexed id,
        address indexed patient,
        uint32 indexed authorInstitution,
        address author,
        string bodyCid,
        string headerCid,
        bytes32 bodyHash,
        bytes32 policyHash,
        bytes32 recordType,
        uint64 registeredAt
    );
    /// @notice Emitted when a record is re-keyed (new header and policy, version + 1).
    event RecordRekeyed(
        bytes32 indexed id,
        address indexed patient,
        address indexed actor,
        uint16 version,
        string headerCid,
        bytes32 policyHash
    );
    /// @notice Emitted when a record is re-encrypted: a new body under a fresh data key, with
    /// its header, body digest and policy hash (version + 1); the old body must not be used.
    event RecordBodyRekeyed(
        bytes32 indexed id,
        address indexed patient,
        address indexed actor,
        uint16 version,
        string bodyCid,
        string headerCid,
        bytes32 bodyHash,
        bytes32 policyHash
    );
    /// @notice Emitted when a record is replaced by a newer record of the same patient.
    event RecordSuperseded(bytes32 indexed id, bytes32 indexed newId, address indexed actor);
    /// @notice Emitted when a record is withdrawn.
    event RecordWithdrawn(bytes32 indexed id, address indexed actor, uint8 reasonCode);

    /// @notice A record with this id already exists.
    error RecordRegistryDuplicateId(bytes32 id);
    /// @notice No record has this id.
    error RecordRegistryUnknownRecord(bytes32 id);
    /// @notice The record id, patient, body CID, header CID or body hash is empty.
    error RecordRegistryInvalidRecord(bytes32 id);
    /// @notice The caller named an actor other than itself and is not the relayer.
    error RecordRegistryUnauthorizedRelay(address caller);
    /// @notice The author is not an active doctor or nurse (nor the patient, via the relayer).
    error RecordRegistryNotAuthor(address author);
    /// @notice The actor may not change this record.
    error RecordRegistryUnauthorized(address actor, bytes32 id);
    /// @notice The record is not active (superseded or withdrawn).
    error RecordRegistryNotActive(bytes32 id, Status status);
    /// @notice The version counter would overflow.
    error RecordRegistryVersionOverflow(bytes32 id);
    /// @notice The two records of a supersession differ in patient, or are the same record.
    error RecordRegistryInvalidSupersession(bytes32 id, bytes32 newId);
    /// @notice The consortium register address is zero.
    error RecordRegistryZeroAddress();
    /// @notice A batch is empty or longer than {MAX_BATCH}.
    error RecordRegistryInvalidBatch(uint256 length, uint256 max);

    /**
     * @notice Binds the registry to the consortium register.
     * @dev Requirements: `consortium_` is not the zero address.
     */
    constructor(IConsortium consortium_) {
        if (address(consortium_) == address(0)) revert RecordRegistryZeroAddress();
        consortium = consortium_;
    }

    // ------------------------------------------------------------------ writes

    /**
     * @notice Registers one record authored by `r.author`.
     * @dev Requirements: `r.author == msg.sender`, or the caller is the relayer; the author is an
     * active doctor or nurse (the record gets the author's institution), or — via the relayer
     * only — the patient (institution 0); the id, patient, CIDs and body hash are non-empty;
     * the id is new. Emits {RecordRegistered}.
     */
    function register(RecordInput calldata r) external {
        bool relayed = r.author != msg.sender;
        if (relayed) _checkRelayer();
        (uint32 inst, bool ok) = _authorInstitution(r.author, r.patient, relayed);
        if (!ok) revert RecordRegistryNotAuthor(r.author);
        _register(r, inst);
    }

    /**
     * @notice Registers up to {MAX_BATCH} records in one transaction (all-or-nothing).
     * @dev Requirements: 1 ≤ length ≤ {MAX_BATCH}; each entry as for {register} (the relayer
     * check is made once when any entry names another author). Emits one {RecordRegistered}
     * per record.
     */
    function registerBatch(RecordInput[] calldata records) external {
        uint256 n = records.length;
        if (n == 0 || n > MAX_BATCH) revert RecordRegistryInvalidBatch(n, MAX_BATCH);
        bool relayerChecked;
        // Only a clinician's answer is reused for the next entries: a patient author is valid
        // only for that patient's own records, so it is checked entry by entry.
        address lastClinician;
        uint32 lastInst;
        for (uint256 i; i < n; ) {
            RecordInput calldata r = records[i];
            address author = r.author;
            bool relayed = author != msg.sender;
            if (relayed && !relayerChecked) {
                _checkRelayer();
                relayerChecked = true;
            }
            uint32 inst;
            bool ok;
            if (author == lastClinician && author != address(0)) {
                (inst, ok) = (lastInst, true);
            } else {
                (inst, ok) = _authorInstitution(author, r.patient, relayed);
                if (ok && inst != 0) (lastClinician, lastInst) = (author, inst);
            }
            if (!ok) revert RecordRegistryNotAuthor(author);
            _register(r, inst);
            unchecked {
                ++i;
            }
        }
    }

    /**
     * @notice Re-keys a record: new header CID and policy hash, version + 1 (the body and its
     * digest are unchanged; only the wrapped data key is re-encrypted).
     * @dev Requirements: `actor == msg.sender` or the caller is the relayer; the record exists
     * and is active; the actor is the patient or an active doctor/nurse of the author
     * institution; the header CID is non-empty. Emits {RecordRekeyed}.
     */
    function rekey(
        address actor,
        bytes32 id,
        string calldata headerCid,
        bytes32 policyHash
    ) external {
        Record storage rec = _managed(actor, id);
        if (bytes(headerCid).length == 0) revert RecordRegistryInvalidRecord(id);
        uint16 version = _nextVersion(rec, id);
        emit RecordRekeyed(id, rec.patient, actor, version, headerCid, policyHash);
    }

    /**
     * @notice Re-encrypts a record under a fresh data key: new body CID, body digest, header
     * CID and policy hash, version + 1. Used when a reader whose access ended may still hold
     * the old data key: the new body cannot be opened with it. The record id, patient, author
     * and type are unchanged.
     * @dev Requirements: as for {rekey}; the body CID, header CID and body hash are non-empty.
     * Emits {RecordBodyRekeyed}.
     */
    function rekeyBody(
        address actor,
        bytes32 id,
        string calldata headerCid,
        string calldata bodyCid,
        bytes32 bodyHash,
        bytes32 policyHash
    ) external {
        Record storage rec = _managed(actor, id);
        if (bytes(headerCid).length == 0 || bytes(bodyCid).length == 0 || bodyHash == bytes32(0)) {
            revert RecordRegistryInvalidRecord(id);
        }
        uint16 version = _nextVersion(rec, id);
        emit RecordBodyRekeyed(
            id,
            rec.patient,
            actor,
            version,
            bodyCid,
            headerCid,
            bodyHash,
            policyHash
        );
    }

    /**
     * @notice Marks record `id` as superseded by the newer record `newId`.
     * @dev Requirements: `actor == msg.sender` or the caller is the relayer; both records exist,
     * differ, are active and belong to the same patient; the actor may manage `id` (see
     * {rekey}). Emits {RecordSuperseded}.
     */
    function supersede(address actor, bytes32 id, bytes32 newId) external {
        Record storage rec = _managed(actor, id);
        Record storage next = _records[newId];
        if (next.status == Status.None) revert RecordRegistryUnknownRecord(newId);
        if (id == newId || next.patient != rec.patient) {
            revert RecordRegistryInvalidSupersession(id, newId);
        }
        if (next.status != Status.Active) revert RecordRegistryNotActive(newId, next.status);
        rec.status = Status.Superseded;
        emit RecordSuperseded(id, newId, actor);
    }

    /**
     * @notice Withdraws a record (it stays on chain for audit, marked withdrawn).
     * @dev Requirements: as for {rekey}. Emits {RecordWithdrawn}.
     */
    function withdraw(address actor, bytes32 id, uint8 reasonCode) external {
        Record storage rec = _managed(actor, id);
        rec.status = Status.Withdrawn;
        emit RecordWithdrawn(id, actor, reasonCode);
    }

    // ------------------------------------------------------------------ views

    /**
     * @notice The stored facts of record `id`.
     * @dev Requirements: the record exists.
     */
    function recordOf(
        bytes32 id
    )
        external
        view
        returns (
            address patient,
            uint32 authorInstitution,
            uint16 version,
            uint8 status,
            uint64 registeredAt
        )
    {
        Record memory rec = _records[id];
        if (rec.status == Status.None) revert RecordRegistryUnknownRecord(id);
        return (rec.patient, rec.authorInstitution, rec.version, uint8(rec.status), rec.registeredAt);
    }

    /// @notice True when a record with this id was ever registered.
    function exists(bytes32 id) external view returns (bool) {
        return _records[id].status != Status.None;
    }

    /// @notice The patient of record `id` (zero when unknown).
    function patientOf(bytes32 id) external view returns (address) {
        return _records[id].patient;
    }

    /// @notice True when record `id` exists and is active.
    function isActive(bytes32 id) external view returns (bool) {
        return _records[id].status == Status.Active;
    }

    // ------------------------------------------------------------------ internals

    /// @dev Validates one input, writes its single packed slot and emits its event.
    function _register(RecordInput calldata r, uint32 inst) private {
        bytes32 id = r.id;
        if (
            id == bytes32(0) ||
            r.patient == address(0) ||
            bytes(r.bodyCid).length == 0 ||
            bytes(r.headerCid).length == 0 ||
            r.bodyHash == bytes32(0)
        ) revert RecordRegistryInvalidRecord(id);
        Record storage rec = _records[id];
        if (rec.status != Status.None) revert RecordRegistryDuplicateId(id);
        _records[id] = Record({
            patient: r.patient,
            authorInstitution: inst,
            registeredAt: uint40(block.timestamp),
            version: 1,
            status: Status.Active
        });
        _emitRegistered(r, inst);
    }

    /// @dev Split from {_register} to keep the stack shallow.
    function _emitRegistered(RecordInput calldata r, uint32 inst) private {
        emit RecordRegistered(
            r.id,
            r.patient,
            inst,
            r.author,
            r.bodyCid,
            r.headerCid,
            r.bodyHash,
            r.policyHash,
            r.recordType,
            uint64(block.timestamp)
        );
    }

    /// @dev Reverts unless the caller is an active relayer of the consortium.
    function _checkRelayer() private view {
        if (!consortium.isRelayer(msg.sender)) revert RecordRegistryUnauthorizedRelay(msg.sender);
    }

    /// @dev (institution, allowed) for an author: an active doctor/nurse, or the patient relayed.
    function _authorInstitution(
        address author,
        address patient,
        bool relayed
    ) private view returns (uint32, bool) {
        (uint32 inst, uint8 role, bool active) = consortium.memberInfo(author);
        if (active && inst != 0 && _isClinician(role)) return (inst, true);
        if (relayed && author == patient && author != address(0)) return (0, true);
        return (0, false);
    }

    /// @dev The record `id`, after checking the caller may act for `actor` and `actor` may
    /// manage the record.
    function _managed(address actor, bytes32 id) private view returns (Record storage rec) {
        if (actor != msg.sender) _checkRelayer();
        rec = _records[id];
        Status status = rec.status;
        if (status == Status.None) revert RecordRegistryUnknownRecord(id);
        if (status != Status.Active) revert RecordRegistryNotActive(id, status);
        if (actor == rec.patient) return rec;
        (uint32 inst, uint8 role, bool active) = consortium.memberInfo(actor);
        if (!active || inst == 0 || inst != rec.authorInstitution || !_isClinician(role)) {
            revert RecordRegistryUnauthorized(actor, id);
        }
    }

    /// @dev Bumps and stores the version of `rec` (a re-key), reverting before it overflows.
    function _nextVersion(Record storage rec, bytes32 id) private returns (uint16 version) {
        version = rec.version;
        if (version == type(uint16).max) revert RecordRegistryVersionOverflow(id);
        unchecked {
            ++version;
        }
        rec.version = version;
    }

    /// @dev Doctors and nurses author and manage records.
    function _isClinician(uint8 role) private pure returns (bool) {
        return role == ConsortiumRoles.DOCTOR || role == ConsortiumRoles.NURSE;
    }
}
