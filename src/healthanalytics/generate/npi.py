"""National Provider Identifiers: ten digits, the last a Luhn check digit over 80840 + the rest."""

from __future__ import annotations

import numpy as np

# Nine-digit bases 100000000..299999999 give NPIs 1000000000..2999999999; NPIs from
# 2147483648 up do not fit a 32-bit integer.
BASE_LOW = 100_000_000
BASE_HIGH = 300_000_000
_PREFIX_SUM = 24  # Luhn contribution of the constant prefix 80840


def check_digit(bases: np.ndarray) -> np.ndarray:
    """The NPI check digit of each nine-digit base."""
    digits = (bases[:, None] // 10 ** np.arange(8, -1, -1, dtype=np.int64)) % 10
    # Counting from the right of the base, digits 1, 3, 5, ... are the ones Luhn doubles.
    doubled = digits[:, 0::2] * 2
    total = _PREFIX_SUM + (doubled // 10 + doubled % 10).sum(axis=1) + digits[:, 1::2].sum(axis=1)
    return (10 - total % 10) % 10


def with_check_digit(bases: np.ndarray) -> np.ndarray:
    """Ten-digit NPIs from nine-digit bases."""
    bases = np.asarray(bases, dtype=np.int64)
    return bases * 10 + check_digit(bases)


def is_valid_npi(npis: np.ndarray) -> np.ndarray:
    """Whether each ten-digit number carries the right check digit."""
    npis = np.asarray(npis, dtype=np.int64)
    return with_check_digit(npis // 10) == npis
