"""A study's results: one row per trial (``rows``), written as ``results.csv``, ``results.md`` and a Fig. 7
style plot ``results.png`` (accuracy against the swept value, one panel per swept dimension in the order
of Fig. 7: k, L, d, S)."""

import csv
import math

from tuning import studies
from tuning.hypermodel import OBJECTIVE

COLUMNS = ("trial", "status") + studies.RESOLVED + (
    "epochs_run", "best_epoch", OBJECTIVE, f"{OBJECTIVE}_b2ilc", "test_accuracy", "test_accuracy_raw",
    "wall_time_s")
METRICS = COLUMNS[COLUMNS.index("epochs_run"):]
LABELS = {"kernel_size": "k", "num_layers": "L", "width": "d", "smb_per_class": "S", "learning_rate": "lr",
          "lambda2": "lambda2"}


def rows(oracle):
    """One dict per trial of ``oracle`` (a Keras Tuner oracle, local or the chief's), in trial order."""
    found = []
    for trial_id, trial in sorted(oracle.trials.items(), key=lambda item: (len(item[0]), item[0])):
        row = {"trial": trial_id, "status": trial.status}
        try:
            row.update(studies.resolve(trial.hyperparameters))
        except KeyError:  # a trial that never received values (e.g. interrupted while being created)
            pass
        for name in METRICS:
            value = trial.metrics.get_best_value(name) if trial.metrics.exists(name) else None
            row[name] = int(value) if name in ("epochs_run", "best_epoch") and value is not None else value
        found.append(row)
    return found


def best(found):
    """The completed row with the highest validation accuracy (None when no trial completed)."""
    done = [r for r in found if r.get(OBJECTIVE) is not None and not math.isnan(r[OBJECTIVE])]
    return max(done, key=lambda r: r[OBJECTIVE]) if done else None


def write_csv(found, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in found:
            writer.writerow({name: round(row[name], 6) if isinstance(row.get(name), float) else row.get(name)
                             for name in COLUMNS})


def _cell(name, value):
    if value is None:
        return "-"
    if name in (OBJECTIVE, "test_accuracy"):
        return f"{100 * value:.2f}"
    if name == "learning_rate":
        return f"{value:.2e}"
    if name == "lambda2":
        return f"{value:.3g}"
    if name == "wall_time_s":
        return f"{value:.0f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def markdown(found, title):
    """The study's Markdown table (accuracies in %) and a line naming the best trial."""
    winner = best(found)
    shown = ("trial",) + studies.RESOLVED + ("epochs_run", OBJECTIVE, "test_accuracy", "wall_time_s")
    heads = {"trial": "trial", "epochs_run": "epochs", OBJECTIVE: "best val acc (%)",
             "test_accuracy": "test acc (%)", "wall_time_s": "wall time (s)", **LABELS}
    lines = [f"### {title}", "", "| " + " | ".join(heads[n] for n in shown) + " |",
             "|" + "|".join("---" if n == "trial" else "---:" for n in shown) + "|"]
    for row in found:
        mark = " (best)" if row is winner else ""
        cells = [_cell(n, row.get(n)) + (mark if n == "trial" else "") for n in shown]
        if row.get(OBJECTIVE) is None:
            cells[-1] = f"{row['status']}"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if winner is None:
        lines.append("No trial completed.")
    else:
        lines.append(f"Best trial (on validation): {winner['trial']} "
                     f"({', '.join(f'{LABELS[n]}={_cell(n, winner[n])}' for n in studies.RESOLVED)}): "
                     f"validation {100 * winner[OBJECTIVE]:.2f}%, test {100 * winner['test_accuracy']:.2f}% "
                     "(global segment accuracy, gated head; test with B2ILC).")
    return "\n".join(lines) + "\n"


def plot(found, swept, path, title):
    """Fig. 7 layout: one panel per swept dimension (k, L, d, S order), test and validation accuracy (%)
    against its value; with one trial per value (the Fig. 7 grids) the points are joined by lines."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    order = [n for n in ("kernel_size", "num_layers", "width", "smb_per_class", "learning_rate", "lambda2")
             if n in swept] or ["kernel_size"]
    done = [r for r in found if r.get(OBJECTIVE) is not None]
    figure, axes = pyplot.subplots(1, len(order), figsize=(max(5.5, 3.6 * len(order)), 3.4), squeeze=False,
                                   dpi=100)
    axis_labels = {**{v[1]: v[2] for v in studies.PANELS.values()}, "learning_rate": "learning rate",
                   "lambda2": "lambda2 (LSS weight)"}
    letters = {v[1]: v[0] for v in studies.PANELS.values()}
    for axis, name in zip(axes[0], order):
        points = sorted((r[name], r["test_accuracy"], r[OBJECTIVE]) for r in done)
        xs = [p[0] for p in points]
        grid = len(set(xs)) == len(xs)
        style = "-o" if grid else "o"
        axis.plot(xs, [100 * p[1] for p in points], style, color="tab:blue", label="test")
        axis.plot(xs, [100 * p[2] for p in points], style, color="tab:orange", alpha=0.7, label="validation",
                  fillstyle="none")
        if name in ("learning_rate", "lambda2"):
            axis.set_xscale("log")
        elif xs:
            axis.set_xticks(sorted(set(xs)))
        axis.set_xlabel(axis_labels[name])
        if name in letters:
            axis.set_title(f"({letters[name]}) varying {LABELS[name]}", fontsize=9)
        axis.set_ylabel("SEL accuracy (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def write_all(found, swept, folder, title):
    """Writes ``results.csv``, ``results.md`` and ``results.png`` into ``folder``; returns the Markdown."""
    table = markdown(found, title)
    write_csv(found, folder / "results.csv")
    (folder / "results.md").write_text(table)
    plot(found, swept, folder / "results.png", title)
    return table
