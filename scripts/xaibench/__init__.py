"""xaibench: the library behind the xaibench Snakemake workflow.

Submodules are imported lazily by the workflow scripts so that each job only pays for what it uses
(an explanation job never imports Quantus, a figure job never imports torch). Nothing in this package
reads Snakemake job objects: scripts/*.py translate a job's input and params into calls here.
"""

__version__ = "0.1.0"
