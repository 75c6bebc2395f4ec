import pytest

from prism.ids import InvalidTitleId, validate_title_id
from prism.storage import ArtifactStore


@pytest.mark.parametrize("good", ["t1", "S01E02", "show.s01e02", "a-b_c.d", "A" * 128, "9"])
def test_valid_title_ids(good):
    assert validate_title_id(good) == good


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "empty"),
        ("../etc", "'..'"),
        ("a..b", "'..'"),
        ("..", "'..'"),
        ("/abs", "characters outside"),
        ("a/b", "characters outside"),
        ("a\\b", "characters outside"),
        ("-leading", "must start with a letter or digit"),
        (".hidden", "must start with a letter or digit"),
        ("_x", "must start with a letter or digit"),
        ("a b", "characters outside"),
        ("tïtle", "characters outside"),
        ("x\x00y", "characters outside"),
        ("x\ny", "characters outside"),
        ("a" * 129, "129 characters"),
        ("title;rm -rf", "characters outside"),
        ("%2e%2e", "characters outside"),
    ],
)
def test_hostile_title_ids_refused_with_reason(bad, reason):
    with pytest.raises(InvalidTitleId, match=reason):
        validate_title_id(bad)


def test_non_string_refused():
    with pytest.raises(InvalidTitleId, match="must be a string"):
        validate_title_id(42)


def test_no_path_is_built_for_a_bad_id(tmp_path):
    store = ArtifactStore(str(tmp_path))
    with pytest.raises(InvalidTitleId):
        store.write_json("../escape", "probe.json", {})
    assert list(tmp_path.iterdir()) == []

