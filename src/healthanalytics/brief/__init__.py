"""The launch brief: one self-contained HTML page of a delivery, rendered from the warehouse's
persisted tables (`data`), charts (`charts`), the page (`page`) and its files (`write`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from healthanalytics.io.warehouse import Warehouse

if TYPE_CHECKING:
    from healthanalytics.io.publish import OutputPlace


def build_launch_brief(
    warehouse: Warehouse,
    delivery_date: dt.date,
    place: OutputPlace,
    checks: Sequence[dict[str, Any]] | None = None,
) -> str:
    """The brief of `delivery_date` written into `place` (a local folder's LocalOutput, or a
    run's S3 prefix, io/publish.py); returns the page's path. Raises NoDeliveryError when the
    warehouse holds no delivery of that date."""
    from healthanalytics.brief.data import read_brief_data
    from healthanalytics.brief.page import build_brief
    from healthanalytics.brief.write import write_brief

    data = read_brief_data(warehouse, delivery_date, checks)
    return write_brief(build_brief(data), place)
