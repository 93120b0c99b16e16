"""A workbook's bytes: the same data always gives the same bytes, with fixed document
dates and zip entry times (SOURCE_DATE_EPOCH when set)."""
from __future__ import annotations

import datetime
import io
import os
import shutil
import zipfile

from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

CREATOR = "portbook"
# Zip entries cannot be dated before 1980; it is also the date used when SOURCE_DATE_EPOCH is unset.
EARLIEST = datetime.datetime(1980, 1, 1)
# Deflate's fastest level: a third of the time of the default level for files a quarter
# larger; the sheets are mostly repeated markup, which even this level packs tenfold.
COMPRESS_LEVEL = 1


def document_date() -> datetime.datetime:
    """SOURCE_DATE_EPOCH when set (reproducible-builds.org), else a fixed date: never the clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        date = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc).replace(tzinfo=None)
        return max(date, EARLIEST)
    return EARLIEST


class FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries all carry one date and the same permissions, whatever the clock says."""

    def __init__(self, file, date: datetime.datetime):
        super().__init__(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=COMPRESS_LEVEL)
        self.entry_date = date.timetuple()[:6]

    def entry(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self.entry_date)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        name = zinfo_or_arcname.filename if isinstance(zinfo_or_arcname, zipfile.ZipInfo) else zinfo_or_arcname
        super().writestr(self.entry(name), data, compresslevel=COMPRESS_LEVEL)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        # openpyxl hands over each write-only sheet as the temporary file its writer wrote.
        with open(filename, "rb") as source, self.open(self.entry(arcname or os.path.basename(filename)), "w") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)


def workbook_bytes(workbook: Workbook) -> bytes:
    """Serialise with fixed document dates and zip entry times, so equal data gives equal bytes."""
    date = document_date()
    workbook.properties.creator = CREATOR
    workbook.properties.lastModifiedBy = CREATOR
    workbook.properties.created = date
    workbook.properties.modified = date
    buffer = io.BytesIO()
    # ExcelWriter rather than Workbook.save: save stamps the modified date with the clock.
    with FixedTimeZip(buffer, date) as archive:
        ExcelWriter(workbook, archive).save()
    return buffer.getvalue()
