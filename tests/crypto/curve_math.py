"""Plain-integer arithmetic on BLS12-381's curves for the group tests (pymcl gives r and g only).

Fp2 = Fp[u] / (u² + 1) as pairs ``(c0, c1)``; affine points over Fp (as ``(c, 0)``) or Fp2;
mcl's compressed encodings. With these the tests build points and field elements outside the
prime-order subgroups from scratch and check what the decoders and probes do with them.
"""

from __future__ import annotations

import pymcl

G1_BYTES = 48
GROUP_ORDER: int = pymcl.r

P = int(
    "1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF"
    "6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB",
    16,
)


# --- Fp2 = Fp[u] / (u^2 + 1), as pairs (c0, c1) ----------------------------------------------


def f2_mul(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return ((a[0] * b[0] - a[1] * b[1]) % P, (a[0] * b[1] + a[1] * b[0]) % P)


def f2_add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return ((a[0] + b[0]) % P, (a[1] + b[1]) % P)


def f2_sub(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return ((a[0] - b[0]) % P, (a[1] - b[1]) % P)


def f2_inv(a: tuple[int, int]) -> tuple[int, int]:
    norm = pow(a[0] * a[0] + a[1] * a[1], -1, P)
    return (a[0] * norm % P, -a[1] * norm % P)


def f2_pow(a: tuple[int, int], e: int) -> tuple[int, int]:
    result = (1, 0)
    while e:
        if e & 1:
            result = f2_mul(result, a)
        a = f2_mul(a, a)
        e >>= 1
    return result


def f2_sqrt(a: tuple[int, int]) -> tuple[int, int] | None:
    """Square root in Fp2 for p = 3 mod 4 (Adj & Rodríguez-Henríquez, algorithm 9)."""
    a1 = f2_pow(a, (P - 3) // 4)
    alpha = f2_mul(f2_mul(a1, a1), a)
    x0 = f2_mul(a1, a)
    if alpha == (P - 1, 0):
        root = f2_mul((0, 1), x0)
    else:
        root = f2_mul(f2_pow(f2_add((1, 0), alpha), (P - 1) // 2), x0)
    return root if f2_mul(root, root) == a else None


# --- affine curve arithmetic over Fp (as (c, 0)) or Fp2 -------------------------------------


def ec_add(p1, p2):  # type: ignore[no-untyped-def]
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if f2_add(y1, y2) == (0, 0):
            return None
        slope = f2_mul(f2_mul((3, 0), f2_mul(x1, x1)), f2_inv(f2_add(y1, y1)))
    else:
        slope = f2_mul(f2_sub(y2, y1), f2_inv(f2_sub(x2, x1)))
    x3 = f2_sub(f2_sub(f2_mul(slope, slope), x1), x2)
    return (x3, f2_sub(f2_mul(slope, f2_sub(x1, x3)), y1))


def ec_mul(point, k: int):  # type: ignore[no-untyped-def]
    result = None
    while k:
        if k & 1:
            result = ec_add(result, point)
        point = ec_add(point, point)
        k >>= 1
    return result


def point_with_x(x: tuple[int, int], b: tuple[int, int]):  # type: ignore[no-untyped-def]
    rhs = f2_add(f2_mul(f2_mul(x, x), x), b)
    y = f2_sqrt(rhs)
    return None if y is None else (x, y)


def is_fp_square(value: int) -> bool:
    return pow(value % P, (P - 1) // 2, P) == 1


def encode_g1(x: int, odd_flag: bool) -> bytes:
    data = bytearray(x.to_bytes(G1_BYTES, "little"))
    data[-1] |= 0x80 if odd_flag else 0
    return bytes(data)


def encode_g2(x: tuple[int, int], odd_flag: bool) -> bytes:
    data = bytearray(x[0].to_bytes(48, "little") + x[1].to_bytes(48, "little"))
    data[-1] |= 0x80 if odd_flag else 0
    return bytes(data)


B1 = (4, 0)
B2 = (4, 4)  # E': y^2 = x^3 + 4(1 + u)


def generator_affine_g1() -> tuple[int, int]:
    _, x, y = str(pymcl.g1).split()
    return int(x), int(y)
