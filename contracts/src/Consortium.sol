// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MemberAttributes} from "./MemberAttributes.sol";

/**
 * @title Consortium
 * @notice The membership register of a medical consortium: its institutions (name, code, admin,
 * active flag) and their members, each with one role and a short list of attributes
 * (`bytes32`-packed strings such as `dept:cardiology`, the CP-ABE attribute universe), and the
 * configuration versions each institution's gateway applied.
 *
 * @dev Every other MedLedger contract asks this one "who is calling?". The hot question is
 * {memberInfo}: it is answered from one packed storage slot per member plus the institution's
 * first slot, so a record registration pays two cold reads rather than a struct walk.
 *
 * Authority: the consortium admin adds, updates, suspends and reinstates institutions and is
 * the only one who may enrol the consortium-level roles (key authority, relayer), which may
 * belong to no institution (institution id 0). An institution's admin enrols, updates,
 * suspends, reinstates and removes the doctors, nurses and auditors of that institution only.
 * A member of a suspended institution is reported inactive without touching every member.
 *
 * Attributes: `namespace:value`, ASCII, left-aligned in the word and zero-padded, with the
 * policy language's grammar (`crypto/policy.py`): namespace `[a-z][a-z0-9_]*`, value of
 * lower-case letters, digits, `_`, `.`, `-` and the at sign. Nothing is case-folded: upper
 * case, spaces and non-ASCII are refused, so no two different words mean the same attribute.
 * The namespaces the protocol derives from the member record ({isReservedNamespace}: `uid
 * patient role org custodian epoch bg app gw`) are refused, so no admin can give a member
 * another institution's identity, a custodian right or a future key epoch. The rule is
 * {MemberAttributes}, mirrored in `crypto/attributes.py`.
 *
 * Gateways: an institution's system account for the interface platform, enrolled by the
 * institution's admin like a member. A gateway may author records for its institution (see
 * `RecordRegistry`), carries no attributes, and logs each configuration version it applies
 * ({recordGatewayConfig}).
 *
 * Key authorities (no single escrow, `docs/key-authorities.md`): each institution runs its own
 * FAME key authority. The institution's admin records its public-key digest (SHA-256 of the
 * canonical public-key bytes), its URL and its signing account ({registerAuthority}); clients
 * read them ({authorityOf}), pin the digest and refuse any other key. Each institution has its
 * own membership epoch: a suspension, removal or update of one of its members, or the
 * suspension of the institution, moves that institution's epoch and no other
 * ({EpochAdvanced}). The institution's admin raises its epoch floor ({raiseEpochFloor}) once
 * no record it must still read references an older epoch. The authority's signing account
 * logs every key it issues ({logKeyIssued}).
 */
contract Consortium {
    /// @notice Member roles; the numbers are the ABI `uint8` values.
    enum Role {
        None,
        Doctor,
        Nurse,
        Auditor,
        KeyAuthority,
        Relayer,
        Gateway
    }

    /// @dev First slot: everything {memberInfo} needs about an institution (admin + active).
    struct Institution {
        address admin;
        bool active;
        bytes32 code;
        string name;
    }

    /// @dev One slot per member: institution id, role, active flag.
    struct Member {
        uint32 institutionId;
        Role role;
        bool active;
    }

    /// @dev An institution's key authority: where it is, what key it has, which epoch.
    struct Authority {
        bytes32 pubkeyDigest;
        address signer;
        uint64 epoch;
        uint64 floor;
        string url;
    }

    /// @notice Longest authority URL accepted by {registerAuthority}.
    uint256 public constant MAX_AUTHORITY_URL = 256;

    /// @notice Maximum number of attributes one member may carry (bounds every loop over them).
    uint256 public constant MAX_ATTRIBUTES = 32;

    /// @notice The consortium admin.
    address public admin;

    /// @notice Number of institutions ever added; ids run from 1 to this value.
    uint32 public institutionCount;

    mapping(uint32 institutionId => Institution) private _institutions;
    mapping(bytes32 code => uint32 institutionId) private _institutionByCode;
    mapping(address account => Member) private _members;
    mapping(address account => bytes32[]) private _attributes;
    mapping(uint32 institutionId => Authority) private _authorities;
    mapping(address signer => uint32 institutionId) private _authorityBySigner;

    /// @notice Emitted when the consortium admin hands over its role.
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);
    /// @notice Emitted when an institution joins the consortium.
    event InstitutionAdded(
        uint32 indexed institutionId,
        bytes32 indexed code,
        address indexed admin,
        string name
    );
    /// @notice Emitted when an institution's name or admin changes.
    event InstitutionUpdated(uint32 indexed institutionId, address indexed admin, string name);
    /// @notice Emitted when an institution is suspended (its members stop being active).
    event InstitutionSuspended(uint32 indexed institutionId);
    /// @notice Emitted when a suspended institution is reinstated.
    event InstitutionReinstated(uint32 indexed institutionId);
    /// @notice Emitted when an account is enrolled as a member.
    event MemberEnrolled(
        address indexed account,
        uint32 indexed institutionId,
        Role role,
        bytes32[] attributes
    );
    /// @notice Emitted when a member's role or attributes change.
    event MemberUpdated(
        address indexed account,
        uint32 indexed institutionId,
        Role role,
        bytes32[] attributes
    );
    /// @notice Emitted when a member is suspended.
    event MemberSuspended(address indexed account, uint32 indexed institutionId);
    /// @notice Emitted when a suspended member is reinstated.
    event MemberReinstated(address indexed account, uint32 indexed institutionId);
    /// @notice Emitted when a member is removed (role and attributes erased).
    event MemberRemoved(address indexed account, uint32 indexed institutionId);
    /// @notice Emitted when a gateway applied version `version` of its configuration `name`,
    /// whose files hash to `digest`.
    event GatewayConfigApplied(
        uint32 indexed institutionId,
        address indexed gateway,
        bytes32 name,
        uint32 version,
        bytes32 digest
    );

    /// @notice An institution's admin recorded (or replaced) its key authority.
    event AuthorityRegistered(
        uint32 indexed institutionId,
        bytes32 indexed pubkeyDigest,
        address indexed signer,
        string url,
        uint64 epoch
    );
    /// @notice An institution's membership epoch moved to `epoch` because of `reason` (a
    /// member account, or zero for an institution-wide change).
    event EpochAdvanced(uint32 indexed institutionId, uint64 indexed epoch, address reason);
    /// @notice An institution's admin raised the oldest epoch its authority still issues.
    event EpochFloorRaised(uint32 indexed institutionId, uint64 floor);
    /// @notice The institution's authority issued an attribute key (hash of the sorted
    /// attribute list) to `holder` for epochs up to `epoch`.
    event KeyIssued(
        uint32 indexed institutionId,
        address indexed holder,
        address indexed issuer,
        bytes32 attributesHash,
        uint64 epoch
    );

    /// @notice The caller may not perform this change; `admin` is the account that may (the
    /// institution's admin, or the consortium admin for consortium-level changes).
    error ConsortiumUnauthorized(address caller, address admin);
    /// @notice The zero address was given where an account is required.
    error ConsortiumZeroAddress();
    /// @notice An institution needs a non-empty name and a non-zero code.
    error ConsortiumInvalidInstitution();
    /// @notice Another institution already uses this code.
    error ConsortiumDuplicateInstitutionCode(bytes32 code);
    /// @notice No institution has this id.
    error ConsortiumUnknownInstitution(uint32 institutionId);
    /// @notice The institution is suspended; nothing may be enrolled in it.
    error ConsortiumInstitutionSuspended(uint32 institutionId);
    /// @notice The institution is already active.
    error ConsortiumInstitutionActive(uint32 institutionId);
    /// @notice The role is not a member role, or not valid for this institution.
    error ConsortiumInvalidRole(uint8 role);
    /// @notice Too many attributes for one member.
    error ConsortiumTooManyAttributes(uint256 count, uint256 max);
    /// @notice An attribute was the zero word.
    error ConsortiumEmptyAttribute(uint256 index);
    /// @notice A gateway configuration needs a non-zero name, version and digest.
    error ConsortiumInvalidGatewayConfig();
    /// @notice An authority needs a non-zero digest and signer and a URL of 1 to
    /// {MAX_AUTHORITY_URL} bytes.
    error ConsortiumInvalidAuthority();
    /// @notice The signer already serves another institution's authority.
    error ConsortiumAuthoritySignerInUse(address signer, uint32 institutionId);
    /// @notice The caller is not a registered authority signer.
    error ConsortiumNotAuthority(address caller);
    /// @notice The floor must not move back nor pass the current epoch.
    error ConsortiumInvalidEpochFloor(uint64 floor, uint64 epoch);
    /// @notice The account is already a member.
    error ConsortiumAlreadyMember(address account);
    /// @notice The account is not a member.
    error ConsortiumNotMember(address account);
    /// @notice The member is already suspended.
    error ConsortiumMemberSuspended(address account);
    /// @notice The member is already active.
    error ConsortiumMemberActive(address account);

    /// @dev Reverts with {ConsortiumUnauthorized} unless the caller is the consortium admin.
    modifier onlyAdmin() {
        if (msg.sender != admin) revert ConsortiumUnauthorized(msg.sender, admin);
        _;
    }

    /**
     * @notice Creates the register with `initialAdmin` as consortium admin.
     * @dev Requirements: `initialAdmin` is not the zero address.
     * Emits {AdminTransferred} from the zero address.
     */
    constructor(address initialAdmin) {
        if (initialAdmin == address(0)) revert ConsortiumZeroAddress();
        admin = initialAdmin;
        emit AdminTransferred(address(0), initialAdmin);
    }

    // ------------------------------------------------------------------ consortium admin

    /**
     * @notice Hands the consortium admin role to `newAdmin`.
     * @dev Requirements: caller is the consortium admin; `newAdmin` is not zero.
     * Emits {AdminTransferred}.
     */
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ConsortiumZeroAddress();
        emit AdminTransferred(admin, newAdmin);
        admin = newAdmin;
    }

    /**
     * @notice Adds an institution and returns its id (1, 2, ...).
     * @dev Requirements: caller is the consortium admin; `name` is non-empty; `code` is non-zero
     * and unused; `institutionAdmin` is not zero. Emits {InstitutionAdded}.
     */
    function addInstitution(
        string calldata name,
        bytes32 code,
        address institutionAdmin
    ) external onlyAdmin returns (uint32 institutionId) {
        if (bytes(name).length == 0 || code == bytes32(0)) revert ConsortiumInvalidInstitution();
        if (institutionAdmin == address(0)) revert ConsortiumZeroAddress();
        if (_institutionByCode[code] != 0) revert ConsortiumDuplicateInstitutionCode(code);
        institutionId = ++institutionCount;
        _institutions[institutionId] = Institution({
            admin: institutionAdmin,
            active: true,
            code: code,
            name: name
        });
        _institutionByCode[code] = institutionId;
        emit InstitutionAdded(institutionId, code, institutionAdmin, name);
    }

    /**
     * @notice Renames an institution and/or changes its admin (the code never changes).
     * @dev Requirements: caller is the consortium admin; the institution exists; `name` is
     * non-empty; `institutionAdmin` is not zero. Emits {InstitutionUpdated}.
     */
    function updateInstitution(
        uint32 institutionId,
        string calldata name,
        address institutionAdmin
    ) external onlyAdmin {
        Institution storage inst = _existingInstitution(institutionId);
        if (bytes(name).length == 0) revert ConsortiumInvalidInstitution();
        if (institutionAdmin == address(0)) revert ConsortiumZeroAddress();
        inst.admin = institutionAdmin;
        inst.name = name;
        emit InstitutionUpdated(institutionId, institutionAdmin, name);
    }

    /**
     * @notice Suspends an institution: its members stop being active until reinstated.
     * @dev Requirements: caller is the consortium admin; the institution exists and is active.
     * Emits {InstitutionSuspended}.
     */
    function suspendInstitution(uint32 institutionId) external onlyAdmin {
        Institution storage inst = _existingInstitution(institutionId);
        if (!inst.active) revert ConsortiumInstitutionSuspended(institutionId);
        inst.active = false;
        emit InstitutionSuspended(institutionId);
        _advanceEpoch(institutionId, address(0));
    }

    /**
     * @notice Reinstates a suspended institution.
     * @dev Requirements: caller is the consortium admin; the institution exists and is
     * suspended. Emits {InstitutionReinstated}.
     */
    function reinstateInstitution(uint32 institutionId) external onlyAdmin {
        Institution storage inst = _existingInstitution(institutionId);
        if (inst.active) revert ConsortiumInstitutionActive(institutionId);
        inst.active = true;
        emit InstitutionReinstated(institutionId);
    }

    // ------------------------------------------------------------------ members

    /**
     * @notice Enrols `account` in `institutionId` with `role` and `attributes`.
     * @dev Requirements: `account` is not zero and not yet a member; `role` is a member role;
     * doctors, nurses, auditors and gateways belong to an existing active institution and are
     * enrolled by its admin or the consortium admin; key authorities and relayers are
     * consortium-level and enrolled by the consortium admin only (institution id 0 allowed for
     * them); at most {MAX_ATTRIBUTES} attributes, each `namespace:value` in the policy grammar
     * and none in a reserved namespace; a gateway has none. Emits {MemberEnrolled}.
     */
    function enrolMember(
        address account,
        uint32 institutionId,
        uint8 role,
        bytes32[] calldata attributes
    ) external {
        if (account == address(0)) revert ConsortiumZeroAddress();
        if (_members[account].role != Role.None) revert ConsortiumAlreadyMember(account);
        Role r = _checkRole(role, institutionId);
        _checkAttributes(r, attributes);
        _members[account] = Member({institutionId: institutionId, role: r, active: true});
        _attributes[account] = attributes;
        emit MemberEnrolled(account, institutionId, r, attributes);
    }

    /**
     * @notice Replaces a member's role and attributes (the institution stays the same).
     * @dev Requirements: `account` is a member; the same authority rules as {enrolMember} hold
     * for both the member's institution and the new role. Emits {MemberUpdated}.
     */
    function updateMember(address account, uint8 role, bytes32[] calldata attributes) external {
        Member storage m = _existingMember(account);
        uint32 institutionId = m.institutionId;
        _checkManager(institutionId, m.role);
        Role r = _checkRole(role, institutionId);
        _checkAttributes(r, attributes);
        m.role = r;
        _attributes[account] = attributes;
        emit MemberUpdated(account, institutionId, r, attributes);
        _advanceEpoch(institutionId, account);
    }

    /**
     * @notice Suspends a member (kept on the register, reported inactive).
     * @dev Requirements: `account` is an active member; caller is its institution's admin or the
     * consortium admin (consortium admin only for consortium-level roles).
     * Emits {MemberSuspended}.
     */
    function suspendMember(address account) external {
        Member storage m = _existingMember(account);
        _checkManager(m.institutionId, m.role);
        if (!m.active) revert ConsortiumMemberSuspended(account);
        m.active = false;
        emit MemberSuspended(account, m.institutionId);
        _advanceEpoch(m.institutionId, account);
    }

    /**
     * @notice Reinstates a suspended member.
     * @dev Requirements: `account` is a suspended member; caller as for {suspendMember}.
     * Emits {MemberReinstated}.
     */
    function reinstateMember(address account) external {
        Member storage m = _existingMember(account);
        _checkManager(m.institutionId, m.role);
        if (m.active) revert ConsortiumMemberActive(account);
        m.active = true;
        emit MemberReinstated(account, m.institutionId);
    }

    /**
     * @notice Removes a member: role and attributes are erased; the account may be enrolled
     * again later (possibly elsewhere).
     * @dev Requirements: `account` is a member; caller as for {suspendMember}.
     * Emits {MemberRemoved}.
     */
    function removeMember(address account) external {
        Member storage m = _existingMember(account);
        uint32 institutionId = m.institutionId;
        _checkManager(institutionId, m.role);
        delete _members[account];
        delete _attributes[account];
        emit MemberRemoved(account, institutionId);
        _advanceEpoch(institutionId, account);
    }

    /**
     * @notice Logs that `gateway` applied version `version` of its declared configuration
     * `name` (connections, APIs, flows, topics), whose files hash to `digest`.
     * @dev Requirements: `gateway` is an active member with the gateway role; the caller is the
     * gateway itself or its institution's admin; `name`, `version` and `digest` are non-zero.
     * Emits {GatewayConfigApplied}.
     */
    function recordGatewayConfig(
        address gateway,
        bytes32 name,
        uint32 version,
        bytes32 digest
    ) external {
        Member memory m = _members[gateway];
        if (m.role != Role.Gateway || !_isActive(m)) revert ConsortiumNotMember(gateway);
        address instAdmin = _institutions[m.institutionId].admin;
        if (msg.sender != gateway && msg.sender != instAdmin) {
            revert ConsortiumUnauthorized(msg.sender, instAdmin);
        }
        if (name == bytes32(0) || version == 0 || digest == bytes32(0)) {
            revert ConsortiumInvalidGatewayConfig();
        }
        emit GatewayConfigApplied(m.institutionId, gateway, name, version, digest);
    }

    // ------------------------------------------------------------------ key authorities

    /**
     * @notice Records `institutionId`'s key authority: the SHA-256 digest of its FAME public
     * key, the account it signs with, and its URL. Replacing it keeps the epoch.
     * @dev Requirements: caller is that institution's admin (not the consortium admin: no one
     * but the institution chooses its authority); the institution exists and is active;
     * `pubkeyDigest` and `signer` non-zero; `url` 1..{MAX_AUTHORITY_URL} bytes; `signer` serves
     * no other institution. Emits {AuthorityRegistered}.
     */
    function registerAuthority(
        uint32 institutionId,
        bytes32 pubkeyDigest,
        address signer,
        string calldata url
    ) external {
        Institution storage inst = _existingInstitution(institutionId);
        if (msg.sender != inst.admin) revert ConsortiumUnauthorized(msg.sender, inst.admin);
        if (!inst.active) revert ConsortiumInstitutionSuspended(institutionId);
        uint256 urlLength = bytes(url).length;
        if (
            pubkeyDigest == bytes32(0) ||
            signer == address(0) ||
            urlLength == 0 ||
            urlLength > MAX_AUTHORITY_URL
        ) revert ConsortiumInvalidAuthority();
        uint32 other = _authorityBySigner[signer];
        if (other != 0 && other != institutionId) {
            revert ConsortiumAuthoritySignerInUse(signer, other);
        }
        Authority storage a = _authorities[institutionId];
        if (a.signer != address(0) && a.signer != signer) delete _authorityBySigner[a.signer];
        if (a.epoch == 0) {
            a.epoch = 1;
            a.floor = 1;
        }
        a.pubkeyDigest = pubkeyDigest;
        a.signer = signer;
        a.url = url;
        _authorityBySigner[signer] = institutionId;
        emit AuthorityRegistered(institutionId, pubkeyDigest, signer, url, a.epoch);
    }

    /**
     * @notice Raises the oldest membership epoch `institutionId`'s authority still issues keys
     * for (after the institution re-keyed its records written under older epochs).
     * @dev Requirements: caller is that institution's admin; current floor < `floor` ≤ epoch.
     * Emits {EpochFloorRaised}.
     */
    function raiseEpochFloor(uint32 institutionId, uint64 floor) external {
        Institution storage inst = _existingInstitution(institutionId);
        if (msg.sender != inst.admin) revert ConsortiumUnauthorized(msg.sender, inst.admin);
        Authority storage a = _authorities[institutionId];
        uint64 epoch = _epochOf(a);
        if (floor <= _floorOf(a) || floor > epoch) revert ConsortiumInvalidEpochFloor(floor, epoch);
        a.epoch = epoch;
        a.floor = floor;
        emit EpochFloorRaised(institutionId, floor);
    }

    /**
     * @notice Logs that the caller (a registered authority signer) issued an attribute key to
     * `holder`, whose sorted attributes hash to `attributesHash`, for epochs up to `epoch`.
     * @dev Requirements: caller is the signer of a registered authority; `holder` non-zero.
     * Emits {KeyIssued} with the authority's institution.
     */
    function logKeyIssued(address holder, bytes32 attributesHash, uint64 epoch) external {
        uint32 institutionId = _authorityBySigner[msg.sender];
        if (institutionId == 0) revert ConsortiumNotAuthority(msg.sender);
        if (holder == address(0)) revert ConsortiumZeroAddress();
        emit KeyIssued(institutionId, holder, msg.sender, attributesHash, epoch);
    }

    /**
     * @notice `institutionId`'s key authority (zero digest, signer and empty URL when none is
     * registered) with its current membership epoch and floor (both start at 1).
     * @dev Requirements: the institution exists.
     */
    function authorityOf(
        uint32 institutionId
    )
        external
        view
        returns (bytes32 pubkeyDigest, string memory url, uint64 epoch, address signer, uint64 floor)
    {
        _existingInstitution(institutionId);
        Authority storage a = _authorities[institutionId];
        return (a.pubkeyDigest, a.url, _epochOf(a), a.signer, _floorOf(a));
    }

    /// @notice The institution whose authority signs with `signer` (0 when none).
    function institutionOfAuthority(address signer) external view returns (uint32) {
        return _authorityBySigner[signer];
    }

    // ------------------------------------------------------------------ views

    /**
     * @notice The packed facts other contracts check: institution, role, and whether the
     * member is active (member not suspended and its institution, if any, not suspended).
     * @dev Non-members get (0, 0, false).
     */
    function memberInfo(
        address account
    ) external view returns (uint32 institutionId, uint8 role, bool active) {
        Member memory m = _members[account];
        return (m.institutionId, uint8(m.role), _isActive(m));
    }

    /// @notice True when `account` is an active member (of an active institution, if any).
    function isMember(address account) external view returns (bool) {
        return _isActive(_members[account]);
    }

    /// @notice True when `account` is an active member with the relayer role.
    function isRelayer(address account) external view returns (bool) {
        Member memory m = _members[account];
        return m.role == Role.Relayer && _isActive(m);
    }

    /// @notice The role of `account` (0 = none), whether active or not.
    function roleOf(address account) external view returns (uint8) {
        return uint8(_members[account].role);
    }

    /// @notice The institution of `account` (0 = none or consortium-level).
    function institutionOf(address account) external view returns (uint32) {
        return _members[account].institutionId;
    }

    /// @notice The attributes of `account` (empty for non-members).
    function attributesOf(address account) external view returns (bytes32[] memory) {
        return _attributes[account];
    }

    /// @notice True when `account` carries `attribute` (loop bounded by {MAX_ATTRIBUTES}).
    function hasAttribute(address account, bytes32 attribute) external view returns (bool) {
        bytes32[] storage attrs = _attributes[account];
        uint256 n = attrs.length;
        for (uint256 i; i < n; ) {
            if (attrs[i] == attribute) return true;
            unchecked {
                ++i;
            }
        }
        return false;
    }

    /**
     * @notice An institution's record.
     * @dev Requirements: the institution exists.
     */
    function institution(
        uint32 institutionId
    ) external view returns (string memory name, bytes32 code, address instAdmin, bool active) {
        Institution storage inst = _existingInstitution(institutionId);
        return (inst.name, inst.code, inst.admin, inst.active);
    }

    /**
     * @notice True when `namespace` (the attribute's text before `:`, left-aligned and
     * zero-padded) is derived by the protocol and may not be written by an admin:
     * `uid patient role org custodian epoch bg app gw`.
     */
    function isReservedNamespace(bytes32 namespace) external pure returns (bool) {
        return MemberAttributes.isReservedNamespace(namespace);
    }

    /// @notice The id of the institution with `code` (0 when none).
    function institutionIdByCode(bytes32 code) external view returns (uint32) {
        return _institutionByCode[code];
    }

    // ------------------------------------------------------------------ internals

    /// @dev Moves `institutionId`'s membership epoch on by one (nothing for institution 0,
    /// whose consortium-level members hold no attribute keys).
    function _advanceEpoch(uint32 institutionId, address reason) private {
        if (institutionId == 0) return;
        Authority storage a = _authorities[institutionId];
        uint64 epoch = _epochOf(a) + 1;
        if (a.floor == 0) a.floor = 1;
        a.epoch = epoch;
        emit EpochAdvanced(institutionId, epoch, reason);
    }

    /// @dev The stored epoch, 1 before anything was stored.
    function _epochOf(Authority storage a) private view returns (uint64) {
        uint64 epoch = a.epoch;
        return epoch == 0 ? 1 : epoch;
    }

    /// @dev The stored floor, 1 before anything was stored.
    function _floorOf(Authority storage a) private view returns (uint64) {
        uint64 floor = a.floor;
        return floor == 0 ? 1 : floor;
    }

    /// @dev Member not suspended and its institution (if any) not suspended.
    function _isActive(Member memory m) private view returns (bool) {
        if (!m.active) return false;
        return m.institutionId == 0 || _institutions[m.institutionId].active;
    }

    /// @dev The institution `institutionId`, reverting when it was never added.
    function _existingInstitution(uint32 institutionId) private view returns (Institution storage) {
        if (institutionId == 0 || institutionId > institutionCount) {
            revert ConsortiumUnknownInstitution(institutionId);
        }
        return _institutions[institutionId];
    }

    /// @dev The member record of `account`, reverting when it is not a member.
    function _existingMember(address account) private view returns (Member storage m) {
        m = _members[account];
        if (m.role == Role.None) revert ConsortiumNotMember(account);
    }

    /// @dev The caller may manage members of `institutionId` currently holding `role`.
    function _checkManager(uint32 institutionId, Role role) private view {
        address consortiumAdmin = admin;
        if (msg.sender == consortiumAdmin) return;
        if (_isConsortiumRole(role) || institutionId == 0) {
            revert ConsortiumUnauthorized(msg.sender, consortiumAdmin);
        }
        address instAdmin = _institutions[institutionId].admin;
        if (instAdmin != msg.sender) revert ConsortiumUnauthorized(msg.sender, instAdmin);
    }

    /// @dev Validates `role` for `institutionId` and the caller's authority to grant it.
    function _checkRole(uint8 role, uint32 institutionId) private view returns (Role r) {
        if (role == 0 || role > uint8(Role.Gateway)) revert ConsortiumInvalidRole(role);
        r = Role(role);
        if (_isConsortiumRole(r)) {
            if (msg.sender != admin) revert ConsortiumUnauthorized(msg.sender, admin);
            if (institutionId != 0) _existingInstitution(institutionId);
            return r;
        }
        if (institutionId == 0) revert ConsortiumInvalidRole(role);
        Institution storage inst = _existingInstitution(institutionId);
        if (msg.sender != admin && msg.sender != inst.admin) {
            revert ConsortiumUnauthorized(msg.sender, inst.admin);
        }
        if (!inst.active) revert ConsortiumInstitutionSuspended(institutionId);
    }

    /// @dev At most {MAX_ATTRIBUTES} (none for a gateway), each valid and not reserved (the
    /// loop is bounded by the cap, and {_checkAttribute} by the 32 bytes of a word).
    function _checkAttributes(Role role, bytes32[] calldata attributes) private pure {
        uint256 n = attributes.length;
        uint256 max = role == Role.Gateway ? 0 : MAX_ATTRIBUTES;
        if (n > max) revert ConsortiumTooManyAttributes(n, max);
        for (uint256 i; i < n; ) {
            bytes32 attribute = attributes[i];
            if (attribute == bytes32(0)) revert ConsortiumEmptyAttribute(i);
            MemberAttributes.check(attribute);
            unchecked {
                ++i;
            }
        }
    }

    /// @dev Key authorities and relayers are appointed by the consortium admin only.
    function _isConsortiumRole(Role r) private pure returns (bool) {
        return r == Role.KeyAuthority || r == Role.Relayer;
    }
}
