"""Diffusion targets and attacks (issue 14): the schedule against its closed form, the
vectorised measurements against slow per-record loops and hand computations on a toy
denoiser whose eps_theta is known, batch-size invariance, an over-trained tiny DDPM whose
members every attack finds, and refusals of bad input as one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from miaudit.attacks.diffusion import (
    DIFFUSION_ATTACKS,
    DiffusionLoss,
    PIAAttack,
    SecMI,
    make_diffusion_attack,
    run_diffusion_attack,
)
from miaudit.errors import ConfigError, DataError, MiauditError, NotFittedError
from miaudit.generative import (
    DDPMRecipe,
    DDPMSchedule,
    DiffusionKind,
    DiffusionTarget,
    train_ddpm,
)
from miaudit.kinds import Signals, measure
from miaudit.metrics import auc


class ScaleDenoiser(nn.Module):
    """A toy denoiser with a known eps_theta: eps_theta(x, t) = c[t] * x + d[t]."""

    def __init__(self, T: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("c", 0.2 + torch.rand(T, generator=g, dtype=torch.float64))
        self.register_buffer("d", 0.1 * torch.randn(T, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (self.c[t].view(-1, 1, 1, 1) * x + self.d[t].view(-1, 1, 1, 1)).float()


class WrongShape(nn.Module):
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x[:, :, :4]


class DuckScheduler:
    """What a diffusers DDPMScheduler offers to miaudit: alphas_cumprod as a tensor."""

    def __init__(self, T: int) -> None:
        self.alphas_cumprod = torch.cumprod(1 - torch.linspace(1e-3, 0.2, T), dim=0)


def _one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((12, 1, 8, 8), dtype=np.float32)


@pytest.fixture
def toy() -> DiffusionTarget:
    T = 20
    return DiffusionTarget(ScaleDenoiser(T), DDPMSchedule.scaled(T), (1, 8, 8))


def test_schedule_matches_the_closed_form() -> None:
    s = DDPMSchedule(50, 1e-4, 0.02)
    prod, abar = 1.0, []
    for t in range(50):
        prod *= 1 - (1e-4 + (0.02 - 1e-4) * t / 49)
        abar.append(prod)
    np.testing.assert_allclose(s.alphas_cumprod, abar, rtol=1e-12)  # float64 products
    assert s.alphas_cumprod.dtype == np.float64 and s.alphas_cumprod.shape == (50,)
    scaled = DDPMSchedule.scaled(100)
    assert scaled.beta_start == pytest.approx(1e-3) and scaled.beta_end == pytest.approx(0.2)
    duck = DiffusionTarget(ScaleDenoiser(20), DuckScheduler(20), (1, 8, 8))
    np.testing.assert_allclose(duck.alphas_cumprod, DuckScheduler(20).alphas_cumprod.numpy())


def test_timestep_loss_matches_a_per_record_loop(toy, images) -> None:
    ts, draws, seed = (0, 7, 19), 3, 5
    fast = toy.timestep_losses(images, ts, draws=draws, seed=seed, batch_size=5)
    # the same noise (per draw, per timestep, one (n, C, H, W) draw), then record by record
    gen = torch.Generator().manual_seed(seed)
    x0 = 2.0 * images.astype(np.float64) - 1.0
    abar = toy.alphas_cumprod
    c, d = toy.model.c.numpy(), toy.model.d.numpy()
    slow = np.zeros((len(images), len(ts)))
    for _ in range(draws):
        for j, t in enumerate(ts):
            noise = torch.randn(images.shape, generator=gen).double().numpy()
            for i in range(len(images)):
                xt = np.sqrt(abar[t]) * x0[i] + np.sqrt(1 - abar[t]) * noise[i]
                slow[i, j] += np.mean((noise[i] - (c[t] * xt + d[t])) ** 2) / draws
    # float32 model inputs against float64 here: ~1e-7 relative
    np.testing.assert_allclose(fast, slow, rtol=1e-5)
    assert toy.queries == len(images) * len(ts) * draws


def test_measurements_do_not_depend_on_the_batch_size(images) -> None:
    target, _ = train_ddpm(DDPMRecipe(timesteps=10, width=8, epochs=1, batch_size=6), images)

    def kind(b: int) -> DiffusionKind:
        return DiffusionKind(timesteps=(2, 6), draws=2, secmi=(4, 2), pia=(5, 4.0), batch_size=b)

    a = measure(kind(3), target, images)
    b = measure(kind(12), target, images)
    for name in a.names:
        # batched convolutions round differently in float32: ~1e-6 relative; SecMI's error
        # is a small difference of two reconstructions, so its relative error is larger
        np.testing.assert_allclose(a[name], b[name], rtol=1e-3 if name == "secmi_error" else 1e-4)
    np.testing.assert_array_equal(a["pia_error"], measure(kind(3), target, images)["pia_error"])


def test_pia_matches_a_hand_computation(toy, images) -> None:
    t, p = 11, 4.0
    fast = run_diffusion_attack(PIAAttack(t=t, p=p), toy, images)
    a = toy.alphas_cumprod[t]
    c, d = toy.model.c.numpy(), toy.model.d.numpy()
    x0 = 2.0 * images.astype(np.float64) - 1.0
    eps0 = c[0] * x0 + d[0]
    xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps0
    dist = (np.abs(eps0 - (c[t] * xt + d[t])) ** p).reshape(len(x0), -1).sum(1) ** (1 / p)
    np.testing.assert_allclose(fast.scores, -dist, rtol=1e-5)
    assert fast.queries == 2 * len(images) and fast.params == {"t": t, "p": p}


def test_secmi_matches_a_hand_computation(toy, images) -> None:
    t, k = 9, 3
    fast = run_diffusion_attack(SecMI(t=t, k=k), toy, images)
    abar = toy.alphas_cumprod
    c, d = toy.model.c.numpy(), toy.model.d.numpy()

    def ddim(x: np.ndarray, s: int, u: int) -> np.ndarray:
        eps = c[s] * x + d[s]
        x0 = (x - np.sqrt(1 - abar[s]) * eps) / np.sqrt(abar[s])
        return np.sqrt(abar[u]) * x0 + np.sqrt(1 - abar[u]) * eps

    errs = []
    for img in images.astype(np.float64):
        x = 2 * img - 1
        for s in (0, 3, 6):  # inversion 0 -> 3 -> 6 -> 9
            x = ddim(x, s, s + k)
        back = ddim(ddim(x, 9, 12), 12, 9)
        errs.append(np.sum((x - back) ** 2))
    np.testing.assert_allclose(fast.scores, -np.array(errs), rtol=1e-3, atol=1e-9)
    assert fast.queries == (t // k + 2) * len(images)


def test_training_and_sampling_are_seeded(images) -> None:
    recipe = DDPMRecipe(timesteps=10, width=8, epochs=2, batch_size=6, seed=3)
    t1, h1 = train_ddpm(recipe, images)
    t2, h2 = train_ddpm(recipe, images)
    assert h1.loss == h2.loss and len(h1.loss) == 2 and h1.seconds > 0
    s1 = t1.sample(5, seed=1, batch_size=2)
    np.testing.assert_array_equal(s1, t2.sample(5, seed=1, batch_size=2))
    np.testing.assert_allclose(s1, t1.sample(5, seed=1, batch_size=5), atol=1e-4)
    assert s1.shape == (5, 1, 8, 8) and s1.min() >= 0 and s1.max() <= 1
    assert np.abs(s1 - t1.sample(5, seed=2)).max() > 1e-2
    assert t1.queries == 3 * 5 * 10


class Memoriser(nn.Module):
    """The denoiser of a model that memorised its members exactly: it takes x_t / sqrt(abar_t)
    for a noisy member, snaps it to the nearest member m and returns the eps that makes
    x_t = sqrt(abar_t) m + sqrt(1 - abar_t) eps. On a member every attack's error is 0
    (the loss up to the noise's pull towards another member; SecMI's round trip and PIA's
    two predictions agree exactly); on a non-member it is not."""

    def __init__(self, members: np.ndarray, abar: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("m", torch.from_numpy(2.0 * members - 1.0).double())
        self.register_buffer("abar", torch.from_numpy(abar))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar[t].view(-1, 1, 1, 1)
        d = ((x.double()[:, None] / a.sqrt()[:, None] - self.m[None]) ** 2).flatten(2).sum(2)
        m = self.m[d.argmin(1)]
        return ((x.double() - a.sqrt() * m) / (1 - a).sqrt()).float()


def test_every_attack_finds_the_members_of_a_memorising_denoiser() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((16, 1, 8, 8), dtype=np.float32)
    y = np.r_[np.ones(8), np.zeros(8)]
    schedule = DDPMSchedule.scaled(20)
    target = DiffusionTarget(Memoriser(x[:8], schedule.alphas_cumprod), schedule, (1, 8, 8))
    for attack in (DiffusionLoss(timesteps=(2, 5), draws=4), SecMI(t=2, k=1), PIAAttack(t=4)):
        run = run_diffusion_attack(attack, target, x)
        assert auc(y, run.scores) == 1.0, attack.name
        if attack.name != "diffusion_loss":  # members: error ~0 (float rounding)
            assert np.all(run.scores[:8] > -1e-6), attack.name


def test_an_overtrained_ddpm_gives_its_members_away_to_the_loss() -> None:
    """8 random 8x8 images trained on for 200 steps: the loss at small t ranks them above 8
    unseen random images (observed AUC 1.0; under no leakage the AUC of 8 vs 8 has standard
    deviation ~0.15, so 0.9 is > 2.5 of them). SecMI and PIA are not asserted here: on this
    partly memorised denoiser of random-pixel images they rank the sets the wrong way round
    (observed), which BENCHMARKS.md reports; the memorising denoiser above checks their
    direction where the answer is known."""
    rng = np.random.default_rng(1)
    x = rng.random((16, 1, 8, 8), dtype=np.float32)
    recipe = DDPMRecipe(timesteps=20, width=16, epochs=200, batch_size=8, lr=2e-3, seed=0)
    target, history = train_ddpm(recipe, x[:8])
    y = np.r_[np.ones(8), np.zeros(8)]
    run = run_diffusion_attack(DiffusionLoss(timesteps=(2, 5), draws=8), target, x)
    assert auc(y, run.scores) >= 0.9, history.loss[-3:]
    assert run.queries == 16 * 2 * 8
    # the control: two sets of non-members are not told apart (no planted signal)
    other = rng.random((8, 1, 8, 8), dtype=np.float32)
    ctrl = run_diffusion_attack(
        DiffusionLoss(timesteps=(2, 5), draws=8), target, np.r_[x[8:], other]
    )
    assert abs(auc(y, ctrl.scores) - 0.5) < 0.4


def test_registry_and_threat_models() -> None:
    assert set(DIFFUSION_ATTACKS.names()) >= {"diffusion_loss", "secmi", "pia"}
    for name in ("diffusion_loss", "secmi", "pia"):
        attack = make_diffusion_attack(name)
        assert attack.threat_model.knowledge == "white-box" and "20" in attack.threat_model.paper


# --- refusals: one-line errors, before the first query -------------------------------


def test_wrong_shape_denoiser_output_is_refused(images) -> None:
    target = DiffusionTarget(WrongShape(), DDPMSchedule.scaled(10), (1, 8, 8))
    with pytest.raises(DataError) as e:
        run_diffusion_attack(PIAAttack(t=3), target, images)
    assert "shape" in _one_line(e) and "(12, 1, 4, 8)" in _one_line(e)


def test_timesteps_out_of_range_are_refused_before_querying(toy, images) -> None:
    for attack in (DiffusionLoss(timesteps=(3, 20)), SecMI(t=18, k=2), PIAAttack(t=-1)):
        with pytest.raises(MiauditError) as e:
            run_diffusion_attack(attack, toy, images)
        _one_line(e)
    assert toy.queries == 0
    with pytest.raises(DataError, match="multiple"):
        toy.secmi_errors(images, t=5, k=2)
    with pytest.raises(ConfigError, match="multiple"):
        make_diffusion_attack("secmi", t=5, k=2)


def test_zero_draws_and_samples_are_refused(toy, images) -> None:
    with pytest.raises(ConfigError) as e:
        make_diffusion_attack("diffusion_loss", draws=0)
    assert "draws" in _one_line(e)
    with pytest.raises(ConfigError):
        make_diffusion_attack("diffusion_loss", timesteps=())
    with pytest.raises(DataError, match="draws"):
        toy.timestep_losses(images, [1], draws=0, seed=0)
    with pytest.raises(DataError) as e:
        toy.sample(0, seed=0)
    _one_line(e)


def test_bad_records_schedules_and_recipes_are_refused(toy, images) -> None:
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        run_diffusion_attack(PIAAttack(t=3), toy, images * 2)
    with pytest.raises(DataError, match="shape"):
        run_diffusion_attack(PIAAttack(t=3), toy, np.zeros((2, 1, 9, 9), dtype=np.float32))
    with pytest.raises(DataError, match="alphas_cumprod"):
        DiffusionTarget(ScaleDenoiser(5), object(), (1, 8, 8))
    with pytest.raises(ConfigError, match="epochs"):
        DDPMRecipe(epochs=0)
    with pytest.raises(ConfigError, match="beta_end"):
        DDPMSchedule(10, 0.2, 0.1)
    with pytest.raises(ConfigError, match="divisible by 4"):
        train_ddpm(DDPMRecipe(epochs=1), np.zeros((2, 1, 10, 10), dtype=np.float32))
    with pytest.raises(NotFittedError):
        PIAAttack().score_samples(Signals(2, {"pia_error": np.zeros(2)}))
    with pytest.raises(DataError, match="not measured"):
        DiffusionKind(pia=(1, 2.0)).signals(
            DiffusionKind(pia=(1, 2.0)).query(toy, images), ["secmi_error"]
        )
