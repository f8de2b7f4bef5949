"""A CsvFileSplitter subclass in the shape of metrics-utility 0.4.0's ``csv_file_splitter.py``.

It overrides ``file_list`` and uses the base class's internals
(``currentfile``, ``files``), so that a header-only file is kept: the
service always ships one file per day.  Its only change is the import line.
"""

import os

from pipeline_collector.compat import CsvFileSplitter as BaseCsvFileSplitter


class CsvFileSplitter(BaseCsvFileSplitter):
    """Keeps a header-only file instead of dropping it."""

    def file_list(self):
        self.currentfile.close()
        if len(self.files) == 1:
            only = self.files.pop()
            renamed = only.replace("_split0", "")
            os.rename(only, renamed)
            self.files.append(renamed)
        return self.files
