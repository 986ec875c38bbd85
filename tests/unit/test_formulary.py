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
