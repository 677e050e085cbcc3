"""Rule export_onnx: ONNX export of a trained model, checked against PyTorch with onnxruntime."""

from typing import TYPE_CHECKING

from xaibench.io import save_json
from xaibench.logs import end_job, job_log
from xaibench.onnx_export import check_onnx, export_onnx
from xaibench.pairs import load_pair

if TYPE_CHECKING:
    from snakemake.script import snakemake

with job_log(snakemake.log[0]) as log:
    pair = load_pair(snakemake.input.data, snakemake.input.weights, "cpu")
    dataset, model = pair.dataset, pair.model
    export_onnx(model, dataset.images.shape[1:], snakemake.output.onnx)
    test_images = dataset.images[dataset.indices("test")[:32]]
    max_abs_diff = check_onnx(model, snakemake.output.onnx, test_images)
    save_json(snakemake.output.check, {"max_abs_diff_logits": max_abs_diff, "n_images": len(test_images)})
    log.info("onnxruntime reproduces the PyTorch logits: max |diff| = %.2e", max_abs_diff)
end_job()
