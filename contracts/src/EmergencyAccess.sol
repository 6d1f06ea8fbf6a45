// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ActorSignatures} from "./ActorSignatures.sol";
import {IConsortium, ConsortiumRoles} from "./IConsortium.sol";

/**
 * @title EmergencyAccess
 * @notice Break-glass emergency access: a doctor of an active institution opens one patient's
 * records without consent by stating a reason, for a bounded window; past a daily cap a second
 * doctor must co-sign; an auditor later reviews every opening as justified or not. Every step
 * is an event, so the patient and the auditors see it on chain.
 *
 * @dev Every step is signed by its actor (EIP-712, domain "MedLedger EmergencyAccess", types in
 * `crypto/signing/emergency.py`) and carried by the actor or any enrolled relayer:
 * - `BreakGlassOpen(bytes32 id,address patient,bytes32 reasonHash,uint64 window,uint64 deadline)`
 *   by the opening doctor; the id is unique, so an opening cannot be replayed;
 * - `BreakGlassCosign(bytes32 openingId,address clinician,address patient,bytes32 reasonHash,uint64 deadline)`
 *   by another active doctor: bound to the opening id (so used once), the opener, the patient
 *   and the reason, with a deadline at most {MAX_COSIGN_LIFETIME} ahead of the block;
 * - `BreakGlassReview(bytes32 id,bool justified,bytes32 noteHash,uint64 deadline)` by an active
 *   auditor; an opening is reviewed once.
 *
 * Daily cap, enforced here: a clinician's openings per UTC day are counted ({openingsOn});
 * once the count has reached {dailyCap} (set by the consortium admin, default 3) an opening
 * needs a co-signature. Transactions are ordered by the chain, so concurrent openings cannot
 * race past the cap. The reason text stays off chain; its keccak-256 is stored so an auditor
 * can check the text the index shows. The window is capped at {MAX_WINDOW}.
 */
contract EmergencyAccess is ActorSignatures {
    /// @notice An opening, field for field the signed EIP-712 `BreakGlassOpen`.
    struct BreakGlassOpen {
        bytes32 id;
        address patient;
        bytes32 reasonHash;
        uint64 window;
        uint64 deadline;
    }

    /// @notice A review, field for field the signed EIP-712 `BreakGlassReview`.
    struct BreakGlassReview {
        bytes32 id;
        bool justified;
        bytes32 noteHash;
        uint64 deadline;
    }

    /// @dev One opening: two slots.
    struct Opening {
        address clinician;
        uint64 expiresAt;
        bool reviewed;
        bool justified;
        address patient;
        uint64 openedAt;
    }

    /// @notice EIP-712 domain name.
    string public constant NAME = "MedLedger EmergencyAccess";
    /// @notice Longest window an opening may have.
    uint64 public constant MAX_WINDOW = 24 hours;
    /// @notice Longest a co-signature may still be valid when it is used.
    uint64 public constant MAX_COSIGN_LIFETIME = 1 hours;
    /// @notice The daily cap before any change by the consortium admin.
    uint32 public constant DEFAULT_DAILY_CAP = 3;

    /// @notice keccak256 of the `BreakGlassOpen` type string.
    bytes32 public constant OPEN_TYPEHASH =
        keccak256(
            "BreakGlassOpen(bytes32 id,address patient,bytes32 reasonHash,uint64 window,"
            "uint64 deadline)"
        );
    /// @notice keccak256 of the `BreakGlassCosign` type string.
    bytes32 public constant COSIGN_TYPEHASH =
        keccak256(
            "BreakGlassCosign(bytes32 openingId,address clinician,address patient,"
            "bytes32 reasonHash,uint64 deadline)"
        );
    /// @notice keccak256 of the `BreakGlassReview` type string.
    bytes32 public constant REVIEW_TYPEHASH =
        keccak256("BreakGlassReview(bytes32 id,bool justified,bytes32 noteHash,uint64 deadline)");

    /// @notice Openings a clinician may make per UTC day without a co-signature.
    uint32 public dailyCap = DEFAULT_DAILY_CAP;

    mapping(bytes32 id => Opening) private _openings;
    mapping(address clinician => mapping(uint64 day => uint32)) private _perDay;

    /// @notice A clinician opened `patient`'s records for emergency use until `expiresAt`;
    /// `coSigner` is zero when no co-signature was needed or given.
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
    /// @notice The consortium admin changed the daily cap.
    event DailyCapChanged(uint32 previousCap, uint32 newCap);

    /// @notice The caller carries someone else's signature and is not an enrolled relayer.
    error EmergencyAccessUnauthorizedRelay(address caller);
    /// @notice The signature is malformed (length, high `s`, bad `v`) or recovers nothing.
    error EmergencyAccessInvalidSignature();
    /// @notice The signed message's deadline has passed.
    error EmergencyAccessSignatureExpired(uint64 deadline);
    /// @notice The actor is not an active doctor (opening), an active auditor (review), or
    /// the consortium admin (cap); or the register address is zero.
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
    /// @notice The clinician reached the daily cap and no co-signature was given.
    error EmergencyAccessCapReached(address clinician, uint32 openings, uint32 cap);
    /// @notice The co-signature is malformed, or its signer is the clinician or not an active
    /// doctor (a co-signature for another opening recovers to an unrelated address).
    error EmergencyAccessInvalidCosignature(address coSigner);
    /// @notice The co-signature's deadline has passed.
    error EmergencyAccessCosignatureExpired(uint64 deadline);
    /// @notice The co-signature's deadline is more than {MAX_COSIGN_LIFETIME} ahead.
    error EmergencyAccessCosignatureTooLong(uint64 deadline, uint64 latest);
    /// @notice The opening was already reviewed.
    error EmergencyAccessAlreadyReviewed(bytes32 id);

    /**
     * @notice Binds the register.
     * @dev Requirements: `consortium_` is not the zero address.
     */
    constructor(IConsortium consortium_) ActorSignatures(consortium_, NAME) {
        if (address(consortium_) == address(0)) revert EmergencyAccessUnauthorized(address(0));
    }

    // ------------------------------------------------------------------ writes

    /**
     * @notice Opens `o.patient`'s records for emergency use by the signer of `o` for
     * `o.window` seconds.
     * @dev Requirements: `block.timestamp ≤ o.deadline`; `signature` is the opener's EIP-712
     * signature of `o` (or empty when the opener sends the call), carried by the opener or an
     * enrolled relayer; the opener is an active doctor of an active institution; `o.id` is new
     * and non-zero; the patient is non-zero and not the opener; the reason hash is non-zero;
     * 0 < window ≤ {MAX_WINDOW}. When the opener's openings today have reached {dailyCap},
     * `cosignature` must be another active doctor's signature of
     * `BreakGlassCosign(o.id, opener, o.patient, o.reasonHash, cosignDeadline)` with
     * `block.timestamp ≤ cosignDeadline ≤ block.timestamp + MAX_COSIGN_LIFETIME`; below the
     * cap a co-signature is optional but checked the same way when given.
     * Emits {BreakGlassOpened}.
     */
    function openBreakGlass(
        BreakGlassOpen calldata o,
        bytes calldata signature,
        uint64 cosignDeadline,
        bytes calldata cosignature
    ) external {
        address actor = _actor(hashBreakGlassOpen(o), o.deadline, signature);
        _checkOpening(o, actor);
        address coSigner = _countOpening(o, actor, cosignDeadline, cosignature);
        uint64 expiresAt = uint64(block.timestamp) + o.window;
        _openings[o.id] = Opening({
            clinician: actor,
            expiresAt: expiresAt,
            reviewed: false,
            justified: false,
            patient: o.patient,
            openedAt: uint64(block.timestamp)
        });
        emit BreakGlassOpened(o.id, actor, o.patient, o.reasonHash, coSigner, expiresAt);
    }

    /**
     * @notice Records an auditor's review of opening `r.id`.
     * @dev Requirements: `block.timestamp ≤ r.deadline`; a valid signature of `r` by the
     * auditor (or none when the auditor sends the call), carried by the auditor or an enrolled
     * relayer; the auditor is an active auditor; the opening exists and was not reviewed.
     * Emits {BreakGlassReviewed}.
     */
    function review(BreakGlassReview calldata r, bytes calldata signature) external {
        address auditor = _actor(hashBreakGlassReview(r), r.deadline, signature);
        if (!_isActive(auditor, ConsortiumRoles.AUDITOR)) {
            revert EmergencyAccessUnauthorized(auditor);
        }
        Opening storage o = _openings[r.id];
        if (o.clinician == address(0)) revert EmergencyAccessUnknownId(r.id);
        if (o.reviewed) revert EmergencyAccessAlreadyReviewed(r.id);
        o.reviewed = true;
        o.justified = r.justified;
        emit BreakGlassReviewed(r.id, auditor, r.justified, r.noteHash);
    }

    /**
     * @notice Sets how many openings a clinician may make per UTC day without a co-signature
     * (0: every opening needs one).
     * @dev Requirements: caller is the consortium admin. Emits {DailyCapChanged}.
     */
    function setDailyCap(uint32 cap) external {
        if (msg.sender != consortium.admin()) revert EmergencyAccessUnauthorized(msg.sender);
        emit DailyCapChanged(dailyCap, cap);
        dailyCap = cap;
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

    /// @notice The block time at which opening `id` was mined (0 when unknown): records
    /// registered before it are the ones its emergency key shares may open (`EmergencyKeys`).
    function openedAtOf(bytes32 id) external view returns (uint64) {
        return _openings[id].openedAt;
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

    /// @notice EIP-712 `hashStruct(BreakGlassOpen)`.
    function hashBreakGlassOpen(BreakGlassOpen calldata o) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(OPEN_TYPEHASH, o.id, o.patient, o.reasonHash, o.window, o.deadline)
            );
    }

    /// @notice EIP-712 `hashStruct(BreakGlassCosign)`.
    function hashBreakGlassCosign(
        bytes32 openingId,
        address clinician,
        address patient,
        bytes32 reasonHash,
        uint64 deadline
    ) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(COSIGN_TYPEHASH, openingId, clinician, patient, reasonHash, deadline)
            );
    }

    /// @notice EIP-712 `hashStruct(BreakGlassReview)`.
    function hashBreakGlassReview(BreakGlassReview calldata r) public pure returns (bytes32) {
        return keccak256(abi.encode(REVIEW_TYPEHASH, r.id, r.justified, r.noteHash, r.deadline));
    }

    // ------------------------------------------------------------------ internals

    /// @dev True when `account` is an active member with `role` (of an active institution).
    function _isActive(address account, uint8 role) private view returns (bool) {
        (uint32 inst, uint8 r, bool active) = consortium.memberInfo(account);
        return active && inst != 0 && r == role;
    }

    /// @dev Reverts unless `actor` is an active doctor and `o` a valid new opening.
    function _checkOpening(BreakGlassOpen calldata o, address actor) private view {
        if (!_isActive(actor, ConsortiumRoles.DOCTOR)) revert EmergencyAccessUnauthorized(actor);
        bytes32 id = o.id;
        if (id == bytes32(0) || _openings[id].clinician != address(0)) {
            revert EmergencyAccessDuplicateId(id);
        }
        address patient = o.patient;
        if (patient == address(0) || patient == actor) {
            revert EmergencyAccessInvalidPatient(patient);
        }
        if (o.reasonHash == bytes32(0)) revert EmergencyAccessEmptyReason();
        uint64 window = o.window;
        if (window == 0 || window > MAX_WINDOW) {
            revert EmergencyAccessInvalidWindow(window, MAX_WINDOW);
        }
    }

    /// @dev Counts the opening against `actor`'s day and returns its co-signer (zero when
    /// none was given), reverting when the cap is reached without a valid co-signature.
    function _countOpening(
        BreakGlassOpen calldata o,
        address actor,
        uint64 cosignDeadline,
        bytes calldata cosignature
    ) private returns (address coSigner) {
        uint64 day = uint64(block.timestamp / 1 days);
        uint32 count = _perDay[actor][day];
        if (cosignature.length != 0) {
            coSigner = _cosigner(o, actor, cosignDeadline, cosignature);
        } else {
            uint32 cap = dailyCap;
            if (count >= cap) revert EmergencyAccessCapReached(actor, count, cap);
        }
        unchecked {
            _perDay[actor][day] = count + 1;
        }
    }

    /// @dev The co-signer of opening `o` by `actor`: another active doctor whose signature is
    /// bound to this opening, with a deadline not passed and at most an hour ahead.
    function _cosigner(
        BreakGlassOpen calldata o,
        address actor,
        uint64 deadline,
        bytes calldata cosignature
    ) private view returns (address coSigner) {
        if (deadline < block.timestamp) revert EmergencyAccessCosignatureExpired(deadline);
        uint64 latest = uint64(block.timestamp) + MAX_COSIGN_LIFETIME;
        if (deadline > latest) revert EmergencyAccessCosignatureTooLong(deadline, latest);
        coSigner = _recover(
            hashBreakGlassCosign(o.id, actor, o.patient, o.reasonHash, deadline),
            cosignature
        );
        if (
            coSigner == address(0) ||
            coSigner == actor ||
            !_isActive(coSigner, ConsortiumRoles.DOCTOR)
        ) revert EmergencyAccessInvalidCosignature(coSigner);
    }

    /// @dev The EIP-712 domain name: {NAME}.
    function _domainName() internal pure override returns (string memory) {
        return NAME;
    }

    /// @dev A signed message past its deadline.
    function _revertSignatureExpired(uint64 deadline) internal pure override {
        revert EmergencyAccessSignatureExpired(deadline);
    }

    /// @dev A malformed signature, or one that recovers nothing.
    function _revertInvalidSignature() internal pure override {
        revert EmergencyAccessInvalidSignature();
    }

    /// @dev A caller that is neither the actor nor an active relayer.
    function _revertUnauthorizedRelay(address caller) internal pure override {
        revert EmergencyAccessUnauthorizedRelay(caller);
    }
}
