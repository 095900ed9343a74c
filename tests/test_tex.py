from __future__ import annotations

import random
import time

import pytest

from coolpapers.sources.tex import decode_tex_accents


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        (r"Hern\'andez", "Hernández"),
        (r"R\'{e}nyi", "Rényi"),
        (r"M\"uller", "Müller"),
        (r"\v{S}koda \c{c}a \ss{} \o{} \L{}ukasz", "Škoda ça ß ø Łukasz"),
        (r"{\"O}zt{\"u}rk", "Öztürk"),
        (
            r"Gr\'egoire Sergeant-Perthuis (CQSB, Sorbonne Universit\'e)",
            "Grégoire Sergeant-Perthuis (CQSB, Sorbonne Université)",
        ),
        (r"{\'e}", "é"),
        (r"\'{e}", "é"),
        (r"\"{o}", "ö"),
        (r"{\"o}", "ö"),
        (r"\`e", "è"),
        (r"H\'el\`ene", "Hélène"),
        (r"\^o", "ô"),
        (r"Huy\^en", "Huyên"),
        (r"\~n", "ñ"),
        (r"Espa\~{n}a", "España"),
        (r"\=a", "ā"),
        (r"\.z \.Z", "ż Ż"),
        (r"\u{g} \u g", "ğ ğ"),
        (r"\v{s} \v s \v{C}", "š š Č"),
        (r"Erd\H{o}s", "Erdős"),
        (r"\c{c} \c c \c{S}", "ç ç Ş"),
        (r"\k{a} \k{e}", "ą ę"),
        (r"\r{a} \r{u}", "å ů"),
        (r"\d{s} \b{b}", "ṣ ḇ"),
        (r"\'{\i} \'\i{} \^{\i} \"{\i}", "í í î ï"),
        (r"Mart\'\i nez", "Martínez"),
        (r"Mart\'{\i}nez", "Martínez"),
        (r"\v{\j}", "ǰ"),
        (r"Bar{\i}\c{s} Akg\"un", "Barış Akgün"),
        (r"\"Omer Veysel \c{C}a\u{g}atan", "Ömer Veysel Çağatan"),
        (r"Wei{\ss}enfels", "Weißenfels"),
        (r"Kolst{\o}", "Kolstø"),
        (r"\o \O \l \L \ae \AE \oe \OE \aa \AA \i \j \ss", "øØłŁæÆœŒåÅıȷß"),
        (r"\o{} \O{} \l{} \L{} \ae{} \AE{} \oe{} \OE{} \aa{} \AA{}", "ø Ø ł Ł æ Æ œ Œ å Å"),
        (r"{\o} {\O} {\l} {\ae} {\aa} {\AA} {\ss} {\i}", "ø Ø ł æ å Å ß ı"),
        (r"Gro\ss e", "Große"),
        (r"\AA ngstr\"om", "Ångström"),
        (r"Sch\"{o}nlieb {\"U}ber", "Schönlieb Über"),
        (r"{\'{e}}", "é"),
        (r"{\o x}", "{øx}"),  # TeX: a control word swallows the following space
    ],
)
def test_decodes(tex: str, expected: str) -> None:
    assert decode_tex_accents(tex) == expected


@pytest.mark.parametrize(
    "text",
    [
        "approximately 10% points higher",
        "10% of the data % and more",
        r"$\"a + \'b$",
        r"$$\"a$$",
        r"\(\'e\) and \[\"o\]",
        r"$\Lambda_{\alpha}$ and $\mathcal{O}(n)$",
        r"$TCP_\alpha$: Margin-Controlled",
        r"a~b \% \$ \& \\ \{ \}",
        r"\textit{word} \emph{x} \mu {\mu} \omega \aleph \ldots",
        r"\'{} \"{} \v{} \'1 \u{12}",
        r"\d+ \b x \r",  # regex-like text, not accents
        r"C:\\path",
        "plain text without macros",
        "",
        "\\",
        "trailing \\'",
        r"\'",
        "{",
        r"{\alpha}",
    ],
)
def test_leaves_alone(text: str) -> None:
    assert decode_tex_accents(text) == text


def test_math_is_untouched_but_text_around_it_is_decoded() -> None:
    assert decode_tex_accents(r"R\'enyi $\"a_{\'b}$ M\"uller") == r"Rényi $\"a_{\'b}$ Müller"
    assert decode_tex_accents(r"costs \$5 for Caf\'e") == r"costs \$5 for Café"
    # An unclosed "$" is a literal dollar; what follows is still text.
    assert decode_tex_accents(r"$5 for Caf\'e") == r"$5 for Café"


def test_percent_is_not_a_comment() -> None:
    assert decode_tex_accents(r"10% better than M\"uller") == "10% better than Müller"


def test_other_macros_keep_their_braces_but_accents_inside_are_decoded() -> None:
    assert decode_tex_accents(r"\textit{Caf\'e}") == r"\textit{Café}"
    assert decode_tex_accents(r"{M\"uller}") == "{Müller}"


def test_results_are_nfc() -> None:
    out = decode_tex_accents(r"\'e\"o\c{c}")
    assert out == "éöç"
    assert len(out) == 3


def test_random_input_never_raises() -> None:
    rng = random.Random(20260821)
    pieces = list("\\{}$()[]'\"`^~=.uvHckrdbiojlLsaeAOE %,\n\t") + [
        "\\'",
        "\\v",
        "\\i",
        "{\\",
        "$$",
        "\\(",
        "\\)",
        "\\ss",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        out = decode_tex_accents(text)
        if "\\" not in text:
            assert out == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("\\(" * 20000, id="unclosed-parens"),
        pytest.param("$" * 40001, id="dollars"),
        pytest.param("\\'" * 20000, id="accents"),
        pytest.param("{\\" * 20000, id="brace-backslash"),
        pytest.param("\\(a$" * 10000, id="mixed"),
    ],
)
def test_pathological_input_is_linear(text: str) -> None:
    started = time.thread_time()  # CPU time: a busy machine does not count
    decode_tex_accents(text)
    assert time.thread_time() - started < 1.0
