"""Tests of the seeds' claims: each claim one spec in a registry, tested on the run's tables.

Layout: :mod:`~xaibench.claims.core` (ClaimSpec, the ``CLAIMS`` registry, ``register``, the verdict
logic and ``evaluate_claims``: generic, knows no claim by name), :mod:`~xaibench.claims.evidence` (tests
shared by the claims: a method against a control, two methods, a paired difference, a share),
:mod:`~xaibench.claims.parts` (where on the object relevance lies: corners, edges, interior; objects of a
counting image) and :mod:`~xaibench.claims.catalogue` and :mod:`~xaibench.claims.perturbations` (the claims
themselves). This package re-exports the
public names and imports the catalogue so that the claims register.
"""

from xaibench.claims import catalogue, perturbations
from xaibench.claims.core import (
    CLAIM_COLUMNS,
    CLAIMS,
    VERDICTS,
    ClaimContext,
    ClaimSpec,
    Evidence,
    evaluate_claims,
    register,
    verdict,
    verdict_counts,
)

__all__ = [
    "CLAIMS",
    "CLAIM_COLUMNS",
    "VERDICTS",
    "ClaimContext",
    "ClaimSpec",
    "Evidence",
    "catalogue",
    "evaluate_claims",
    "perturbations",
    "register",
    "verdict",
    "verdict_counts",
]
