"""The catalogue against an independent encoding of the provider's contract (docs/provider-contract.md).

CONTRACT below is written from that page's tables, not read from bot.core.catalogue, so a typo in the
catalogue's data shows up as a disagreement instead of being copied into the expectation.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.catalogue import (
    MAX_PROMPT_CHARS,
    Catalogue,
    CatalogueError,
    InvalidRequest,
    ModelSpec,
    VideoRequest,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "models.example.toml"


@dataclass(frozen=True)
class Contract:
    durations: frozenset[int]
    duration_words: tuple[str, ...]  # what a refusal must name
    send_duration: bool
    ratios: frozenset[str]
    resolutions: frozenset[str]
    max_images: int
    base64_ok: bool
    label: str


CONTRACT: dict[str, Contract] = {
    "grok_video3": Contract(
        frozenset(range(6, 31)),
        ("6", "30"),
        True,
        frozenset({"16:9", "9:16", "1:1", "3:2", "2:3"}),
        frozenset({"480p", "720p"}),
        7,
        True,
        "Grok Video 3",
    ),
    # "supported (no count given)": the catalogue assumes 7, and the contract names no URL restriction.
    "grok_video3_pro": Contract(
        frozenset({10}),
        ("10",),
        False,
        frozenset({"16:9"}),
        frozenset({"720p"}),
        7,
        True,
        "Grok Video 3 Pro",
    ),
    "grok_video3_max": Contract(
        frozenset({6, 10, 12, 16, 20, 30}),
        ("6", "10", "12", "16", "20", "30"),
        True,
        frozenset({"16:9", "9:16", "1:1"}),
        frozenset({"480p", "720p"}),
        5,
        False,
        "Grok Video 3 Max",
    ),
    "grok_video3_stable": Contract(
        frozenset({6, 10}),
        ("6", "10"),
        True,
        frozenset({"16:9", "9:16", "3:2", "2:3", "1:1"}),
        frozenset({"480p", "720p"}),
        7,
        False,
        "Grok Video 3 Stable",
    ),
}
ALL_RATIOS = ("16:9", "9:16", "1:1", "3:2", "2:3", "4:3", "21:9")
ALL_RESOLUTIONS = ("480p", "720p", "1080p")
WEB = "https://cdn.example.com/ref{}.png"
DATA = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAE{}"

_token_cache: dict[str, re.Pattern[str]] = {}


def names(message: str, word: str) -> bool:
    """`word` appears as a value of its own, so "6" is not found inside "16:9" or "720p"."""
    pattern = _token_cache.get(word)
    if pattern is None:
        pattern = _token_cache[word] = re.compile(rf"(?<![\w:/]){re.escape(word)}(?![\w:])")
    return pattern.search(message) is not None


def expected_refusals(
    model: str, duration: int | None, ratio: str | None, resolution: str | None, images: int, kind: str
) -> list[tuple[str, ...]]:
    """For each broken rule, the words its message must contain (the allowed values, from CONTRACT)."""
    c = CONTRACT[model]
    out: list[tuple[str, ...]] = []
    if duration is not None and duration not in c.durations:
        out.append(c.duration_words + (("leave duration empty",) if not c.send_duration else ("seconds",)))
    if ratio is not None and ratio not in c.ratios:
        out.append(tuple(c.ratios))
    if resolution is not None and resolution not in c.resolutions:
        out.append(tuple(c.resolutions))
    if images > c.max_images:
        out.append(("up to", str(c.max_images), str(images)))
    if images and kind == "data" and not c.base64_ok:
        out.append(("public links", "data:"))
    return out


def check_body(
    body: dict[str, Any],
    model: str,
    prompt: str,
    duration: int | None,
    ratio: str | None,
    resolution: str | None,
    images: tuple[str, ...],
) -> None:
    c = CONTRACT[model]
    expected: dict[str, Any] = {"model": model, "prompt": prompt.strip()}
    if c.send_duration:
        expected["duration"] = 10 if duration is None else duration
    expected["aspect_ratio"] = ratio or "16:9"
    expected["resolution"] = resolution or "720p"
    if images:
        expected["image_urls"] = list(images)
    assert body == expected


TABLE_CASES = len(CONTRACT) * 42 * (len(ALL_RATIOS) + 1) * (len(ALL_RESOLUTIONS) + 1) * 9 * 2


def test_every_cell_of_the_contract_tables() -> None:
    catalogue = Catalogue.default()
    cases = accepted = 0
    failures: list[str] = []
    image_sets = {
        (n, kind): tuple((WEB if kind == "url" else DATA).format(i) for i in range(n))
        for n in range(9)
        for kind in ("url", "data")
    }
    for model, duration, ratio, resolution, count, kind in itertools.product(
        CONTRACT,
        [None, *range(41)],
        [None, *ALL_RATIOS],
        [None, *ALL_RESOLUTIONS],
        range(9),
        ("url", "data"),
    ):
        cases += 1
        images = image_sets[count, kind]
        request = VideoRequest(model, "  a red fox runs through snow  ", duration, ratio, resolution, images)
        problems = catalogue.validate(request)
        wanted = expected_refusals(model, duration, ratio, resolution, count, kind)
        label = f"{model} d={duration} ar={ratio} res={resolution} images={count}x{kind}"
        if len(problems) != len(wanted):
            failures.append(f"{label}: expected {len(wanted)} problems, got {problems}")
            continue
        for words in wanted:
            if not any(all(names(p, w) for w in words) for p in problems):
                failures.append(f"{label}: no message names {words}: {problems}")
        if not wanted:
            accepted += 1
            check_body(
                catalogue.build_body(request), model, request.prompt, duration, ratio, resolution, images
            )
        else:
            try:
                catalogue.build_body(request)
                failures.append(f"{label}: build_body did not refuse")
            except InvalidRequest as refused:
                if refused.problems != problems:
                    failures.append(f"{label}: build_body refused with {refused.problems}")
    print(f"contract table: {cases} cases, {accepted} accepted, {cases - accepted} refused")
    assert cases == TABLE_CASES == 96_768
    assert not failures, "\n".join(failures[:20])
    # 4 models' own accepted cells: durations+None × ratios+None × resolutions+None × image counts × kinds
    assert accepted == sum(
        (len(c.durations) + 1)
        * (len(c.ratios) + 1)
        * (len(c.resolutions) + 1)
        * (2 + c.max_images * (2 if c.base64_ok else 1))  # no images: both kinds alike
        for c in CONTRACT.values()
    )


# ---- property: validate() accepts exactly what the contract allows ----------------------------------------

LABELLED_URLS: tuple[tuple[str, str], ...] = (
    ("https://cdn.discordapp.com/attachments/1/2/fox.png?ex=1", "web"),
    ("http://example.com/b.jpg", "web"),
    ("HTTPS://EXAMPLE.COM/C.PNG", "web"),
    ("data:image/png;base64,iVBORw0KGgo=", "data"),
    ("data:image/jpeg;base64,/9j/4AAQSkZJRg==", "data"),
    ("DATA:IMAGE/WEBP;BASE64,UklGR", "data"),
    ("ftp://example.com/a.png", "bad"),
    ("example.com/a.png", "bad"),
    ("https://", "bad"),
    ("", "bad"),
    ("data:text/plain;base64,SGVsbG8=", "bad"),
    ("data:image/png;base64,", "bad"),
    ("javascript:alert(1)", "bad"),
    ("https://exa mple.com/a.png", "bad"),
    ("file:///etc/passwd", "bad"),
)

prompts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "\n\t ", "\u3000", "\u200b\u200d", "\u202e\u2066 \u2800", "\u3164\ufeff", "a\u200b"]
    ),
    st.integers(MAX_PROMPT_CHARS - 3, MAX_PROMPT_CHARS + 3).map(lambda n: "  " + "x" * n + "\n"),
)
models = st.sampled_from([*CONTRACT, "grok_video4", "", "GROK_VIDEO3", "grok_video3 "])
durations = st.one_of(st.none(), st.integers(-3, 45), st.integers())
ratios = st.one_of(st.none(), st.sampled_from(ALL_RATIOS), st.text(max_size=8))
resolutions = st.one_of(st.none(), st.sampled_from(ALL_RESOLUTIONS), st.text(max_size=8))
images = st.lists(st.sampled_from(LABELLED_URLS), max_size=9)


# Characters that draw nothing: Unicode's control, format, surrogate, unassigned and separator categories,
# and the blank "letters" used to fake an empty message.
BLANK_LETTERS = {"\u2800", "\u3164", "\u115f", "\u1160", "\uffa0", "\u17b4", "\u17b5", "\u034f"}


def shows_nothing(text: str) -> bool:
    return all(
        ch in BLANK_LETTERS
        or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Cn")
        or unicodedata.category(ch)[0] == "Z"
        for ch in text
    )


def oracle_problem_count(
    model: str,
    prompt: str,
    duration: int | None,
    ratio: str | None,
    resolution: str | None,
    labelled: list[tuple[str, str]],
) -> int:
    c = CONTRACT.get(model)
    kinds = [kind for _, kind in labelled]
    count = int(c is None)
    trimmed = prompt.strip()
    count += int(shows_nothing(trimmed) or len(trimmed) > MAX_PROMPT_CHARS)
    if c is not None:
        count += int(duration is not None and duration not in c.durations)
        count += int(ratio is not None and ratio not in c.ratios)
        count += int(resolution is not None and resolution not in c.resolutions)
        count += int(len(kinds) > c.max_images)
        count += int(not c.base64_ok and "data" in kinds)
    count += int("bad" in kinds)
    return count


@settings(max_examples=400, deadline=None)
@given(models, prompts, durations, ratios, resolutions, images)
def test_validate_accepts_exactly_what_the_contract_allows(
    model: str,
    prompt: str,
    duration: int | None,
    ratio: str | None,
    resolution: str | None,
    labelled: list[tuple[str, str]],
) -> None:
    catalogue = Catalogue.default()
    urls = tuple(url for url, _ in labelled)
    request = VideoRequest(model, prompt, duration, ratio, resolution, urls)
    problems = catalogue.validate(request)
    assert len(problems) == oracle_problem_count(model, prompt, duration, ratio, resolution, labelled)
    assert all(len(p) < 300 for p in problems)
    if problems:
        with pytest.raises(InvalidRequest):
            catalogue.build_body(request)
        return
    body = catalogue.build_body(request)
    check_body(body, model, prompt, duration, ratio, resolution, urls)
    assert body["prompt"] == body["prompt"].strip() and body["prompt"]
    assert ("duration" in body) == (model != "grok_video3_pro")
    assert ("image_urls" in body) == bool(urls)


# ---- messages ---------------------------------------------------------------------------------------------

INTERNALS = (
    "None",
    "VideoRequest",
    "ModelSpec",
    "image_urls",
    "aspect_ratio",
    "send_duration",
    "max_images",
    "public_urls_only",
    "billing",
    "Traceback",
    "Error",
    "Exception",
    "self",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\n",
)


def assert_member_friendly(problems: list[str]) -> None:
    for p in problems:
        assert len(p) < 300, p
        assert p[0].isupper() or p.startswith("grok_"), p
        assert p.endswith("."), p
        for word in INTERNALS:
            assert word not in p, (word, p)


def test_three_problems_give_three_messages() -> None:
    problems = Catalogue.default().validate(
        VideoRequest("grok_video3_max", "a fox", duration=8, aspect_ratio="3:2", resolution="1080p")
    )
    assert problems == [
        "grok_video3_max takes 6, 10, 12, 16, 20 or 30 seconds (you asked for 8).",
        "grok_video3_max makes 16:9, 9:16 or 1:1 videos (you asked for “3:2”).",
        "grok_video3_max makes 480p or 720p videos (you asked for “1080p”).",
    ]
    assert_member_friendly(problems)


def test_everything_wrong_at_once() -> None:
    urls = (DATA.format(1),) * 5 + ("ftp://x/y.png", "not a link")
    problems = Catalogue.default().validate(
        VideoRequest(
            "grok_video3_stable", "   ", duration=0, aspect_ratio="4:3", resolution="1080p", image_urls=urls
        )
    )
    assert problems == [
        "Please describe the video you want: the prompt is empty.",
        "grok_video3_stable takes 6 or 10 seconds (you asked for 0).",
        "grok_video3_stable makes 16:9, 9:16, 3:2, 2:3 or 1:1 videos (you asked for “4:3”).",
        "grok_video3_stable makes 480p or 720p videos (you asked for “1080p”).",
        "grok_video3_stable needs images as public links, not embedded (data:) images.",
        "Images 6 and 7 are not usable images; please send images as links starting with http:// or https://.",
    ]
    assert_member_friendly(problems)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            VideoRequest("grok_video3_pro", "x", duration=6),
            "grok_video3_pro always makes 10-second videos; leave duration empty.",
        ),
        (
            VideoRequest("grok_video3_pro", "x", aspect_ratio="9:16"),
            "grok_video3_pro only makes 16:9 videos (you asked for “9:16”).",
        ),
        (
            VideoRequest("grok_video3_pro", "x", resolution="480p"),
            "grok_video3_pro only makes 720p videos (you asked for “480p”).",
        ),
        (
            VideoRequest("grok_video3", "x", duration=31),
            "grok_video3 takes any whole number of seconds from 6 to 30 (you asked for 31).",
        ),
        (
            VideoRequest("grok_video3", "x", duration=-5),
            "grok_video3 takes any whole number of seconds from 6 to 30 (you asked for -5).",
        ),
        (
            VideoRequest("grok_video3_max", "x", image_urls=(WEB,) * 6),
            "grok_video3_max takes up to 5 images (you gave 6).",
        ),
        (
            VideoRequest("grok_video3_stable", "x", image_urls=(DATA,)),
            "grok_video3_stable needs images as public links, not embedded (data:) images.",
        ),
        (
            VideoRequest("grok_video9", "x"),
            "There is no model called “grok_video9”. Choose one of: grok_video3, grok_video3_pro, grok_video3_max "
            "or grok_video3_stable.",
        ),
        (
            VideoRequest("", "x"),
            "Please choose a model: grok_video3, grok_video3_pro, grok_video3_max or grok_video3_stable.",
        ),
        (
            VideoRequest("grok_video3", "y" * (MAX_PROMPT_CHARS + 1)),
            f"The prompt can be at most {MAX_PROMPT_CHARS:,} characters long (yours is {MAX_PROMPT_CHARS + 1:,}).",
        ),
        (
            VideoRequest("grok_video3", "x", image_urls=("ftp://a/b.png",)),
            "Image 1 is not a usable image; please send images as links starting with http:// or https:// "
            "or embedded images (data:image/…).",
        ),
    ],
)
def test_single_messages(request_: VideoRequest, expected: str) -> None:
    problems = Catalogue.default().validate(request_)
    assert problems == [expected]
    assert_member_friendly(problems)


def test_hostile_inputs_stay_short() -> None:
    huge = 10**5000  # str() of this raises in Python 3.11: the catalogue must not try
    problems = Catalogue.default().validate(
        VideoRequest(
            "m" * 5000,
            "p" * 100_000,
            duration=huge,
            aspect_ratio="a" * 5000,
            resolution="r" * 5000,
            image_urls=("x" * 5000,) * 30,
        )
    )
    assert len(problems) == 3  # unknown model, prompt too long, bad images (options need a known model)
    problems += Catalogue.default().validate(
        VideoRequest(
            "grok_video3",
            "p",
            duration=-huge,
            aspect_ratio="a" * 5000,
            resolution="\n" * 50,
            image_urls=("x",) * 30,
        )
    )
    assert len(problems) == 3 + 5
    assert all(len(p) < 300 for p in problems)
    assert not any("\n" in p for p in problems)
    pinged = Catalogue.default().validate(VideoRequest("@everyone", "x"))
    assert "@everyone" not in pinged[0] and "everyone" in pinged[0]


# ---- the model data itself --------------------------------------------------------------------------------


def test_specs_match_the_contract_in_order() -> None:
    catalogue = Catalogue.default()
    assert list(catalogue.models) == list(CONTRACT)
    for model_id, c in CONTRACT.items():
        spec = catalogue.get(model_id)
        assert spec is not None and spec.id == model_id and spec.label == c.label
        assert set(spec.durations) == c.durations and list(spec.durations) == sorted(spec.durations)
        assert (spec.default_duration, spec.default_aspect_ratio, spec.default_resolution) == (
            10,
            "16:9",
            "720p",
        )
        assert spec.send_duration is c.send_duration
        assert set(spec.aspect_ratios) == c.ratios and set(spec.resolutions) == c.resolutions
        assert spec.max_images == c.max_images and spec.public_urls_only is not c.base64_ok
        assert 0 < len(f"{spec.label} — {spec.description}") <= 100
    assert catalogue.get("nope") is None
    assert [catalogue.models[m].billing for m in CONTRACT] == [
        "per_second",
        "per_call",
        "per_second",
        "per_call",
    ]


def test_describe_and_billing() -> None:
    m = Catalogue.default().models
    assert m["grok_video3"].describe_durations() == "any whole number from 6 to 30"
    assert m["grok_video3_max"].describe_durations() == "6, 10, 12, 16, 20 or 30"
    assert m["grok_video3_stable"].describe_durations() == "6 or 10"
    assert m["grok_video3_pro"].describe_durations() == "always 10"
    assert m["grok_video3"].description.startswith("6–30 s, 5 ratios, 480p/720p")
    assert m["grok_video3"].billed_seconds(17) == 17 and m["grok_video3"].billed_seconds(None) == 10
    assert m["grok_video3_max"].billed_seconds(30) == 30
    assert m["grok_video3_pro"].billed_seconds(None) == 10 and m["grok_video3_pro"].billed_seconds(10) == 10
    assert m["grok_video3_stable"].billed_seconds(6) == 10  # per call: counts as its default length


def test_catalogue_refuses_inconsistent_specs() -> None:
    spec = Catalogue.default().models["grok_video3"]
    with pytest.raises(ValueError):
        Catalogue({"other": spec})
    with pytest.raises(ValueError):
        Catalogue({})
    with pytest.raises(ValueError):
        Catalogue(
            {
                "grok_video3": ModelSpec(
                    id="grok_video3",
                    label="x",
                    durations=(6,),
                    default_duration=10,
                    send_duration=True,
                    aspect_ratios=("16:9",),
                    default_aspect_ratio="16:9",
                    resolutions=("720p",),
                    default_resolution="720p",
                    max_images=0,
                    public_urls_only=True,
                    billing="per_call",
                )
            }
        )


# ---- MODELS_FILE ------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "models.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_none_is_the_contract() -> None:
    assert dict(Catalogue.load(None).models) == dict(Catalogue.default().models)


def test_example_file_applies_the_stable_override() -> None:
    catalogue = Catalogue.load(EXAMPLE)
    default = Catalogue.default()
    stable = catalogue.models["grok_video3_stable"]
    assert stable.durations == (10,) and stable.resolutions == ("720p",) and not stable.send_duration
    assert stable.aspect_ratios == default.models["grok_video3_stable"].aspect_ratios
    assert stable.description.startswith("always 10 s") and "480p" not in stable.description
    for model_id in ("grok_video3", "grok_video3_pro", "grok_video3_max"):
        assert catalogue.models[model_id] == default.models[model_id]
    assert catalogue.validate(VideoRequest("grok_video3_stable", "x", duration=6, resolution="480p")) == [
        "grok_video3_stable always makes 10-second videos; leave duration empty.",
        "grok_video3_stable only makes 720p videos (you asked for “480p”).",
    ]
    body = catalogue.build_body(VideoRequest("grok_video3_stable", "x", duration=10))
    assert body == {
        "model": "grok_video3_stable",
        "prompt": "x",
        "aspect_ratio": "16:9",
        "resolution": "720p",
    }


def test_example_file_commented_examples_also_load(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    head, examples = text.split("# More examples", 1)
    uncommented = re.sub(r"(?m)^# (?=\[|\w+ = )", "", examples)
    catalogue = Catalogue.load(write(tmp_path, head + "# More examples" + uncommented))
    assert list(catalogue.models) == ["grok_video3", "grok_video3_pro", "grok_video3_stable", "grok_video4"]
    assert catalogue.models["grok_video3_pro"].max_images == 1
    four = catalogue.models["grok_video4"]
    assert four.durations == tuple(range(6, 16)) and four.default_resolution == "1080p"
    assert catalogue.build_body(VideoRequest("grok_video4", "x", duration=15)) == {
        "model": "grok_video4",
        "prompt": "x",
        "duration": 15,
        "aspect_ratio": "16:9",
        "resolution": "1080p",
    }


def test_disable_and_add(tmp_path: Path) -> None:
    catalogue = Catalogue.load(
        write(
            tmp_path,
            """
[models.grok_video3_pro]
enabled = false

[models.acme_clip]
label = "Acme Clip"
durations = [4, 8]
default_duration = 8
aspect_ratios = ["1:1"]
default_aspect_ratio = "1:1"
resolutions = ["480p"]
default_resolution = "480p"
max_images = 0
public_urls_only = true
billing = "per_call"
""",
        )
    )
    assert list(catalogue.models) == ["grok_video3", "grok_video3_max", "grok_video3_stable", "acme_clip"]
    assert catalogue.validate(VideoRequest("grok_video3_pro", "x"))[0].startswith("There is no model called")
    assert catalogue.validate(VideoRequest("acme_clip", "x", duration=6, image_urls=(WEB,))) == [
        "acme_clip takes 4 or 8 seconds (you asked for 6).",
        "acme_clip does not take reference images (you gave 1).",
    ]
    assert catalogue.build_body(VideoRequest("acme_clip", "x")) == {
        "model": "acme_clip",
        "prompt": "x",
        "duration": 8,
        "aspect_ratio": "1:1",
        "resolution": "480p",
    }


def test_every_problem_is_listed_with_the_file_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
colour = "blue"

[models.grok_video3]
durations = [6, "ten"]
resoluton = ["720p"]

[models.grok_video3_max]
default_duration = 8

[models.grok_video3_stable]
billing = "per_token"
max_images = true

[models.grok_video3_pro]
resolutions = ["480p"]

[models.grok_video5]
label = "Five"

[models.nope]
enabled = false
""",
        name="owner-models.toml",
    )
    with pytest.raises(CatalogueError) as caught:
        Catalogue.load(path)
    error = caught.value
    message = str(error)
    assert error.path == path and "owner-models.toml" in message
    expected = [
        "unknown top-level key 'colour'",
        "[models.grok_video3]: unknown field 'resoluton' (did you mean 'resolutions'?)",
        "[models.grok_video3]: durations must be a list of whole numbers",
        "[models.grok_video3_max]: default_duration 8 is not one of the durations",
        "[models.grok_video3_stable]: billing must be 'per_second' or 'per_call'",
        "[models.grok_video3_stable]: max_images must be a whole number",
        "[models.grok_video3_pro]: default_resolution '720p' is not one of the resolutions",
        "[models.grok_video5]: a new model needs aspect_ratios, resolutions, max_images, public_urls_only, "
        "billing, durations",
        "[models.nope]: enabled = false, but there is no model 'nope' to remove",
    ]
    assert len(error.problems) == len(expected), error.problems
    for fragment in expected:
        assert fragment in message, fragment


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[models.grok_video3\n", "not valid TOML"),
        ("[models.grok_video3]\nsend_duration = false\n", "send_duration = false needs exactly one duration"),
        ("[models.grok_video3]\nduration_min = 5\n", "duration_min and duration_max must be given together"),
        ("[models.grok_video3]\nduration_min = 9\nduration_max = 5\n", "within 1..600, min first"),
        ("[models.grok_video3]\ndurations = [10]\nduration_min = 5\nduration_max = 9\n", "not both"),
        ("[models.grok_video3]\ndurations = []\n", "durations must not be empty"),
        ('[models.grok_video3]\naspect_ratios = ["wide"]\n', "not shaped like '16:9'"),
        ('[models.grok_video3]\nenabled = "no"\n', "enabled must be true or false"),
        ("models = 3\n", "models must be a set of [models.<id>] tables"),
        ("[models]\ngrok_video3 = 1\n", "[models.grok_video3] must be a table"),
        ("".join(f"[models.{m}]\nenabled = false\n" for m in CONTRACT), "no models are left enabled"),
    ],
)
def test_single_file_problems(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        Catalogue.load(write(tmp_path, text))
    assert fragment in str(caught.value) and "models.toml" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="does not exist") as caught:
        Catalogue.load(tmp_path / "absent.toml")
    assert "absent.toml" in str(caught.value)


def test_duration_range_override(tmp_path: Path) -> None:
    catalogue = Catalogue.load(write(tmp_path, "[models.grok_video3]\nduration_min = 6\nduration_max = 15\n"))
    spec = catalogue.models["grok_video3"]
    assert spec.durations == tuple(range(6, 16)) and spec.description.startswith("6–15 s")
    assert catalogue.validate(VideoRequest("grok_video3", "x", duration=20)) == [
        "grok_video3 takes any whole number of seconds from 6 to 15 (you asked for 20)."
    ]


@pytest.mark.parametrize(
    "prompt",
    [
        "\u200b",
        "\u200b\u200c\u200d\u2060",
        "\u202e\u202d\u2066\u2069",
        "\u2800\u2800",
        "\u3164",
        " \ufeff\u00ad ",
    ],
)
def test_a_prompt_of_invisible_characters_is_refused_like_an_empty_one(prompt: str) -> None:
    problems = Catalogue.default().validate(VideoRequest("grok_video3", prompt))
    assert problems == ["Please describe the video you want: the prompt is empty."]


def test_a_visible_prompt_with_invisible_characters_is_accepted() -> None:
    assert Catalogue.default().validate(VideoRequest("grok_video3", "\u200ba fox\u2800")) == []
