"""Every article of every document is accounted for, and COVERAGE.md says so."""
from pathlib import Path

import pytest

from service.coverage import markdown, missing, rows, source_articles
from service.rulebook.registry import Registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def registry():
    return Registry.load(compile_rules=False)


def test_every_document_declares_how_to_find_its_articles(registry):
    for version in registry.all_versions():
        assert version.document.get("articles"), f"{version.key}: document.articles (the article pattern) is missing"
        assert source_articles(version, registry.directory / "sources"), f"{version.key}: the pattern finds no article"


def test_every_article_is_a_measure_or_a_directive(registry):
    gaps = [f"{r['policy']}@{r['version']} {r['article']}" for r in missing(registry)]
    assert not gaps, "articles neither encoded nor listed as directives (or not in the source): " + ", ".join(gaps)


def test_a_removed_directive_is_detected(registry):
    version = registry.get("qz-htz", "2021-12-30")
    saved = version.directives
    version.directives = [d for d in saved if d["article"] != "九"]
    try:
        assert any(r["article"] == "九" for r in missing(registry))
    finally:
        version.directives = saved


def test_coverage_file_is_current(registry):
    current = (ROOT / "rulesets" / "COVERAGE.md").read_text(encoding="utf-8")
    assert current == markdown(registry), "run: python -m service coverage > rulesets/COVERAGE.md"


def test_qinzhou_articles_one_to_fifteen(registry):
    articles = [r["article"] for r in rows(registry) if r["policy"] == "qz-htz"]
    assert articles == ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四", "十五"]
