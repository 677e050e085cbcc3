"""Rule view_adversarial: explanations before/after a flipping attack, and adversarial maximisation."""

from typing import TYPE_CHECKING

from xaibench.figures import views_model as plots
from xaibench.io import save_npz, save_table
from xaibench.logs import config_key, job_log
from xaibench.runtime import set_threads
from xaibench.views.adversarial import adversarial_job, heatmap_rows

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    set_threads(snakemake.threads)
    dataset, model = snakemake.wildcards.dataset, snakemake.wildcards.model
    settings, out_ = snakemake.params.settings, snakemake.output
    with config_key("views.adversarial"):
        out = adversarial_job(
            data_path=snakemake.input.data,
            weights_path=snakemake.input.weights,
            settings=settings,
            methods=snakemake.params.methods,
            seed=snakemake.params.seed,
            device=snakemake.params.device,
        )
    for name in ("similarity", "flips", "maximisation"):
        out[name].insert(0, "model", model)
        out[name].insert(0, "dataset", dataset)
        save_table(getattr(out_, name), out[name])
    save_npz(out_.arrays, **out["arrays"])
    title, names, value_range = f"{dataset} / {model}", out["class_names"], out["value_range"]
    rows = heatmap_rows(out, settings["n_show"])
    plots.plot_adversarial_heatmaps(
        rows["clean"], rows["adversarial"], rows["maps_before"], rows["maps_after"], rows["rows"],
        names, value_range, title, out_.heatmaps_png, out_.heatmaps_pdf, snakemake.params.methods,
    )  # fmt: skip
    eps_range = (settings["epsilon_min"], settings["epsilon_max"])
    plots.plot_adversarial_similarity(
        out["similarity"], out["flips"], eps_range, title, out_.similarity_png, out_.similarity_pdf,
        snakemake.params.methods,
    )  # fmt: skip
    n_max = len(out["arrays"]["maximised"])
    plots.plot_maximisation(
        out["arrays"]["images"][:n_max], out["arrays"]["maximised"], out["maximisation"],
        names, value_range, title, out_.maximisation_png, out_.maximisation_pdf,
    )  # fmt: skip
    log.info("seconds: %s", out["seconds"])
