// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, ConsortiumRoles} from "./IConsortium.sol";

/**
 * @title EmergencyAccess
 * @notice Break-glass emergency access: a doctor of an active institution opens one patient's
 * records without consent by stating a reason, for a bounded window; an auditor later reviews
 * every opening as justified or not. Both steps are events, so the patient and the auditors see
 * them on chain.
 *
 * @dev The reason text stays off chain (in the API's index); its keccak-256 is stored here so an
 * auditor can check the text the index shows. The window is chosen by the API (its setting) and
 * capped at {MAX_WINDOW}; the API serves ciphertexts under an opening only until `expiresAt`.
 *
 * Rate limit: the API caps a clinician's openings per UTC day; beyond the cap it requires a
 * co-signature, an EIP-712 `BreakGlassCosign` signed by a second active doctor, which this
 * contract checks too (domain "MedLedger EmergencyAccess", version "1"). The per-day count is
 * kept here ({openingsOn}) so the cap can be audited from the chain alone.
 *
 * Writes are relayer-only (the API authenticates the actor by SIWE and relays); the actor is
 * still checked against {IConsortium}: the clinician must be an active doctor of an active
 * institution, the reviewer an active auditor.
 */
contract EmergencyAccess {
    /// @dev One opening: two slots.
    struct Opening {
        address clinician;
        uint64 expiresAt;
        bool reviewed;
        bool justified;
        address patient;
    }

    /// @notice Longest window an opening may have.
    uint64 public constant MAX_WINDOW = 24 hours;
    /// @notice EIP-712 domain name (see `crypto/signing.py`).
    string public constant NAME = "MedLedger EmergencyAccess";
    /// @notice EIP-712 domain version.
    string public constant VERSION = "1";
    /// @notice keccak256 of the `BreakGlassCosign` type string.
    bytes32 public constant COSIGN_TYPEHASH =
        keccak256(
            "BreakGlassCosign(address clinician,address patient,bytes32 reasonHash,uint64 deadline)"
        );

    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256(
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
        );
    /// @dev secp256k1n / 2: signatures with a larger `s` are malleable twins.
    uint256 private constant _HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice The consortium register.
    IConsortium public immutable consortium;

    mapping(bytes32 id => Opening) private _openings;
    mapping(address clinician => mapping(uint64 day => uint32)) private _perDay;

    /// @notice A clinician opened `patient`'s records for emergency use until `expiresAt`.
    event BreakGlassOpened(
        bytes32 indexed id,
        address indexed clinician,
        address indexed patient,
        bytes32 reasonHash,
        address coSigner,
        uint64 expiresAt
    );
    /// @notice An auditor reviewed an opening.
    event BreakGlassReviewed(
        bytes32 indexed id,
        address indexed auditor,
        bool justified,
        bytes32 noteHash
    );

    /// @notice The caller is not the relayer.
    error EmergencyAccessUnauthorizedRelay(address caller);
    /// @notice The actor is not an active doctor (opening) or active auditor (review).
    error EmergencyAccessUnauthorized(address actor);
    /// @notice The id is zero or already used.
    error EmergencyAccessDuplicateId(bytes32 id);
    /// @notice No opening has this id.
    error EmergencyAccessUnknownId(bytes32 id);
    /// @notice The patient is the zero address or the clinician themself.
    error EmergencyAccessInvalidPatient(address patient);
    /// @notice The reason hash is zero.
    error EmergencyAccessEmptyReason();
    /// @notice The window is zero or above {MAX_WINDOW}.
    error EmergencyAccessInvalidWindow(uint64 window, uint64 max);
    /// @notice The co-signer is the clinician, not an active doctor, or the signature is bad.
    error EmergencyAccessInvalidCosignature(address coSigner);
    /// @notice The co-signature's deadline has passed.
    error EmergencyAccessCosignatureExpired(uint64 deadline);
    /// @notice The opening was already reviewed.
    error EmergencyAccessAlreadyReviewed(bytes32 id);

    /**
     * @notice Binds the register.
     * @dev Requirements: `consortium_` is not the zero address.
     */
    constructor(IConsortium consortium_) {
        if (address(consortium_) == address(0)) revert EmergencyAccessUnauthorized(address(0));
        consortium = consortium_;
    }

    // ------------------------------------------------------------------ writes

    /**
     * @notice Opens `patient`'s records for emergency use by `actor` for `window` seconds.
     * @dev Requirements: caller is the relayer; `actor` is an active doctor of an active
     * institution; `id` is new and non-zero; `patient` is non-zero and not `actor`;
     * `reasonHash` non-zero; 0 < `window` ≤ {MAX_WINDOW}. With a `coSigner` (non-zero):
     * another active doctor, a deadline not passed, and `coSignature` their EIP-712 signature
     * of `BreakGlassCosign(actor, patient, reasonHash, coSignDeadline)`; without one,
     * `coSignature` is empty. Emits {BreakGlassOpened}.
     */
    function openBreakGlass(
        address actor,
        bytes32 id,
        address patient,
        bytes32 reasonHash,
        uint64 window,
        address coSigner,
        uint64 coSignDeadline,
        bytes calldata coSignature
    ) external {
        _checkRelayer();
        if (!_isActive(actor, ConsortiumRoles.DOCTOR)) revert EmergencyAccessUnauthorized(actor);
        if (id == bytes32(0) || _openings[id].clinician != address(0)) {
            revert EmergencyAccessDuplicateId(id);
        }
        if (patient == address(0) || patient == actor) {
            revert EmergencyAccessInvalidPatient(patient);
        }
        if (reasonHash == bytes32(0)) revert EmergencyAccessEmptyReason();
        if (window == 0 || window > MAX_WINDOW) {
            revert EmergencyAccessInvalidWindow(window, MAX_WINDOW);
        }
        if (coSigner != address(0)) {
            _checkCosignature(actor, patient, reasonHash, coSigner, coSignDeadline, coSignature);
        } else if (coSignature.length != 0) {
            revert EmergencyAccessInvalidCosignature(coSigner);
        }
        uint64 expiresAt = uint64(block.timestamp) + window;
        _openings[id] = Opening({
            clinician: actor,
            expiresAt: expiresAt,
            reviewed: false,
            justified: false,
            patient: patient
        });
        unchecked {
            ++_perDay[actor][uint64(block.timestamp / 1 days)];
        }
        emit BreakGlassOpened(id, actor, patient, reasonHash, coSigner, expiresAt);
    }

    /**
     * @notice Records an auditor's review of opening `id`.
     * @dev Requirements: caller is the relayer; `auditor` is an active auditor; the opening
     * exists and was not reviewed. Emits {BreakGlassReviewed}.
     */
    function review(address auditor, bytes32 id, bool justified, bytes32 noteHash) external {
        _checkRelayer();
        if (!_isActive(auditor, ConsortiumRoles.AUDITOR)) {
            revert EmergencyAccessUnauthorized(auditor);
        }
        Opening storage o = _openings[id];
        if (o.clinician == address(0)) revert EmergencyAccessUnknownId(id);
        if (o.reviewed) revert EmergencyAccessAlreadyReviewed(id);
        o.reviewed = true;
        o.justified = justified;
        emit BreakGlassReviewed(id, auditor, justified, noteHash);
    }

    // ------------------------------------------------------------------ views

    /// @notice The opening `id` (all zero when unknown).
    function openingOf(
        bytes32 id
    )
        external
        view
        returns (
            address clinician,
            address patient,
            uint64 expiresAt,
            bool reviewed,
            bool justified
        )
    {
        Opening memory o = _openings[id];
        return (o.clinician, o.patient, o.expiresAt, o.reviewed, o.justified);
    }

    /// @notice True while opening `id` exists and its window has not ended.
    function isOpen(bytes32 id) external view returns (bool) {
        Opening memory o = _openings[id];
        return o.clinician != address(0) && block.timestamp < o.expiresAt;
    }

    /// @notice How many openings `clinician` made on UTC day `day` (unix time / 86400).
    function openingsOn(address clinician, uint64 day) external view returns (uint32) {
        return _perDay[clinician][day];
    }

    /// @notice The EIP-712 digest a co-signer signs.
    function cosignDigest(
        address clinician,
        address patient,
        bytes32 reasonHash,
        uint64 deadline
    ) public view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(COSIGN_TYPEHASH, clinician, patient, reasonHash, deadline)
        );
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    /// @notice The EIP-712 domain separator for this contract on this chain.
    function domainSeparator() public view returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    _DOMAIN_TYPEHASH,
                    keccak256(bytes(NAME)),
                    keccak256(bytes(VERSION)),
                    block.chainid,
                    address(this)
                )
            );
    }

    // ------------------------------------------------------------------ internals

    function _checkRelayer() private view {
        if (!consortium.isRelayer(msg.sender)) revert EmergencyAccessUnauthorizedRelay(msg.sender);
    }

    /// @dev True when `account` is an active member with `role` (of an active institution).
    function _isActive(address account, uint8 role) private view returns (bool) {
        (uint32 inst, uint8 r, bool active) = consortium.memberInfo(account);
        return active && inst != 0 && r == role;
    }

    /// @dev Reverts unless `coSigner` (not `actor`, an active doctor) signed the co-signature.
    function _checkCosignature(
        address actor,
        address patient,
        bytes32 reasonHash,
        address coSigner,
        uint64 deadline,
        bytes calldata signature
    ) private view {
        if (coSigner == actor || !_isActive(coSigner, ConsortiumRoles.DOCTOR)) {
            revert EmergencyAccessInvalidCosignature(coSigner);
        }
        if (deadline < block.timestamp) revert EmergencyAccessCosignatureExpired(deadline);
        if (signature.length != 65) revert EmergencyAccessInvalidCosignature(coSigner);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 32))
            v := byte(0, calldataload(add(signature.offset, 64)))
        }
        if (uint256(s) > _HALF_ORDER || (v != 27 && v != 28)) {
            revert EmergencyAccessInvalidCosignature(coSigner);
        }
        address signer = ecrecover(cosignDigest(actor, patient, reasonHash, deadline), v, r, s);
        if (signer == address(0) || signer != coSigner) {
            revert EmergencyAccessInvalidCosignature(coSigner);
        }
    }
}
