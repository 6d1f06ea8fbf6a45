// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium} from "./IConsortium.sol";

/**
 * @title MedLedgerEIP712
 * @notice The EIP-712 domain of a MedLedger contract (name "MedLedger <Contract>", version "1",
 * chain id, this contract), signature recovery, and the relayer check against the register.
 *
 * @dev Signatures are 65 bytes `r‖s‖v` with `s` in the lower half of the curve order and `v` in
 * {27, 28}: the malleable twin `(r, n - s, v ^ 1)` of a valid signature is refused, so a
 * signature has exactly one encoding. The typed structures are defined once, in
 * `crypto/signing/`, which the tests check against the `hash<Type>` views of each contract.
 * Relayers are asked of {IConsortium-isRelayer} on every call, so removing one in `Consortium`
 * stops it at once.
 */
abstract contract MedLedgerEIP712 {
    /// @notice EIP-712 domain version of every MedLedger contract.
    string public constant VERSION = "1";

    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256(
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
        );
    /// @dev secp256k1n / 2: signatures with a larger `s` are malleable twins.
    uint256 private constant _HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice The consortium register: who is a member, with which role, and who relays.
    IConsortium public immutable consortium;

    bytes32 private immutable _hashedName;
    uint256 private immutable _cachedChainId;
    bytes32 private immutable _cachedDomainSeparator;

    /**
     * @notice Binds the contract to the register and fixes its EIP-712 domain name.
     * @dev The derived constructor checks `consortium_` against the zero address with its own
     * error.
     */
    constructor(IConsortium consortium_, string memory name) {
        consortium = consortium_;
        bytes32 hashedName = keccak256(bytes(name));
        _hashedName = hashedName;
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator(hashedName);
    }

    /// @notice The EIP-712 domain separator for the current chain.
    function domainSeparator() public view returns (bytes32) {
        return
            block.chainid == _cachedChainId
                ? _cachedDomainSeparator
                : _buildDomainSeparator(_hashedName);
    }

    /// @notice The EIP-712 domain (EIP-5267), so wallets and tools can rebuild it.
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
        return (
            hex"0f",
            _domainName(),
            VERSION,
            block.chainid,
            address(this),
            bytes32(0),
            new uint256[](0)
        );
    }

    // ------------------------------------------------------------------ internals

    /// @dev Reverts through {_revertUnauthorizedRelay} unless the caller is an active relayer.
    function _checkRelayer() internal view {
        if (!consortium.isRelayer(msg.sender)) _revertUnauthorizedRelay(msg.sender);
    }

    /**
     * @dev The signer of `structHash` under this domain, or the zero address when `signature`
     * is not 65 bytes, has a high `s` or a `v` other than 27 or 28, or recovers nothing.
     */
    function _recover(
        bytes32 structHash,
        bytes calldata signature
    ) internal view returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 32))
            v := byte(0, calldataload(add(signature.offset, 64)))
        }
        if (uint256(s) > _HALF_ORDER || (v != 27 && v != 28)) return address(0);
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
        return ecrecover(digest, v, r, s);
    }

    /// @dev `keccak256(bytes(text))`, how EIP-712 encodes a `string` member.
    function _hashText(string calldata text) internal pure returns (bytes32) {
        return keccak256(bytes(text));
    }

    /// @dev The contract's EIP-712 domain name, "MedLedger <Contract>".
    function _domainName() internal pure virtual returns (string memory);

    /// @dev Reverts with the contract's error for a caller that is not an active relayer.
    function _revertUnauthorizedRelay(address caller) internal pure virtual;

    /// @dev The domain separator for `hashedName`, version "1", this chain and this contract.
    function _buildDomainSeparator(bytes32 hashedName) private view returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    _DOMAIN_TYPEHASH,
                    hashedName,
                    keccak256(bytes(VERSION)),
                    block.chainid,
                    address(this)
                )
            );
    }
}
