"""Rule maximisation_transfer: the first replicate's adversarially maximised images (adversarial view)
classified by every other replicate's independently trained model, beside a shuffled-perturbation control
and the perturbations' alignment with the class means (seed 004: do maximised images carry class
features?)."""

from typing import TYPE_CHECKING

from xaibench.claims.transfer import class_means, transfer_table
from xaibench.datasets import load_dataset
from xaibench.io import load_npz, load_table, save_table
from xaibench.logs import end_job, job_log
from xaibench.models import load_model
from xaibench.runtime import select_device, set_threads
from xaibench.tables import labelled

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    params, inputs, wildcards = snakemake.params, snakemake.input, snakemake.wildcards
    device = select_device(params.device)
    arrays = load_npz(inputs.arrays)
    maximisation = load_table(inputs.maximisation)
    dataset = load_dataset(inputs.data)
    train = dataset.indices("train")
    means = class_means(dataset.images[train], dataset.labels[train], len(dataset.class_names))
    maximised = arrays["maximised"]
    clean = arrays["images"][: len(maximised)]
    bounds = (float(dataset.images.min()), float(dataset.images.max()))
    tables = []
    for replicate, weights in zip(params.replicates, inputs.replicate_weights, strict=True):
        model = load_model(weights, device)
        table = transfer_table(clean, maximised, maximisation, model, means, bounds, params.seed, str(device))
        tables.append(table.assign(replicate=int(replicate)))
    table = labelled(tables, dataset=wildcards.dataset, model=wildcards.model)
    save_table(snakemake.output.table, table)
    log.info(
        "transfer %.2f (control %.2f), alignment %.3f (control %.3f) over %d (image, class) pairs",
        table["transferred"].mean(), table["control_transferred"].mean(),
        table["alignment"].mean(), table["control_alignment"].mean(), len(table),
    )  # fmt: skip
end_job()
