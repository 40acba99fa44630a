"""The figures of the cited words: the parser on phrases of the seeds, and the
check that refuses an amount, rate, threshold, cap or window the words do not state."""
from __future__ import annotations

import copy
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from service.cli import main as cli_main
from service.rulebook.figures import COUNT, DATE, MONEY, MULTIPLE, SHARE, Figure, chinese_number, figure_problems, figures
from service.rulebook.loader import RulesetError, _StringDates, load_ruleset
from service.vocabulary import vocabulary

from tests.helpers import QZ_FILE, RULESETS_DIR, SOURCES_DIR

GX_HTZ_FILE = RULESETS_DIR / "gx-htz" / "2021-08-04.yaml"
GX_ETDZ_FILE = RULESETS_DIR / "gx-etdz" / "2021-01-01.yaml"


def money(yuan, currency="CNY"):
    return Figure(Decimal(yuan), MONEY, currency)


def share(fraction):
    return Figure(Decimal(fraction), SHARE)


def count(n, unit=""):
    return Figure(Decimal(n), COUNT, unit)


# -- the parser, on the words of the seeds ------------------------------------------

@pytest.mark.parametrize("phrase, expected", [
    ("对认定为高新技术企业的科技型中小企业，给予一次性奖励20万元", {count(1, "次"), money(200000)}),
    ("对新认定的国家级、自治区级、市级科技创新平台分别给予100万元、20万元、5万元资金扶持",
     {money(1000000), money(200000), money(50000)}),
    ("营业收入首次突破15亿元", {count(1, "次"), money(1500000000)}),
    ("工业总产值千亿元和500亿元园区", {money(100000000000), money(50000000000)}),
    ("高新区谋划百亿元产业集群", {money(10000000000)}),
    ("自然年内实际利用外资超过2000万美元的新设或增资项目、超过1000万美元的外资跨国公司总部或地区总部",
     {money(20000000, "USD"), money(10000000, "USD")}),
    ("并在自治区奖励基础上，连续3年按自治区奖励资金的20%予以奖励", {count(3, "年"), share("0.20")}),
    ("每年以不低于钦州高新区当年税收地方留成部分60%的等额资金", {share("0.6")}),
    ("按项目当年招商引资实际到位资金的 1%给予企业一次性奖励", {share("0.01"), count(1, "次")}),
    ("可按规定享受75%研发经费投入税前加计扣除国家优惠政策，从事生产制造的企业享受100%研发经费投入",
     {share("0.75"), share("1")}),
    ("按照所获国家专项支持资金的 1∶1 给予资助", {Figure(Decimal(1), MULTIPLE)}),
    ("按照所获国家专项支持资金的1:1给予资助", {Figure(Decimal(1), MULTIPLE)}),
    ("对自治区级经开区考核评价中连续两年排名前两位", {count(2, "年"), count(2, "位")}),
    ("对年度全国综合排名提升 10 位以上且排名在前 60 名的国家高新区给予 800 万元经费支持",
     {count(10, "位"), count(60, "名"), money(8000000)}),
    ("年综合能源消费量1000至5000吨标准煤（当量值）", {count(1000, "吨"), count(5000, "吨")}),
    ("连续 2年达不到每年新增 5家高新技术企业", {count(2, "年"), count(5, "家")}),
    ("本措施自发布之日起施行，执行至2025年12月31日止", {Figure("2025-12-31", DATE), count(2025, "年")}),
    ("2021 年 8 月 4 日", {Figure("2021-08-04", DATE), count(2021, "年")}),
    ("按50%给予奖励", {share("0.5")}),
    ("超当年全区平均增幅20个百分点", {share("0.20")}),
    ("给予 1 年的整改期", {count(1, "年")}),
    # Chinese numerals and full-width digits (the seeds write 20万元; the same words as a scan would)
    ("给予一次性奖励二十万元", {count(1, "次"), money(200000)}),
    ("给予一次性奖励２０万元", {count(1, "次"), money(200000)}),
    ("按自治区奖励资金的百分之二十予以奖励", {share("0.20")}),
    ("提高至１５％", {share("0.15")}),
    ("补助标准提高一倍", {Figure(Decimal(1), MULTIPLE)}),
    ("十五万元", {money(150000)}),
    ("三千五百万元", {money(35000000)}),
    ("10至20万元", {money(100000), money(200000)}),
])
def test_the_figures_a_phrase_states(phrase, expected):
    assert figures(phrase) == expected


@pytest.mark.parametrize("phrase", ["以“一事一议”方式给予支持", "给予一定支持", "在高新区建设一批科技成果转化中试基地", "统一规划"])
def test_a_chinese_numeral_without_a_unit_states_nothing(phrase):
    assert figures(phrase) == set()


@pytest.mark.parametrize("text, value", [("二十", 20), ("十五", 15), ("两", 2), ("百", 100), ("一百零五", 105),
                                         ("三千五百", 3500), ("二十万", 200000), ("十亿", 1_000_000_000)])
def test_chinese_numbers(text, value):
    assert chinese_number(text) == value


# -- the check through the loader ------------------------------------------------------

def _raw(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_StringDates)


def _index(raw: dict, measure_id: str) -> int:
    return next(i for i, m in enumerate(raw["measures"]) if m["id"] == measure_id)


def _cap(raw: dict, cap_id: str) -> int:
    return next(i for i, c in enumerate(raw["caps"]) if c["id"] == cap_id)


def _declared_qinzhou() -> dict:
    """The Qinzhou file with the figures its readings supply declared (NOTES-figures.md, qz-htz)."""
    raw = _raw(QZ_FILE)
    raw["readings"]["publication_date"]["figures"] = ["2021-12-30"]
    raw["effective"]["reading"] = "publication_date"
    raw["readings"]["gazelle_topup_years"]["figures"] = ["1"]
    raw["readings"]["platform_list_open"]["figures"] = ["1"]
    return raw


def _write(tmp_path: Path, raw: dict) -> Path:
    target = tmp_path / raw["policy"] / f"{raw['version']}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def _problems(path: Path, sources: Path = SOURCES_DIR) -> list[str]:
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, sources, check_figures=True)
    assert info.value.file == str(path)
    return str(info.value).splitlines()


def test_the_declarations_are_what_the_released_qinzhou_file_lacks(tmp_path):
    """The control for the refusals below: the declared copy has no figure problem; the released file has three."""
    lines = _problems(QZ_FILE)
    assert [line.split(": ")[0] for line in lines] == [
        f"{QZ_FILE}:/effective/from", f"{QZ_FILE}:/caps/2/count", f"{QZ_FILE}:/caps/3/count"]
    path = _write(tmp_path, _declared_qinzhou())
    load_ruleset(path, SOURCES_DIR, check_figures=True)


def test_an_amount_the_words_do_not_state_is_refused_with_file_and_path(tmp_path):
    raw = _declared_qinzhou()
    i = _index(raw, "qz-htz/2.1")
    assert "给予一次性奖励20万元" in raw["measures"][i]["cites"]
    raw["measures"][i]["outcome"]["amount"] = "300000.00"
    path = _write(tmp_path, raw)
    lines = _problems(path)
    assert lines == [f"{path}:/measures/{i}/outcome/amount: amount 300000.00 is not a figure of its words: "
                     "the cited words state 200000 CNY; no reading it lists (once_per_enterprise) declares it under figures"]
    # the same file still loads when the figure check is not asked for (a superseded revision held for replay)
    assert load_ruleset(path, SOURCES_DIR).measures[i].amounts == {"*": 30000000}


def test_an_amount_declared_by_a_reading_the_measure_lists_is_accepted(tmp_path):
    raw = _declared_qinzhou()
    i = _index(raw, "qz-htz/2.1")
    raw["measures"][i]["outcome"]["amount"] = "300000.00"
    raw["readings"]["sme_bonus"] = {"en": "a reading that supplies the amount", "zh": "解读给出金额", "figures": ["300000"]}
    path = _write(tmp_path, raw)
    assert any(f":/measures/{i}/outcome/amount:" in line for line in _problems(path))  # not yet listed by the measure
    raw["measures"][i]["readings"].append("sme_bonus")
    path = _write(tmp_path, raw)
    version = load_ruleset(path, SOURCES_DIR, check_figures=True)
    assert version.measures[i].amounts == {"*": 30000000}


def test_a_reading_without_the_figure_does_not_declare_it(tmp_path):
    raw = _declared_qinzhou()
    i = _index(raw, "qz-htz/2.3")
    raw["measures"][i]["outcome"]["formula"] = "amount * 0.25"
    raw["readings"]["gazelle_topup_years"]["figures"] = ["1", "0.20"]  # declares other figures, not 0.25
    path = _write(tmp_path, raw)
    assert _problems(path) == [f"{path}:/measures/{i}/outcome/formula: formula number 0.25 is not a figure of its words: "
                               "the cited words state 0.2 (share); no reading it lists (gazelle_topup_years) declares it under figures"]


def test_a_reading_figure_is_refused_in_the_schema_unless_a_number_or_date(tmp_path):
    raw = _declared_qinzhou()
    raw["readings"]["gazelle_topup_years"]["figures"] = ["twenty percent"]
    path = _write(tmp_path, raw)
    assert any(":/readings/gazelle_topup_years/figures/0:" in line for line in _problems(path))


def test_an_amount_table_entry_is_checked(tmp_path):
    raw = _declared_qinzhou()
    i = _index(raw, "qz-htz/4")
    raw["measures"][i]["outcome"]["amount"]["regional"] = "250000.00"
    path = _write(tmp_path, raw)
    assert _problems(path) == [f"{path}:/measures/{i}/outcome/amount/regional: amount for regional 250000.00 is not a figure of its words: "
                               "the cited words state 1000000 CNY, 200000 CNY, 50000 CNY; no reading it lists (platform_list_open) declares it under figures"]


def test_a_cap_amount_and_a_threshold_offset_are_checked(tmp_path):
    raw = _declared_qinzhou()
    raw["caps"][_cap(raw, "qz-htz/5")]["amount"] = "150000.00"
    i = _index(raw, "qz-htz/2.3")
    raw["measures"][i]["conditions"][0]["test"]["year"]["gte"] = "@trigger.year-4"  # 连续3年: year-2 (or -3)
    path = _write(tmp_path, raw)
    lines = _problems(path)
    assert [line.split(": ")[0] for line in lines] == [
        f"{path}:/measures/{i}/conditions/0/test/year/gte", f"{path}:/caps/{_cap(raw, 'qz-htz/5')}/amount"]


def test_a_cap_count_the_words_do_not_state_needs_its_reading_to_declare_it(tmp_path):
    raw = _declared_qinzhou()
    del raw["readings"]["platform_list_open"]["figures"]
    path = _write(tmp_path, raw)
    assert _problems(path) == [f"{path}:/caps/{_cap(raw, 'qz-htz/4#platform')}/count: cap count 1 is not a figure of its words: "
                               "the cited words state no figure of that kind; no reading it lists (platform_list_open) declares it under figures"]


def _sources_with(tmp_path: Path, words: str) -> Path:
    """A copy of the sources whose Qinzhou text also holds ``words``."""
    sources = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, sources)
    text = sources / "003_b08b18787865d6d8.txt"
    text.write_text(text.read_text(encoding="utf-8") + "\n" + words + "\n", encoding="utf-8")
    return sources


def test_a_window_that_contradicts_its_words_is_refused(tmp_path):
    sources = _sources_with(tmp_path, "本措施自2022年1月1日起施行")
    raw = _declared_qinzhou()
    raw["effective"].update({"cites": "本措施自2022年1月1日起施行", "until": None})
    del raw["effective"]["reading"]
    path = _write(tmp_path / "rulesets", raw)
    assert _problems(path, sources) == [
        f"{path}:/effective/from: effective from 2021-12-30 is not a figure of its words: the cited words state 2022-01-01; "
        "it lists no reading that could declare it under figures",
        f"{path}:/effective: the cited words state the date 2022-01-01, which is neither the window's from nor its until"]
    raw["effective"]["from"] = "2022-01-01"
    load_ruleset(_write(tmp_path / "rulesets", raw), sources, check_figures=True)


def test_an_open_window_whose_words_end_it_is_refused(tmp_path):
    raw = _declared_qinzhou()
    raw["effective"]["until"] = None  # the words: 执行至2025年12月31日止
    path = _write(tmp_path, raw)
    assert _problems(path) == [f"{path}:/effective: the cited words state the date 2025-12-31, which is neither the window's from nor its until"]


def test_validate_reports_the_figure_problem(tmp_path, capsys):
    directory = tmp_path / "rulesets"
    shutil.copytree(RULESETS_DIR, directory)
    path = directory / "qz-htz" / "2021-12-30.r3.yaml"  # the current revision: a superseded one is held as it was
    text = path.read_text(encoding="utf-8")
    assert text.count('amount: "200000.00"') == 1
    path.write_text(text.replace('amount: "200000.00"', 'amount: "300000.00"'), encoding="utf-8")
    assert cli_main(["validate", "--rulesets", str(directory)]) == 1
    assert f"{path}:/measures/0/outcome/amount: amount 300000.00 is not a figure of its words" in capsys.readouterr().err


# -- the exemptions, and what is not exempt -----------------------------------------------

def _new_problems(raw: dict, mutate) -> list[tuple[str, str]]:
    before = set(figure_problems(raw, vocabulary()))
    changed = copy.deepcopy(raw)
    mutate(changed)
    return [p for p in figure_problems(changed, vocabulary()) if p not in before]


def test_a_rank_threshold_the_words_do_not_state_is_refused():
    raw = _raw(GX_HTZ_FILE)
    i = _index(raw, "gx-htz/23.2")
    k = next(k for k, c in enumerate(raw["measures"][i]["conditions"]) if c["test"] == {"rank": {"lte": 60}})
    new = _new_problems(raw, lambda r: r["measures"][i]["conditions"][k]["test"]["rank"].__setitem__("lte", 50))
    assert [p for p, _ in new] == [f"/measures/{i}/conditions/{k}/test/rank/lte"]
    assert "60名" in new[0][1]


def test_money_in_another_currency_is_not_a_figure():
    raw = _raw(GX_ETDZ_FILE)
    i = _index(raw, "gx-etdz/1")
    assert "超过1000万美元" in raw["measures"][i]["cites"]
    new = _new_problems(raw, lambda r: r["measures"][i].__setitem__("outcome", {"kind": "fixed", "amount": "10000000.00"}))
    assert [p for p, _ in new] == [f"/measures/{i}/outcome/amount"]

    def other(r):
        r["measures"][i]["conditions"][2]["test"]["any"][0]["fdi_usd"]["gt"] = "15000000.00"
    assert [p for p, _ in _new_problems(raw, other)] == [f"/measures/{i}/conditions/2/test/any/0/fdi_usd/gt"]


def test_formula_identities_are_exempt_and_a_one_to_one_rate_is_not():
    raw = _raw(GX_ETDZ_FILE)
    i = _index(raw, "gx-etdz/15")
    assert "(1 + regional_average_growth + 0.20)" in raw["measures"][i]["outcome"]["formula"]
    assert figure_problems(raw, vocabulary()) == []  # 0 in max(0, …) and the 1 of (1 + …) are exempt
    new = _new_problems(raw, lambda r: r["measures"][i]["outcome"].__setitem__(
        "formula", "0.5 * max(0, amount - prior_year_amount * (2 + regional_average_growth + 0.20))"))
    assert [p for p, _ in new] == [f"/measures/{i}/outcome/formula"]
    raw_htz = _raw(GX_HTZ_FILE)
    j = _index(raw_htz, "gx-htz/8")  # 1%给予企业一次性奖励: the 1 of 一次 is a count, not a rate
    new = _new_problems(raw_htz, lambda r: r["measures"][j]["outcome"].__setitem__("formula", "amount * 1"))
    assert [p for p, _ in new] == [f"/measures/{j}/outcome/formula"]
    k = _index(raw_htz, "gx-htz/6")  # 1∶1 states the rate
    assert _new_problems(raw_htz, lambda r: r["measures"][k]["outcome"].__setitem__("formula", "amount * 1")) == []


def test_a_previous_year_offset_is_exempt_and_a_longer_one_is_not():
    raw = _raw(GX_HTZ_FILE)
    i = _index(raw, "gx-htz/23.2")
    assert raw["measures"][i]["joins"][0]["match"]["year"] == "@trigger.year-1"
    new = _new_problems(raw, lambda r: r["measures"][i]["joins"][0]["match"].__setitem__("year", "@trigger.year-4"))
    assert [p for p, _ in new] == [f"/measures/{i}/joins/0/match/year/eq"]


def test_a_split_share_is_checked():
    raw = _raw(GX_ETDZ_FILE)
    i = _index(raw, "gx-etdz/1")
    assert "各按50%分担" in raw["measures"][i]["cites"]

    def thirds(r):
        r["measures"][i]["outcome"]["split"][0]["share"] = "0.6"
        r["measures"][i]["outcome"]["split"][1]["share"] = "0.4"
    assert [p for p, _ in _new_problems(raw, thirds)] == [f"/measures/{i}/outcome/split/0/share", f"/measures/{i}/outcome/split/1/share"]


def test_the_draft_declares_every_figure_its_words_do_not_state():
    """gx-etdz is a draft and carries its declarations (NOTES-figures.md)."""
    raw = _raw(GX_ETDZ_FILE)
    assert figure_problems(raw, vocabulary()) == []
    load_ruleset(GX_ETDZ_FILE, SOURCES_DIR, check_figures=True)
    new = _new_problems(raw, lambda r: r["readings"]["window_from_2021"].pop("figures"))
    assert [p for p, _ in new] == ["/effective/from"]
