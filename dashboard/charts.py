"""Charts for the pages (Plotly figures, one HTML chart). Pure functions of numbers: no Streamlit, no TensorFlow."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

DIGITS = list(range(10))
ACCENT = "#e4572e"       # the theme's primary colour: the predicted digit, the highlighted cells
MUTED = "#9aa5b1"
TRAIN_COLOUR, VALIDATION_COLOUR = "#1f77b4", "#e4572e"
FOUR_NINE_CELLS = ((4, 9), (9, 4))  # (true, predicted): the confusion the project cares most about


BAR_AREA_PX = 150  # the tallest bar (probability 1)


def probability_bars(probabilities: Sequence[float]) -> str:
    """The ten class probabilities as a column chart in plain HTML, the most likely digit in the
    accent colour; hovering a column gives its exact value. It redraws after every stroke, and the
    browser lays out these few boxes ~40 ms sooner than it redraws a Plotly chart."""
    probabilities = np.asarray(probabilities, dtype=float)
    best = int(probabilities.argmax())
    columns = "".join(
        f'<div title="digit {digit}: {p:.2%}" style="flex:1;display:flex;flex-direction:column;'
        f'align-items:center;justify-content:flex-end">'
        f'<span style="font-size:0.8rem">{f"{p:.0%}" if p >= 0.01 else ""}</span>'
        f'<div style="width:100%;height:{max(1, round(p * BAR_AREA_PX))}px;border-radius:3px 3px 0 0;'
        f'background:{ACCENT if digit == best else MUTED}"></div></div>'
        for digit, p in zip(DIGITS, probabilities))
    labels = "".join(f'<div style="flex:1;text-align:center">{digit}</div>' for digit in DIGITS)
    summary = ", ".join(f"{digit}: {p:.0%}" for digit, p in zip(DIGITS, probabilities))
    return (f'<div role="img" aria-label="Probabilities. {summary}" style="max-width:420px">'
            f'<div style="font-weight:600;margin-bottom:0.3rem">Probabilities</div>'
            f'<div style="display:flex;gap:6px;height:{BAR_AREA_PX + 22}px;border-bottom:1px solid {MUTED}">'
            f'{columns}</div><div style="display:flex;gap:6px;font-size:0.85rem">{labels}</div></div>')


BLUES = ((0.0, (247, 251, 255)), (0.25, (198, 219, 239)), (0.5, (107, 174, 214)), (0.75, (33, 113, 181)),
         (1.0, (8, 48, 107)))  # Plotly's "Blues", the heatmap's colours
CELL_PX = 38


def _blue(level: float) -> str:
    """The colour of `level` in [0, 1] on BLUES, as CSS."""
    for (low, low_rgb), (high, high_rgb) in zip(BLUES, BLUES[1:]):
        if level <= high:
            mix = (level - low) / (high - low)
            return "rgb({},{},{})".format(*(round(a + mix * (b - a)) for a, b in zip(low_rgb, high_rgb)))
    return "rgb({},{},{})".format(*BLUES[-1][1])


def confusion_grid(confusion: np.ndarray, highlighted: Iterable[tuple[int, int]] = FOUR_NINE_CELLS,
                   title: str = "Confusion matrix") -> str:
    """The confusion matrix as an HTML grid: true digit (rows) x predicted digit (columns), each
    cell its count, coloured by log(1 + count) as `confusion_heatmap` is, the `highlighted` cells
    outlined and named under the grid. Each cell carries `data-cell="true,predicted"` for a click
    (`dashboard.common.clickable_cells`). The browser draws it at once, where the Plotly chart's
    script (4.7 MB) took about a second to fetch and start on a first visit (BENCHMARKS.md)."""
    confusion = np.asarray(confusion)
    levels = np.log1p(confusion) / max(np.log1p(confusion.max()), 1e-9)   # [10, 10] in [0, 1]
    highlighted = set(highlighted)
    cell_style = (f"width:{CELL_PX}px;height:{CELL_PX}px;text-align:center;font-size:0.8rem;cursor:pointer;"
                  "border:1px solid #fff;padding:0")
    label_style = "font-weight:400;font-size:0.85rem"
    header = "".join(f'<th style="{label_style};width:{CELL_PX}px">{digit}</th>' for digit in DIGITS)
    rows = []
    for true in DIGITS:
        cells = []
        for predicted in DIGITS:
            count, level = int(confusion[true, predicted]), float(levels[true, predicted])
            outline = f";box-shadow:inset 0 0 0 3px {ACCENT}" if (true, predicted) in highlighted else ""
            cells.append(f'<td data-cell="{true},{predicted}" title="true {true} → predicted {predicted}: '
                         f'{count:,} images" style="{cell_style};background:{_blue(level)};'
                         f'color:{"#fff" if level > 0.55 else "#1f2933"}{outline}">{count}</td>')
        rows.append(f'<tr><th style="{label_style};padding-right:6px">{true}</th>{"".join(cells)}</tr>')
    notes = " · ".join(f"{true}→{predicted}: {int(confusion[true, predicted])}" for true, predicted in highlighted)
    return (f'<div role="figure" aria-label="{html.escape(title)}" style="font-family:inherit">'
            f'<div style="font-weight:600;margin-bottom:0.3rem">{html.escape(title)}</div>'
            f'<table style="border-collapse:collapse"><tr><th style="font-size:0.75rem;font-weight:400">'
            f'true ↓ predicted →</th>{header}</tr>{"".join(rows)}</table>'
            f'<div style="color:{ACCENT};font-size:0.85rem;margin-top:0.3rem">Outlined: {notes}</div></div>')


def confusion_heatmap(confusion: np.ndarray, highlighted: Iterable[tuple[int, int]] = FOUR_NINE_CELLS,
                      title: str = "Confusion matrix", percent: bool = False) -> go.Figure:
    """True digit (rows) x predicted digit (columns), every cell labelled with its count, or with
    `percent` its share of that true digit's images (each row sums to 100%).

    Colours follow log(1 + count), so the few errors stay visible next to ~1,000 correct answers
    per digit. The `highlighted` cells are outlined and annotated. A transparent marker sits on
    every cell so a click selects it (Plotly heatmaps themselves have no point selection)."""
    confusion = np.asarray(confusion)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)   # [10, 10], rows sum to 1
    labels = np.vectorize(lambda share: f"{share:.1%}" if share else "0")(shares) if percent else confusion
    figure = go.Figure(go.Heatmap(
        z=np.log1p(confusion), x=DIGITS, y=DIGITS, text=labels, texttemplate="%{text}",
        colorscale="Blues", showscale=False, hoverinfo="skip", xgap=1, ygap=1,
    ))
    cells_true, cells_predicted = np.meshgrid(DIGITS, DIGITS, indexing="ij")
    figure.add_trace(go.Scatter(
        x=cells_predicted.ravel(), y=cells_true.ravel(), mode="markers", name="cells",
        customdata=confusion.ravel(), marker=dict(size=28, symbol="square", opacity=0),
        hovertemplate="true %{y} → predicted %{x}: %{customdata} images<extra></extra>",
    ))
    for true, predicted in highlighted:
        figure.add_shape(type="rect", x0=predicted - 0.5, x1=predicted + 0.5, y0=true - 0.5, y1=true + 0.5,
                         line=dict(color=ACCENT, width=3))
        # The label sits outside the grid where it can (right of the last column, below the last
        # row), so it hides no other cell; the arrow stops short of the cell's own count.
        offset = (48, 0) if predicted == DIGITS[-1] else (0, 34) if true == DIGITS[-1] else (40, -30)
        cell = f"{shares[true, predicted]:.2%}" if percent else confusion[true, predicted]
        figure.add_annotation(x=predicted, y=true, text=f"{true}→{predicted}: {cell}",
                              showarrow=True, arrowhead=2, arrowcolor=ACCENT, ax=offset[0], ay=offset[1], standoff=13,
                              xanchor="left" if offset[0] else "center", font=dict(color=ACCENT, size=12),
                              bgcolor="rgba(255,255,255,0.9)", bordercolor=ACCENT)
    figure.update_layout(
        title=title, height=480, margin=dict(l=10, r=80, t=40, b=40), showlegend=False,
        clickmode="event+select", dragmode=False,
        xaxis=dict(title="predicted", tickmode="array", tickvals=DIGITS, side="top", constrain="domain",
                   range=[-0.5, 9.5], showgrid=False, zeroline=False),
        yaxis=dict(title="true", tickmode="array", tickvals=DIGITS, range=[9.5, -0.5], scaleanchor="x",
                   showgrid=False, zeroline=False),
    )
    return figure


def training_curves(epochs: Sequence[Mapping], total_epochs: int | None = None) -> go.Figure:
    """Loss and accuracy per epoch, training vs validation, side by side."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"), horizontal_spacing=0.12)
    numbers = [record["epoch"] for record in epochs]
    for column, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, label, colour in (("", "training", TRAIN_COLOUR), ("val_", "validation", VALIDATION_COLOUR)):
            figure.add_trace(go.Scatter(
                x=numbers, y=[record.get(prefix + metric) for record in epochs], mode="lines+markers",
                name=label, legendgroup=label, showlegend=column == 1, line=dict(color=colour),
                hovertemplate=f"epoch %{{x}}: {label} {metric} %{{y:.4f}}<extra></extra>",
            ), row=1, col=column)
    last = max(total_epochs or 0, numbers[-1] if numbers else 1)
    figure.update_xaxes(title="epoch", range=[0.5, last + 0.5], dtick=max(1, last // 10))
    figure.update_yaxes(tickformat=".1%", row=1, col=2)
    figure.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10),
                         legend=dict(orientation="h", y=-0.25))
    return figure


def robustness_bars(accuracy_by_version: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Accuracy on each test-set variant, one bar group per variant, one colour per version."""
    figure = go.Figure()
    for version, accuracies in accuracy_by_version.items():
        figure.add_trace(go.Bar(
            x=list(accuracies), y=list(accuracies.values()), name=version,
            text=[f"{value:.1%}" for value in accuracies.values()], textposition="outside",
            hovertemplate=f"{version} · %{{x}}: %{{y:.2%}}<extra></extra>",
        ))
    figure.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=30, b=10),
                         yaxis=dict(range=[0, 1.1], tickformat=".0%", title="accuracy"),
                         legend=dict(orientation="h", y=1.12))
    return figure


RUN_COLOURS = ("#1f77b4", "#e4572e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f")


def run_curves(curves: Mapping[str, Mapping[str, Mapping[str, Sequence]]], total_epochs: int | None = None
               ) -> go.Figure:
    """Loss, accuracy and learning rate against epochs, for one run or several overlaid.

    `curves`: run label -> {"steps": {"x", "loss", "accuracy", "learning_rate"}, "epochs": {"x",
    "val_loss", "val_accuracy"}}, x in epochs (step 215 of 430 in epoch 2 is x = 1.5). The training
    numbers per step are lines; the validation points at each epoch's end are markers on the same
    axes. One run: training blue, validation orange; several: one colour per run."""
    figure = make_subplots(rows=1, cols=3, subplot_titles=("Loss", "Accuracy", "Learning rate"),
                           horizontal_spacing=0.08)
    single = len(curves) == 1
    last_x = total_epochs or 1
    for number, (label, run) in enumerate(curves.items()):
        colour = RUN_COLOURS[number % len(RUN_COLOURS)]
        steps, epochs = run.get("steps") or {}, run.get("epochs") or {}
        last_x = max([last_x, *steps.get("x", []), *epochs.get("x", [])])
        for column, metric in ((1, "loss"), (2, "accuracy"), (3, "learning_rate")):
            name = "training" if single else label
            figure.add_trace(go.Scatter(
                x=steps.get("x", []), y=steps.get(metric, []), mode="lines", name=name, legendgroup=name,
                showlegend=column == 1, line=dict(color=TRAIN_COLOUR if single else colour, width=1.5),
                hovertemplate=f"{label} · epoch %{{x:.2f}}: training {metric} %{{y:.4g}}<extra></extra>",
            ), row=1, col=column)
            if metric == "learning_rate":
                continue
            name = "validation" if single else f"{label} (validation)"
            figure.add_trace(go.Scatter(
                x=epochs.get("x", []), y=epochs.get(f"val_{metric}", []), mode="lines+markers", name=name,
                legendgroup=name, showlegend=column == 1,
                line=dict(color=VALIDATION_COLOUR if single else colour, dash="dot" if not single else None),
                marker=dict(size=8, symbol="circle" if single else "diamond"),
                hovertemplate=f"{label} · end of epoch %{{x}}: validation {metric} %{{y:.4g}}<extra></extra>",
            ), row=1, col=column)
    figure.update_xaxes(title="epoch", range=[0, last_x * 1.02], dtick=max(1, round(last_x) // 10))
    figure.update_yaxes(tickformat=".1%", row=1, col=2)
    figure.update_yaxes(tickformat=".1e", rangemode="tozero", row=1, col=3)
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.3))
    return figure


WRITER_COLOURS = ("#1f77b4", "#e4572e", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
COUNT_AREA_PX = 120  # the tallest column


def sample_counts(counts: Iterable[Mapping]) -> str:
    """Samples per label, one stacked colour per writer ({writer, label, samples} rows), as a
    column chart in plain HTML: the Samples page opens with it at once, where Plotly's script
    alone takes seconds to start on a busy machine. Hovering a segment gives its count."""
    counts = list(counts)
    labels = sorted({row["label"] for row in counts}, key=lambda label: (len(label), label))
    writers = sorted({row["writer"] for row in counts})
    colour = {writer: WRITER_COLOURS[i % len(WRITER_COLOURS)] for i, writer in enumerate(writers)}
    by_cell = {(row["label"], row["writer"]): row["samples"] for row in counts}
    totals = {label: sum(by_cell.get((label, w), 0) for w in writers) for label in labels}
    peak = max(totals.values(), default=1)
    columns = "".join(
        f'<div style="flex:1;display:flex;flex-direction:column;align-items:center;justify-content:flex-end">'
        f'<span style="font-size:0.75rem">{totals[label]}</span>'
        + "".join(f'<div title="{html.escape(writer)} · {label}: {by_cell[(label, writer)]}" style="width:100%;'
                  f'height:{max(1, round(by_cell[(label, writer)] / peak * COUNT_AREA_PX))}px;'
                  f'background:{colour[writer]}"></div>'
                  for writer in reversed(writers) if by_cell.get((label, writer)))
        + "</div>" for label in labels)
    names = "".join(f'<div style="flex:1;text-align:center">{html.escape(label)}</div>' for label in labels)
    legend = " ".join(f'<span style="white-space:nowrap"><span style="display:inline-block;width:0.7rem;'
                      f'height:0.7rem;background:{colour[w]}"></span> {html.escape(w)}</span>' for w in writers)
    summary = "; ".join(f"{label}: {totals[label]}" for label in labels)
    return (f'<div role="img" aria-label="Samples per label. {html.escape(summary)}" style="max-width:720px">'
            f'<div style="font-weight:600;margin-bottom:0.3rem">Samples per label and writer</div>'
            f'<div style="font-size:0.8rem;margin-bottom:0.3rem">{legend}</div>'
            f'<div style="display:flex;gap:4px;height:{COUNT_AREA_PX + 18}px;border-bottom:1px solid {MUTED}">'
            f'{columns}</div><div style="display:flex;gap:4px;font-size:0.8rem">{names}</div></div>')
