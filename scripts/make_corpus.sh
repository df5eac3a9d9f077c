#!/usr/bin/env bash
# placeholder, replaced by the data pipeline work
set -euo pipefail
