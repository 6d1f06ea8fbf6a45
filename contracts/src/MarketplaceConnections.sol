// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium} from "./IConsortium.sol";
import {MarketplaceBase} from "./MarketplaceBase.sol";

/**
 * @title MarketplaceConnections
 * @notice A user's authorisation of a listed app to reach a patient's records (the consent
 * screen of a SMART launch, on chain) and the patient's revocation of an app, effective for
 * every later authorisation at once.
 *
 * @dev Abstract; {Marketplace} supplies the listing state through {_liveVersion} and
 * {_launchable}. Both messages are signed (domain "MedLedger Marketplace",
 * `crypto/signing/marketplace.py`) with a single-use nonce and a deadline, and relayed as
 * every other marketplace action ({MarketplaceBase-_signed}):
 * `AppAuthorization(address user,address patient,bytes32 appId,bytes32 clientId,bytes32 scopeHash,uint256 nonce,uint64 deadline)`
 * by `user`, and `AppRevocation(address patient,bytes32 appId,uint256 nonce,uint64 deadline)`
 * by `patient`. `clientId` is keccak256 of the OAuth client id's UTF-8 bytes; `scopeHash` is
 * keccak256 of the granted scopes' UTF-8 bytes, each once, sorted and joined by single spaces
 * (`crypto.signing.marketplace.scope_hash`). Apps hold no Ethereum key: the launching user
 * signs for them. A revocation blocks authorisations by anyone but the patient; the patient's
 * own authorisation clears it (a reconnection).
 */
abstract contract MarketplaceConnections is MarketplaceBase {
    /// @notice A user's authorisation of an app, field for field the signed `AppAuthorization`.
    struct AppAuthorization {
        address user;
        address patient;
        bytes32 appId;
        bytes32 clientId;
        bytes32 scopeHash;
        uint256 nonce;
        uint64 deadline;
    }

    /// @notice A patient's revocation of an app, field for field the signed `AppRevocation`.
    struct AppRevocation {
        address patient;
        bytes32 appId;
        uint256 nonce;
        uint64 deadline;
    }

    /// @notice keccak256 of the `AppAuthorization` type string.
    bytes32 public constant APP_AUTHORIZATION_TYPEHASH =
        keccak256(
            "AppAuthorization(address user,address patient,bytes32 appId,bytes32 clientId,"
            "bytes32 scopeHash,uint256 nonce,uint64 deadline)"
        );
    /// @notice keccak256 of the `AppRevocation` type string.
    bytes32 public constant APP_REVOCATION_TYPEHASH =
        keccak256("AppRevocation(address patient,bytes32 appId,uint256 nonce,uint64 deadline)");

    /// @notice When `patient` revoked app `appId` (unix seconds; 0: not revoked).
    mapping(address patient => mapping(bytes32 appId => uint64)) public appRevokedAt;

    /// @notice `user` authorised app `appId` (OAuth client `clientId`) to reach `patient`'s
    /// records with the scopes hashed in `scopeHash`.
    event AppAuthorized(
        bytes32 indexed appId,
        address indexed user,
        address indexed patient,
        bytes32 clientId,
        bytes32 scopeHash
    );
    /// @notice `patient` revoked app `appId`: nobody else can authorise it for them.
    event AppRevoked(address indexed patient, bytes32 indexed appId);
    /// @notice `patient` authorised app `appId` again, which cleared their revocation.
    event AppReconnected(address indexed patient, bytes32 indexed appId);

    /// @notice The signer is not the message's `user` (authorisation) or `patient` (revocation).
    error MarketplaceSignerMismatch(address signer, address expected);
    /// @notice The user's institution has not installed the app (or it is not Live there).
    error MarketplaceNotLaunchable(uint32 institutionId, bytes32 appId);
    /// @notice A user who is not an active institution member may authorise only for
    /// themselves.
    error MarketplaceNotOwnRecords(address user, address patient);
    /// @notice The patient revoked the app at `revokedAt`; only the patient can reconnect it.
    error MarketplaceAppRevoked(address patient, bytes32 appId, uint64 revokedAt);
    /// @notice The patient already revoked the app at `revokedAt`.
    error MarketplaceAppAlreadyRevoked(address patient, bytes32 appId, uint64 revokedAt);
    /// @notice An authorisation needs a non-zero client id.
    error MarketplaceInvalidClient();

    /**
     * @notice Records `m.user`'s authorisation of app `m.appId` for `m.patient`'s records.
     * @dev Requirements: `block.timestamp ≤ m.deadline`; a valid signature of `m` by `m.user`
     * (or none when `m.user` sends the call), carried by `m.user` or an enrolled relayer;
     * nonce unused; `m.patient` non-zero and `m.clientId` non-zero; the app has a Live
     * version; when `m.user` is an active institution member ({IConsortium-memberInfo}), the
     * app is launchable at that institution, otherwise `m.user == m.patient`; when the patient
     * revoked the app, `m.user == m.patient`, and the revocation is cleared. Emits
     * {AppReconnected} (after a revocation), then {AppAuthorized}.
     */
    function authorizeApp(AppAuthorization calldata m, bytes calldata signature) external {
        address actor = _signed(hashAppAuthorization(m), m.nonce, m.deadline, signature);
        address user = m.user;
        if (actor != user) revert MarketplaceSignerMismatch(actor, user);
        address patient = m.patient;
        if (patient == address(0)) revert MarketplaceZeroAddress();
        if (m.clientId == bytes32(0)) revert MarketplaceInvalidClient();
        bytes32 appId = m.appId;
        if (_liveVersion(appId) == 0) revert MarketplaceNotLive(appId);
        (uint32 inst, , bool active) = consortium.memberInfo(user);
        if (active && inst != 0) {
            if (!_launchable(inst, appId)) revert MarketplaceNotLaunchable(inst, appId);
        } else if (user != patient) {
            revert MarketplaceNotOwnRecords(user, patient);
        }
        uint64 revokedAt = appRevokedAt[patient][appId];
        if (revokedAt != 0) {
            if (user != patient) revert MarketplaceAppRevoked(patient, appId, revokedAt);
            delete appRevokedAt[patient][appId];
            emit AppReconnected(patient, appId);
        }
        emit AppAuthorized(appId, user, patient, m.clientId, m.scopeHash);
    }

    /**
     * @notice Records `m.patient`'s revocation of app `m.appId`, effective at once.
     * @dev Requirements: signature, nonce and deadline as {authorizeApp}, signed by
     * `m.patient`; the app not already revoked by the patient (an app never authorised may be
     * revoked: a pre-emptive block). Emits {AppRevoked}.
     */
    function revokeApp(AppRevocation calldata m, bytes calldata signature) external {
        address actor = _signed(hashAppRevocation(m), m.nonce, m.deadline, signature);
        address patient = m.patient;
        if (actor != patient) revert MarketplaceSignerMismatch(actor, patient);
        bytes32 appId = m.appId;
        uint64 revokedAt = appRevokedAt[patient][appId];
        if (revokedAt != 0) revert MarketplaceAppAlreadyRevoked(patient, appId, revokedAt);
        appRevokedAt[patient][appId] = uint64(block.timestamp);
        emit AppRevoked(patient, appId);
    }

    /// @notice EIP-712 `hashStruct(AppAuthorization)`.
    function hashAppAuthorization(AppAuthorization calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    APP_AUTHORIZATION_TYPEHASH,
                    m.user,
                    m.patient,
                    m.appId,
                    m.clientId,
                    m.scopeHash,
                    m.nonce,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(AppRevocation)`.
    function hashAppRevocation(AppRevocation calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(APP_REVOCATION_TYPEHASH, m.patient, m.appId, m.nonce, m.deadline)
            );
    }

    // ------------------------------------------------------------------ internals

    /// @dev The app's Live version (0: none), from {Marketplace-liveVersionOf}.
    function _liveVersion(bytes32 appId) internal view virtual returns (uint32);

    /// @dev True when the institution installed the app and it is Live
    /// ({Marketplace-isLaunchable}).
    function _launchable(uint32 institutionId, bytes32 appId) internal view virtual returns (bool);
}
