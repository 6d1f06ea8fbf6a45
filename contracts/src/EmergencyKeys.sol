// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium} from "./IConsortium.sol";

/// @dev The part of {Consortium} that names institutions' key authorities.
interface IAuthorityDirectory {
    /// @notice The institution whose authority signs with `signer` (0 when none).
    function institutionOfAuthority(address signer) external view returns (uint32);

    /// @notice `institutionId`'s authority: digest, URL, epoch, signer, floor.
    function authorityOf(
        uint32 institutionId
    )
        external
        view
        returns (bytes32 pubkeyDigest, string memory url, uint64 epoch, address signer, uint64 floor);
}

/// @dev The part of {RecordRegistry} a share release checks.
interface IRecordFacts {
    /// @notice The patient of record `id` (zero when unknown).
    function patientOf(bytes32 id) external view returns (address);

    /// @notice The stored facts of record `id` (reverts when unknown).
    function recordOf(
        bytes32 id
    )
        external
        view
        returns (
            address patient,
            uint32 authorInstitution,
            uint16 version,
            uint8 status,
            uint64 registeredAt
        );
}

/// @dev The part of {EmergencyAccess} a share release checks.
interface IOpenings {
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
        );

    /// @notice When opening `id` was mined (0 when unknown).
    function openedAtOf(bytes32 id) external view returns (uint64);
}

/**
 * @title EmergencyKeys
 * @notice The consortium emergency key, shared t-of-n among institutions' key authorities, and
 * the on-chain log of every decryption share an authority releases for a break-glass opening.
 *
 * @dev Three parts:
 * - a DKG board per round (Gennaro–Jarecki–Krawczyk–Rabin DKG, `crypto/threshold/dkg.py`):
 *   the consortium admin opens a round naming `t` and the institutions whose authorities
 *   take part (index i = position + 1); each authority posts one message of each kind
 *   ({post}: X25519 transport key, Pedersen deal with sealed shares, its complaints, its
 *   reveals, Feldman commitments, Feldman complaints, reconstruction shares; the lists may be
 *   empty) as events, so each phase ends when every authority has posted. The contract does
 *   no group arithmetic: every authority computes QUAL and the key from the events;
 * - completion: each authority confirms the public key `h` and the verification keys
 *   `h_1 … h_n` it computed ({confirmKey}); once all n confirmed the same bytes the round's
 *   key is stored and becomes the {currentRound} (clients encrypt emergency slots to it,
 *   combiners check shares against it). A round in which one authority is missing or
 *   disagrees never completes; the admin opens a new round;
 * - releases: an authority of the current round logs a release ({releaseShares}) before it
 *   returns its decryption shares, and the contract refuses it unless the opening exists, its
 *   window has not ended, the record is that opening's patient's, and the record was
 *   registered strictly before the opening's block time (so an opening reaches only the
 *   chart as it was when it was opened). Each record released is an {EmergencyShareReleased}
 *   event the patient and auditors see.
 * An authority is whoever its institution's admin registered in `Consortium`
 * ({IAuthorityDirectory}): a replaced signer takes over its institution's index.
 */
contract EmergencyKeys {
    /// @dev One DKG round: its parameters and how far it got.
    struct Round {
        uint8 t;
        uint8 n;
        uint8 confirmations;
        bool complete;
        bytes32 keyDigest;
    }

    /// @notice Most authorities in one round.
    uint8 public constant MAX_AUTHORITIES = 32;
    /// @notice Largest DKG message accepted by {post}.
    uint256 public constant MAX_MESSAGE = 8192;
    /// @notice Most records one {releaseShares} call may name.
    uint256 public constant MAX_RELEASE_BATCH = 128;
    /// @notice Byte length of one compressed BLS12-381 G1 point.
    uint256 public constant POINT_BYTES = 48;
    /// @notice Message kinds of {post}; one of each per authority and round (complaints,
    /// reveals … are lists, possibly empty, so that every phase ends when all have posted).
    uint8 public constant KIND_TRANSPORT_KEY = 1;
    uint8 public constant KIND_DEAL = 2;
    uint8 public constant KIND_FELDMAN = 3;
    uint8 public constant KIND_COMPLAINT = 4;
    uint8 public constant KIND_REVEAL = 5;
    uint8 public constant KIND_FELDMAN_COMPLAINT = 6;
    uint8 public constant KIND_RECONSTRUCTION = 7;

    /// @notice The register of institutions, members and key authorities.
    IConsortium public immutable consortium;
    /// @notice Where records are registered.
    IRecordFacts public immutable registry;
    /// @notice Where break-glass openings are.
    IOpenings public immutable openings;

    /// @notice The latest completed round (0 before the first ceremony completes).
    uint64 public currentRound;
    /// @notice The latest round opened.
    uint64 public latestRound;

    mapping(uint64 round => Round) private _rounds;
    mapping(uint64 round => uint32[]) private _institutions;
    mapping(uint64 round => mapping(uint8 index => bytes32)) private _confirmed;
    mapping(uint64 round => mapping(uint8 index => mapping(uint8 kind => bool))) private _posted;
    mapping(uint64 round => bytes) private _publicKey;
    mapping(uint64 round => bytes) private _verificationKeys;

    /// @notice The consortium admin opened DKG round `round` among these institutions'
    /// authorities (index i is `institutions[i-1]`), threshold `t`.
    event DkgRoundOpened(uint64 indexed round, uint8 t, uint32[] institutions);
    /// @notice Authority `index` posted a DKG message of `kind` (see the KIND_ constants).
    event DkgMessagePosted(
        uint64 indexed round,
        uint8 indexed index,
        uint8 indexed kind,
        bytes payload
    );
    /// @notice Authority `index` confirmed the key it computed.
    event DkgKeyConfirmed(uint64 indexed round, uint8 indexed index, bytes32 keyDigest);
    /// @notice Every authority of `round` confirmed the same key: it is the current one.
    event EmergencyKeyActivated(uint64 indexed round, bytes32 keyDigest, bytes publicKey);
    /// @notice An authority released its decryption share of record `recordId` under opening
    /// `openingId` (of `patient`).
    event EmergencyShareReleased(
        bytes32 indexed openingId,
        bytes32 indexed recordId,
        address indexed patient,
        address authority,
        uint32 institutionId,
        uint64 round,
        uint8 index
    );

    /// @notice The caller may not do this (not the consortium admin, or not an authority of
    /// the round).
    error EmergencyKeysUnauthorized(address caller);
    /// @notice The round number is not above every round opened so far.
    error EmergencyKeysStaleRound(uint64 round, uint64 latest);
    /// @notice No such round, or it is already complete.
    error EmergencyKeysRoundClosed(uint64 round);
    /// @notice Need 1 ≤ t ≤ n ≤ {MAX_AUTHORITIES}.
    error EmergencyKeysInvalidThreshold(uint8 t, uint256 n);
    /// @notice An institution is named twice or has no registered authority.
    error EmergencyKeysInvalidInstitution(uint32 institutionId);
    /// @notice Unknown kind, empty or oversized message.
    error EmergencyKeysInvalidMessage(uint8 kind, uint256 length);
    /// @notice This authority already posted its one message of this kind.
    error EmergencyKeysAlreadyPosted(uint64 round, uint8 index, uint8 kind);
    /// @notice The key's encoding has the wrong size.
    error EmergencyKeysInvalidKey();
    /// @notice No emergency key is active yet.
    error EmergencyKeysNoKey();
    /// @notice No opening has this id.
    error EmergencyKeysUnknownOpening(bytes32 openingId);
    /// @notice The opening's window has ended.
    error EmergencyKeysOpeningExpired(bytes32 openingId, uint64 expiresAt);
    /// @notice No record has this id.
    error EmergencyKeysUnknownRecord(bytes32 recordId);
    /// @notice The record is another patient's.
    error EmergencyKeysWrongPatient(bytes32 recordId, address patient);
    /// @notice The record was registered at or after the opening's time.
    error EmergencyKeysRecordAfterOpening(bytes32 recordId, uint64 registeredAt, uint64 openedAt);
    /// @notice Empty or oversized batch.
    error EmergencyKeysInvalidBatch(uint256 length);

    /**
     * @notice Binds the register, the record registry and the break-glass openings.
     * @dev Requirements: no address is zero.
     */
    constructor(IConsortium consortium_, IRecordFacts registry_, IOpenings openings_) {
        if (
            address(consortium_) == address(0) ||
            address(registry_) == address(0) ||
            address(openings_) == address(0)
        ) revert EmergencyKeysUnauthorized(address(0));
        consortium = consortium_;
        registry = registry_;
        openings = openings_;
    }

    // ------------------------------------------------------------------ DKG board

    /**
     * @notice Opens DKG round `round` among the authorities of `institutions` with threshold `t`.
     * @dev Requirements: caller is the consortium admin; `round` above every round opened;
     * 1 ≤ t ≤ n ≤ {MAX_AUTHORITIES}; each institution distinct with a registered authority.
     * Emits {DkgRoundOpened}.
     */
    function openRound(uint64 round, uint8 t, uint32[] calldata institutions) external {
        if (msg.sender != consortium.admin()) revert EmergencyKeysUnauthorized(msg.sender);
        if (round <= latestRound) revert EmergencyKeysStaleRound(round, latestRound);
        uint256 n = institutions.length;
        if (t == 0 || n < t || n > MAX_AUTHORITIES) revert EmergencyKeysInvalidThreshold(t, n);
        for (uint256 i = 0; i < n; ++i) {
            uint32 inst = institutions[i];
            if (inst == 0 || _authorityOf(inst) == address(0)) {
                revert EmergencyKeysInvalidInstitution(inst);
            }
            for (uint256 j = 0; j < i; ++j) {
                if (institutions[j] == inst) revert EmergencyKeysInvalidInstitution(inst);
            }
        }
        latestRound = round;
        _rounds[round] = Round({
            t: t,
            n: uint8(n),
            confirmations: 0,
            complete: false,
            keyDigest: bytes32(0)
        });
        _institutions[round] = institutions;
        emit DkgRoundOpened(round, t, institutions);
    }

    /**
     * @notice Posts the caller's DKG message of `kind` for `round`.
     * @dev Requirements: the round is open (not complete); the caller is the registered
     * authority of one of its institutions; `kind` is one of the KIND_ constants; the payload
     * is 1..{MAX_MESSAGE} bytes; one message of each kind per authority.
     * Emits {DkgMessagePosted}.
     */
    function post(uint64 round, uint8 kind, bytes calldata payload) external {
        uint8 index = _openIndex(round);
        uint256 length = payload.length;
        if (kind == 0 || kind > KIND_RECONSTRUCTION || length == 0 || length > MAX_MESSAGE) {
            revert EmergencyKeysInvalidMessage(kind, length);
        }
        if (_posted[round][index][kind]) revert EmergencyKeysAlreadyPosted(round, index, kind);
        _posted[round][index][kind] = true;
        emit DkgMessagePosted(round, index, kind, payload);
    }

    /**
     * @notice Confirms the key the caller computed from the board: `publicKey` (h, 48 bytes)
     * and `verificationKeys` (h_1 … h_n, 48 bytes each). Once all n authorities confirmed the
     * same bytes, the key is stored and `round` becomes {currentRound}.
     * @dev Requirements: the round is open; the caller is one of its authorities and has not
     * confirmed yet; sizes as above. Emits {DkgKeyConfirmed}, and {EmergencyKeyActivated} on
     * the last confirmation. A confirmation of other bytes than an earlier one's is recorded
     * but the round then never completes.
     */
    function confirmKey(
        uint64 round,
        bytes calldata publicKey,
        bytes calldata verificationKeys
    ) external {
        uint8 index = _openIndex(round);
        Round storage r = _rounds[round];
        if (publicKey.length != POINT_BYTES || verificationKeys.length != POINT_BYTES * r.n) {
            revert EmergencyKeysInvalidKey();
        }
        if (_confirmed[round][index] != bytes32(0)) {
            revert EmergencyKeysAlreadyPosted(round, index, 0);
        }
        bytes32 digest = keccak256(abi.encodePacked(publicKey, verificationKeys));
        _confirmed[round][index] = digest;
        emit DkgKeyConfirmed(round, index, digest);
        if (r.confirmations == 0) {
            r.keyDigest = digest;
        } else if (r.keyDigest != digest) {
            r.keyDigest = bytes32(uint256(1)); // disagreement: the round cannot complete
        }
        r.confirmations += 1;
        if (r.confirmations == r.n && r.keyDigest == digest) {
            r.complete = true;
            _publicKey[round] = publicKey;
            _verificationKeys[round] = verificationKeys;
            if (round > currentRound) currentRound = round;
            emit EmergencyKeyActivated(round, digest, publicKey);
        }
    }

    // ------------------------------------------------------------------ share releases

    /**
     * @notice Logs that the caller releases its decryption shares of `recordIds` under
     * opening `openingId`.
     * @dev Requirements: an emergency key is active and the caller is the registered
     * authority of one of its institutions; 1..{MAX_RELEASE_BATCH} records; for each record
     * {checkRelease} passes. Emits one {EmergencyShareReleased} per record.
     */
    function releaseShares(bytes32 openingId, bytes32[] calldata recordIds) external {
        uint64 round = currentRound;
        if (round == 0) revert EmergencyKeysNoKey();
        (uint8 index, uint32 inst) = _indexOf(round, msg.sender);
        if (index == 0) revert EmergencyKeysUnauthorized(msg.sender);
        uint256 count = recordIds.length;
        if (count == 0 || count > MAX_RELEASE_BATCH) revert EmergencyKeysInvalidBatch(count);
        (address patient, uint64 openedAt) = _liveOpening(openingId);
        for (uint256 k = 0; k < count; ++k) {
            bytes32 recordId = recordIds[k];
            _checkRecord(recordId, patient, openedAt);
            emit EmergencyShareReleased(
                openingId,
                recordId,
                patient,
                msg.sender,
                inst,
                round,
                index
            );
        }
    }

    /**
     * @notice Reverts with the reason an authority must refuse to release a share of one of
     * `recordIds` under `openingId` now (naming the first such record); returns the opening's
     * patient otherwise.
     * @dev The same checks as {releaseShares} minus the caller's: authorities call it before
     * they compute anything.
     */
    function checkRelease(
        bytes32 openingId,
        bytes32[] calldata recordIds
    ) external view returns (address patient) {
        uint64 openedAt;
        (patient, openedAt) = _liveOpening(openingId);
        uint256 count = recordIds.length;
        for (uint256 k = 0; k < count; ++k) {
            _checkRecord(recordIds[k], patient, openedAt);
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice Round `round`'s threshold, size, confirmations so far, completion and the
    /// digest the confirmations agree on (1 after a disagreement).
    function roundOf(
        uint64 round
    )
        external
        view
        returns (uint8 t, uint8 n, uint8 confirmations, bool complete, bytes32 keyDigest)
    {
        Round memory r = _rounds[round];
        return (r.t, r.n, r.confirmations, r.complete, r.keyDigest);
    }

    /// @notice The institutions of round `round`, in index order (index i is element i-1).
    function institutionsOf(uint64 round) external view returns (uint32[] memory) {
        return _institutions[round];
    }

    /// @notice `account`'s index in round `round` and its institution (0, 0 when none).
    function indexOf(uint64 round, address account) external view returns (uint8, uint32) {
        return _indexOf(round, account);
    }

    /// @notice The key of completed round `round`: h and h_1 … h_n (empty when incomplete).
    function keyOf(
        uint64 round
    ) external view returns (uint8 t, bytes memory publicKey, bytes memory verificationKeys) {
        return (_rounds[round].t, _publicKey[round], _verificationKeys[round]);
    }

    // ------------------------------------------------------------------ internals

    /// @dev The registered authority signer of `institutionId` (zero when none).
    function _authorityOf(uint32 institutionId) private view returns (address signer) {
        (, , , signer, ) = IAuthorityDirectory(address(consortium)).authorityOf(institutionId);
    }

    /// @dev The caller's index in open round `round`; reverts when closed or not an authority.
    function _openIndex(uint64 round) private view returns (uint8 index) {
        Round memory r = _rounds[round];
        if (r.n == 0 || r.complete) revert EmergencyKeysRoundClosed(round);
        (index, ) = _indexOf(round, msg.sender);
        if (index == 0) revert EmergencyKeysUnauthorized(msg.sender);
    }

    /// @dev (index, institution) of `account` in `round`: its institution's registered
    /// authority signer must be `account` now.
    function _indexOf(uint64 round, address account) private view returns (uint8, uint32) {
        uint32 inst = IAuthorityDirectory(address(consortium)).institutionOfAuthority(account);
        if (inst == 0) return (0, 0);
        uint32[] storage list = _institutions[round];
        uint256 n = list.length;
        for (uint256 i = 0; i < n; ++i) {
            if (list[i] == inst) return (uint8(i + 1), inst);
        }
        return (0, 0);
    }

    /// @dev The patient and mining time of an existing opening whose window is still open.
    function _liveOpening(
        bytes32 openingId
    ) private view returns (address patient, uint64 openedAt) {
        address clinician;
        uint64 expiresAt;
        (clinician, patient, expiresAt, , ) = openings.openingOf(openingId);
        if (clinician == address(0)) revert EmergencyKeysUnknownOpening(openingId);
        if (block.timestamp >= expiresAt) revert EmergencyKeysOpeningExpired(openingId, expiresAt);
        openedAt = openings.openedAtOf(openingId);
    }

    /// @dev Reverts unless `recordId` is `patient`'s and was registered before `openedAt`.
    function _checkRecord(bytes32 recordId, address patient, uint64 openedAt) private view {
        address owner = registry.patientOf(recordId);
        if (owner == address(0)) revert EmergencyKeysUnknownRecord(recordId);
        if (owner != patient) revert EmergencyKeysWrongPatient(recordId, owner);
        (, , , , uint64 registeredAt) = registry.recordOf(recordId);
        if (registeredAt >= openedAt) {
            revert EmergencyKeysRecordAfterOpening(recordId, registeredAt, openedAt);
        }
    }
}

