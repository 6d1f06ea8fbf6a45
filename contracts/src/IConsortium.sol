// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IConsortium
 * @notice The part of {Consortium} the other MedLedger contracts call: who is a member, of which
 * institution, with which role, and which accounts are relayers.
 * @dev Kept as an interface so that each dependent contract's bytecode does not embed the
 * register's code; role numbers match `Consortium.Role`.
 */
interface IConsortium {
    /// @notice (institution id, role, active) of `account`, from one packed slot.
    function memberInfo(
        address account
    ) external view returns (uint32 institutionId, uint8 role, bool active);

    /// @notice True when `account` is an active member with the relayer role.
    function isRelayer(address account) external view returns (bool);

    /// @notice The consortium admin.
    function admin() external view returns (address);

    /// @notice An institution's name, code, admin and active flag (reverts when unknown).
    function institution(
        uint32 institutionId
    ) external view returns (string memory name, bytes32 code, address instAdmin, bool active);

    /// @notice Number of institutions ever added; ids run from 1 to this value.
    function institutionCount() external view returns (uint32);
}

/// @dev Role numbers of `Consortium.Role`, for contracts that only see the interface.
library ConsortiumRoles {
    uint8 internal constant NONE = 0;
    uint8 internal constant DOCTOR = 1;
    uint8 internal constant NURSE = 2;
    uint8 internal constant AUDITOR = 3;
    uint8 internal constant KEY_AUTHORITY = 4;
    uint8 internal constant RELAYER = 5;
    uint8 internal constant GATEWAY = 6;
}
