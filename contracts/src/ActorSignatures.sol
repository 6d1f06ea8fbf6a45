// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium} from "./IConsortium.sol";
import {MedLedgerEIP712} from "./MedLedgerEIP712.sol";

/**
 * @title ActorSignatures
 * @notice The rule every MedLedger contract that acts in someone's name follows: the actor is
 * recovered from their EIP-712 signature, and the signature is carried by the actor itself or
 * by an enrolled relayer, which pays gas and can change nothing on its own.
 *
 * @dev {_actor}: with an empty signature the caller is the actor (it signed the transaction
 * itself). Otherwise the actor is the signer, and a caller other than the actor must be an
 * active relayer ({IConsortium-isRelayer}). Every signed message carries a `deadline` (unix
 * seconds), refused once `block.timestamp > deadline`; replay is guarded by each contract (a
 * unique id, a state transition that happens once, or the record's version), never by the
 * relayer. Each contract reports failures with its own custom errors through the `_revert*`
 * hooks, so a revert names the contract (`RecordRegistryInvalidSignature()`, ...).
 */
abstract contract ActorSignatures is MedLedgerEIP712 {
    /// @dev See {MedLedgerEIP712-constructor}.
    constructor(IConsortium consortium_, string memory name) MedLedgerEIP712(consortium_, name) {}

    /**
     * @dev The actor of a signed action: the signer of `structHash` under this domain, or the
     * caller itself when `signature` is empty. Reverts through the hooks when the deadline has
     * passed, the signature is malformed or recovers nothing, or the caller is neither the
     * actor nor an enrolled relayer.
     */
    function _actor(
        bytes32 structHash,
        uint64 deadline,
        bytes calldata signature
    ) internal view returns (address actor) {
        if (block.timestamp > deadline) _revertSignatureExpired(deadline);
        if (signature.length == 0) return msg.sender;
        actor = _recover(structHash, signature);
        if (actor == address(0)) _revertInvalidSignature();
        if (actor != msg.sender) _checkRelayer();
    }

    /// @dev Reverts with the contract's `<Contract>SignatureExpired(deadline)`.
    function _revertSignatureExpired(uint64 deadline) internal pure virtual;

    /// @dev Reverts with the contract's `<Contract>InvalidSignature()`.
    function _revertInvalidSignature() internal pure virtual;
}
