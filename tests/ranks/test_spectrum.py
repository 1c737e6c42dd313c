import numpy as np
import pytest
import torch

from lorascope.ranks.spectrum import analyze_delta, decay_rate, energy_rank


def with_spectrum(values, shape, seed=0):
    """A float64 matrix U diag(values) Vᵀ with random orthonormal U, V: its spectrum is known."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((shape[0], len(values))))
    v, _ = np.linalg.qr(rng.standard_normal((shape[1], len(values))))
    return torch.from_numpy(u @ np.diag(values) @ v.T)


def brute_force_rank(values, energy):
    """Smallest k with Σ_{i<k} σ_i² ≥ energy · Σ σ_i², by counting up."""
    total = sum(v * v for v in values)
    kept = 0.0
    for k, v in enumerate(values, start=1):
        kept += v * v
        if kept >= energy * total - 1e-12:
            return k


@pytest.mark.parametrize(
    ("values", "shape"),
    [
        (np.exp(-0.15 * np.arange(64)), (256, 128)),  # smooth exponential decay
        (np.r_[np.linspace(10, 5, 8), 0.05 * np.ones(56)], (128, 300)),  # a sharp knee at 8
        (1.0 / (1 + np.arange(96)), (96, 512)),  # slow power-law decay: needs the widening search
    ],
)
def test_randomized_matches_exact_float64_on_known_spectra(values, shape):
    delta = with_spectrum(values, shape)
    exact = np.linalg.svd(delta.numpy(), compute_uv=False)
    assert np.allclose(exact[: len(values)], values, rtol=1e-10)
    for energy in (0.5, 0.9, 0.99):
        fast = analyze_delta(delta.float(), energy=energy, method="randomized")
        slow = analyze_delta(delta, energy=energy, method="exact")
        assert fast.r_raw == slow.r_raw == brute_force_rank(values, energy)
        assert fast.energy_retained == pytest.approx(slow.energy_retained, abs=1e-4)
        # top singular values: relative error below 1e-4 in float32 with 2 power iterations
        assert np.allclose(fast.singular_values[:16], values[:16], rtol=1e-4)
        assert slow.singular_values[: len(values)] == pytest.approx(list(values), rel=1e-10)


def test_planted_low_rank_updates_are_recovered_under_noise():
    rng = np.random.default_rng(1)
    for planted in (2, 5, 12, 30):
        update = with_spectrum(np.ones(planted), (384, 384), seed=planted)  # rank `planted`, flat spectrum
        noisy = update + torch.from_numpy(rng.standard_normal((384, 384))) * 1e-4  # 0.15% of the energy at most
        assert analyze_delta(noisy.float(), energy=0.99).r_raw == planted
        # at the default 0.90 a flat spectrum needs ceil(0.9 · planted) of its planted directions
        assert analyze_delta(noisy.float()).r_raw == brute_force_rank(
            np.linalg.svd(noisy.numpy(), compute_uv=False), 0.9
        )


def test_decay_rate_and_edge_cases():
    assert decay_rate(np.exp(-0.3 * np.arange(20))) == pytest.approx(0.3, rel=1e-9)
    assert decay_rate(np.array([2.0])) == 0.0
    zero = analyze_delta(torch.zeros(8, 4))
    assert (zero.r_raw, zero.energy_retained, zero.total_energy) == (0, 1.0, 0.0)
    assert energy_rank(np.array([1.0, 1.0]), total_energy=4.0, energy=0.9) is None  # these values fall short
    with pytest.raises(ValueError, match="energy must be in"):
        analyze_delta(torch.ones(3, 3), energy=1.5)


SLOW = {
    "power law i^-0.3": (lambda: with_spectrum((1.0 + np.arange(384)) ** -0.3, (384, 512), seed=3).float(), 0.5),
    "gaussian noise": (lambda: torch.from_numpy(np.random.default_rng(5).standard_normal((400, 300))).float(), 0.5),
    "noise at 0.9": (lambda: torch.from_numpy(np.random.default_rng(6).standard_normal((256, 640))).float(), 0.9),
}


@pytest.mark.parametrize("case", list(SLOW))
def test_slowly_decaying_spectra_give_the_exact_answer_and_say_how(case):
    """Noise-like ΔW (what a brief fine-tune produces): the randomized search cannot certify a
    rank from its top values, so it must not report its over-estimate; it falls back, and says so."""
    make, energy = SLOW[case]
    delta = make()
    exact = np.linalg.svd(delta.double().numpy(), compute_uv=False)
    fast = analyze_delta(delta, energy=energy)
    assert fast.r_raw == brute_force_rank(exact, energy)
    assert np.allclose(fast.singular_values[:16], exact[:16], rtol=1e-4)
    assert fast.method.startswith("exact")


def test_certified_randomized_answers_hold_their_error_bounds():
    rng = np.random.default_rng(2)
    planted = with_spectrum(np.linspace(1.0, 2.0, 16), (1024, 768), seed=2)
    delta = (planted + 1e-4 * torch.from_numpy(rng.standard_normal((1024, 768)))).float()
    exact = np.linalg.svd(delta.double().numpy(), compute_uv=False)
    fast = analyze_delta(delta, energy=0.9)
    assert fast.method == "randomized" and fast.error_bound > 0
    s = np.array(fast.singular_values)
    assert np.all(exact[: s.size] >= s - 1e-12) and np.all(exact[: s.size] <= np.sqrt(s**2 + fast.error_bound**2))
    assert fast.r_raw == brute_force_rank(exact, 0.9)
    assert np.allclose(s[:16], exact[:16], rtol=1e-4)


def test_an_exact_tie_on_a_flat_spectrum_is_decided_alike_by_both_methods():
    delta = with_spectrum(np.ones(10), (200, 160), seed=4).float()  # the share of 9 values is exactly 0.9
    assert analyze_delta(delta, energy=0.9).r_raw == analyze_delta(delta, energy=0.9, method="exact").r_raw == 9


def test_energy_one_is_the_numerical_rank_whatever_the_rounding():
    planted = with_spectrum(np.linspace(1.0, 3.0, 12), (256, 192), seed=7)
    for dtype in (torch.float32, torch.float64):
        delta = planted.to(dtype)
        for method in ("randomized", "exact"):
            result = analyze_delta(delta, energy=1.0, method=method)
            assert result.r_raw == 12 and result.energy_retained == pytest.approx(1.0, abs=1e-6)
    noise = torch.from_numpy(np.random.default_rng(8).standard_normal((64, 48))).float()
    assert analyze_delta(noise, energy=1.0).r_raw == np.linalg.matrix_rank(noise.numpy()) == 48
