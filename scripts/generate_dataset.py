"""Rule generate_dataset: run one dataset generator and store the set as .npz."""

from typing import TYPE_CHECKING

from xaibench.datasets import make_dataset, save_dataset
from xaibench.logs import config_key, end_job, job_log

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    spec = snakemake.params.spec
    with config_key(f"datasets.{snakemake.wildcards.dataset}"):
        dataset = make_dataset(spec["generator"], seed=snakemake.params.seed, **spec["params"])
    save_dataset(snakemake.output.data, dataset)
    log.info("wrote %d images of shape %s", len(dataset.images), dataset.images.shape[1:])
end_job()
