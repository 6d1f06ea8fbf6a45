// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium} from "./IConsortium.sol";
import {RecordRegistry} from "./RecordRegistry.sol";
import {WorkflowBase} from "./WorkflowBase.sol";
import {WorkflowConsultations} from "./WorkflowConsultations.sol";
import {WorkflowReferrals} from "./WorkflowReferrals.sol";

/**
 * @title Workflow
 * @notice Two-way referrals (双向转诊, {WorkflowReferrals}) and remote consultations
 * (远程会诊, {WorkflowConsultations}) between the consortium's institutions, as small state
 * machines whose every transition is an event.
 *
 * @dev Every transition is signed by its actor (EIP-712, domain "MedLedger Workflow") and
 * carried by the actor itself or by an enrolled relayer, which pays gas and can change nothing
 * on its own; the actor must be an active member of the institution the state calls for. The
 * parts share {WorkflowBase} (register, registry, errors, checks).
 */
contract Workflow is WorkflowReferrals, WorkflowConsultations {
    /**
     * @notice Binds the workflows to the consortium register and the record registry.
     * @dev Requirements: neither is the zero address.
     */
    constructor(
        IConsortium consortium_,
        RecordRegistry registry_
    ) WorkflowBase(consortium_, registry_) {}
}
