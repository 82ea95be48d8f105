"""The rules for single values: numbers as CMS files and spreadsheets write them, and text
without control characters.

Text is checked by regular expressions that RE2 (DuckDB) and Java (Spark) read alike, so that
both engines accept exactly the same texts: their own casts do not (DuckDB takes `1_000` and
`+-1`, Spark `12d`, `0x1p3` and a number padded with NULs). A text is cast only once the rule
has accepted it, and then both engines' casts agree. A typed (Parquet) number is checked by
value.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

# Blanks as `strip()` knows them, spelled as regex escapes both engines read alike. Patterns end
# in \z, not `$`: Java's `$` also matches before a final line break such as U+2028 or U+0085.
BLANK = r"[ \t\n\r\x0B\f]"
_DECIMAL = r"([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
_GROUPED = r"[1-9][0-9]{0,2}(,[0-9]{3})+(\.[0-9]*)?"  # 1,234 and 12,345.67: not 1,23
NUMBER_PATTERN = rf"^{BLANK}*([+-]?({_DECIMAL}|{_GROUPED}))?{BLANK}*\z"
# What nearly every line holds, checked first (one regex, no cast): plain digits within bounds.
COUNT_PLAIN = rf"^{BLANK}*[0-9]{{1,9}}(\.[0-9]*)?{BLANK}*\z"
AMOUNT_PLAIN = rf"^{BLANK}*[0-9]{{1,15}}(\.[0-9]*)?{BLANK}*\z"

# Counts are rounded to whole numbers in 0..1e9: 25M lines of them sum to at most 2.5e16, well
# inside int64. Day supply and cost are finite in 0..1e15 (no real line is near),
# so their sums stay finite: JSON report files cannot hold inf or NaN.
MAX_COUNT = 1_000_000_000
MAX_AMOUNT = 1e15
# Experience is the first run of digits in its text (`= 12.0` -> 12). More than nine digits,
# leading zeros aside, is no number of years and from nineteen overflows int64: such a line
# is refused, not read as null. Nine, the counts' bound, fits any integer column and keeps a
# year or date written by mistake (`20150101`), which no experience filter takes.
MAX_EXPERIENCE_DIGITS = 9
_LONG_EXPERIENCE = rf"^[^0-9]*0*[1-9][0-9]{{{MAX_EXPERIENCE_DIGITS}}}"

# Unicode's control characters (category Cc): C0, DEL and C1.
CONTROL = r"[\x00-\x1F\x7F-\x9F]"


def parse_number(text: ir.StringValue) -> ir.FloatingValue:
    """A text the number rule accepts as a float (`1,234.5` -> 1234.5); null when blank.
    Both engines' casts ignore surrounding blanks; only grouped digits need a second look."""
    number = text.try_cast("float64")
    return ibis.ifelse(number.isnull(), text.replace(",", "").try_cast("float64"), number)


def _valid(value: ir.Value, plain: str, within) -> ir.BooleanValue:
    if value.type().is_numeric():  # a typed (Parquet) number: only its bounds (NaN fails them)
        return within(value).fill_null(True)
    text = value if value.type().is_string() else value.cast("string")
    # the cheap common case first; the full grammar and the cast only for what it leaves
    return ibis.cases(
        (text.isnull(), True),
        (text.re_search(plain), True),
        (text.re_search(NUMBER_PATTERN), within(parse_number(text)).fill_null(True)),
        else_=False,
    )


def _count_bounds(number: ir.NumericValue) -> ir.BooleanValue:
    # below zero is no count, even where it would round to 0 (`-0.4`): a broken value
    return (number >= 0) & (number < MAX_COUNT + 0.5)


def _amount_bounds(number: ir.NumericValue) -> ir.BooleanValue:
    # Part D's day supply and cost are sums of what was dispensed and paid: below zero is a
    # broken value, which would turn volume and deciles negative
    return (number >= 0) & (number < MAX_AMOUNT)


def is_valid_count(value: ir.Value) -> ir.BooleanValue:
    """True where a claim or beneficiary count is blank, or a number not below zero that
    rounds to a whole count in 0..MAX_COUNT; False for any other text (`abc`, `1,23`, `1e308`,
    `-3`, `-0.4`, `NaN`). A typed number is checked by value."""
    return _valid(value, COUNT_PLAIN, _count_bounds)


def is_valid_experience(value: ir.Value) -> ir.BooleanValue:
    """True unless the experience's first run of digits has more than MAX_EXPERIENCE_DIGITS
    digits, leading zeros aside (`= 12345678901.0`); blank and digitless texts are valid (a
    null experience). A typed number is checked by value: below 1e9 in magnitude (a float's
    text from 1e18 on is `1e20`, whose first digits are not the number); NaN has no digits."""
    dtype = value.type()
    if dtype.is_numeric():
        number = value.cast("float64")
        within = number.abs() < 10**MAX_EXPERIENCE_DIGITS
        if dtype.is_floating():  # both engines order NaN above every number
            within = within | number.isnan()
        return within.fill_null(True)
    text = value if dtype.is_string() else value.cast("string")
    return ~text.re_search(_LONG_EXPERIENCE).fill_null(False)


def is_valid_amount(value: ir.Value) -> ir.BooleanValue:
    """True where a day supply or cost is blank, or a number not below zero and below
    MAX_AMOUNT (`-0` is zero). A typed number is checked by value."""
    return _valid(value, AMOUNT_PLAIN, _amount_bounds)


def printable(text: ir.StringValue) -> ir.StringValue:
    """The text with each control character (NUL, tab, line breaks, ESC, DEL, C1) replaced by
    a space: PostgreSQL refuses NUL, and report files and screens mangle the others."""
    return text.re_replace(CONTROL, " ")
