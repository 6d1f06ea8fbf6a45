// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ActorSignatures} from "./ActorSignatures.sol";
import {IConsortium} from "./IConsortium.sol";

/**
 * @title MarketplaceBase
 * @notice Who may act in the app marketplace (云医疗应用超市): the vendors the consortium admin
 * enrols, and the three administrator roles (platform provider, regulator, consortium
 * authority), each held by one account the consortium admin sets. Also the EIP-712 domain
 * "MedLedger Marketplace", the signers' nonces, and every error of {Marketplace} but
 * those of {MarketplaceConnections}.
 *
 * @dev Abstract; {Marketplace} is the deployable contract. Every write is signed by its actor
 * (see {ActorSignatures}) and every signed message carries a `nonce` and a `deadline`. Nonces
 * are unordered: each (signer, nonce) pair is accepted once, so several messages of one signer
 * can be relayed concurrently and in any order, and none can be replayed (an install, an
 * uninstall and the same install again are three nonces). Signed types
 * (`crypto/signing/marketplace.py`):
 * `VendorChange(address vendor,bool enrolled,uint256 nonce,uint64 deadline)` and
 * `AdministratorChange(uint8 role,address account,uint256 nonce,uint64 deadline)`, both by the
 * consortium admin ({IConsortium-admin}).
 */
abstract contract MarketplaceBase is ActorSignatures {
    /// @notice A vendor's enrolment or removal, field for field the signed `VendorChange`.
    struct VendorChange {
        address vendor;
        bool enrolled;
        uint256 nonce;
        uint64 deadline;
    }

    /// @notice Who holds an administrator role, field for field the signed
    /// `AdministratorChange` (`account` zero vacates the role).
    struct AdministratorChange {
        uint8 role;
        address account;
        uint256 nonce;
        uint64 deadline;
    }

    /// @notice EIP-712 domain name.
    string public constant NAME = "MedLedger Marketplace";

    /// @notice Administrator role: the platform provider (平台提供方).
    uint8 public constant PLATFORM_PROVIDER = 1;
    /// @notice Administrator role: the regulator (监管方).
    uint8 public constant REGULATOR = 2;
    /// @notice Administrator role: the consortium's authority (联盟管理方).
    uint8 public constant CONSORTIUM_AUTHORITY = 3;
    /// @dev Bit mask with one bit per administrator role (bits 1 to 3).
    uint8 internal constant _ALL_ROLES = 0x0e;

    /// @notice keccak256 of the `VendorChange` type string.
    bytes32 public constant VENDOR_CHANGE_TYPEHASH =
        keccak256("VendorChange(address vendor,bool enrolled,uint256 nonce,uint64 deadline)");
    /// @notice keccak256 of the `AdministratorChange` type string.
    bytes32 public constant ADMINISTRATOR_CHANGE_TYPEHASH =
        keccak256(
            "AdministratorChange(uint8 role,address account,uint256 nonce,uint64 deadline)"
        );

    mapping(address account => bool) private _vendors;
    mapping(uint8 role => address) private _administrators;
    mapping(address account => uint8) private _roles;
    mapping(address signer => mapping(uint256 nonce => bool)) private _usedNonces;

    /// @notice The consortium admin enrolled `vendor`.
    event VendorEnrolled(address indexed vendor, address indexed actor);
    /// @notice The consortium admin removed `vendor` (its listings stay as they are).
    event VendorRemoved(address indexed vendor, address indexed actor);
    /// @notice `account` now holds administrator role `role` (zero: vacant), instead of
    /// `previous`.
    event AdministratorSet(
        uint8 indexed role,
        address indexed account,
        address indexed previous,
        address actor
    );

    /// @notice The caller carries someone else's signature and is not an enrolled relayer.
    error MarketplaceUnauthorizedRelay(address caller);
    /// @notice The signature is malformed (length, high `s`, bad `v`) or recovers nothing.
    error MarketplaceInvalidSignature();
    /// @notice The signed message's deadline has passed.
    error MarketplaceSignatureExpired(uint64 deadline);
    /// @notice The signer already used this nonce.
    error MarketplaceNonceUsed(address signer, uint256 nonce);
    /// @notice The actor may not make this move.
    error MarketplaceUnauthorized(address actor);
    /// @notice The zero address was given where an account is needed.
    error MarketplaceZeroAddress();
    /// @notice The role is not 1 (platform provider), 2 (regulator) or 3 (consortium authority).
    error MarketplaceInvalidRole(uint8 role);
    /// @notice The account already holds another administrator role.
    error MarketplaceAdministratorInUse(address account, uint8 role);
    /// @notice The vendor is already enrolled (enrol) or is not (remove).
    error MarketplaceVendorUnchanged(address vendor, bool enrolled);
    /// @notice The actor is not an enrolled vendor.
    error MarketplaceNotVendor(address actor);
    /// @notice The app id belongs to another vendor.
    error MarketplaceNotAppVendor(bytes32 appId, address actor);
    /// @notice A submission needs a non-zero app id and manifest digest and a manifest URI.
    error MarketplaceInvalidSubmission();
    /// @notice A submitted version must be above every earlier version of the app.
    error MarketplaceVersionNotNewer(bytes32 appId, uint32 version, uint32 latest);
    /// @notice No such version of the app was submitted.
    error MarketplaceUnknownVersion(bytes32 appId, uint32 version);
    /// @notice The move is not allowed from the version's current state.
    error MarketplaceInvalidTransition(bytes32 appId, uint32 version, uint8 status);
    /// @notice This administrator role already voted on the version.
    error MarketplaceAlreadyVoted(bytes32 appId, uint32 version, uint8 role);
    /// @notice A rejection or suspension must give a reason.
    error MarketplaceMissingReason();
    /// @notice A newer version of the app is already listed; this one can no longer go Live.
    error MarketplaceStaleVersion(bytes32 appId, uint32 version, uint32 current);
    /// @notice The status action is not 1 (suspend), 2 (reinstate) or 3 (retire).
    error MarketplaceInvalidAction(uint8 action);
    /// @notice The institution is unknown or suspended.
    error MarketplaceInvalidInstitution(uint32 institutionId);
    /// @notice The app has no Live version.
    error MarketplaceNotLive(bytes32 appId);
    /// @notice The institution already installed the app.
    error MarketplaceAlreadyInstalled(uint32 institutionId, bytes32 appId);
    /// @notice The institution has not installed the app.
    error MarketplaceNotInstalled(uint32 institutionId, bytes32 appId);
    /// @notice A rating is 1 to 5.
    error MarketplaceInvalidScore(uint8 score);
    /// @notice The version was never listed, so it cannot be rated.
    error MarketplaceNotListed(bytes32 appId, uint32 version);
    /// @notice The institution already rated this version.
    error MarketplaceAlreadyRated(bytes32 appId, uint32 version, uint32 institutionId);

    /**
     * @notice Binds the marketplace to the consortium register.
     * @dev Requirements: `consortium_` is not the zero address.
     */
    constructor(IConsortium consortium_) ActorSignatures(consortium_, NAME) {
        if (address(consortium_) == address(0)) revert MarketplaceZeroAddress();
    }

    /**
     * @notice Enrols or removes `m.vendor`.
     * @dev Requirements: `block.timestamp ≤ m.deadline`; a valid signature of `m` by the
     * consortium admin (or none when the admin sends the call), carried by the admin or an
     * enrolled relayer; the nonce unused; the vendor non-zero and not already in the asked
     * state. Emits {VendorEnrolled} or {VendorRemoved}.
     */
    function setVendor(VendorChange calldata m, bytes calldata signature) external {
        address actor = _signed(hashVendorChange(m), m.nonce, m.deadline, signature);
        _checkConsortiumAdmin(actor);
        if (m.vendor == address(0)) revert MarketplaceZeroAddress();
        if (_vendors[m.vendor] == m.enrolled) {
            revert MarketplaceVendorUnchanged(m.vendor, m.enrolled);
        }
        _vendors[m.vendor] = m.enrolled;
        if (m.enrolled) emit VendorEnrolled(m.vendor, actor);
        else emit VendorRemoved(m.vendor, actor);
    }

    /**
     * @notice Gives administrator role `m.role` to `m.account` (zero vacates it); the role's
     * votes already cast stay counted.
     * @dev Requirements: as {setVendor} for the signature, signer and nonce; the role is 1, 2
     * or 3; the account holds no other administrator role (one person cannot cast two of the
     * three approvals). Emits {AdministratorSet}.
     */
    function setAdministrator(AdministratorChange calldata m, bytes calldata signature) external {
        address actor = _signed(hashAdministratorChange(m), m.nonce, m.deadline, signature);
        _checkConsortiumAdmin(actor);
        uint8 role = m.role;
        if (role < PLATFORM_PROVIDER || role > CONSORTIUM_AUTHORITY) {
            revert MarketplaceInvalidRole(role);
        }
        address account = m.account;
        uint8 held = _roles[account];
        if (account != address(0) && held != 0 && held != role) {
            revert MarketplaceAdministratorInUse(account, held);
        }
        address previous = _administrators[role];
        if (previous != address(0)) _roles[previous] = 0;
        _administrators[role] = account;
        if (account != address(0)) _roles[account] = role;
        emit AdministratorSet(role, account, previous, actor);
    }

    /// @notice True when `account` is an enrolled vendor.
    function isVendor(address account) external view returns (bool) {
        return _vendors[account];
    }

    /// @notice The account holding administrator role `role` (zero when vacant or unknown).
    function administrator(uint8 role) external view returns (address) {
        return _administrators[role];
    }

    /// @notice The administrator role `account` holds (0: none).
    function administratorRoleOf(address account) external view returns (uint8) {
        return _roles[account];
    }

    /// @notice True when `signer` already used `nonce` in this contract.
    function nonceUsed(address signer, uint256 nonce) external view returns (bool) {
        return _usedNonces[signer][nonce];
    }

    /// @notice EIP-712 `hashStruct(VendorChange)`.
    function hashVendorChange(VendorChange calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(VENDOR_CHANGE_TYPEHASH, m.vendor, m.enrolled, m.nonce, m.deadline)
            );
    }

    /// @notice EIP-712 `hashStruct(AdministratorChange)`.
    function hashAdministratorChange(
        AdministratorChange calldata m
    ) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(ADMINISTRATOR_CHANGE_TYPEHASH, m.role, m.account, m.nonce, m.deadline)
            );
    }

    // ------------------------------------------------------------------ internals

    /// @dev The actor of a signed message (see {ActorSignatures-_actor}), its nonce spent.
    function _signed(
        bytes32 structHash,
        uint256 nonce,
        uint64 deadline,
        bytes calldata signature
    ) internal returns (address actor) {
        actor = _actor(structHash, deadline, signature);
        if (_usedNonces[actor][nonce]) revert MarketplaceNonceUsed(actor, nonce);
        _usedNonces[actor][nonce] = true;
    }

    /// @dev Reverts with {MarketplaceUnauthorized} unless `actor` is the consortium admin.
    function _checkConsortiumAdmin(address actor) internal view {
        if (actor != consortium.admin()) revert MarketplaceUnauthorized(actor);
    }

    /// @dev Reverts with {MarketplaceNotVendor} unless `actor` is an enrolled vendor.
    function _checkVendor(address actor) internal view {
        if (!_vendors[actor]) revert MarketplaceNotVendor(actor);
    }

    /// @dev The administrator role of `actor` (0: none).
    function _roleOf(address actor) internal view returns (uint8) {
        return _roles[actor];
    }

    /// @dev The EIP-712 domain name: {NAME}.
    function _domainName() internal pure override returns (string memory) {
        return NAME;
    }

    /// @dev A signed message past its deadline.
    function _revertSignatureExpired(uint64 deadline) internal pure override {
        revert MarketplaceSignatureExpired(deadline);
    }

    /// @dev A malformed signature, or one that recovers nothing.
    function _revertInvalidSignature() internal pure override {
        revert MarketplaceInvalidSignature();
    }

    /// @dev A caller that is neither the actor nor an active relayer.
    function _revertUnauthorizedRelay(address caller) internal pure override {
        revert MarketplaceUnauthorizedRelay(caller);
    }
}
