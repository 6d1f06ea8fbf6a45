// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title ConsentManager
 * @notice Patients' consents to access their records, as EIP-712 messages signed in the
 * patient's wallet and relayed by anyone (the patient never needs gas), or sent directly.
 *
 * @dev The typed structures are fixed by `crypto/signing.py` (domain "MedLedger ConsentManager",
 * version "1"):
 * `Consent(address patient,address grantee,bytes32 granteePolicyHash,bytes32 recordId,uint8 purpose,uint64 notBefore,uint64 expiresAt,uint256 nonce)`
 * and `Revocation(address patient,bytes32 consentId,uint256 nonce,uint64 deadline)`; a consent's
 * id is its EIP-712 struct hash.
 *
 * Storage: one packed slot per consent key (patient, grantee or policy hash, record or whole
 * chart, purpose) holding the window (notBefore, expiresAt) and the highest nonce used for that
 * key. A new consent must carry a nonce above the stored one, so replay protection costs
 * nothing beyond the slot the grant writes anyway (one fresh slot keeps a relayed grant under
 * ~70k gas). A revocation names the consent it ends, must match the stored one exactly, zeroes
 * the window and raises the stored nonce to the revocation's, so neither message can be
 * replayed. A later consent for the same key replaces the earlier one.
 *
 * Patient keys ({registerPatientKey}): each patient's X25519 public key, so a writer can wrap a
 * record's data key to the patient (the patient slot, `crypto/patient_key.py`) and the patient
 * needs no key authority to read their chart. Signed as
 * `PatientKey(address patient,bytes32 publicKey,uint64 version)`; the version must rise, so an
 * old registration cannot be replayed over a newer one.
 *
 * Signatures: 65 bytes `r‖s‖v`; `s` in the lower half of the curve order and `v` in {27, 28}
 * (no malleable twins).
 */
contract ConsentManager {
    /// @notice A consent, field for field the EIP-712 `Consent` struct.
    struct Consent {
        address patient;
        address grantee;
        bytes32 granteePolicyHash;
        bytes32 recordId;
        uint8 purpose;
        uint64 notBefore;
        uint64 expiresAt;
        uint256 nonce;
    }

    /// @dev One slot per consent key.
    struct Grant {
        uint64 notBefore;
        uint64 expiresAt;
        uint128 nonce;
    }

    /// @notice EIP-712 domain name (see `crypto/signing.py`).
    string public constant NAME = "MedLedger ConsentManager";
    /// @notice EIP-712 domain version.
    string public constant VERSION = "1";
    /// @notice Highest purpose code: 0 treatment, 1 referral, 2 consultation, 3 emergency,
    /// 4 research.
    uint8 public constant MAX_PURPOSE = 4;

    /// @notice keccak256 of the `Consent` type string.
    bytes32 public constant CONSENT_TYPEHASH =
        keccak256(
            "Consent(address patient,address grantee,bytes32 granteePolicyHash,bytes32 recordId,"
            "uint8 purpose,uint64 notBefore,uint64 expiresAt,uint256 nonce)"
        );
    /// @notice keccak256 of the `Revocation` type string.
    bytes32 public constant REVOCATION_TYPEHASH =
        keccak256("Revocation(address patient,bytes32 consentId,uint256 nonce,uint64 deadline)");

    /// @notice keccak256 of the `PatientKey` type string.
    bytes32 public constant PATIENT_KEY_TYPEHASH =
        keccak256("PatientKey(address patient,bytes32 publicKey,uint64 version)");

    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256(
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
        );
    /// @dev secp256k1n / 2: signatures with a larger `s` are malleable twins.
    uint256 private constant _HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    uint256 private immutable _cachedChainId;
    bytes32 private immutable _cachedDomainSeparator;

    mapping(bytes32 key => Grant) private _grants;

    /// @dev A patient's registered X25519 public key and its version.
    struct PatientKey {
        bytes32 publicKey;
        uint64 version;
    }

    mapping(address patient => PatientKey) private _patientKeys;

    /// @notice A patient registered (or replaced) their X25519 public key.
    event PatientKeyRegistered(address indexed patient, bytes32 publicKey, uint64 version);

    /// @notice Emitted for every accepted consent (direct or relayed).
    event ConsentGranted(
        bytes32 indexed consentId,
        address indexed patient,
        address indexed grantee,
        bytes32 granteePolicyHash,
        bytes32 recordId,
        uint8 purpose,
        uint64 notBefore,
        uint64 expiresAt,
        uint256 nonce
    );
    /// @notice Emitted when a consent is revoked; `nonce` is the revocation's (0 when direct).
    event ConsentRevoked(bytes32 indexed consentId, address indexed patient, uint256 nonce);

    /// @notice Exactly one of grantee / granteePolicyHash must be set, and patient non-zero.
    error ConsentManagerInvalidGrantee();
    /// @notice The purpose code is above {MAX_PURPOSE}.
    error ConsentManagerInvalidPurpose(uint8 purpose);
    /// @notice expiresAt must be non-zero, after notBefore and in the future.
    error ConsentManagerInvalidWindow(uint64 notBefore, uint64 expiresAt);
    /// @notice The nonce is not above the one stored for this consent key.
    error ConsentManagerNonceUsed(uint256 nonce, uint256 current);
    /// @notice The nonce does not fit the 128 bits stored per key.
    error ConsentManagerNonceTooLarge(uint256 nonce);
    /// @notice The signature is not 65 bytes, has a high `s`, a bad `v`, or recovers nothing.
    error ConsentManagerInvalidSignature();
    /// @notice The signature recovers to someone other than the patient.
    error ConsentManagerWrongSigner(address signer, address patient);
    /// @notice A direct call came from someone other than the patient.
    error ConsentManagerNotPatient(address caller, address patient);
    /// @notice The consent to revoke is not the one in force for its key.
    error ConsentManagerUnknownConsent(bytes32 consentId);
    /// @notice The revocation's deadline has passed.
    error ConsentManagerRevocationExpired(uint64 deadline);

    /// @notice A patient key must be non-zero, for a non-zero patient.
    error ConsentManagerInvalidPatientKey();
    /// @notice The key's version is not above the registered one.
    error ConsentManagerStalePatientKey(uint64 version, uint64 current);

    /// @notice Caches the EIP-712 domain separator for the deployment chain.
    constructor() {
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    // ------------------------------------------------------------------ writes

    /**
     * @notice Records `patient`'s X25519 public key (the patient slot of every record is
     * wrapped to it); anyone may relay the patient's signature.
     * @dev Requirements: `patient` and `publicKey` non-zero; `version` above the registered
     * one; `signature` is the patient's EIP-712 signature of
     * `PatientKey(patient, publicKey, version)` under this contract's domain.
     * Emits {PatientKeyRegistered}.
     */
    function registerPatientKey(
        address patient,
        bytes32 publicKey,
        uint64 version,
        bytes calldata signature
    ) external {
        if (patient == address(0) || publicKey == bytes32(0)) {
            revert ConsentManagerInvalidPatientKey();
        }
        PatientKey storage k = _patientKeys[patient];
        if (version <= k.version) revert ConsentManagerStalePatientKey(version, k.version);
        bytes32 structHash = keccak256(
            abi.encode(PATIENT_KEY_TYPEHASH, patient, publicKey, version)
        );
        _checkSignature(structHash, patient, signature);
        k.publicKey = publicKey;
        k.version = version;
        emit PatientKeyRegistered(patient, publicKey, version);
    }

    /// @notice `patient`'s registered X25519 public key and its version (zeros when none).
    function patientKeyOf(address patient) external view returns (bytes32 publicKey, uint64 version) {
        PatientKey storage k = _patientKeys[patient];
        return (k.publicKey, k.version);
    }

    /**
     * @notice Records a consent signed by its patient; anyone may relay it.
     * @dev Requirements: a valid consent (see {grant}); `signature` is the patient's EIP-712
     * signature over it under this contract's domain, with low `s` and `v` in {27, 28}.
     * Emits {ConsentGranted}.
     */
    function grantBySig(Consent calldata c, bytes calldata signature) external {
        bytes32 consentId = hashConsent(c);
        _checkSignature(consentId, c.patient, signature);
        _grant(c, consentId);
    }

    /**
     * @notice Records a consent sent by the patient in person.
     * @dev Requirements: caller is `c.patient`; exactly one of grantee / policy hash non-zero;
     * purpose ≤ {MAX_PURPOSE}; `0 < expiresAt`, `notBefore < expiresAt`, expiresAt in the
     * future; nonce above the stored one for the key and below 2^128. Emits {ConsentGranted}.
     */
    function grant(Consent calldata c) external {
        if (msg.sender != c.patient) revert ConsentManagerNotPatient(msg.sender, c.patient);
        _grant(c, hashConsent(c));
    }

    /**
     * @notice Revokes consent `c` with the patient's signed `Revocation`; anyone may relay it.
     * @dev Requirements: `c` is the consent in force for its key (all fields match the stored
     * window and nonce); `block.timestamp ≤ deadline`; `nonce` above the consent's nonce and
     * below 2^128; a valid patient signature over
     * `Revocation(c.patient, hashConsent(c), nonce, deadline)`. Emits {ConsentRevoked}.
     */
    function revokeBySig(
        Consent calldata c,
        uint256 nonce,
        uint64 deadline,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert ConsentManagerRevocationExpired(deadline);
        bytes32 consentId = hashConsent(c);
        bytes32 structHash = keccak256(
            abi.encode(REVOCATION_TYPEHASH, c.patient, consentId, nonce, deadline)
        );
        _checkSignature(structHash, c.patient, signature);
        if (nonce <= c.nonce) revert ConsentManagerNonceUsed(nonce, c.nonce);
        _revoke(c, consentId, nonce);
    }

    /**
     * @notice Revokes consent `c`, sent by the patient in person.
     * @dev Requirements: caller is `c.patient`; `c` is the consent in force for its key.
     * Emits {ConsentRevoked} with nonce 0 (the stored nonce stays, so `c` cannot be replayed).
     */
    function revoke(Consent calldata c) external {
        if (msg.sender != c.patient) revert ConsentManagerNotPatient(msg.sender, c.patient);
        _revoke(c, hashConsent(c), 0);
    }

    // ------------------------------------------------------------------ views

    /**
     * @notice True when `patient` has a consent in force now for `grantee` to access `recordId`
     * for `purpose`, either for that record or for the whole chart.
     * @dev The caller must pass the record's real patient (from `RecordRegistry`).
     */
    function isAllowed(
        address patient,
        address grantee,
        bytes32 recordId,
        uint8 purpose
    ) external view returns (bool) {
        if (grantee == address(0)) return false;
        return _allowed(patient, grantee, bytes32(0), recordId, purpose);
    }

    /**
     * @notice As {isAllowed} for consents naming an attribute policy by its hash; the API
     * decides off-chain whether a caller's attributes satisfy that policy.
     */
    function isAllowedForPolicy(
        address patient,
        bytes32 policyHash,
        bytes32 recordId,
        uint8 purpose
    ) external view returns (bool) {
        if (policyHash == bytes32(0)) return false;
        return _allowed(patient, address(0), policyHash, recordId, purpose);
    }

    /// @notice The stored window and nonce for one consent key (zeros when none).
    function grantOf(
        address patient,
        address grantee,
        bytes32 granteePolicyHash,
        bytes32 recordId,
        uint8 purpose
    ) external view returns (uint64 notBefore, uint64 expiresAt, uint256 nonce) {
        Grant memory g = _grants[
            _key(patient, grantee, granteePolicyHash, recordId, purpose)
        ];
        return (g.notBefore, g.expiresAt, g.nonce);
    }

    /// @notice The consent id: EIP-712 `hashStruct(Consent)`.
    function hashConsent(Consent calldata c) public pure returns (bytes32) {
        return keccak256(abi.encode(CONSENT_TYPEHASH, c));
    }

    /// @notice The EIP-712 domain separator for the current chain.
    function domainSeparator() public view returns (bytes32) {
        return block.chainid == _cachedChainId ? _cachedDomainSeparator : _buildDomainSeparator();
    }

    /**
     * @notice The EIP-712 domain (EIP-5267), so wallets and tools can rebuild it.
     */
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", NAME, VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // ------------------------------------------------------------------ internals

    /// @dev Validates `c` and stores its window and nonce under its key (one slot).
    function _grant(Consent calldata c, bytes32 consentId) private {
        address patient = c.patient;
        address grantee = c.grantee;
        bytes32 policyHash = c.granteePolicyHash;
        if (patient == address(0) || (grantee == address(0)) == (policyHash == bytes32(0))) {
            revert ConsentManagerInvalidGrantee();
        }
        uint8 purpose = c.purpose;
        if (purpose > MAX_PURPOSE) revert ConsentManagerInvalidPurpose(purpose);
        uint64 notBefore = c.notBefore;
        uint64 expiresAt = c.expiresAt;
        if (expiresAt == 0 || expiresAt <= notBefore || expiresAt <= block.timestamp) {
            revert ConsentManagerInvalidWindow(notBefore, expiresAt);
        }
        uint256 nonce = c.nonce;
        if (nonce > type(uint128).max) revert ConsentManagerNonceTooLarge(nonce);
        Grant storage g = _grants[_key(patient, grantee, policyHash, c.recordId, purpose)];
        uint256 current = g.nonce;
        if (nonce <= current) revert ConsentManagerNonceUsed(nonce, current);
        g.notBefore = notBefore;
        g.expiresAt = expiresAt;
        g.nonce = uint128(nonce);
        emit ConsentGranted(
            consentId,
            patient,
            grantee,
            policyHash,
            c.recordId,
            purpose,
            notBefore,
            expiresAt,
            nonce
        );
    }

    /// @dev Ends `c` if it is the consent in force for its key; a non-zero `nonce` is stored
    /// so neither the consent nor the revocation can be relayed again.
    function _revoke(Consent calldata c, bytes32 consentId, uint256 nonce) private {
        if (nonce > type(uint128).max) revert ConsentManagerNonceTooLarge(nonce);
        Grant storage g = _grants[
            _key(c.patient, c.grantee, c.granteePolicyHash, c.recordId, c.purpose)
        ];
        if (
            g.expiresAt == 0 ||
            g.nonce != c.nonce ||
            g.notBefore != c.notBefore ||
            g.expiresAt != c.expiresAt
        ) revert ConsentManagerUnknownConsent(consentId);
        g.notBefore = 0;
        g.expiresAt = 0;
        if (nonce != 0) g.nonce = uint128(nonce);
        emit ConsentRevoked(consentId, c.patient, nonce);
    }

    /// @dev A whole-chart consent covers every record; a record consent only its record.
    function _allowed(
        address patient,
        address grantee,
        bytes32 policyHash,
        bytes32 recordId,
        uint8 purpose
    ) private view returns (bool) {
        if (_inWindow(_grants[_key(patient, grantee, policyHash, bytes32(0), purpose)])) {
            return true;
        }
        if (recordId == bytes32(0)) return false;
        return _inWindow(_grants[_key(patient, grantee, policyHash, recordId, purpose)]);
    }

    /// @dev notBefore ≤ now < expiresAt, and not revoked (expiresAt 0).
    function _inWindow(Grant storage g) private view returns (bool) {
        uint64 expiresAt = g.expiresAt;
        return expiresAt != 0 && g.notBefore <= block.timestamp && block.timestamp < expiresAt;
    }

    /// @dev The storage key of a consent: who grants what to whom, for which purpose.
    function _key(
        address patient,
        address grantee,
        bytes32 policyHash,
        bytes32 recordId,
        uint8 purpose
    ) private pure returns (bytes32) {
        return keccak256(abi.encode(patient, grantee, policyHash, recordId, purpose));
    }

    /// @dev Reverts unless `signature` is `patient`'s non-malleable EIP-712 signature of
    /// `structHash` under this domain.
    function _checkSignature(
        bytes32 structHash,
        address patient,
        bytes calldata signature
    ) private view {
        if (signature.length != 65) revert ConsentManagerInvalidSignature();
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 32))
            v := byte(0, calldataload(add(signature.offset, 64)))
        }
        if (uint256(s) > _HALF_ORDER || (v != 27 && v != 28)) {
            revert ConsentManagerInvalidSignature();
        }
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert ConsentManagerInvalidSignature();
        if (signer != patient) revert ConsentManagerWrongSigner(signer, patient);
    }

    /// @dev EIP-712 domain separator for the current chain id (recomputed after a fork).
    function _buildDomainSeparator() private view returns (bytes32) {
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
}
