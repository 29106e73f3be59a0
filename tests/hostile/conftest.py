"""The hostile suite shares tests/support.py with the rest of the tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
