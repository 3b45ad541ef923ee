"""Write churn.csv: a small synthetic customer table with what real CSV files have.

String categoricals with missing values (plan, region), a float column with missing values
(usage), whole-number columns (tenure, seats) and a string target (churn: yes/no). Seeded:
running it again writes the same file. ``python experiments/data/make_churn.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROWS, SEED = 600, 7


def churn_frame(rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro", "team", "enterprise"], rows, p=[0.4, 0.3, 0.2, 0.1])
    region = rng.choice(["north", "south", "east", "west"], rows)
    usage = rng.gamma(2.0, 10.0, rows)
    tenure = rng.integers(1, 72, rows)
    seats = rng.integers(1, 50, rows)
    logit = (
        -0.5
        + 1.4 * (plan == "basic")
        - 0.8 * (plan == "enterprise")
        + 0.6 * (region == "south")
        - usage / 18
        - tenure / 30
        + 0.02 * seats
    )
    churn = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame = pd.DataFrame(
        {
            "plan": plan,
            "region": region,
            "usage": usage.round(2),
            "tenure": tenure,
            "seats": seats,
            "churn": churn,
        }
    )
    for column, share in (("plan", 0.05), ("region", 0.08), ("usage", 0.1)):
        frame.loc[rng.random(rows) < share, column] = None
    return frame


if __name__ == "__main__":
    churn_frame().to_csv(Path(__file__).with_name("churn.csv"), index=False)
