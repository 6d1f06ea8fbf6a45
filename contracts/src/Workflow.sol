// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, ConsortiumRoles} from "./IConsortium.sol";
import {RecordRegistry} from "./RecordRegistry.sol";

/**
 * @title Workflow
 * @notice Two-way referrals (双向转诊) and remote consultations (远程会诊) between the
 * consortium's institutions, as small state machines whose every transition is an event.
 *
 * @dev Referral: Requested → Accepted → Arrived → Completed, or Requested → Rejected /
 * Cancelled. A doctor of the sending institution requests (optionally attaching the referral
 * record, so "the information arrives before the patient"); a doctor of the receiving
 * institution accepts or rejects; a doctor or nurse there marks the patient arrived; a doctor
 * there completes it attaching a summary record of the same patient (from Accepted or
 * Arrived); the requester may cancel before acceptance.
 *
 * Consultation: Open → Closed, or Open → Cancelled. A doctor requests it for a patient,
 * inviting institutions (at most {MAX_INVITED}) and/or an attribute policy by its hash, with a
 * deadline. Clinicians of invited institutions give opinions (CID + hash, one each) until the
 * deadline or closing; for the policy, the relayer attests that the actor's attributes satisfy
 * it (the API evaluates the policy off-chain, as for consents). The requester closes with a
 * conclusion or cancels.
 *
 * Actors: every write names its `actor`; a direct call requires `actor == msg.sender`, and the
 * relayer may act for an authenticated member. The actor must be an active member of the
 * institution the state calls for.
 */
contract Workflow {
    /// @notice Referral states.
    enum ReferralStatus {
        None,
        Requested,
        Accepted,
        Arrived,
        Completed,
        Rejected,
        Cancelled
    }

    /// @notice Consultation states.
    enum ConsultationStatus {
        None,
        Open,
        Closed,
        Cancelled
    }

    /// @dev Three slots: parties and state, requester, attached records.
    struct Referral {
        address patient;
        uint32 fromInstitution;
        uint32 toInstitution;
        ReferralStatus status;
        address requester;
        bytes32 recordId;
        bytes32 summaryRecordId;
    }

    /// @dev First slot: patient, institution, state, deadline, opinion count.
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

    /// @notice The consortium register.
    IConsortium public immutable consortium;
    /// @notice The record registry (attached records must exist and belong to the patient).
    RecordRegistry public immutable registry;

    mapping(bytes32 id => Referral) private _referrals;
    mapping(bytes32 id => Consultation) private _consultations;
    mapping(bytes32 id => mapping(uint32 institutionId => bool)) private _invited;
    mapping(bytes32 id => mapping(address account => bool)) private _opined;

    /// @notice A referral was requested.
    event ReferralRequested(
        bytes32 indexed referralId,
        address indexed patient,
        uint32 indexed toInstitution,
        uint32 fromInstitution,
        address requester,
        bytes32 recordId,
        bytes32 reason
    );
    /// @notice The receiving institution accepted the referral.
    event ReferralAccepted(bytes32 indexed referralId, address indexed actor);
    /// @notice The receiving institution rejected the referral.
    event ReferralRejected(bytes32 indexed referralId, address indexed actor, bytes32 reason);
    /// @notice The patient checked in at the receiving institution.
    event ReferralArrived(bytes32 indexed referralId, address indexed actor);
    /// @notice The receiving institution completed the referral with a summary record.
    event ReferralCompleted(
        bytes32 indexed referralId,
        address indexed actor,
        bytes32 summaryRecordId
    );
    /// @notice The requester cancelled the referral before acceptance.
    event ReferralCancelled(bytes32 indexed referralId, address indexed actor, bytes32 reason);
    /// @notice A consultation was requested.
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
    event ConsultationCancelled(bytes32 indexed consultationId, address indexed actor, bytes32 reason);

    /// @notice The caller named an actor other than itself and is not the relayer.
    error WorkflowUnauthorizedRelay(address caller);
    /// @notice The actor may not make this move.
    error WorkflowUnauthorized(address actor);
    /// @notice The id is zero or already used.
    error WorkflowDuplicateId(bytes32 id);
    /// @notice No referral has this id.
    error WorkflowUnknownReferral(bytes32 id);
    /// @notice No consultation has this id.
    error WorkflowUnknownConsultation(bytes32 id);
    /// @notice The move is not allowed from the current state.
    error WorkflowInvalidTransition(bytes32 id, uint8 status);
    /// @notice The institution is unknown, suspended, or the sender's own.
    error WorkflowInvalidInstitution(uint32 institutionId);
    /// @notice The patient is the zero address.
    error WorkflowInvalidPatient();
    /// @notice The record is unknown, inactive or not the patient's.
    error WorkflowInvalidRecord(bytes32 recordId);
    /// @notice The deadline is not in the future.
    error WorkflowInvalidDeadline(uint64 deadline);
    /// @notice A consultation must invite some institution or a policy, and at most
    /// {MAX_INVITED} institutions.
    error WorkflowInvalidInvitees(uint256 count, uint256 max);
    /// @notice The consultation's deadline has passed.
    error WorkflowDeadlinePassed(bytes32 id, uint64 deadline);
    /// @notice The actor already gave an opinion.
    error WorkflowAlreadyOpined(bytes32 id, address actor);
    /// @notice An opinion or conclusion needs a CID and a non-zero hash.
    error WorkflowInvalidDocument();
    /// @notice The zero address was given for a dependency.
    error WorkflowZeroAddress();

    /**
     * @notice Binds the workflows to the consortium register and the record registry.
     * @dev Requirements: neither is the zero address.
     */
    constructor(IConsortium consortium_, RecordRegistry registry_) {
        if (address(consortium_) == address(0) || address(registry_) == address(0)) {
            revert WorkflowZeroAddress();
        }
        consortium = consortium_;
        registry = registry_;
    }

    // ------------------------------------------------------------------ referrals

    /**
     * @notice Requests the referral `referralId` of `patient` to `toInstitution`.
     * @dev Requirements: the caller may act for `actor`; `actor` is an active doctor of an
     * institution; the id is new and non-zero; the patient is non-zero; `toInstitution` exists,
     * is active and is not the sender's; `recordId`, when non-zero, is an active record of the
     * patient. Emits {ReferralRequested}.
     */
    function requestReferral(
        address actor,
        bytes32 referralId,
        address patient,
        uint32 toInstitution,
        bytes32 recordId,
        bytes32 reason
    ) external {
        _checkActor(actor);
        uint32 from = _memberInstitution(actor, false);
        if (referralId == bytes32(0) || _referrals[referralId].status != ReferralStatus.None) {
            revert WorkflowDuplicateId(referralId);
        }
        if (patient == address(0)) revert WorkflowInvalidPatient();
        if (toInstitution == from || !_institutionActive(toInstitution)) {
            revert WorkflowInvalidInstitution(toInstitution);
        }
        if (recordId != bytes32(0)) _checkRecord(recordId, patient);
        _referrals[referralId] = Referral({
            patient: patient,
            fromInstitution: from,
            toInstitution: toInstitution,
            status: ReferralStatus.Requested,
            requester: actor,
            recordId: recordId,
            summaryRecordId: bytes32(0)
        });
        emit ReferralRequested(referralId, patient, toInstitution, from, actor, recordId, reason);
    }

    /**
     * @notice The receiving institution accepts the referral.
     * @dev Requirements: the caller may act for `actor`; `actor` is an active doctor of the
     * receiving institution; the referral is Requested. Emits {ReferralAccepted}.
     */
    function acceptReferral(address actor, bytes32 referralId) external {
        Referral storage ref = _receiving(actor, referralId, false);
        _expect(referralId, ref.status, ReferralStatus.Requested);
        ref.status = ReferralStatus.Accepted;
        emit ReferralAccepted(referralId, actor);
    }

    /**
     * @notice The receiving institution rejects the referral.
     * @dev Requirements: as for {acceptReferral}. Emits {ReferralRejected}.
     */
    function rejectReferral(address actor, bytes32 referralId, bytes32 reason) external {
        Referral storage ref = _receiving(actor, referralId, false);
        _expect(referralId, ref.status, ReferralStatus.Requested);
        ref.status = ReferralStatus.Rejected;
        emit ReferralRejected(referralId, actor, reason);
    }

    /**
     * @notice The patient checked in at the receiving institution.
     * @dev Requirements: the caller may act for `actor`; `actor` is an active doctor or nurse
     * of the receiving institution; the referral is Accepted. Emits {ReferralArrived}.
     */
    function markArrived(address actor, bytes32 referralId) external {
        Referral storage ref = _receiving(actor, referralId, true);
        _expect(referralId, ref.status, ReferralStatus.Accepted);
        ref.status = ReferralStatus.Arrived;
        emit ReferralArrived(referralId, actor);
    }

    /**
     * @notice The receiving institution completes the referral, attaching a summary record.
     * @dev Requirements: the caller may act for `actor`; `actor` is an active doctor of the
     * receiving institution; the referral is Accepted or Arrived; `summaryRecordId` is an
     * active record of the referral's patient. Emits {ReferralCompleted}.
     */
    function completeReferral(address actor, bytes32 referralId, bytes32 summaryRecordId) external {
        Referral storage ref = _receiving(actor, referralId, false);
        ReferralStatus status = ref.status;
        if (status != ReferralStatus.Accepted && status != ReferralStatus.Arrived) {
            revert WorkflowInvalidTransition(referralId, uint8(status));
        }
        _checkRecord(summaryRecordId, ref.patient);
        ref.status = ReferralStatus.Completed;
        ref.summaryRecordId = summaryRecordId;
        emit ReferralCompleted(referralId, actor, summaryRecordId);
    }

    /**
     * @notice The requester cancels the referral before it is accepted.
     * @dev Requirements: the caller may act for `actor`; `actor` is the requester and still an
     * active member; the referral is Requested. Emits {ReferralCancelled}.
     */
    function cancelReferral(address actor, bytes32 referralId, bytes32 reason) external {
        _checkActor(actor);
        Referral storage ref = _referral(referralId);
        if (actor != ref.requester) revert WorkflowUnauthorized(actor);
        _memberInstitution(actor, false);
        _expect(referralId, ref.status, ReferralStatus.Requested);
        ref.status = ReferralStatus.Cancelled;
        emit ReferralCancelled(referralId, actor, reason);
    }

    // ------------------------------------------------------------------ consultations

    /**
     * @notice Opens the consultation `consultationId` about `patient`.
     * @dev Requirements: the caller may act for `actor`; `actor` is an active doctor of an
     * institution; the id is new and non-zero; the patient is non-zero; `deadline` is in the
     * future; at least one invited institution or a non-zero policy hash, at most
     * {MAX_INVITED} institutions, each existing and active; `recordId`, when non-zero, is an
     * active record of the patient. Emits {ConsultationRequested}.
     */
    function requestConsultation(
        address actor,
        bytes32 consultationId,
        address patient,
        bytes32 recordId,
        uint32[] calldata invitedInstitutions,
        bytes32 policyHash,
        uint64 deadline
    ) external {
        _checkActor(actor);
        uint32 inst = _memberInstitution(actor, false);
        if (
            consultationId == bytes32(0) ||
            _consultations[consultationId].status != ConsultationStatus.None
        ) revert WorkflowDuplicateId(consultationId);
        if (patient == address(0)) revert WorkflowInvalidPatient();
        if (deadline <= block.timestamp || deadline > type(uint40).max) {
            revert WorkflowInvalidDeadline(deadline);
        }
        uint256 n = invitedInstitutions.length;
        if (n > MAX_INVITED || (n == 0 && policyHash == bytes32(0))) {
            revert WorkflowInvalidInvitees(n, MAX_INVITED);
        }
        if (recordId != bytes32(0)) _checkRecord(recordId, patient);
        for (uint256 i; i < n; ) {
            uint32 invited = invitedInstitutions[i];
            if (!_institutionActive(invited)) revert WorkflowInvalidInstitution(invited);
            _invited[consultationId][invited] = true;
            unchecked {
                ++i;
            }
        }
        _consultations[consultationId] = Consultation({
            patient: patient,
            requesterInstitution: inst,
            status: ConsultationStatus.Open,
            deadline: uint40(deadline),
            opinionCount: 0,
            requester: actor,
            recordId: recordId,
            policyHash: policyHash
        });
        emit ConsultationRequested(
            consultationId,
            patient,
            inst,
            actor,
            recordId,
            policyHash,
            deadline,
            invitedInstitutions
        );
    }

    /**
     * @notice Gives an opinion on an open consultation.
     * @dev Requirements: the caller may act for `actor`; `actor` is an active doctor or nurse;
     * the consultation is Open and its deadline not passed; the actor's institution is invited,
     * or the consultation names a policy and the relayer (which evaluated it) sends the call;
     * the actor has not opined yet; `opinionCid` non-empty, `opinionHash` non-zero.
     * Emits {ConsultationOpinionSubmitted}.
     */
    function submitOpinion(
        address actor,
        bytes32 consultationId,
        string calldata opinionCid,
        bytes32 opinionHash
    ) external {
        bool relayed = _checkActor(actor);
        uint32 inst = _memberInstitution(actor, true);
        Consultation storage c = _consultation(consultationId);
        if (c.status != ConsultationStatus.Open) {
            revert WorkflowInvalidTransition(consultationId, uint8(c.status));
        }
        if (block.timestamp > c.deadline) revert WorkflowDeadlinePassed(consultationId, c.deadline);
        if (!_invited[consultationId][inst] && !(relayed && c.policyHash != bytes32(0))) {
            revert WorkflowUnauthorized(actor);
        }
        if (_opined[consultationId][actor]) revert WorkflowAlreadyOpined(consultationId, actor);
        if (bytes(opinionCid).length == 0 || opinionHash == bytes32(0)) {
            revert WorkflowInvalidDocument();
        }
        _opined[consultationId][actor] = true;
        unchecked {
            ++c.opinionCount;
        }
        emit ConsultationOpinionSubmitted(consultationId, actor, inst, opinionCid, opinionHash);
    }

    /**
     * @notice The requester closes the consultation with a conclusion.
     * @dev Requirements: the caller may act for `actor`; `actor` is the requester and still an
     * active member; the consultation is Open; `conclusionCid` non-empty, `conclusionHash`
     * non-zero. Emits {ConsultationClosed}.
     */
    function closeConsultation(
        address actor,
        bytes32 consultationId,
        string calldata conclusionCid,
        bytes32 conclusionHash
    ) external {
        Consultation storage c = _ownConsultation(actor, consultationId);
        if (bytes(conclusionCid).length == 0 || conclusionHash == bytes32(0)) {
            revert WorkflowInvalidDocument();
        }
        c.status = ConsultationStatus.Closed;
        emit ConsultationClosed(
            consultationId,
            actor,
            conclusionCid,
            conclusionHash,
            c.opinionCount
        );
    }

    /**
     * @notice The requester cancels an open consultation.
     * @dev Requirements: as for {closeConsultation} (no documents). Emits
     * {ConsultationCancelled}.
     */
    function cancelConsultation(address actor, bytes32 consultationId, bytes32 reason) external {
        Consultation storage c = _ownConsultation(actor, consultationId);
        c.status = ConsultationStatus.Cancelled;
        emit ConsultationCancelled(consultationId, actor, reason);
    }

    // ------------------------------------------------------------------ views

    /**
     * @notice A referral's state.
     * @dev Requirements: the referral exists.
     */
    function referralOf(
        bytes32 referralId
    )
        external
        view
        returns (
            address patient,
            uint32 fromInstitution,
            uint32 toInstitution,
            uint8 status,
            address requester,
            bytes32 recordId,
            bytes32 summaryRecordId
        )
    {
        Referral storage r = _referral(referralId);
        return (
            r.patient,
            r.fromInstitution,
            r.toInstitution,
            uint8(r.status),
            r.requester,
            r.recordId,
            r.summaryRecordId
        );
    }

    /**
     * @notice A consultation's state.
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

    // ------------------------------------------------------------------ internals

    /// @dev Reverts unless the caller is `actor` or the relayer; returns true when relayed.
    function _checkActor(address actor) private view returns (bool relayed) {
        if (actor == msg.sender) return false;
        if (!consortium.isRelayer(msg.sender)) revert WorkflowUnauthorizedRelay(msg.sender);
        return true;
    }

    /// @dev The institution of an active doctor (or, with `nurseOk`, nurse) `actor`.
    function _memberInstitution(address actor, bool nurseOk) private view returns (uint32) {
        (uint32 inst, uint8 role, bool active) = consortium.memberInfo(actor);
        bool roleOk = role == ConsortiumRoles.DOCTOR ||
            (nurseOk && role == ConsortiumRoles.NURSE);
        if (!active || inst == 0 || !roleOk) revert WorkflowUnauthorized(actor);
        return inst;
    }

    /// @dev True for an existing, non-suspended institution.
    function _institutionActive(uint32 institutionId) private view returns (bool) {
        if (institutionId == 0 || institutionId > consortium.institutionCount()) return false;
        (, , , bool active) = consortium.institution(institutionId);
        return active;
    }

    /// @dev Reverts unless `recordId` is an active record of `patient`.
    function _checkRecord(bytes32 recordId, address patient) private view {
        if (registry.patientOf(recordId) != patient || !registry.isActive(recordId)) {
            revert WorkflowInvalidRecord(recordId);
        }
    }

    /// @dev The referral `referralId`, reverting when unknown.
    function _referral(bytes32 referralId) private view returns (Referral storage r) {
        r = _referrals[referralId];
        if (r.status == ReferralStatus.None) revert WorkflowUnknownReferral(referralId);
    }

    /// @dev The consultation `consultationId`, reverting when unknown.
    function _consultation(bytes32 consultationId) private view returns (Consultation storage c) {
        c = _consultations[consultationId];
        if (c.status == ConsultationStatus.None) revert WorkflowUnknownConsultation(consultationId);
    }

    /// @dev A referral whose receiving institution `actor` (a doctor, or nurse if allowed)
    /// belongs to.
    function _receiving(
        address actor,
        bytes32 referralId,
        bool nurseOk
    ) private view returns (Referral storage ref) {
        _checkActor(actor);
        ref = _referral(referralId);
        if (_memberInstitution(actor, nurseOk) != ref.toInstitution) {
            revert WorkflowUnauthorized(actor);
        }
    }

    /// @dev An open consultation requested by `actor` (still an active member).
    function _ownConsultation(
        address actor,
        bytes32 consultationId
    ) private view returns (Consultation storage c) {
        _checkActor(actor);
        c = _consultation(consultationId);
        if (actor != c.requester) revert WorkflowUnauthorized(actor);
        _memberInstitution(actor, false);
        if (c.status != ConsultationStatus.Open) {
            revert WorkflowInvalidTransition(consultationId, uint8(c.status));
        }
    }

    /// @dev Reverts with {WorkflowInvalidTransition} unless the referral is in `expected`.
    function _expect(bytes32 id, ReferralStatus status, ReferralStatus expected) private pure {
        if (status != expected) revert WorkflowInvalidTransition(id, uint8(status));
    }
}
