"""The one decoding rule and the one CSV separator rule that documents and historian share."""

from __future__ import annotations

import pytest

from connectors.textfiles import BINARY, UNDECODABLE, UndecodableText, decode_text, sniff_separator


def test_utf8_utf16_and_cp1252_decode() -> None:
    text = "Lagertemperatur max. 80 °C \u2013 m³/h"
    assert decode_text(text.encode("utf-8")) == text
    assert decode_text(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert decode_text(text.encode("utf-16")) == text
    assert decode_text(text.encode("cp1252")) == text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"Pump \x81\x8d\x8f\x90\x9d data", UNDECODABLE),  # bytes cp1252 leaves undefined
        (bytes(range(0xC0, 0xFF)) * 3, UNDECODABLE),  # decodes as cp1252, but as noise
        (b"\xff\xfe\x00\xd8\x41\x00", f"{UNDECODABLE} (nor as UTF-16"),
        (b"ELF\x00\x01\x02", BINARY),
        (bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15]) * 20, BINARY),
    ],
)
def test_what_is_not_text_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UndecodableText) as caught:
        decode_text(data)
    assert str(caught.value).startswith(reason)


def test_separator_rules() -> None:
    assert sniff_separator(["a;b;c", "1,5;2;3"]) == ";"  # decimal commas
    assert sniff_separator(["a,b;c", "1,2;3"]) == ";"  # ';' wins over ','
    assert sniff_separator(["a,b,c", "1,2,3"]) == ","
    assert sniff_separator(["a\tb|c|d", "1\t2|3|4"]) == "|"  # the wider split
    assert sniff_separator(["", "a\tb", "  ", "1\t2"]) == "\t"  # blank lines do not count
    assert sniff_separator(["tag,unit", 'TT-1,°C,"extra, quoted"', "PT-2"]) == ","  # ragged
    assert sniff_separator(["one column", "1"]) is None
    assert sniff_separator(["", " "]) is None
