"""Rule statistics: every method against the controls, metric health, Friedman tests, mean ranks, Nemenyi
p-values of every method pair, metric agreement and agreement with the ground-truth ranking, from the run's
long scores table."""

from typing import TYPE_CHECKING

from xaibench.io import load_table, save_table
from xaibench.logs import end_job, job_log
from xaibench.stats import beats_control_counts, compare_to_controls, metric_health
from xaibench.stats.agreement import anchored_validity, metric_agreement
from xaibench.stats.rankings import friedman_tests, mean_ranks, pairwise_nemenyi

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    params, out = snakemake.params, snakemake.output
    scores = load_table(snakemake.input.scores)
    controls = dict(params.controls)  # registry name -> configured name: "random", "sobel"
    comparisons = compare_to_controls(
        scores, tuple(controls.values()), alpha=params.alpha, seed=params.seed, n_boot=params.n_boot
    )
    random = controls.get("random", "")
    health = metric_health(
        scores, comparisons, alpha=params.alpha, controls=tuple(controls.values()), reference=random
    )
    ranks = mean_ranks(scores)
    save_table(out.comparisons, comparisons)
    save_table(out.health, health)
    save_table(out.friedman, friedman_tests(scores, alpha=params.alpha))
    save_table(out.ranks, ranks)
    save_table(out.nemenyi, pairwise_nemenyi(scores))
    save_table(out.agreement, metric_agreement(ranks))
    save_table(out.anchored, anchored_validity(scores, n_boot=params.n_boot, seed=params.seed))
    beats = beats_control_counts(comparisons, control=random)
    save_table(out.beats_random, beats)
    for sentence in beats["sentence"]:
        log.info("%s", sentence)
    decided = comparisons["verdict"].isin(["better", "worse"])
    log.info("%d of %d comparisons decided at alpha %s", decided.sum(), len(comparisons), params.alpha)
end_job()
