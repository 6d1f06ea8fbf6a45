// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, ConsortiumRoles} from "./IConsortium.sol";
import {MedLedgerEIP712} from "./MedLedgerEIP712.sol";

/**
 * @title AccessLog
 * @notice The tamper-evident log of every access decision the API takes (record, reader, part,
 * purpose, granted or denied, reason code, justification), each with the reader's own
 * signature of the request, and of every attribute key the key authority issues. Also the key
 * authority's membership epochs ({EpochAdvanced}, {currentEpoch}).
 *
 * @dev Reads the relayer cannot invent: every entry carries the reader's EIP-712 signature
 * (domain "MedLedger AccessLog", `crypto/signing/access.py`) of
 * `ReadRequest(bytes32 recordId,uint8 part,uint8 purpose,uint64 issuedAt,uint64 nonce)`
 * (part: 0 header, 1 body, 2 metadata), made by the client when it asks. The API accepts a
 * request only shortly after `issuedAt` and refuses a nonce it has seen. The signature is NOT
 * verified here — an `ecrecover` per entry would break the batch budget — but kept in
 * {AccessLogged} (EIP-2098 compact form `sigR`, `sigVs`) with the request's fields, so an
 * auditor recovers the reader from chain data alone and reports any entry whose signer is not
 * its accessor ({hashReadRequest} and {domainSeparator} give the digest). `justification` says
 * why access was granted: a consent id, a referral or consultation id, a break-glass opening
 * id, or zero for a denial. A granted entry without a signature is refused; a denial may
 * have none (the API logs refused requests too, signed or not).
 *
 * Reads an app makes (SMART App Launch; apps hold no Ethereum key) are signed for the app by the
 * launching user's client as
 * `AppReadRequest(bytes32 recordId,uint8 part,uint8 purpose,uint64 issuedAt,uint64 nonce,bytes32 appId,bytes32 clientId)`
 * (`appId` the Marketplace listing id, `clientId` keccak256 of the OAuth client id's UTF-8
 * bytes) and logged with {logAppAccess} / {logAppAccessBatch}: the same {AccessLogged}, its
 * `sigR`/`sigVs` then the `AppReadRequest` signature, immediately followed by
 * {AppAccessLogged} with the app's two ids ({hashAppReadRequest} gives the struct hash).
 *
 * Gas (≤ 35k for one entry, ≤ 8k per entry in a batch of 50): the log is the events; the only
 * slot is {currentEpoch}, which the access paths never touch. Calldata is priced with a floor
 * per byte (EIP-7623), so an entry travels as six packed words ({AccessEntry}) rather than
 * eleven padded ones; the event carries the fields unpacked. The writer is any enrolled relayer
 * ({IConsortium-isRelayer}, asked on every call, so removing a relayer stops it at once). Key
 * issuance is logged by a relayer or by an active key authority.
 */
contract AccessLog is MedLedgerEIP712 {
    /**
     * @notice One access decision, packed for calldata:
     * - `access`: accessor (bits 0-159) | part (160-167) | purpose (168-175) | granted
     *   (176-183, 0 or 1) | reasonCode (184-199); higher bits zero;
     * - `request`: issuedAt (bits 0-63) | nonce (64-127); higher bits zero;
     * - `sigR`, `sigVs`: the reader's signature of the `ReadRequest`, EIP-2098 compact.
     */
    struct AccessEntry {
        bytes32 recordId;
        bytes32 justification;
        uint256 access;
        uint256 request;
        bytes32 sigR;
        bytes32 sigVs;
    }

    /// @notice An app's read logged on chain: the user's decision entry (its signature over the
    /// `AppReadRequest`), the Marketplace listing id and the hashed OAuth client id.
    struct AppAccessEntry {
        AccessEntry entry;
        bytes32 appId;
        bytes32 clientId;
    }

    /// @notice A reader's request, field for field the signed EIP-712 `ReadRequest`.
    struct ReadRequest {
        bytes32 recordId;
        uint8 part;
        uint8 purpose;
        uint64 issuedAt;
        uint64 nonce;
    }

    /// @notice A read an app asks through the launching user, field for field the signed
    /// EIP-712 `AppReadRequest`.
    struct AppReadRequest {
        bytes32 recordId;
        uint8 part;
        uint8 purpose;
        uint64 issuedAt;
        uint64 nonce;
        bytes32 appId;
        bytes32 clientId;
    }

    /// @notice EIP-712 domain name.
    string public constant NAME = "MedLedger AccessLog";
    /// @notice Largest batch accepted by {logAccessBatch}.
    uint256 public constant MAX_BATCH = 64;
    /// @notice Highest part code: 0 header, 1 body, 2 metadata.
    uint8 public constant MAX_PART = 2;
    /// @notice keccak256 of the `ReadRequest` type string.
    bytes32 public constant READ_REQUEST_TYPEHASH =
        keccak256(
            "ReadRequest(bytes32 recordId,uint8 part,uint8 purpose,uint64 issuedAt,uint64 nonce)"
        );

    /// @notice keccak256 of the `AppReadRequest` type string.
    bytes32 public constant APP_READ_REQUEST_TYPEHASH =
        keccak256(
            "AppReadRequest(bytes32 recordId,uint8 part,uint8 purpose,uint64 issuedAt,"
            "uint64 nonce,bytes32 appId,bytes32 clientId)"
        );

    /// @notice The key authority's current membership epoch (starts at 1). Record policies
    /// are written with it; a key opens a record only if it carries the record's epoch.
    uint64 public currentEpoch = 1;

    /// @notice One access decision on a record, with the reader's signed request.
    event AccessLogged(
        bytes32 indexed recordId,
        address indexed accessor,
        uint8 purpose,
        bool granted,
        uint16 reasonCode,
        uint8 part,
        bytes32 justification,
        uint64 issuedAt,
        uint64 nonce,
        bytes32 sigR,
        bytes32 sigVs
    );
    /// @notice The {AccessLogged} just before it (same record, accessor and nonce) was a read
    /// by app `appId` (OAuth client `clientId`, hashed), signed as an `AppReadRequest`.
    event AppAccessLogged(
        bytes32 indexed recordId,
        address indexed accessor,
        bytes32 indexed appId,
        bytes32 clientId,
        uint64 nonce
    );
    /// @notice An attribute key was issued to `holder` for `epoch`.
    event KeyIssued(
        address indexed holder,
        address indexed issuer,
        bytes32 attributesHash,
        uint64 epoch
    );
    /// @notice The key authority moved to membership epoch `epoch` because of `reason` (the
    /// hash of the membership changes that caused it, kept in clear in the index).
    event EpochAdvanced(uint64 indexed epoch, bytes32 indexed reason);

    /// @notice The caller is not an active relayer (nor, for key issuance, a key authority).
    error AccessLogUnauthorized(address caller);
    /// @notice A batch is empty or longer than {MAX_BATCH}.
    error AccessLogInvalidBatch(uint256 length, uint256 max);
    /// @notice The zero address was given for the consortium or a key holder.
    error AccessLogZeroAddress();
    /// @notice Entry `index` has a zero accessor, a part above {MAX_PART}, a `granted` other
    /// than 0 or 1, bits set outside the packed layout, or is granted without a signature;
    /// or, for an app entry, a zero `appId` or `clientId`.
    error AccessLogMalformedEntry(uint256 index);
    /// @notice An epoch advance that is not exactly {currentEpoch} + 1 (a replay or a race).
    error AccessLogInvalidEpoch(uint64 epoch, uint64 current);

    /**
     * @notice Binds the log to the consortium register (which says who the relayers are).
     * @dev Requirements: `consortium_` is not the zero address.
     */
    constructor(IConsortium consortium_) MedLedgerEIP712(consortium_, NAME) {
        if (address(consortium_) == address(0)) revert AccessLogZeroAddress();
    }

    /**
     * @notice Logs one access decision.
     * @dev Requirements: caller is an active relayer; the entry is well formed (see
     * {AccessLogMalformedEntry}). Emits {AccessLogged}.
     */
    function logAccess(AccessEntry calldata entry) external {
        _checkRelayer();
        _log(entry, 0);
    }

    /**
     * @notice Logs up to {MAX_BATCH} access decisions.
     * @dev Requirements: caller is an active relayer; 1 ≤ length ≤ {MAX_BATCH}; every entry
     * well formed. Emits one {AccessLogged} per entry, in order.
     */
    function logAccessBatch(AccessEntry[] calldata entries) external {
        _checkRelayer();
        uint256 n = entries.length;
        if (n == 0 || n > MAX_BATCH) revert AccessLogInvalidBatch(n, MAX_BATCH);
        for (uint256 i; i < n; ) {
            _log(entries[i], i);
            unchecked {
                ++i;
            }
        }
    }

    /**
     * @notice Logs one access decision on a read made by an app through the launching user.
     * @dev Requirements: caller is an active relayer; the entry is well formed (see
     * {AccessLogMalformedEntry}). Emits {AccessLogged}, then {AppAccessLogged}.
     */
    function logAppAccess(AppAccessEntry calldata entry) external {
        _checkRelayer();
        _logApp(entry, 0);
    }

    /**
     * @notice Logs up to {MAX_BATCH} access decisions on reads made by apps.
     * @dev Requirements: as {logAccessBatch}. Emits, per entry and in order, {AccessLogged}
     * immediately followed by its {AppAccessLogged}.
     */
    function logAppAccessBatch(AppAccessEntry[] calldata entries) external {
        _checkRelayer();
        uint256 n = entries.length;
        if (n == 0 || n > MAX_BATCH) revert AccessLogInvalidBatch(n, MAX_BATCH);
        for (uint256 i; i < n; ) {
            _logApp(entries[i], i);
            unchecked {
                ++i;
            }
        }
    }

    /**
     * @notice Logs the issuance of an attribute key (the hash of the sorted attribute list)
     * to `holder` for key epoch `epoch`.
     * @dev Requirements: caller is an active relayer or an active key-authority member;
     * `holder` is not zero. Emits {KeyIssued} with the caller as issuer.
     */
    function logKeyIssued(address holder, bytes32 attributesHash, uint64 epoch) external {
        (, uint8 role, bool active) = consortium.memberInfo(msg.sender);
        if (
            !active ||
            (role != ConsortiumRoles.RELAYER && role != ConsortiumRoles.KEY_AUTHORITY)
        ) revert AccessLogUnauthorized(msg.sender);
        if (holder == address(0)) revert AccessLogZeroAddress();
        emit KeyIssued(holder, msg.sender, attributesHash, epoch);
    }

    /**
     * @notice Advances the membership epoch to `epoch` for `reason`.
     * @dev Requirements: caller is an active relayer; `epoch` is {currentEpoch} + 1, so a
     * replayed or concurrent advance reverts instead of skipping an epoch.
     * Emits {EpochAdvanced}.
     */
    function logEpochAdvanced(uint64 epoch, bytes32 reason) external {
        _checkRelayer();
        uint64 current = currentEpoch;
        if (epoch != current + 1) revert AccessLogInvalidEpoch(epoch, current);
        currentEpoch = epoch;
        emit EpochAdvanced(epoch, reason);
    }

    /// @notice EIP-712 `hashStruct(ReadRequest)`; the reader signed
    /// `keccak256(0x1901 ‖ domainSeparator() ‖ hashReadRequest(request))`.
    function hashReadRequest(ReadRequest calldata request) external pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    READ_REQUEST_TYPEHASH,
                    request.recordId,
                    request.part,
                    request.purpose,
                    request.issuedAt,
                    request.nonce
                )
            );
    }

    /// @notice EIP-712 `hashStruct(AppReadRequest)`; the launching user signed
    /// `keccak256(0x1901 ‖ domainSeparator() ‖ hashAppReadRequest(request))` for the app.
    function hashAppReadRequest(AppReadRequest calldata request) external pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    APP_READ_REQUEST_TYPEHASH,
                    request.recordId,
                    request.part,
                    request.purpose,
                    request.issuedAt,
                    request.nonce,
                    request.appId,
                    request.clientId
                )
            );
    }

    // ------------------------------------------------------------------ internals

    /// @dev Checks app entry `index` and emits its {AccessLogged} and {AppAccessLogged}.
    function _logApp(AppAccessEntry calldata a, uint256 index) private {
        bytes32 appId = a.appId;
        bytes32 clientId = a.clientId;
        if (appId == bytes32(0) || clientId == bytes32(0)) revert AccessLogMalformedEntry(index);
        _log(a.entry, index);
        // emit AppAccessLogged(recordId, accessor, appId, clientId, nonce) from the packed
        // words (entry: recordId 0x00, access 0x40, request 0x60), as {_log} does.
        bytes32 topic0 = AppAccessLogged.selector;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, clientId)
            mstore(add(p, 0x20), shr(64, calldataload(add(a, 0x60)))) // nonce
            let accessor := and(calldataload(add(a, 0x40)), sub(shl(160, 1), 1))
            log4(p, 0x40, topic0, calldataload(a), accessor, appId)
        }
    }

    /// @dev Checks the packed layout of entry `index` and emits it unpacked.
    function _log(AccessEntry calldata e, uint256 index) private {
        uint256 access = e.access;
        uint256 request = e.request;
        uint8 granted = uint8(access >> 176);
        if (
            access >> 200 != 0 ||
            request >> 128 != 0 ||
            uint160(access) == 0 ||
            uint8(access >> 160) > MAX_PART ||
            granted > 1 ||
            (granted == 1 && e.sigR == bytes32(0))
        ) revert AccessLogMalformedEntry(index);
        // emit AccessLogged(recordId, accessor, purpose, granted, reasonCode, part,
        //     justification, issuedAt, nonce, sigR, sigVs), written straight from the packed
        // words: the nine data words in scratch memory past the free pointer, then LOG3
        // (~100 gas an entry less than the ABI encoder; the tests decode it with the ABI).
        bytes32 topic0 = AccessLogged.selector;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, and(shr(168, access), 0xff)) // purpose
            mstore(add(p, 0x20), and(shr(176, access), 0xff)) // granted (checked 0 or 1)
            mstore(add(p, 0x40), and(shr(184, access), 0xffff)) // reasonCode
            mstore(add(p, 0x60), and(shr(160, access), 0xff)) // part
            mstore(add(p, 0x80), calldataload(add(e, 0x20))) // justification
            mstore(add(p, 0xa0), and(request, 0xffffffffffffffff)) // issuedAt
            mstore(add(p, 0xc0), shr(64, request)) // nonce
            calldatacopy(add(p, 0xe0), add(e, 0x80), 0x40) // sigR, sigVs
            let accessor := and(access, sub(shl(160, 1), 1))
            log3(p, 0x120, topic0, calldataload(e), accessor)
        }
    }

    /// @dev The EIP-712 domain name: {NAME}.
    function _domainName() internal pure override returns (string memory) {
        return NAME;
    }

    /// @dev A caller that is neither the actor nor an active relayer.
    function _revertUnauthorizedRelay(address caller) internal pure override {
        revert AccessLogUnauthorized(caller);
    }
}
