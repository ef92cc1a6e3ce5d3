"""Secret values never come out of the masker, however the text is cut."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deployd.domain.masking import Masker, StreamMasker, secret_parts

SECRETS = {"STRIPE_KEY": "sk_live_abc123XYZ", "DB_PASSWORD": "hunter2-hunter2", "SHORT": "abc"}


def test_values_of_six_characters_or_more_are_masked_with_their_name() -> None:
    masker = Masker(SECRETS)
    out = masker.mask("charging with sk_live_abc123XYZ as abc, pw=hunter2-hunter2!")
    assert out == "charging with [masked:STRIPE_KEY] as abc, pw=[masked:DB_PASSWORD]!"


def test_a_secret_containing_another_is_masked_whole() -> None:
    masker = Masker({"INNER": "secret", "OUTER": "my-secret-value"})
    assert masker.mask("x my-secret-value y secret") == "x [masked:OUTER] y [masked:INNER]"


def test_each_line_of_a_multi_line_value_is_a_secret_too() -> None:
    pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    masker = Masker({"TLS_KEY": pem})
    assert masker.mask("line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == "line: [masked:TLS_KEY]"
    assert "MIIEv" not in masker.mask(pem)


def test_no_secrets_returns_the_same_object() -> None:
    text = "nothing to see"
    assert Masker({}).mask(text) is text
    assert Masker(SECRETS).mask(text) is text


def test_event_data_is_masked_all_the_way_down() -> None:
    masker = Masker(SECRETS)
    data = {
        "last_lines": ["ok", "key sk_live_abc123XYZ"],
        "n": 3,
        "nested": {"e": "hunter2-hunter2"},
    }
    assert masker.mask_data(data) == {
        "last_lines": ["ok", "key [masked:STRIPE_KEY]"],
        "n": 3,
        "nested": {"e": "[masked:DB_PASSWORD]"},
    }


def test_union_masks_what_each_part_masks() -> None:
    merged = Masker.union([Masker({"A": "aaaaaaa1"}), Masker({"B": "bbbbbbb2"})])
    assert merged.mask("aaaaaaa1 bbbbbbb2") == "[masked:A] [masked:B]"


def test_secret_parts_skip_short_values_and_short_lines() -> None:
    assert set(secret_parts([("A", "12345"), ("B", "123456"), ("C", "ab\nlonger-line")])) == {
        b"123456",
        b"ab\nlonger-line",
        b"longer-line",
    }


def _stream(masker: Masker, chunks: list[bytes]) -> bytes:
    stream = StreamMasker(masker)
    return b"".join(stream.feed(c) for c in chunks) + stream.flush()


def test_a_secret_split_across_two_chunks_is_masked() -> None:
    masker = Masker(SECRETS)
    out = _stream(masker, [b"key=sk_live_ab", b"c123XYZ done\n"])
    assert out == b"key=[masked:STRIPE_KEY] done\n"


def test_ordinary_output_is_not_held_back() -> None:
    stream = StreamMasker(Masker(SECRETS))
    assert stream.feed(b"listening on port 8000\n") == b"listening on port 8000\n"
    assert not stream.pending
    assert stream.feed(b"partial sk_li") == b"partial "
    assert stream.pending


@given(
    st.lists(
        st.sampled_from(["sk_live_abc123XYZ", "hunter2-hunter2", "x", "sk_", "hunter", " ", "\n"]),
        max_size=30,
    ),
    st.lists(st.integers(min_value=0, max_value=200), max_size=10),
)
def test_any_cut_of_any_stream_masks_like_the_whole_text(parts: list[str], cuts: list[int]) -> None:
    masker = Masker(SECRETS)
    data = "".join(parts).encode()
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    out = _stream(masker, chunks)
    assert out == masker.mask_bytes(data)
    assert b"sk_live_abc123XYZ" not in out and b"hunter2-hunter2" not in out
