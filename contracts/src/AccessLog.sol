// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, ConsortiumRoles} from "./IConsortium.sol";

/**
 * @title AccessLog
 * @notice The tamper-evident log of every access decision the API takes (record, accessor,
 * purpose, granted or denied, reason code) and of every attribute key the key authority issues.
 *
 * Also the key authority's membership epochs: every advance (after a member was suspended,
 * removed or changed) is an {EpochAdvanced} event, and {currentEpoch} is the one stored value.
 *
 * @dev Almost no storage: the log is the events, which auditors read and compare with the
 * index; the only slot is {currentEpoch}, which the access and key-issuance paths never touch. The writer is the API's relayer, fixed at deployment as an immutable, so the check
 * costs no storage read or external call and one logged access stays under ~30k gas (≤ 5k per
 * entry in a batch of 50). Rotating the relayer means deploying a new AccessLog; the events of
 * the old one stay readable. Key issuance is logged by the relayer or by an active member with
 * the key-authority role in the {IConsortium} register.
 */
contract AccessLog {
    /// @notice One access decision.
    struct AccessEntry {
        bytes32 recordId;
        address accessor;
        uint8 purpose;
        bool granted;
        uint16 reasonCode;
    }

    /// @notice Largest batch accepted by {logAccessBatch}.
    uint256 public constant MAX_BATCH = 64;

    /// @notice The only account allowed to log accesses.
    address public immutable relayer;

    /// @notice The consortium register (asked about key authorities).
    IConsortium public immutable consortium;

    /// @notice The key authority's current membership epoch (starts at 1). Record policies
    /// are written with it; a key opens a record only if it carries the record's epoch.
    uint64 public currentEpoch = 1;

    /// @notice One access decision on a record.
    event AccessLogged(
        bytes32 indexed recordId,
        address indexed accessor,
        uint8 purpose,
        bool granted,
        uint16 reasonCode
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

    /// @notice The caller is not the relayer (nor, for key issuance, a key authority).
    error AccessLogUnauthorized(address caller);
    /// @notice A batch is empty or longer than {MAX_BATCH}.
    error AccessLogInvalidBatch(uint256 length, uint256 max);
    /// @notice The zero address was given for the relayer, consortium or key holder.
    error AccessLogZeroAddress();
    /// @notice An epoch advance that is not exactly {currentEpoch} + 1 (a replay or a race).
    error AccessLogInvalidEpoch(uint64 epoch, uint64 current);

    /**
     * @notice Fixes the relayer and the consortium register.
     * @dev Requirements: neither is the zero address.
     */
    constructor(IConsortium consortium_, address relayer_) {
        if (address(consortium_) == address(0) || relayer_ == address(0)) {
            revert AccessLogZeroAddress();
        }
        consortium = consortium_;
        relayer = relayer_;
    }

    /**
     * @notice Logs one access decision.
     * @dev Requirements: caller is the relayer. Emits {AccessLogged}.
     */
    function logAccess(
        bytes32 recordId,
        address accessor,
        uint8 purpose,
        bool granted,
        uint16 reasonCode
    ) external {
        if (msg.sender != relayer) revert AccessLogUnauthorized(msg.sender);
        emit AccessLogged(recordId, accessor, purpose, granted, reasonCode);
    }

    /**
     * @notice Logs up to {MAX_BATCH} access decisions.
     * @dev Requirements: caller is the relayer; 1 ≤ length ≤ {MAX_BATCH}.
     * Emits one {AccessLogged} per entry, in order.
     */
    function logAccessBatch(AccessEntry[] calldata entries) external {
        if (msg.sender != relayer) revert AccessLogUnauthorized(msg.sender);
        uint256 n = entries.length;
        if (n == 0 || n > MAX_BATCH) revert AccessLogInvalidBatch(n, MAX_BATCH);
        for (uint256 i; i < n; ) {
            AccessEntry calldata e = entries[i];
            emit AccessLogged(e.recordId, e.accessor, e.purpose, e.granted, e.reasonCode);
            unchecked {
                ++i;
            }
        }
    }

    /**
     * @notice Logs the issuance of an attribute key (the hash of the sorted attribute list)
     * to `holder` for key epoch `epoch`.
     * @dev Requirements: caller is the relayer or an active key-authority member; `holder` is
     * not zero. Emits {KeyIssued} with the caller as issuer.
     */
    function logKeyIssued(address holder, bytes32 attributesHash, uint64 epoch) external {
        if (msg.sender != relayer) {
            (, uint8 role, bool active) = consortium.memberInfo(msg.sender);
            if (!active || role != ConsortiumRoles.KEY_AUTHORITY) {
                revert AccessLogUnauthorized(msg.sender);
            }
        }
        if (holder == address(0)) revert AccessLogZeroAddress();
        emit KeyIssued(holder, msg.sender, attributesHash, epoch);
    }

    /**
     * @notice Advances the membership epoch to `epoch` for `reason`.
     * @dev Requirements: caller is the relayer; `epoch` is {currentEpoch} + 1, so a replayed
     * or concurrent advance reverts instead of skipping an epoch. Emits {EpochAdvanced}.
     */
    function logEpochAdvanced(uint64 epoch, bytes32 reason) external {
        if (msg.sender != relayer) revert AccessLogUnauthorized(msg.sender);
        uint64 current = currentEpoch;
        if (epoch != current + 1) revert AccessLogInvalidEpoch(epoch, current);
        currentEpoch = epoch;
        emit EpochAdvanced(epoch, reason);
    }
}
