"""Back-office robots: the product core.

Pure Python, importable and testable without Robot Framework. The Robot keyword
libraries beside this package (``keywords/*Keywords.py``) are thin shells over it.
"""

__version__ = "0.1.0"
