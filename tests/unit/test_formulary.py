"""The formulary loader: trusted data or a refusal that names drug and field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import InvalidValue
from domain.formulary import FormularyError, load_formulary

SERTRALINE = """
[[drug]]
name = "sertraline"
synonyms = ["Zoloft"]
rxnorm = "36437"
class = "SSRI"
schedule = "none"
forms = ["tablet"]
unit = "mg"
serotonergic = true
qt_prolonging = false
strong_cyp2d6_inhibitor = false
washout_days_before_maoi = 14
usual_start = { amount = "50", frequency = "daily", note = "25 mg for panic disorder" }
usual_step = "50"
min_days_between_steps = 7
max_daily = "200"
special_maxima = []
needs_taper = true
taper = "Reduce gradually."
stop_from_daily = "25"
monitoring = []
[drug.sources]
rxnorm = "RxNorm"
class = "label"
dosing = "Zoloft label, section 2"
taper = "Zoloft label, section 2.5"
interactions = "Zoloft label, section 7"
"""
IBUPROFEN = """
[[other_drug]]
name = "ibuprofen"
synonyms = ["Advil", "Motrin"]
rxnorm = "5640"
groups = ["nsaid"]
source = "label"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "formulary.toml"
    path.write_text("schema_version = 1\n" + text)
    return path


class TestLoading:
    def test_a_complete_entry_loads_with_exact_amounts(self, tmp_path: Path) -> None:
        formulary = load_formulary(write(tmp_path, SERTRALINE + IBUPROFEN))
        sertraline = formulary.drug("ZOLOFT")
        assert sertraline.name == "sertraline"
        assert (sertraline.usual_start, sertraline.max_daily) == (Decimal(50), Decimal(200))
        assert sertraline.source("taper") == "Zoloft label, section 2.5"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            (('rxnorm = "36437"', ""), "rxnorm"),
            (('class = "SSRI"', 'class = "SSRIs"'), "class"),
            (('usual_step = "50"', 'usual_step = "-5"'), "usual_step"),
            (('taper = "Reduce gradually."', 'taper = ""'), "taper"),
            (('usual_start = { amount = "50"', 'usual_start = { amount = "500"'), "usual_start"),
            (('dosing = "Zoloft label, section 2"', ""), "sources"),
            (("serotonergic = true", 'serotonergic = "yes"'), "serotonergic"),
        ],
    )
    def test_a_missing_or_contradictory_fact_is_refused_naming_drug_and_field(
        self, tmp_path: Path, change: tuple[str, str], field: str
    ) -> None:
        broken = SERTRALINE.replace(*change)
        with pytest.raises(FormularyError) as refused:
            load_formulary(write(tmp_path, broken))
        assert "'sertraline'" in str(refused.value)
        assert f"'{field}'" in str(refused.value)

    def test_one_name_for_two_drugs_is_refused(self, tmp_path: Path) -> None:
        clash = IBUPROFEN.replace('["Advil", "Motrin"]', '["Zoloft"]')
        with pytest.raises(FormularyError, match="Zoloft"):
            load_formulary(write(tmp_path, SERTRALINE + clash))

    def test_an_unreadable_file_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(FormularyError, match="cannot be read"):
            load_formulary(tmp_path / "missing.toml")


class TestLookup:
    def test_an_unknown_drug_is_refused_with_the_nearest_names(self, tmp_path: Path) -> None:
        formulary = load_formulary(write(tmp_path, SERTRALINE + IBUPROFEN))
        with pytest.raises(InvalidValue) as refused:
            formulary.drug("sertralin")
        assert refused.value.code == "drug.unknown"
        assert "sertraline" in refused.value.message

    def test_a_non_psychiatric_drug_is_recognised_but_not_prescribable(
        self, tmp_path: Path
    ) -> None:
        formulary = load_formulary(write(tmp_path, SERTRALINE + IBUPROFEN))
        recognised = formulary.recognise("Advil 400 mg as needed")
        assert recognised is not None
        assert recognised.name == "ibuprofen"
        with pytest.raises(InvalidValue):
            formulary.drug("ibuprofen")
        assert formulary.recognise("chamomile tea") is None


class TestTheBundledFormulary:
    """What clinics prescribe daily is covered, each fact with a source a user can open."""

    NAMED_IN_THE_ISSUE = frozenset(
        {
            "venlafaxine",
            "desvenlafaxine",
            "duloxetine",
            "mirtazapine",
            "trazodone",
            "vortioxetine",
            "vilazodone",
            "buspirone",
            "hydroxyzine",
            "clonazepam",
            "lorazepam",
            "diazepam",
            "zolpidem",
            "lisdexamfetamine",
            "atomoxetine",
            "guanfacine",
            "clonidine",
            "olanzapine",
            "risperidone",
            "paliperidone",
            "lurasidone",
            "cariprazine",
            "brexpiprazole",
            "haloperidol",
            "carbamazepine",
            "oxcarbazepine",
            "topiramate",
            "naltrexone",
            "buprenorphine",
            "prazosin",
            "propranolol",
        }
    )

    def test_it_covers_at_least_sixty_psychiatric_drugs_including_the_daily_ones(self) -> None:
        formulary = load_formulary()
        assert len(formulary.drugs) >= 60
        assert set(formulary.drugs) >= self.NAMED_IN_THE_ISSUE

    def test_no_source_cites_the_teams_notes(self) -> None:
        formulary = load_formulary()
        sources = [s for d in formulary.drugs.values() for s in d.sources.values()]
        sources += [o.source for o in formulary.others.values()]
        assert [s for s in sources if "CLINICAL" in s] == []

    def test_every_drug_that_needs_a_taper_says_where_a_stop_is_safe(self) -> None:
        for drug in load_formulary().drugs.values():
            if drug.needs_taper:
                ceiling = drug.max_daily or drug.practical_max_daily
                assert drug.stop_from_daily is not None, drug.name
                assert ceiling is not None, drug.name
                assert drug.stop_from_daily <= ceiling, drug.name
                assert drug.taper, drug.name
                assert drug.source("taper"), drug.name

    def test_buprenorphine_is_prescribable_and_still_an_opioid_for_the_rules(self) -> None:
        buprenorphine = load_formulary().drug("Suboxone")
        assert buprenorphine.is_controlled
        assert buprenorphine.is_opioid


class TestCeilingsAndStops:
    def test_a_drug_without_a_maximum_needs_a_practical_maximum_and_a_ceiling(
        self, tmp_path: Path
    ) -> None:
        broken = SERTRALINE.replace('max_daily = "200"', 'max_daily = ""')
        with pytest.raises(FormularyError) as refused:
            load_formulary(write(tmp_path, broken))
        assert "'max_daily'" in str(refused.value)
        levelled = broken.replace(
            'max_daily = ""', 'max_daily = ""\npractical_max_daily = "200"\nceiling_daily = "400"'
        )
        with pytest.raises(FormularyError, match="'sources'"):  # the ceiling needs its source
            load_formulary(write(tmp_path, levelled))
        sourced = levelled.replace(
            'interactions = "Zoloft', 'ceiling = "x"\ninteractions = "Zoloft'
        )
        assert load_formulary(write(tmp_path, sourced)).drugs["sertraline"].ceiling_daily == 400

    def test_a_taper_without_a_stopping_dose_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(FormularyError, match="'stop_from_daily'"):
            load_formulary(write(tmp_path, SERTRALINE.replace('stop_from_daily = "25"\n', "")))

    def test_an_unknown_interaction_group_is_refused(self, tmp_path: Path) -> None:
        grouped = SERTRALINE.replace("monitoring = []", 'monitoring = []\ngroups = ["potent"]')
        with pytest.raises(FormularyError, match="'groups'"):
            load_formulary(write(tmp_path, grouped))

    def test_the_flags_are_groups_too(self, tmp_path: Path) -> None:
        drug = load_formulary(write(tmp_path, SERTRALINE)).drugs["sertraline"]
        assert drug.groups == {"serotonergic"}
