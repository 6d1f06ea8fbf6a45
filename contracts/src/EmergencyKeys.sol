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
 *   the consortium admin opens a round naming `t`, the institutions whose authorities
 *   take part (index i = position + 1), the least size `quorum` of QUAL and a phase length;
 *   each authority posts one message of each kind ({post}: X25519 transport key, Pedersen
 *   deal with sealed shares, its complaints, its reveals, Feldman commitments, Feldman
 *   complaints, reconstruction shares; the lists may be empty) as events. The contract does
 *   no group arithmetic: every authority computes QUAL and the key from the events;
 * - phases and deadlines (so that an absent authority cannot stall the round): the seven
 *   kinds are posted in seven phases, in the order transport keys, deals, complaints,
 *   reveals, Feldman commitments, Feldman complaints, reconstruction. Phase p (0-based)
 *   accepts messages only after phase p − 1 closed, and closes when everyone expected in it
 *   has posted or at the block time `openedAt + (p + 1) · phaseSeconds`, whichever comes
 *   first. Expected: all n in phase 0; those who posted a transport key in phase 1; those who
 *   dealt (the dealers) in every later phase, and only dealers may post in them. The clock
 *   and the board alone decide: no party, the admin included, closes a phase or names QUAL.
 *   A message after its phase closed (a late deal …) is refused ({EmergencyKeysWrongPhase}).
 *   An authority that posted no deal in time is excluded: it is not a dealer and can never
 *   be in QUAL;
 * - completion: each qualified authority confirms the QUAL it computed from the board (a bit
 *   mask of indices, a subset of the dealers), the public key `h` and the verification keys
 *   `h_1 … h_n` ({confirmKey}). The key of a QUAL becomes the {currentRound} once every
 *   member of that QUAL confirmed the same bytes, provided |QUAL| ≥ `quorum`; `quorum` is at
 *   least min(n, 2t − 1) (so with at most t − 1 corrupt authorities, t honest holders of
 *   shares remain) and at most n. Disqualification by complaints needs group arithmetic, so
 *   the contract does not recompute QUAL; it needs no trust either: at most t − 1 authorities
 *   are corrupt and |QUAL| ≥ t, so every QUAL that can complete has an honest member, who
 *   confirms only the QUAL the board gives. A round whose dealers are fewer than `quorum`
 *   has failed ({boardOf}); the admin opens a new one;
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
        uint8 quorum;
        uint8 confirmations;
        bool complete;
        uint32 phaseSeconds;
        uint64 openedAt;
        uint32 transported;
        uint32 dealt;
        uint32 qualified;
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
    /// @notice Number of board phases (one per kind).
    uint8 public constant PHASES = 7;
    /// @notice Shortest and longest phase a round may have.
    uint32 public constant MIN_PHASE_SECONDS = 30;
    uint32 public constant MAX_PHASE_SECONDS = 7 days;

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
    mapping(uint64 round => mapping(uint8 phase => uint8)) private _count;
    mapping(uint64 round => bytes) private _publicKey;
    mapping(uint64 round => bytes) private _verificationKeys;

    /// @notice The consortium admin opened DKG round `round` among these institutions'
    /// authorities (index i is `institutions[i-1]`), threshold `t`, least |QUAL| `quorum`,
    /// phase p closing at the latest at `openedAt + (p + 1) * phaseSeconds`.
    event DkgRoundOpened(
        uint64 indexed round,
        uint8 t,
        uint32[] institutions,
        uint8 quorum,
        uint32 phaseSeconds,
        uint64 openedAt
    );
    /// @notice Authority `index` posted a DKG message of `kind` (see the KIND_ constants).
    event DkgMessagePosted(
        uint64 indexed round,
        uint8 indexed index,
        uint8 indexed kind,
        bytes payload
    );
    /// @notice Authority `index` confirmed the key and QUAL it computed.
    event DkgKeyConfirmed(uint64 indexed round, uint8 indexed index, bytes32 keyDigest);
    /// @notice Every member of QUAL (`qualified`, bit i − 1 for index i) confirmed the same
    /// key: it is the current one.
    event EmergencyKeyActivated(
        uint64 indexed round,
        bytes32 keyDigest,
        bytes publicKey,
        uint32 qualified
    );
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
    /// @notice The quorum is outside min(n, 2t − 1) … n.
    error EmergencyKeysInvalidQuorum(uint8 quorum, uint8 least, uint256 n);
    /// @notice The phase length is outside {MIN_PHASE_SECONDS} … {MAX_PHASE_SECONDS}.
    error EmergencyKeysInvalidPhase(uint32 phaseSeconds);
    /// @notice A message of `kind` is not accepted in the board's current `phase` (its phase
    /// has closed, or has not opened yet).
    error EmergencyKeysWrongPhase(uint64 round, uint8 kind, uint8 phase);
    /// @notice The caller is excluded: it posted no transport key or no deal in time, or is
    /// not in the QUAL it confirms (or, for releases, in the current key's QUAL).
    error EmergencyKeysNotQualified(uint64 round, uint8 index);
    /// @notice The QUAL confirmed is not a subset of the dealers or is smaller than the quorum
    /// (also: a message after dealing closed with fewer dealers than the quorum, `qualified`
    /// being then the dealers).
    error EmergencyKeysInvalidQual(uint32 qualified, uint32 dealt, uint8 quorum);
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
     * @notice Opens DKG round `round` among the authorities of `institutions` with threshold
     * `t`; the key completes only with a QUAL of at least `quorum` authorities; each board
     * phase lasts at most `phaseSeconds` (see the contract's notes).
     * @dev Requirements: caller is the consortium admin; `round` above every round opened;
     * 1 ≤ t ≤ n ≤ {MAX_AUTHORITIES}; min(n, 2t − 1) ≤ quorum ≤ n;
     * {MIN_PHASE_SECONDS} ≤ phaseSeconds ≤ {MAX_PHASE_SECONDS}; each institution distinct
     * with a registered authority. Emits {DkgRoundOpened}.
     */
    function openRound(
        uint64 round,
        uint8 t,
        uint32[] calldata institutions,
        uint8 quorum,
        uint32 phaseSeconds
    ) external {
        if (msg.sender != consortium.admin()) revert EmergencyKeysUnauthorized(msg.sender);
        if (round <= latestRound) revert EmergencyKeysStaleRound(round, latestRound);
        uint256 n = institutions.length;
        if (t == 0 || n < t || n > MAX_AUTHORITIES) revert EmergencyKeysInvalidThreshold(t, n);
        uint256 least = 2 * uint256(t) - 1;
        if (least > n) least = n;
        if (quorum < least || quorum > n) {
            revert EmergencyKeysInvalidQuorum(quorum, uint8(least), n);
        }
        if (phaseSeconds < MIN_PHASE_SECONDS || phaseSeconds > MAX_PHASE_SECONDS) {
            revert EmergencyKeysInvalidPhase(phaseSeconds);
        }
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
            quorum: quorum,
            confirmations: 0,
            complete: false,
            phaseSeconds: phaseSeconds,
            openedAt: uint64(block.timestamp),
            transported: 0,
            dealt: 0,
            qualified: 0,
            keyDigest: bytes32(0)
        });
        _institutions[round] = institutions;
        emit DkgRoundOpened(round, t, institutions, quorum, phaseSeconds, uint64(block.timestamp));
    }

    /**
     * @notice Posts the caller's DKG message of `kind` for `round`.
     * @dev Requirements: the round is open (not complete); the caller is the registered
     * authority of one of its institutions; `kind` is one of the KIND_ constants; the payload
     * is 1..{MAX_MESSAGE} bytes; one message of each kind per authority; the board is in the
     * kind's phase ({EmergencyKeysWrongPhase}); a deal only from an authority that posted a
     * transport key, later kinds only from a dealer ({EmergencyKeysNotQualified}), and none
     * once the dealers are fewer than the quorum ({EmergencyKeysInvalidQual}).
     * Emits {DkgMessagePosted}.
     */
    function post(uint64 round, uint8 kind, bytes calldata payload) external {
        uint8 index = _openIndex(round);
        uint256 length = payload.length;
        if (kind == 0 || kind > KIND_RECONSTRUCTION || length == 0 || length > MAX_MESSAGE) {
            revert EmergencyKeysInvalidMessage(kind, length);
        }
        if (_posted[round][index][kind]) revert EmergencyKeysAlreadyPosted(round, index, kind);
        Round storage r = _rounds[round];
        uint8 phase = _phaseOfKind(kind);
        uint8 current = _currentPhase(round, r);
        if (phase != current) revert EmergencyKeysWrongPhase(round, kind, current);
        uint32 bit = uint32(1) << (index - 1);
        if (phase == 0) {
            r.transported |= bit;
        } else if (phase == 1) {
            if (r.transported & bit == 0) revert EmergencyKeysNotQualified(round, index);
            r.dealt |= bit;
        } else {
            if (r.dealt & bit == 0) revert EmergencyKeysNotQualified(round, index);
            if (_popcount(r.dealt) < r.quorum) {
                revert EmergencyKeysInvalidQual(r.dealt, r.dealt, r.quorum);
            }
        }
        _posted[round][index][kind] = true;
        _count[round][phase] += 1;
        emit DkgMessagePosted(round, index, kind, payload);
    }

    /**
     * @notice Confirms what the caller computed from the board: QUAL (`qualified`, bit i − 1
     * for index i), `publicKey` (h, 48 bytes) and `verificationKeys` (h_1 … h_n, 48 bytes
     * each; an excluded index's h_i is still defined, but no one holds its share). Once every
     * member of `qualified` confirmed the same bytes, the key is stored and `round` becomes
     * {currentRound}.
     * @dev Requirements: the round is open; the dealing phase has closed; the caller is one
     * of its authorities, in `qualified`, and has not confirmed yet; `qualified` is a subset
     * of the dealers with at least `quorum` members; sizes as above. Emits {DkgKeyConfirmed},
     * and {EmergencyKeyActivated} on the confirmation that completes the QUAL. Members of QUAL
     * confirming different bytes leave the round incomplete (the admin opens a new one).
     * The activation check loops over at most n ≤ {MAX_AUTHORITIES} indices.
     */
    function confirmKey(
        uint64 round,
        bytes calldata publicKey,
        bytes calldata verificationKeys,
        uint32 qualified
    ) external {
        uint8 index = _openIndex(round);
        Round storage r = _rounds[round];
        if (publicKey.length != POINT_BYTES || verificationKeys.length != POINT_BYTES * r.n) {
            revert EmergencyKeysInvalidKey();
        }
        uint8 current = _currentPhase(round, r);
        if (current < 2) revert EmergencyKeysWrongPhase(round, 0, current);
        uint32 bit = uint32(1) << (index - 1);
        if (r.dealt & bit == 0 || qualified & bit == 0) {
            revert EmergencyKeysNotQualified(round, index);
        }
        if (qualified & ~r.dealt != 0 || _popcount(qualified) < r.quorum) {
            revert EmergencyKeysInvalidQual(qualified, r.dealt, r.quorum);
        }
        if (_confirmed[round][index] != bytes32(0)) {
            revert EmergencyKeysAlreadyPosted(round, index, 0);
        }
        bytes32 digest = keccak256(abi.encodePacked(publicKey, verificationKeys, qualified));
        _confirmed[round][index] = digest;
        r.confirmations += 1;
        emit DkgKeyConfirmed(round, index, digest);
        uint8 n = r.n;
        for (uint8 i = 1; i <= n; ++i) {
            if (qualified & (uint32(1) << (i - 1)) != 0 && _confirmed[round][i] != digest) {
                return;
            }
        }
        r.complete = true;
        r.keyDigest = digest;
        r.qualified = qualified;
        _publicKey[round] = publicKey;
        _verificationKeys[round] = verificationKeys;
        if (round > currentRound) currentRound = round;
        emit EmergencyKeyActivated(round, digest, publicKey, qualified);
    }

    // ------------------------------------------------------------------ share releases

    /**
     * @notice Logs that the caller releases its decryption shares of `recordIds` under
     * opening `openingId`.
     * @dev Requirements: an emergency key is active and the caller is the registered
     * authority of one of its QUAL's institutions ({EmergencyKeysNotQualified} for an
     * excluded one); 1..{MAX_RELEASE_BATCH} records; for each record
     * {checkRelease} passes. Emits one {EmergencyShareReleased} per record.
     */
    function releaseShares(bytes32 openingId, bytes32[] calldata recordIds) external {
        uint64 round = currentRound;
        if (round == 0) revert EmergencyKeysNoKey();
        (uint8 index, uint32 inst) = _indexOf(round, msg.sender);
        if (index == 0) revert EmergencyKeysUnauthorized(msg.sender);
        if (_rounds[round].qualified & (uint32(1) << (index - 1)) == 0) {
            revert EmergencyKeysNotQualified(round, index);
        }
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
    /// activated key's digest, keccak256(h ‖ h_1 … h_n ‖ QUAL) (0 before activation).
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

    /// @notice Round `round`'s schedule: least |QUAL|, when it opened, phase length.
    function scheduleOf(
        uint64 round
    ) external view returns (uint8 quorum, uint64 openedAt, uint32 phaseSeconds) {
        Round memory r = _rounds[round];
        return (r.quorum, r.openedAt, r.phaseSeconds);
    }

    /// @notice Where round `round`'s board stands now: the open phase (0 … 6; {PHASES} once
    /// every phase closed), when it closes at the latest, who posted a transport key, who
    /// dealt, the QUAL of the activated key (bit i − 1 for index i; 0 before), and whether the
    /// round failed (dealing closed with fewer dealers than the quorum).
    function boardOf(
        uint64 round
    )
        external
        view
        returns (
            uint8 phase,
            uint64 deadline,
            uint32 transported,
            uint32 dealt,
            uint32 qualified,
            bool failed
        )
    {
        Round storage r = _rounds[round];
        if (r.n == 0) return (0, 0, 0, 0, 0, false);
        phase = _currentPhase(round, r);
        deadline = phase < PHASES ? _deadline(r, phase) : 0;
        failed = phase >= 2 && _popcount(r.dealt) < r.quorum;
        return (phase, deadline, r.transported, r.dealt, r.qualified, failed);
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

    /// @dev The board phase of message `kind` (transport, deal, complaints, reveals, Feldman,
    /// Feldman complaints, reconstruction).
    function _phaseOfKind(uint8 kind) private pure returns (uint8) {
        if (kind == KIND_FELDMAN) return 4;
        if (kind == KIND_COMPLAINT) return 2;
        if (kind == KIND_REVEAL) return 3;
        return kind - 1; // transport 0, deal 1, Feldman complaint 5, reconstruction 6
    }

    /// @dev The first phase of `round` not closed yet ({PHASES} when all are): a phase
    /// closes at its deadline or once all expected have posted (at most {PHASES} steps).
    function _currentPhase(uint64 round, Round storage r) private view returns (uint8 p) {
        uint8 transported = _popcount(r.transported);
        uint8 dealt = _popcount(r.dealt);
        for (p = 0; p < PHASES; ++p) {
            uint8 expected = p == 0 ? r.n : (p == 1 ? transported : dealt);
            if (block.timestamp < _deadline(r, p) && _count[round][p] < expected) return p;
        }
    }

    /// @dev When phase `p` closes at the latest.
    function _deadline(Round storage r, uint8 p) private view returns (uint64) {
        return r.openedAt + uint64(p + 1) * r.phaseSeconds;
    }

    /// @dev Number of set bits of a QUAL-style mask.
    function _popcount(uint32 mask) private pure returns (uint8 count) {
        while (mask != 0) {
            mask &= mask - 1;
            ++count;
        }
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

