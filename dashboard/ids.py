"""Component ids shared between layouts and callbacks, one prefix per page."""

from __future__ import annotations

# shell
SHELL_USER = "shell-user"
SHELL_TOGGLER = "shell-toggler"
SHELL_COLLAPSE = "shell-collapse"

# overview
OV_RUN = "ov-run"
OV_SCATTER = "ov-scatter"
OV_PROFILES = "ov-profiles"
OV_EXPORT = "ov-export"
OV_TREND = "ov-trend"

# changes
CH_FROM = "ch-from"
CH_TO = "ch-to"
CH_COUNTS = "ch-counts"
CH_ENTERED = "ch-entered"
CH_EXITED = "ch-exited"
CH_GRID = "ch-grid"
CH_EXPORT = "ch-export"
CH_SANKEY = "ch-sankey"
CH_KIND = "ch-kind"

# customer
CU_INPUT = "cu-input"
CU_FIND = "cu-find"
CU_RESULT = "cu-result"

# report
RE_RUN = "re-run"
RE_MARKDOWN_BUTTON = "re-markdown-button"
RE_MARKDOWN = "re-markdown"
RE_CSV_BUTTON = "re-csv-button"
RE_CSV = "re-csv"

# admin
AD_RUN_NOW = "ad-run-now"
AD_REFIT = "ad-refit"
AD_MESSAGE = "ad-message"
AD_PROGRESS = "ad-progress"
AD_POLL = "ad-poll"
AD_HISTORY = "ad-history"
AD_EXPORT = "ad-export"
AD_FAILED = "ad-failed"
AD_AUDIT = "ad-audit"
AD_PROGRESS_TEXT = "ad-progress-text"
