"""Receivables: chase issued invoices that are not paid (reminders, tasks, escalation)."""
