"""Tests of coolpapers.taxonomy: data, canonical ids and list specs."""

from __future__ import annotations

import pytest

from coolpapers import taxonomy as tx
from coolpapers.errors import BadSpec, UnknownCategory

ALIAS_PAIRS = [
    ("math.MP", "math-ph"),
    ("stat.TH", "math.ST"),
    ("math.IT", "cs.IT"),
    ("q-fin.EC", "econ.GN"),
    ("cs.SY", "eess.SY"),
    ("cs.NA", "math.NA"),
]

ARCHIVE_ORDER = [
    "astro-ph",
    "cond-mat",
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math-ph",
    "nlin",
    "nucl-ex",
    "nucl-th",
    "physics",
    "quant-ph",
    "math",
    "cs",
    "q-bio",
    "q-fin",
    "stat",
    "eess",
    "econ",
]

SINGLE_CATEGORY_ARCHIVES = [
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math-ph",
    "nucl-ex",
    "nucl-th",
    "quant-ph",
]


# ---- data ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cat", "name"),
    [
        ("cs.AI", "Artificial Intelligence"),
        ("cs.IR", "Information Retrieval"),
        ("cs.CL", "Computation and Language"),
        ("hep-th", "High Energy Physics - Theory"),
        ("math.NA", "Numerical Analysis"),
        ("cs.NA", "Numerical Analysis"),
        ("cond-mat.str-el", "Strongly Correlated Electrons"),
        ("physics.data-an", "Data Analysis, Statistics and Probability"),
        ("q-fin.EC", "Economics"),
        ("econ.GN", "General Economics"),
        ("eess.SY", "Systems and Control"),
        ("astro-ph.CO", "Cosmology and Nongalactic Astrophysics"),
        ("cs", "Computer Science"),
        ("astro-ph", "Astrophysics"),
        ("cmp-lg", "Computation and Language"),
        ("CS.ai", "Artificial Intelligence"),
    ],
)
def test_category_name(cat: str, name: str) -> None:
    assert tx.category_name(cat) == name


def test_category_name_unknown_is_the_id() -> None:
    assert tx.category_name("cs.XX") == "cs.XX"
    assert tx.category_name("") == ""


def test_archives_in_display_order_with_names() -> None:
    archives = tx.archives()
    assert [a.id for a in archives] == ARCHIVE_ORDER
    names = {a.id: a.name for a in archives}
    assert names["cs"] == "Computer Science"
    assert names["astro-ph"] == "Astrophysics"
    assert names["cond-mat"] == "Condensed Matter"
    assert names["nlin"] == "Nonlinear Sciences"
    assert names["q-fin"] == "Quantitative Finance"
    assert names["eess"] == "Electrical Engineering and Systems Science"
    assert names["hep-th"] == "High Energy Physics - Theory"


def test_groups_in_order_and_cover_all_archives() -> None:
    groups = tx.groups()
    assert [g for g, _ in groups] == [
        "Physics",
        "Mathematics",
        "Computer Science",
        "Quantitative Biology",
        "Quantitative Finance",
        "Statistics",
        "Electrical Engineering and Systems Science",
        "Economics",
    ]
    flat = [a for _, archives in groups for a in archives]
    assert tuple(flat) == tx.archives()
    for group, archives in groups:
        assert archives, group
        assert all(a.group == group for a in archives)


@pytest.mark.parametrize("archive", SINGLE_CATEGORY_ARCHIVES)
def test_single_category_archives(archive: str) -> None:
    (record,) = (a for a in tx.archives() if a.id == archive)
    assert record.categories == (archive,)
    assert tx.is_archive(archive)
    assert tx.is_category(archive)


def test_category_order_and_contents() -> None:
    cs = next(a for a in tx.archives() if a.id == "cs")
    assert cs.categories[0] == "cs.AI"
    assert cs.categories[-1] == "cs.SY"
    assert list(cs.categories) == sorted(cs.categories)
    assert len(cs.categories) == 40
    assert "cs.NA" in cs.categories  # arXiv lists aliases under their own archive
    counts = {a.id: len(a.categories) for a in tx.archives()}
    assert counts["math"] == 32
    assert counts["physics"] == 22
    assert counts["astro-ph"] == 6
    assert counts["cond-mat"] == 9
    assert counts["q-bio"] == 10
    assert counts["q-fin"] == 9
    assert counts["stat"] == 6
    assert counts["eess"] == 4
    assert counts["econ"] == 3
    assert counts["nlin"] == 5


def test_every_archive_category_exists_and_belongs_to_it() -> None:
    for archive in tx.archives():
        assert len(set(archive.categories)) == len(archive.categories)
        for cat in archive.categories:
            record = tx.category(cat)
            assert record is not None, cat
            assert record.id == cat
            assert record.archive == archive.id
            assert tx.archive_of(cat) == archive.id
            assert record.name
            if archive.id not in SINGLE_CATEGORY_ARCHIVES:
                assert cat.startswith(archive.id + ".")


def test_every_alias_and_subsumed_target_exists() -> None:
    for alias, target in tx.ALIASES.items():
        assert tx.category(alias) is not None
        assert tx.is_category(target)
        assert target not in tx.ALIASES
    for old, target in tx.SUBSUMED_ARCHIVES.items():
        assert tx.is_category(target), old
        assert not tx.is_archive(old)


def test_ids_unique_ignoring_case() -> None:
    ids = [c for a in tx.archives() for c in a.categories]
    ids += [a.id for a in tx.archives() if a.id not in SINGLE_CATEGORY_ARCHIVES]
    ids += list(tx.SUBSUMED_ARCHIVES)
    assert len({i.lower() for i in ids}) == len(ids)


def test_all_categories_are_canonical() -> None:
    cats = tx.all_categories()
    assert "cs.AI" in cats and "math.NA" in cats and "hep-th" in cats
    assert not set(cats) & set(tx.ALIASES)
    assert all(tx.canonical(c) == c for c in cats)
    assert len(set(cats)) == len(cats)


# ---- canonical ids -------------------------------------------------------------------------


@pytest.mark.parametrize(("alias", "target"), ALIAS_PAIRS)
def test_aliases_both_directions(alias: str, target: str) -> None:
    assert tx.canonical(alias) == target
    assert tx.canonical(target) == target
    assert tx.canonical(alias.lower()) == target
    assert tx.canonical(alias.upper()) == target
    assert tx.canonical_categories([alias]) == (target,)
    assert tx.canonical_categories([target, alias]) == (target,)
    assert tx.canonical_categories([alias, target]) == (target,)
    assert tx.expand(alias) == frozenset({target})
    assert tx.parse_spec(alias).include == (target,)
    assert tx.parse_spec(f"{target}+{alias}").include == (target,)
    assert tx.category_name(alias) == tx.category_name(target) or alias == "q-fin.EC"


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("cs.ai", "cs.AI"),
        ("CS.AI", "cs.AI"),
        ("cs.AI", "cs.AI"),
        (" cs.AI ", "cs.AI"),
        ("CS", "cs"),
        ("cs", "cs"),
        ("HEP-TH", "hep-th"),
        ("Cond-Mat.Str-El", "cond-mat.str-el"),
        ("physics.OPTICS", "physics.optics"),
        ("math.mp", "math-ph"),
        ("cmp-lg", "cs.CL"),
        ("CHAO-DYN", "nlin.CD"),
        ("bayes-an", "physics.data-an"),
        ("mtrl-th", "cond-mat.mtrl-sci"),
        ("astro-ph", "astro-ph"),
        ("math-ph", "math-ph"),
    ],
)
def test_canonical(term: str, expected: str) -> None:
    assert tx.canonical(term) == expected


@pytest.mark.parametrize("term", ["cs.XX", "", "cs.", "hep", "test", "2401.00001", "cs.AI-cs.LG"])
def test_canonical_unknown(term: str) -> None:
    assert tx.canonical(term) is None


@pytest.mark.parametrize(("old", "target"), list(tx.SUBSUMED_ARCHIVES.items()))
def test_subsumed_archives(old: str, target: str) -> None:
    assert tx.canonical(old) == target
    assert tx.parse_spec(old).include == (target,)


def test_canonical_categories_order_and_dedup() -> None:
    got = tx.canonical_categories(["cs.NA", "cs.LG", "math.NA", "stat.ML", "CS.lg", "x.YY", "x.YY"])
    assert got == ("math.NA", "cs.LG", "stat.ML", "x.YY")
    assert tx.canonical_categories([]) == ()
    assert tx.canonical_categories(iter(["cs.SY", "eess.SY", "cs.AI"])) == ("eess.SY", "cs.AI")


def test_is_archive_and_is_category() -> None:
    assert tx.is_archive("cs") and not tx.is_category("cs")
    assert tx.is_archive("CS")
    assert tx.is_category("cs.AI") and not tx.is_archive("cs.AI")
    assert tx.is_category("cs.NA")  # alias of math.NA
    assert tx.is_archive("hep-th") and tx.is_category("hep-th")
    assert tx.is_archive("math-ph") and tx.is_category("math-ph")
    assert not tx.is_archive("cs.XX") and not tx.is_category("cs.XX")
    assert not tx.is_archive("cmp-lg") and tx.is_category("cmp-lg")


def test_archive_of() -> None:
    assert tx.archive_of("cs.AI") == "cs"
    assert tx.archive_of("math.NA") == "math"
    assert tx.archive_of("cs.NA") == "cs"
    assert tx.archive_of("hep-th") == "hep-th"
    assert tx.archive_of("cond-mat.str-el") == "cond-mat"
    assert tx.archive_of("cs") == "cs"
    assert tx.archive_of("cmp-lg") == "cs"
    assert tx.archive_of("astro-ph") == "astro-ph"
    assert tx.archive_of("foo.BAR") == "foo"


def test_category_record() -> None:
    assert tx.category("cs.ai") == tx.Category("cs.AI", "Artificial Intelligence", "cs")
    assert tx.category("cs.NA") == tx.Category("cs.NA", "Numerical Analysis", "cs")
    assert tx.category("cmp-lg") == tx.Category("cs.CL", "Computation and Language", "cs")
    assert tx.category("cs") is None
    assert tx.category("cs.XX") is None


# ---- expand --------------------------------------------------------------------------------


def test_expand_category() -> None:
    assert tx.expand("cs.AI") == frozenset({"cs.AI"})
    assert tx.expand("cs.ai") == frozenset({"cs.AI"})
    assert tx.expand("cond-mat.str-el") == frozenset({"cond-mat.str-el"})


def test_expand_archives() -> None:
    cs = tx.expand("cs")
    assert len(cs) == 40
    assert {"cs.AI", "cs.LG", "cs.CL", "cs.IR"} <= cs
    assert "math.NA" in cs and "eess.SY" in cs  # cs.NA / cs.SY mapped to canonical
    assert "cs.NA" not in cs and "cs.SY" not in cs
    math = tx.expand("math")
    assert {"math-ph", "cs.IT", "math.ST"} <= math
    assert "math.MP" not in math
    assert tx.expand("stat") == frozenset(
        {"stat.AP", "stat.CO", "stat.ME", "stat.ML", "stat.OT", "math.ST"}
    )
    assert "econ.GN" in tx.expand("q-fin")
    assert tx.expand("econ") == frozenset({"econ.EM", "econ.GN", "econ.TH"})
    assert tx.expand("cond-mat") == frozenset(
        c for c in tx.all_categories() if c.startswith("cond-mat.")
    )


@pytest.mark.parametrize("archive", SINGLE_CATEGORY_ARCHIVES)
def test_expand_archive_that_is_a_category(archive: str) -> None:
    assert tx.expand(archive) == frozenset({archive})
    assert tx.expand(archive.upper()) == frozenset({archive})


def test_expand_covers_every_canonical_category_once() -> None:
    union: set[str] = set()
    for archive in tx.archives():
        union |= tx.expand(archive.id)
    assert union == set(tx.all_categories())


def test_expand_unknown() -> None:
    with pytest.raises(UnknownCategory, match="'cs.XX'"):
        tx.expand("cs.XX")


# ---- specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "include", "exclude", "canonical_text"),
    [
        ("cs.AI", ("cs.AI",), (), "cs.AI"),
        (
            "cs.AI,cs.CL,cs.CV,cs.LG",
            ("cs.AI", "cs.CL", "cs.CV", "cs.LG"),
            (),
            "cs.AI,cs.CL,cs.CV,cs.LG",
        ),
        (
            "cs.AI+cs.LG-cs.CY-econ.GN",
            ("cs.AI", "cs.LG"),
            ("cs.CY", "econ.GN"),
            "cs.AI,cs.LG-cs.CY-econ.GN",
        ),
        ("cs", ("cs",), (), "cs"),
        ("math", ("math",), (), "math"),
        ("hep-th", ("hep-th",), (), "hep-th"),
        ("cond-mat.str-el", ("cond-mat.str-el",), (), "cond-mat.str-el"),
        ("cs.AI-hep-th", ("cs.AI",), ("hep-th",), "cs.AI-hep-th"),
        ("hep-th-hep-ph", ("hep-th",), ("hep-ph",), "hep-th-hep-ph"),
        ("math-ph-math.MP", ("math-ph",), ("math-ph",), "math-ph-math-ph"),
        ("cond-mat-cond-mat.str-el", ("cond-mat",), ("cond-mat.str-el",), None),
        ("cs-cs.AI-q-fin.EC", ("cs",), ("cs.AI", "econ.GN"), "cs-cs.AI-econ.GN"),
        ("cs.AI-cs.CY+cs.LG", ("cs.AI", "cs.LG"), ("cs.CY",), "cs.AI,cs.LG-cs.CY"),
        (" cs.AI , cs.LG - cs.CY ", ("cs.AI", "cs.LG"), ("cs.CY",), "cs.AI,cs.LG-cs.CY"),
        ("CS.ai+cs.lg", ("cs.AI", "cs.LG"), (), "cs.AI,cs.LG"),
        ("cs.NA,math.NA", ("math.NA",), (), "math.NA"),
        ("cs.LG,cs.AI,cs.LG", ("cs.LG", "cs.AI"), (), "cs.LG,cs.AI"),
        ("cs.AI-cs.CY-cs.CY", ("cs.AI",), ("cs.CY",), "cs.AI-cs.CY"),
        ("cmp-lg", ("cs.CL",), (), "cs.CL"),
        ("math-physics", ("math",), ("physics",), "math-physics"),
    ],
)
def test_parse_spec(
    text: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    canonical_text: str | None,
) -> None:
    spec = tx.parse_spec(text)
    assert spec.include == include
    assert spec.exclude == exclude
    if canonical_text is not None:
        assert spec.text() == canonical_text
    assert tx.parse_spec(spec.text()) == spec  # the canonical form reads back


def test_spec_categories_and_excluded() -> None:
    spec = tx.parse_spec("cs.AI+cs.LG-cs.CY-econ.GN")
    assert spec.categories() == frozenset({"cs.AI", "cs.LG"})
    assert spec.excluded() == frozenset({"cs.CY", "econ.GN"})
    spec = tx.parse_spec("cs-cs.AI-hep-th")
    assert spec.categories() == tx.expand("cs")
    assert spec.excluded() == frozenset({"cs.AI", "hep-th"})
    assert tx.parse_spec("hep-th,gr-qc").categories() == frozenset({"hep-th", "gr-qc"})
    assert tx.parse_spec("cs.AI").excluded() == frozenset()


def test_spec_text_format() -> None:
    assert tx.Spec(("cs.AI", "cs.LG"), ("cs.CY",)).text() == "cs.AI,cs.LG-cs.CY"
    assert tx.Spec(("cs",), ()).text() == "cs"


def test_spec_max_terms() -> None:
    cats = list(tx.all_categories())[: tx.MAX_SPEC_TERMS]
    assert len(tx.parse_spec(",".join(cats)).include) == tx.MAX_SPEC_TERMS
    more = list(tx.all_categories())[: tx.MAX_SPEC_TERMS + 1]
    with pytest.raises(BadSpec, match="too many terms"):
        tx.parse_spec(",".join(more))
    with pytest.raises(BadSpec, match="too many terms"):
        tx.parse_spec("cs" + "-cs.AI" * tx.MAX_SPEC_TERMS)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("cs.XX", "'cs.XX'"),
        ("cs.AI,cs.XX", "'cs.XX'"),
        ("cs.AI+cs.LG-cs.XX", "'cs.XX'"),
        ("cs.XX-hep-th", "'cs.XX'"),
        ("cs.AI-foo-bar", "'foo-bar'"),
        ("cs.AI-hep-xx", "'hep-xx'"),
        ("cond-mat.str-xx", "'cond-mat.str-xx'"),
        ("hep", "'hep'"),
        ("cs.AI cs.LG", "'cs.AI cs.LG'"),
        ("test", "'test'"),
        ("cs.AI-cs.CY/x", "'cs.CY/x'"),
    ],
)
def test_parse_spec_unknown(text: str, part: str) -> None:
    with pytest.raises(UnknownCategory) as info:
        tx.parse_spec(text)
    assert str(info.value) == f"unknown category or archive {part}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty spec"),
        ("   ", "empty spec"),
        ("cs.AI,,", "empty term in spec 'cs.AI,,'"),
        ("cs.AI,", "empty term in spec 'cs.AI,'"),
        (",cs.AI", "empty term in spec ',cs.AI'"),
        ("cs.AI++cs.LG", "empty term in spec 'cs.AI++cs.LG'"),
        ("cs.AI-", "'-' with nothing after it in spec 'cs.AI-'"),
        ("cs.AI - ", "'-' with nothing after it in spec 'cs.AI -'"),
        ("cs.AI--cs.CY", "empty term ('--') in spec 'cs.AI--cs.CY'"),
        ("-cs.AI", "a spec must start with a category or archive: '-cs.AI'"),
        ("-cs.AI-cs.LG", "a spec must start with a category or archive: '-cs.AI-cs.LG'"),
        ("cs.AI,-cs.CY", "empty term before '-cs.CY' in spec 'cs.AI,-cs.CY'"),
        ("2401.00001,2401.00002", "'2401.00001' is a paper id, not a category or archive"),
        ("2401.00001", "'2401.00001' is a paper id, not a category or archive"),
        ("cs.AI,2401.00001v2", "'2401.00001v2' is a paper id, not a category or archive"),
        ("hep-th/9901001", "'hep-th/9901001' is a paper id, not a category or archive"),
        ("1406.2661", "'1406.2661' is a paper id, not a category or archive"),
    ],
)
def test_parse_spec_bad_syntax(text: str, message: str) -> None:
    with pytest.raises(BadSpec) as info:
        tx.parse_spec(text)
    assert not isinstance(info.value, UnknownCategory)
    assert str(info.value) == message


def test_parse_spec_long_input_is_bounded() -> None:
    with pytest.raises(BadSpec, match="too long"):
        tx.parse_spec("cs.AI," * 1000)
    with pytest.raises(UnknownCategory) as info:
        tx.parse_spec("a-" * 900 + "a")
    assert "…" in str(info.value)  # the quoted part is shortened


def test_error_statuses() -> None:
    assert UnknownCategory.status_code == 404
    assert BadSpec.status_code == 400
