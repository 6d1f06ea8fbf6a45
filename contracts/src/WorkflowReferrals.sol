// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {WorkflowBase} from "./WorkflowBase.sol";

/**
 * @title WorkflowReferrals
 * @notice Two-way referrals (双向转诊): Requested → Accepted → Arrived → Completed, or
 * Requested → Rejected / Cancelled.
 *
 * @dev A doctor of the sending institution requests (optionally attaching the referral record,
 * so "the information arrives before the patient"); a doctor of the receiving institution
 * accepts or rejects; a doctor or nurse there marks the patient arrived; a doctor there
 * completes it (from Accepted or Arrived) naming a summary record of the same patient,
 * authored by the receiving institution and registered at or after the acceptance; the
 * requester may cancel before acceptance.
 *
 * Signed types (domain "MedLedger Workflow", `crypto/signing/workflow.py`):
 * `ReferralRequest(bytes32 referralId,address patient,uint32 toInstitution,bytes32 recordId,bytes32 reason,uint64 deadline)`
 * by the requester, and `ReferralStep(bytes32 referralId,uint8 action,bytes32 argument,uint64 deadline)`
 * for every later move (action 1 accept, 2 reject with a reason, 3 arrive, 4 complete with the
 * summary record id, 5 cancel with a reason). The state machine only moves forward, so each
 * signed step applies at most once.
 */
abstract contract WorkflowReferrals is WorkflowBase {
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

    /// @notice A request, field for field the signed EIP-712 `ReferralRequest`.
    struct ReferralRequest {
        bytes32 referralId;
        address patient;
        uint32 toInstitution;
        bytes32 recordId;
        bytes32 reason;
        uint64 deadline;
    }

    /// @notice A later move, field for field the signed EIP-712 `ReferralStep`.
    struct ReferralStep {
        bytes32 referralId;
        uint8 action;
        bytes32 argument;
        uint64 deadline;
    }

    /// @dev Four slots: parties and state; requester and acceptance time; attached records.
    struct Referral {
        address patient;
        uint32 fromInstitution;
        uint32 toInstitution;
        ReferralStatus status;
        address requester;
        uint40 acceptedAt;
        bytes32 recordId;
        bytes32 summaryRecordId;
    }

    /// @notice `ReferralStep.action`: accept.
    uint8 public constant ACCEPT = 1;
    /// @notice `ReferralStep.action`: reject, argument = reason.
    uint8 public constant REJECT = 2;
    /// @notice `ReferralStep.action`: the patient arrived.
    uint8 public constant ARRIVE = 3;
    /// @notice `ReferralStep.action`: complete, argument = summary record id.
    uint8 public constant COMPLETE = 4;
    /// @notice `ReferralStep.action`: cancel, argument = reason.
    uint8 public constant CANCEL = 5;

    /// @notice keccak256 of the `ReferralRequest` type string.
    bytes32 public constant REFERRAL_REQUEST_TYPEHASH =
        keccak256(
            "ReferralRequest(bytes32 referralId,address patient,uint32 toInstitution,"
            "bytes32 recordId,bytes32 reason,uint64 deadline)"
        );
    /// @notice keccak256 of the `ReferralStep` type string.
    bytes32 public constant REFERRAL_STEP_TYPEHASH =
        keccak256(
            "ReferralStep(bytes32 referralId,uint8 action,bytes32 argument,uint64 deadline)"
        );

    mapping(bytes32 id => Referral) private _referrals;

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

    /**
     * @notice Requests the referral `m.referralId` of `m.patient` to `m.toInstitution`.
     * @dev Requirements: `block.timestamp ≤ m.deadline`; a valid signature of `m` by the
     * actor (or none when the actor sends the call), carried by the actor or an enrolled
     * relayer; the actor is an active doctor of an institution; the id is new and non-zero;
     * the patient is non-zero; `toInstitution` exists, is active and is not the sender's;
     * `recordId`, when non-zero, is an active record of the patient.
     * Emits {ReferralRequested}.
     */
    function requestReferral(ReferralRequest calldata m, bytes calldata signature) external {
        address actor = _actor(hashReferralRequest(m), m.deadline, signature);
        uint32 from = _memberInstitution(actor, false);
        bytes32 referralId = m.referralId;
        if (referralId == bytes32(0) || _referrals[referralId].status != ReferralStatus.None) {
            revert WorkflowDuplicateId(referralId);
        }
        if (m.patient == address(0)) revert WorkflowInvalidPatient();
        if (m.toInstitution == from || !_institutionActive(m.toInstitution)) {
            revert WorkflowInvalidInstitution(m.toInstitution);
        }
        if (m.recordId != bytes32(0)) _record(m.recordId, m.patient);
        _referrals[referralId] = Referral({
            patient: m.patient,
            fromInstitution: from,
            toInstitution: m.toInstitution,
            status: ReferralStatus.Requested,
            requester: actor,
            acceptedAt: 0,
            recordId: m.recordId,
            summaryRecordId: bytes32(0)
        });
        emit ReferralRequested(
            referralId,
            m.patient,
            m.toInstitution,
            from,
            actor,
            m.recordId,
            m.reason
        );
    }

    /**
     * @notice Makes one signed move of referral `m.referralId`.
     * @dev Requirements: `block.timestamp ≤ m.deadline`; a valid signature of `m` by the
     * actor (or none when the actor sends the call), carried by the actor or an enrolled
     * relayer; the referral exists; then, by `m.action`:
     * - accept (argument zero): an active doctor of the receiving institution, from
     *   Requested; emits {ReferralAccepted};
     * - reject (argument = reason): the same; emits {ReferralRejected};
     * - arrive (argument zero): an active doctor or nurse of the receiving institution, from
     *   Accepted; emits {ReferralArrived};
     * - complete (argument = summary record id): an active doctor of the receiving
     *   institution, from Accepted or Arrived; the summary is an active record of the patient,
     *   authored by the receiving institution, registered at or after the acceptance; emits
     *   {ReferralCompleted};
     * - cancel (argument = reason): the requester, still an active doctor, from Requested;
     *   emits {ReferralCancelled}.
     */
    function stepReferral(ReferralStep calldata m, bytes calldata signature) external {
        address actor = _actor(hashReferralStep(m), m.deadline, signature);
        bytes32 id = m.referralId;
        Referral storage ref = _referrals[id];
        if (ref.status == ReferralStatus.None) revert WorkflowUnknownReferral(id);
        uint8 action = m.action;
        if (action == ACCEPT || action == ARRIVE) {
            if (m.argument != bytes32(0)) revert WorkflowUnexpectedArgument(action);
        }
        if (action == ACCEPT) {
            _receiving(ref, actor, false);
            _expect(id, ref.status, ReferralStatus.Requested);
            ref.status = ReferralStatus.Accepted;
            ref.acceptedAt = uint40(block.timestamp);
            emit ReferralAccepted(id, actor);
        } else if (action == REJECT) {
            _receiving(ref, actor, false);
            _expect(id, ref.status, ReferralStatus.Requested);
            ref.status = ReferralStatus.Rejected;
            emit ReferralRejected(id, actor, m.argument);
        } else if (action == ARRIVE) {
            _receiving(ref, actor, true);
            _expect(id, ref.status, ReferralStatus.Accepted);
            ref.status = ReferralStatus.Arrived;
            emit ReferralArrived(id, actor);
        } else if (action == COMPLETE) {
            _complete(ref, id, actor, m.argument);
        } else if (action == CANCEL) {
            if (actor != ref.requester) revert WorkflowUnauthorized(actor);
            _memberInstitution(actor, false);
            _expect(id, ref.status, ReferralStatus.Requested);
            ref.status = ReferralStatus.Cancelled;
            emit ReferralCancelled(id, actor, m.argument);
        } else {
            revert WorkflowInvalidAction(action);
        }
    }

    /**
     * @notice A referral's state; `acceptedAt` is zero until it is accepted.
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
            bytes32 summaryRecordId,
            uint64 acceptedAt
        )
    {
        Referral storage r = _referrals[referralId];
        if (r.status == ReferralStatus.None) revert WorkflowUnknownReferral(referralId);
        return (
            r.patient,
            r.fromInstitution,
            r.toInstitution,
            uint8(r.status),
            r.requester,
            r.recordId,
            r.summaryRecordId,
            r.acceptedAt
        );
    }

    /// @notice EIP-712 `hashStruct(ReferralRequest)`.
    function hashReferralRequest(ReferralRequest calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    REFERRAL_REQUEST_TYPEHASH,
                    m.referralId,
                    m.patient,
                    m.toInstitution,
                    m.recordId,
                    m.reason,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(ReferralStep)`.
    function hashReferralStep(ReferralStep calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(REFERRAL_STEP_TYPEHASH, m.referralId, m.action, m.argument, m.deadline)
            );
    }

    // ------------------------------------------------------------------ internals

    /// @dev Completes `ref` with `summaryRecordId` (see {stepReferral}).
    function _complete(
        Referral storage ref,
        bytes32 id,
        address actor,
        bytes32 summaryRecordId
    ) private {
        _receiving(ref, actor, false);
        ReferralStatus status = ref.status;
        if (status != ReferralStatus.Accepted && status != ReferralStatus.Arrived) {
            revert WorkflowInvalidTransition(id, uint8(status));
        }
        (uint32 author, uint64 registeredAt) = _record(summaryRecordId, ref.patient);
        if (author != ref.toInstitution || registeredAt < ref.acceptedAt) {
            revert WorkflowInvalidSummary(summaryRecordId, author, registeredAt);
        }
        ref.status = ReferralStatus.Completed;
        ref.summaryRecordId = summaryRecordId;
        emit ReferralCompleted(id, actor, summaryRecordId);
    }

    /// @dev Reverts unless `actor` is an active doctor (or nurse, if allowed) of the
    /// referral's receiving institution.
    function _receiving(Referral storage ref, address actor, bool nurseOk) private view {
        if (_memberInstitution(actor, nurseOk) != ref.toInstitution) {
            revert WorkflowUnauthorized(actor);
        }
    }

    /// @dev Reverts with {WorkflowInvalidTransition} unless the referral is in `expected`.
    function _expect(bytes32 id, ReferralStatus status, ReferralStatus expected) private pure {
        if (status != expected) revert WorkflowInvalidTransition(id, uint8(status));
    }
}
