"""Ruleset files: they load, every citation is in its source, broken copies are
refused naming the file and the path inside it, sources equal the shared seeds."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from service.rulebook.loader import revision_file
import yaml

from service.rulebook.loader import RulesetError, load_ruleset
from service.rulebook.registry import Registry

from tests.helpers import QZ_FILE, ROOT, RULESETS_DIR, SOURCES_DIR

SEEDS_DIR = ROOT.parent / "shared" / "seeds"
RULESET_FILES = sorted(p for p in RULESETS_DIR.glob("*/*.yaml") if p.parent.name != "sources")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _cites(node, path=""):
    """Every ``cites`` anywhere in a ruleset file, with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "cites" and isinstance(value, str):
                yield f"{path}/cites", value
            else:
                yield from _cites(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _cites(value, f"{path}/{index}")


def _raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_there_are_ruleset_files():
    assert QZ_FILE in RULESET_FILES


@pytest.mark.parametrize("path", RULESET_FILES, ids=[f"{p.parent.name}/{p.name}" for p in RULESET_FILES])
def test_every_ruleset_file_loads(path):
    version = load_ruleset(path, SOURCES_DIR)
    assert version.policy == path.parent.name
    assert revision_file(version.policy, version.version, version.revision).name == path.name
    assert version.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    if version.status in ("in_force", "repealed"):
        assert version.measures, f"{path}: no measures"
    if version.status == "draft":  # a draft that grants nothing still accounts for its articles
        assert version.measures or version.directives, f"{path}: neither measures nor directives"


def test_registry_loads_and_compiles_every_version():
    registry = Registry.load()
    keys = {v.key for v in registry.held_versions()}
    assert "qz-htz@2021-12-30" in keys and "qz-htz@2021-12-30#r2" in keys
    assert "qz-htz@2021-12-30" not in {v.key for v in registry.all_versions()}  # superseded: held, not current
    assert set(registry.compiled) == {v.key for v in registry.held_versions() if v.measures}


@pytest.mark.parametrize("path", RULESET_FILES, ids=[f"{p.parent.name}/{p.name}" for p in RULESET_FILES])
def test_every_citation_is_in_its_source(path):
    raw = _raw(path)
    source = SOURCES_DIR / raw["document"]["source"]
    text = _squash(source.read_text(encoding="utf-8"))
    cites = list(_cites(raw))
    sections = {where.split("/")[1] for where, _ in cites}
    # measures, conditions, caps, stacking, notes, eligibility and the window all cite
    for section in ("measures", "caps", "stacking", "notes", "eligibility", "effective"):
        if raw.get(section):
            assert section in sections, f"{path}: nothing in {section} cites the text"
    missing = [(where, words) for where, words in cites if _squash(words) not in text]
    assert not missing, f"{path}: cited words not in {source.name}: {missing}"


def test_every_qinzhou_measure_and_condition_cites():
    raw = _raw(QZ_FILE)
    for measure in raw["measures"]:
        assert measure.get("cites"), measure["id"]
    for condition in raw["eligibility"]["conditions"]:
        assert condition.get("cites"), condition["id"]
    for cap in raw["caps"]:
        if cap.get("amount"):
            assert cap.get("cites"), f"money cap {cap['id']} cites nothing"
    for group in raw["stacking"]:
        assert group.get("cites"), group["id"]


# --- broken copies -------------------------------------------------------------------
def _index(raw: dict, measure_id: str) -> int:
    return next(i for i, m in enumerate(raw["measures"]) if m["id"] == measure_id)


def _broken_copy(tmp_path: Path, mutate) -> Path:
    raw = _raw(QZ_FILE)
    mutate(raw)
    target = tmp_path / "qz-htz" / "2021-12-30.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def _measure_changed(tmp_path: Path, measure_id: str, field: str, value) -> tuple[Path, int]:
    """A copy of the Qinzhou file with one field of one measure set to ``value``, and that measure's index."""
    i = _index(_raw(QZ_FILE), measure_id)
    return _broken_copy(tmp_path, lambda r: r["measures"][i].__setitem__(field, value)), i


def _refused(path: Path) -> RulesetError:
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, SOURCES_DIR)
    error = info.value
    assert error.file == str(path)
    assert error.problems
    return error


def test_an_unbroken_copy_loads(tmp_path):
    """The control: the copy mechanics alone do not break the file."""
    path = _broken_copy(tmp_path, lambda raw: None)
    version = load_ruleset(path, SOURCES_DIR)
    assert [m.id for m in version.measures] == [m["id"] for m in _raw(QZ_FILE)["measures"]]


def test_bad_schema_value_is_refused(tmp_path):
    raw = _raw(QZ_FILE)
    i = _index(raw, "qz-htz/2.1")
    path = _broken_copy(tmp_path, lambda r: r["measures"][i]["outcome"].__setitem__("kind", "gift"))
    error = _refused(path)
    assert f"{path}:/measures/{i}/outcome/kind:" in str(error)
    assert "gift" in str(error)


def test_unknown_schema_field_is_refused(tmp_path):
    path, i = _measure_changed(tmp_path, "qz-htz/4", "amount_per_platform", "1000000.00")
    error = _refused(path)
    assert f"{path}:/measures/{i}" in str(error)
    assert "amount_per_platform" in str(error)


def test_cited_phrase_not_in_the_source_is_refused(tmp_path):
    invented = "对新认定的国家级科技创新平台给予1000万元资金扶持"
    path, i = _measure_changed(tmp_path, "qz-htz/4", "cites", invented)
    error = _refused(path)
    assert f"{path}:/measures/{i}/cites:" in str(error)
    assert invented in str(error)
    assert ("/measures/%d/cites" % i) in [where for where, _ in error.problems]


def test_cited_eligibility_phrase_not_in_the_source_is_refused(tmp_path):
    raw = _raw(QZ_FILE)
    k = next(i for i, c in enumerate(raw["eligibility"]["conditions"]) if c["id"] == "sound_financial_system")
    path = _broken_copy(tmp_path, lambda r: r["eligibility"]["conditions"][k].__setitem__("cites", "有健全的财务制度"))
    error = _refused(path)
    assert f"{path}:/eligibility/conditions/{k}/cites:" in str(error)


def test_cited_words_survive_whitespace_but_not_a_changed_character(tmp_path):
    raw = _raw(QZ_FILE)
    i = _index(raw, "qz-htz/2.1")
    spaced = " ".join(raw["measures"][i]["cites"]) + "\n"
    path = _broken_copy(tmp_path, lambda r: r["measures"][i].__setitem__("cites", spaced))
    load_ruleset(path, SOURCES_DIR)  # whitespace is ignored
    changed = raw["measures"][i]["cites"].replace("20万元", "30万元")
    path = _broken_copy(tmp_path, lambda r: r["measures"][i].__setitem__("cites", changed))
    error = _refused(path)
    assert f"/measures/{i}/cites" in str(error)


def test_unknown_trigger_is_refused(tmp_path):
    path, i = _measure_changed(tmp_path, "qz-htz/2.2", "trigger", "unicorn_listed")
    error = _refused(path)
    assert f"{path}:/measures/{i}/trigger:" in str(error)
    assert "unicorn_listed" in str(error)


def test_cap_counting_an_unknown_measure_is_refused(tmp_path):
    raw = _raw(QZ_FILE)
    k = next(i for i, c in enumerate(raw["caps"]) if c["id"] == "qz-htz/5")
    path = _broken_copy(tmp_path, lambda r: r["caps"][k].__setitem__("counts", ["qz-htz/5", "qz-htz/99"]))
    error = _refused(path)
    text = str(error)
    assert f"{path}:/caps" in text
    assert "qz-htz/99" in text and "qz-htz/5" in text


def test_file_in_the_wrong_place_is_refused(tmp_path):
    raw = _raw(QZ_FILE)
    target = tmp_path / "qz-htz" / "2022-01-01.yaml"
    target.parent.mkdir(parents=True)
    target.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    error = _refused(target)
    assert f"{target}:/:" in str(error)


# --- sources and seeds -----------------------------------------------------------------
def test_every_ruleset_source_exists():
    for path in RULESET_FILES:
        assert (SOURCES_DIR / _raw(path)["document"]["source"]).is_file(), path


@pytest.mark.skipif(not SEEDS_DIR.is_dir(), reason=f"{SEEDS_DIR} is absent")
def test_sources_equal_the_shared_seeds_byte_for_byte():
    ours = {p.name: p.read_bytes() for p in SOURCES_DIR.glob("*.txt")}
    seeds = {p.name: p.read_bytes() for p in SEEDS_DIR.glob("*.txt")}
    assert ours, "no source texts"
    assert sorted(ours) == sorted(seeds)
    differing = [name for name in ours if ours[name] != seeds[name]]
    assert not differing, f"sources differ from ../shared/seeds: {differing}"


def _copy_rulesets(tmp_path):
    import shutil

    target = tmp_path / "rulesets"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rulesets", target)
    return target


def test_a_shared_cap_declared_differently_by_two_documents_is_refused(tmp_path):
    directory = _copy_rulesets(tmp_path)
    path = directory / "gx-etdz" / "2021-01-01.yaml"
    text = path.read_text(encoding="utf-8")
    declared = '    counts: [gx-htz/6, gx-etdz/8.2]\n    amount: "10000000.00"\n'
    assert declared in text
    path.write_text(text.replace(declared, declared.replace("10000000.00", "9000000.00")), encoding="utf-8")
    with pytest.raises(RulesetError, match="shared cap shared/national-rd-matching differs"):
        Registry.load(directory, compile_rules=False)


def test_a_cap_naming_a_measure_no_document_defines_is_refused(tmp_path):
    directory = _copy_rulesets(tmp_path)
    path = directory / "gx-htz" / "2021-08-04.r3.yaml"  # shared caps are checked across the current revisions
    text = path.read_text(encoding="utf-8")
    assert "gx-etdz/7.2]" in text
    path.write_text(text.replace("gx-etdz/7.2]", "gx-etdz/7.9]", 1), encoding="utf-8")
    with pytest.raises(RulesetError, match="gx-etdz/7.9, which no version of gx-etdz defines"):
        Registry.load(directory, compile_rules=False)


def test_an_exception_with_alternatives_is_refused_at_load(tmp_path):
    raw = _raw(QZ_FILE)
    i = _index(raw, "qz-htz/2.1")
    unless = [{"id": "earlier", "event": "hte_recognized", "where": {"date": {"lt": "@trigger.date"}, "was_tech_sme": {"in": [True, False]}},
               "explain": {"zh": "此前已认定", "en": "recognised before"}}]
    path = _broken_copy(tmp_path, lambda r: r["measures"][i].__setitem__("unless", unless))
    error = _refused(path)
    assert f"{path}:/measures/{i}/unless/0/where: an exception must be a single conjunction" in str(error)


def test_the_current_law_states_every_figure_it_uses():
    """The newest revision of every law version passes the figure check (a superseded one is held as it was)."""
    registry = Registry.load(check_figures=True, compile_rules=False)
    assert registry.versions


def test_an_exception_reading_an_unstated_field_is_refused_in_a_missing_data_version():
    """An unless on a field the case may omit would read the omission as "no such event"."""
    from dataclasses import replace

    from service.evaluate.compile import compile_version
    from service.rulebook.conditions import Atom
    from service.rulebook.loader import Unless

    version = Registry.load(compile_rules=False).get("qz-htz", "2021-12-30")
    assert version.absent_facts == "missing_data"
    measure = version.measures[0]
    excepting = Unless("probe", "hte_recognized", [(Atom("was_tech_sme", "eq", True),)], {"en": "", "zh": ""}, "")
    broken = replace(version, measures=[replace(measure, unless=(excepting,))] + version.measures[1:])
    with pytest.raises(ValueError, match="unless probe reads was_tech_sme"):
        compile_version(broken)
