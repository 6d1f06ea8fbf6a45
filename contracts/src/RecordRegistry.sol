// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ActorSignatures} from "./ActorSignatures.sol";
import {IConsortium, ConsortiumRoles} from "./IConsortium.sol";

/**
 * @title RecordRegistry
 * @notice The on-chain index of encrypted health records: for each client-chosen `bytes32` id,
 * the patient, the author institution, the version (bumped by each re-key), the status and the
 * registration time; the content addresses and digests are in the {RecordRegistered},
 * {RecordRekeyed} and {RecordBodyRekeyed} events.
 *
 * @dev Every change is signed by its actor (EIP-712, domain "MedLedger RecordRegistry", types
 * in `crypto/signing/records.py`) and carried by the actor itself or by any enrolled relayer
 * (see {ActorSignatures}); the relayer pays gas and can change nothing on its own:
 * - `RecordRegistration(bytes32 id,address patient,string bodyCid,string headerCid,bytes32 bodyHash,bytes32 policyHash,bytes32 recordType,uint64 deadline)`:
 *   the author is recovered from it; replay is refused because the id is unique.
 * - `RecordRekey(bytes32 id,uint16 version,string headerCid,bytes32 policyHash,uint64 deadline)`
 *   and `RecordBodyRekey(bytes32 id,uint16 version,string bodyCid,string headerCid,bytes32 bodyHash,bytes32 policyHash,uint64 deadline)`:
 *   `version` is the record's current version, so a signed re-key applies once.
 * - `RecordSupersede(bytes32 id,bytes32 newId,uint64 deadline)` and
 *   `RecordWithdraw(bytes32 id,uint8 reasonCode,uint64 deadline)`: each is a state transition
 *   that happens once.
 *
 * Authors: an active doctor, nurse or gateway (an institution's system account) of an active
 * institution authors for that institution; anyone authors their own records as patient
 * (institution 0). Managers (re-key, supersede, withdraw): the patient, or an active doctor or
 * nurse of the record's author institution (the author, or a custodian when the author has
 * left; the content itself is protected off chain by the author's signature inside the
 * envelope). Self-authored records (institution 0) are managed by the patient only.
 *
 * Storage layout, chosen for the gas budget (≤ 80k for one signed record, ≤ 55k per record in
 * a batch of 50): each record owns exactly ONE packed slot holding what contracts must check —
 * patient (160 bits), author institution (32), registration time (40), version (16), status
 * (8). Everything else (CIDs, digests, policy hash, record type, author) lives only in the
 * events, which are committed by each block's receipts root; a stored hash or a per-patient
 * list would cost another fresh slot per record and break the budget. Paging by patient is
 * done on the indexed `patient` topic of {RecordRegistered}.
 */
contract RecordRegistry is ActorSignatures {
    /// @notice Lifecycle of a record.
    enum Status {
        None,
        Active,
        Superseded,
        Withdrawn
    }

    /// @notice A registration, field for field the signed EIP-712 `RecordRegistration`.
    struct RecordRegistration {
        bytes32 id;
        address patient;
        string bodyCid;
        string headerCid;
        bytes32 bodyHash;
        bytes32 policyHash;
        bytes32 recordType;
        uint64 deadline;
    }

    /// @notice A header-only re-key (the EIP-712 `RecordRekey`).
    struct RecordRekey {
        bytes32 id;
        uint16 version;
        string headerCid;
        bytes32 policyHash;
        uint64 deadline;
    }

    /// @notice A full re-key: new body under a fresh data key (the EIP-712 `RecordBodyRekey`).
    struct RecordBodyRekey {
        bytes32 id;
        uint16 version;
        string bodyCid;
        string headerCid;
        bytes32 bodyHash;
        bytes32 policyHash;
        uint64 deadline;
    }

    /// @notice A supersession of `id` by `newId` (the EIP-712 `RecordSupersede`).
    struct RecordSupersede {
        bytes32 id;
        bytes32 newId;
        uint64 deadline;
    }

    /// @notice A withdrawal (the EIP-712 `RecordWithdraw`).
    struct RecordWithdraw {
        bytes32 id;
        uint8 reasonCode;
        uint64 deadline;
    }

    /// @dev Exactly one storage slot.
    struct Record {
        address patient;
        uint32 authorInstitution;
        uint40 registeredAt;
        uint16 version;
        Status status;
    }

    /// @notice EIP-712 domain name.
    string public constant NAME = "MedLedger RecordRegistry";
    /// @notice Largest batch accepted by {registerBatch}.
    uint256 public constant MAX_BATCH = 64;

    /// @notice keccak256 of the `RecordRegistration` type string.
    bytes32 public constant REGISTRATION_TYPEHASH =
        keccak256(
            "RecordRegistration(bytes32 id,address patient,string bodyCid,string headerCid,"
            "bytes32 bodyHash,bytes32 policyHash,bytes32 recordType,uint64 deadline)"
        );
    /// @notice keccak256 of the `RecordRekey` type string.
    bytes32 public constant REKEY_TYPEHASH =
        keccak256(
            "RecordRekey(bytes32 id,uint16 version,string headerCid,bytes32 policyHash,"
            "uint64 deadline)"
        );
    /// @notice keccak256 of the `RecordBodyRekey` type string.
    bytes32 public constant BODY_REKEY_TYPEHASH =
        keccak256(
            "RecordBodyRekey(bytes32 id,uint16 version,string bodyCid,string headerCid,"
            "bytes32 bodyHash,bytes32 policyHash,uint64 deadline)"
        );
    /// @notice keccak256 of the `RecordSupersede` type string.
    bytes32 public constant SUPERSEDE_TYPEHASH =
        keccak256("RecordSupersede(bytes32 id,bytes32 newId,uint64 deadline)");
    /// @notice keccak256 of the `RecordWithdraw` type string.
    bytes32 public constant WITHDRAW_TYPEHASH =
        keccak256("RecordWithdraw(bytes32 id,uint8 reasonCode,uint64 deadline)");

    mapping(bytes32 id => Record) private _records;

    /// @notice Emitted once per registered record, with every value of the record; `author`
    /// is the signer of the registration.
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
    /// @notice The caller carries someone else's signature and is not an enrolled relayer.
    error RecordRegistryUnauthorizedRelay(address caller);
    /// @notice The signature is malformed (length, high `s`, bad `v`) or recovers nothing.
    error RecordRegistryInvalidSignature();
    /// @notice The signed message's deadline has passed.
    error RecordRegistrySignatureExpired(uint64 deadline);
    /// @notice The author is not an active doctor, nurse or gateway, nor the record's patient.
    error RecordRegistryNotAuthor(address author);
    /// @notice The actor may not change this record.
    error RecordRegistryUnauthorized(address actor, bytes32 id);
    /// @notice The record is not active (superseded or withdrawn).
    error RecordRegistryNotActive(bytes32 id, Status status);
    /// @notice A re-key was signed for another version than the record's current one.
    error RecordRegistryStaleVersion(bytes32 id, uint16 signedVersion, uint16 currentVersion);
    /// @notice The version counter would overflow.
    error RecordRegistryVersionOverflow(bytes32 id);
    /// @notice The two records of a supersession differ in patient, or are the same record.
    error RecordRegistryInvalidSupersession(bytes32 id, bytes32 newId);
    /// @notice The consortium register address is zero.
    error RecordRegistryZeroAddress();
    /// @notice A batch is empty or longer than {MAX_BATCH}.
    error RecordRegistryInvalidBatch(uint256 length, uint256 max);
    /// @notice A batch has not exactly one signature per record.
    error RecordRegistrySignatureCount(uint256 records, uint256 signatures);

    /**
     * @notice Binds the registry to the consortium register.
     * @dev Requirements: `consortium_` is not the zero address.
     */
    constructor(IConsortium consortium_) ActorSignatures(consortium_, NAME) {
        if (address(consortium_) == address(0)) revert RecordRegistryZeroAddress();
    }

    // ------------------------------------------------------------------ writes

    /**
     * @notice Registers one record, authored by the signer of `r`.
     * @dev Requirements: `block.timestamp ≤ r.deadline`; `signature` is the author's 65-byte
     * EIP-712 signature of `r` (low `s`, `v` 27/28), or empty when the author sends the call;
     * the caller is the author or an enrolled relayer; the author is an active doctor, nurse
     * or gateway of an active institution (the record gets that institution), or the patient
     * (institution 0); the id, patient, CIDs and body hash are non-empty; the id is new.
     * Emits {RecordRegistered}.
     */
    function register(RecordRegistration calldata r, bytes calldata signature) external {
        address author = _actor(hashRecordRegistration(r), r.deadline, signature);
        (uint32 inst, bool ok) = _authorInstitution(author, r.patient);
        if (!ok) revert RecordRegistryNotAuthor(author);
        _register(r, author, inst);
    }

    /**
     * @notice Registers up to {MAX_BATCH} records in one transaction (all-or-nothing), each
     * with its own author's signature.
     * @dev Requirements: 1 ≤ length ≤ {MAX_BATCH}; one signature per record; each entry as
     * for {register} (the relayer check is made once, when some author is not the caller).
     * Emits one {RecordRegistered} per record, in order.
     */
    function registerBatch(
        RecordRegistration[] calldata records,
        bytes[] calldata signatures
    ) external {
        uint256 n = records.length;
        if (n == 0 || n > MAX_BATCH) revert RecordRegistryInvalidBatch(n, MAX_BATCH);
        if (signatures.length != n) revert RecordRegistrySignatureCount(n, signatures.length);
        bool relayerChecked;
        // Only a clinician's answer is reused for the next entries: a patient author is valid
        // only for that patient's own records, so it is checked entry by entry.
        address lastClinician;
        uint32 lastInst;
        for (uint256 i; i < n; ) {
            RecordRegistration calldata r = records[i];
            address author = _signer(r, signatures[i]);
            if (author != msg.sender && !relayerChecked) {
                _checkRelayer();
                relayerChecked = true;
            }
            uint32 inst;
            bool ok;
            if (author == lastClinician && author != address(0)) {
                (inst, ok) = (lastInst, true);
            } else {
                (inst, ok) = _authorInstitution(author, r.patient);
                if (ok && inst != 0) (lastClinician, lastInst) = (author, inst);
            }
            if (!ok) revert RecordRegistryNotAuthor(author);
            _register(r, author, inst);
            unchecked {
                ++i;
            }
        }
    }

    /**
     * @notice Re-keys a record: new header CID and policy hash, version + 1 (the body and its
     * digest are unchanged; only the wrapped data key is re-encrypted).
     * @dev Requirements: `block.timestamp ≤ m.deadline`; a valid signature of `m` by the actor
     * (or none when the actor sends the call), carried by the actor or an enrolled relayer;
     * the record exists and is active; `m.version` is its current version; the actor is the
     * patient or an active doctor/nurse of the author institution (patient only for a
     * self-authored record); the header CID is non-empty. Emits {RecordRekeyed}.
     */
    function rekey(RecordRekey calldata m, bytes calldata signature) external {
        address actor = _actor(hashRecordRekey(m), m.deadline, signature);
        Record storage rec = _managed(actor, m.id);
        if (bytes(m.headerCid).length == 0) revert RecordRegistryInvalidRecord(m.id);
        uint16 version = _nextVersion(rec, m.id, m.version);
        emit RecordRekeyed(m.id, rec.patient, actor, version, m.headerCid, m.policyHash);
    }

    /**
     * @notice Re-encrypts a record under a fresh data key: new body CID, body digest, header
     * CID and policy hash, version + 1. Used whenever someone loses access and may still hold
     * the old data key. The record id, patient, author institution and type are unchanged.
     * @dev Requirements: as for {rekey}; the body CID, header CID and body hash are non-empty.
     * Emits {RecordBodyRekeyed}.
     */
    function rekeyBody(RecordBodyRekey calldata m, bytes calldata signature) external {
        address actor = _actor(hashRecordBodyRekey(m), m.deadline, signature);
        Record storage rec = _managed(actor, m.id);
        if (
            bytes(m.headerCid).length == 0 ||
            bytes(m.bodyCid).length == 0 ||
            m.bodyHash == bytes32(0)
        ) revert RecordRegistryInvalidRecord(m.id);
        uint16 version = _nextVersion(rec, m.id, m.version);
        emit RecordBodyRekeyed(
            m.id,
            rec.patient,
            actor,
            version,
            m.bodyCid,
            m.headerCid,
            m.bodyHash,
            m.policyHash
        );
    }

    /**
     * @notice Marks record `m.id` as superseded by the newer record `m.newId`.
     * @dev Requirements: a valid, unexpired actor signature as for {rekey}; both records
     * exist, differ, are active and belong to the same patient; the actor may manage `m.id`.
     * Emits {RecordSuperseded}.
     */
    function supersede(RecordSupersede calldata m, bytes calldata signature) external {
        address actor = _actor(hashRecordSupersede(m), m.deadline, signature);
        Record storage rec = _managed(actor, m.id);
        Record storage next = _records[m.newId];
        if (next.status == Status.None) revert RecordRegistryUnknownRecord(m.newId);
        if (m.id == m.newId || next.patient != rec.patient) {
            revert RecordRegistryInvalidSupersession(m.id, m.newId);
        }
        if (next.status != Status.Active) revert RecordRegistryNotActive(m.newId, next.status);
        rec.status = Status.Superseded;
        emit RecordSuperseded(m.id, m.newId, actor);
    }

    /**
     * @notice Withdraws a record (it stays on chain for audit, marked withdrawn).
     * @dev Requirements: a valid, unexpired actor signature as for {rekey}; the record is
     * active; the actor may manage it. Emits {RecordWithdrawn}.
     */
    function withdraw(RecordWithdraw calldata m, bytes calldata signature) external {
        address actor = _actor(hashRecordWithdraw(m), m.deadline, signature);
        Record storage rec = _managed(actor, m.id);
        rec.status = Status.Withdrawn;
        emit RecordWithdrawn(m.id, actor, m.reasonCode);
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

    /// @notice EIP-712 `hashStruct(RecordRegistration)`.
    function hashRecordRegistration(RecordRegistration calldata r) public pure returns (bytes32) {
        return
            keccak256(
                bytes.concat(
                    abi.encode(
                        REGISTRATION_TYPEHASH,
                        r.id,
                        r.patient,
                        _hashText(r.bodyCid),
                        _hashText(r.headerCid)
                    ),
                    abi.encode(r.bodyHash, r.policyHash, r.recordType, r.deadline)
                )
            );
    }

    /// @notice EIP-712 `hashStruct(RecordRekey)`.
    function hashRecordRekey(RecordRekey calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    REKEY_TYPEHASH,
                    m.id,
                    m.version,
                    _hashText(m.headerCid),
                    m.policyHash,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(RecordBodyRekey)`.
    function hashRecordBodyRekey(RecordBodyRekey calldata m) public pure returns (bytes32) {
        return
            keccak256(
                bytes.concat(
                    abi.encode(
                        BODY_REKEY_TYPEHASH,
                        m.id,
                        m.version,
                        _hashText(m.bodyCid),
                        _hashText(m.headerCid)
                    ),
                    abi.encode(m.bodyHash, m.policyHash, m.deadline)
                )
            );
    }

    /// @notice EIP-712 `hashStruct(RecordSupersede)`.
    function hashRecordSupersede(RecordSupersede calldata m) public pure returns (bytes32) {
        return keccak256(abi.encode(SUPERSEDE_TYPEHASH, m.id, m.newId, m.deadline));
    }

    /// @notice EIP-712 `hashStruct(RecordWithdraw)`.
    function hashRecordWithdraw(RecordWithdraw calldata m) public pure returns (bytes32) {
        return keccak256(abi.encode(WITHDRAW_TYPEHASH, m.id, m.reasonCode, m.deadline));
    }

    // ------------------------------------------------------------------ internals

    /// @dev The author of one batch entry (see {ActorSignatures-_actor}) without the relayer
    /// check, which {registerBatch} makes once.
    function _signer(
        RecordRegistration calldata r,
        bytes calldata signature
    ) private view returns (address author) {
        uint64 deadline = r.deadline;
        if (block.timestamp > deadline) revert RecordRegistrySignatureExpired(deadline);
        if (signature.length == 0) return msg.sender;
        author = _recover(hashRecordRegistration(r), signature);
        if (author == address(0)) revert RecordRegistryInvalidSignature();
    }

    /// @dev Validates one input, writes its single packed slot and emits its event.
    function _register(RecordRegistration calldata r, address author, uint32 inst) private {
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
        emit RecordRegistered(
            id,
            r.patient,
            inst,
            author,
            r.bodyCid,
            r.headerCid,
            r.bodyHash,
            r.policyHash,
            r.recordType,
            uint64(block.timestamp)
        );
    }

    /// @dev (institution, allowed) for an author: an active doctor, nurse or gateway of an
    /// institution, or the record's own patient (institution 0).
    function _authorInstitution(
        address author,
        address patient
    ) private view returns (uint32, bool) {
        (uint32 inst, uint8 role, bool active) = consortium.memberInfo(author);
        if (active && inst != 0 && (_isClinician(role) || role == ConsortiumRoles.GATEWAY)) {
            return (inst, true);
        }
        if (author == patient && author != address(0)) return (0, true);
        return (0, false);
    }

    /// @dev The active record `id`, after checking `actor` may manage it: the patient, or an
    /// active doctor/nurse of the record's author institution.
    function _managed(address actor, bytes32 id) private view returns (Record storage rec) {
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

    /// @dev Checks the signed version is the current one, then bumps and stores it.
    function _nextVersion(
        Record storage rec,
        bytes32 id,
        uint16 signedVersion
    ) private returns (uint16 version) {
        version = rec.version;
        if (signedVersion != version) {
            revert RecordRegistryStaleVersion(id, signedVersion, version);
        }
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

    /// @dev The EIP-712 domain name: {NAME}.
    function _domainName() internal pure override returns (string memory) {
        return NAME;
    }

    /// @dev A signed message past its deadline.
    function _revertSignatureExpired(uint64 deadline) internal pure override {
        revert RecordRegistrySignatureExpired(deadline);
    }

    /// @dev A malformed signature, or one that recovers nothing.
    function _revertInvalidSignature() internal pure override {
        revert RecordRegistryInvalidSignature();
    }

    /// @dev A caller that is neither the actor nor an active relayer.
    function _revertUnauthorizedRelay(address caller) internal pure override {
        revert RecordRegistryUnauthorizedRelay(caller);
    }
}
