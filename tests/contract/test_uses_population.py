"""``Needs.population`` (``Attack.uses_population``) and ``Needs.random_queries`` are
accurate for every registered attack (issue 9 item 15; issue 10 item 5).

The pipeline queries the target on the attacker's population only for attacks that declare
``uses_population`` and gives the others ``population=None``; an attack that read
``AttackerKnowledge.population`` without declaring it would silently lose it. Each
outputs-attack is fitted here with a population that raises on any use: the attacks that
do not declare it must never touch it, and those that declare it must read it.
"""

from dataclasses import replace

import pytest

from miaudit.attacks import ATTACKS

from .test_attack_contract import ALL, QUERYING, knowledge, make


class PopulationRead(AssertionError):
    pass


class Tripwire:
    """Stands in for the population's outputs; any use raises."""

    def _trip(self, *_args, **_kwargs):
        raise PopulationRead("a tripwired knowledge field was read")

    __getattr__ = __bool__ = __len__ = __iter__ = __getitem__ = _trip


def fit_with_tripwire(name, field="population"):
    attack = make(name)
    attack.fit(replace(knowledge(attack=attack), **{field: Tripwire()}))


@pytest.mark.parametrize("name", ALL)
def test_attacks_read_the_population_exactly_when_they_declare_it(name):
    if ATTACKS.get(name).uses_population:
        with pytest.raises(PopulationRead):
            fit_with_tripwire(name)
    else:
        fit_with_tripwire(name)  # must not raise


@pytest.mark.parametrize("name", ALL)
def test_attacks_read_the_random_queries_exactly_when_they_declare_them(name):
    # the pipeline gives the random queries' outputs only to attacks that declare them
    if ATTACKS.get(name).requires.random_queries:
        with pytest.raises(PopulationRead):
            fit_with_tripwire(name, "random_queries")
    else:
        fit_with_tripwire(name, "random_queries")  # must not raise


@pytest.mark.parametrize("name", QUERYING)
def test_querying_attacks_do_not_declare_population_outputs(name):
    # attacks that query the target themselves read the raw records (population_data),
    # never the target's outputs on them; the contract gives them no population outputs
    assert not ATTACKS.get(name).uses_population


def test_the_tripwire_trips():
    with pytest.raises(PopulationRead):
        bool(Tripwire())
    with pytest.raises(PopulationRead):
        _ = Tripwire().n
