"""Trust-region bookkeeping: judge a trial step by actual / predicted reduction and update the radius.

The constants are those of Nocedal & Wright Algorithm 4.1 and scipy's trust-region methods: shrink to
a quarter when rho < 1/4, double (up to `max_radius`) when rho > 3/4 and the step reached the
boundary. A step is accepted when rho > eta; eta defaults to 0.15 as in scipy (N&W allow any eta in
[0, 1/4)) so that our methods and scipy's take the same steps on the same oracle.
"""
from __future__ import annotations

from typing import NamedTuple


class RadiusUpdate(NamedTuple):
    """The new radius, whether the trial step is accepted, and the ratio rho that decided both."""

    radius: float
    accept: bool
    rho: float


def update_radius(actual: float, predicted: float, radius: float, hits_boundary: bool,
                  max_radius: float, eta: float = 0.15) -> RadiusUpdate:
    """rho = actual / predicted reduction; shrink, keep or expand the radius and accept if rho > eta.

    A model that predicts no decrease, or a non-finite trial value, counts as a failed step
    (rho = -inf): the radius shrinks and the step is rejected, so the next step is shorter.
    """
    rho = actual / predicted if predicted > 0 and actual == actual else float("-inf")
    if rho < 0.25:
        radius = 0.25 * radius
    elif rho > 0.75 and hits_boundary:
        radius = min(2.0 * radius, max_radius)
    return RadiusUpdate(radius, rho > eta, rho)
