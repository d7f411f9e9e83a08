"""A learned preference tower that joins the profile embedding in the FAISS space.

Industry similarity alone retrieves the parks of a firm's chain, but firms also weigh land
prices, subsidies and the distance their Beijing ties allow, so a retrieval on similarity alone
misses many parks that firms actually choose.  This stage learns, from the relocation history,
a conditional logit over the whole catalogue

    u(firm i, park j) = α · sim(i, j) + f_iᵀ W p_j + b_j

with f_i a few firm attributes, p_j the park's decision attributes and b_j a park intercept.  The
bilinear form splits into a firm block ``[f_i W, 1]`` and a park block ``[p_j, b_j]``, so it is
still an inner product and FAISS can retrieve by it: the firm vector is ``[α·e_i, f_i W, 1]`` and
the park vector ``[e_j, p_j, b_j]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from features import schemas as S
from features.pairs import FUNCTION_FLAGS, FirmArrays, ParkArrays

FIRM_TOWER_FEATURES: tuple[str, ...] = (
    "ties",
    "ties_sq",
    "land_need_log",
    "talent",
    "needs_port",
    "pollution",
    "pharma",
    "employees_log",
    *FUNCTION_FLAGS,
    *(f"wants_{s}" for s in S.SUBSIDY_ITEMS),
)
PARK_TOWER_FEATURES: tuple[str, ...] = (
    *(f"subsidy_{s}" for s in S.SUBSIDY_ITEMS),
    "keeps_registration",
    "talent_pool",
    "land_price_log",
    "land_log",
    "distance_100km",
    "rail_hours",
    "port",
    "level",
    "group",
    "capacity_log",
    "pollution_max",
)


def firm_tower_features(firms: FirmArrays) -> np.ndarray:
    n = firms.num
    cols = [
        n["ties"],
        n["ties"] ** 2,
        np.log1p(n["land_need"]) / 5.0,
        n["talent"],
        n["needs_port"],
        n["pollution"] / 2.0,
        firms.is_pharma,
        np.log1p(n["employees"]) / 8.0,
        *(n[name] for name in FUNCTION_FLAGS),
        *(n["priorities"][:, k] for k in range(len(S.SUBSIDY_ITEMS))),
    ]
    return np.stack(cols, axis=1).astype(np.float64)


def park_tower_features(parks: ParkArrays) -> np.ndarray:
    n = parks.num
    cols = [
        *(n["subsidies"][:, k] / 3.0 for k in range(len(S.SUBSIDY_ITEMS))),
        n["keeps_reg"],
        n["talent"],
        np.log(np.maximum(n["price"], 1.0) / 1e5),
        np.log1p(n["land"]) / 10.0,
        n["distance"] / 100.0,
        n["rail"] / 60.0,
        n["port"],
        n["level"] / 3.0,
        n["group"] / 3.0,
        np.log1p(n["capacity"]) / 5.0,
        n["pollution"] / 2.0,
    ]
    x = np.stack(cols, axis=1).astype(np.float64)
    # The logit cannot take NaN: an unknown value sits at the mean of the known ones (0 if none
    # is known), so it neither helps nor hurts a park.  The ranker still sees the NaN itself.
    known = ~np.isnan(x)
    means = np.where(known, x, 0.0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)
    return np.where(np.isnan(x), means[None, :], x)


class PreferenceTower:
    """Conditional logit over the catalogue, fitted by L-BFGS on the full softmax."""

    def __init__(self, l2: float = 1e-3, max_iter: int = 150, seed: int = 0):
        self.l2 = l2
        self.max_iter = max_iter
        self.seed = seed

    def fit(
        self,
        sim: np.ndarray,
        firm_x: np.ndarray,
        park_x: np.ndarray,
        target: np.ndarray,
        feasible: np.ndarray,
    ) -> PreferenceTower:
        """``target`` (n, P) is each firm's distribution over the parks it chose or shortlisted;
        infeasible parks (``feasible`` False) are left out of its softmax."""
        n, p = sim.shape
        df, dp = firm_x.shape[1], park_x.shape[1]
        mu, sd = park_x.mean(axis=0), park_x.std(axis=0) + 1e-9
        px = (park_x - mu) / sd
        neg = np.where(feasible, 0.0, -np.inf)
        w = target / np.maximum(target.sum(axis=1, keepdims=True), 1e-12)

        def unpack(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            return float(theta[0]), theta[1 : 1 + df * dp].reshape(df, dp), theta[1 + df * dp :]

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            alpha, wm, b = unpack(theta)
            u = alpha * sim + (firm_x @ wm) @ px.T + b[None, :] + neg
            u_max = u.max(axis=1, keepdims=True)
            e = np.exp(u - u_max)
            z = e.sum(axis=1, keepdims=True)
            prob = e / z
            logp = np.where(feasible, u - u_max - np.log(z), 0.0)
            value = -(w * logp).sum() / n
            g = (prob - w) / n  # dL/du
            grad_alpha = (g * sim).sum()
            grad_w = firm_x.T @ (g @ px)
            grad_b = g.sum(axis=0)
            value += 0.5 * self.l2 * (wm**2).sum() + 0.5 * self.l2 * (b**2).sum()
            grad = np.concatenate([[grad_alpha], (grad_w + self.l2 * wm).ravel(), grad_b + self.l2 * b])
            return value, grad

        theta0 = np.zeros(1 + df * dp + p)
        theta0[0] = 1.0
        res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter})
        alpha, wm, b = unpack(res.x)
        self.alpha_ = alpha
        # Fold the park standardisation into W.  The centring leaves a term that depends on the
        # firm alone (−f·W·μ/σ), the same for every park, so it changes no ranking and is dropped.
        self.weights_ = wm / sd[None, :]
        self.bias_ = b
        self.loss_ = float(res.fun)
        return self

    def firm_block(self, firm_x: np.ndarray) -> np.ndarray:
        """(n, dp + 1) firm side of the inner product; the last column meets the park intercepts."""
        return np.hstack([firm_x @ self.weights_, np.ones((firm_x.shape[0], 1))]).astype(np.float32)

    def park_block(self, park_x: np.ndarray) -> np.ndarray:
        return np.hstack([park_x, self.bias_[:, None]]).astype(np.float32)

    def save(self, directory: Path) -> list[Path]:
        np.save(directory / "tower_weights.npy", self.weights_, allow_pickle=False)
        np.save(directory / "tower_bias.npy", self.bias_, allow_pickle=False)
        (directory / "tower.json").write_text(
            json.dumps(
                {
                    "alpha": self.alpha_,
                    "l2": self.l2,
                    "max_iter": self.max_iter,
                    "seed": self.seed,
                    "loss": self.loss_,
                    "firm_features": list(FIRM_TOWER_FEATURES),
                    "park_features": list(PARK_TOWER_FEATURES),
                }
            ),
            encoding="utf-8",
        )
        return [directory / "tower_weights.npy", directory / "tower_bias.npy", directory / "tower.json"]

    @classmethod
    def load(cls, directory: Path) -> PreferenceTower:
        state = json.loads((directory / "tower.json").read_text(encoding="utf-8"))
        if (
            tuple(state["firm_features"]) != FIRM_TOWER_FEATURES
            or tuple(state["park_features"]) != PARK_TOWER_FEATURES
        ):
            raise ValueError("tower.json was fitted on other tower features than this code computes")
        self = cls(l2=state["l2"], max_iter=state["max_iter"], seed=state["seed"])
        self.alpha_ = float(state["alpha"])
        self.loss_ = float(state["loss"])
        self.weights_ = np.load(directory / "tower_weights.npy", allow_pickle=False)
        self.bias_ = np.load(directory / "tower_bias.npy", allow_pickle=False)
        return self
