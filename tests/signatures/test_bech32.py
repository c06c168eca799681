"""bech32 / bech32m decoding against BIP-350's reference decoder (written out below over the ``bech32``
package's reference polymod, which predates bech32m): the same answer on valid strings of every length,
and on their one-character mutations."""

from __future__ import annotations

import bech32 as ref
from hypothesis import given, settings, strategies as st

from signatures.encoding import (BECH32_CHARSET, BECH32_CONST, BECH32M_CONST, EncodingError, _polymod, _polymod_text,
                                 bech32_decode)

SYMBOLS = st.text(alphabet=BECH32_CHARSET, max_size=100)
HRPS = st.sampled_from(["bc", "tb", "bcrt", "ltc", "cosmos", "erd", "a", "an83characterlonghumanreadablepart"])


@given(SYMBOLS, st.integers(0, 2**30 - 1))
def test_text_polymod_is_the_symbol_polymod(symbols, state):
    """Six symbols a step from the text give the state one symbol a step gives, from any state."""
    values = symbols.encode().translate(bytes.maketrans(BECH32_CHARSET.encode(), bytes(range(32))))
    assert _polymod_text(symbols, state) == _polymod(values, state)


def _ours(text: str):
    try:
        hrp, data, const = bech32_decode(text)
    except EncodingError:
        return None
    return hrp, list(data), const


def _reference(text: str):
    """BIP-350's reference ``bech32_decode``."""
    if any(ord(x) < 33 or ord(x) > 126 for x in text) or (text.lower() != text and text.upper() != text):
        return None
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text) or len(text) > 90:
        return None
    if not all(x in ref.CHARSET for x in text[pos + 1:]):
        return None
    hrp, data = text[:pos], [ref.CHARSET.find(x) for x in text[pos + 1:]]
    const = ref.bech32_polymod(ref.bech32_hrp_expand(hrp) + data)
    return (hrp, data[:-6], const) if const in (BECH32_CONST, BECH32M_CONST) else None


def _encode(hrp: str, data: list[int], const: int) -> str:
    polymod = ref.bech32_polymod(ref.bech32_hrp_expand(hrp) + data + [0] * 6) ^ const
    return hrp + "1" + "".join(ref.CHARSET[d] for d in data + [(polymod >> 5 * (5 - i)) & 31 for i in range(6)])


@settings(max_examples=300)
@given(HRPS, st.lists(st.integers(0, 31), max_size=60), st.sampled_from([BECH32_CONST, BECH32M_CONST]), st.data())
def test_decode_agrees_with_the_reference(hrp, data, const, draw):
    text = _encode(hrp, data, const)
    if len(text) > 90:
        return
    assert _ours(text) == _reference(text) == (hrp, data, const)
    assert _ours(text.upper()) == _reference(text.upper())
    at = draw.draw(st.integers(len(hrp) + 1, len(text) - 1))
    other = draw.draw(st.sampled_from(BECH32_CHARSET.replace(text[at], "")))
    mutated = text[:at] + other + text[at + 1:]
    assert _ours(mutated) == _reference(mutated) is None  # one symbol changed: the code detects it
