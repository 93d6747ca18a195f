"""The strict check of model-written sentences, and the removal of prompt scaffolding."""

from __future__ import annotations

import pytest

from assistant.chat.strict import check_strict, figures_in, identifiers_in, strip_scaffolding

LOTO = [
    "Turn the cubicle 4B switch-disconnector handle to OFF and fit your personal padlock.",
    "V-101C (DN200 swing check valve) is not an isolation point.",
    "Always close and lock V-101B.",
]
GREASE = [
    "Pump-end 6311-C3: Quantity per regrease 17 g; Interval every 2,000 running hours",
    "Coupling-end pair 7311 BECBM: Quantity per regrease 35 g (17.5 g per bearing)",
]


@pytest.mark.parametrize(
    "sentence",
    [
        "Switch off at the cubicle 4B switch-disconnector and fit a padlock.",
        "The pump-end bearing takes 17 g and the coupling-end pair 35 g.",
        "V-101C is not an isolation point; lock V-101B instead.",
        "Regrease every 2,000 running hours.",
    ],
)
def test_faithful_sentences_pass(sentence: str) -> None:
    units = LOTO if "V-10" in sentence or "4B" in sentence else GREASE
    assert check_strict(sentence, units).ok


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("Isolate M-101 at the switch-disconnector in cubicle 4C.", "identifier not in the"),
        ("V-101C is an isolation point.", "the quotes negate"),
        ("Do not lock V-101B.", "negation not in the quotes"),
        ("The coupling-end pair takes 36 g.", "figure not in the quotes: 36"),
        ("The pump-end bearing takes 17 bar.", "figure not in the quotes: 17 bar"),
        ("Use bearing 6312-C3.", "figure not in the quotes: 6312"),
        ("Isolate M-101 at cubicle 4B.", "identifier not in the quotes: M-101"),
    ],
)
def test_wrong_ids_figures_and_dropped_negations_are_refused(sentence: str, reason: str) -> None:
    result = check_strict(sentence, LOTO + GREASE)
    assert not result.ok
    assert result.reason.startswith(reason)


def test_figures_and_identifiers_are_parsed() -> None:
    assert figures_in("torque to 120 N·m, then 2,000 hours and 0.35 bar") == {
        ("120", "n·m"),
        ("2000", "h"),
        ("0.35", "bar"),
    }
    assert identifiers_in("MCC-1 cubicle 4B, V-101A and bearing 6311-C3 [D1]") == {
        "MCC-1",
        "4B",
        "V-101A",
        "6311-C3",
    }


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("The answer is: clean at 0.35 bar.<|im_end|>", "clean at 0.35 bar."),
        ("The passage is: No sentence could be checked", "No sentence could be checked"),
        ("Lock V-101B.<end_of_turn>\nuser\nWhat next?", "Lock V-101B.\nWhat next?"),
        ("<|im_start|>assistant\nClose the valve.", "Close the valve."),
    ],
)
def test_scaffolding_and_special_tokens_are_stripped(raw: str, clean: str) -> None:
    assert strip_scaffolding(raw) == clean
