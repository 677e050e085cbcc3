# xaibench: dataset prep -> training -> explanations -> Quantus evaluation -> tables, figures, report.
# Run `snakemake --cores all` (profile: profiles/default) or see README for SLURM.


# The default config, unless --configfile names another complete one (e.g. config/test.yaml).
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/explain.smk"
include: "rules/evaluate.smk"
include: "rules/statistics.smk"
include: "rules/claims.smk"
include: "rules/sweeps.smk"
include: "rules/figures.smk"
include: "rules/views.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
        view_targets(),
