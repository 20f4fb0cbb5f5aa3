"""The paper's ablations: Table 3 (component-wise, SEL and WSEL) and Table 4 (modal branch isolation, SEL).

Each table is a set of training runs (``edrnet_tf.training.runner.train``, the same as ``python -m edrnet_tf.train``)
repeated over seeds, read from their ``metrics.json`` (test split, headline labels) and laid out as in the
paper, with the paper's figures (real AVE) beside the measured ones.

- Table 3 rows: EDRNet (SEL: cross entropy only, lambda2 = 0, no SMB; WSEL: MIL), + B2ILC (the same trained
  models, their predictions corrected by B2ILC: no retraining), + LSS (lambda2 of the flags, no SMB), + LSS +
  SMBVF + B2ILC (lambda2 and S of the flags). LSS and SMB need segment labels: N/A for WSEL, as in the paper.
- Table 4 rows: the six sets of active decomposition branches (A; V; A + AV; V + AV; A + V; A + V + AV), each
  trained for SEL with the flags' objective (LSS and SMB as given); the A, V and gated head accuracies.
  The paper's last row equals its Table 3 full model (77.93, with B2ILC), so B2ILC is on for every head.

Runs live in ``OUTPUT/runs/<task>-<branches>-lss<lambda2>-smb<S>/seed<s>/`` (a plain run folder of
``python -m edrnet_tf.train``); a run whose ``run.json`` matches and that holds ``metrics.json`` is reused,
so both tables share their common run, and an interrupted sweep resumes where it stopped; a run folder of
other settings is never overwritten (it raises).

Under the EDRNet rows, each table prints the baselines (``edrnet_tf.baselines``: majority class, linear
probes, a small temporal conv) of the same data, computed once and kept in ``OUTPUT/baselines.json``.

CLI: ``python -m edrnet_tf.experiments table3|table4 --seeds N --output DIR [any python -m edrnet_tf.train
flag except --task, --output, --backup (and --branches for table4)]``.
"""

import dataclasses
import json
import pathlib
import shutil

import numpy as np

from edrnet_tf import files
from edrnet_tf.evaluation import baselines

TABLES = ("table3", "table4")
BRANCH_SETS = {  # Table 4 rows: active DC branches -> the paper's "Training Configuration"
    ("A",): "A - Only",
    ("V",): "V - Only",
    ("A", "AV"): "A + Dual-Phase Fusion",
    ("V", "AV"): "V + Dual-Phase Fusion",
    ("A", "V"): "A + V with Late Fusion",
    ("A", "V", "AV"): "A + V + Dual-Phase Fusion",
}
# The paper's figures (real AVE, O-AVE test labels, %), shown beside the measured ones.
PAPER_TABLE3 = {"EDRNet": (76.10, 72.98), "+ B2ILC": (76.58, 73.86), "+ LSS": (77.10, None),
                "+ LSS + SMBVF + B2ILC": (77.93, None)}
PAPER_TABLE4 = {("A",): (65.84, None, None), ("V",): (None, 66.93, None), ("A", "AV"): (76.11, None, None),
                ("V", "AV"): (None, 75.26, None), ("A", "V"): (54.38, 62.76, 75.88),
                ("A", "V", "AV"): (73.62, 72.74, 77.93)}


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One trained model of a table: task, active branches, whether LSS and SMB are on."""

    task: str = "sel"
    branches: tuple = ("A", "V", "AV")
    lss: bool = True
    smb: bool = True

    def apply(self, config, settings):
        """The (config, settings) of this run, from the flags' own."""
        config = config.replace(branches=self.branches, lambda2=config.lambda2 if self.lss else 0.0)
        settings = dataclasses.replace(settings, task=self.task,
                                       smb_per_class=settings.smb_per_class if self.smb else 0)
        return config, settings

    def key(self, config, settings):
        config, settings = self.apply(config, settings)
        lss = f"lss{config.lambda2:g}" if self.task == "sel" else "mil"
        return f"{self.task}-{'+'.join(config.branches)}-{lss}-smb{settings.smb_per_class}"


# Table 3: (row name, EDRNet/B2ILC/LSS/SMBVF marks, SEL run, WSEL run or None, B2ILC on).
TABLE3 = (
    ("EDRNet", (True, False, False, False), RunSpec(lss=False, smb=False), RunSpec(task="wsel", smb=False), False),
    ("+ B2ILC", (True, True, False, False), RunSpec(lss=False, smb=False), RunSpec(task="wsel", smb=False), True),
    ("+ LSS", (True, False, True, False), RunSpec(lss=True, smb=False), None, False),
    ("+ LSS + SMBVF + B2ILC", (True, True, True, True), RunSpec(lss=True, smb=True), None, True),
)


def check_flags(table, config, settings):
    """Raises when the flags would make two rows of ``table`` the same experiment."""
    if table == "table3" and config.lambda2 <= 0:
        raise ValueError("--lambda2=0 is invalid for table3: expected > 0 (the + LSS rows train with it)")
    if table == "table3" and settings.smb_per_class == 0:
        raise ValueError("--smb-per-class=0 is invalid for table3: expected >= 1 (the + SMBVF row trains with it)")
    if table == "table3" and set(config.branches) != {"A", "V", "AV"}:
        raise ValueError(f"--branches={','.join(config.branches)} is invalid for table3: expected A,V,AV (the full "
                         "EDRNet)")


def run_differences(run_dir, config, settings):
    """What ``run_dir/run.json`` records differently from ``config``/``settings``: [] when it is this run,
    None when there is no readable run.json."""
    try:
        run = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    wanted = {"config": config.to_dict(), "settings": settings.to_dict()}
    return [f"{part}.{key}: {run.get(part, {}).get(key)!r} there, {value!r} now"
            for part in wanted for key, value in wanted[part].items() if run.get(part, {}).get(key) != value]


def train_or_reuse(spec, config, settings, runs_dir, seed, log=print):
    """The ``metrics.json`` dict of ``spec`` at ``seed``: trained into ``runs_dir/<key>/seed<seed>`` or reused.

    A finished run of the same config and settings is reused; an unfinished one (no metrics.json) is
    trained again; a run of other settings (say, another learning rate) is left alone and raises.
    """
    from edrnet_tf.training import runner

    run_dir = pathlib.Path(runs_dir) / spec.key(config, settings) / f"seed{seed}"
    config, settings = spec.apply(config, settings)
    settings = dataclasses.replace(settings, seed=seed, output=run_dir, backup=False)
    differences = run_differences(run_dir, config, settings)
    if differences:
        raise ValueError(f"{run_dir}: holds a run of other settings ({'; '.join(differences)}); expected the "
                         "same flags as the earlier sweep into this --output, or a new --output")
    if differences == [] and (run_dir / "metrics.json").is_file():
        log(f"reusing {run_dir}")
    else:
        if differences == []:  # an unfinished run of these settings: start it again
            shutil.rmtree(run_dir)
        elif run_dir.exists() and any(run_dir.iterdir()):
            raise ValueError(f"{run_dir}: expected a run folder of python -m edrnet_tf.experiments (with its "
                             "run.json) or none, found other files; remove them or use a new --output")
        log(f"training {run_dir}")
        runner.train(config, settings, verbose=2)
    return files.read_json(run_dir / "metrics.json", "the metrics.json of a finished run"), str(run_dir)


def accuracy(metrics, head, b2ilc):
    labels = metrics["headline"]["labels"]
    return metrics["test"][labels][head]["b2ilc" if b2ilc else "raw"]


def summary(values):
    """Mean and sample standard deviation (None for one seed) of a list of accuracies."""
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else None,
            "values": values.tolist()}


def run_table3(config, settings, seeds, output, log=print):
    """Trains Table 3's runs for every seed; returns the results dict (rows with per-seed accuracies)."""
    check_flags("table3", config, settings)
    rows = []
    for name, marks, sel, wsel, b2ilc in TABLE3:
        row = {"name": name, "marks": dict(zip(("EDRNet", "B2ILC", "LSS", "SMBVF"), marks)), "b2ilc": b2ilc}
        for task, spec in (("sel", sel), ("wsel", wsel)):
            if spec is None:
                row[task] = None
                continue
            found = [train_or_reuse(spec, config, settings, pathlib.Path(output) / "runs", seed, log)
                     for seed in seeds]
            row[task] = {**summary([accuracy(m, "gated", b2ilc) for m, _ in found]),
                         "runs": [run for _, run in found], "run": spec.key(config, settings)}
        row["paper"] = dict(zip(("sel", "wsel"), PAPER_TABLE3[name]))
        rows.append(row)
    return results("table3", config, settings, seeds, rows, run_dirs(rows))


def run_table4(config, settings, seeds, output, log=print):
    """Trains Table 4's six branch configurations for every seed (SEL, B2ILC on every head)."""
    rows = []
    for branches, name in BRANCH_SETS.items():
        spec = RunSpec(branches=branches, lss=config.lambda2 > 0, smb=settings.smb_per_class > 0)
        found = [train_or_reuse(spec, config, settings, pathlib.Path(output) / "runs", seed, log) for seed in seeds]
        row = {"name": name, "branches": list(branches), "run": spec.key(config, settings),
               "runs": [run for _, run in found]}
        for head, needed in (("audio", {"A"}), ("visual", {"V"}), ("gated", {"A", "V"})):
            row[head] = (summary([accuracy(m, head, True) for m, _ in found])
                         if needed <= set(branches) else None)
            row[head + "_raw"] = (summary([accuracy(m, head, False) for m, _ in found])
                                  if needed <= set(branches) else None)
        row["paper"] = dict(zip(("audio", "visual", "gated"), PAPER_TABLE4[branches]))
        rows.append(row)
    return results("table4", config, settings, seeds, rows, [r for row in rows for r in row["runs"]])


def run_dirs(rows):
    return [run for row in rows for task in ("sel", "wsel") if row[task] for run in row[task]["runs"]]


def results(table, config, settings, seeds, rows, runs):
    """The results dict: the rows, and what they were measured on (data, config, settings, seeds)."""
    first = files.read_json(pathlib.Path(runs[0]) / "metrics.json", "the metrics.json of a finished run")
    return {"table": table, "dataset": first["dataset"], "synthetic": bool(first["synthetic"]),
            "labels": first["headline"]["labels"], "seeds": list(seeds), "config": config.to_dict(),
            "settings": {k: v for k, v in settings.to_dict().items() if k not in ("output", "seed", "backup")},
            "rows": rows}


def cell(figure, paper=False):
    """A table cell in percent: "mean ± std" over seeds, "N/A" when the row has no such figure."""
    if figure is None:
        return "N/A" if not paper else "-"
    if paper:
        return f"{figure:.2f}"
    text = f"{100 * figure['mean']:.2f}"
    return text + (f" ± {100 * figure['std']:.2f}" if figure["std"] is not None else "")


def caption(result):
    seeds = result["seeds"]
    s, c = result["settings"], result["config"]
    data = ("SYNTHETIC data: " if result["synthetic"] else "") + result["dataset"]
    return (f"Measured: {data}; {result['labels']} test labels; mean ± sample std over {len(seeds)} seed(s) "
            f"{', '.join(map(str, seeds))}; k={c['kernel_size']}, L={c['num_layers']}, d={c['width']}, "
            f"d_v={c['visual_width']}, lambda2={c['lambda2']:g}, S={s['smb_per_class']}, epochs={s['epochs']}, "
            f"batch {s['batch_size']}, {s['optimizer']} lr {s['learning_rate']:g}. "
            "Paper: real AVE (O-AVE), its Table " + result["table"][-1] + ".")


def table3_markdown(result):
    """Table 3 in the paper's layout (check marks, SEL and WSEL accuracy), measured beside the paper's."""
    tick = lambda on: "✓" if on else ""  # noqa: E731
    lines = ["| EDRNet | B2ILC | L_lss | SMBVF | SEL Acc. (%) | WSEL Acc. (%) | paper SEL | paper WSEL |",
             "|:-:|:-:|:-:|:-:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        m = row["marks"]
        lines.append(f"| {tick(m['EDRNet'])} | {tick(m['B2ILC'])} | {tick(m['LSS'])} | {tick(m['SMBVF'])} | "
                     f"{cell(row['sel'])} | {cell(row['wsel'])} | {cell(row['paper']['sel'], True)} | "
                     f"{cell(row['paper']['wsel'], True) if row['paper']['wsel'] is not None else 'N/A'} |")
    return "\n".join(["Table 3: component-wise ablation (SEL and WSEL).", "", *lines, "", caption(result)]) + "\n"


def table4_markdown(result):
    """Table 4 in the paper's layout (active DC branches, configuration, RC branch accuracies)."""
    lines = ["| A | V | AV | Training Configuration | A (%) | V (%) | Gated (%) | paper A | paper V | paper Gated |",
             "|:-:|:-:|:-:|---|---:|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        active = ["✓" if b in row["branches"] else "-" for b in ("A", "V", "AV")]
        measured = [cell(row[h]).replace("N/A", "-") for h in ("audio", "visual", "gated")]
        paper = [cell(row["paper"][h], True) for h in ("audio", "visual", "gated")]
        lines.append(f"| {' | '.join(active)} | {row['name']} | {' | '.join(measured)} | {' | '.join(paper)} |")
    return "\n".join(["Table 4: SEL accuracy of the modal branch configurations (RC branch heads, B2ILC on).", "",
                      *lines, "", caption(result)]) + "\n"


MARKDOWN = {"table3": table3_markdown, "table4": table4_markdown}
RUN = {"table3": run_table3, "table4": run_table4}
FORBIDDEN = {"table3": ("--task", "--backup"), "table4": ("--task", "--backup", "--branches")}


def write_results(result, output):
    """Writes ``<table>.json`` and ``<table>.md`` (with the baselines under the table, if the result holds
    them) into ``output``, each whole or not at all."""
    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    files.write_text(output / f"{result['table']}.json", json.dumps(result, indent=2) + "\n")
    text = MARKDOWN[result["table"]](result)
    if result.get("baselines"):
        text += "\n" + baselines.format_baselines(result["baselines"])
    files.write_text(output / f"{result['table']}.md", text)
    return text
