"""The leaderboard as a reader sees it: Markdown, CSV and a static HTML page from the same rows; the
Space shows the page's body (`html_body`), so every surface has the same headers, ranking and cells.

Per level: a summary table (gaps with their 95% bootstrap CIs, utility, attacks, time) and the scores
of every split and task (mean and CI). The best unlearning method per column is marked (all of them
on a tie); vanilla and the oracle are references, shown but never ranked or marked. When vanilla has
not memorised `train` (a forget score's whole CI below its target), a banner says so and nothing is
ranked or marked: no gap means anything then; a mean just below a target is said in a note.

Every cell is escaped for its format (names come from submissions): in Markdown a `|` would add a
column, a newline split the row and `<…>` pass raw HTML; in CSV a newline splits the line and a
leading `=`/`+`/`-`/`@` is run as a formula by spreadsheets.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re

from medforget_data.constants import LEVELS
from medforget_data.leaderboard.rows import (
    SCORE_COLUMNS,
    SUMMARY_COLUMNS,
    Column,
    LeaderboardRow,
    best_labels,
    format_value,
    memorisation_shortfalls,
    places,
    ranking,
    table_columns,
    unranked_labels,
)

TITLE = "MedForget leaderboard"
RANKING_TITLE = "Overall: mean retain − forget gap over levels (utility beside)"
SUMMARY_NOTE = (
    "best unlearning method per column marked; [95% bootstrap CI]; vanilla and oracle are references"
)
SCORES_NOTE = "mean [95% bootstrap CI] per split and task; forget: lower is better, the others: higher"


def banner_text(clear: list[str]) -> str:
    return (
        "Not ranked: vanilla has not memorised train (" + "; ".join(clear) + "), so no "
        "forget/retain gap in these tables means anything. Train longer (--epochs) or check the recipe."
    )


def note_text(marginal: list[str]) -> str:
    return (
        "Vanilla's forget scores sit just below the memorisation targets (" + "; ".join(marginal) + "; "
        "the 95% CI reaches the target): the gaps are measured on what it did memorise."
    )


_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")
# `_` only where it could open or close emphasis (not between two letters or digits, as in
# forget_mi), so ordinary names print as they always did.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*\[\]|~]|(?<![^\W_])_|_(?![^\W_]))")
_FORMULA_START = ("=", "+", "-", "@", "\t")


def one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text)


def markdown_text(text: str) -> str:
    """`text` as literal Markdown inside a table cell: one line, HTML and Markdown punctuation escaped."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(one_line(text), quote=False))


def csv_text(text: str) -> str:
    """A text cell of the CSV: one line, and never read as a formula (a quote mark before it)."""
    text = one_line(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(row: LeaderboardRow, column: Column) -> tuple[str, str]:
    """(value, interval) as printed."""
    value = column.format(row.value(column.key))
    interval = row.interval(column.key)
    if interval is None or value == "–":
        return value, ""
    return value, f"[{format_value(interval[0])}, {format_value(interval[1])}]"


def _level_rows(rows: list[LeaderboardRow], level: str) -> list[LeaderboardRow]:
    # references first, then the methods by name: the table order never implies a ranking
    return sorted((r for r in rows if r.level == level), key=lambda r: (not r.is_reference, r.label))


TABLES: tuple[tuple[str, str, tuple[Column, ...]], ...] = (
    ("summary", SUMMARY_NOTE, SUMMARY_COLUMNS),
    ("scores", SCORES_NOTE, SCORE_COLUMNS),
)


def _best(rows: list[LeaderboardRow], columns: tuple[Column, ...], ranked: bool) -> dict[str, set[str]]:
    """Column key → labels to mark; nothing is marked on an unranked board."""
    return {c.key: best_labels(rows, c) if ranked else set() for c in columns}


def _markdown_row(row: LeaderboardRow, columns: tuple[Column, ...], marked: dict[str, set[str]]) -> str:
    cells = []
    for column in columns:
        value, interval = _cell(row, column)
        value = f"**{markdown_text(value)}**" if row.label in marked[column.key] else markdown_text(value)
        cells.append(f"{value} {interval}".strip())  # the interval is our own numbers in brackets
    name = markdown_text(row.shown_name)
    return f"| {f'*{name}*' if row.is_reference else name} | " + " | ".join(cells) + " |"


def to_csv(rows: list[LeaderboardRow]) -> str:
    """Every row and column, full precision; text cells escaped (`csv_text`), numbers as numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    summary = [c.key for c in SUMMARY_COLUMNS]
    gaps = ("gap", "sibling_gap", "rephrased_gap")
    intervals = [f"{key}_{end}" for key in gaps for end in ("low", "high")]
    writer.writerow(["level", "method", *table_columns(), *summary, *intervals, "judge"])
    for r in sorted(rows, key=lambda r: (LEVELS.index(r.level), r.label)):
        cells = [r.value(key) for key in (*table_columns(), *summary)]
        bounds = [bound for key in gaps for bound in (r.interval(key) or (None, None))]
        numbers = ["" if v is None or math.isnan(v) else v for v in (*cells, *bounds)]
        writer.writerow([csv_text(r.level), csv_text(r.entry or r.method), *numbers, csv_text(r.judge)])
    return buffer.getvalue()


def to_markdown(rows: list[LeaderboardRow]) -> str:
    shortfalls = memorisation_shortfalls(rows)
    lines = [f"# {TITLE}", ""]
    if shortfalls.marginal:
        lines += [f"> {note_text(shortfalls.marginal)}", ""]
    if shortfalls.clear:
        lines += [f"> **{banner_text(shortfalls.clear)}**", ""]
    else:
        ranked = ranking(rows)
        references = {r.label for r in rows if r.is_reference}
        lines += [f"## {RANKING_TITLE}", "", "| rank | method | gap | utility |", "|---|---|---|---|"]
        lines += [
            f"| {place} | {markdown_text(m)} | {format_value(g)} | {format_value(u)} |"
            for place, (m, g, u) in zip(
                places(ranked, references, unranked_labels(rows)), ranked, strict=True
            )
        ]
    for level in LEVELS:
        level_rows = _level_rows(rows, level)
        if not level_rows:
            continue
        lines += ["", f"## Level: {level}"]
        for _, note, columns in TABLES:
            marked = _best(level_rows, columns, ranked=not shortfalls.clear)
            lines += ["", f"*{note}*", "", "| method | " + " | ".join(c.title for c in columns) + " |"]
            lines.append("|---" * (1 + len(columns)) + "|")
            lines += [_markdown_row(r, columns, marked) for r in level_rows]
    return "\n".join(lines) + "\n"


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:3px 8px;border-bottom:1px solid #ddd;"
    "text-align:right;white-space:nowrap}th{background:#f4f4f4;font-weight:600}td:first-child,th:first-child"
    "{text-align:left}.scroll{overflow-x:auto}.ci{color:#888;font-size:.8em;margin-left:.3em}"
    "td.best{background:#e6f4ea;font-weight:700}tr.reference td{font-style:italic;color:#666}"
    ".banner{background:#fdecea;border:1px solid #e0a39c;padding:.8em 1em;margin:1em 0;font-weight:600}"
    ".note-box{background:#fff8e1;border:1px solid #e6c97a;padding:.6em 1em;margin:1em 0}"
    ".note{color:#666;font-size:.9em;margin:0}img{max-width:100%;display:block;margin:1em 0}"
)


def _html_table(table_id: str, rows: list[LeaderboardRow], columns: tuple[Column, ...], ranked: bool) -> str:
    marked = _best(rows, columns, ranked)
    head = "<tr><th>method</th>" + "".join(f"<th>{html.escape(c.title)}</th>" for c in columns) + "</tr>"
    body = []
    for r in rows:
        cells = []
        for column in columns:
            value, interval = _cell(r, column)
            css = " class='best'" if r.label in marked[column.key] else ""
            ci = f"<span class='ci'>{html.escape(interval)}</span>" if interval else ""
            cells.append(f"<td{css}>{html.escape(value)}{ci}</td>")
        css = " class='reference'" if r.is_reference else ""
        body.append(f"<tr{css}><td>{html.escape(r.shown_name)}</td>{''.join(cells)}</tr>")
    return f"<div class='scroll'><table id='{table_id}'>{head}{''.join(body)}</table></div>"


def html_body(rows: list[LeaderboardRow], images: list[str], csv_name: str | None = "leaderboard.csv") -> str:
    """The page's content (banner or note, ranking, per-level tables, images): index.html's body, and
    what the Space shows. `csv_name`: the CSV to link to, if there is one."""
    shortfalls = memorisation_shortfalls(rows)
    parts = [f"<h1>{TITLE}</h1>"]
    if shortfalls.clear:
        parts.append(f"<div id='banner' class='banner'>{html.escape(banner_text(shortfalls.clear))}</div>")
    if shortfalls.marginal:
        note = html.escape(note_text(shortfalls.marginal))
        parts.append(f"<div id='memorisation-note' class='note-box'>{note}</div>")
    if csv_name is not None:
        parts.append(
            f"<p>Every row and column: <a id='download' href='{html.escape(csv_name)}' download>"
            f"{html.escape(csv_name)}</a></p>"
        )
    if not shortfalls.clear:
        ranked = ranking(rows)
        references = {r.label for r in rows if r.is_reference}
        body = "".join(
            f"<tr{' class=reference' if place == 'ref' else ''}><td>{place}</td><td>{html.escape(m)}</td>"
            f"<td>{format_value(g)}</td><td>{format_value(u)}</td></tr>"
            for place, (m, g, u) in zip(
                places(ranked, references, unranked_labels(rows)), ranked, strict=True
            )
        )
        parts.append(
            f"<h2>{html.escape(RANKING_TITLE)}</h2><table id='ranking'><tr><th>rank</th><th>method</th>"
            f"<th>retain − forget gap</th><th>utility</th></tr>{body}</table>"
        )
    for level in LEVELS:
        level_rows = _level_rows(rows, level)
        if not level_rows:
            continue
        parts.append(f"<section id='level-{level}'><h2>Level: {level}</h2>")
        for kind, note, columns in TABLES:
            parts.append(f"<p class='note'>{html.escape(note)}</p>")
            parts.append(_html_table(f"{kind}-{level}", level_rows, columns, ranked=not shortfalls.clear))
        parts.append("</section>")
    parts += [f'<img src="{html.escape(name)}" alt="{html.escape(name)}">' for name in images]
    return "".join(parts)


def to_html(rows: list[LeaderboardRow], images: list[str], csv_name: str = "leaderboard.csv") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE}</title>"
        f"<style>{STYLE}</style></head><body>{html_body(rows, images, csv_name)}</body></html>\n"
    )
