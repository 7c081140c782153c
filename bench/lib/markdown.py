"""Markdown for the generated benchmark pages (`bench/docs.py` and the
sections' `doc_tables`)."""
import math


def num(value, digits=None):
    """A figure as the pages print it: thousands separated, about four
    significant digits unless `digits` (decimals) says otherwise."""
    if value is None:
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if digits is not None:
        return f"{value:,.{digits}f}"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1):
        return f"{value:,.0f}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.4g}"


def table(header, rows):
    """A Markdown table; cells are strings already."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def quartiles(pair, digits=0):
    low, high = pair
    return f"[{num(low, digits)}, {num(high, digits)}]"


def median_interval_cell(hit, budget):
    """`median [low, high], N cens.` of a hitting figure (`median`,
    `median_interval`, `censored`): censored values as >budget."""
    median, low, high = [f">{num(budget)}" if v is None else num(v)
                         for v in (hit["median"], *hit["median_interval"])]
    censored = f", {hit['censored']} cens." if hit["censored"] else ""
    return f"{median} [{low}, {high}]{censored}"
