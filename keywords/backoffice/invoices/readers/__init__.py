"""Readers turn a file into structured data (XML) or positioned text (PDF text layer, OCR)."""
