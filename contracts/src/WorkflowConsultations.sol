// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {WorkflowBase} from "./WorkflowBase.sol";

/**
 * @title WorkflowConsultations
 * @notice Remote consultations (远程会诊): Open → Closed, or Open → Cancelled.
 *
 * @dev A doctor requests one for a patient, inviting institutions (at most {MAX_INVITED})
 * and/or an attribute policy by its hash, open until `closesAt` (stored and reported as the
 * consultation's `deadline`). Clinicians of invited institutions give opinions (CID + hash,
 * one each) until then or until closing; for the policy, a relayer attests that the signed
 * actor's attributes satisfy it (the API evaluates the policy off chain, as for consents). The
 * requester closes with a conclusion or cancels.
 *
 * Signed types (domain "MedLedger Workflow", `crypto/signing/workflow.py`):
 * `ConsultationRequest(bytes32 consultationId,address patient,bytes32 recordId,uint32[] invitedInstitutions,bytes32 policyHash,uint64 closesAt,uint64 deadline)`,
 * `ConsultationOpinion(bytes32 consultationId,string opinionCid,bytes32 opinionHash,uint64 deadline)`,
 * `ConsultationClose(bytes32 consultationId,string conclusionCid,bytes32 conclusionHash,uint64 deadline)`
 * and `ConsultationCancel(bytes32 consultationId,bytes32 reason,uint64 deadline)`. Replay: the
 * id is unique, an actor opines once, and a consultation is closed or cancelled once.
 */
abstract contract WorkflowConsultations is WorkflowBase {
    /// @notice Consultation states.
    enum ConsultationStatus {
        None,
        Open,
        Closed,
        Cancelled
    }

    /// @notice A request, field for field the signed EIP-712 `ConsultationRequest`.
    struct ConsultationRequest {
        bytes32 consultationId;
        address patient;
        bytes32 recordId;
        uint32[] invitedInstitutions;
        bytes32 policyHash;
        uint64 closesAt;
        uint64 deadline;
    }

    /// @notice An opinion, field for field the signed EIP-712 `ConsultationOpinion`.
    struct ConsultationOpinion {
        bytes32 consultationId;
        string opinionCid;
        bytes32 opinionHash;
        uint64 deadline;
    }

    /// @notice A closing, field for field the signed EIP-712 `ConsultationClose`.
    struct ConsultationClose {
        bytes32 consultationId;
        string conclusionCid;
        bytes32 conclusionHash;
        uint64 deadline;
    }

    /// @notice A cancellation, field for field the signed EIP-712 `ConsultationCancel`.
    struct ConsultationCancel {
        bytes32 consultationId;
        bytes32 reason;
        uint64 deadline;
    }

    /// @dev First slot: patient, institution, state, closing time, opinion count.
    struct Consultation {
        address patient;
        uint32 requesterInstitution;
        ConsultationStatus status;
        uint40 deadline;
        uint16 opinionCount;
        address requester;
        bytes32 recordId;
        bytes32 policyHash;
    }

    /// @notice Most institutions one consultation may invite.
    uint256 public constant MAX_INVITED = 16;

    /// @notice keccak256 of the `ConsultationRequest` type string.
    bytes32 public constant CONSULTATION_REQUEST_TYPEHASH =
        keccak256(
            "ConsultationRequest(bytes32 consultationId,address patient,bytes32 recordId,"
            "uint32[] invitedInstitutions,bytes32 policyHash,uint64 closesAt,uint64 deadline)"
        );
    /// @notice keccak256 of the `ConsultationOpinion` type string.
    bytes32 public constant CONSULTATION_OPINION_TYPEHASH =
        keccak256(
            "ConsultationOpinion(bytes32 consultationId,string opinionCid,bytes32 opinionHash,"
            "uint64 deadline)"
        );
    /// @notice keccak256 of the `ConsultationClose` type string.
    bytes32 public constant CONSULTATION_CLOSE_TYPEHASH =
        keccak256(
            "ConsultationClose(bytes32 consultationId,string conclusionCid,"
            "bytes32 conclusionHash,uint64 deadline)"
        );
    /// @notice keccak256 of the `ConsultationCancel` type string.
    bytes32 public constant CONSULTATION_CANCEL_TYPEHASH =
        keccak256("ConsultationCancel(bytes32 consultationId,bytes32 reason,uint64 deadline)");

    mapping(bytes32 id => Consultation) private _consultations;
    mapping(bytes32 id => mapping(uint32 institutionId => bool)) private _invited;
    mapping(bytes32 id => mapping(address account => bool)) private _opined;

    /// @notice A consultation was requested; `deadline` is when opinions stop (`closesAt`).
    event ConsultationRequested(
        bytes32 indexed consultationId,
        address indexed patient,
        uint32 indexed requesterInstitution,
        address requester,
        bytes32 recordId,
        bytes32 policyHash,
        uint64 deadline,
        uint32[] invitedInstitutions
    );
    /// @notice An opinion was given (content at `opinionCid`, digest `opinionHash`).
    event ConsultationOpinionSubmitted(
        bytes32 indexed consultationId,
        address indexed author,
        uint32 indexed institutionId,
        string opinionCid,
        bytes32 opinionHash
    );
    /// @notice The requester closed the consultation with a conclusion.
    event ConsultationClosed(
        bytes32 indexed consultationId,
        address indexed actor,
        string conclusionCid,
        bytes32 conclusionHash,
        uint16 opinionCount
    );
    /// @notice The requester cancelled the consultation.
    event ConsultationCancelled(
        bytes32 indexed consultationId,
        address indexed actor,
        bytes32 reason
    );

    /**
     * @notice Opens the consultation `m.consultationId` about `m.patient`.
     * @dev Requirements: `block.timestamp ≤ m.deadline`; a valid signature of `m` by the
     * actor (or none when the actor sends the call), carried by the actor or an enrolled
     * relayer; the actor is an active doctor of an institution; the id is new and non-zero;
     * the patient is non-zero; `closesAt` is in the future; at least one invited institution
     * or a non-zero policy hash, at most {MAX_INVITED} institutions, each existing and active;
     * `recordId`, when non-zero, is an active record of the patient.
     * Emits {ConsultationRequested}.
     */
    function requestConsultation(
        ConsultationRequest calldata m,
        bytes calldata signature
    ) external {
        address actor = _actor(hashConsultationRequest(m), m.deadline, signature);
        uint32 inst = _memberInstitution(actor, false);
        bytes32 id = m.consultationId;
        if (id == bytes32(0) || _consultations[id].status != ConsultationStatus.None) {
            revert WorkflowDuplicateId(id);
        }
        if (m.patient == address(0)) revert WorkflowInvalidPatient();
        uint64 closesAt = m.closesAt;
        if (closesAt <= block.timestamp || closesAt > type(uint40).max) {
            revert WorkflowInvalidDeadline(closesAt);
        }
        _invite(id, m.invitedInstitutions, m.policyHash);
        if (m.recordId != bytes32(0)) _record(m.recordId, m.patient);
        _consultations[id] = Consultation({
            patient: m.patient,
            requesterInstitution: inst,
            status: ConsultationStatus.Open,
            deadline: uint40(closesAt),
            opinionCount: 0,
            requester: actor,
            recordId: m.recordId,
            policyHash: m.policyHash
        });
        emit ConsultationRequested(
            id,
            m.patient,
            inst,
            actor,
            m.recordId,
            m.policyHash,
            closesAt,
            m.invitedInstitutions
        );
    }

    /**
     * @notice Gives the signer's opinion on an open consultation.
     * @dev Requirements: `block.timestamp ≤ m.deadline`; a valid signature of `m` by the
     * actor (or none when the actor sends the call), carried by the actor or an enrolled
     * relayer; the actor is an active doctor or nurse; the consultation is Open and not past
     * its closing time; the actor's institution is invited, or the consultation names a policy
     * and a relayer (which evaluated it) carries the call; the actor has not opined yet;
     * `opinionCid` non-empty, `opinionHash` non-zero. Emits {ConsultationOpinionSubmitted}.
     */
    function submitOpinion(ConsultationOpinion calldata m, bytes calldata signature) external {
        address actor = _actor(hashConsultationOpinion(m), m.deadline, signature);
        uint32 inst = _memberInstitution(actor, true);
        bytes32 id = m.consultationId;
        Consultation storage c = _consultation(id);
        if (c.status != ConsultationStatus.Open) {
            revert WorkflowInvalidTransition(id, uint8(c.status));
        }
        if (block.timestamp > c.deadline) revert WorkflowDeadlinePassed(id, c.deadline);
        bool relayed = actor != msg.sender;
        if (!_invited[id][inst] && !(relayed && c.policyHash != bytes32(0))) {
            revert WorkflowUnauthorized(actor);
        }
        if (_opined[id][actor]) revert WorkflowAlreadyOpined(id, actor);
        if (bytes(m.opinionCid).length == 0 || m.opinionHash == bytes32(0)) {
            revert WorkflowInvalidDocument();
        }
        _opined[id][actor] = true;
        unchecked {
            ++c.opinionCount;
        }
        emit ConsultationOpinionSubmitted(id, actor, inst, m.opinionCid, m.opinionHash);
    }

    /**
     * @notice The requester closes the consultation with a conclusion.
     * @dev Requirements: `block.timestamp ≤ m.deadline`; a valid signature of `m` by the
     * requester (or none when the requester sends the call), carried by the requester or an
     * enrolled relayer; the requester is still an active doctor; the consultation is Open;
     * `conclusionCid` non-empty, `conclusionHash` non-zero. Emits {ConsultationClosed}.
     */
    function closeConsultation(ConsultationClose calldata m, bytes calldata signature) external {
        address actor = _actor(hashConsultationClose(m), m.deadline, signature);
        Consultation storage c = _ownConsultation(actor, m.consultationId);
        if (bytes(m.conclusionCid).length == 0 || m.conclusionHash == bytes32(0)) {
            revert WorkflowInvalidDocument();
        }
        c.status = ConsultationStatus.Closed;
        emit ConsultationClosed(
            m.consultationId,
            actor,
            m.conclusionCid,
            m.conclusionHash,
            c.opinionCount
        );
    }

    /**
     * @notice The requester cancels an open consultation.
     * @dev Requirements: as for {closeConsultation} (no documents).
     * Emits {ConsultationCancelled}.
     */
    function cancelConsultation(ConsultationCancel calldata m, bytes calldata signature) external {
        address actor = _actor(hashConsultationCancel(m), m.deadline, signature);
        Consultation storage c = _ownConsultation(actor, m.consultationId);
        c.status = ConsultationStatus.Cancelled;
        emit ConsultationCancelled(m.consultationId, actor, m.reason);
    }

    /**
     * @notice A consultation's state; `deadline` is when opinions stop.
     * @dev Requirements: the consultation exists.
     */
    function consultationOf(
        bytes32 consultationId
    )
        external
        view
        returns (
            address patient,
            uint32 requesterInstitution,
            uint8 status,
            uint64 deadline,
            uint16 opinionCount,
            address requester,
            bytes32 recordId,
            bytes32 policyHash
        )
    {
        Consultation storage c = _consultation(consultationId);
        return (
            c.patient,
            c.requesterInstitution,
            uint8(c.status),
            c.deadline,
            c.opinionCount,
            c.requester,
            c.recordId,
            c.policyHash
        );
    }

    /// @notice True when `institutionId` is invited to consultation `consultationId`.
    function isInvited(bytes32 consultationId, uint32 institutionId) external view returns (bool) {
        return _invited[consultationId][institutionId];
    }

    /// @notice True when `account` gave an opinion on consultation `consultationId`.
    function hasOpined(bytes32 consultationId, address account) external view returns (bool) {
        return _opined[consultationId][account];
    }

    /// @notice EIP-712 `hashStruct(ConsultationRequest)`.
    function hashConsultationRequest(
        ConsultationRequest calldata m
    ) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    CONSULTATION_REQUEST_TYPEHASH,
                    m.consultationId,
                    m.patient,
                    m.recordId,
                    keccak256(abi.encodePacked(m.invitedInstitutions)),
                    m.policyHash,
                    m.closesAt,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(ConsultationOpinion)`.
    function hashConsultationOpinion(
        ConsultationOpinion calldata m
    ) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    CONSULTATION_OPINION_TYPEHASH,
                    m.consultationId,
                    _hashText(m.opinionCid),
                    m.opinionHash,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(ConsultationClose)`.
    function hashConsultationClose(ConsultationClose calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    CONSULTATION_CLOSE_TYPEHASH,
                    m.consultationId,
                    _hashText(m.conclusionCid),
                    m.conclusionHash,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(ConsultationCancel)`.
    function hashConsultationCancel(ConsultationCancel calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(CONSULTATION_CANCEL_TYPEHASH, m.consultationId, m.reason, m.deadline)
            );
    }

    // ------------------------------------------------------------------ internals

    /// @dev Records the invited institutions of `id` (bounded by {MAX_INVITED}).
    function _invite(bytes32 id, uint32[] calldata invited, bytes32 policyHash) private {
        uint256 n = invited.length;
        if (n > MAX_INVITED || (n == 0 && policyHash == bytes32(0))) {
            revert WorkflowInvalidInvitees(n, MAX_INVITED);
        }
        for (uint256 i; i < n; ) {
            uint32 institutionId = invited[i];
            if (!_institutionActive(institutionId)) {
                revert WorkflowInvalidInstitution(institutionId);
            }
            _invited[id][institutionId] = true;
            unchecked {
                ++i;
            }
        }
    }

    /// @dev The consultation `consultationId`, reverting when unknown.
    function _consultation(bytes32 consultationId) private view returns (Consultation storage c) {
        c = _consultations[consultationId];
        if (c.status == ConsultationStatus.None) revert WorkflowUnknownConsultation(consultationId);
    }

    /// @dev An open consultation requested by `actor` (still an active doctor).
    function _ownConsultation(
        address actor,
        bytes32 consultationId
    ) private view returns (Consultation storage c) {
        c = _consultation(consultationId);
        if (actor != c.requester) revert WorkflowUnauthorized(actor);
        _memberInstitution(actor, false);
        if (c.status != ConsultationStatus.Open) {
            revert WorkflowInvalidTransition(consultationId, uint8(c.status));
        }
    }
}
