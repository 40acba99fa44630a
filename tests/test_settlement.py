"""service/settle/settlement.py: how stacking facts are ranked before the engine compares them."""
from types import SimpleNamespace

from service.settle.settlement import _contested, _rank_key

LARGER = SimpleNamespace(id="G", members=("x/1", "x/2", "x/3"), keep="larger")
FIRST = SimpleNamespace(id="F", members=("y/1", "y/2"), keep="first")


def fact(fid, group, measure, asked, *, prior=False, key=""):
    return {"id": fid, "p": int(prior), "g": group.id, "k": key, "m": measure,
            "n": _rank_key(group, measure, None if prior else asked)}


def test_ranks_are_small_integers_whatever_the_amounts():
    # amounts far beyond any award: the ranks the engine compares stay 0, 1, 2
    facts = [fact("a", LARGER, "x/1", 10**25), fact("b", LARGER, "x/2", 10**30), fact("c", LARGER, "x/3", 10**25)]
    assert [(f["id"], f["n"]) for f in _contested(facts)] == [("a", 1), ("b", 0), ("c", 2)]


def test_keep_larger_puts_an_award_already_received_first_and_equal_amounts_by_member_order():
    facts = [fact("a", LARGER, "x/2", 500), fact("b", LARGER, "x/1", 500), fact("p", LARGER, "x/3", None, prior=True)]
    assert {f["id"]: f["n"] for f in _contested(facts)} == {"p": 0, "b": 1, "a": 2}


def test_keep_first_ranks_by_member_order_and_one_measure_twice_ranks_equal():
    facts = [fact("a", FIRST, "y/2", 9), fact("b", FIRST, "y/1", 1), fact("c", FIRST, "y/1", 2)]
    assert {f["id"]: f["n"] for f in _contested(facts)} == {"b": 0, "c": 0, "a": 1}


def test_facts_that_can_meet_no_rival_are_not_asserted_and_order_is_kept():
    facts = [fact("alone", FIRST, "y/1", 1, key="2023"),
             fact("a", FIRST, "y/2", 1, key="2024"),
             fact("prior-only", LARGER, "x/1", None, prior=True),
             fact("b", FIRST, "y/1", 1, key="2024")]
    assert [f["id"] for f in _contested(facts)] == ["a", "b"]
