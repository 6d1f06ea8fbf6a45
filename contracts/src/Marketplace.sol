// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium} from "./IConsortium.sol";
import {MarketplaceBase} from "./MarketplaceBase.sol";
import {MarketplaceConnections} from "./MarketplaceConnections.sol";

/**
 * @title Marketplace
 * @notice The consortium's cloud medical app marketplace (云医疗应用超市): enrolled vendors
 * submit app versions, the three administrator roles review them, institutions install the
 * listed apps and rate them.
 *
 * @dev A version's life: InReview → Live (once all three administrator roles approved) or
 * Rejected (as soon as one rejects, with a reason); Live → Suspended (by any administrator
 * role or the consortium admin, with a reason) → Live again (reinstated by the same); Live or
 * Suspended → Retired when a newer version of the app goes Live, or when the vendor retires
 * it (the vendor may also withdraw a version still InReview). An app has at most one listed
 * (Live or Suspended) version, {appOf}'s `current`.
 *
 * The manifest (name, type, description, vendor, version string, date, SMART version, client
 * type, redirect and launch URLs, scopes with a justification each, package digest) stays off
 * chain at `manifestUri`; its digest is stored, so anyone can check the document a listing
 * was approved for. `version` is a number that grows with every submission of the app.
 *
 * Institutions act through their admin ({IConsortium-institution}): install and uninstall
 * (what lets an app be launched for their members, {isLaunchable}), and rate a listed version
 * once, 1 to 5, while they have the app installed.
 *
 * Signed types (domain "MedLedger Marketplace", `crypto/signing/marketplace.py`), each with a
 * single-use nonce and a deadline (see {MarketplaceBase}):
 * `AppSubmission(bytes32 appId,uint32 version,bytes32 manifestDigest,string manifestUri,uint256 nonce,uint64 deadline)`,
 * `AppVote(bytes32 appId,uint32 version,bool approve,string reason,uint256 nonce,uint64 deadline)`,
 * `AppStatusChange(bytes32 appId,uint32 version,uint8 action,string reason,uint256 nonce,uint64 deadline)`,
 * `AppInstallation(uint32 institutionId,bytes32 appId,bool install,uint256 nonce,uint64 deadline)`,
 * `AppRating(uint32 institutionId,bytes32 appId,uint32 version,uint8 score,uint256 nonce,uint64 deadline)`.
 * Users' authorisations of apps and patients' revocations: {MarketplaceConnections}.
 */
contract Marketplace is MarketplaceConnections {
    /// @notice A version's review state.
    enum Status {
        None,
        InReview,
        Live,
        Rejected,
        Suspended,
        Retired
    }

    /// @notice A submission, field for field the signed `AppSubmission`.
    struct AppSubmission {
        bytes32 appId;
        uint32 version;
        bytes32 manifestDigest;
        string manifestUri;
        uint256 nonce;
        uint64 deadline;
    }

    /// @notice An administrator's vote, field for field the signed `AppVote`.
    struct AppVote {
        bytes32 appId;
        uint32 version;
        bool approve;
        string reason;
        uint256 nonce;
        uint64 deadline;
    }

    /// @notice Suspend, reinstate or retire, field for field the signed `AppStatusChange`.
    struct AppStatusChange {
        bytes32 appId;
        uint32 version;
        uint8 action;
        string reason;
        uint256 nonce;
        uint64 deadline;
    }

    /// @notice An install or uninstall, field for field the signed `AppInstallation`.
    struct AppInstallation {
        uint32 institutionId;
        bytes32 appId;
        bool install;
        uint256 nonce;
        uint64 deadline;
    }

    /// @notice A rating, field for field the signed `AppRating`.
    struct AppRating {
        uint32 institutionId;
        bytes32 appId;
        uint32 version;
        uint8 score;
        uint256 nonce;
        uint64 deadline;
    }

    /// @dev One app: its vendor, newest submitted version, listed version (0: none).
    struct App {
        address vendor;
        uint32 latest;
        uint32 current;
    }

    /// @dev One version: state, votes (bit per role), approvals, time, ratings; digest; URI.
    struct Version {
        Status status;
        uint8 voted;
        uint8 approvals;
        uint40 submittedAt;
        uint32 ratingCount;
        uint32 ratingSum;
        bytes32 manifestDigest;
        string manifestUri;
    }

    /// @notice `AppStatusChange.action`: suspend (an administrator or the consortium admin).
    uint8 public constant SUSPEND = 1;
    /// @notice `AppStatusChange.action`: reinstate (an administrator or the consortium admin).
    uint8 public constant REINSTATE = 2;
    /// @notice `AppStatusChange.action`: retire (the app's vendor).
    uint8 public constant RETIRE = 3;

    /// @notice keccak256 of the `AppSubmission` type string.
    bytes32 public constant APP_SUBMISSION_TYPEHASH =
        keccak256(
            "AppSubmission(bytes32 appId,uint32 version,bytes32 manifestDigest,"
            "string manifestUri,uint256 nonce,uint64 deadline)"
        );
    /// @notice keccak256 of the `AppVote` type string.
    bytes32 public constant APP_VOTE_TYPEHASH =
        keccak256(
            "AppVote(bytes32 appId,uint32 version,bool approve,string reason,"
            "uint256 nonce,uint64 deadline)"
        );
    /// @notice keccak256 of the `AppStatusChange` type string.
    bytes32 public constant APP_STATUS_CHANGE_TYPEHASH =
        keccak256(
            "AppStatusChange(bytes32 appId,uint32 version,uint8 action,string reason,"
            "uint256 nonce,uint64 deadline)"
        );
    /// @notice keccak256 of the `AppInstallation` type string.
    bytes32 public constant APP_INSTALLATION_TYPEHASH =
        keccak256(
            "AppInstallation(uint32 institutionId,bytes32 appId,bool install,"
            "uint256 nonce,uint64 deadline)"
        );
    /// @notice keccak256 of the `AppRating` type string.
    bytes32 public constant APP_RATING_TYPEHASH =
        keccak256(
            "AppRating(uint32 institutionId,bytes32 appId,uint32 version,uint8 score,"
            "uint256 nonce,uint64 deadline)"
        );

    mapping(bytes32 appId => App) private _apps;
    mapping(bytes32 appId => mapping(uint32 version => Version)) private _versions;
    mapping(uint32 institutionId => mapping(bytes32 appId => uint32 version)) private _installed;
    mapping(bytes32 appId => mapping(uint32 version => mapping(uint32 institutionId => uint8)))
        private _ratings;

    /// @notice A vendor submitted a version for review.
    event AppSubmitted(
        bytes32 indexed appId,
        uint32 indexed version,
        address indexed vendor,
        bytes32 manifestDigest,
        string manifestUri
    );
    /// @notice An administrator role voted on a version.
    event VoteCast(
        bytes32 indexed appId,
        uint32 indexed version,
        uint8 indexed role,
        address voter,
        bool approve,
        string reason
    );
    /// @notice All three roles approved: the version is Live.
    event AppListed(bytes32 indexed appId, uint32 indexed version);
    /// @notice An administrator role rejected the version.
    event AppRejected(bytes32 indexed appId, uint32 indexed version, uint8 role, string reason);
    /// @notice The listed version was suspended.
    event AppSuspended(
        bytes32 indexed appId,
        uint32 indexed version,
        address indexed actor,
        string reason
    );
    /// @notice The suspended version is Live again.
    event AppReinstated(bytes32 indexed appId, uint32 indexed version, address indexed actor);
    /// @notice The version was retired, by its vendor or because `supersededBy` went Live
    /// (then `supersededBy` is non-zero).
    event AppRetired(
        bytes32 indexed appId,
        uint32 indexed version,
        address indexed actor,
        uint32 supersededBy
    );
    /// @notice An institution installed the app (its Live version was `version`).
    event AppInstalled(
        uint32 indexed institutionId,
        bytes32 indexed appId,
        uint32 version,
        address actor
    );
    /// @notice An institution uninstalled the app.
    event AppUninstalled(uint32 indexed institutionId, bytes32 indexed appId, address actor);
    /// @notice An institution rated a version.
    event AppRated(
        bytes32 indexed appId,
        uint32 indexed version,
        uint32 indexed institutionId,
        uint8 score,
        address actor
    );

    /**
     * @notice Binds the marketplace to the consortium register.
     * @dev Requirements: `consortium_` is not the zero address.
     */
    constructor(IConsortium consortium_) MarketplaceBase(consortium_) {}

    /**
     * @notice Submits version `m.version` of app `m.appId` for review.
     * @dev Requirements: `block.timestamp ≤ m.deadline`; a valid signature of `m` by the
     * actor (or none when the actor sends the call), carried by the actor or an enrolled
     * relayer; nonce unused; the actor an enrolled vendor, and the app's vendor when the app
     * exists (the first submission claims the id); non-zero app id and digest, a non-empty
     * URI; the version above every earlier one of the app. Emits {AppSubmitted}.
     */
    function submitApp(AppSubmission calldata m, bytes calldata signature) external {
        address actor = _signed(hashAppSubmission(m), m.nonce, m.deadline, signature);
        _checkVendor(actor);
        bytes32 appId = m.appId;
        if (appId == bytes32(0) || m.manifestDigest == bytes32(0)) {
            revert MarketplaceInvalidSubmission();
        }
        if (bytes(m.manifestUri).length == 0) revert MarketplaceInvalidSubmission();
        App storage app = _apps[appId];
        if (app.vendor == address(0)) app.vendor = actor;
        else if (app.vendor != actor) revert MarketplaceNotAppVendor(appId, actor);
        if (m.version <= app.latest) {
            revert MarketplaceVersionNotNewer(appId, m.version, app.latest);
        }
        app.latest = m.version;
        Version storage v = _versions[appId][m.version];
        v.status = Status.InReview;
        v.submittedAt = uint40(block.timestamp);
        v.manifestDigest = m.manifestDigest;
        v.manifestUri = m.manifestUri;
        emit AppSubmitted(appId, m.version, actor, m.manifestDigest, m.manifestUri);
    }

    /**
     * @notice One administrator role's vote on a version in review.
     * @dev Requirements: signature, nonce and deadline as {submitApp}; the actor holds an
     * administrator role that has not voted on this version; the version is InReview; a
     * rejection gives a reason. A rejection makes it Rejected at once; the third approval
     * makes it Live (and retires the app's listed version), unless a newer version is already
     * listed. Emits {VoteCast}, then {AppRejected}, or {AppListed} (and {AppRetired}).
     */
    function vote(AppVote calldata m, bytes calldata signature) external {
        address actor = _signed(hashAppVote(m), m.nonce, m.deadline, signature);
        uint8 role = _roleOf(actor);
        if (role == 0) revert MarketplaceUnauthorized(actor);
        bytes32 appId = m.appId;
        uint32 version = m.version;
        Version storage v = _existing(appId, version);
        _expect(appId, version, v.status, Status.InReview);
        uint8 bit = uint8(1 << role);
        if (v.voted & bit != 0) revert MarketplaceAlreadyVoted(appId, version, role);
        if (!m.approve && bytes(m.reason).length == 0) revert MarketplaceMissingReason();
        v.voted |= bit;
        emit VoteCast(appId, version, role, actor, m.approve, m.reason);
        if (!m.approve) {
            v.status = Status.Rejected;
            emit AppRejected(appId, version, role, m.reason);
            return;
        }
        v.approvals |= bit;
        if (v.approvals == _ALL_ROLES) _list(appId, version, v, actor);
    }

    /**
     * @notice Suspends or reinstates the listed version, or retires a version.
     * @dev Requirements: signature, nonce and deadline as {submitApp}; the version exists;
     * then, by `m.action`:
     * - suspend (a reason): an administrator role or the consortium admin, from Live;
     *   emits {AppSuspended};
     * - reinstate: the same actors, from Suspended; emits {AppReinstated};
     * - retire: the app's vendor, still enrolled, from InReview, Live or Suspended; emits
     *   {AppRetired}.
     */
    function changeStatus(AppStatusChange calldata m, bytes calldata signature) external {
        address actor = _signed(hashAppStatusChange(m), m.nonce, m.deadline, signature);
        bytes32 appId = m.appId;
        uint32 version = m.version;
        Version storage v = _existing(appId, version);
        uint8 action = m.action;
        if (action == SUSPEND || action == REINSTATE) {
            if (_roleOf(actor) == 0 && actor != consortium.admin()) {
                revert MarketplaceUnauthorized(actor);
            }
            if (action == SUSPEND) {
                _expect(appId, version, v.status, Status.Live);
                if (bytes(m.reason).length == 0) revert MarketplaceMissingReason();
                v.status = Status.Suspended;
                emit AppSuspended(appId, version, actor, m.reason);
            } else {
                _expect(appId, version, v.status, Status.Suspended);
                v.status = Status.Live;
                emit AppReinstated(appId, version, actor);
            }
        } else if (action == RETIRE) {
            _checkVendor(actor);
            App storage app = _apps[appId];
            if (app.vendor != actor) revert MarketplaceNotAppVendor(appId, actor);
            Status status = v.status;
            if (status != Status.InReview && status != Status.Live && status != Status.Suspended) {
                revert MarketplaceInvalidTransition(appId, version, uint8(status));
            }
            v.status = Status.Retired;
            if (app.current == version) app.current = 0;
            emit AppRetired(appId, version, actor, 0);
        } else {
            revert MarketplaceInvalidAction(action);
        }
    }

    /**
     * @notice Installs or uninstalls app `m.appId` at institution `m.institutionId`.
     * @dev Requirements: signature, nonce and deadline as {submitApp}; the institution exists
     * and is active and the actor is its admin; install: the app has a Live version and is
     * not installed there; uninstall: it is installed. Emits {AppInstalled} or
     * {AppUninstalled}.
     */
    function setInstallation(AppInstallation calldata m, bytes calldata signature) external {
        address actor = _signed(hashAppInstallation(m), m.nonce, m.deadline, signature);
        uint32 inst = m.institutionId;
        _checkInstitutionAdmin(inst, actor);
        bytes32 appId = m.appId;
        uint32 installed = _installed[inst][appId];
        if (m.install) {
            if (installed != 0) revert MarketplaceAlreadyInstalled(inst, appId);
            uint32 live = liveVersionOf(appId);
            if (live == 0) revert MarketplaceNotLive(appId);
            _installed[inst][appId] = live;
            emit AppInstalled(inst, appId, live, actor);
        } else {
            if (installed == 0) revert MarketplaceNotInstalled(inst, appId);
            delete _installed[inst][appId];
            emit AppUninstalled(inst, appId, actor);
        }
    }

    /**
     * @notice Institution `m.institutionId` rates version `m.version` of app `m.appId`.
     * @dev Requirements: signature, nonce and deadline as {submitApp}; the institution exists
     * and is active and the actor is its admin; the institution has the app installed; the
     * version was listed (Live, Suspended or Retired after listing); score 1 to 5; no earlier
     * rating of this version by this institution. Emits {AppRated}.
     */
    function rate(AppRating calldata m, bytes calldata signature) external {
        address actor = _signed(hashAppRating(m), m.nonce, m.deadline, signature);
        uint32 inst = m.institutionId;
        _checkInstitutionAdmin(inst, actor);
        bytes32 appId = m.appId;
        uint32 version = m.version;
        if (_installed[inst][appId] == 0) revert MarketplaceNotInstalled(inst, appId);
        if (m.score < 1 || m.score > 5) revert MarketplaceInvalidScore(m.score);
        Version storage v = _existing(appId, version);
        if (v.approvals != _ALL_ROLES) revert MarketplaceNotListed(appId, version);
        if (_ratings[appId][version][inst] != 0) {
            revert MarketplaceAlreadyRated(appId, version, inst);
        }
        _ratings[appId][version][inst] = m.score;
        v.ratingCount += 1;
        v.ratingSum += m.score;
        emit AppRated(appId, version, inst, m.score, actor);
    }

    // ------------------------------------------------------------------ views

    /**
     * @notice An app's vendor, newest submitted version, and listed version (Live or
     * Suspended; 0 when none) with its status.
     * @dev Requirements: the app exists.
     */
    function appOf(
        bytes32 appId
    ) external view returns (address vendor, uint32 latest, uint32 current, uint8 status) {
        App storage app = _apps[appId];
        if (app.vendor == address(0)) revert MarketplaceUnknownVersion(appId, 0);
        current = app.current;
        status = current == 0 ? 0 : uint8(_versions[appId][current].status);
        return (app.vendor, app.latest, current, status);
    }

    /**
     * @notice One version: state, the roles that voted and approved (bit 1 platform provider,
     * bit 2 regulator, bit 3 consortium authority), when it was submitted, its manifest, and
     * its ratings (count and sum).
     * @dev Requirements: the version exists.
     */
    function versionOf(
        bytes32 appId,
        uint32 version
    )
        external
        view
        returns (
            uint8 status,
            uint8 voted,
            uint8 approvals,
            uint64 submittedAt,
            bytes32 manifestDigest,
            string memory manifestUri,
            uint32 ratingCount,
            uint32 ratingSum
        )
    {
        Version storage v = _existing(appId, version);
        return (
            uint8(v.status),
            v.voted,
            v.approvals,
            v.submittedAt,
            v.manifestDigest,
            v.manifestUri,
            v.ratingCount,
            v.ratingSum
        );
    }

    /// @notice The app's Live version (0 when none is Live: never listed, suspended, retired).
    function liveVersionOf(bytes32 appId) public view returns (uint32) {
        uint32 current = _apps[appId].current;
        if (current == 0 || _versions[appId][current].status != Status.Live) return 0;
        return current;
    }

    /// @notice True when institution `institutionId` has app `appId` installed.
    function isInstalled(uint32 institutionId, bytes32 appId) external view returns (bool) {
        return _installed[institutionId][appId] != 0;
    }

    /// @notice The app's Live version at the time the institution installed it (0: not
    /// installed).
    function installedVersionOf(
        uint32 institutionId,
        bytes32 appId
    ) external view returns (uint32) {
        return _installed[institutionId][appId];
    }

    /// @notice True when the institution has the app installed and the app has a Live version:
    /// what the launch server asks before launching the app for the institution's members.
    function isLaunchable(uint32 institutionId, bytes32 appId) external view returns (bool) {
        return _launchable(institutionId, appId);
    }

    /// @notice The institution's rating of the version (0: none).
    function ratingOf(
        bytes32 appId,
        uint32 version,
        uint32 institutionId
    ) external view returns (uint8) {
        return _ratings[appId][version][institutionId];
    }

    /// @notice EIP-712 `hashStruct(AppSubmission)`.
    function hashAppSubmission(AppSubmission calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    APP_SUBMISSION_TYPEHASH,
                    m.appId,
                    m.version,
                    m.manifestDigest,
                    _hashText(m.manifestUri),
                    m.nonce,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(AppVote)`.
    function hashAppVote(AppVote calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    APP_VOTE_TYPEHASH,
                    m.appId,
                    m.version,
                    m.approve,
                    _hashText(m.reason),
                    m.nonce,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(AppStatusChange)`.
    function hashAppStatusChange(AppStatusChange calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    APP_STATUS_CHANGE_TYPEHASH,
                    m.appId,
                    m.version,
                    m.action,
                    _hashText(m.reason),
                    m.nonce,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(AppInstallation)`.
    function hashAppInstallation(AppInstallation calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    APP_INSTALLATION_TYPEHASH,
                    m.institutionId,
                    m.appId,
                    m.install,
                    m.nonce,
                    m.deadline
                )
            );
    }

    /// @notice EIP-712 `hashStruct(AppRating)`.
    function hashAppRating(AppRating calldata m) public pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    APP_RATING_TYPEHASH,
                    m.institutionId,
                    m.appId,
                    m.version,
                    m.score,
                    m.nonce,
                    m.deadline
                )
            );
    }

    // ------------------------------------------------------------------ internals

    /// @dev See {MarketplaceConnections-_liveVersion}.
    function _liveVersion(bytes32 appId) internal view override returns (uint32) {
        return liveVersionOf(appId);
    }

    /// @dev See {MarketplaceConnections-_launchable}.
    function _launchable(
        uint32 institutionId,
        bytes32 appId
    ) internal view override returns (bool) {
        return _installed[institutionId][appId] != 0 && liveVersionOf(appId) != 0;
    }

    /// @dev Makes `version` Live and retires the app's previously listed version, unless a
    /// newer version is already listed.
    function _list(bytes32 appId, uint32 version, Version storage v, address actor) private {
        App storage app = _apps[appId];
        uint32 previous = app.current;
        if (previous > version) revert MarketplaceStaleVersion(appId, version, previous);
        v.status = Status.Live;
        app.current = version;
        emit AppListed(appId, version);
        if (previous != 0) {
            _versions[appId][previous].status = Status.Retired;
            emit AppRetired(appId, previous, actor, version);
        }
    }

    /// @dev The stored version, reverting with {MarketplaceUnknownVersion} when absent.
    function _existing(bytes32 appId, uint32 version) private view returns (Version storage v) {
        v = _versions[appId][version];
        if (v.status == Status.None) revert MarketplaceUnknownVersion(appId, version);
    }

    /// @dev Reverts with {MarketplaceInvalidTransition} unless `status` is `expected`.
    function _expect(bytes32 appId, uint32 version, Status status, Status expected) private pure {
        if (status != expected) revert MarketplaceInvalidTransition(appId, version, uint8(status));
    }

    /// @dev Reverts unless `inst` exists, is active, and `actor` is its admin.
    function _checkInstitutionAdmin(uint32 inst, address actor) private view {
        if (inst == 0 || inst > consortium.institutionCount()) {
            revert MarketplaceInvalidInstitution(inst);
        }
        (, , address instAdmin, bool active) = consortium.institution(inst);
        if (!active) revert MarketplaceInvalidInstitution(inst);
        if (actor != instAdmin) revert MarketplaceUnauthorized(actor);
    }
}
