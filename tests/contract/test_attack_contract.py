"""The contract every registered attack must keep (DESIGN.md, "Registries")."""

import copy

import numpy as np
import pytest

from miaudit.attacks import ATTACKS, AttackerKnowledge, make_attack
from miaudit.errors import NotFittedError, UnknownNameError
from miaudit.outputs import ModelOutputs, ReferenceOutputs, softmax

C = 4
K = 8  # reference models in the synthetic reference outputs


def make(name):
    """The attack with its class's ``example_params`` (e.g. ML-Leaks 2's shadow data set;
    GMIA selecting every record): everything else keeps its default."""
    return make_attack(name, **ATTACKS.get(name).example_params)


def member_like_outputs(y, member, rng, c=C):
    """Confident-correct rows where ``member``, diffuse rows elsewhere."""
    n = len(y)
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), y] += np.where(member, 8.0, -1.0)
    return ModelOutputs.from_logits(logits, y)


def synthetic_reference(request, audited_y, seed=0):
    """Reference outputs that behave like real ones: IN records look like members."""
    rng = np.random.default_rng(seed + 100)
    k = request.num_models or K
    n_pop = 120
    pop_y = rng.integers(0, C, n_pop)
    if request.kind == "random":
        audited_in = np.zeros((len(audited_y), k), bool)
        for i in range(len(audited_y)):
            audited_in[i, rng.permutation(k)[: k // 2]] = True
        if k == 1:
            audited_in[:, 0] = rng.random(len(audited_y)) < 0.5
        audited = tuple(member_like_outputs(audited_y, audited_in[:, j], rng) for j in range(k))
        return ReferenceOutputs(
            audited=audited,
            audited_in=audited_in,
            population=tuple(
                member_like_outputs(pop_y, np.zeros(n_pop, bool), rng) for _ in range(k)
            ),
            population_in=np.zeros((n_pop, k), bool),
            population_out=np.ones((n_pop, k), bool),
            train_loss=np.full(k, 0.01),
        )
    c = 10 if request.dataset else C
    pop_y = rng.integers(0, c, n_pop)
    pin = np.zeros((n_pop, k), bool)
    pout = np.zeros((n_pop, k), bool)
    for j in range(k):
        order = rng.permutation(n_pop)
        pin[order[: n_pop // 2], j] = True
        pout[order[n_pop // 2 :], j] = True
    return ReferenceOutputs(
        audited=(),
        audited_in=np.zeros((0, k), bool),
        population=tuple(member_like_outputs(pop_y, pin[:, j], rng, c) for j in range(k)),
        population_in=pin,
        population_out=pout,
        train_loss=np.full(k, 0.01),
        foreign=request.dataset,
    )


def separable_outputs(n=200, seed=0):
    """Members: confident and correct. Non-members: diffuse and often wrong."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    member = np.arange(n) < n // 2
    logits = rng.normal(size=(n, C))
    logits[np.arange(n), y] += np.where(member, 8.0, -1.0)
    return ModelOutputs.from_logits(logits, y), member


def knowledge(seed=0, attack=None):
    rng = np.random.default_rng(seed)
    rand = softmax(rng.normal(size=(50, C)))
    request = None if attack is None else attack.reference_request()
    reference = None
    if request is not None:
        audited, _ = separable_outputs()
        reference = synthetic_reference(request, audited.y, seed)
    if reference is not None and reference.population and not reference.foreign:
        pop_y = reference.population[0].y
        population = member_like_outputs(pop_y, np.zeros(len(pop_y), bool), rng)
    else:
        population, _ = separable_outputs(100, seed=seed + 1)
    return AttackerKnowledge(
        num_classes=C,
        population=population,
        random_queries=ModelOutputs(probs=rand, y=rand.argmax(1)),
        seed=seed,
        reference=reference,
    )


ALL = [n for n in ATTACKS.names() if ATTACKS.get(n).access == "outputs"]
QUERYING = [n for n in ATTACKS.names() if ATTACKS.get(n).access != "outputs"]


@pytest.mark.parametrize("name", ALL)
def test_fit_returns_self_and_scores_are_finite(name):
    attack = make(name)
    assert attack.fit(knowledge(attack=attack)) is attack
    out, _ = separable_outputs()
    scores = attack.score_samples(out)
    assert scores.dtype == np.float64 and scores.shape == (out.n,)
    assert np.all(np.isfinite(scores))


@pytest.mark.parametrize("name", ALL)
def test_inputs_not_mutated(name):
    out, _ = separable_outputs()
    attack = make(name)
    k = knowledge(attack=attack)
    before = copy.deepcopy((out.probs, out.y, out.logits, k.population.probs))
    attack.fit(k)
    attack.score_samples(out)
    after = (out.probs, out.y, out.logits, k.population.probs)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ALL)
def test_deterministic(name):
    out, _ = separable_outputs()
    a1, a2 = make(name), make(name)
    s1 = a1.fit(knowledge(attack=a1)).score_samples(out)
    s2 = a2.fit(knowledge(attack=a2)).score_samples(out)
    np.testing.assert_array_equal(s1, s2)


@pytest.mark.parametrize("name", ALL)
def test_separable_data_scored_the_right_way_round(name):
    out, member = separable_outputs()
    attack = make(name)
    scores = attack.fit(knowledge(attack=attack)).score_samples(out)
    assert scores[member].mean() > scores[~member].mean()
    # every member at least as likely as the median non-member
    assert np.mean(scores[member] >= np.median(scores[~member])) > 0.95


@pytest.mark.parametrize("name", ALL)
def test_clear_error_before_fit(name):
    out, _ = separable_outputs()
    with pytest.raises(NotFittedError, match="not fitted"):
        make(name).score_samples(out)


@pytest.mark.parametrize("name", ALL)
def test_declares_threat_model(name):
    tm = ATTACKS.get(name).threat_model
    assert tm.knowledge in {"black-box probabilities", "black-box labels", "white-box"}
    assert tm.paper


@pytest.mark.parametrize("name", ALL)
def test_reference_attacks_fail_clearly_without_reference_models(name):
    attack = make(name)
    if attack.reference_request() is None:
        pytest.skip("needs no reference models")
    from miaudit.errors import DataError

    with pytest.raises(DataError, match="reference"):
        attack.fit(knowledge())


def test_constructor_only_stores_parameters():
    for name in ALL:
        attack = make(name)
        assert not any(k.endswith("_") for k in vars(attack)), name


def test_unknown_attack_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid names: .*loss"):
        make_attack("los")


# --- attacks that query the target themselves (label-only, white-box) -----------------


@pytest.fixture(scope="module")
def query_problem():
    """An overfit torch MLP (random labels), its members/non-members, population, recipe."""
    from miaudit.models import train_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(360, 10)).astype(np.float32)
    y = rng.integers(0, C, 360)
    params = {"hidden": [64], "epochs": 40, "batch_size": 16, "lr": 0.01}

    def train(xs, ys, seed):
        return train_model("mlp", params, xs, ys, num_classes=C, seed=seed)

    target = train(x[:60], y[:60], 0)
    records = (x[:120], y[:120])  # 60 members, then 60 non-members
    member = np.arange(120) < 60
    return target, records, member, (x[120:], y[120:]), train


def query_knowledge(problem, attack):
    from miaudit.targets import LabelOnlyTarget

    target, _, _, population, train = problem
    view = LabelOnlyTarget(target) if attack.access == "labels" else target
    # the recipe only for attacks that declare it, as the pipeline gives it
    recipe = train if attack.needs().recipe else None
    return AttackerKnowledge(
        num_classes=C, seed=0, population_data=population, train_model=recipe, target=view
    )


def score_view(problem, attack):
    from miaudit.targets import LabelOnlyTarget

    return LabelOnlyTarget(problem[0]) if attack.access == "labels" else problem[0]


@pytest.mark.parametrize("name", QUERYING)
def test_querying_attack_contract(name, query_problem):
    _, (x, y), member, _, _ = query_problem
    x_before, y_before = x.copy(), y.copy()
    attack = make(name)
    with pytest.raises(NotFittedError, match="not fitted"):
        attack.score_records(score_view(query_problem, attack), x, y)
    assert attack.fit(query_knowledge(query_problem, attack)) is attack
    scores = attack.score_records(score_view(query_problem, attack), x, y)
    assert scores.dtype == np.float64 and scores.shape == (len(y),)
    assert np.all(np.isfinite(scores))
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)
    again = make(name)
    again.fit(query_knowledge(query_problem, again))
    np.testing.assert_array_equal(
        again.score_records(score_view(query_problem, again), x, y), scores
    )
    assert scores[member].mean() > scores[~member].mean()


@pytest.mark.parametrize("name", QUERYING)
def test_querying_attack_declares_threat_model(name):
    cls = ATTACKS.get(name)
    expected = {"labels": "black-box labels", "white-box": "white-box"}[cls.access]
    assert cls.threat_model.knowledge == expected


# --- declared needs (Attack.requires) ---------------------------------------------------


@pytest.mark.parametrize("name", ATTACKS.names())
def test_reference_request_agrees_with_the_declaration(name):
    attack = make(name)
    request = attack.reference_request()
    assert (None if request is None else request.kind) == type(attack).requires.reference


@pytest.mark.parametrize("name", ATTACKS.names())
def test_declared_needs_agree_with_the_threat_model(name):
    cls = ATTACKS.get(name)
    needs = cls.requires
    knowledge = {"labels": "black-box labels", "white-box": "white-box"}.get(needs.access)
    if knowledge is not None:
        assert cls.threat_model.knowledge == knowledge
    else:
        assert cls.threat_model.knowledge != "white-box"
    if cls.threat_model.needs_shadow_models:
        assert needs.trains_models, "shadow models need a reference plan or a recipe"
    assert set(needs.params) <= set(cls.example_params)
    assert (cls.access, cls.uses_population, cls.required_params) == (
        needs.access,
        needs.population,
        needs.params,
    )


def test_needs_decided_for_the_parameters():
    from miaudit.attacks import Offer

    assert not make_attack("boundary_distance").needs().recipe
    assert make_attack("boundary_distance", calibration="shadow").needs().recipe
    assert make_attack("augmentation", classifier="logistic").needs().population_data
    assert not make_attack("augmentation").needs().missing(Offer(recipe=False, population=False))
    # a shadow plan on the attacker's own data needs the population, another data set not
    assert make_attack("shokri").needs().population_data
    assert not make_attack("ml_leaks_2", shadow_dataset="other").needs().population_data
    missing = make_attack("gradient_norm").needs().missing(Offer(parameters=False))
    assert len(missing) == 1 and "parameters" in missing[0]


def test_pre_requires_class_attributes_fold_into_the_declaration():
    from miaudit.attacks import Attack

    class Legacy(Attack):  # not registered
        name = "legacy"
        access = "labels"
        uses_population = True
        required_params = ("p",)

    assert Legacy.requires.access == "labels" and Legacy.requires.population
    assert Legacy.requires.params == ("p",) and Legacy.uses_population
    with pytest.raises(TypeError, match="declare requires = Needs"):

        class Overriding(Attack):
            name = "overriding"

            def needs_recipe(self):
                return True
