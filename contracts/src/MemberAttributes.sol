// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title MemberAttributes
 * @notice The rule for the attributes an admin may give a member in `Consortium`, one `bytes32`
 * word each: `namespace:value`, ASCII, left-aligned and zero-padded, in the grammar of the
 * policy language (`crypto/policy.py`): a namespace of a lower-case letter then lower-case
 * letters, digits or `_`; a non-empty value of lower-case letters, digits, `_`, `.`, `-` and the
 * at sign. Nothing is folded: upper case, spaces and non-ASCII are refused. Namespaces the
 * protocol derives from the member record are reserved ({isReservedNamespace}).
 * @dev Internal functions only (inlined into `Consortium`); the errors carry the `Consortium`
 * prefix because they are `Consortium`'s. Mirrored in Python by `crypto/attributes.py`.
 */
library MemberAttributes {
    /// @notice An attribute is not `namespace:value` in the policy grammar (lower-case ASCII,
    /// no spaces, zero-padded on the right).
    error ConsortiumInvalidAttribute(bytes32 attribute);
    /// @notice An attribute uses a namespace the protocol reserves for itself.
    error ConsortiumReservedAttribute(bytes32 attribute);

    /**
     * @dev True when `namespace` (the text before `:`, left-aligned and zero-padded) is derived
     * by the protocol: `uid patient role org custodian epoch bg app gw`.
     */
    function isReservedNamespace(bytes32 namespace) internal pure returns (bool) {
        return
            namespace == "uid" ||
            namespace == "patient" ||
            namespace == "role" ||
            namespace == "org" ||
            namespace == "custodian" ||
            namespace == "epoch" ||
            namespace == "bg" ||
            namespace == "app" ||
            namespace == "gw";
    }

    /**
     * @dev Reverts with {ConsortiumInvalidAttribute} unless `a` is `namespace:value` in the
     * policy grammar, zero-padded on the right, and with {ConsortiumReservedAttribute} when its
     * namespace is reserved. The loops are bounded by the 32 bytes of the word.
     */
    function check(bytes32 a) internal pure {
        if (!_isLower(uint8(a[0]))) revert ConsortiumInvalidAttribute(a);
        uint256 i = 1;
        for (; i < 32; ) {
            uint8 c = uint8(a[i]);
            if (c == 0x3a) break; // ':'
            if (!_isLower(c) && !_isDigit(c) && c != 0x5f) revert ConsortiumInvalidAttribute(a);
            unchecked {
                ++i;
            }
        }
        uint256 colon = i;
        if (colon >= 31) revert ConsortiumInvalidAttribute(a); // no ':' or nothing after it
        for (i = colon + 1; i < 32; ) {
            uint8 c = uint8(a[i]);
            if (c == 0) break;
            // [a-z0-9_.-] or the at sign
            if (
                !_isLower(c) &&
                !_isDigit(c) &&
                c != 0x5f &&
                c != 0x2e &&
                c != 0x40 &&
                c != 0x2d
            ) revert ConsortiumInvalidAttribute(a);
            unchecked {
                ++i;
            }
        }
        // a non-empty value, and only zero bytes after the text
        if (i == colon + 1 || (i < 32 && uint256(a) << (i * 8) != 0)) {
            revert ConsortiumInvalidAttribute(a);
        }
        bytes32 namespace = bytes32(uint256(a) & ~(type(uint256).max >> (colon * 8)));
        if (isReservedNamespace(namespace)) revert ConsortiumReservedAttribute(a);
    }

    /// @dev ASCII `a`-`z`.
    function _isLower(uint8 c) private pure returns (bool) {
        return c >= 0x61 && c <= 0x7a;
    }

    /// @dev ASCII `0`-`9`.
    function _isDigit(uint8 c) private pure returns (bool) {
        return c >= 0x30 && c <= 0x39;
    }
}
