"""The modules here are collector modules the tests load, not tests.

``mu_collectors.py`` imports its splitter under the name the test gives it
(``mu_csv_file_splitter``), so it cannot be imported on its own.
"""

collect_ignore = ["mu_collectors.py"]
