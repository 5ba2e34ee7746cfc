"""Automation: rules (trigger, conditions, actions), approvals and timers."""
