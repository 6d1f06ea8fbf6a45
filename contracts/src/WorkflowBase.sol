// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ActorSignatures} from "./ActorSignatures.sol";
import {IConsortium, ConsortiumRoles} from "./IConsortium.sol";
import {RecordRegistry} from "./RecordRegistry.sol";

/**
 * @title WorkflowBase
 * @notice What referrals and consultations share: the register and the record registry they
 * check against, the EIP-712 domain "MedLedger Workflow", the errors, and the member and
 * record checks.
 * @dev Abstract; {Workflow} is the deployable contract. Every write is signed by its actor and
 * carried by the actor or an enrolled relayer (see {ActorSignatures}).
 */
abstract contract WorkflowBase is ActorSignatures {
    /// @notice EIP-712 domain name.
    string public constant NAME = "MedLedger Workflow";

    /// @notice The record registry (attached records must exist and belong to the patient).
    RecordRegistry public immutable registry;

    /// @notice The caller carries someone else's signature and is not an enrolled relayer.
    error WorkflowUnauthorizedRelay(address caller);
    /// @notice The signature is malformed (length, high `s`, bad `v`) or recovers nothing.
    error WorkflowInvalidSignature();
    /// @notice The signed message's deadline has passed.
    error WorkflowSignatureExpired(uint64 deadline);
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
    /// @notice The referral step's action is not one of accept, reject, arrive, complete,
    /// cancel.
    error WorkflowInvalidAction(uint8 action);
    /// @notice Accept and arrive take no argument: it must be zero.
    error WorkflowUnexpectedArgument(uint8 action);
    /// @notice The institution is unknown, suspended, or the sender's own.
    error WorkflowInvalidInstitution(uint32 institutionId);
    /// @notice The patient is the zero address.
    error WorkflowInvalidPatient();
    /// @notice The record is unknown, inactive or not the patient's.
    error WorkflowInvalidRecord(bytes32 recordId);
    /// @notice A referral's summary must be authored by the receiving institution and
    /// registered at or after the referral was accepted.
    error WorkflowInvalidSummary(bytes32 recordId, uint32 authorInstitution, uint64 registeredAt);
    /// @notice The consultation's closing time is not in the future.
    error WorkflowInvalidDeadline(uint64 deadline);
    /// @notice A consultation must invite some institution or a policy, and at most
    /// {MAX_INVITED} institutions.
    error WorkflowInvalidInvitees(uint256 count, uint256 max);
    /// @notice The consultation's closing time has passed.
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
    constructor(
        IConsortium consortium_,
        RecordRegistry registry_
    ) ActorSignatures(consortium_, NAME) {
        if (address(consortium_) == address(0) || address(registry_) == address(0)) {
            revert WorkflowZeroAddress();
        }
        registry = registry_;
    }

    // ------------------------------------------------------------------ internals

    /// @dev The institution of an active doctor (or, with `nurseOk`, nurse) `actor`.
    function _memberInstitution(address actor, bool nurseOk) internal view returns (uint32) {
        (uint32 inst, uint8 role, bool active) = consortium.memberInfo(actor);
        bool roleOk = role == ConsortiumRoles.DOCTOR ||
            (nurseOk && role == ConsortiumRoles.NURSE);
        if (!active || inst == 0 || !roleOk) revert WorkflowUnauthorized(actor);
        return inst;
    }

    /// @dev True for an existing, non-suspended institution.
    function _institutionActive(uint32 institutionId) internal view returns (bool) {
        if (institutionId == 0 || institutionId > consortium.institutionCount()) return false;
        (, , , bool active) = consortium.institution(institutionId);
        return active;
    }

    /// @dev The author institution and registration time of `recordId`, reverting with
    /// {WorkflowInvalidRecord} unless it is an active record of `patient`.
    function _record(
        bytes32 recordId,
        address patient
    ) internal view returns (uint32 authorInstitution, uint64 registeredAt) {
        try registry.recordOf(recordId) returns (
            address recordPatient,
            uint32 inst,
            uint16,
            uint8 status,
            uint64 at
        ) {
            if (recordPatient == patient && status == uint8(RecordRegistry.Status.Active)) {
                return (inst, at);
            }
        } catch {} // an unknown record: refused below
        revert WorkflowInvalidRecord(recordId);
    }

    /// @dev The EIP-712 domain name: {NAME}.
    function _domainName() internal pure override returns (string memory) {
        return NAME;
    }

    /// @dev A signed message past its deadline.
    function _revertSignatureExpired(uint64 deadline) internal pure override {
        revert WorkflowSignatureExpired(deadline);
    }

    /// @dev A malformed signature, or one that recovers nothing.
    function _revertInvalidSignature() internal pure override {
        revert WorkflowInvalidSignature();
    }

    /// @dev A caller that is neither the actor nor an active relayer.
    function _revertUnauthorizedRelay(address caller) internal pure override {
        revert WorkflowUnauthorizedRelay(caller);
    }
}
