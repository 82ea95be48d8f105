"""The brief's files: `launch_brief.html`, its charts as PNG files and its tables as CSV files in
`charts/`, written through the run's output place (io/publish.py): in a local folder each under
a temporary name and moved in; on S3 into the run's prefix, published with the delivery."""

from __future__ import annotations

from healthanalytics.brief.page import Brief
from healthanalytics.io.publish import OutputPlace

BRIEF_FILE = "launch_brief.html"
CHARTS_FOLDER = "charts"


def write_brief(brief: Brief, place: OutputPlace) -> str:
    """The charts and tables in `<folder>/charts/`, then the page at
    `<folder>/launch_brief.html` (`folder`: the place's); returns the page's path. An earlier
    run's brief there is removed first (no chart of it stays beside the new page). When a write
    fails, the files written are removed again (S3: none is published half; a folder shows no
    brief rather than part of one)."""
    remove_earlier_brief(place)
    written: list[str] = []
    try:
        for chart in brief.charts:
            written.append(place.write_file(f"{CHARTS_FOLDER}/{chart.name}.png", chart.png))
        for name, table in brief.tables.items():
            data = table.to_csv(index=False).encode()
            written.append(place.write_file(f"{CHARTS_FOLDER}/{name}.csv", data))
        return place.write_file(BRIEF_FILE, brief.html.encode())
    except BaseException:
        place.discard_files(written)
        remove_earlier_brief(place)  # the charts folder too, where the place has one
        raise


def remove_earlier_brief(place: OutputPlace) -> None:
    """An earlier run's page and `charts/` removed from the place's folder (a local or Hadoop
    folder; a run's S3 prefix has none): a run that writes no brief leaves none that would
    describe another run than its reports."""
    place.remove_earlier([BRIEF_FILE, CHARTS_FOLDER])
